"""Inference: rebuild models from checkpoints and run them on tiles of any size."""

from landseg.inference.forward import predict_logits
from landseg.inference.loading import LoadedModel, load_model
from landseg.inference.sliding import predict_sliding

__all__ = ["LoadedModel", "load_model", "predict_logits", "predict_sliding"]
