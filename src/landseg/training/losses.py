"""Training loss: label-smoothed cross-entropy plus multiclass soft Dice (GeoSeg's recipe).

GeoSeg trains UNetFormer & co. with ``JointLoss(SoftCrossEntropyLoss(smooth_factor=0.05),
DiceLoss(smooth=0.05), 1.0, 1.0)``; this module reproduces that objective with one deliberate fix
in how ignored pixels are averaged (see :class:`CEDiceLoss`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landseg.classes import DEFAULT_IGNORE_INDEX

__all__ = ["CEDiceLoss"]


class CEDiceLoss(nn.Module):
    """``ce_weight · CE + dice_weight · Dice`` over non-ignored pixels.

    **Cross-entropy** equals ``F.cross_entropy(logits, target, ignore_index=...,
    label_smoothing=..., reduction="mean")``: both the NLL and the smoothing term are averaged
    over the *non-ignored* pixels only. GeoSeg's ``SoftCrossEntropyLoss`` divides the smoothing
    term by *all* pixels, ignored ones included, so its effective smoothing shrinks on tiles with
    many ignored pixels — a known flaw that landseg does not reproduce. (Implemented as a sum
    divided by ``max(#valid, 1)``, which is identical when any pixel is valid and gives 0 instead
    of NaN when none is, without a host–device sync.)

    **Dice** follows segmentation_models_pytorch's ``DiceLoss(mode="multiclass")``: softmax
    probabilities vs one-hot targets with ignored pixels zeroed in both; per class, summed over
    batch and pixels, ``dice = (2·∩ + smooth) / (|p| + |y| + smooth)`` and ``loss = 1 − dice``;
    classes absent from the batch's target get loss 0 (otherwise the smoothing term would reward
    predicting them nowhere and punish every false positive disproportionately); the result is the
    mean over *all* C classes (absent ones included as 0), exactly as smp does.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        label_smoothing: float = 0.05,
        dice_smooth: float = 0.05,
        ce_weight: float = 1.0,
        dice_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.dice_smooth = dice_smooth
        self.ce_weight = ce_weight
        self.dice_weight = dice_weight
        self.eps = 1e-7

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"label_smoothing={self.label_smoothing}, dice_smooth={self.dice_smooth}, "
            f"ce_weight={self.ce_weight}, dice_weight={self.dice_weight}"
        )

    def _check(self, logits: Tensor, target: Tensor) -> Tensor:
        if target.ndim == 4 and target.shape[1] == 1:
            target = target[:, 0]
        if logits.ndim != 4 or logits.shape[1] != self.num_classes:
            raise ValueError(
                f"Expected logits of shape (N, {self.num_classes}, H, W), got {tuple(logits.shape)}."
            )
        if target.shape != (logits.shape[0], *logits.shape[2:]):
            raise ValueError(
                f"Target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)}; "
                "expected (N, H, W) with the same N, H, W."
            )
        return target.long()

    def cross_entropy(self, logits: Tensor, target: Tensor, valid: Tensor) -> Tensor:
        """Label-smoothed CE averaged over valid pixels (0 if there are none)."""
        total = F.cross_entropy(
            logits.float(),
            target,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            reduction="sum",
        )
        return total / valid.sum().clamp_min(1)

    def dice(self, logits: Tensor, target: Tensor, valid: Tensor) -> Tensor:
        """smp-style multiclass soft Dice loss (see the class docstring)."""
        c = logits.shape[1]
        # Boolean one-hot (N,C,H,W) instead of smp's int64 F.one_hot: 8× less memory on big tiles.
        classes = torch.arange(c, device=target.device).view(1, c, 1, 1)
        truth = (target.unsqueeze(1) == classes) & valid.unsqueeze(1)
        probs = logits.float().softmax(dim=1)
        dims = (0, 2, 3)
        intersection = torch.where(truth, probs, 0.0).sum(dims)
        truth_count = truth.sum(dims).to(probs.dtype)
        cardinality = torch.where(valid.unsqueeze(1), probs, 0.0).sum(dims) + truth_count
        score = (2.0 * intersection + self.dice_smooth) / (cardinality + self.dice_smooth).clamp_min(self.eps)
        loss = (1.0 - score) * (truth_count > 0).to(score.dtype)
        return loss.mean()

    def forward_parts(self, logits: Tensor, target: Tensor) -> dict[str, Tensor]:
        """The weighted total and its unweighted parts, for logging: ``{"ce", "dice", "loss"}``."""
        target = self._check(logits, target)
        valid = target != self.ignore_index
        ce = self.cross_entropy(logits, target, valid)
        dice = self.dice(logits, target, valid)
        return {"ce": ce, "dice": dice, "loss": self.ce_weight * ce + self.dice_weight * dice}

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Scalar loss for logits (N,C,H,W) and int targets (N,H,W)."""
        return self.forward_parts(logits, target)["loss"]
