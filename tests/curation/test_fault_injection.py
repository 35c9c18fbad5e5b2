"""Fault injection: `kill -9` filter and combine at random points; re-run; undo restores exactly.

Each trial starts the real CLI in a subprocess and SIGKILLs it either at a random time before it
has planned anything or after a random number of journaled operations (watched through the
journal's done.log). After each kill every file must exist exactly once, whole (sha256 checked),
in the dataset or in the backup; re-running the same command finishes the job; `undo` brings the
tree back byte for byte.
"""

from __future__ import annotations

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

from landseg.curation.journal import Journal

pytestmark = pytest.mark.slow
LANDSEG = str(Path(sys.executable).with_name("landseg"))


def tree(root: Path) -> dict[str, str]:
    """Every data file by relative path -> sha256.

    Skipped: landseg's bookkeeping, and the temp file of a write that a kill interrupted
    (``.<name>.landseg-tmp``: never read as data; the re-run removes it, which is asserted).
    """
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and ".landseg" not in p.parts and not p.name.endswith(".landseg-tmp")}


def no_temp_files(*roots: Path) -> bool:
    return not [p for root in roots if root.exists() for p in root.rglob("*.landseg-tmp")]


def make_dataset(root: Path, n: int, seed: int, prefix: str = "t") -> None:
    rng = np.random.default_rng(seed)
    (root / "images_png").mkdir(parents=True)
    (root / "masks_png").mkdir(parents=True)
    for i in range(n):
        mask = rng.integers(0, 6, (32, 32), dtype=np.uint8)
        if i % 2 == 0:
            mask[:, : 24] = 4  # > 50% Settlement
        Image.fromarray(mask, mode="L").save(root / "masks_png" / f"{prefix}{i:03d}.png")
        img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / "images_png" / f"{prefix}{i:03d}.png")


def run_and_kill(cmd: list[str], journal_root: Path, rng: random.Random, total_ops: int, before_plan: bool) -> str:
    """Start ``cmd``, SIGKILL it at a random point; return where it died."""
    journals = journal_root / ".landseg" / "journals"
    old = set(journals.glob("*")) if journals.exists() else set()  # earlier (undone) runs
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if before_plan:
        time.sleep(rng.uniform(0.05, 0.6))
        where = "early"
    else:
        target = rng.randrange(0, total_ops)
        where = f"after >= {target} ops"
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            logs = [p for p in journals.glob("*/done.log") if p.parent not in old]
            done = sum(len(p.read_text().split("\n")) - 1 for p in logs) if logs else -1
            if done >= target:
                break
            time.sleep(0.0005)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return where


def check_each_file_once(original: dict[str, str], places: list[Path]) -> None:
    """Every original file is in exactly one place, with its original bytes; no others appear."""
    seen: dict[str, list[str]] = {}
    for place in places:
        for rel, sha in tree(place).items():
            seen.setdefault(rel, []).append(sha)
    for rel, sha in original.items():
        assert seen.get(rel) == [sha], f"{rel}: expected once with its bytes, found {seen.get(rel)}"
    extra = set(seen) - set(original)
    assert not extra, f"unexpected files: {sorted(extra)[:5]}"


def test_filter_survives_kill_9_at_random_points(tmp_path: Path) -> None:
    ds, backup = tmp_path / "ds", tmp_path / "backup"
    make_dataset(ds, 120, seed=0)
    original = tree(ds)
    cmd = [LANDSEG, "filter", str(ds), "--class", "Settlement", "--max-fraction", "0.5",
           "--backup", str(backup), "--no-progress"]
    rng = random.Random(1234)
    mid_apply = 0
    for trial in range(12):
        run_and_kill(cmd, ds, rng, total_ops=120, before_plan=trial < 2)
        check_each_file_once(original, [ds, backup])
        unfinished = Journal.unfinished(ds)
        mid_apply += bool(unfinished)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert no_temp_files(ds, backup)
        check_each_file_once(original, [ds, backup])
        assert len(tree(backup)) == 120  # the 60 Settlement tiles: image + mask each
        assert not Journal.unfinished(ds)
        for j in Journal.all_for(ds):
            if not j.status().undone:
                j.undo()
        assert tree(ds) == original and tree(backup) == {}
    assert mid_apply >= 5, f"only {mid_apply} kills landed while files were moving"


def test_combine_into_existing_folder_survives_kill_9(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    make_dataset(a, 30, seed=1, prefix="a")
    make_dataset(b, 60, seed=2, prefix="b")
    first = subprocess.run([LANDSEG, "combine", "--source", f"a={a}", "--out", str(out), "--no-progress"],
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    existing = tree(out)  # a pre-existing combined folder with its manifest
    first_journal = Journal.all_for(out)[0].path
    cmd = [LANDSEG, "combine", "--source", f"a={a}", "--source", f"b={b}:x_", "--out", str(out), "--no-progress"]
    rng = random.Random(99)
    sources = {**{f"Train/images_png/{k.split('/')[-1]}": v for k, v in tree(a / "images_png").items()},
               **{f"Train/masks_png/{k.split('/')[-1]}": v for k, v in tree(a / "masks_png").items()},
               **{f"Train/images_png/x_{k.split('/')[-1]}": v for k, v in tree(b / "images_png").items()},
               **{f"Train/masks_png/x_{k.split('/')[-1]}": v for k, v in tree(b / "masks_png").items()}}
    mid_apply = 0
    for trial in range(12):
        run_and_kill(cmd, out, rng, total_ops=121, before_plan=trial < 2)
        now = tree(out)
        for rel, sha in now.items():  # whatever exists is whole: a source's bytes or the old manifest
            if rel != "manifest.csv":
                assert sources[rel] == sha, f"{rel} is half-written or wrong"
        assert set(existing) - {"manifest.csv"} <= set(now)  # nothing that was there is lost
        mid_apply += bool(Journal.unfinished(out))
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert no_temp_files(out)
        final = tree(out)
        assert {k: v for k, v in final.items() if k != "manifest.csv"} == sources
        assert len((out / "manifest.csv").read_text().splitlines()) == 1 + 90
        for j in Journal.all_for(out):  # keep the first combine; undo this one
            if j.path != first_journal and not j.status().undone:
                j.undo()
        assert tree(out) == existing
    assert mid_apply >= 5, f"only {mid_apply} kills landed while files were linking"
