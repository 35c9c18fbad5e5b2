"""The LightningModule for supervised segmentation (and the base the distillation task extends)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from landseg import __version__
from landseg.evaluation.metrics import ConfusionMatrix, segmentation_scores
from landseg.models import build_model, load_weights
from landseg.training.config import Experiment
from landseg.training.losses import CEDiceLoss
from landseg.utils import jsonable

_NO_DECAY_NAMES = ("relative_position_bias_table", "absolute_pos_embed")


def param_groups(net: nn.Module, lr: float, wd: float, backbone_lr: float, backbone_wd: float) -> list[dict]:
    """AdamW groups: backbone vs the rest, and no weight decay on biases, norms and position tables."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in net.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim <= 1 or name.endswith(".bias") or any(n in name for n in _NO_DECAY_NAMES)
        groups.setdefault((name.startswith("backbone."), no_decay), []).append(p)
    out = []
    for (is_backbone, no_decay), params in sorted(groups.items()):
        out.append({"params": params, "lr": backbone_lr if is_backbone else lr,
                    "weight_decay": 0.0 if no_decay else (backbone_wd if is_backbone else wd),
                    "name": f"{'backbone' if is_backbone else 'head'}{'_no_decay' if no_decay else ''}"})
    return out


class SegmentationTask(pl.LightningModule):
    """Trains ``self.net`` (the attribute name GeoSeg uses, so checkpoints stay interchangeable)."""

    def __init__(self, exp: Experiment) -> None:
        super().__init__()
        self.exp = exp
        self.classes = exp.class_table
        m = exp.model
        self.net = build_model(m.name, len(self.classes), pretrained=m.pretrained, **m.options)
        if exp.init_from:
            load_weights(self.net, exp.init_from, strict=True)
        lc = exp.loss
        self.criterion = CEDiceLoss(len(self.classes), ignore_index=self.classes.ignore_index,
                                    label_smoothing=lc.label_smoothing, dice_smooth=lc.dice_smooth,
                                    ce_weight=lc.ce_weight, dice_weight=lc.dice_weight)
        self.val_confmat = ConfusionMatrix(len(self.classes), ignore_index=self.classes.ignore_index)
        self._preview: dict[str, torch.Tensor] | None = None
        #: Set by ``train()``: the resolved precision and its reason, kept in every checkpoint.
        self.precision_record: dict[str, str] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Loss parts for a training batch; subclasses (distillation) add their terms."""
        x, y = batch["image"], batch["mask"]
        if getattr(self.net, "has_aux", False):
            logits, aux = self.net(x, return_aux=True)
            parts = self.criterion.forward_parts(logits, y)
            parts["aux"] = self.criterion(aux, y)
            parts["loss"] = parts["loss"] + self.exp.loss.aux_weight * parts["aux"]
        else:
            logits = self.net(x)
            parts = self.criterion.forward_parts(logits, y)
        return parts["loss"], parts, logits

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss, parts, _ = self.compute_loss(batch)
        bs = batch["image"].shape[0]
        for k, v in parts.items():
            self.log(f"train_{k}", v.detach(), on_step=False, on_epoch=True, batch_size=bs, sync_dist=True,
                     prog_bar=(k == "loss"))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self.net(batch["image"])
        loss = self.criterion(logits, batch["mask"])
        self.log("val_loss", loss, on_step=False, on_epoch=True, batch_size=logits.shape[0], sync_dist=True)
        preds = logits.argmax(1)
        self.val_confmat.update(preds, batch["mask"])
        if batch_idx == 0 and self.exp.trainer.log_images > 0:
            n = self.exp.trainer.log_images
            self._preview = {"image": batch["image"][:n].float().cpu(), "mask": batch["mask"][:n].cpu(),
                             "pred": preds[:n].cpu()}

    def on_validation_epoch_end(self) -> None:
        confmat = self.val_confmat.compute()  # summed over DDP ranks by torchmetrics
        self.val_confmat.reset()
        scores = segmentation_scores(confmat.cpu(), self.classes)
        self.log("val_mIoU", scores["mIoU"], sync_dist=False, prog_bar=True)
        self.log("val_mF1", scores["mF1"], sync_dist=False)
        self.log("val_OA", scores["OA"], sync_dist=False)
        self.log("val_mIoU_all", scores["mIoU_all"], sync_dist=False)
        for name, iou in zip(self.classes.names, scores["IoU"], strict=True):
            self.log(f"val_IoU/{name}", float("nan") if iou is None else iou, sync_dist=False)
        if self.trainer.sanity_checking:
            return
        record = {"epoch": self.current_epoch, "confmat": confmat.cpu().tolist(),
                  **{k: scores[k] for k in ("mIoU", "mIoU_all", "mF1", "OA", "IoU")}}
        if self.trainer.is_global_zero:
            out = self.exp.run_dir / "val_history.jsonl"
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("a") as fh:
                fh.write(json.dumps(jsonable(record)) + "\n")
            self._log_preview()

    def _log_preview(self) -> None:
        logger = self.logger
        if self._preview is None or logger is None or not hasattr(logger.experiment, "add_image"):
            return
        from landseg.plots import colorize_mask

        mean = torch.tensor(self.exp.data.mean).view(3, 1, 1)
        std = torch.tensor(self.exp.data.std).view(3, 1, 1)
        rows = []
        for img, mask, pred in zip(self._preview["image"], self._preview["mask"], self._preview["pred"], strict=True):
            rgb = ((img * std + mean).clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
            rows.append(np.concatenate([rgb, colorize_mask(mask.numpy(), self.classes),
                                        colorize_mask(pred.numpy(), self.classes)], axis=1))
        grid = np.concatenate(rows, axis=0)
        logger.experiment.add_image("val/image_truth_prediction", grid, self.current_epoch, dataformats="HWC")

    def configure_optimizers(self) -> Any:
        o = self.exp.optim
        groups = param_groups(self.net, o.lr, o.weight_decay, o.backbone_lr or o.lr,
                              o.weight_decay if o.backbone_weight_decay is None else o.backbone_weight_decay)
        opt = torch.optim.AdamW(groups, lr=o.lr)
        epochs = self.exp.trainer.max_epochs
        sched: torch.optim.lr_scheduler.LRScheduler
        if o.scheduler == "constant":
            return opt
        if o.scheduler == "cosine_restarts":
            sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=o.restart_epochs,
                                                                         T_mult=o.restart_mult, eta_min=o.min_lr)
        else:
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs - o.warmup_epochs, 1),
                                                               eta_min=o.min_lr)
        if o.warmup_epochs > 0:
            warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=o.warmup_epochs)
            sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, sched], milestones=[o.warmup_epochs])
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Everything needed to rebuild the model from the checkpoint alone, as plain data
        # (so it loads with weights_only=True).
        checkpoint["landseg"] = {**checkpoint_metadata(self.exp), "precision": self.precision_records()}

    def precision_records(self) -> dict[str, Any] | None:
        """The precision this stage trained in (and, for distillation, the teacher's)."""
        return self.precision_record


def checkpoint_metadata(exp: Experiment) -> dict[str, Any]:
    return {
        "version": __version__,
        "config": jsonable(exp.to_dict()),
        "model": {"name": exp.model.name, "num_classes": len(exp.classes), "options": jsonable(exp.model.options)},
        "classes": exp.class_table.to_list(),
        "ignore_index": exp.ignore_index,
        "normalization": {"mean": list(exp.data.mean), "std": list(exp.data.std)},
        "tile_size": exp.data.crop_size,
    }
