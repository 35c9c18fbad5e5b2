"""Export a checkpoint to ONNX or TorchScript, check the export against PyTorch, embed metadata.

The exported network maps *normalised* images ``(N, 3, H, W)`` float32 — ``(rgb / 255 - mean) / std``
with the mean/std stored in the file — to logits ``(N, C, H, W)``. The batch axis is dynamic; the
spatial size is the tile size unless ``dynamic_size`` (ONNX) was asked for and verified.

Metadata (one JSON document, the same in both formats): ``classes`` (name, colour),
``normalization`` (mean, std), ``tile_size``, ``landseg_version``, ``model`` (name, options),
``input``/``output`` descriptions, the measured parity. ONNX keeps it in ``metadata_props`` under
the key ``landseg.json``; TorchScript in the extra file ``landseg.json``. :func:`read_metadata`
reads either without building a model (ONNX needs only the ``onnx`` package).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landseg import __version__
from landseg.errors import LandsegError
from landseg.utils import atomic_output

FORMATS = ("onnx", "torchscript")
METADATA_KEY = "landseg.json"
OPSET = 17
TOLERANCE = 1e-3


class ExportError(LandsegError, ValueError):
    """An export that could not be made or did not reproduce PyTorch's logits."""


#: Exports are fp32 graphs, so the parity check compares them with PyTorch in fp32 on every CPU; the
#: precision policy (landseg.precision) applies where the export later runs a checkpoint instead.
PARITY_PRECISION = {"name": "32", "label": "fp32",
                    "reason": "exports are fp32 graphs: parity compares them with PyTorch eager in fp32"}


@dataclass
class ExportResult:
    path: Path
    format: str
    tile_size: int
    dynamic_size: bool
    max_abs_diff: float
    parity_shapes: list[list[int]]
    metadata: dict[str, Any]
    seconds: float

    def report(self) -> str:
        size = "dynamic H×W (multiples of 32)" if self.dynamic_size else f"{self.tile_size}×{self.tile_size}"
        shapes = ", ".join("×".join(map(str, s)) for s in self.parity_shapes)
        return (f"Exported {self.format} to {self.path} (input N×3×{size}, dynamic batch N) in {self.seconds:.1f} s.\n"
                f"Parity with PyTorch eager on seeded inputs ({shapes}): max |Δlogit| = {self.max_abs_diff:.3g} "
                f"(limit {TOLERANCE:g}).")


def export_model(checkpoint: str | Path, out: str | Path, fmt: str = "onnx", *, tile: int | None = None,
                 dynamic_size: bool = False, model: str | None = None, options: dict[str, Any] | None = None,
                 num_classes: int | None = None, tolerance: float = TOLERANCE, seed: int = 0) -> ExportResult:
    """Export ``checkpoint`` to ``out`` and verify it; a failed check removes the file and raises.

    ``tile`` defaults to the tile size the checkpoint records (512 for GeoSeg checkpoints).
    ``model``/``options``/``num_classes`` rebuild GeoSeg checkpoints, as in :func:`load_model`.
    """
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}. Valid formats: {', '.join(FORMATS)}.")
    ckpt = Path(checkpoint)
    if not ckpt.is_file():
        raise ExportError(f"Checkpoint {ckpt} not found: pass the .ckpt/.pth file to export.")
    if dynamic_size and fmt != "onnx":
        raise ExportError("--dynamic-size is only for --format onnx (a traced TorchScript module keeps its size).")

    import torch

    from landseg.inference import load_model
    from landseg.inference.forward import model_stride

    start = time.perf_counter()
    loaded = load_model(ckpt, model=model, options=options, num_classes=num_classes)
    tile = int(tile or loaded.tile_size)
    stride = model_stride(loaded.model)
    if tile <= 0 or tile % stride:
        raise ExportError(f"--tile {tile} must be a positive multiple of {stride} (the model's stride).")
    net = loaded.model.float().eval()
    meta = export_metadata(loaded, tile, fmt, dynamic_size, model_name=model, options=options)
    out = Path(out)
    example = torch.zeros(1, 3, tile, tile)
    shapes = [(2, 3, tile, tile)]  # batch 2: checks the dynamic batch axis
    resized = (1, 3, tile + stride, tile + 2 * stride)
    try:
        with atomic_output(out) as tmp:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about Python shape arithmetic: checked below
                if fmt == "onnx":
                    _export_onnx(net, example, tmp, dynamic_size)
                else:
                    _export_torchscript(net, example, tmp, meta)
            diff = _parity(net, tmp, fmt, shapes, seed)
            if dynamic_size:
                try:
                    diff = max(diff, _parity(net, tmp, fmt, [resized], seed))
                except Exception as exc:
                    # The TorchScript-based exporter records shape arithmetic done in Python (e.g. the
                    # window padding of FT-UNetFormer) as constants of the example size.
                    raise ExportError(
                        f"This model cannot be exported with --dynamic-size: the exported graph fails on a "
                        f"{resized[2]}×{resized[3]} input ({type(exc).__name__}) because its padding is fixed at trace "
                        f"time. Export without --dynamic-size (fixed {tile}×{tile} input) and predict large images in "
                        "tiles; nothing was written.") from exc
                shapes.append(resized)
            if not diff <= tolerance:  # also catches NaN
                raise ExportError(
                    f"The {fmt} export does not reproduce PyTorch: max |Δlogit| = {diff:.3g} > {tolerance:g} on seeded "
                    f"inputs {shapes}; nothing written to {out}."
                    + (" Retry without --dynamic-size (a fixed tile size exports exactly)." if dynamic_size else ""))
            meta["parity"] = {"max_abs_diff": diff, "tolerance": tolerance, "shapes": [list(s) for s in shapes],
                              "seed": seed, "precision": PARITY_PRECISION}
            _write_metadata(tmp, fmt, meta)  # after the check, so the file records the measured parity
    except BaseException as exc:
        if isinstance(exc, Exception) and not isinstance(exc, LandsegError):
            raise ExportError(f"{fmt} export of {ckpt} failed, nothing was written: the exported graph does not run "
                              f"like the model ({type(exc).__name__}: {exc}).") from exc
        raise
    return ExportResult(path=out, format=fmt, tile_size=tile, dynamic_size=dynamic_size, max_abs_diff=diff,
                        parity_shapes=[list(s) for s in shapes], metadata=meta, seconds=time.perf_counter() - start)


