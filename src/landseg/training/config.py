"""Typed, validated experiment configs read from Python config files.

A config file is plain Python (GeoSeg users know the style) that assigns a few top-level names:
``name``, ``classes``, ``model``, ``data``, ``optim``, ``loss``, ``trainer``, ``init_from``...
A later stage names the config it builds on with ``base = "other.py"`` and states only what
differs: dicts merge key by key, anything else replaces. Unknown keys are errors that list the
valid ones, so a typo fails at load time, not hours into a run.
"""

from __future__ import annotations

import ast
import dataclasses
import runpy
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landseg.classes import BIODIVERSITY, DEFAULT_IGNORE_INDEX, ClassTable
from landseg.errors import ConfigError
from landseg.models.defaults import DEFAULT_STRIDE, IMAGENET_MEAN, IMAGENET_STD

_MAX_BASE_DEPTH = 4


@dataclass
class ModelConfig:
    name: str = "ftunetformer"
    #: Local backbone weights file, or "timm" to download (only when you ask for it).
    pretrained: str | None = None
    #: Constructor options of the model (e.g. decode_channels, embed_dim, depths, freeze_stages).
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    root: str = "data/biodiversity"
    #: Validation data from another root (e.g. step 1 trains on the combined set, validates on biodiversity).
    val_root: str | None = None
    train_split: str = "Train/Rural"
    val_split: str = "Val/Rural"
    test_split: str | None = "Test/Rural"
    image_dir: str = "images_png"
    mask_dir: str = "masks_png"
    crop_size: int = 512
    scale_range: tuple[float, float] = (0.75, 1.5)
    batch_size: int = 8
    val_batch_size: int = 4
    #: DataLoader worker processes; None: half the cores this process may use (at most 8), see
    #: :func:`landseg.utils.default_workers` — the other half run the model's threads.
    num_workers: int | None = None
    #: None: pin memory only when training on a GPU.
    pin_memory: bool | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


@dataclass
class OptimConfig:
    lr: float = 6e-5
    #: None: same as lr. GeoSeg's own configs use a 10x smaller backbone rate.
    backbone_lr: float | None = None
    weight_decay: float = 0.01
    backbone_weight_decay: float | None = None
    #: "cosine" (one cosine over all epochs), "cosine_restarts" (SGDR) or "constant".
    scheduler: str = "cosine"
    restart_epochs: int = 15
    restart_mult: int = 2
    min_lr: float = 1e-6
    warmup_epochs: int = 0


@dataclass
class LossConfig:
    label_smoothing: float = 0.05
    dice_smooth: float = 0.05
    ce_weight: float = 1.0
    dice_weight: float = 1.0
    #: Weight of the auxiliary head's loss for models that have one (UNetFormer), as in GeoSeg.
    aux_weight: float = 0.4


@dataclass
class TrainerConfig:
    max_epochs: int = 45
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    #: "auto" (from the hardware: landseg.precision.choose_precision), "32", "bf16" or "16"
    #: (Lightning's "32-true", "bf16-mixed", "16-mixed" too). Explicit bf16 on a CPU that only emulates it warns.
    precision: str = "auto"
    monitor: str = "val_mIoU"
    monitor_mode: str = "max"
    seed: int = 42
    deterministic: bool = True
    log_images: int = 4
    check_val_every_n_epoch: int = 1
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = None
    #: Torch CPU threads; None: every core this process may use (os.sched_getaffinity).
    num_threads: int | None = None
    progress_bar: bool = True
    #: Look for tiles shared between train/val/test (geometry + content hashes) and warn.
    check_leakage: bool = True


