"""Every registered model passes the same suite (as smp's and timm's test bases do).

Forward and backward at several input sizes that are multiples of the model's stride, a save/load
round trip that reproduces the logits, and ONNX and TorchScript exports that reproduce PyTorch. The
full-size FT-UNetFormer (Swin-B, 96M parameters) runs the cheap checks always and the exports only
in the slow set.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from landseg.models import build_model, list_models, load_weights
from landseg.models.registry import model_defaults

MODELS = list_models()
BIG = {"ftunetformer"}
SIZES = [(32, 32), (64, 96), (96, 64)]


def _model(name: str, classes: int = 6) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, classes).eval()


def test_the_suite_covers_every_registered_model() -> None:
    assert set(MODELS) == {"ftunetformer", "ftunetformer_small", "ftunetformer_tiny", "unetformer"}
    for name in MODELS:
        d = model_defaults(name)
        assert d.stride == 32 and d.tile == 512 and len(d.mean) == len(d.std) == 3


@pytest.mark.parametrize("name", MODELS)
def test_forward_and_backward_at_several_sizes(name: str) -> None:
    model = _model(name, classes=5).train()
    for h, w in SIZES[:1] if name in BIG else SIZES:
        x = torch.randn(2, 3, h, w, requires_grad=True)
        aux = getattr(model, "has_aux", False)
        out = model(x, return_aux=True) if aux else model(x)  # UNetFormer's auxiliary head trains too
        loss = sum(o.float().square().mean() for o in (out if aux else (out,)))
        out = out[0] if aux else out
        assert out.shape == (2, 5, h, w)
        loss.backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing, f"parameters without a gradient: {missing[:5]}"
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
        assert x.grad is not None and x.grad.abs().sum() > 0  # the output depends on the input
        model.zero_grad()


@pytest.mark.parametrize("name", MODELS)
def test_save_and_load_round_trip_reproduces_the_logits(name: str, tmp_path: Path) -> None:
    model = _model(name)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    torch.save({"state_dict": {f"net.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "m.ckpt")
    fresh = build_model(name, 6).eval()
    with torch.no_grad():
        assert not torch.allclose(fresh(x), expected)  # a different init gives other logits...
    load_weights(fresh, tmp_path / "m.ckpt", strict=True)
    with torch.no_grad():
        assert torch.equal(fresh(x), expected)  # ...and the loaded weights exactly the saved ones


def _checkpoint(name: str, path: Path, tile: int = 64) -> Path:
    from landseg.training.config import build_experiment
    from landseg.training.module import checkpoint_metadata

    exp = build_experiment({"model": {"name": name}, "data": {"crop_size": tile}})
    net = _model(name)
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
                "landseg": checkpoint_metadata(exp)}, path)
    return path


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in MODELS])
def test_exports_reproduce_pytorch(name: str, fmt: str, tmp_path: Path) -> None:
    from landseg.inference.export import export_model
    from landseg.inference.runners import open_predictor

    ckpt = _checkpoint(name, tmp_path / f"{name}.ckpt")
    res = export_model(ckpt, tmp_path / f"{name}.{'onnx' if fmt == 'onnx' else 'pt'}", fmt)
    assert res.max_abs_diff <= 1e-3 and res.metadata["stride"] == 32
    x = torch.randn(2, 3, 64, 64).numpy()
    exported = open_predictor(res.path)(x)
    eager = open_predictor(ckpt, precision="32")(x)
    assert abs(exported - eager).max() < 1e-4  # probabilities agree
