"""Prediction jobs spread over processes or GPUs with Lightning's distributed predict (DDP).

Each process opens its own copy of the model and runs the jobs Lightning's unrepeated
distributed sampler gives it (job ``i`` goes to rank ``i mod N``; no job runs twice). Every job
writes its own files (pictures' masks, or a raster band's part file) and a result JSON, so the
processes never write the same file; after a barrier, rank 0 reads the results and assembles the
maps (:func:`landseg.predict._finish`). On CPU the processes share the cores (gloo backend);
with ``device="cuda"`` there is one process per GPU (NCCL) and the same command runs on a
multi-node cluster through Lightning's usual environment variables.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from landseg.inference.jobs import WORK_DIR, Job, PredictSettings, build_tiler, open_model, run_job
from landseg.utils import available_cores

__all__ = ["PredictJobs", "predict_distributed"]


class _JobIndices(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> int:
        return index


class PredictJobs(pl.LightningModule):
    """A LightningModule whose predict step runs one prediction job (it has no weights to sync)."""

    def __init__(self, jobs: list[Job], settings: PredictSettings) -> None:
        super().__init__()
        self.jobs = jobs
        self.settings = settings
        self._predictor: Any = None
        self._tiler: Any = None
        self._bar: Any = None

    def on_predict_start(self) -> None:
        world = self.trainer.world_size
        threads = self.settings.threads or max(1, available_cores() // world) if self.device.type == "cpu" else None
        device = "cpu" if self.device.type == "cpu" else str(self.device)
        self._predictor = open_model(replace(self.settings, threads=threads, device=device))
        self._tiler = build_tiler(self._predictor, self.settings)
        if self.trainer.global_rank == 0 and self.settings.progress:
            from tqdm import tqdm

            mine = self.jobs[self.trainer.global_rank :: world]
            self._bar = tqdm(total=sum(j.windows for j in mine), desc=f"predict (rank 0 of {world})", unit="window")

    def predict_step(self, batch: list[int], batch_idx: int) -> None:
        for index in batch:
            run_job(self.jobs[int(index)], self._predictor, self._tiler, self.settings,
                    self._bar.update if self._bar is not None else None)

    def on_predict_end(self) -> None:
        if self._bar is not None:
            self._bar.close()


def predict_distributed(jobs: list[Job], settings: PredictSettings, devices: int) -> list[dict[str, Any]] | None:
    """Run ``jobs`` on ``devices`` processes; rank 0 gets every job's result, other ranks None."""
    gpu = settings.device.startswith("cuda")
    trainer = pl.Trainer(accelerator="gpu" if gpu else "cpu", devices=devices, strategy="ddp",
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, inference_mode=True)
    loader = DataLoader(_JobIndices(len(jobs)), batch_size=1, shuffle=False, collate_fn=list)
    trainer.predict(PredictJobs(jobs, settings), dataloaders=loader, return_predictions=False)
    trainer.strategy.barrier("landseg-predict")
    if trainer.global_rank != 0:
        return None
    work = Path(settings.out) / WORK_DIR
    return [json.loads((work / f"{job.id}.json").read_text()) for job in jobs]

