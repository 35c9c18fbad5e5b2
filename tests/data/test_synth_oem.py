"""The synthetic OpenEarthMap-like source: layout, GeoTIFFs, codes, determinism and import-oem on it."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

import landseg.cli.main as cli_main
from landseg.classes import BIODIVERSITY
from landseg.curation.mapping import load_mapping
from landseg.curation.oem import import_oem
from landseg.data.synth_oem import MANIFEST_NAME, generate_oem_like
from landseg.errors import ConfigError, DatasetError

REPO = Path(__file__).resolve().parents[2]
OEM_MAPPING = REPO / "config" / "mappings" / "oem_to_biodiversity.yaml"
SETTLEMENT = BIODIVERSITY.index("Settlement")
#: tiny but complete: 2 labelled regions of 4 tiles (64² and, as the "large" region, 100²) + xBD-like
KWARGS = dict(regions=("alpha", "bravo"), tiles_per_region=4, size=64, large_size=100, seed=0, progress=False)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _pairs(out: Path) -> list[tuple[Path, Path]]:
    return [(p, p.parent.parent / "labels" / p.name) for p in sorted(out.glob("*/images/*.tif"))
            if (p.parent.parent / "labels" / p.name).is_file()]


@pytest.fixture(scope="module")
def oem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("synth_oem") / "OpenEarthMap"
    return out, generate_oem_like(out, **KWARGS)


def test_layout_and_split_files(oem: tuple[Path, object]) -> None:
    out, res = oem
    assert res.regions == ("alpha", "bravo") and res.unlabelled_region == "xbd_delta"
    assert res.sizes == {"alpha": 64, "bravo": 100, "xbd_delta": 64}
    lists = {s: _lines(out / f"{s}.txt") for s in ("train", "val", "test")}
    assert {s: len(v) for s, v in lists.items()} == res.counts == {"train": 5, "val": 2, "test": 2}
    listed = [n for names in lists.values() for n in names]
    assert len(listed) == len(set(listed))  # every image in exactly one split
    assert all("/" not in n and n.endswith(".tif") for n in listed)  # bare file names, as in the release
    images = {p.name: p for p in out.glob("*/images/*.tif")}
    assert set(listed) == set(images) and len(images) == res.labelled + res.unlabelled == 9
    for name, path in images.items():
        region = name.rsplit("_", 1)[0]
        assert path.parent == out / region / "images"
    for region in res.regions:  # one val and one test tile per region (0.25 and 0.125 of 4, at least one)
        assert sum(n.startswith(f"{region}_") for n in lists["val"]) == 1
        assert sum(n.startswith(f"{region}_") for n in lists["test"]) == 1
    assert not list(out.rglob("*.tmp")) and not list(out.rglob("*.aux.xml"))


def test_unlabelled_region_has_images_but_no_labels(oem: tuple[Path, object]) -> None:
    out, res = oem
    assert res.unlabelled == 1 and (out / "xbd_delta" / "images" / "xbd_delta_1.tif").is_file()
    assert not (out / "xbd_delta" / "labels").exists()
    assert "xbd_delta_1.tif" in _lines(out / "train.txt")
    assert len(_pairs(out)) == res.labelled == 8


def test_geotiffs_share_crs_and_transform_and_do_not_overlap(oem: tuple[Path, object]) -> None:
    out, res = oem
    bounds = []
    for image, label in _pairs(out):
        with rasterio.open(image) as img, rasterio.open(label) as lab:
            side = res.sizes[image.parent.parent.name]
            assert (img.count, img.dtypes, img.width, img.height) == (3, ("uint8",) * 3, side, side)
            assert (lab.count, lab.dtypes, lab.width, lab.height) == (1, ("uint8",), side, side)
            assert img.crs == lab.crs and img.crs.to_epsg() == 32629
            assert img.transform == lab.transform
            assert (img.transform.a, img.transform.b, img.transform.d, img.transform.e) == (0.5, 0, 0, -0.5)
            assert img.read().std() > 5  # a picture, not a flat fill
            bounds.append(img.bounds)
    for i, a in enumerate(bounds):  # tiles sit on non-overlapping grids, regions apart
        for b in bounds[i + 1:]:
            assert a.right <= b.left or b.right <= a.left or a.top <= b.bottom or b.top <= a.bottom


def test_codes_and_settlement_heavy_tiles(oem: tuple[Path, object]) -> None:
    out, res = oem
    lut = load_mapping(OEM_MAPPING).lut
    seen: set[int] = set()
    shares = {}
    for _, label in _pairs(out):
        with rasterio.open(label) as src:
            codes = src.read(1)
        assert codes.max() <= 8
        seen |= set(np.unique(codes).tolist())
        mapped = lut[codes]
        shares[label.name] = float(np.mean(mapped[mapped != 255] == SETTLEMENT))
    assert {0, 2, 3, 4, 5, 7, 8} <= seen  # unknown patches, rangeland, the three built-up codes, tree, agriculture
    assert set(res.urban) == {"alpha_2.tif", "bravo_2.tif"}  # one in four tiles is an urban scene
    assert all(shares[n] > 0.5 for n in res.urban)
    assert set(res.settlement_heavy) == {n for n, s in shares.items() if s > 0.5}
    assert any(s < 0.5 for s in shares.values())  # and rural tiles stay rural
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    recorded = {t["name"]: t["settlement_share"] for t in manifest["tiles"] if t["labelled"]}
    assert recorded == pytest.approx(shares, abs=1e-6)
    assert sum(res.code_fractions.values()) == pytest.approx(1.0)


def test_same_seed_same_bytes_other_seed_other_bytes(oem: tuple[Path, object], tmp_path: Path) -> None:
    out, _ = oem
    again = _hashes(generate_oem_like(tmp_path / "again", **KWARGS).out)
    assert again == _hashes(out)
    other = _hashes(generate_oem_like(tmp_path / "other", **(KWARGS | {"seed": 1})).out)
    tifs = [k for k in again if k.endswith(".tif")]
    assert tifs and all(other[k] != again[k] for k in tifs)


def test_import_oem_on_the_synthetic_source(oem: tuple[Path, object], tmp_path: Path) -> None:
    out, _ = oem
    dest = tmp_path / "imported"
    res = import_oem(out, dest, str(OEM_MAPPING), tile=512, progress=False)
    assert res.sources == {"train": 4, "val": 2} and res.tiles == 6  # test.txt is not imported by default
    assert len(res.unlabelled) == 1 and "xbd_delta_1.tif" in res.unlabelled[0]
    assert "without a label file" in res.report()
    with (dest / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["crs"] for r in rows} == {"EPSG:32629"}
    seen: set[int] = set()
    for path in sorted((dest / "masks_png").glob("*.png")):
        mask = np.asarray(Image.open(path))
        assert mask.shape == (512, 512) and mask[100:, 100:].max() == 255  # padded: the tiles are smaller
        seen |= set(np.unique(mask).tolist())
    assert {BIODIVERSITY.index(n) for n in ("Settlement", "Forest Land", "Grassland", "Cropland")} <= seen
    # a smaller tile cuts the 100² "large" region into a padded 2x2 grid
    grid = import_oem(out, tmp_path / "grid", OEM_MAPPING, tile=64, splits="train", progress=False)
    assert any(r.endswith("_1_1.png") for r in (p.name for p in (tmp_path / "grid" / "masks_png").glob("oem_bravo_*")))
    assert grid.tiles == sum(4 if r.startswith("bravo") else 1 for r in _lines(out / "train.txt")
                             if not r.startswith("xbd"))


def test_refuses_non_empty_folder_and_overwrite_replaces_own_tiles(tmp_path: Path) -> None:
    out = tmp_path / "oem"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    small = KWARGS | {"regions": ("alpha",), "large_size": None, "size": 32, "tiles_per_region": 5}
    with pytest.raises(DatasetError, match="not empty.*overwrite"):
        generate_oem_like(out, **small)
    generate_oem_like(out, **small, overwrite=True)
    res = generate_oem_like(out, **(small | {"tiles_per_region": 3, "unlabelled_region": None}), overwrite=True)
    assert sorted(p.name for p in out.rglob("*.tif")) == ["alpha_1.tif", "alpha_1.tif", "alpha_2.tif",
                                                         "alpha_2.tif", "alpha_3.tif", "alpha_3.tif"]
    assert res.unlabelled == 0 and sum(res.counts.values()) == 3
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("kwargs, match", [
    ({"tiles_per_region": 0}, "tiles_per_region"),
    ({"tiles_per_region": 1}, "no train tiles"),
    ({"size": 16}, "size"),
    ({"regions": ("alpha", "alpha")}, "twice"),
    ({"regions": ("a/b",)}, "letters, digits"),
    ({"unlabelled_region": "alpha"}, "also a labelled region"),
    ({"crs": "EPSG:999999"}, "coordinate reference system"),
    ({"pixel_size": 0}, "pixel_size"),
    ({"val_fraction": 1.0}, "val_fraction"),
])
def test_bad_parameters_are_rejected_before_writing(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        generate_oem_like(tmp_path / "x", **(KWARGS | kwargs))
    assert not (tmp_path / "x").exists()


@pytest.fixture()
def synth_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_main, "COMMANDS", {"synth": "synth"})


def test_cli_oem_flag(tmp_path: Path, synth_only: None, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli"
    code = cli_main.main(["synth", str(out), "--oem", "--regions", "1", "--tiles-per-region", "3", "--size", "48",
                          "--large-size", "0", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "train.txt 2, val.txt 1, test.txt 1" in printed and "xbd_delta: 1 image(s) without labels" in printed
    assert sorted(p.name for p in (out / "alpha" / "labels").glob("*.tif")) == [f"alpha_{n}.tif" for n in (1, 2, 3)]
    assert not list(out.rglob("*.png"))  # not the LoveDA layout
    assert cli_main.main(["synth", str(tmp_path / "x"), "--regions", "2", "--no-progress"]) == 2
    assert "--oem" in capsys.readouterr().err
    assert cli_main.main(["synth", str(tmp_path / "y"), "--oem", "--tiles", "5", "--no-progress"]) == 2
    assert "--tiles-per-region" in capsys.readouterr().err
