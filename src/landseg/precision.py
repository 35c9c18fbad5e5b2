"""One precision policy for every command that runs a model: ``auto`` is chosen from the hardware.

Why one function: bf16 is a large speed-up only where the hardware computes it natively (CUDA
compute capability >= 8.0; CPUs with AMX or AVX512-BF16). Elsewhere PyTorch emulates it, and
emulation is far slower than fp32 — measured on an AVX2-only AMD EPYC: a 1024² matmul 58-82×
slower, a Swin-B FT-UNetFormer train step ~12× slower. A hard-coded ``bf16`` once made ``make
demo`` take hours on such a CPU, so every stage asks :func:`choose_precision` and records the answer
with its reason (stage records, checkpoints, reports).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import asdict, dataclass

from landseg.errors import ConfigError

__all__ = ["PRECISIONS", "Precision", "PrecisionWarning", "choose_precision", "normalize_precision",
           "announce", "resolve_precision", "describe"]

#: What users may write: ``auto`` or one of the three precisions (Lightning's names are accepted too).
PRECISIONS = ("auto", "32", "bf16", "16")
#: ``landseg predict`` offers no fp16: its exports run in fp32 and CPUs have no native fp16.
PREDICT_PRECISIONS = ("auto", "32", "bf16")
_ALIASES = {"auto": "auto", "32": "32", "32-true": "32", "fp32": "32", "bf16": "bf16", "bf16-mixed": "bf16",
            "16": "16", "16-mixed": "16", "fp16": "16"}
_LIGHTNING = {"32": "32-true", "bf16": "bf16-mixed", "16": "16-mixed"}
_LABEL = {"32": "fp32", "bf16": "bf16", "16": "fp16"}
#: The measured cost of emulated bf16 (module docstring), quoted in the warning.
EMULATION_SLOWDOWN = "measured on an AVX2-only CPU: matmuls 58-82x and Swin-B train steps ~12x slower than fp32"


class PrecisionWarning(UserWarning):
    """An explicit precision that this hardware runs slowly (emulated)."""


@dataclass(frozen=True)
class Precision:
    """The precision a model runs in here, and why."""

    name: str  # "32", "bf16" or "16"
    requested: str  # what was asked for, normalised ("auto", "32", "bf16", "16")
    device: str  # "cpu" or "cuda"
    reason: str
    hardware: str  # e.g. "CPU AVX2, no native bf16" or "CUDA sm_90"

    @property
    def lightning(self) -> str:
        """Lightning's ``Trainer(precision=...)`` name."""
        return _LIGHTNING[self.name]

    @property
    def label(self) -> str:
        return _LABEL[self.name]

    def to_dict(self) -> dict[str, str]:
        return {**asdict(self), "label": self.label}

    def __str__(self) -> str:
        return f"{self.label}: {self.reason}"


def normalize_precision(value: str | int | None) -> str:
    """``"bf16-mixed"`` -> ``"bf16"``; ``None`` -> ``"auto"``; anything unknown is a clear error."""
    key = "auto" if value is None else str(value).strip().lower()
    if key not in _ALIASES:
        raise ConfigError(f"Unknown precision {value!r}. Valid: {', '.join(PRECISIONS)} "
                          "(Lightning's 32-true, bf16-mixed and 16-mixed are accepted too).")
    return _ALIASES[key]


# --- capability probes (the only hardware-dependent lines; tests replace exactly these) ------------

def cpu_bf16_native() -> bool:
    """True where oneDNN computes bf16 natively (AVX512-BF16 or AMX), as PyTorch itself decides."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_capability() -> str:
    """The vector ISA PyTorch dispatches to on this CPU (``AVX2``, ``AVX512``, ...)."""
    import torch

    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return "unknown"


def cuda_capability(device: str) -> tuple[int, int] | None:
    """(major, minor) of the CUDA device, or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    index = torch.device(device).index
    return tuple(torch.cuda.get_device_capability(index if index is not None else 0))  # type: ignore[return-value]


# --- the policy ------------------------------------------------------------------------------------

def _device_type(device: str) -> str:
    d = str(device).lower()
    return "cuda" if d in ("gpu", "auto_gpu") or d.startswith("cuda") else "cpu"


