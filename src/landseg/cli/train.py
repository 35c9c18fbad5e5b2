"""Train one stage from a Python config file.

Examples:
  landseg train -c config/demo/baseline.py
  landseg train -c config/biodiversity/ftunetformer-512-crop-ms-e45.py data.root=/data/biodiversity
  landseg train -c config/demo/baseline.py --resume          # continue a killed run from last.ckpt
  landseg train -c config/demo/baseline.py trainer.devices=2 trainer.strategy=ddp   # DDP
  landseg train -c config/demo/baseline.py trainer.precision=32     # precision: auto (default) picks from the hardware

Overrides are ``section.key=value`` with Python literals (e.g. ``trainer.max_epochs=3``).
"""

from __future__ import annotations

import argparse

NAME = "train"
HELP = "train a model from a config file (supervised or distillation)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, help="Python config file (see config/)")
    p.add_argument("--resume", action="store_true", help="continue from <run_dir>/checkpoints/last.ckpt")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. trainer.max_epochs=3")


def run(args: argparse.Namespace) -> int:
    import json

    from landseg.training.config import load_config
    from landseg.utils import jsonable

    exp = load_config(args.config, args.overrides)
    if args.print_config:
        print(json.dumps(jsonable(exp.to_dict()), indent=2))
        return 0
    from landseg.training.train import train

    result = train(exp, resume=args.resume)
    score = "n/a" if result.best_score is None else f"{result.best_score:.4f}"
    print(f"best {result.monitor} = {score}  ({result.epochs} epochs, {result.seconds:.0f} s)")
    if result.precision:
        print(f"precision: {result.precision['label']} ({result.precision['reason']})")
    print(f"best checkpoint: {result.best_checkpoint}")
    print(f"last checkpoint: {result.last_checkpoint}")
    print(f"logs: tensorboard --logdir {result.run_dir / 'tensorboard'}   (CSV: {result.run_dir / 'csv'})")
    return 0
