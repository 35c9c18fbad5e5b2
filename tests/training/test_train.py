"""Training end to end on a tiny generated benchmark: checkpoints, logs, determinism, resume, init_from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from landseg.errors import ConfigError
from landseg.inference import load_model
from landseg.models import read_checkpoint
from landseg.training.config import load_config
from landseg.training.train import train


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "val_history.jsonl").read_text().splitlines()]


def test_train_writes_checkpoints_logs_and_rebuildable_model(tmp_path: Path, tiny_data: Path, tiny_config) -> None:
    exp = load_config(tiny_config(tmp_path, tiny_data))
    result = train(exp)
    run = tmp_path / "run"
    assert result.best_checkpoint.is_file() and (run / "checkpoints/last.ckpt").is_file()
    history = _history(run)
    assert [h["epoch"] for h in history] == [0, 1]
    # best.ckpt is the epoch with the highest val_mIoU, and its score is that epoch's
    assert result.best_score == pytest.approx(max(h["mIoU"] for h in history), abs=1e-6)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next((run / "tensorboard").glob("events.out.tfevents.*"))))
    events.Reload()
    assert "val/image_truth_prediction" in events.Tags()["images"]
    assert {"train_loss", "val_mIoU", "val_IoU/Settlement"} <= set(events.Tags()["scalars"])
    metrics_csv = (run / "csv/metrics.csv").read_text()
    assert "val_mIoU" in metrics_csv and "train_ce" in metrics_csv and "val_IoU/Settlement" in metrics_csv
    # The checkpoint alone rebuilds the model: config, classes, normalisation, tile size, as plain data.
    meta = read_checkpoint(result.best_checkpoint)["landseg"]
    assert meta["model"]["name"] == "ftunetformer_tiny" and meta["tile_size"] == 64
    assert [c["name"] for c in meta["classes"]][4] == "Settlement"
    assert meta["precision"]["name"] == "32" and meta["precision"]["requested"] == "32"  # the config's 32-true
    assert result.precision == meta["precision"] and result.threads == 2
    loaded = load_model(result.best_checkpoint)
    assert loaded.source == "landseg" and loaded.classes.names == exp.class_table.names
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert loaded.model(x).shape == (1, 6, 64, 64)


def test_same_seed_gives_identical_runs(tmp_path: Path, tiny_data: Path, tiny_config) -> None:
    runs = []
    for name in ("a", "b"):
        exp = load_config(tiny_config(tmp_path, tiny_data, name), ["trainer.max_epochs=1"])
        train(exp)
        runs.append(_history(tmp_path / name))
    assert runs[0][0]["confmat"] == runs[1][0]["confmat"]
    sd_a = read_checkpoint(tmp_path / "a/checkpoints/last.ckpt")["state_dict"]
    sd_b = read_checkpoint(tmp_path / "b/checkpoints/last.ckpt")["state_dict"]
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)


def test_resume_continues_a_stopped_run(tmp_path: Path, tiny_data: Path, tiny_config) -> None:
    cfg = tiny_config(tmp_path, tiny_data, "r")
    with pytest.raises(ConfigError, match="no .*last.ckpt to continue from"):
        train(load_config(cfg), resume=True)
    train(load_config(cfg, ["trainer.max_epochs=1"]))
    with pytest.raises(ConfigError, match="already holds a run.*--resume"):
        train(load_config(cfg))
    result = train(load_config(cfg, ["trainer.max_epochs=2"]), resume=True)
    assert [h["epoch"] for h in _history(tmp_path / "r")] == [0, 1]
    assert read_checkpoint(result.last_checkpoint)["epoch"] == 1


def test_init_from_starts_from_another_stage(tmp_path: Path, tiny_data: Path, tiny_config) -> None:
    first = train(load_config(tiny_config(tmp_path, tiny_data, "s1"), ["trainer.max_epochs=1"]))
    from landseg.training.module import SegmentationTask

    exp2 = load_config(tiny_config(tmp_path, tiny_data, "s2", f"init_from = {str(first.best_checkpoint)!r}"))
    task = SegmentationTask(exp2)
    src = read_checkpoint(first.best_checkpoint)["state_dict"]
    assert all(torch.equal(v, src[f"net.{k}"]) for k, v in task.net.state_dict().items())


def test_optimizer_groups_skip_decay_on_norms_and_biases(tmp_path: Path, tiny_data: Path, tiny_config) -> None:
    from landseg.training.module import SegmentationTask

    exp = load_config(tiny_config(tmp_path, tiny_data, extra="optim = dict(lr=1e-3, backbone_lr=1e-4)"))
    opt = SegmentationTask(exp).configure_optimizers()["optimizer"]
    groups = {g["name"]: g for g in opt.param_groups}
    # (the demo config warms up, so the scheduler keeps the configured rate in initial_lr)
    assert groups["backbone"]["initial_lr"] == 1e-4 and groups["head"]["initial_lr"] == 1e-3
    assert groups["backbone_no_decay"]["weight_decay"] == 0.0 and groups["head"]["weight_decay"] == 0.01


def test_train_warns_about_leaking_splits(tmp_path: Path, tiny_data: Path, tiny_config) -> None:
    import shutil

    from landseg.training.train import warn_if_leaking

    data = tmp_path / "leaky"
    shutil.copytree(tiny_data, data)
    train_img = sorted((data / "Train/Rural/images_png").glob("*.png"))[0]
    shutil.copy(train_img, data / "Val/Rural/images_png" / "copy_of_train.png")  # a Train tile in Val
    shutil.copy(data / "Train/Rural/masks_png" / train_img.name, data / "Val/Rural/masks_png" / "copy_of_train.png")
    exp = load_config(tiny_config(tmp_path, data, "leak"))
    with pytest.warns(UserWarning, match="Data leakage between Train/Rural, Val/Rural"):
        warn_if_leaking(exp)
    clean = load_config(tiny_config(tmp_path, tiny_data, "clean"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_leaking(clean)


def test_default_precision_threads_and_workers_come_from_the_hardware(tmp_path: Path, tiny_data: Path,
                                                                      tiny_config, capfd) -> None:
    from landseg.precision import choose_precision
    from landseg.utils import available_cores, default_workers

    cfg = tiny_config(tmp_path, tiny_data)
    text = cfg.read_text().replace('precision="32-true", ', "").replace(", num_threads=2", "")
    cfg.write_text(text.replace(", num_workers=0", ""))
    exp = load_config(cfg, ["trainer.max_epochs=1"])
    assert (exp.trainer.precision, exp.trainer.num_threads, exp.data.num_workers) == ("auto", None, None)
    result = train(exp)
    expected = choose_precision("auto", "cpu")
    assert result.precision == expected.to_dict()
    assert read_checkpoint(result.best_checkpoint)["landseg"]["precision"] == expected.to_dict()
    assert result.threads == available_cores() and torch.get_num_threads() == available_cores()
    assert result.workers == default_workers() == min(8, available_cores() // 2)
    assert f"runs in {expected}" in capfd.readouterr().err  # printed at start, with the reason


def test_unknown_precision_is_a_config_error(tmp_path: Path, tiny_data: Path, tiny_config) -> None:
    with pytest.raises(ConfigError, match="trainer.precision: Unknown precision 'bf17'"):
        load_config(tiny_config(tmp_path, tiny_data), ["trainer.precision='bf17'"])
    with pytest.raises(ConfigError, match="trainer.num_threads must be >= 1"):
        load_config(tiny_config(tmp_path, tiny_data), ["trainer.num_threads=0"])
