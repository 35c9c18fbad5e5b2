"""`landseg split`: spatial blocks, buffers, georeferencing sources, hard links and clear errors.

The data is one textured synthetic scene cut into 128-px tiles on a 64-px stride (every tile
shares half its ground with each neighbour), georeferenced at 1 m per pixel. The helpers here
are imported by test_leakage.py.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from landseg.cli.main import main
from landseg.errors import ConfigError, DatasetError
from landseg.splitting import allocate, metric_boxes, parse_ratios, split_dataset, tile_georef
from landseg.splitting.georef import Georef

#: Block-aligned (a multiple of 256 m) so that 256-m blocks hold whole 4 x 4 tile grids.
TILE, STRIDE, ORIGIN = 128, 64, (499_712.0, 6_000_128.0)


def make_scene(size: int = 768, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Aerial-like texture (noise at several scales plus parcels) and a mask derived from it."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.float32)
    for cells, amp in ((4, 90.0), (16, 50.0), (64, 40.0), (256, 30.0)):
        noise = rng.random((cells + 1, cells + 1, 3), dtype=np.float32)
        img += amp * cv2.resize(noise, (size, size), interpolation=cv2.INTER_LINEAR)
    for _ in range(30):
        x, y = (int(v) for v in rng.integers(0, size, 2))
        w, h = (int(v) for v in rng.integers(20, 120, 2))
        img[y:y + h, x:x + w] += rng.uniform(-40, 40, 3).astype(np.float32)
    img = np.clip(img * (255 / img.max()), 0, 255).astype(np.uint8)
    mask = np.minimum(img[..., 1] // 43, 5).astype(np.uint8)
    return img, mask


def cut_tiles(root: Path, scene: tuple[np.ndarray, np.ndarray], georef: str = "world",
              name: str = "t_{row}_{col}") -> list[str]:
    """Write overlapping tiles to ``root/images_png|masks_png``; ``georef``: world, sidecar,
    manifest or none. Returns the tile names."""
    img, mask = scene
    (root / "images_png").mkdir(parents=True)
    (root / "masks_png").mkdir()
    names, rows = [], []
    for r, y in enumerate(range(0, img.shape[0] - TILE + 1, STRIDE)):
        for c, x in enumerate(range(0, img.shape[1] - TILE + 1, STRIDE)):
            stem = name.format(row=r, col=c)
            names.append(stem)
            Image.fromarray(img[y:y + TILE, x:x + TILE]).save(root / "images_png" / f"{stem}.png")
            Image.fromarray(mask[y:y + TILE, x:x + TILE]).save(root / "masks_png" / f"{stem}.png")
            transform = [1.0, 0.0, ORIGIN[0] + x, 0.0, -1.0, ORIGIN[1] - y]
            if georef == "world":  # centre of the top-left pixel
                (root / "images_png" / f"{stem}.pgw").write_text(
                    f"1.0\n0.0\n0.0\n-1.0\n{ORIGIN[0] + x + 0.5}\n{ORIGIN[1] - y - 0.5}\n")
            elif georef == "sidecar":
                (root / "images_png" / f"{stem}.json").write_text(
                    json.dumps({"crs": "EPSG:32629", "transform": transform}))
            rows.append({"file": f"{stem}.png", "crs": "EPSG:32629", "transform": " ".join(map(str, transform)),
                         "width": TILE, "height": TILE})
    if georef == "manifest":
        with open(root / "manifest.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["file", "source", "crs", "transform", "width", "height"])
            writer.writeheader()
            writer.writerows({**row, "source": "test"} for row in rows)
    return names


def read_manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "split_manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    return make_scene()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, scene: tuple[np.ndarray, np.ndarray]) -> Path:
    root = tmp_path_factory.mktemp("world") / "tiles"
    cut_tiles(root, scene, "world")
    return root


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, scene: tuple[np.ndarray, np.ndarray]) -> Path:
    """The same tiles without georeferencing; the names hold the grid position."""
    root = tmp_path_factory.mktemp("plain") / "tiles"
    cut_tiles(root, scene, "none", name="scene_a_{row}_{col}")
    return root


# --------------------------------------------------------------------------- small pieces


def test_allocate_and_ratios() -> None:
    assert allocate(9, (0.7, 0.15, 0.15)) == [6, 2, 1]
    assert allocate(100, (0.7, 0.15, 0.15)) == [70, 15, 15]
    assert allocate(3, (0.98, 0.01, 0.01)) == [1, 1, 1]  # every split with a share gets one
    assert allocate(10, (0.8, 0.2, 0.0)) == [8, 2, 0]
    assert parse_ratios("0.7,0.15,0.15") == (0.7, 0.15, 0.15)
    with pytest.raises(ConfigError, match="sum to 1.1, not 1"):
        parse_ratios("0.7,0.2,0.2")
    with pytest.raises(ConfigError, match="three non-negative shares"):
        parse_ratios("0.7,0.3")


def test_georef_sources_agree(tmp_path: Path, scene: tuple[np.ndarray, np.ndarray]) -> None:
    """Sidecar, world file, manifest and GeoTIFF give the same footprint for the same tile."""
    import rasterio
    from rasterio.transform import Affine

    found = {}
    small = (scene[0][:320, :320], scene[1][:320, :320])
    for kind in ("world", "sidecar", "manifest"):
        cut_tiles(tmp_path / kind, small, kind)
        found[kind] = tile_georef(tmp_path / kind / "images_png" / "t_2_3.png", tmp_path / kind)
    tif = tmp_path / "tif" / "images_png" / "t_2_3.tif"
    tif.parent.mkdir(parents=True)
    with rasterio.open(tif, "w", driver="GTiff", width=TILE, height=TILE, count=3, dtype="uint8", crs="EPSG:32629",
                       transform=Affine(1.0, 0.0, ORIGIN[0] + 3 * STRIDE, 0.0, -1.0, ORIGIN[1] - 2 * STRIDE)) as ds:
        ds.write(scene[0][:TILE, :TILE].transpose(2, 0, 1))
    found["GeoTIFF"] = tile_georef(tif, tmp_path / "tif")
    expected = (ORIGIN[0] + 192, ORIGIN[1] - 128 - TILE, ORIGIN[0] + 192 + TILE, ORIGIN[1] - 128)
    for kind, georef in found.items():
        assert georef is not None, kind
        assert georef.bounds() == pytest.approx(expected), kind
    assert tile_georef(tmp_path / "tif" / "images_png" / "missing.png", tmp_path / "tif") is None


def test_geographic_crs_is_measured_in_metres() -> None:
    tile = Georef("EPSG:4326", (0.001, 0.0, -8.0, 0.0, -0.001, 53.0), 1, 1, "test")
    _, boxes, _ = metric_boxes([tile])
    width, height = boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1]
    assert width == pytest.approx(67, abs=1) and height == pytest.approx(111, abs=1)


# --------------------------------------------------------------------------- splitting


def test_space_split_blocks_buffer_and_links(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "space"
    res = split_dataset(world, out, block_size=256, buffer=0, ratios="0.7,0.15,0.15", seed=3)
    rows = read_manifest(out)
    assert len(rows) == 121 and set(res.assignment) == {r["name"] for r in rows}
    # whole blocks go to one split; 9 blocks of 256 m split 6/2/1
    blocks: dict[str, set[str]] = {}
    for r in rows:
        blocks.setdefault(r["block"], set()).add(r["split"])
    assert len(blocks) == 9 and res.blocks == {"Train": 6, "Val": 2, "Test": 1}
    assert all(len(s - {"buffer"}) == 1 for s in blocks.values())
    # no kept tile overlaps a tile of another split: centres are >= one tile apart along some axis
    kept = [r for r in rows if r["split"] != "buffer"]
    for a in kept:
        for b in kept:
            if a["split"] < b["split"]:
                dx, dy = abs(float(a["x"]) - float(b["x"])), abs(float(a["y"]) - float(b["y"]))
                assert max(dx, dy) >= TILE, (a["name"], b["name"])
    assert res.counts["buffer"] > 0
    # hard links to the original files, never copies; dropped buffer tiles are not written
    for r in rows:
        image = out / r["split"] / "Rural" / "images_png" / f"{r['name']}.png"
        if r["split"] == "buffer":
            assert not list(out.rglob(f"{r['name']}.png"))
            continue
        assert os.stat(image).st_ino == os.stat(world / "images_png" / f"{r['name']}.png").st_ino
        assert (out / r["split"] / "Rural" / "masks_png" / f"{r['name']}.png").samefile(
            world / "masks_png" / f"{r['name']}.png")
    assert res.linked == 2 * (121 - res.counts["buffer"]) and res.copied == 0
    assert "in 6 blocks" in res.report() and "dropped" in res.report()


def test_space_split_is_deterministic_per_seed(world: Path, tmp_path: Path) -> None:
    args = {"block_size": 128, "buffer": 0}
    split_dataset(world, tmp_path / "a", seed=1, **args)
    split_dataset(world, tmp_path / "b", seed=1, **args)
    split_dataset(world, tmp_path / "c", seed=2, **args)
    a, b, c = ((tmp_path / n / "split_manifest.csv").read_text() for n in "abc")
    assert a.replace("/a/", "/x/") == b.replace("/b/", "/x/")
    assert [r["split"] for r in read_manifest(tmp_path / "a")] != [r["split"] for r in read_manifest(tmp_path / "c")]
    # 36 blocks of 128 m: ratios are kept by blocks
    res = split_dataset(world, tmp_path / "d", seed=1, **args)
    assert res.blocks == {"Train": 25, "Val": 6, "Test": 5}


def test_larger_buffer_removes_more_and_holdout_keeps_them(world: Path, tmp_path: Path) -> None:
    near = split_dataset(world, tmp_path / "b0", block_size=256, buffer=0, seed=0)
    far = split_dataset(world, tmp_path / "b1", block_size=256, buffer=100, seed=0,
                        buffer_policy="holdout")
    assert far.counts["buffer"] > near.counts["buffer"] > 0
    held = sorted(p.stem for p in (tmp_path / "b1" / "Buffer" / "Rural" / "images_png").iterdir())
    assert held == sorted(n for n, s in far.assignment.items() if s == "buffer")
    # kept tiles of different splits are >= 100 m apart (footprint gap)
    kept = [r for r in read_manifest(tmp_path / "b1") if r["split"] != "buffer"]
    for a in kept:
        for b in kept:
            if a["split"] < b["split"]:
                gap = np.hypot(max(0.0, abs(float(a["x"]) - float(b["x"])) - TILE),
                               max(0.0, abs(float(a["y"]) - float(b["y"])) - TILE))
                assert gap >= 100


def test_pattern_gives_the_same_split_as_world_files(tmp_path: Path, world: Path, plain: Path) -> None:
    assert main(["split", str(plain), "--by", "space", "--block-size", "256", "--buffer", "0",
                 "--pattern", "{region}_{row}_{col}", "--tile-size-m", "128", "--grid-step-m", "64",
                 "--out", str(tmp_path / "p")]) == 0
    split_dataset(world, tmp_path / "w", block_size=256)
    by_pattern = {r["name"].removeprefix("scene_a_"): r for r in read_manifest(tmp_path / "p")}
    by_world = {r["name"].removeprefix("t_"): r for r in read_manifest(tmp_path / "w")}
    assert by_pattern.keys() == by_world.keys()
    # same grid relative to the origin, so the same buffer tiles
    assert {k for k, r in by_pattern.items() if r["split"] == "buffer"} == \
        {k for k, r in by_world.items() if r["split"] == "buffer"}
    assert by_pattern["3_4"]["crs"] == "grid:region=scene_a"


def test_random_split_and_resplitting_a_loveda_dataset(world: Path, tmp_path: Path) -> None:
    res = split_dataset(world, tmp_path / "random", by="random", seed=0)
    assert res.counts == {"Train": 85, "Val": 18, "Test": 18, "buffer": 0}
    # the LoveDA output of one split is a valid input of another (georeferencing from its manifest)
    again = split_dataset(tmp_path / "random", tmp_path / "space", block_size=256, buffer=0)
    assert again.georef_sources == {"split_manifest.csv": 121}
    assert again.counts["buffer"] > 0


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "no georeferencing for 121 of 121 tiles"),
        (["--pattern", "{region}-{row}-{col}", "--tile-size-m", "128"], "does not match 121 of 121 tile names, e.g. scene_a_0_0"),
        (["--pattern", "t_{row}", "--tile-size-m", "128"], "needs both {row} and {col}"),
        (["--pattern", "t_{row}_{col}"], "--pattern needs --tile-size-m"),
        (["--ratios", "0.7,0.2,0.2"], "sum to 1.1, not 1"),
    ],
)
def test_bad_input_gives_clear_error_and_writes_nothing(tmp_path: Path, plain: Path, capsys: pytest.CaptureFixture[str],
                                                        extra: list[str], message: str) -> None:
    before = tree(plain)
    out = tmp_path / "out"
    code = main(["split", str(plain), "--block-size", "256", "--out", str(out), *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and tree(plain) == before


def test_non_empty_out_and_bad_options_are_refused(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not empty"):
        split_dataset(world, out, block_size=256)
    assert tree(out) == ["keep.txt"]
    with pytest.raises(ConfigError, match="needs --block-size"):
        split_dataset(world, tmp_path / "o1")
    with pytest.raises(ConfigError, match="--block-size and --buffer do not apply"):
        split_dataset(world, tmp_path / "o2", by="random", block_size=256)
    with pytest.raises(ConfigError, match="too few for 3 splits"):
        split_dataset(world, tmp_path / "o3", block_size=10_000_000)
    with pytest.raises(ConfigError, match="took them all"):
        split_dataset(world, tmp_path / "o4", block_size=256, buffer=2000)
    with pytest.raises(DatasetError, match="does not exist"):
        split_dataset(tmp_path / "nowhere", tmp_path / "o5", block_size=256)
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 6))
