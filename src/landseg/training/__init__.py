"""Training stages with Lightning: typed configs, the segmentation and distillation tasks, losses, sampling.

Lazy re-exports, so ``from landseg.training import load_config`` does not import Lightning.
"""

from __future__ import annotations

from landseg.utils import lazy_exports

_EXPORTS = {
    "Experiment": "landseg.training.config", "load_config": "landseg.training.config",
    "train": "landseg.training.train", "TrainResult": "landseg.training.train",
    "CEDiceLoss": "landseg.training.losses", "DistillationLoss": "landseg.training.kd_losses",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
