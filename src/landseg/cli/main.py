"""The ``landseg`` command: a thin dispatcher over one module per command.

Each command module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
and keeps heavy imports (torch, lightning) inside ``run`` so ``landseg --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from landseg import __version__
from landseg.errors import LandsegError

#: command name -> module under landseg.cli; the order is the order shown in --help.
COMMANDS: dict[str, str] = {
    "synth": "synth",
    "train": "train",
    "evaluate": "evaluate",
    "split": "split",
    "check-leakage": "check_leakage",
    "hard-samples": "hard_samples",
    "import-oem": "import_oem",
    "remap": "remap",
    "stats": "stats",
    "combine": "combine",
    "filter": "filter",
    "undo": "undo",
    "predict-pair": "predict_pair",
    "review": "review",
    "replace-masks": "replace_masks",
    "pipeline": "pipeline",
    "report": "report",
    "ablate": "ablate",
    "export": "export",
    "model-card": "model_card",
    "predict": "predict",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landseg",
        description="Land-cover segmentation for biodiversity monitoring (GeoSeg-compatible).",
    )
    parser.add_argument("--version", action="version", version=f"landseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"landseg.cli.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


#: Exit code of an unexpected exception (sysexits' EX_SOFTWARE), apart from 2 for bad input.
BUG_EXIT = 70


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except LandsegError as exc:
        # landseg's own errors carry a message naming the file/value and what to do: one line, exit 2.
        print(f"landseg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception:
        # Anything else is a bug (an input landseg should have checked, or its own mistake): show where.
        traceback.print_exc()
        print(f"\nlandseg {args.command}: internal error (exit {BUG_EXIT}). This is a bug in landseg, not in your "
              "input: please report it with the traceback above and the command you ran.", file=sys.stderr)
        return BUG_EXIT


if __name__ == "__main__":
    sys.exit(main())
