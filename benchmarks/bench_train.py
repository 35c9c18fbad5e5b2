#!/usr/bin/env python
"""CPU throughput benchmark: FT-UNetFormer train step and eval forward, fp32 vs bf16 autocast.

Measures, for each selected model and for fp32 and bf16 autocast
(``torch.autocast("cpu", dtype=torch.bfloat16)``):

* **train** — one optimisation step: ``zero_grad`` + forward + CE+Dice loss (both under autocast)
  + backward + AdamW step (fp32 master weights, outside autocast);
* **eval** — one forward in ``eval()`` mode under ``torch.inference_mode()``.

Each case runs ``W`` warm-up iterations, then ``N`` timed ones; the table reports the median
seconds per iteration, images/s (= batch / median) and the bf16 speed-up over fp32 of the same
case. Inputs and targets are random (fixed seeds), the weights are random (nothing is downloaded).

Default cases (the issue's "batch 2, 256² train, 512² eval, 2 threads"):

==================== ====== ===== ======= =============== ======================
model                mode   batch size    warm-up / iters notes
==================== ====== ===== ======= =============== ======================
ftunetformer         train  2     256²    2 / 5           Swin-B, ~96 M params
ftunetformer         eval   2     512²    2 / 5
ftunetformer_tiny    train  8     256²    3 / 10          demo preset, ~1.4 M
ftunetformer_tiny    eval   8     256²    3 / 10
==================== ====== ===== ======= =============== ======================

Full run (a few minutes on 2 cores; run from the repository root)::

    .venv/bin/python benchmarks/bench_train.py --json runs/bench_train.json

Smoke run used by ``tests/test_benchmarks.py`` (a few seconds)::

    .venv/bin/python benchmarks/bench_train.py --quick --models ftunetformer_tiny --json /tmp/bench.json

``--warmup`` / ``--iters`` override every case's counts; ``--precisions fp32`` or ``bf16`` runs one
precision only; ``--modes train`` or ``eval`` one mode only. Check ``uptime`` first: another
process competing for the cores makes the numbers meaningless.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

NUM_CLASSES = 6
PRECISIONS = ("fp32", "bf16")
MODES = ("train", "eval")


@dataclass(frozen=True)
class Case:
    model: str
    mode: str  # "train" | "eval"
    batch: int
    size: int
    warmup: int
    iters: int


# model -> list of (mode, batch, size, warmup, iters)
FULL_CASES: dict[str, list[tuple[str, int, int, int, int]]] = {
    "ftunetformer": [("train", 2, 256, 2, 5), ("eval", 2, 512, 2, 5)],
    "ftunetformer_tiny": [("train", 8, 256, 3, 10), ("eval", 8, 256, 3, 10)],
}
QUICK_CASES: dict[str, list[tuple[str, int, int, int, int]]] = {
    "ftunetformer": [("train", 1, 64, 1, 1), ("eval", 1, 64, 1, 1)],
    "ftunetformer_tiny": [("train", 2, 64, 1, 1), ("eval", 2, 64, 1, 1)],
}


def cpu_info() -> dict[str, Any]:
    """CPU model name and bf16-relevant ISA flags from /proc/cpuinfo (Linux; empty elsewhere)."""
    name, flags = platform.processor() or "unknown", set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and name in ("unknown", platform.processor()):
            name = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return {
        "cpu_model": name,
        "amx_bf16": "amx_bf16" in flags,
        "amx_tile": "amx_tile" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "logical_cpus": os.cpu_count(),
    }


def autocast_for(precision: str):
    from landseg.inference.forward import autocast_context

    return autocast_context("cpu", "bf16" if precision == "bf16" else "32")


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_train(model: torch.nn.Module, init_state: dict, case: Case, precision: str) -> list[float]:
    from landseg.training.losses import CEDiceLoss

    model.load_state_dict(init_state)  # every precision starts from the same weights
    model.train()
    criterion = CEDiceLoss(num_classes=NUM_CLASSES)
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4, weight_decay=0.01)
    gen = torch.Generator().manual_seed(1234)
    x = torch.randn(case.batch, 3, case.size, case.size, generator=gen)
    y = torch.randint(0, NUM_CLASSES, (case.batch, case.size, case.size), generator=gen)
    torch.manual_seed(0)  # drop-path masks

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(precision):
            loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    times = []
    for i in range(case.warmup + case.iters):
        t0 = time.perf_counter()
        loss = step()
        dt = time.perf_counter() - t0
        if not torch.isfinite(torch.tensor(loss)):
            raise RuntimeError(f"{case.model} {precision} train step gave a non-finite loss ({loss}).")
        if i >= case.warmup:
            times.append(dt)
    model.zero_grad(set_to_none=True)
    return times


def time_eval(model: torch.nn.Module, case: Case, precision: str) -> list[float]:
    model.eval()
    gen = torch.Generator().manual_seed(4321)
    x = torch.randn(case.batch, 3, case.size, case.size, generator=gen)
    times = []
    with torch.inference_mode():
        for i in range(case.warmup + case.iters):
            t0 = time.perf_counter()
            with autocast_for(precision):
                out = model(x)
            dt = time.perf_counter() - t0
            if out.shape != (case.batch, NUM_CLASSES, case.size, case.size):
                raise RuntimeError(f"{case.model} eval output has shape {tuple(out.shape)}.")
            del out
            if i >= case.warmup:
                times.append(dt)
    return times


def run(args: argparse.Namespace) -> dict[str, Any]:
    from landseg.models import build_model

    torch.set_num_threads(args.threads)
    table = QUICK_CASES if args.quick else FULL_CASES
    info = {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        **cpu_info(),
        "load_avg_start": list(os.getloadavg()),
        "quick": args.quick,
    }
    results: list[dict[str, Any]] = []
    for name in args.models:
        torch.manual_seed(0)
        model = build_model(name, NUM_CLASSES)
        params = sum(p.numel() for p in model.parameters())
        init_state = copy.deepcopy(model.state_dict())
        for mode, batch, size, warmup, iters in table[name]:
            if mode not in args.modes:
                continue
            case = Case(
                name,
                mode,
                batch,
                size,
                args.warmup if args.warmup is not None else warmup,
                args.iters if args.iters is not None else iters,
            )
            case_rows: list[dict[str, Any]] = []
            for precision in args.precisions:
                gc.collect()
                if mode == "train":
                    times = time_train(model, init_state, case, precision)
                else:
                    times = time_eval(model, case, precision)
                med = statistics.median(times)
                row = {
                    **asdict(case),
                    "params": params,
                    "precision": precision,
                    "s_per_iter": med,
                    "s_min": min(times),
                    "s_max": max(times),
                    "times": times,
                    "images_per_s": batch / med,
                    "speedup_vs_fp32": None,
                    "peak_rss_mib": peak_rss_mib(),
                }
                case_rows.append(row)
                print(
                    f"  {name:<18} {mode:<5} {precision:<4} b{batch} {size}²: "
                    f"{med:.3f} s/iter  {batch / med:.2f} img/s",
                    file=sys.stderr,
                    flush=True,
                )
            base = next((r["s_per_iter"] for r in case_rows if r["precision"] == "fp32"), None)
            for r in case_rows:
                if base is not None and r["precision"] != "fp32":
                    r["speedup_vs_fp32"] = base / r["s_per_iter"]
            results.extend(case_rows)
        del model, init_state
        gc.collect()
    info["load_avg_end"] = list(os.getloadavg())
    return {"info": info, "results": results}


def fmt_params(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.0f} k"


def markdown(report: dict[str, Any]) -> str:
    info = report["info"]
    lines = [
        f"torch {info['torch']} (python {info['python']}), threads={info['threads']}, "
        f"CPU: {info['cpu_model']} ({info['logical_cpus']} logical), "
        f"AMX-BF16: {'yes' if info['amx_bf16'] else 'no'}, "
        f"AVX512-BF16: {'yes' if info['avx512_bf16'] else 'no'}, "
        f"ATen CPU capability: {info['cpu_capability']}",
        f"load average (1/5/15 min) at start: {' '.join(f'{v:.2f}' for v in info['load_avg_start'])}, "
        f"at end: {' '.join(f'{v:.2f}' for v in info['load_avg_end'])}",
        "",
        "| model | params | mode | precision | batch | size | s/iter (median) | images/s | speed-up vs fp32 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        speedup = "—" if r["speedup_vs_fp32"] is None else f"{r['speedup_vs_fp32']:.2f}×"
        lines.append(
            f"| {r['model']} | {fmt_params(r['params'])} | {r['mode']} | {r['precision']} | {r['batch']} | "
            f"{r['size']}² | {r['s_per_iter']:.3f} | {r['images_per_s']:.2f} | {speedup} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="CPU train-step / eval-forward benchmark for FT-UNetFormer, fp32 vs bf16 autocast.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--models", nargs="+", default=list(FULL_CASES), choices=list(FULL_CASES), help="models to benchmark"
    )
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES, help="what to time")
    p.add_argument(
        "--precisions",
        nargs="+",
        default=list(PRECISIONS),
        choices=PRECISIONS,
        help="precisions (the speed-up column needs fp32 among them)",
    )
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="warm-up iterations for every case (None: per-case defaults, see the module docstring)",
    )
    p.add_argument(
        "--iters", type=int, default=None, help="timed iterations for every case (None: per-case defaults)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 64² inputs, small batches, 1 warm-up and 1 timed iteration",
    )
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write results as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.warmup = 1 if args.warmup is None else args.warmup
        args.iters = 1 if args.iters is None else args.iters
    if (args.iters is not None and args.iters < 1) or (args.warmup is not None and args.warmup < 0):
        p.error("--iters must be >= 1 and --warmup >= 0")
    if args.threads < 1:
        p.error("--threads must be >= 1")
    return args


def publish(table: str, report: dict[str, Any], json_path: Path | None) -> None:
    """Print the Markdown table and, when asked, write the report as JSON (shared by the benchmarks)."""
    print(table)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nJSON written to {json_path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    publish(markdown(report), report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
