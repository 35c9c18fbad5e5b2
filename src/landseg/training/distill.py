"""Distillation: a frozen teacher guides the student through a KD term added to CE + Dice."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from landseg.errors import ConfigError
from landseg.inference.forward import autocast_context
from landseg.inference.loading import load_model
from landseg.training.config import Experiment
from landseg.training.kd_losses import DistillationLoss, validate_class_map
from landseg.training.module import SegmentationTask


class DistillationTask(SegmentationTask):
    """Student training with a frozen teacher.

    The teacher is loaded strictly (a silently random teacher was a bug of the seed scripts), kept
    in eval mode with ``requires_grad=False``, and deliberately *not* registered as a sub-module:
    so it is in neither the optimizer nor the student's checkpoint, and ``.train()`` never touches it.
    """

    def __init__(self, exp: Experiment) -> None:
        super().__init__(exp)
        assert exp.teacher is not None and exp.distill is not None
        t, kd = exp.teacher, exp.distill
        loaded = load_model(t.checkpoint, model=t.model, options=t.options or None, num_classes=t.num_classes)
        teacher = loaded.model.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        self._teacher: tuple[nn.Module] = (teacher,)
        n_teacher, n_student = len(loaded.classes), len(self.classes)
        class_map = None
        if t.class_map is not None:
            try:
                class_map = validate_class_map(t.class_map, n_teacher, n_student)
            except ValueError as exc:
                raise ConfigError(f"teacher.class_map: {exc}") from None
        elif n_teacher != n_student:
            raise ConfigError(f"The teacher predicts {n_teacher} classes but the student {n_student}: "
                              "give teacher.class_map (teacher x student matrix, rows sum to 1).")
        self.kd_loss = DistillationLoss(kd.loss, kd.temperature, self.classes.ignore_index, class_map)
        self.teacher_precision: Any = None  # landseg.precision.Precision, chosen for the device at fit start

    def _teacher_precision_name(self) -> str:
        """The teacher's precision on the current device, chosen once (at fit start, or at first use)."""
        if self.teacher_precision is None:
            from landseg.precision import resolve_precision

            self.teacher_precision = resolve_precision(self.exp.teacher.precision, str(self.device),  # type: ignore[union-attr]
                                                       f"the teacher of {self.exp.name}")
        return self.teacher_precision.name

    @property
    def teacher(self) -> nn.Module:
        return self._teacher[0]

    def on_fit_start(self) -> None:
        self.teacher.to(self.device).eval()
        self.teacher_precision = None  # the device is known now: choose for it
        self._teacher_precision_name()

    def precision_records(self) -> dict[str, Any] | None:
        record = super().precision_records()
        if record is None or self.teacher_precision is None:
            return record
        return {**record, "teacher": self.teacher_precision.to_dict()}

    def compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        _, parts, logits = super().compute_loss(batch)
        with torch.no_grad(), autocast_context(self.device, self._teacher_precision_name()):
            teacher_logits = self.teacher(batch["image"]).float()
        kd = self.kd_loss(logits, teacher_logits, batch["mask"])
        cfg = self.exp.distill
        assert cfg is not None
        task = parts["loss"]
        if cfg.alpha is not None:
            total = (1.0 - cfg.alpha) * task + cfg.alpha * kd
        else:
            total = cfg.task_weight * task + cfg.kd_weight * kd
        parts = {**parts, "task": task, "kd": kd, "loss": total}
        return total, parts, logits
