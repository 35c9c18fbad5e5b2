"""import-oem: the real OpenEarthMap sample and synthetic GeoTIFFs, tiling, georeferencing, bad input."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

from landseg.classes import BIODIVERSITY
from landseg.cli.main import main
from landseg.curation.mapping import load_mapping
from landseg.curation.oem import import_oem
from landseg.errors import ConfigError, DatasetError

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
OEM_SAMPLE = SHARED / "data" / "samples" / "openearthmap"
OEM_MAPPING = REPO / "config" / "mappings" / "oem_to_biodiversity.yaml"
LUT = load_mapping(OEM_MAPPING).lut
SETTLEMENT = BIODIVERSITY.index("Settlement")


@pytest.fixture(scope="module")
def oem_sample() -> Path:
    if not (OEM_SAMPLE / "houston" / "images" / "houston_16.tif").is_file():
        pytest.skip(f"real OpenEarthMap sample not found under {OEM_SAMPLE} (../shared is absent)")
    return OEM_SAMPLE


def tree(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def manifest(out: Path) -> dict[str, dict[str, str]]:
    with (out / "manifest.csv").open(newline="") as fh:
        return {r["file"]: r for r in csv.DictReader(fh)}


def png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.array(img)


def transform_of(row: dict[str, str]) -> list[float]:
    return [float(v) for v in row["transform"].split()]


# --------------------------------------------------------------------------- the real sample


def test_real_sample_one_tile(oem_sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "oem"
    res = import_oem(oem_sample, out, OEM_MAPPING, tile=1024, splits=("train",), progress=False)
    assert (res.tiles, res.written, res.skipped, res.sources) == (1, 1, 0, {"train": 1})
    assert sorted(tree(out / "images_png")) == ["oem_houston_16.png"]
    row = manifest(out)["oem_houston_16.png"]
    with rasterio.open(oem_sample / "houston" / "labels" / "houston_16.tif") as src:
        raw, source_transform = src.read(1), list(src.transform)[:6]
    assert row["crs"] == "EPSG:4326" and transform_of(row) == source_transform
    assert (row["row"], row["col"], row["width"], row["height"], row["split"]) == ("", "", "1024", "1024", "train")
    mask = png(out / "masks_png" / "oem_houston_16.png")
    assert row["sha256"] == hashlib.sha256((out / "masks_png" / "oem_houston_16.png").read_bytes()).hexdigest()
    np.testing.assert_array_equal(mask, LUT[raw])
    settlement = int((mask == SETTLEMENT).sum())
    assert round(100 * settlement / mask.size, 2) == 50.55
    assert round(100 * settlement / int((mask != 255).sum()), 2) == 59.36
    assert round(100 * res.share("Settlement", "labelled"), 2) == 59.36
    with rasterio.open(oem_sample / "houston" / "images" / "houston_16.tif") as src:
        np.testing.assert_array_equal(png(out / "images_png" / "oem_houston_16.png"), src.read().transpose(1, 2, 0))


def test_real_sample_2x2_grid(oem_sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "oem"
    import_oem(oem_sample, out, OEM_MAPPING, tile=512, splits="train", progress=False)
    rows = manifest(out)
    assert sorted(rows) == [f"oem_houston_16_{r}_{c}.png" for r in (0, 1) for c in (0, 1)]
    with rasterio.open(oem_sample / "houston" / "labels" / "houston_16.tif") as src:
        raw, (a, b, c, d, e, f) = src.read(1), list(src.transform)[:6]
    for r in (0, 1):
        for col in (0, 1):
            row = rows[f"oem_houston_16_{r}_{col}.png"]
            assert (row["row"], row["col"], row["crs"]) == (str(r), str(col), "EPSG:4326")
            assert transform_of(row) == pytest.approx([a, b, c + 512 * col * a, d, e, f + 512 * r * e], rel=1e-12)
            np.testing.assert_array_equal(png(out / "masks_png" / f"oem_houston_16_{r}_{col}.png"),
                                          LUT[raw[512 * r: 512 * (r + 1), 512 * col: 512 * (col + 1)]])


# --------------------------------------------------------------------------- synthetic GeoTIFFs

ORIGIN = (500000.0, 6000000.0)  # Irish UTM (EPSG:32629), 0.5 m pixels


def write_tif(path: Path, data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = data if data.ndim == 3 else data[None]
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype="uint8", crs="EPSG:32629", transform=rasterio.Affine(0.5, 0, ORIGIN[0], 0, -0.5, ORIGIN[1])) as dst:
        dst.write(data)


def add_tile(root: Path, stem: str, width: int, height: int, seed: int = 0, label: bool = True,
             max_code: int = 8) -> np.ndarray:
    """One OEM image (and label) at <region>/images|labels/<stem>.tif; returns the raw labels."""
    rng = np.random.default_rng(seed)
    region = stem.rsplit("_", 1)[0]
    write_tif(root / region / "images" / f"{stem}.tif", rng.integers(1, 256, (3, height, width), dtype=np.uint8))
    labels = rng.integers(0, max_code + 1, (height, width), dtype=np.uint8)
    if label:
        write_tif(root / region / "labels" / f"{stem}.tif", labels)
    return labels


def write_lists(root: Path, **splits: list[str]) -> None:
    for split, stems in splits.items():
        (root / f"{split}.txt").write_text("".join(f"{s}.tif\n" for s in stems))


@pytest.fixture
def synth(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 1000x700 (non-square) tile in train and a 64x64 tile in val."""
    root = tmp_path / "OpenEarthMap"
    labels = add_tile(root, "cork_1", 1000, 700)
    add_tile(root, "cork_2", 64, 64, seed=1)
    write_lists(root, train=["cork_1"], val=["cork_2"])
    return root, labels


