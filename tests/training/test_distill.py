"""Distillation end to end: a tiny student learns from a larger frozen teacher; sampling by weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from landseg.errors import CheckpointError, ConfigError
from landseg.models import build_model, read_checkpoint
from landseg.training.config import build_experiment, load_config
from landseg.training.datamodule import SegmentationDataModule
from landseg.training.module import checkpoint_metadata
from landseg.training.train import build_trainer, make_task, train


def _teacher_ckpt(tmp_path: Path, name: str = "ftunetformer_small", classes: int = 6) -> Path:
    exp = build_experiment({"model": {"name": name}, "data": {"crop_size": 64},
                            "classes": [{"name": f"c{i}", "color": [i, i, i]} for i in range(classes)]})
    torch.manual_seed(1)
    net = build_model(name, classes)
    path = tmp_path / f"teacher_{name}_{classes}.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
                "landseg": checkpoint_metadata(exp)}, path)
    return path


def _kd_extra(teacher: Path, loss: str = "kl", extra: str = "") -> str:
    return (f"teacher = dict(checkpoint={str(teacher)!r}, precision='bf16')\n"
            f"distill = dict(loss={loss!r}, temperature=2.0, alpha=0.5)\n{extra}")


def test_kd_trains_teacher_frozen_and_not_in_student_checkpoint(tmp_path: Path, tiny_data: Path, tiny_config) -> None:
    teacher_path = _teacher_ckpt(tmp_path)
    exp = load_config(tiny_config(tmp_path, tiny_data, "kd", _kd_extra(teacher_path)), ["trainer.max_epochs=1"])
    task = make_task(exp)
    assert type(task).__name__ == "DistillationTask"
    before = {k: v.clone() for k, v in task.teacher.state_dict().items()}
    assert all(not p.requires_grad for p in task.teacher.parameters())
    trainer = build_trainer(exp)
    dm = SegmentationDataModule(exp.data, exp.class_table, seed=1)
    trainer.fit(task, datamodule=dm)
    after = task.teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # incl. BatchNorm running stats
    assert not task.teacher.training
    opt_params = {id(p) for g in trainer.optimizers[0].param_groups for p in g["params"]}
    assert not opt_params & {id(p) for p in task.teacher.parameters()}
    ckpt = read_checkpoint(tmp_path / "kd/checkpoints/last.ckpt")
    assert ckpt["state_dict"] and all(k.startswith("net.") for k in ckpt["state_dict"])
    n_student = len(build_model("ftunetformer_tiny", 6).state_dict())
    assert len(ckpt["state_dict"]) == n_student
    csv = (tmp_path / "kd/csv/metrics.csv").read_text()
    assert all(col in csv for col in ("train_kd", "train_task", "train_ce", "train_dice"))
    # the teacher's precision is recorded beside the student's (bf16 asked: honoured on any CPU)
    assert task.teacher_precision.name == "bf16" and task.teacher_precision.requested == "bf16"


@pytest.mark.parametrize("loss", ["dist", "cwd"])
def test_other_kd_losses_train(tmp_path: Path, tiny_data: Path, tiny_config, loss: str) -> None:
    teacher = _teacher_ckpt(tmp_path, "ftunetformer_tiny")
    result = train(load_config(tiny_config(tmp_path, tiny_data, loss, _kd_extra(teacher, loss)),
                               ["trainer.max_epochs=1", "trainer.limit_train_batches=1"]))
    import csv

    rows = [r for r in csv.DictReader(open(result.run_dir / "csv/metrics.csv")) if r.get("train_kd")]
    kd, task, total = (float(rows[-1][k]) for k in ("train_kd", "train_task", "train_loss"))
    assert kd > 0 and total == pytest.approx(0.5 * task + 0.5 * kd, rel=1e-4)  # alpha 0.5 mixes the two terms
    assert read_checkpoint(result.last_checkpoint)["landseg"]["config"]["distill"]["loss"] == loss


def test_teacher_with_other_classes_needs_a_class_map(tmp_path: Path, tiny_data: Path, tiny_config) -> None:
    teacher = _teacher_ckpt(tmp_path, "ftunetformer_tiny", classes=9)
    with pytest.raises(ConfigError, match="9 classes but the student 6.*class_map"):
        make_task(load_config(tiny_config(tmp_path, tiny_data, "cm", _kd_extra(teacher))))
    oem = [[0] * 6 for _ in range(9)]
    for t, s in enumerate([0, 0, 2, 4, 4, 1, 0, 3, 4]):
        oem[t][s] = 1
    extra = f"teacher = dict(checkpoint={str(teacher)!r}, class_map={oem!r})\ndistill = dict(loss='kl')\n"
    task = make_task(load_config(tiny_config(tmp_path, tiny_data, "cm2", extra)))
    assert task.kd_loss.class_map.shape == (9, 6)


def test_teacher_is_loaded_strictly(tmp_path: Path, tiny_data: Path, tiny_config) -> None:
    bad = tmp_path / "partial.ckpt"
    sd = build_model("ftunetformer_tiny", 6).state_dict()
    sd.pop("decoder.segmentation_head.2.0.weight")
    torch.save(sd, bad)
    extra = f"teacher = dict(checkpoint={str(bad)!r}, model='ftunetformer_tiny')\ndistill = dict(loss='kl')\n"
    with pytest.raises(CheckpointError, match="keys missing from the checkpoint"):
        make_task(load_config(tiny_config(tmp_path, tiny_data, "strict", extra)))


def test_training_with_hard_sample_weights(tmp_path: Path, tiny_data: Path, tiny_config,
                                           caplog: pytest.LogCaptureFixture) -> None:
    from landseg.data import find_pairs

    names = [img.stem for img, _ in find_pairs(tiny_data, "Train/Rural")]
    weights = tmp_path / "sample_weights.tsv"
    weights.write_text("name\tweight\n" + "".join(f"{n}\t{w}\n" for n, w in zip(names, [6.0, 1.0, 4.5] * 10, strict=False)))
    extra = f"sampling = dict(weights={str(weights)!r}, mode='repeat', epoch_size='sum_of_weights')\n"
    exp = load_config(tiny_config(tmp_path, tiny_data, "hs", extra), ["trainer.max_epochs=1"])
    dm = SegmentationDataModule(exp.data, exp.class_table, seed=0, sampling=exp.sampling)
    dm.setup()
    total = round(sum(dm.sample_weights or []))
    assert len(dm.train_dataloader().sampler) == total > len(names)
    with caplog.at_level("INFO"):
        train(exp)
    assert f"{len(names):,} unique tiles → {total:,} samples per epoch" in caplog.text
