"""Knowledge-distillation losses for dense prediction, all ignore-aware.

* ``kl``  — T² · KL(softmax(t/T) ‖ softmax(s/T)), summed over classes and averaged over the
  non-ignored pixels (the seed scripts averaged over every pixel and dropped T², which shrinks the
  gradient by T² and lets ignored pixels dilute it).
* ``dist`` — DIST (Huang et al., NeurIPS 2022): 1 − Pearson correlation between student and teacher
  probabilities, across classes for each pixel (inter-class) plus across pixels for each class
  (intra-class). It matches relations rather than exact values, which tolerates a teacher much
  stronger or differently calibrated than the student.
* ``cwd`` — channel-wise distillation (Shu et al., ICCV 2021): each class channel becomes a spatial
  distribution softmax(logits/T) over the (non-ignored) pixels; T² · KL per channel, averaged.

When teacher and student classes differ, a ``class_map`` matrix (teacher × student, rows sum to 1)
maps the teacher's class probabilities into the student's classes first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KD_LOSSES = ("kl", "dist", "cwd")


def validate_class_map(matrix: Sequence[Sequence[float]] | Tensor, teacher_classes: int, student_classes: int) -> Tensor:
    """A (teacher × student) float matrix whose rows are probability distributions."""
    m = torch.as_tensor(matrix, dtype=torch.float32)
    if m.shape != (teacher_classes, student_classes):
        raise ValueError(f"class_map has shape {tuple(m.shape)}; expected (teacher classes, student classes) = "
                         f"({teacher_classes}, {student_classes}).")
    if (m < 0).any():
        raise ValueError("class_map entries must be >= 0.")
    bad = [i for i, s in enumerate(m.sum(1).tolist()) if abs(s - 1.0) > 1e-4]
    if bad:
        raise ValueError(f"class_map rows must sum to 1; rows {bad} do not (sums {[round(v, 4) for v in m.sum(1)[bad].tolist()]}).")
    return m


def teacher_log_probs(teacher_logits: Tensor, temperature: float, class_map: Tensor | None) -> Tensor:
    """log softmax(t/T), mapped into the student's classes when a class map is given."""
    if class_map is None:
        return F.log_softmax(teacher_logits.float() / temperature, dim=1)
    probs = F.softmax(teacher_logits.float() / temperature, dim=1)
    mapped = torch.einsum("nthw,ts->nshw", probs, class_map.to(probs))
    return torch.log(mapped.clamp_min(1e-12))


def _valid(target: Tensor | None, ignore_index: int, like: Tensor) -> Tensor:
    if target is None:
        return torch.ones(like.shape[0], *like.shape[2:], dtype=torch.bool, device=like.device)
    return target != ignore_index


def kl_loss(student: Tensor, teacher_logp: Tensor, valid: Tensor, temperature: float) -> Tensor:
    s_logp = F.log_softmax(student.float() / temperature, dim=1)
    per_pixel = (teacher_logp.exp() * (teacher_logp - s_logp)).sum(1)  # N, H, W
    n = valid.sum().clamp_min(1)
    return (per_pixel * valid).sum() / n * temperature**2


def _pearson(a: Tensor, b: Tensor, dim: int, eps: float = 1e-8) -> Tensor:
    a = a - a.mean(dim, keepdim=True)
    b = b - b.mean(dim, keepdim=True)
    return (a * b).sum(dim) / (a.norm(dim=dim) * b.norm(dim=dim) + eps)


def dist_loss(student: Tensor, teacher_logp: Tensor, valid: Tensor, temperature: float,
              beta: float = 1.0, gamma: float = 1.0) -> Tensor:
    c = student.shape[1]
    s = F.softmax(student.float() / temperature, dim=1).permute(0, 2, 3, 1).reshape(-1, c)
    t = teacher_logp.exp().permute(0, 2, 3, 1).reshape(-1, c)
    keep = valid.reshape(-1)
    s, t = s[keep], t[keep]
    if s.shape[0] < 2:
        return student.sum() * 0.0
    inter = 1.0 - _pearson(s, t, dim=1).mean()
    intra = 1.0 - _pearson(s, t, dim=0).mean()
    return (beta * inter + gamma * intra) * temperature**2


def cwd_loss(student: Tensor, teacher_logits: Tensor, valid: Tensor, temperature: float) -> Tensor:
    """Per-channel spatial distributions softmax(logits/T) over valid pixels; T² · mean KL per channel."""
    n, c = student.shape[:2]
    mask = valid.reshape(n, 1, -1)
    s = (student.float() / temperature).reshape(n, c, -1).masked_fill(~mask, float("-inf"))
    t = (teacher_logits.float() / temperature).reshape(n, c, -1).masked_fill(~mask, float("-inf"))
    s_logp, t_logp = F.log_softmax(s, dim=-1), F.log_softmax(t, dim=-1)
    terms = torch.where(mask, t_logp.exp() * (t_logp - s_logp), torch.zeros((), device=s.device))
    per_channel = terms.sum(-1)  # n, c
    images = mask.any(-1).squeeze(1)  # images with at least one valid pixel
    if not images.any():
        return student.sum() * 0.0
    return per_channel[images].mean() * temperature**2


class DistillationLoss(nn.Module):
    """One of ``kl``, ``dist``, ``cwd`` between student logits and (resized, mapped) teacher logits."""

    def __init__(self, loss: str = "kl", temperature: float = 1.0, ignore_index: int = 255,
                 class_map: Tensor | None = None) -> None:
        super().__init__()
        if loss not in KD_LOSSES:
            raise ValueError(f"distill.loss {loss!r} is not valid; choose one of {', '.join(KD_LOSSES)}.")
        if temperature <= 0:
            raise ValueError(f"distill.temperature must be > 0, got {temperature}.")
        self.loss, self.temperature, self.ignore_index = loss, float(temperature), ignore_index
        self.register_buffer("class_map", class_map, persistent=False)

    def forward(self, student: Tensor, teacher: Tensor, target: Tensor | None = None) -> Tensor:
        if teacher.shape[-2:] != student.shape[-2:]:
            teacher = F.interpolate(teacher.float(), size=student.shape[-2:], mode="bilinear", align_corners=False)
        t = self.temperature
        valid = _valid(target, self.ignore_index, student)
        if self.loss == "cwd":
            # CWD needs per-channel logits; with a class map the mapped log-probabilities stand in.
            logits = teacher if self.class_map is None else teacher_log_probs(teacher, 1.0, self.class_map)
            return cwd_loss(student, logits, valid, t)
        teacher_logp = teacher_log_probs(teacher, t, self.class_map)
        if self.loss == "kl":
            return kl_loss(student, teacher_logp, valid, t)
        return dist_loss(student, teacher_logp, valid, t)
