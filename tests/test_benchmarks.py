"""Smoke test for benchmarks/bench_train.py (``--quick`` on the tiny preset, a few seconds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    by_case = {(r["mode"], r["precision"]): r for r in rows}
    for r in rows:
        assert r["model"] == "ftunetformer_tiny"
        # the reported rates are the measured times, not free numbers
        assert r["s_per_iter"] > 0 and r["images_per_s"] == pytest.approx(r["batch"] / r["s_per_iter"])
        if r["precision"] == "bf16":
            fp32 = by_case[(r["mode"], "fp32")]
            assert r["speedup_vs_fp32"] == pytest.approx(fp32["s_per_iter"] / r["s_per_iter"])
        else:
            assert r["speedup_vs_fp32"] is None


def test_bench_kd_quick(tmp_path: Path) -> None:
    out = tmp_path / "kd.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_kd.py"), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert {r["teacher_precision"] for r in rows} == {"fp32", "bf16"}
    assert all(r["plain_s"] > 0 and r["kd_s"] > 0 for r in rows)


def test_bench_infer_quick(tmp_path: Path) -> None:
    out = tmp_path / "infer.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_infer.py"), "--quick", "--work",
                           str(tmp_path / "work"), "--json", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| path | backend | precision |" in proc.stdout
    report = json.loads(out.read_text())
    rows = {r["path"]: r for r in report["rows"]}
    assert set(rows) == {"pytorch fp32", "pytorch bf16", "onnxruntime fp32", "default (auto)"}
    assert (rows["pytorch fp32"]["backend"], rows["pytorch fp32"]["precision"]) == ("pytorch", "32")
    assert (rows["pytorch bf16"]["backend"], rows["pytorch bf16"]["precision"]) == ("pytorch", "bf16")
    assert (rows["onnxruntime fp32"]["backend"], rows["onnxruntime fp32"]["precision"]) == ("onnxruntime", "32")
    assert rows["default (auto)"]["precision"] in ("32", "bf16")
    assert report["default_precision"] == rows["default (auto)"]["precision"]
    base = rows["pytorch fp32"]["s_per_batch"]
    for r in rows.values():
        assert r["s_per_batch"] > 0 and r["tiles_per_s"] == pytest.approx(r["batch"] / r["s_per_batch"])
        assert r["speedup_vs_fp32"] == pytest.approx(base / r["s_per_batch"])
        assert 0.0 <= r["agreement_vs_fp32"] <= 1.0
    assert rows["pytorch fp32"]["agreement_vs_fp32"] == 1.0
    assert isinstance(report["default_meets_target"], bool) and report["target_speedup"] == 2.5
    assert {"cpu_model", "amx_bf16", "avx512_bf16", "threads"} <= set(report["info"])


def test_bench_predict_memory_quick(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_predict_memory.py"), "--quick",
                           "--work", str(tmp_path / "work"), "--json", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| size | windows |" in proc.stdout
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert sorted(r["size"] for r in rows) == [300, 600]
    for r in rows:
        assert r["georef_ok"] is True
        assert r["output_georef"]["crs"] == "EPSG:32629"
        assert (r["output_georef"]["width"], r["output_georef"]["height"]) == (r["size"], r["size"])
        assert r["windows"] > 0 and r["seconds"] > 0
        assert r["peak_mb"] == r["vmhwm_mb"] > 0 and r["sampled_peak_mb"] > 0
        assert r["sampled_peak_mb"] <= r["vmhwm_mb"] + 1  # sampling can only miss peaks
    assert report["georef_ok"] is True
    assert report["ratio"] > 0 and isinstance(report["pass"], bool)