@dataclass
class TeacherConfig:
    """A frozen teacher for distillation, loaded strictly from any landseg or GeoSeg checkpoint."""

    checkpoint: str = ""
    #: Needed only for checkpoints that record no model (GeoSeg); landseg checkpoints know theirs.
    model: str | None = None
    num_classes: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: Teacher classes x student classes, rows sum to 1 (e.g. OEM's 9 codes -> the 6 classes).
    class_map: list[list[float]] | None = None
    #: The teacher's forward pass: "auto" (bf16 where the hardware has it natively, else fp32/fp16), "32", "bf16".
    precision: str = "auto"


@dataclass
class DistillConfig:
    #: "kl", "dist" (DIST) or "cwd" (channel-wise distillation).
    loss: str = "kl"
    temperature: float = 1.0
    #: total = (1 - alpha) * (CE + Dice) + alpha * KD; set alpha=None to use the two weights instead.
    alpha: float | None = 0.5
    task_weight: float = 1.0
    kd_weight: float = 1.0


@dataclass
class SamplingConfig:
    """Oversample hard tiles: weights keyed by image name (``landseg hard-samples`` writes them)."""

    weights: str = ""
    #: "weighted": draws with replacement, P(tile) proportional to its weight;
    #: "repeat": each tile floor(w) times plus once more with probability w - floor(w).
    mode: str = "weighted"
    #: "dataset" (len of the dataset), "sum_of_weights", or a number of samples.
    epoch_size: str | int = "dataset"
    #: Tiles with no weight in the file: "error" or "default" (use default_weight).
    missing: str = "error"
    default_weight: float = 1.0
    #: Names in the file that the dataset lacks: "error" or "warn".
    unknown: str = "warn"


@dataclass
class Experiment:
    name: str = "experiment"
    output_dir: str | None = None
    classes: list[dict[str, Any]] = field(default_factory=BIODIVERSITY.to_list)
    ignore_index: int = DEFAULT_IGNORE_INDEX
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    #: A checkpoint whose weights start this stage (e.g. step 2 starts from step 1).
    init_from: str | None = None
    teacher: TeacherConfig | None = None
    distill: DistillConfig | None = None
    sampling: SamplingConfig | None = None
    #: Keys (dotted) that must be given on the command line or by the pipeline, e.g. ["init_from"]:
    #: values that are another stage's output, which a config never names itself.
    required: list[str] = field(default_factory=list)
    #: Where this experiment was read from (set by load_config; informational).
    source: str | None = None

    @property
    def class_table(self) -> ClassTable:
        return ClassTable.from_list(self.classes, ignore_index=self.ignore_index)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir or Path("runs") / self.name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig, "loss": LossConfig,
             "trainer": TrainerConfig, "teacher": TeacherConfig, "distill": DistillConfig,
             "sampling": SamplingConfig}
_TOP_LEVEL = {f.name for f in dataclasses.fields(Experiment)} | {"base"}


def _coerce(value: Any, annotation: str, where: str) -> Any:
    """Check a value against a field's annotation (as written in this file); normalise tuples/floats."""
    kinds = annotation.replace(" ", "").split("|")
    if value is None:
        if "None" in kinds:
            return None
        raise ConfigError(f"{where} must not be None (expected {annotation}).")
    base = {k.split("[")[0] for k in kinds}
    if "tuple" in base:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be a list or tuple, got {value!r}.")
        return tuple(value)
    if "Any" in base:
        return value
    accepted = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "dict": (dict,),
                "list": (list,)}
    types_ = tuple(t for k in base if k in accepted for t in accepted[k])
    if not isinstance(value, types_) or (isinstance(value, bool) and "bool" not in base):
        raise ConfigError(f"{where} must be {annotation}, got {value!r}.")
    if "float" in base and "int" not in base and type(value) is int:
        return float(value)
    return value


