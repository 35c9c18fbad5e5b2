"""evaluate after correction: scores against original and corrected masks, with the fairness warning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from landseg.cli.main import main
from landseg.correction.replace import replace_masks
from landseg.evaluation.evaluator import CORRECTED_WARNING, evaluate
from landseg.models import build_model
from landseg.training.config import build_experiment
from landseg.training.module import checkpoint_metadata


@pytest.fixture(scope="module")
def corrected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from landseg.data.synth import generate_benchmark

    base = tmp_path_factory.mktemp("corr")
    data = base / "data"
    generate_benchmark(data, tiles=10, size=64, seed=2, progress=False)
    exp = build_experiment({"model": {"name": "ftunetformer_tiny"}, "data": {"crop_size": 64}})
    torch.manual_seed(0)
    ckpt = base / "m.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in build_model("ftunetformer_tiny", 6).state_dict().items()},
                "landseg": checkpoint_metadata(exp)}, ckpt)
    val = sorted((data / "Val/Rural/masks_png").glob("*.png"))[0]
    pred = base / "pred.png"
    Image.fromarray(np.full((64, 64), 3, np.uint8), mode="L").save(pred)
    decisions = base / "decisions.csv"
    decisions.write_text(f"image,choice,reviewer,time,note,prediction\n{val.stem},A,ana,t,,{pred}\n")
    replace_masks(decisions, data, progress=False)
    return data, ckpt


def test_corrected_split_warns_and_compares_side_by_side(corrected: tuple[Path, Path], tmp_path: Path) -> None:
    data, ckpt = corrected
    backup = data.with_name("data_masks_original_backup")
    plain = evaluate(ckpt, data, "Val", tmp_path / "a", progress=False)
    assert plain.warnings and CORRECTED_WARNING in plain.warnings[0] and str(backup) in plain.warnings[0]
    both = evaluate(ckpt, data, "Val", tmp_path / "b", original_masks=backup, progress=False)
    assert both.original_scores is not None
    assert both.original_scores["OA"] != both.scores["OA"]
    text = both.table_md.read_text()
    assert "## Against the original masks" in text and "| corrected |" in text and "Warning" in text
    saved = json.loads(both.metrics_json.read_text())
    assert saved["original_scores"]["mIoU"] == pytest.approx(both.original_scores["mIoU"])


def test_untouched_test_split_has_no_warning(corrected: tuple[Path, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    data, ckpt = corrected
    assert main(["evaluate", "--checkpoint", str(ckpt), "--data", str(data), "--split", "Test",
                 "--out", str(tmp_path)]) == 0
    assert "WARNING" not in capsys.readouterr().err
    assert json.loads((tmp_path / "metrics.json").read_text())["warnings"] == []
