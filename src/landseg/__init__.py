"""landseg: land-cover segmentation for biodiversity monitoring.

The whole workflow from Python; every name loads lazily on first use, so ``import landseg`` is instant
and asking for one entry point does not import torch for the others::

    import landseg
    landseg.generate_benchmark("runs/py/data", tiles=60, size=256, label_noise=0.3)
    result = landseg.train(landseg.load_config("config/demo/baseline.py", ["data.root='runs/py/data'"]))
    scores = landseg.evaluate(result.best_checkpoint, "runs/py/data", "Test", "runs/py/eval").scores
"""

from __future__ import annotations

from landseg.utils import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    # models and checkpoints
    "build_model": "landseg.models", "load_weights": "landseg.models", "list_models": "landseg.models",
    "load_model": "landseg.inference.loading",
    # data
    "SegmentationDataset": "landseg.data.dataset", "generate_benchmark": "landseg.data.synth",
    "generate_oem_like": "landseg.data.synth_oem",
    # training
    "load_config": "landseg.training.config", "train": "landseg.training.train",
    "choose_precision": "landseg.precision",
    # evaluation
    "evaluate": "landseg.evaluation.evaluator", "analyze_hard_samples": "landseg.evaluation.hard_samples",
    "segmentation_scores": "landseg.evaluation.metrics",
    # ground-truth correction
    "predict_pair": "landseg.correction.predict_pair", "auto_review": "landseg.review.auto_review",
    "replace_masks": "landseg.correction.replace",
    # dataset curation and splits
    "import_oem": "landseg.curation.oem", "combine_datasets": "landseg.curation.combine",
    "filter_dataset": "landseg.curation.filter", "split_dataset": "landseg.splitting.split",
    "check_leakage": "landseg.splitting.leakage",
    # deployment
    "export_model": "landseg.inference.export", "predict": "landseg.inference.predict",
    "open_predictor": "landseg.inference.runners",
    # the workflow and its records
    "run_pipeline": "landseg.pipeline.runner", "load_pipeline": "landseg.pipeline.spec",
    "write_report": "landseg.report.build", "write_model_card": "landseg.report.model_card",
}
__all__ = ["__version__", *sorted(_EXPORTS)]
__getattr__ = lazy_exports(__name__, _EXPORTS)