def _build_section(cls: type, values: dict[str, Any], section: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"'{section}' must be a dict, got {values!r}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if cls is ModelConfig:
        # Everything but name/pretrained is a constructor option; the model validates those.
        values = dict(values)
        opts = {k: values.pop(k) for k in list(values) if k not in fields}
        values["options"] = {**values.get("options", {}), **opts}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"Unknown key(s) in '{section}': {', '.join(unknown)}. "
                          f"Valid keys: {', '.join(sorted(fields))}.")
    kwargs = {k: _coerce(v, str(fields[k].type), f"{section}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def build_experiment(raw: dict[str, Any]) -> Experiment:
    """Validate a merged config dict into an :class:`Experiment`."""
    raw = {k: v for k, v in raw.items() if k != "base"}
    unknown = sorted(set(raw) - _TOP_LEVEL)
    if unknown:
        raise ConfigError(f"Unknown config key(s): {', '.join(unknown)}. Valid keys: {', '.join(sorted(_TOP_LEVEL))}.")
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SECTIONS:
            kwargs[key] = None if value is None else _build_section(_SECTIONS[key], value, key)
        else:
            ann = str(next(f.type for f in dataclasses.fields(Experiment) if f.name == key))
            kwargs[key] = _coerce(value, ann, key)
    exp = Experiment(**kwargs)
    try:
        exp.class_table  # noqa: B018 - validates names, colours and ignore_index
    except ValueError as exc:
        raise ConfigError(f"classes: {exc}") from None
    _validate(exp)
    return exp


def _validate(exp: Experiment) -> None:
    d, t, o = exp.data, exp.trainer, exp.optim
    if d.crop_size % DEFAULT_STRIDE:
        raise ConfigError(f"data.crop_size must be a multiple of {DEFAULT_STRIDE} (the models' stride), "
                          f"got {d.crop_size}.")
    if not 0 < d.scale_range[0] <= d.scale_range[1]:
        raise ConfigError(f"data.scale_range must be (low, high) with 0 < low <= high, got {d.scale_range}.")
    t.precision = _precision(t.precision, "trainer.precision")
    if t.num_threads is not None and t.num_threads < 1:
        raise ConfigError(f"trainer.num_threads must be >= 1 (or None: every available core), got {t.num_threads}.")
    if d.num_workers is not None and d.num_workers < 0:
        raise ConfigError(f"data.num_workers must be >= 0 (or None: half the cores), got {d.num_workers}.")
    if t.monitor_mode not in ("max", "min"):
        raise ConfigError(f"trainer.monitor_mode must be 'max' or 'min', got {t.monitor_mode!r}.")
    if o.scheduler not in ("cosine", "cosine_restarts", "constant"):
        raise ConfigError(f"optim.scheduler {o.scheduler!r} is not valid. Use 'cosine', 'cosine_restarts' or 'constant'.")
    for name in ("batch_size", "val_batch_size"):
        if getattr(d, name) < 1:
            raise ConfigError(f"data.{name} must be >= 1.")
    if (exp.teacher is None) != (exp.distill is None):
        raise ConfigError("Distillation needs both a 'teacher' and a 'distill' section (one is missing).")
    if exp.teacher is not None:
        if not exp.teacher.checkpoint:
            raise ConfigError("teacher.checkpoint is required (a landseg or GeoSeg checkpoint): the pipeline passes "
                              "it; by hand add teacher.checkpoint=PATH to `landseg train -c CONFIG`.")
        exp.teacher.precision = _precision(exp.teacher.precision, "teacher.precision")
    if exp.distill is not None:
        from landseg.training.kd_losses import KD_LOSSES

        kd = exp.distill
        if kd.loss not in KD_LOSSES:
            raise ConfigError(f"distill.loss {kd.loss!r} is not valid; choose one of {', '.join(KD_LOSSES)}.")
        if kd.temperature <= 0:
            raise ConfigError(f"distill.temperature must be > 0, got {kd.temperature}.")
        if kd.alpha is not None and not 0.0 <= kd.alpha <= 1.0:
            raise ConfigError(f"distill.alpha must be in [0, 1] (or None to use task_weight/kd_weight), got {kd.alpha}.")
    if exp.sampling is not None:
        sm = exp.sampling
        if not sm.weights:
            raise ConfigError("sampling.weights is required: a sample_weights.tsv from `landseg hard-samples` (the "
                              "pipeline passes it; by hand add sampling.weights=PATH to `landseg train -c CONFIG`).")
        if sm.mode not in ("weighted", "repeat"):
            raise ConfigError(f"sampling.mode must be 'weighted' or 'repeat', got {sm.mode!r}.")
        if isinstance(sm.epoch_size, str) and sm.epoch_size not in ("dataset", "sum_of_weights"):
            raise ConfigError(f"sampling.epoch_size must be 'dataset', 'sum_of_weights' or a number, got {sm.epoch_size!r}.")
        if isinstance(sm.epoch_size, int) and sm.epoch_size < 1:
            raise ConfigError(f"sampling.epoch_size must be >= 1, got {sm.epoch_size}.")
        if sm.missing not in ("error", "default") or sm.unknown not in ("error", "warn"):
            raise ConfigError("sampling.missing must be 'error' or 'default'; sampling.unknown 'error' or 'warn'.")


def _check_required(exp: Experiment, source: str) -> None:
    """Every key the config lists in ``required`` has a value (from the command line or the pipeline)."""
    data = exp.to_dict()
    for key in exp.required:
        node: Any = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node in (None, ""):
            raise ConfigError(f"Config {source} needs {key}: it is another stage's output, so the config does not "
                              f"name it. The pipeline passes it; by hand give it on the command line, e.g. "
                              f"`landseg train -c {source} {key}=PATH`.")


def _precision(value: str, where: str) -> str:
    from landseg.precision import normalize_precision

    try:
        return normalize_precision(value)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}")
    if path.suffix != ".py":
        raise ConfigError(f"Config {path} must be a Python file (.py).")
    try:
        ns = runpy.run_path(str(path))
    except Exception as exc:  # noqa: BLE001 - the user's file failed to execute; report where
        raise ConfigError(f"Config {path} failed to run: {type(exc).__name__}: {exc}") from None
    return {k: v for k, v in ns.items() if not k.startswith("_") and not isinstance(v, types.ModuleType)
            and not callable(v)}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _base_chain(path: Path, strict: bool) -> list[tuple[Path, dict[str, Any]]]:
    """``path`` and every ``base`` file it builds on, nearest first, each with its content.

    ``strict`` raises for a missing file or a chain deeper than ``_MAX_BASE_DEPTH``; otherwise the
    chain simply stops there (a stage key hashes what exists; loading reports the problem).
    """
    chain: list[tuple[Path, dict[str, Any]]] = []
    while strict or path.is_file():
        raw = _read_file(path)
        chain.append((path, raw))
        base = raw.get("base")
        if not base:
            break
        if len(chain) > _MAX_BASE_DEPTH:
            if strict:
                raise ConfigError(f"Config {path}: more than {_MAX_BASE_DEPTH} levels of 'base'; flatten the chain.")
            break
        path = (path.parent / base).resolve()
    return chain


def load_raw(path: str | Path) -> dict[str, Any]:
    """Read a config file and the chain of ``base`` files it builds on, merged."""
    merged: dict[str, Any] = {}
    for _, raw in reversed(_base_chain(Path(path), strict=True)):
        merged = _merge(merged, {k: v for k, v in raw.items() if k != "base"})
    return merged


def config_files(path: str | Path) -> list[Path]:
    """A config file and every ``base`` it builds on, in order: their content decides the experiment."""
    return [p for p, _ in _base_chain(Path(path), strict=False)]


def parse_override(text: str) -> tuple[list[str], Any]:
    """``trainer.max_epochs=3`` -> (["trainer", "max_epochs"], 3). Values are Python literals or strings."""
    if "=" not in text:
        raise ConfigError(f"Override {text!r} must look like key=value (e.g. trainer.max_epochs=3).")
    key, value = text.split("=", 1)
    try:
        parsed: Any = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return key.strip().split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = dict(raw)
    for item in overrides:
        keys, value = parse_override(item)
        nested: Any = value
        for k in reversed(keys[1:]):
            nested = {k: nested}
        out = _merge(out, {keys[0]: nested})
    return out


def load_config(path: str | Path, overrides: list[str] | None = None) -> Experiment:
    """Load, merge, override and validate an experiment config file."""
    raw = apply_overrides(load_raw(path), overrides or [])
    exp = build_experiment(raw)
    exp.source = str(path)
    _check_required(exp, str(path))
    return exp


def experiment_from_dict(raw: dict[str, Any]) -> Experiment:
    """Rebuild an experiment stored inside a checkpoint (same validation as a file)."""
    raw = dict(raw)
    source = raw.pop("source", None)
    exp = build_experiment(raw)
    exp.source = source
    return exp
