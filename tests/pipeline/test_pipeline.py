"""The pipeline runner: provenance records, skipping unchanged stages, re-running dependants, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_pipeline import write_tiny_pipeline

from landseg.cli.main import main
from landseg.errors import ConfigError
from landseg.pipeline import load_pipeline, run_pipeline

REPO = Path(__file__).resolve().parents[2]
LANDSEG = str(Path(sys.executable).with_name("landseg"))


def write_pipeline(tmp_path: Path, epochs: int = 1, review_auto: bool = True) -> Path:
    auto = ', auto: "agree>=0.5,quality<0.9"' if review_auto else ""
    return write_tiny_pipeline(tmp_path, """  - name: a
    kind: train
    params: {config: {cfg}, overrides: {data.root: "{stages.data.out}"}}
  - name: b
    kind: train
    params: {config: {cfg}, overrides: {data.root: "{stages.data.out}", trainer.seed: 7}}
  - name: pair
    kind: predict_pair
    params: {models: {A: "{stages.a.best_checkpoint}", B: "{stages.b.best_checkpoint}"}, data: "{stages.data.out}"}
  - name: review
    kind: review
    params: {dir: "{stages.pair.out}"AUTO}
  - name: evaluate
    kind: evaluate
    params: {models: {a: "{stages.a.best_checkpoint}"}, data: "{stages.data.out}", splits: [Test]}
""".replace("AUTO", auto), epochs)


def test_runs_records_skips_and_reruns_dependants(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    first = run_pipeline(pipe, progress=False, log=lambda *_: None)
    assert first.ran == ["data", "a", "b", "pair", "review", "evaluate"] and first.waiting is None
    rec = json.loads((tmp_path / "run/a/stage.json").read_text())
    assert rec["status"] == "complete" and rec["outputs"]["best_checkpoint"].endswith(".ckpt")
    for key in ("key", "params", "config_files", "inputs", "landseg_version", "git_commit", "host", "started",
                "ended", "duration_s", "metrics"):
        assert key in rec
    assert str(tmp_path / "tiny.py") in rec["config_files"]
    assert any(k.endswith("best.ckpt") for k in json.loads((tmp_path / "run/evaluate/stage.json").read_text())["inputs"])
    t0 = time.time()
    second = run_pipeline(pipe, progress=False, log=lambda *_: None)
    assert second.ran == [] and len(second.skipped) == 6 and time.time() - t0 < 20
    # Touching stage b's parameters re-runs b and what depends on it, nothing else.
    pipe.write_text(pipe.read_text().replace("trainer.seed: 7", "trainer.seed: 8"))
    third = run_pipeline(pipe, progress=False, log=lambda *_: None)
    assert third.ran == ["b", "pair", "review"]
    # Editing a config file both training stages read re-runs them and their dependants.
    cfg = tmp_path / "tiny.py"
    cfg.write_text(cfg.read_text() + "# a comment changes the content hash\n")
    assert run_pipeline(pipe, progress=False, log=lambda *_: None).ran == ["a", "b", "pair", "review", "evaluate"]
    assert run_pipeline(pipe, from_stage="pair", progress=False, log=lambda *_: None).ran == ["pair", "review"]
    assert run_pipeline(pipe, only="evaluate", progress=False, log=lambda *_: None).ran == ["evaluate"]


def test_review_without_auto_waits_for_a_person(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipe = write_pipeline(tmp_path, review_auto=False)
    code = main(["pipeline", "run", str(pipe), "--no-progress"])
    assert code == 3
    out = capsys.readouterr().out
    assert "Waiting for a person at stage 'review'" in out and "--export" in out
    assert json.loads((tmp_path / "run/review/stage.json").read_text())["status"] == "waiting"
    # The person reviews and exports; the next run continues from there.
    pair_out = json.loads((tmp_path / "run/pair/stage.json").read_text())["outputs"]["out"]
    assert main(["review", pair_out, "--auto", "agree>=0.5,quality<0.9"]) == 0
    assert main(["review", pair_out, "--export", str(Path(pair_out) / "decisions.csv")]) == 0
    res = run_pipeline(pipe, progress=False, log=lambda *_: None)
    assert res.ran == ["review", "evaluate"]


def test_dry_run_explains_and_changes_nothing(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    lines: list[str] = []
    res = run_pipeline(pipe, dry_run=True, log=lines.append)
    assert res.ran == ["data", "a", "b", "pair", "review", "evaluate"]
    assert lines[0] == "[would run] data (synth): never ran"
    assert not (tmp_path / "run/data/stage.json").exists()


def test_bad_pipeline_files(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("stages:\n  - {name: x, kind: teleport}\n")
    with pytest.raises(ConfigError, match="kind 'teleport'.*valid kinds"):
        load_pipeline(bad)
    bad.write_text("stages:\n  - {name: x, kind: synth, params: {out: '{stages.y.out}'}}\n")
    with pytest.raises(ConfigError, match="refers to y, which is no stage of this pipeline"):
        load_pipeline(bad)


@pytest.mark.slow
def test_killed_training_stage_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path, epochs=6)
    proc = subprocess.Popen([LANDSEG, "pipeline", "run", str(pipe), "--no-progress"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    last = tmp_path / "run/a/run/checkpoints/last.ckpt"
    deadline = time.time() + 240
    while time.time() < deadline and not last.exists() and proc.poll() is None:
        time.sleep(0.05)
    assert last.exists(), "training never wrote a checkpoint"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((tmp_path / "run/a/stage.json").read_text())["status"] == "running"
    res = run_pipeline(pipe, progress=False, log=lambda *_: None)
    assert res.ran[:2] == ["a", "b"]
    metrics = json.loads((tmp_path / "run/a/stage.json").read_text())["metrics"]
    assert metrics["resumed"] is True and metrics["epochs"] == 6


def test_deployment_stages_export_predict_and_write_the_model_card(tmp_path: Path) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    rasters = tmp_path / "rasters"
    rasters.mkdir()
    with rasterio.open(rasters / "scene.tif", "w", driver="GTiff", height=96, width=80, count=3, dtype="uint8",
                       crs="EPSG:32629", transform=from_origin(500_000, 5_900_000, 0.5, 0.5)) as dst:
        dst.write(np.random.default_rng(0).integers(0, 256, (3, 96, 80), dtype=np.uint8))
    pipe = write_pipeline(tmp_path)
    text = pipe.read_text().split("  - name: b\n")[0] + f"""  - name: export
    kind: export
    params: {{model: "{{stages.a.best_checkpoint}}", format: onnx}}
  - name: predict
    kind: predict
    params: {{model: "{{stages.export.path}}", input: {rasters}, overlap: 16}}
  - name: model_card
    kind: model_card
    params: {{after: ["{{stages.predict.out}}"]}}
"""
    pipe.write_text(text)
    res = run_pipeline(pipe, progress=False, log=lambda *_: None)
    assert res.ran == ["data", "a", "export", "predict", "model_card"]
    run = tmp_path / "run"
    predict_rec = json.loads((run / "predict/stage.json").read_text())
    assert predict_rec["metrics"]["summary"]["backend"] == "onnxruntime"
    with rasterio.open(run / "predict/maps/scene.tif") as m:
        assert m.crs.to_epsg() == 32629 and m.shape == (96, 80)
    assert (run / "predict/maps/areas.csv").is_file()
    card = (run / "model_card/MODEL_CARD.md").read_text()
    assert "## How to run inference" in card and "landseg predict" in card
    assert run_pipeline(pipe, progress=False, log=lambda *_: None).ran == []  # all unchanged
