"""Forward passes on inputs of any size (padding to the model's stride of 32)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from landseg.models.defaults import DEFAULT_STRIDE
from landseg.models.layers import pad_reflect


def model_stride(model: nn.Module) -> int:
    """What the model's input sides must be multiples of (its registry entry; 32 for every landseg model)."""
    return int(getattr(model, "landseg_stride", DEFAULT_STRIDE))


def autocast_context(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CPU (AMX) or GPU when asked; a no-op for fp32."""
    device_type = torch.device(device).type
    if precision in ("bf16", "bf16-mixed"):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if precision in ("16", "16-mixed", "fp16"):
        return torch.autocast(device_type, dtype=torch.float16)
    return contextlib.nullcontext()


@torch.inference_mode()
def predict_logits(model: nn.Module, images: torch.Tensor, precision: str = "32") -> torch.Tensor:
    """Float32 logits (N, C, H, W) for normalised images of any size.

    Inputs whose sides are not multiples of 32 are reflect-padded on the right/bottom and the
    logits cropped back, so every pixel gets a prediction.
    """
    h, w = images.shape[-2:]
    stride = model_stride(model)
    ph, pw = (-h) % stride, (-w) % stride
    x = pad_reflect(images, pw, ph) if (ph or pw) else images
    with autocast_context(images.device, precision):
        out = model(x)
    return out[..., :h, :w].float()
