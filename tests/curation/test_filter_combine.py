"""filter and combine: the right tiles move, reports as the seed printed them, errors change nothing."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landseg.cli.main import main
from landseg.curation.combine import Source, combine_datasets
from landseg.curation.filter import filter_dataset
from landseg.curation.journal import Journal
from landseg.errors import ConfigError, DatasetError


def tree(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".landseg" not in p.parts}


def write_pair(root: Path, name: str, mask: np.ndarray) -> None:
    (root / "images_png").mkdir(parents=True, exist_ok=True)
    (root / "masks_png").mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8), mode="L").save(root / "masks_png" / f"{name}.png")
    Image.fromarray(np.full((*mask.shape, 3), len(name) * 7 % 255, np.uint8)).save(root / "images_png" / f"{name}.png")


@pytest.fixture
def ds(tmp_path: Path) -> Path:
    """Four 10x10 tiles with known Settlement (class 4) shares."""
    root = tmp_path / "ds"
    m = np.zeros((10, 10), np.uint8)
    write_pair(root, "clean", m)                      # 0% settlement
    half = m.copy()
    half[:5] = 4
    write_pair(root, "half", half)                    # exactly 50%: kept (not above)
    town = m.copy()
    town[:9] = 4
    write_pair(root, "town", town)                    # 90%
    ign = np.full((10, 10), 255, np.uint8)
    ign[:4] = 4
    ign[4:6] = 1
    write_pair(root, "with_ignore", ign)              # 40% of all pixels, 66.7% of labelled pixels
    return root


def test_filter_moves_tiles_above_threshold(ds: Path, tmp_path: Path) -> None:
    res = filter_dataset(ds, "Settlement", 0.5, progress=False)
    assert [n for n, _ in res.removed] == ["town.png", "with_ignore.png"]
    backup = tmp_path / "ds_Settlement_filtered_backup"
    assert res.backup == backup
    assert sorted(tree(backup)) == ["images_png/town.png", "images_png/with_ignore.png", "masks_png/town.png",
                                    "masks_png/with_ignore.png"]
    assert sorted(tree(ds)) == ["images_png/clean.png", "images_png/half.png", "masks_png/clean.png",
                                "masks_png/half.png"]
    text = res.report()
    assert "town.png - 90.0% settlement" in text and "Removed 2 tiles" in text
    assert "max 90.0%" in text and f"landseg undo {res.journal}" in text


def test_denominator_is_explicit(ds: Path) -> None:
    labelled = filter_dataset(ds, "Settlement", 0.5, denominator="labelled", dry_run=True, progress=False)
    everything = filter_dataset(ds, "Settlement", 0.5, denominator="all", dry_run=True, progress=False)
    assert dict(labelled.removed)["with_ignore.png"] == pytest.approx(40 / 60)
    assert "with_ignore.png" not in dict(everything.removed)


def test_tile_without_labelled_pixels_is_kept(ds: Path) -> None:
    write_pair(ds, "all_ignore", np.full((10, 10), 255, np.uint8))
    res = filter_dataset(ds, "Settlement", 0.5, dry_run=True, progress=False)
    assert "all_ignore.png" not in dict(res.removed)
    assert res.maximum == pytest.approx(0.9) and not np.isnan(res.mean)


def test_dry_run_changes_nothing_and_second_run_is_a_no_op(ds: Path) -> None:
    before = tree(ds)
    res = filter_dataset(ds, "settlement", 0.5, dry_run=True, progress=False)
    assert res.dry_run and len(res.removed) == 2 and "move" in res.plan_text
    assert tree(ds) == before and not Journal.all_for(ds)
    filter_dataset(ds, "Settlement", 0.5, progress=False)
    again = filter_dataset(ds, "Settlement", 0.5, progress=False)
    assert again.removed == [] and again.journal is None


def test_undo_restores_byte_for_byte(ds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(ds)
    res = filter_dataset(ds, "Settlement", 0.5, progress=False)
    assert main(["undo", str(res.journal), "--no-progress"]) == 0
    assert tree(ds) == before
    assert "matches its recorded sha256" in capsys.readouterr().out
    assert main(["undo", "--list", str(ds)]) == 0
    assert "undone" in capsys.readouterr().out


@pytest.mark.parametrize("args,match", [
    (["--max-fraction", "1.5"], "between 0 and 1"),
    (["--max-fraction", "-0.1"], "between 0 and 1"),
    (["--class", "Urban"], "Unknown class 'Urban'. Valid classes: Background, Forest Land"),
])
def test_filter_bad_input_changes_nothing(ds: Path, args: list[str], match: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(ds)
    argv = ["filter", str(ds), "--class", "Settlement", "--no-progress"]
    for i in range(0, len(args), 2):  # later flags override the defaults above
        if args[i] in argv:
            argv[argv.index(args[i]) + 1] = args[i + 1]
        else:
            argv += args[i:i + 2]
    assert main(argv) == 2
    assert match in capsys.readouterr().err
    assert tree(ds) == before


def test_filter_refuses_a_backup_holding_the_same_names(ds: Path, tmp_path: Path) -> None:
    backup = tmp_path / "bk"
    (backup / "images_png").mkdir(parents=True)
    (backup / "images_png" / "town.png").write_bytes(b"old")
    before = tree(ds)
    with pytest.raises(DatasetError, match="already holds images_png/town.png"):
        filter_dataset(ds, "Settlement", 0.5, backup=backup, progress=False)
    assert tree(ds) == before


# --- combine --------------------------------------------------------------------------------------

def test_combine_links_and_writes_manifest(ds: Path, tmp_path: Path) -> None:
    other = tmp_path / "oem"
    write_pair(other, "houston_1", np.full((10, 10), 2, np.uint8))
    out = tmp_path / "combined"
    res = combine_datasets([Source("bio", ds), Source("oem", other, "oem_")], out, progress=False)
    assert res.added == {"bio": 4, "oem": 1} and res.total == 5
    assert (out / "Train/images_png/oem_houston_1.png").stat().st_ino == (other / "images_png/houston_1.png").stat().st_ino
    rows = {r["file"]: r for r in csv.DictReader((out / "manifest.csv").open())}
    assert rows["oem_houston_1.png"]["source"] == "oem"
    assert float(rows["oem_houston_1.png"]["frac_Grassland"]) == 1.0
    assert float(rows["town.png"]["frac_Settlement"]) == pytest.approx(0.9)
    assert rows["town.png"]["sha256"] == hashlib.sha256((ds / "masks_png/town.png").read_bytes()).hexdigest()
    again = combine_datasets([Source("bio", ds), Source("oem", other, "oem_")], out, progress=False)
    assert again.added == {"bio": 0, "oem": 0} and again.skipped == 5 and again.journal is None


def test_combine_refuses_name_clashes(ds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    write_pair(copy, "town", np.ones((10, 10), np.uint8))
    out = tmp_path / "out"
    assert main(["combine", "--source", f"a={ds}", "--source", f"b={copy}", "--out", str(out), "--no-progress"]) == 2
    assert "Name clash: 'town'" in capsys.readouterr().err
    assert tree(out) == {}
    combine_datasets([Source("a", ds)], out, progress=False)
    before = tree(out)
    with pytest.raises(DatasetError, match="already exists with other content"):
        combine_datasets([Source("b", copy)], out, progress=False)
    assert tree(out) == before


def test_combine_dry_run_and_undo(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = combine_datasets([Source("a", ds)], out, dry_run=True, progress=False)
    assert res.added == {"a": 4} and not out.exists()
    first = combine_datasets([Source("a", ds)], out, progress=False)
    other = tmp_path / "more"
    write_pair(other, "extra", np.zeros((10, 10), np.uint8))
    before = tree(out)
    second = combine_datasets([Source("a", ds), Source("m", other)], out, progress=False)
    assert second.added == {"a": 0, "m": 1}
    Journal(second.journal).undo()
    assert tree(out) == before  # including the manifest of the first combine
    Journal(first.journal).undo()
    assert tree(out) == {}


def test_source_syntax_errors() -> None:
    with pytest.raises(ConfigError, match="NAME=ROOT"):
        Source.parse("just/a/path")
    assert Source.parse("oem=data/x:oem_") == Source("oem", Path("data/x"), "oem_")


@pytest.mark.parametrize("denominator,share", [("all", 0.5055), ("labelled", 0.5936)])
def test_real_houston_16_is_removed_by_the_settlement_filter(tmp_path: Path, shared_dir: Path, denominator: str,
                                                             share: float) -> None:
    from landseg.curation.oem import import_oem

    repo = Path(__file__).resolve().parents[2]
    oem = tmp_path / "oem"
    import_oem(shared_dir / "data/samples/openearthmap", oem, repo / "config/mappings/oem_to_biodiversity.yaml",
               tile=1024, splits=("train",), progress=False)
    res = filter_dataset(oem, "Settlement", 0.5, denominator=denominator, progress=False)
    assert [n for n, _ in res.removed] == ["oem_houston_16.png"]
    assert res.removed[0][1] == pytest.approx(share, abs=5e-5)
    assert not (oem / "masks_png/oem_houston_16.png").exists()
    Journal(res.journal).undo()
    assert (oem / "masks_png/oem_houston_16.png").exists()
