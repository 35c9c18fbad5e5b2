"""Scoring models: whole-split metrics (``evaluate``), the one confusion-matrix metric code, hard samples.

Lazy re-exports, so ``from landseg.evaluation import segmentation_scores`` does not import torch.
"""

from __future__ import annotations

from landseg.utils import lazy_exports

_EXPORTS = {
    "evaluate": "landseg.evaluation.evaluator", "EvalResult": "landseg.evaluation.evaluator",
    "corrected_backup": "landseg.curation.backup",
    "ConfusionMatrix": "landseg.evaluation.metrics", "segmentation_scores": "landseg.evaluation.metrics",
    "analyze_hard_samples": "landseg.evaluation.hard_samples", "parse_policy": "landseg.evaluation.weight_policy",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
