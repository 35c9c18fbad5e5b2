"""One flat registry of model builders and the public ``build_model`` factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from landseg.errors import ConfigError
from landseg.models.defaults import ModelDefaults

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
#: For each preset, the keyword arguments it fixes (so checkpoints can record the full recipe).
PRESETS: dict[str, dict[str, Any]] = {}
#: For each model, its normalisation, stride and default tile size.
_DEFAULTS: dict[str, ModelDefaults] = {}


def register_model(name: str, defaults: ModelDefaults | None = None,
                   **preset: Any) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a builder; ``defaults`` are its normalisation, stride and tile size (see models.defaults)."""
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _REGISTRY[name] = fn
        PRESETS[name] = preset
        _DEFAULTS[name] = defaults or ModelDefaults()
        return fn

    return deco


def model_defaults(name: str | None = None) -> ModelDefaults:
    """The normalisation, stride and tile size of model ``name`` (the common defaults for an unknown name)."""
    return _DEFAULTS.get(name or "", ModelDefaults())


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def build_model(name: str, num_classes: int, pretrained: bool | str | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered model.

    ``pretrained`` loads backbone weights: a local file path, or ``"timm"`` to download through
    timm's hub (only on request). Extra keyword arguments go to the model's constructor.
    """
    if name not in _REGISTRY:
        raise ConfigError(f"Model type {name!r} is not valid. Available models: {', '.join(list_models())}.")
    try:
        model = _REGISTRY[name](num_classes=num_classes, pretrained=pretrained, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"Bad option for model {name!r}: {exc}") from None
    model.landseg_spec = {"name": name, "num_classes": num_classes, "kwargs": dict(kwargs)}  # type: ignore[assignment]
    model.landseg_stride = model_defaults(name).stride  # type: ignore[assignment]
    return model


def _ftunetformer(num_classes: int, pretrained: bool | str | None = None, **kw: Any) -> nn.Module:
    from landseg.models.ftunetformer import FTUNetFormer
    from landseg.models.weights import load_backbone_weights

    model = FTUNetFormer(num_classes=num_classes, **kw)
    if pretrained == "timm":
        raise ConfigError("ftunetformer's Swin backbone takes `pretrained` as a local file (e.g. GeoSeg's "
                          "stseg_base.pth or timm's swin_base_patch4_window7_224 weights), not 'timm'.")
    if pretrained:
        load_backbone_weights(model, str(pretrained))
    return model


def _preset(base: Callable[..., nn.Module], fixed: dict[str, Any]) -> Callable[..., nn.Module]:
    def build(num_classes: int, pretrained: bool | str | None = None, **kw: Any) -> nn.Module:
        return base(num_classes, pretrained, **{**fixed, **kw})

    return build


register_model("ftunetformer")(_ftunetformer)

_TINY = dict(embed_dim=32, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8), decode_channels=32, drop_path_rate=0.1)
_SMALL = dict(embed_dim=64, depths=(2, 2, 2, 2), num_heads=(2, 4, 8, 16), decode_channels=64, drop_path_rate=0.1)
register_model("ftunetformer_tiny", **_TINY)(_preset(_ftunetformer, _TINY))
register_model("ftunetformer_small", **_SMALL)(_preset(_ftunetformer, _SMALL))


@register_model("unetformer")
def _unetformer(num_classes: int, pretrained: bool | str | None = None, **kw: Any) -> nn.Module:
    from landseg.models.unetformer import UNetFormer

    return UNetFormer(num_classes=num_classes, pretrained=pretrained or False, **kw)
