"""Argument groups shared by several commands (one definition, so their flags never drift apart)."""

from __future__ import annotations

import argparse
from typing import Any


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """--model (a file) plus the options that rebuild a model from a checkpoint recording none (GeoSeg).

    One meaning per name across commands: ``--model`` is always a model *file* (``--checkpoint`` is
    accepted as its older spelling), ``--arch`` the architecture.
    """
    p.add_argument("--model", "--checkpoint", dest="model", required=True, metavar="FILE",
                   help="landseg or GeoSeg checkpoint (.ckpt/.pth)")
    p.add_argument("--arch", default=None, help="architecture for checkpoints that record none (GeoSeg), e.g. ftunetformer")
    p.add_argument("--model-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor option for --arch, repeatable (e.g. decode_channels=256)")
    p.add_argument("--num-classes", type=int, default=None, help="class count for GeoSeg checkpoints (default 6)")


def add_data_arguments(p: argparse.ArgumentParser, split: str) -> None:
    """--data, --split, --out and --mask-dir for commands that score a checkpoint on a split."""
    p.add_argument("--data", required=True, help="dataset root (LoveDA layout or flat)")
    p.add_argument("--split", default=split, help=f"split folder, e.g. {split} or {split}/Rural (default: {split})")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--mask-dir", default="masks_png", help="mask folder name, e.g. masks_png_clean (default masks_png)")


def add_runtime_arguments(p: argparse.ArgumentParser, batch_size: int, batch_help: str = "tiles per forward pass") -> None:
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"{batch_help} (default {batch_size})")
    add_precision_argument(p)
    p.add_argument("--device", default="cpu")


def add_precision_argument(p: argparse.ArgumentParser, choices: tuple[str, ...] | None = None) -> None:
    """--precision, default auto: chosen from the hardware by landseg.precision (printed at start)."""
    from landseg.precision import PRECISIONS

    p.add_argument("--precision", default="auto", choices=list(choices or PRECISIONS),
                   help="auto (default): bf16 where the CPU (AMX/AVX512-BF16) or GPU (sm_80+) has it natively, "
                        "else fp32 (CPU) or fp16 (older GPUs); explicit bf16 on a CPU without it warns (emulated, slow)")


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for ``load_model`` from the parsed model arguments."""
    from landseg.training.config import parse_override

    options = {}
    for item in args.model_opt:
        keys, value = parse_override(item)
        options[".".join(keys)] = value
    return {"model": args.arch, "options": options or None, "num_classes": args.num_classes}
