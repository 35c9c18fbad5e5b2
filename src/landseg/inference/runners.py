"""One interface over every model file ``landseg predict`` accepts, picked by the file itself.

A :class:`Predictor` maps a batch of *normalised* tiles ``(N, 3, h, w)`` float32 (numpy) to class
probabilities ``(N, C, h, w)`` float32, whatever runs underneath:

* a landseg or GeoSeg checkpoint → PyTorch eager, fp32 or bf16 autocast;
* an ``.onnx`` file from ``landseg export`` → ONNX Runtime (no torch needed for the forward pass);
* a TorchScript file from ``landseg export`` → ``torch.jit``.

Tiles smaller than the model's input are padded (reflect, as in training-time padding) and the
output cropped back, so callers never think about strides or fixed export sizes. Probabilities
(not logits) are returned because overlapping windows and test-time augmentation average them.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from landseg.classes import ClassTable
from landseg.errors import ConfigError, LandsegError
from landseg.models.defaults import DEFAULT_STRIDE
from landseg.precision import PREDICT_PRECISIONS

__all__ = ["PRECISIONS", "Predictor", "open_predictor", "model_kind"]

PRECISIONS = PREDICT_PRECISIONS


class PredictorError(LandsegError, ValueError):
    """A model file that cannot be used for prediction."""


class Predictor(Protocol):
    classes: ClassTable
    mean: list[float]
    std: list[float]
    tile_size: int
    backend: str  # "pytorch", "onnxruntime" or "torchscript"
    precision: str  # "32" or "bf16"
    max_window: int | None  # largest window side the model takes (fixed-size exports), None: any

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


def model_kind(path: str | Path) -> str:
    """``onnx``, ``torchscript`` or ``checkpoint``, from the file's contents (not only its name)."""
    path = Path(path)
    if not path.is_file():
        raise PredictorError(f"model file {path} not found: pass a checkpoint (.ckpt/.pth), an .onnx or a "
                             "TorchScript file made by `landseg export`.")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if path.suffix.lower() == ".onnx":
        return "onnx"
    if head[:2] == b"PK":  # torch.save and torch.jit.save both write zip archives
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        if any(n.split("/", 1)[-1].startswith("code/") for n in names):
            return "torchscript"
    return "checkpoint"