def choose_precision(requested: str | None = "auto", device: str = "cpu", *, warn: bool = True) -> Precision:
    """The precision to run in on ``device`` ("cpu", "cuda", "cuda:1" or Lightning's "gpu").

    ``auto``: on CUDA bf16 where compute capability >= 8.0, else fp16; on CPU bf16 only where it is
    native (AMX / AVX512-BF16), else fp32. An explicit choice is honoured; one that this hardware
    only emulates warns (:class:`PrecisionWarning`) with the measured slowdown.
    """
    req = normalize_precision(requested)
    kind = _device_type(device)
    if kind == "cuda":
        cap = cuda_capability(device)
        if cap is None:
            raise ConfigError(f"Device {device!r} asks for CUDA, but torch sees no CUDA device here.")
        hardware = f"CUDA sm_{cap[0]}{cap[1]}"
        bf16_ok = cap >= (8, 0)
        if req == "auto":
            if bf16_ok:
                return Precision("bf16", req, kind, f"{hardware} computes bf16 natively (compute capability >= 8.0)",
                                 hardware)
            return Precision("16", req, kind, f"{hardware} has no native bf16 (compute capability < 8.0): fp16 "
                             "mixed precision instead", hardware)
        if req == "bf16" and not bf16_ok and warn:
            warnings.warn(f"bf16 on {hardware} (compute capability < 8.0) is emulated and slow; "
                          "use precision 'auto' (fp16 mixed here).", PrecisionWarning, stacklevel=2)
        return Precision(req, req, kind, f"requested ({hardware})", hardware)

    isa = cpu_capability()
    native = cpu_bf16_native()
    hardware = f"CPU {isa}, {'native bf16 (AVX512-BF16/AMX)' if native else 'no native bf16'}"
    if req == "auto":
        if native:
            return Precision("bf16", req, kind, f"CPU has native bf16 ({isa} with AVX512-BF16/AMX)", hardware)
        return Precision("32", req, kind, f"CPU has {isa} only, bf16 would be emulated", hardware)
    if req == "bf16" and not native and warn:
        warnings.warn(f"bf16 requested, but this CPU ({isa}) has no native bf16: PyTorch emulates it, "
                      f"{EMULATION_SLOWDOWN}. Use precision 'auto' (fp32 here).", PrecisionWarning, stacklevel=2)
    if req == "16" and warn:
        warnings.warn("fp16 mixed precision on a CPU is emulated on most CPUs; use precision 'auto'.",
                      PrecisionWarning, stacklevel=2)
    return Precision(req, req, kind, f"requested ({hardware})", hardware)


_ANNOUNCED: set[str] = set()


def announce(choice: Precision, what: str) -> None:
    """Print the choice once per process and purpose (stderr, so JSON on stdout stays clean)."""
    line = f"landseg: {what} runs in {choice}"
    if line not in _ANNOUNCED:
        _ANNOUNCED.add(line)
        print(line, file=sys.stderr, flush=True)


def resolve_precision(requested: str | None, device: str, what: str) -> Precision:
    """:func:`choose_precision`, announced: what every model-running command calls at its start."""
    choice = choose_precision(requested, device)
    announce(choice, what)
    return choice


def describe(metrics: dict | None) -> str:
    """One line for a stage record's precision (reports, model cards): ``fp32 (CPU has AVX2 only, ...)``.

    Reads ``metrics["precision"]`` (train/evaluate/... stages; a train stage of distillation adds
    the teacher's) or a predict stage's ``summary``; "—" where none was recorded (e.g. data stages).
    """
    metrics = metrics or {}
    rec = metrics.get("precision")
    if not rec and isinstance(metrics.get("summary"), dict) and metrics["summary"].get("precision"):
        s = metrics["summary"]
        rec = {"label": _LABEL.get(str(s["precision"]), str(s["precision"])), "reason": s.get("precision_reason", "")}
    if not isinstance(rec, dict) or not rec.get("label"):
        return "—"
    text = f"{rec['label']} ({rec['reason']})" if rec.get("reason") else str(rec["label"])
    teacher = rec.get("teacher")
    if isinstance(teacher, dict) and teacher.get("label"):
        text += f"; teacher {teacher['label']}"
    return text
