"""Run a pipeline over varied settings × training seeds and compare the variants beyond seed noise.

Each (variant, seed) is a full pipeline run in OUT/<variant>/seed<k>/ (its derived pipeline.yaml
and stage records). Seeds 0..N-1 are set as trainer.seed on every train stage; data stages keep
their own seeds, so only training randomness varies. Each variant is compared with the reference
(the first variant unless --reference) on the evaluate stage's scores: mean difference across seeds
in mIoU (counted classes and all classes) and per-class IoU, with a paired bootstrap 95% interval.
An interval containing 0 means no evidence of a difference beyond seed noise.

Upstream stages are not shared between runs; the pipeline's own skipping makes re-running an
ablation cheap (only missing or changed stages run).

Examples:
  landseg ablate config/biodiversity/pipeline.yaml --profile config/demo/profile.yaml --vary kd.overrides.distill.loss=kl,dist --seeds 5
  landseg ablate config/biodiversity/pipeline.yaml --profile config/demo/profile.yaml --vary step3_kd_hard.overrides.sampling.mode=weighted,repeat \\
      --seeds 5 --out runs/ablate_sampling --emit-jobs      # derived pipelines + jobs.txt, runs nothing
  landseg ablate config/biodiversity/pipeline.yaml --profile config/demo/profile.yaml --vary step3_kd_hard.overrides.sampling.mode=weighted,repeat \\
      --seeds 5 --out runs/ablate_sampling --collect        # after the jobs ran: the report only
"""

from __future__ import annotations

import argparse

NAME = "ablate"
HELP = "run a pipeline over --vary values × --seeds and report differences with bootstrap intervals"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pipeline", help="pipeline file (YAML) with an evaluate stage")
    p.add_argument("--vary", action="append", default=[], metavar="STAGE.PARAM.PATH=V1,V2",
                   help="values of one stage parameter (YAML scalars), e.g. kd.overrides.distill.loss=kl,dist; "
                        "repeatable (the cartesian product is run)")
    p.add_argument("--profile", action="append", default=[], metavar="PROFILE.yaml",
                   help="lay this profile over the pipeline first (repeatable), e.g. config/demo/profile.yaml")
    p.add_argument("--seeds", type=int, default=5, metavar="N",
                   help="training seeds 0..N-1 per variant, set as trainer.seed on every train stage (default 5)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="ablation folder (default runs/<pipeline name>_ablation)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--emit-jobs", action="store_true",
                      help="write the derived pipelines and OUT/jobs.txt for a scheduler; run nothing")
    mode.add_argument("--collect", action="store_true", help="only gather finished runs and write the report")
    p.add_argument("--reference", default=None, metavar="VARIANT",
                   help="variant (label or folder name) the others are compared with (default: the first)")
    p.add_argument("--split", default="Test", help="evaluated split to compare (default Test)")
    p.add_argument("--result", default=None, metavar="NAME",
                   help="which of the evaluate stage's models to compare (default: its last)")
    p.add_argument("--evaluate-stage", default=None, metavar="STAGE",
                   help="evaluate stage to read (default: the pipeline's last evaluate stage)")
    p.add_argument("--n-boot", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from landseg.pipeline import load_pipeline
    from landseg.pipeline.ablation import collect_ablation, emit_jobs, plan_ablation, run_ablation

    out = args.out or f"runs/{load_pipeline(args.pipeline, args.profile).name}_ablation"
    plan = plan_ablation(args.pipeline, args.vary, args.seeds, out, evaluate_stage=args.evaluate_stage,
                         profiles=args.profile)
    print(f"ablate: {len(plan.variants)} variant(s) × {len(plan.seeds)} seed(s) = {len(plan.runs)} pipeline runs "
          f"in {plan.out}")
    if args.emit_jobs:
        jobs = emit_jobs(plan)
        print(f"wrote {len(plan.runs)} pipeline files and {jobs}; when they have run: the same command with "
              "--collect instead of --emit-jobs")
        return 0
    waiting = [] if args.collect else run_ablation(plan, progress=not args.no_progress)
    report = collect_ablation(plan, split=args.split, model=args.result, reference=args.reference,
                              n_boot=args.n_boot)
    print()
    print(report.markdown())
    print(f"wrote {plan.out / 'ablation.md'} and {plan.out / 'ablation.json'}")
    if waiting:
        print("Waiting for a person in:\n  " + "\n  ".join(waiting))
        return 3
    return 0
