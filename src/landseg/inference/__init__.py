"""Inference: rebuild models from checkpoints and run them on tiles of any size."""

from landseg.inference.forward import predict_logits
from landseg.inference.loading import LoadedModel, load_model

__all__ = ["LoadedModel", "load_model", "predict_logits"]
