"""`landseg model-card`: a MODEL_CARD.md built from hand-written stage records only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from landseg.cli.main import main
from landseg.report.model_card import write_model_card

CLASSES = ["Background", "Forest Land", "Grassland", "Cropland", "Settlement", "SemiNatural Grassland"]


def _record(stage: str, kind: str, metrics: dict[str, Any], params: dict[str, Any] | None = None,
            upstream: dict[str, str] | None = None, outputs: dict[str, Any] | None = None,
            started: str = "2026-01-01T10:00:00Z", status: str = "complete") -> dict[str, Any]:
    return {"stage": stage, "kind": kind, "key": f"key{stage}", "params": params or {}, "upstream": upstream or {},
            "landseg_version": "0.1.0", "git_commit": "c0ffee15" + "0" * 32, "started": started, "status": status,
            "outputs": outputs or {}, "metrics": metrics, "ended": started.replace("10:", "11:"), "duration_s": 12.5}


def _scores(iou: list[float], miou: float) -> dict[str, Any]:
    return {"class_names": CLASSES, "OA": 0.9, "IoU": iou, "F1": [round(2 * v / (1 + v), 4) for v in iou],
            "mIoU": miou, "labels": {"mIoU": "mIoU (6 classes)"}}


def _write_run(run: Path, baseline_settlement_iou: float = 0.4512) -> Path:
    records = [
        _record("data", "synth", {"counts": {"Train": 96, "Val": 32, "Test": 32}, "noisy_masks": 39,
                                  "class_fractions": dict(zip(CLASSES, [0.2, 0.2, 0.2, 0.2, 0.03, 0.17], strict=True))},
                params={"out": "data", "tiles": 160, "size": 256, "seed": 0, "label_noise": 0.3},
                started="2026-01-01T10:00:00Z"),
        _record("replace_masks", "replace_masks", {"replaced": {"A": 5, "B": 1}, "kept_gt": 26},
                upstream={"data": "keydata"}, started="2026-01-01T10:01:00Z"),
        _record("combine", "combine", {"added": {"bio": 96, "oem": 90}, "total": 186},
                params={"sources": {"bio": "data/Train/Rural", "oem": "oem_bio"}}, upstream={"data": "keydata"},
                started="2026-01-01T10:02:00Z"),
        _record("filter", "filter", {"tiles": 186, "removed": 15, "remaining": 171, "mean": 0.13, "median": 0.04},
                params={"class_name": "Settlement", "max_fraction": 0.5}, upstream={"combine": "keycombine"},
                started="2026-01-01T10:03:00Z"),
        _record("baseline", "train", {"best_score": 0.81, "monitor": "val_mIoU", "epochs": 10, "seconds": 60.0},
                params={"config": "config/demo/baseline.py"}, upstream={"data": "keydata"},
                outputs={"best_checkpoint": "runs/x/baseline/run/checkpoints/best.ckpt"},
                started="2026-01-01T10:04:00Z"),
        _record("finetune", "train", {"best_score": 0.88, "monitor": "val_mIoU", "epochs": 6, "seconds": 30.0},
                params={"config": "config/demo/step2_finetune.py"}, upstream={"baseline": "keybaseline",
                                                                             "filter": "keyfilter"},
                outputs={"best_checkpoint": "runs/x/finetune/run/checkpoints/best.ckpt"},
                started="2026-01-01T10:05:00Z"),
        _record("evaluate", "evaluate", {"results": {
            "baseline": {"Val": {"scores": _scores([0.8, 0.9, 0.9, 0.7, baseline_settlement_iou, 0.6], 0.75)},
                         "Test": {"scores": _scores([0.8, 0.9, 0.9, 0.7, 0.5, 0.6], 0.73)}},
            "finetune": {"Val": {"scores": _scores([0.85, 0.93, 0.95, 0.75, 0.81, 0.55], 0.8067),
                                 "original_scores": _scores([0.8] * 6, 0.7123)},
                         "Test": {"scores": _scores([0.84, 0.92, 0.94, 0.74, 0.8, 0.52], 0.7933)}}}},
                upstream={"finetune": "keyfinetune"}, started="2026-01-01T10:06:00Z"),
    ]
    for rec in records:
        (run / rec["stage"]).mkdir(parents=True, exist_ok=True)
        (run / rec["stage"] / "stage.json").write_text(json.dumps(rec))
    return run


def test_card_has_every_section_from_the_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _write_run(tmp_path / "run")
    assert main(["model-card", str(run)]) == 0
    assert "model: finetune" in capsys.readouterr().out  # the most downstream finished model
    card = (run / "MODEL_CARD.md").read_text()
    for heading in ("## Model", "## Intended use", "## Out-of-scope use", "## Classes", "## Training data",
                    "## Stages and provenance", "## Evaluation", "## Known limitations", "## Data licences",
                    "## How to run inference"):
        assert heading in card, heading
    assert '<span style="background:#dc143c">' in card and "`#dc143c`" in card  # Settlement's colour
    assert "| Settlement | 0.810 |" in card and "| SemiNatural Grassland | 0.520 |" in card  # Val / Test IoU
    assert "mIoU against the original (uncorrected) masks: 0.712" in card
    assert "landseg predict --model " in card and "--input ortho.tif" in card
    assert "Train 96, Val 32, Test 32 tiles of 256² px" in card and "39 masks" in card
    assert "6 masks replaced" in card and "15 of 186 removed" in card and "186 tiles (bio 96, oem 90)" in card
    assert "| finetune | train | complete | — | `keyfinetune` | `c0ffee150000` | 12.5 s |" in card  # no precision recorded
    assert "Settlement (3.0%)" in card  # hardly covered by the training data
    assert "SemiNatural Grassland (0.550)" in card  # weak on Val
    assert "generated by landseg" in card and "CC BY-NC-SA" not in card  # synthetic only
    assert "landseg export --model runs/x/finetune/run/checkpoints/best.ckpt --format onnx" in card
    assert "custom_metadata_map" in card
    assert "hard-samples: not recorded" in card


def test_a_changed_number_changes_the_card(tmp_path: Path) -> None:
    a = write_model_card(_write_run(tmp_path / "a"), model="baseline").path.read_text()
    b = write_model_card(_write_run(tmp_path / "b", baseline_settlement_iou=0.6789), model="baseline").path.read_text()
    assert "| Settlement | 0.451 |" in a and "| Settlement | 0.679 |" in b
    assert a.replace("(a)", "(b)") != b
    assert "Weak classes on Val (IoU < 0.6): Settlement (0.451)" in a and "Settlement (0.451)" not in b


def test_missing_stages_read_not_recorded(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "data" / "stage.json").write_text(json.dumps(_record("data", "synth", {"counts": {"Train": 4}})))
    card = write_model_card(run, tmp_path / "card.md").path.read_text()
    assert "Model: not recorded" in card and "Per-class metrics: not recorded" in card
    assert "- filter: not recorded." in card


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model-card", str(tmp_path / "nope")]) == 2
    assert "Run folder" in capsys.readouterr().err
    run = _write_run(tmp_path / "run")
    assert main(["model-card", str(run), "--stage", "evaluate"]) == 2
    assert "--stage 'evaluate' is not a train stage of this run. Train stages: baseline, finetune." in capsys.readouterr().err
