"""The CLI: --help on every command, evaluate end to end, clear errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from landseg.cli.main import COMMANDS, main
from landseg.models import build_model


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: landseg " + command in capsys.readouterr().out


def test_help_is_instant_without_torch() -> None:
    code = "import sys; from landseg.cli.main import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from landseg.data.synth import generate_benchmark

    root = tmp_path_factory.mktemp("cli") / "data"
    generate_benchmark(root, tiles=6, size=64, seed=1, progress=False)
    return root


def _landseg_ckpt(tmp_path: Path) -> Path:
    from landseg.training.config import build_experiment
    from landseg.training.module import checkpoint_metadata

    exp = build_experiment({"model": {"name": "ftunetformer_tiny"}, "data": {"crop_size": 64}})
    net = build_model("ftunetformer_tiny", 6)
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
                "landseg": checkpoint_metadata(exp)}, path)
    return path


def test_evaluate_writes_metrics_table_and_plot(tmp_path: Path, bench: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval"
    code = main(["evaluate", "--checkpoint", str(_landseg_ckpt(tmp_path)), "--data", str(bench),
                 "--split", "Val", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tiles"] == len(list((bench / "Val/Rural/images_png").glob("*.png")))
    assert len(metrics["scores"]["IoU"]) == 6
    cm = np.array(metrics["confusion_matrix"], dtype=np.float64)  # the scores are this matrix's, exactly
    assert metrics["scores"]["OA"] == pytest.approx(np.trace(cm) / cm.sum())
    for c in range(6):
        union = cm[c].sum() + cm[:, c].sum() - cm[c, c]
        if union:
            assert metrics["scores"]["IoU"][c] == pytest.approx(cm[c, c] / union)
    assert "| Settlement |" in (out / "metrics.md").read_text()
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Mean (6 classes)" in capsys.readouterr().out


def test_evaluate_geoseg_checkpoint_needs_model(tmp_path: Path, bench: Path, reference_dir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = reference_dir / "geoseg_ftunetformer_small.ckpt"
    args = ["evaluate", "--checkpoint", str(ckpt), "--data", str(bench), "--split", "Val", "--out", str(tmp_path)]
    assert main(args) == 2
    assert "not a landseg checkpoint" in capsys.readouterr().err
    cfg = json.loads((reference_dir / "geoseg_ftunetformer_small_cfg.json").read_text())
    opts = [f"--model-opt={k}={v!r}" for k, v in cfg.items() if k != "num_classes"]
    assert main([*args, "--arch", "ftunetformer", *opts]) == 0
    assert (tmp_path / "metrics.json").is_file()


def test_evaluate_wrong_class_count_is_a_clear_error(tmp_path: Path, bench: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(build_model("ftunetformer_tiny", 9).state_dict(), tmp_path / "oem.pth")
    code = main(["evaluate", "--model", str(tmp_path / "oem.pth"), "--arch", "ftunetformer_tiny",
                 "--data", str(bench), "--out", str(tmp_path / "e")])
    assert code == 2
    assert "shape mismatches" in capsys.readouterr().err


def test_train_unknown_config_key_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.py"
    cfg.write_text("trainer = dict(epochs=3)\n")
    assert main(["train", "-c", str(cfg)]) == 2
    assert "Unknown key(s) in 'trainer': epochs" in capsys.readouterr().err


def test_train_print_config(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = Path(__file__).resolve().parents[2] / "config/demo/baseline.py"
    assert main(["train", "-c", str(cfg), "--print-config", "trainer.max_epochs=1"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["trainer"]["max_epochs"] == 1 and resolved["model"]["name"] == "ftunetformer_tiny"