def _pad_to(batch: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad on the bottom/right to ``height``×``width`` (reflect where possible, else symmetric)."""
    ph, pw = height - batch.shape[2], width - batch.shape[3]
    if ph == 0 and pw == 0:
        return batch
    mode = "reflect" if ph < batch.shape[2] and pw < batch.shape[3] else "symmetric"
    return np.pad(batch, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


@dataclass(kw_only=True)
class _Described:
    """What every predictor carries: the model's class table, normalisation and tile size."""

    classes: ClassTable
    mean: list[float]
    std: list[float]
    tile_size: int
    precision: str = "32"
    #: Window sides are padded to multiples of this (the model's stride, from its registry entry).
    stride: int = DEFAULT_STRIDE
    #: Why this precision (landseg.precision's reason, or the export's fixed fp32).
    precision_reason: str = "exports run in fp32, the precision they were exported in"
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class TorchPredictor(_Described):
    """A checkpoint run by PyTorch eager (bf16 autocast when ``precision="bf16"``)."""

    model: Any
    device: str = "cpu"
    backend: str = "pytorch"
    max_window: int | None = None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        from landseg.inference.forward import predict_logits

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        logits = predict_logits(self.model, x, precision=self.precision)
        return torch.softmax(logits, dim=1).cpu().numpy()


@dataclass(kw_only=True)
class OnnxPredictor(_Described):
    """An ``.onnx`` export run by ONNX Runtime; fixed-size exports get padded tiles."""

    session: Any
    dynamic_size: bool
    backend: str = "onnxruntime"

    @property
    def max_window(self) -> int | None:
        return None if self.dynamic_size else self.tile_size

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        h, w = batch.shape[2:]
        if self.dynamic_size:
            th, tw = h + (-h) % self.stride, w + (-w) % self.stride
        else:
            th = tw = self.tile_size
        x = _pad_to(np.ascontiguousarray(batch, dtype=np.float32), th, tw)
        logits = self.session.run(["logits"], {"image": x})[0]
        return _softmax(logits[:, :, :h, :w].astype(np.float32, copy=False))


@dataclass(kw_only=True)
class TorchScriptPredictor(_Described):
    """A TorchScript export (traced at its tile size, so windows are padded to it)."""

    module: Any
    device: str = "cpu"
    backend: str = "torchscript"

    @property
    def max_window(self) -> int:
        return self.tile_size

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        h, w = batch.shape[2:]
        x = torch.from_numpy(_pad_to(np.ascontiguousarray(batch, dtype=np.float32), self.tile_size, self.tile_size))
        with torch.inference_mode():
            logits = self.module(x.to(self.device))[:, :, :h, :w].float()
        return torch.softmax(logits, dim=1).cpu().numpy()


def _described(meta: dict[str, Any]) -> dict[str, Any]:
    """The :class:`_Described` fields from an export's embedded metadata (see landseg.inference.export)."""
    classes = [{"name": c["name"], "color": c["color"]} for c in meta["classes"]]
    return {"classes": ClassTable.from_list(classes, ignore_index=int(meta.get("ignore_index", 255))),
            "mean": meta["normalization"]["mean"], "std": meta["normalization"]["std"],
            "tile_size": int(meta["tile_size"]), "stride": int(meta.get("stride", DEFAULT_STRIDE)), "meta": meta}


def _threads(threads: int | None) -> int:
    from landseg.utils import available_cores

    return threads or available_cores()


def open_predictor(path: str | Path, *, precision: str = "auto", device: str = "cpu", threads: int | None = None,
                   model: str | None = None, options: dict[str, Any] | None = None,
                   num_classes: int | None = None) -> Predictor:
    """A ready predictor for a checkpoint, ONNX or TorchScript file (chosen by :func:`model_kind`).

    ``precision="auto"`` runs a checkpoint as :func:`landseg.precision.choose_precision` decides; exports run at the
    precision they were exported in (fp32). ``model``/``options``/``num_classes`` rebuild GeoSeg
    checkpoints, as in :func:`landseg.inference.load_model`. ``threads`` caps the CPU threads.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} (--precision) must be one of {', '.join(PRECISIONS)}.")
    kind = model_kind(path)
    if kind == "onnx":
        if precision == "bf16":
            raise ConfigError("--precision bf16 applies to checkpoints; an ONNX export runs in the precision it "
                              "was exported in (fp32). Pass the checkpoint instead, or --precision auto.")
        if device != "cpu":
            raise ConfigError("ONNX models run on the CPU here (onnxruntime's CPU provider); pass the checkpoint "
                              "to predict on a GPU.")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = _threads(threads)
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise PredictorError(f"cannot load {path} with ONNX Runtime: {exc}") from exc
        raw = session.get_modelmeta().custom_metadata_map.get("landseg.json")
        if not raw:
            raise PredictorError(f"{path} has no landseg metadata (classes, normalisation): export it with "
                                 "`landseg export`.")
        meta = json.loads(raw)
        return OnnxPredictor(session=session, dynamic_size=bool(meta.get("dynamic_size")), **_described(meta))

    import torch

    if threads:
        torch.set_num_threads(threads)
    if kind == "torchscript":
        if precision == "bf16":
            raise ConfigError("--precision bf16 applies to checkpoints; a TorchScript export runs in fp32.")
        from landseg.inference.export import load_torchscript, read_metadata

        meta = read_metadata(path)
        module = load_torchscript(Path(path)).eval().to(device)
        return TorchScriptPredictor(module=module, device=device, **_described(meta))

    from landseg.inference.loading import load_model

    loaded = load_model(path, model=model, options=options, num_classes=num_classes)
    from landseg.inference.forward import model_stride
    from landseg.precision import resolve_precision

    chosen = resolve_precision(precision, device, "predict")
    return TorchPredictor(model=loaded.model.to(device), classes=loaded.classes, mean=loaded.mean, std=loaded.std,
                          tile_size=loaded.tile_size, stride=model_stride(loaded.model), precision=chosen.name,
                          precision_reason=chosen.reason,
                          device=device, meta=loaded.meta)
