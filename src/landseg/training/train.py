"""``train(experiment)``: one supervised (or distillation) training stage with Lightning."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from landseg.errors import ConfigError
from landseg.training.config import Experiment
from landseg.utils import write_json


@dataclass
class TrainResult:
    run_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_score: float | None
    monitor: str
    epochs: int
    seconds: float
    #: The resolved precision with its reason (landseg.precision.Precision.to_dict()).
    precision: dict[str, str] | None = None
    threads: int | None = None
    workers: int | None = None


def _resolve_accelerator(name: str) -> str:
    if name == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return name


def _device(exp: Experiment) -> str:
    """The device kind the precision policy judges: this stage's accelerator."""
    return "cuda" if _resolve_accelerator(exp.trainer.accelerator) == "gpu" else "cpu"


def build_trainer(exp: Experiment, callbacks: list | None = None, precision: Any = None) -> Any:
    """A Lightning Trainer configured from ``exp.trainer`` (checkpoints, loggers, precision, DDP)."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    from landseg.precision import choose_precision

    t = exp.trainer
    run_dir = exp.run_dir
    accelerator = _resolve_accelerator(t.accelerator)
    ckpt = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor=t.monitor, mode=t.monitor_mode,
                           save_top_k=1, save_last=True, auto_insert_metric_name=False)
    cbs = [ckpt, LearningRateMonitor(logging_interval="epoch"), *(callbacks or [])]
    if t.progress_bar:
        cbs.append(TQDMProgressBar(refresh_rate=1))
    loggers = [TensorBoardLogger(str(run_dir), name="tensorboard", version=""),
               CSVLogger(str(run_dir), name="csv", version="")]
    # CPU kernels are deterministic; on GPUs some (bilinear upsampling backward) are not, so warn there.
    deterministic: bool | str = t.deterministic if accelerator == "cpu" or not t.deterministic else "warn"
    return pl.Trainer(
        default_root_dir=str(run_dir), max_epochs=t.max_epochs, accelerator=accelerator, devices=t.devices,
        strategy=t.strategy, precision=(precision or choose_precision(t.precision, _device(exp))).lightning, deterministic=deterministic, callbacks=cbs, logger=loggers,
        check_val_every_n_epoch=t.check_val_every_n_epoch, limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches, accumulate_grad_batches=t.accumulate_grad_batches,
        gradient_clip_val=t.gradient_clip_val, enable_progress_bar=t.progress_bar, log_every_n_steps=1,
        use_distributed_sampler=False, enable_model_summary=False,
    )


def warn_if_leaking(exp: Experiment) -> None:
    """Warn when validation or test tiles overlap training tiles (held-out ground seen in training)."""
    from pytorch_lightning.utilities import rank_zero_warn

    from landseg.splitting.leakage import check_leakage

    d = exp.data
    if d.val_root and Path(d.val_root).resolve() != Path(d.root).resolve():
        return  # splits in different roots (e.g. a combined training set): run `landseg check-leakage` by hand
    splits = [s for s in (d.train_split, d.val_split, d.test_split) if s]
    report = check_leakage(d.root, splits, skip_missing=True)
    if report.leaking:
        rank_zero_warn(f"Data leakage between {', '.join(splits)} in {d.root}: validation/test scores will be "
                       f"optimistic.\n{report.report(max_pairs=5)}\nUse `landseg split --by space` to re-split.")


def make_task(exp: Experiment) -> Any:
    """The LightningModule for an experiment (distillation configs get the KD task)."""
    if exp.teacher is not None:
        from landseg.training.distill import DistillationTask

        return DistillationTask(exp)
    from landseg.training.module import SegmentationTask

    return SegmentationTask(exp)


def train(exp: Experiment, resume: bool = False) -> TrainResult:
    """Train one stage; ``resume`` continues from ``<run_dir>/checkpoints/last.ckpt``."""
    import pytorch_lightning as pl

    from landseg.training.datamodule import SegmentationDataModule

    t = exp.trainer
    run_dir = exp.run_dir
    last = run_dir / "checkpoints" / "last.ckpt"
    if resume and not last.is_file():
        raise ConfigError(f"--resume: no {last} to continue from; start without --resume.")
    if not resume and last.is_file():
        raise ConfigError(f"{run_dir} already holds a run (found {last}). Use --resume to continue it, "
                          "or set output_dir/name to start a new one.")
    from landseg.precision import resolve_precision
    from landseg.utils import available_cores

    threads = t.num_threads or available_cores()
    torch.set_num_threads(threads)
    precision = resolve_precision(t.precision, _device(exp), f"training {exp.name}")
    pl.seed_everything(t.seed, workers=True, verbose=False)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", exp.to_dict())
    accelerator = _resolve_accelerator(t.accelerator)
    pin = exp.data.pin_memory if exp.data.pin_memory is not None else accelerator == "gpu"
    dm = SegmentationDataModule(exp.data, exp.class_table, seed=t.seed, pin_memory=pin, sampling=exp.sampling)
    if t.check_leakage:
        warn_if_leaking(exp)
    task = make_task(exp)
    task.precision_record = precision.to_dict()
    trainer = build_trainer(exp, precision=precision)
    start = time.time()
    trainer.fit(task, datamodule=dm, ckpt_path=str(last) if resume else None)
    ckpt_cb = trainer.checkpoint_callback
    best = Path(ckpt_cb.best_model_path) if ckpt_cb and ckpt_cb.best_model_path else last
    score = ckpt_cb.best_model_score if ckpt_cb else None
    return TrainResult(run_dir=run_dir, best_checkpoint=best, last_checkpoint=last,
                       best_score=float(score) if score is not None else None, monitor=t.monitor,
                       epochs=trainer.current_epoch, seconds=time.time() - start,
                       precision=task.precision_records(), threads=threads, workers=dm.workers)
