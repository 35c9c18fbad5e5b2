"""Run the whole multi-stage workflow from a pipeline file, resumably, with provenance.

Stages whose parameters, config files and upstream stages are unchanged are skipped; changing one
config re-runs that stage and everything downstream; a training stage killed half-way resumes
from its last checkpoint. A stage that needs a person (review without --auto) stops the pipeline
with a message saying what to do; the next run continues. A profile lays changes over the
pipeline file (the demo is the seed workflow under config/demo/profile.yaml).

Examples:
  landseg pipeline run config/biodiversity/pipeline.yaml                       # your data
  landseg pipeline run config/biodiversity/pipeline.yaml --dry-run             # what would run; missing inputs
  landseg pipeline run config/biodiversity/pipeline.yaml --profile config/demo/profile.yaml   # = make demo
  landseg pipeline run config/biodiversity/pipeline.yaml --from step2_finetune
  landseg pipeline run config/biodiversity/pipeline.yaml --only evaluate
"""

from __future__ import annotations

import argparse

NAME = "pipeline"
HELP = "run the multi-stage workflow (pipeline run PIPELINE.yaml [--profile P] [--from/--only/--dry-run])"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["run"], help="what to do (run)")
    p.add_argument("pipeline", nargs="?", default="config/biodiversity/pipeline.yaml", help="pipeline file (YAML)")
    p.add_argument("--profile", action="append", default=[], metavar="PROFILE.yaml",
                   help="lay this profile over the pipeline (repeatable, applied in order), e.g. config/demo/profile.yaml")
    p.add_argument("--from", dest="from_stage", default=None, metavar="STAGE",
                   help="re-run this stage and everything downstream of it")
    p.add_argument("--only", default=None, metavar="STAGE", help="run just this stage (its inputs must exist)")
    p.add_argument("--dry-run", action="store_true",
                   help="say which stages would run and why, and which inputs are missing; change nothing "
                        "(exit 1 when inputs are missing)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from landseg.pipeline import run_pipeline

    res = run_pipeline(args.pipeline, profiles=args.profile, from_stage=args.from_stage, only=args.only,
                       dry_run=args.dry_run, progress=not args.no_progress)
    verb = "would run" if args.dry_run else "ran"
    print(f"pipeline: {verb} {len(res.ran)} stage(s) ({', '.join(res.ran) or 'none'}), skipped "
          f"{len(res.skipped)}; records in {res.run_dir}/<stage>/stage.json")
    if res.missing:
        print(f"Missing inputs ({len(res.missing)}): the pipeline would stop before its first stage.")
        for stage, path, what in res.missing:
            print(f"  {path}  — {what}, needed by stage {stage!r}")
        return 1
    if res.waiting:
        print(f"Waiting for a person at stage {res.waiting!r}: {res.message}")
        return 3
    return 0
