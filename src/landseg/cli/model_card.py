"""Write MODEL_CARD.md for a pipeline run from its stage records (RUN_DIR/<stage>/stage.json) alone.

The card covers intended and out-of-scope use, classes and colours, training data (sources, sizes,
corrections, filtering), every stage with its key, commit and duration, per-class Val/Test metrics,
known limitations, data licences and how to run inference. Missing stages read "not recorded".

Examples:
  landseg model-card runs/demo                          # the most downstream finished model
  landseg model-card runs/demo --stage step2_finetune --out MODEL_CARD.md
"""

from __future__ import annotations

import argparse

NAME = "model-card"
HELP = "write MODEL_CARD.md for a pipeline run from its stage records"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the pipeline's run_dir (holds <stage>/stage.json)")
    p.add_argument("--stage", default=None, metavar="STAGE",
                   help="train stage the card describes (default: the most downstream finished one)")
    p.add_argument("--out", default=None, help="output file (default: RUN_DIR/MODEL_CARD.md)")


def run(args: argparse.Namespace) -> int:
    from landseg.report.model_card import write_model_card

    res = write_model_card(args.run_dir, args.out, model=args.stage)
    print(f"wrote {res.path} (model: {res.model or 'not recorded'})")
    if res.missing:
        print(f"not recorded in {args.run_dir}: {', '.join(res.missing)} stage(s)")
    return 0
