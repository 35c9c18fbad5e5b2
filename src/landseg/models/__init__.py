"""Models: ``build_model(name, num_classes, **kw)`` and ``load_weights(model, path)``."""

from landseg.models.registry import PRESETS, build_model, list_models, register_model
from landseg.models.weights import LoadReport, extract_state_dict, load_weights, read_checkpoint

__all__ = ["PRESETS", "LoadReport", "build_model", "extract_state_dict", "list_models", "load_weights",
           "read_checkpoint", "register_model"]
