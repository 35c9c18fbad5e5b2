#!/usr/bin/env python
"""Distillation overhead: a KD training step versus a plain step, on CPU.

A KD step is a plain step (student forward + CE/Dice + backward + AdamW) plus one teacher forward
under ``torch.no_grad`` and the KD loss. The teacher only runs forward, so bf16 autocast is a free
speed-up for it; this script measures the overhead with the teacher in fp32 and in bf16.

Cases (2 threads):

* ``swinb``: Swin-B FT-UNetFormer student and Swin-B teacher (the seed's KD stage), batch 2, 256².
* ``tiny``:  ``ftunetformer_tiny`` student, ``ftunetformer_small`` teacher (the demo), batch 8, 256².

Run from the repository root (~2 min)::

    .venv/bin/python benchmarks/bench_kd.py --json runs/bench_kd.json
    .venv/bin/python benchmarks/bench_kd.py --quick          # smoke run, seconds
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import cpu_info  # noqa: E402  (sibling script, shared CPU description)

from landseg.inference.forward import autocast_context  # noqa: E402
from landseg.models import build_model  # noqa: E402
from landseg.training.kd_losses import DistillationLoss  # noqa: E402
from landseg.training.losses import CEDiceLoss  # noqa: E402

CASES = {
    "swinb": {"student": "ftunetformer", "teacher": "ftunetformer", "batch": 2, "size": 256, "warmup": 1, "iters": 4},
    "tiny": {"student": "ftunetformer_tiny", "teacher": "ftunetformer_small", "batch": 8, "size": 256,
             "warmup": 2, "iters": 8},
}


def time_steps(case: dict[str, Any], kd: str | None) -> list[float]:
    """Seconds per training step; ``kd`` is None (plain), "32" or "bf16" (teacher precision)."""
    torch.manual_seed(0)
    student = build_model(case["student"], 6).train()
    teacher = build_model(case["teacher"], 6).eval().requires_grad_(False) if kd else None
    criterion, kd_loss = CEDiceLoss(6), DistillationLoss("kl", temperature=2.0)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(case["batch"], 3, case["size"], case["size"], generator=gen)
    y = torch.randint(0, 6, (case["batch"], case["size"], case["size"]), generator=gen)
    times = []
    for i in range(case["warmup"] + case["iters"]):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = student(x)
        loss = criterion(logits, y)
        if teacher is not None:
            with torch.no_grad(), autocast_context("cpu", kd or "32"):
                t_logits = teacher(x).float()
            loss = 0.5 * loss + 0.5 * kd_loss(logits, t_logits, y)
        loss.backward()
        opt.step()
        if i >= case["warmup"]:
            times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="swinb,tiny", help="comma-separated: swinb, tiny")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="tiny case at 64², 1 iteration (smoke test)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cases = {k: dict(CASES[k]) for k in args.cases.split(",")}
    if args.quick:
        cases = {"tiny": {**CASES["tiny"], "size": 64, "batch": 2, "warmup": 1, "iters": 1}}
    info = cpu_info()
    print(f"torch {torch.__version__}, threads={args.threads}, CPU: {info.get('cpu_model')}, "
          f"AMX-BF16: {'yes' if info.get('amx_bf16') else 'no'}, AVX512-BF16: {'yes' if info.get('avx512_bf16') else 'no'}")
    rows = []
    for name, case in cases.items():
        plain = statistics.median(time_steps(case, None))
        for prec in ("32", "bf16"):
            step = statistics.median(time_steps(case, prec))
            rows.append({"case": name, "student": case["student"], "teacher": case["teacher"], "batch": case["batch"],
                         "size": case["size"], "teacher_precision": "fp32" if prec == "32" else "bf16",
                         "plain_s": plain, "kd_s": step, "overhead_pct": 100 * (step / plain - 1)})
    print("\n| student | teacher (precision) | batch | size | plain step s | KD step s | KD overhead |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['student']} | {r['teacher']} ({r['teacher_precision']}, no-grad) | {r['batch']} | {r['size']}² "
              f"| {r['plain_s']:.3f} | {r['kd_s']:.3f} | {r['overhead_pct']:+.0f}% |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpu": info, "threads": args.threads, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
