"""remap: the real LoveDA samples through the shipped mapping, layout kept, bad input changes nothing."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landseg.classes import BIODIVERSITY
from landseg.cli.main import main
from landseg.curation.remap import remap_dataset
from landseg.errors import ConfigError, DatasetError

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
LOVEDA_SAMPLE = SHARED / "data" / "samples" / "loveda"
LOVEDA_MAPPING = REPO / "config" / "mappings" / "loveda_to_biodiversity.yaml"

# Raw LoveDA code pixel counts from ../shared/data/samples/SOURCES.md
# (0 no-data, 1 background, 2 building, 3 road, 4 water, 5 barren, 6 forest, 7 agriculture).
RAW_COUNTS = {
    "loveda_0": {1: 142441, 2: 14427, 3: 19208, 4: 3888, 7: 868612},
    "loveda_1": {1: 226400, 2: 3503, 3: 2485, 4: 244616, 6: 43126, 7: 528446},
    "loveda_2": {1: 8244, 4: 29109, 6: 914057, 7: 97166},
}


def tree(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def counts(path: Path) -> dict[int, int]:
    with Image.open(path) as img:
        assert img.mode == "L"
        values, n = np.unique(np.array(img), return_counts=True)
    return dict(zip(values.tolist(), n.tolist(), strict=True))


@pytest.fixture(scope="module")
def loveda() -> Path:
    if not (LOVEDA_SAMPLE / "Train" / "Rural" / "masks_png" / "loveda_0.png").is_file():
        pytest.skip(f"real LoveDA samples not found under {LOVEDA_SAMPLE} (../shared is absent)")
    return LOVEDA_SAMPLE


def test_real_loveda_counts(loveda: Path, tmp_path: Path) -> None:
    out = tmp_path / "bio"
    res = remap_dataset(loveda, LOVEDA_MAPPING, out, prefix="lv_", progress=False)
    assert (res.tiles, res.written, res.skipped) == (3, 3, 0)
    idx = BIODIVERSITY.index
    for name, raw in RAW_COUNTS.items():
        c = raw.get
        expected = {
            idx("Background"): c(1, 0) + c(4, 0) + c(5, 0),
            idx("Settlement"): c(2, 0) + c(3, 0),
            idx("Forest Land"): c(6, 0),
            idx("Cropland"): c(7, 0),
            255: 1024 * 1024 - sum(raw.values()),  # no-data (code 0) pixels
        }
        got = counts(out / "Train" / "Rural" / "masks_png" / f"lv_{name}.png")
        assert got == {k: v for k, v in expected.items() if v}, name
        image = f"Train/Rural/images_png/lv_{name}.png"
        assert (out / image).read_bytes() == (loveda / f"Train/Rural/images_png/{name}.png").read_bytes()
    assert counts(out / "Train/Rural/masks_png/lv_loveda_0.png")[idx("Settlement")] == 14427 + 19208
    with (out / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["file"] for r in rows] == ["lv_loveda_0.png", "lv_loveda_1.png", "lv_loveda_2.png"]
    assert {(r["split"], r["source"], r["crs"], r["transform"], r["width"]) for r in rows} == {
        ("Train/Rural", "loveda", "", "", "1024")}
    assert rows[0]["sha256"] == hashlib.sha256((out / "Train/Rural/masks_png/lv_loveda_0.png").read_bytes()).hexdigest()
    assert res.pixels["Settlement"] == sum(c.get(2, 0) + c.get(3, 0) for c in RAW_COUNTS.values())


# --------------------------------------------------------------------------- synthetic flat datasets


def write_pair(root: Path, name: str, mask: np.ndarray | None) -> None:
    (root / "images_png").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), len(name), np.uint8)).save(root / "images_png" / f"{name}.png")
    if mask is not None:
        (root / "masks_png").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask.astype(np.uint8), mode="L").save(root / "masks_png" / f"{name}.png")


@pytest.fixture
def flat(tmp_path: Path) -> Path:
    root = tmp_path / "flat"
    write_pair(root, "a", np.arange(64).reshape(8, 8) % 8)
    write_pair(root, "b", np.full((8, 8), 6))
    return root


def test_flat_dataset_and_unlabelled_image(flat: Path, tmp_path: Path) -> None:
    write_pair(flat, "c", None)
    out = tmp_path / "out"
    res = remap_dataset(flat, LOVEDA_MAPPING, out, progress=False)
    assert sorted(tree(out)) == [".landseg/created_by.json", "images_png/a.png", "images_png/b.png", "manifest.csv",
                                 "masks_png/a.png", "masks_png/b.png"]
    assert counts(out / "masks_png" / "b.png") == {BIODIVERSITY.index("Forest Land"): 64}
    assert len(res.unlabelled) == 1 and res.unlabelled[0].endswith("c.png")
    assert "1 image(s) without a mask" in res.report()
    again = remap_dataset(flat, LOVEDA_MAPPING, out, progress=False)  # a finished run resumes as a no-op
    assert again.resumed and (again.written, again.skipped) == (0, 2)


def test_split_keeps_layout(tmp_path: Path) -> None:
    root = tmp_path / "loveda"
    write_pair(root / "Train" / "Rural", "1", np.full((8, 8), 2))
    write_pair(root / "Val" / "Urban", "1", np.full((8, 8), 7))
    out = tmp_path / "out"
    remap_dataset(root, LOVEDA_MAPPING, out, split="Val", progress=False)
    assert sorted(tree(out / "Val")) == ["Urban/images_png/1.png", "Urban/masks_png/1.png"]
    assert not (out / "Train").exists()
    everything = remap_dataset(root, LOVEDA_MAPPING, tmp_path / "all", progress=False)
    assert everything.tiles == 2


def test_unmapped_code_changes_nothing(flat: Path, tmp_path: Path) -> None:
    write_pair(flat, "z", np.full((8, 8), 9))
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=r"masks_png/z\.png holds code\(s\) 9 \(64 pixels\).*Nothing was written"):
        remap_dataset(flat, LOVEDA_MAPPING, out, progress=False)
    assert not out.exists()


def test_refusals(flat: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"not empty and holds no landseg remap output"):
        remap_dataset(flat, LOVEDA_MAPPING, out, progress=False)
    with pytest.raises(ConfigError, match=r"is inside the dataset"):
        remap_dataset(flat, LOVEDA_MAPPING, flat / "remapped", progress=False)
    done = tmp_path / "done"
    remap_dataset(flat, LOVEDA_MAPPING, done, progress=False)
    before = tree(done)
    with pytest.raises(ConfigError, match=r"previous remap with different arguments \(prefix: '' there, 'x_' now\)"):
        remap_dataset(flat, LOVEDA_MAPPING, done, prefix="x_", progress=False)
    assert tree(done) == before and tree(out) == {"keep.txt": hashlib.sha256(b"x").hexdigest()}


def test_cli(flat: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["remap", str(flat), "--mapping", str(LOVEDA_MAPPING), "--out", str(tmp_path / "o"),
                 "--prefix", "lv_", "--no-progress"]) == 0
    assert "Remapped 2 mask(s)" in capsys.readouterr().out
    assert (tmp_path / "o" / "masks_png" / "lv_a.png").is_file()
    assert main(["remap", str(flat), "--mapping", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "p")]) == 2
    assert "missing.yaml does not exist" in capsys.readouterr().err
