"""Models: ``build_model(name, num_classes, **kw)`` and ``load_weights(model, path)``.

Lazy re-exports: ``landseg.models.defaults`` (normalisation, stride, tile per model) stays torch-free.
"""

from __future__ import annotations

from landseg.utils import lazy_exports

_EXPORTS = {
    "PRESETS": "landseg.models.registry", "build_model": "landseg.models.registry",
    "list_models": "landseg.models.registry", "register_model": "landseg.models.registry",
    "LoadReport": "landseg.models.weights", "extract_state_dict": "landseg.models.weights",
    "load_weights": "landseg.models.weights", "read_checkpoint": "landseg.models.weights",
    "ModelDefaults": "landseg.models.defaults", "model_defaults": "landseg.models.registry",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