def test_pad_tiles_nonsquare(synth: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, labels = synth
    out = tmp_path / "out"
    res = import_oem(root, out, OEM_MAPPING, tile=512, progress=False)
    rows = manifest(out)
    assert sorted(rows) == ["oem_cork_1_0_0.png", "oem_cork_1_0_1.png", "oem_cork_1_1_0.png", "oem_cork_1_1_1.png",
                            "oem_cork_2_0_0.png"]
    assert (res.tiles, res.dropped, res.sources) == (5, 0, {"train": 1, "val": 1})
    corner = png(out / "masks_png" / "oem_cork_1_1_1.png")
    assert corner.shape == (512, 512)
    np.testing.assert_array_equal(corner[:188, :488], LUT[labels[512:, 512:]])
    assert (corner[188:] == 255).all() and (corner[:, 488:] == 255).all()
    image = png(out / "images_png" / "oem_cork_1_1_1.png")
    assert image.shape == (512, 512, 3) and (image[188:] == 0).all() and (image[:, 488:] == 0).all()
    assert (image[:188, :488] > 0).all()
    assert transform_of(rows["oem_cork_1_1_1.png"]) == [0.5, 0.0, ORIGIN[0] + 256, 0.0, -0.5, ORIGIN[1] - 256]
    assert rows["oem_cork_1_1_1.png"]["crs"] == "EPSG:32629"
    assert rows["oem_cork_2_0_0.png"]["split"] == "val"
    small = png(out / "masks_png" / "oem_cork_2_0_0.png")
    assert (small[64:] == 255).all() and (small[:64, :64] != 255).any()


def test_drop_edge_tiles(synth: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = synth
    res = import_oem(root, tmp_path / "a", OEM_MAPPING, tile=512, splits=["train"], edge="drop", progress=False)
    # (0,1) is 95% real image; (1,0) and (1,1) are 37% and 35%
    assert sorted(manifest(tmp_path / "a")) == ["oem_cork_1_0_0.png", "oem_cork_1_0_1.png"]
    assert res.dropped == 2
    res = import_oem(root, tmp_path / "b", OEM_MAPPING, tile=512, splits=["train"], edge="drop", min_valid=0.36,
                     progress=False)
    assert sorted(manifest(tmp_path / "b")) == ["oem_cork_1_0_0.png", "oem_cork_1_0_1.png", "oem_cork_1_1_0.png"]


def test_workers_give_identical_output(synth: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = synth
    import_oem(root, tmp_path / "one", OEM_MAPPING, tile=512, progress=False)
    import_oem(root, tmp_path / "two", OEM_MAPPING, tile=512, workers=2, progress=False)
    assert tree(tmp_path / "one") == tree(tmp_path / "two")


def test_unlabelled_and_missing_are_reported(synth: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = synth
    add_tile(root, "xbd_7", 64, 64, label=False)
    write_lists(root, train=["cork_1", "xbd_7", "ghost_3"])
    res = import_oem(root, tmp_path / "out", OEM_MAPPING, tile=512, splits=["train"], progress=False)
    assert len(res.unlabelled) == 1 and "xbd_7.tif" in res.unlabelled[0]
    assert len(res.missing) == 1 and "ghost_3.tif" in res.missing[0]
    assert res.tiles == 4
    text = res.report()
    assert "1 listed image(s) without a label file" in text and "Not found: 1 listed image(s)" in text


def test_resume_rewrites_only_what_is_missing_or_wrong(synth: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = synth
    out = tmp_path / "out"
    import_oem(root, out, OEM_MAPPING, tile=512, progress=False)
    complete = tree(out)
    (out / "masks_png" / "oem_cork_1_0_1.png").unlink()       # killed before this tile
    (out / "manifest.csv").unlink()                           # ... and before the manifest
    (out / "images_png" / ".oem_cork_1_1_0.png.landseg-tmp").write_bytes(b"half")  # a torn temp file
    res = import_oem(root, out, OEM_MAPPING, tile=512, progress=False)
    assert res.resumed and (res.written, res.skipped) == (1, 4)
    assert tree(out) == complete


# --------------------------------------------------------------------------- bad input


def test_corrupt_geotiff(synth: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = synth
    bad = root / "cork" / "labels" / "cork_2.tif"
    bad.write_bytes(b"II*\x00 this is not a tiff at all" * 10)
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=rf"cannot read mask {bad}.*Nothing was written"):
        import_oem(root, out, OEM_MAPPING, tile=512, progress=False)
    assert not out.exists()


def test_truncated_pixels_stop_cleanly_and_resume(synth: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = synth
    image = root / "cork" / "images" / "cork_2.tif"
    good = image.read_bytes()
    image.write_bytes(good[: len(good) // 2])  # header intact, pixel data cut off
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=rf"cannot read {image}.*re-run the same command to resume"):
        import_oem(root, out, OEM_MAPPING, tile=512, progress=False)
    files = sorted(tree(out))
    assert [f for f in files if "cork_2" in f or f.endswith("tmp") or f == "manifest.csv"] == []
    assert len([f for f in files if f.startswith("masks_png/oem_cork_1_")]) == 4  # the file before it is whole
    image.write_bytes(good)
    res = import_oem(root, out, OEM_MAPPING, tile=512, progress=False)
    assert res.resumed and (res.written, res.skipped) == (1, 4)


def test_unmapped_label_code(synth: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = synth
    add_tile(root, "cork_3", 64, 64, seed=3, max_code=9)
    write_lists(root, train=["cork_1", "cork_3"])
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=r"cork_3\.tif holds code\(s\) 9 \(\d+ pixels\) that mapping "
                                           r"'oem_to_biodiversity'"):
        import_oem(root, out, OEM_MAPPING, tile=512, splits=["train"], progress=False)
    assert not out.exists()


def test_output_name_clash(tmp_path: Path) -> None:
    root = tmp_path / "OpenEarthMap"
    add_tile(root, "a_1", 128, 128)       # grid at tile 64: oem_a_1_0_0.png, ...
    add_tile(root, "a_1_0_0", 64, 64)     # exactly one tile: oem_a_1_0_0.png
    write_lists(root, train=["a_1", "a_1_0_0"])
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=r"output name clash: oem_a_1_0_0.png would be written from .*a_1.tif "
                                           r"\(train\) and from .*a_1_0_0.tif"):
        import_oem(root, out, OEM_MAPPING, tile=64, splits=["train"], progress=False)
    assert not out.exists()


def test_image_in_two_splits(synth: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = synth
    write_lists(root, val=["cork_2", "cork_1"])
    with pytest.raises(DatasetError, match=r"cork_1.tif is listed in train.txt and in val.txt"):
        import_oem(root, tmp_path / "out", OEM_MAPPING, progress=False)


def test_bad_mapping_and_options(synth: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = synth
    bad = tmp_path / "bad.yaml"
    bad.write_text(OEM_MAPPING.read_text().replace("2: Grassland", "2: Meadow"))
    with pytest.raises(ConfigError, match=r"unknown class 'Meadow'"):
        import_oem(root, tmp_path / "out", bad, progress=False)
    with pytest.raises(ConfigError, match=r"--edge must be one of pad, drop"):
        import_oem(root, tmp_path / "out", OEM_MAPPING, edge="crop", progress=False)
    with pytest.raises(DatasetError, match=r"split list .*test.txt not found .*train.txt, val.txt"):
        import_oem(root, tmp_path / "out", OEM_MAPPING, splits="test", progress=False)
    assert not (tmp_path / "out").exists()


def test_non_empty_out_refused(synth: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = synth
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"is not empty and holds no landseg import-oem output \(found: notes.txt\)"):
        import_oem(root, stray, OEM_MAPPING, progress=False)
    assert tree(stray) == {"notes.txt": hashlib.sha256(b"mine").hexdigest()}
    out = tmp_path / "out"
    import_oem(root, out, OEM_MAPPING, tile=512, splits=["val"], progress=False)
    before = tree(out)
    with pytest.raises(ConfigError, match=r"holds a previous import-oem with different arguments \(tile: 512 there, "
                                          r"256 now\)"):
        import_oem(root, out, OEM_MAPPING, tile=256, splits=["val"], progress=False)
    assert tree(out) == before


# --------------------------------------------------------------------------- CLI


def test_cli(synth: tuple[Path, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = synth
    args = ["import-oem", "--oem-root", str(root), "--mapping", str(OEM_MAPPING), "--tile", "512",
            "--splits", "val", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    assert "Imported 1 OpenEarthMap image(s) (val: 1)" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "out2"), "--edge", "drop", "--min-valid", "0.5"]) == 0
    assert "1 edge tile(s) dropped" in capsys.readouterr().out
    assert main([*args[:2], str(tmp_path / "nowhere"), *args[3:], "--out", str(tmp_path / "o3")]) == 2
    assert "OpenEarthMap folder" in capsys.readouterr().err