def export_metadata(loaded: Any, tile: int, fmt: str, dynamic_size: bool = False, model_name: str | None = None,
                    options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The metadata embedded in an export (plain JSON data); ``model_name``/``options`` as given for GeoSeg."""
    from landseg.inference.forward import model_stride

    spec = loaded.meta.get("model") if loaded.source == "landseg" else None
    model = spec or {"name": model_name or type(loaded.model).__name__, "options": options or {}}
    h, w = ("H", "W") if dynamic_size else (tile, tile)
    return {
        "format": fmt,
        "landseg_version": __version__,
        "model": {"name": model.get("name"), "num_classes": len(loaded.classes),
                  "options": model.get("options", {}), "source": loaded.source},
        "classes": [{"index": i, "name": c.name, "color": list(c.color)}
                    for i, c in enumerate(loaded.classes.classes)],
        "ignore_index": loaded.classes.ignore_index,
        "normalization": {"mean": list(loaded.mean), "std": list(loaded.std), "max_pixel_value": 255.0},
        "tile_size": tile,
        "stride": model_stride(loaded.model),
        "dynamic_size": dynamic_size,
        "input": {"name": "image", "shape": ["N", 3, h, w], "dtype": "float32",
                  "layout": "RGB, (pixel / 255 - mean) / std"},
        "output": {"name": "logits", "shape": ["N", len(loaded.classes), h, w], "dtype": "float32",
                   "meaning": "argmax over axis 1 gives the class index"},
    }


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The landseg metadata of an exported ``.onnx`` or TorchScript file."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"Exported model {path} not found.")
    if path.suffix == ".onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        if METADATA_KEY not in props:
            raise ExportError(f"{path} has no {METADATA_KEY!r} metadata: was it exported by `landseg export`?")
        return json.loads(props[METADATA_KEY])

    extra = {METADATA_KEY: ""}
    load_torchscript(path, extra)
    if not extra[METADATA_KEY]:
        raise ExportError(f"{path} has no {METADATA_KEY!r} extra file: was it exported by `landseg export`?")
    return json.loads(extra[METADATA_KEY])


# --- formats ---------------------------------------------------------------------------------------

def _export_onnx(net: Any, example: Any, path: Path, dynamic_size: bool) -> None:
    import torch

    axes = {0: "N", 2: "H", 3: "W"} if dynamic_size else {0: "N"}
    # The TorchScript-based exporter (dynamo=False) needs no extra packages and handles the model's
    # Python shape arithmetic by tracing it at the example size.
    torch.onnx.export(net, (example,), str(path), input_names=["image"], output_names=["logits"],
                      opset_version=OPSET, dynamic_axes={"image": axes, "logits": axes}, dynamo=False,
                      do_constant_folding=True)


def _export_torchscript(net: Any, example: Any, path: Path, meta: dict[str, Any]) -> None:
    import torch

    traced = torch.jit.trace(net, example, check_trace=False)
    traced.save(str(path), _extra_files={METADATA_KEY: json.dumps(meta)})


def load_torchscript(path: Path, extra: dict[str, str] | None = None) -> Any:
    """A TorchScript export on the CPU (``extra``: extra files to read, e.g. the landseg metadata)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still the portable format
        return torch.jit.load(str(path), map_location="cpu", _extra_files=extra or {})


def _write_metadata(path: Path, fmt: str, meta: dict[str, Any]) -> None:
    text = json.dumps(meta)
    if fmt == "onnx":
        import onnx

        proto = onnx.load(str(path))
        del proto.metadata_props[:]
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, text
        proto.producer_name, proto.producer_version = "landseg", __version__
        onnx.save(proto, str(path))
    else:

        load_torchscript(path).save(str(path), _extra_files={METADATA_KEY: text})


def _parity(net: Any, path: Path, fmt: str, shapes: list[tuple[int, ...]], seed: int) -> float:
    """Max |Δlogit| between PyTorch eager and the exported runtime over seeded inputs."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    if fmt == "onnx":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 4  # failures surface as exceptions with a landseg message instead
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        run = lambda x: torch.from_numpy(session.run(["logits"], {"image": x.numpy()})[0])  # noqa: E731
    else:
        module = load_torchscript(path).eval()
        run = module
    for shape in shapes:
        x = torch.randn(shape, generator=gen)
        with torch.no_grad():
            ref = net(x)
            got = run(x)
        if tuple(got.shape) != tuple(ref.shape):
            raise ExportError(f"The {fmt} export gives logits of shape {tuple(got.shape)} for input {shape}; "
                              f"PyTorch gives {tuple(ref.shape)}.")
        worst = max(worst, float((got.float() - ref.float()).abs().max()))
    return worst
