"""Smoke test for benchmarks/bench_train.py (``--quick`` on the tiny preset, a few seconds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "bench_train.py"


def test_bench_train_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--models", "ftunetformer_tiny", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| model | params |" in proc.stdout
    report = json.loads(out.read_text())
    assert report["info"]["threads"] == 2
    rows = report["results"]
    assert {(r["mode"], r["precision"]) for r in rows} == {
        ("train", "fp32"),
        ("train", "bf16"),
        ("eval", "fp32"),
        ("eval", "bf16"),
    }
    for r in rows:
        assert r["model"] == "ftunetformer_tiny"
        assert r["images_per_s"] > 0 and r["s_per_iter"] > 0
        if r["precision"] == "bf16":
            assert r["speedup_vs_fp32"] > 0


def test_bench_kd_quick(tmp_path: Path) -> None:
    out = tmp_path / "kd.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_kd.py"), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert {r["teacher_precision"] for r in rows} == {"fp32", "bf16"}
    assert all(r["plain_s"] > 0 and r["kd_s"] > 0 for r in rows)
