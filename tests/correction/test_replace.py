"""replace-masks: backup once, right masks replaced across splits, re-run no-op, kill -9 safe, undo exact."""

from __future__ import annotations

import csv
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landseg.classes import BIODIVERSITY
from landseg.cli.main import main
from landseg.correction import DECISION_COLUMNS
from landseg.correction.replace import BACKUP_MANIFEST, replace_masks
from landseg.curation.journal import Journal
from landseg.data.files import read_mask
from landseg.errors import DatasetError

LANDSEG = str(Path(sys.executable).with_name("landseg"))


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".landseg" not in p.parts}


def make_root(tmp_path: Path, per_split: int = 3) -> Path:
    root = tmp_path / "bio"
    rng = np.random.default_rng(0)
    for split in ("Train/Rural", "Val/Rural", "Test/Rural"):
        for i in range(per_split):
            name = f"{split.split('/')[0].lower()}_{i:03d}"
            for sub, arr in (("masks_png", rng.integers(0, 6, (8, 8), dtype=np.uint8)),
                             ("images_png", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(root / split / sub / f"{name}.png")
    return root


def palette_prediction(path: Path, value: int) -> Path:
    img = Image.fromarray(np.full((8, 8), value, np.uint8), mode="P")
    img.putpalette(BIODIVERSITY.palette())
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def write_decisions(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=DECISION_COLUMNS)
        w.writeheader()
        for image, choice, pred in rows:
            w.writerow({"image": image, "choice": choice, "reviewer": "ana", "time": "2026-11-23T10:00:00Z",
                        "note": "", "prediction": pred})
    return path


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    root = make_root(tmp_path)
    preds = tmp_path / "review"
    rows = [("train_000", "A", str(palette_prediction(preds / "pred_A/train_000.png", 4))),
            ("val_001", "B", str(palette_prediction(preds / "pred_B/val_001.png", 2))),
            ("test_002", "A", str(palette_prediction(preds / "pred_A/test_002.png", 1))),
            ("val_000", "GT", ""), ("val_002", "skip", ""),
            ("ghost_tile", "A", str(palette_prediction(preds / "pred_A/ghost_tile.png", 3)))]
    return root, write_decisions(tmp_path / "decisions.csv", rows)


def test_replaces_across_splits_with_backup_and_report(setup: tuple[Path, Path]) -> None:
    root, decisions = setup
    before = tree(root)
    res = replace_masks(decisions, root, progress=False)
    assert res.replaced == {"A": 2, "B": 1} and res.kept_gt == 1 and res.skipped == 1
    assert res.not_found == ["ghost_tile"]
    text = res.report()
    assert "2 from A, 1 from B; kept GT 1" in text and "Not found in any split: ghost_tile" in text
    new = Image.open(root / "Val/Rural/masks_png/val_001.png")
    assert new.mode == "L" and (np.array(new) == 2).all()  # plain class indices, not a palette
    assert (read_mask(root / "Train/Rural/masks_png/train_000.png") == 4).all()
    # the whole original mask set (all 9 masks, all splits) is backed up once, with sha256s
    backup = root.with_name("bio_masks_original_backup")
    sums = dict(line.split("  ")[::-1] for line in (backup / BACKUP_MANIFEST).read_text().splitlines())
    assert len(sums) == 9
    assert all(before[rel] == sha for rel, sha in sums.items())
    # running it twice changes nothing the second time
    after = tree(root)
    again = replace_masks(decisions, root, progress=False)
    assert again.already == 3 and again.journal is None and tree(root) == after


def test_dry_run_changes_nothing(setup: tuple[Path, Path]) -> None:
    root, decisions = setup
    before = tree(root)
    res = replace_masks(decisions, root, dry_run=True, progress=False)
    assert res.replaced == {"A": 2, "B": 1} and res.not_found == ["ghost_tile"]
    assert tree(root) == before
    assert not root.with_name("bio_masks_original_backup").exists() and not Journal.all_for(root)


def test_undo_restores_byte_identical_masks(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    root, decisions = setup
    before = tree(root)
    assert main(["replace-masks", "--decisions", str(decisions), "--data-root", str(root), "--no-progress"]) == 0
    journal = Journal.all_for(root)[0].path
    assert tree(root) != before
    assert main(["undo", str(journal), "--no-progress"]) == 0
    assert tree(root) == before


@pytest.mark.parametrize("row,match", [(("x", "C", ""), "choice 'C' is not one of"),
                                       (("train_000", "A", "/nonexistent.png"), "does not exist")])
def test_bad_decisions_are_clear_errors(tmp_path: Path, row: tuple[str, str, str], match: str) -> None:
    root = make_root(tmp_path)
    before = tree(root)
    with pytest.raises(DatasetError, match=match):
        replace_masks(write_decisions(tmp_path / "d.csv", [row]), root, progress=False)
    assert tree(root) == before


def test_missing_decisions_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_root(tmp_path)
    assert main(["replace-masks", "--decisions", str(tmp_path / "nope.csv"), "--data-root", str(root)]) == 2
    assert "Decisions file not found" in capsys.readouterr().err


@pytest.mark.slow
def test_kill_9_mid_way_then_rerun_is_consistent_and_undo_exact(tmp_path: Path) -> None:
    root = make_root(tmp_path, per_split=40)
    preds = tmp_path / "review"
    rows = []
    for split in ("train", "val", "test"):
        for i in range(40):
            rows.append((f"{split}_{i:03d}", "A", str(palette_prediction(preds / f"pred_A/{split}_{i:03d}.png", 5))))
    decisions = write_decisions(tmp_path / "decisions.csv", rows)
    original = tree(root)
    cmd = [LANDSEG, "replace-masks", "--decisions", str(decisions), "--data-root", str(root), "--no-progress"]
    rng = random.Random(7)
    for _trial in range(4):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target = rng.randrange(1, 240)
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline:
            logs = [p for p in (root / ".landseg/journals").glob("*/done.log")] if (root / ".landseg").exists() else []
            if logs and len(logs[-1].read_text().split("\n")) - 1 >= target:
                break
            time.sleep(0.0005)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # every mask is whole: either its original bytes or the replacement
        replacement = hashlib.sha256(Path(rows[0][2]).read_bytes()).hexdigest()  # palette file, differs
        for rel, sha in tree(root).items():
            if rel.endswith(".landseg-tmp"):
                continue  # a killed write's temp file: never read as a mask, removed by the re-run
            if "masks_png" in rel:
                arr = read_mask(root / rel)
                assert sha == original[rel] or (arr == 5).all(), f"{rel} is neither original nor replaced"
                assert sha != replacement
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert not [p for p in root.rglob("*.landseg-tmp")]
        assert all((read_mask(root / rel) == 5).all() for rel in original if "masks_png" in rel)
        for j in Journal.all_for(root):
            if not j.status().undone:
                j.undo()
        assert tree(root) == original
