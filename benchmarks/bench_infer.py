#!/usr/bin/env python
"""Inference throughput on CPU (tiles/s) for every path ``landseg predict`` can take, in one run.

Measured through the same :class:`~landseg.inference.runners.Predictor` objects ``landseg predict``
uses (``open_predictor``), on the Swin-B FT-UNetFormer (``ftunetformer``, 6 classes, random
weights saved once as a landseg checkpoint with tile size 512 under ``runs/bench_infer/``):

* **pytorch fp32** — ``open_predictor(ckpt, precision="32")``: PyTorch eager, float32;
* **pytorch bf16** — ``open_predictor(ckpt, precision="bf16")``: eager under bf16 autocast;
* **onnxruntime fp32** — the checkpoint exported once with ``export_model(ckpt, onnx, "onnx",
  tile=512)`` (cached next to it; re-exported when the checkpoint is newer), then
  ``open_predictor(onnx)``;
* **default (auto)** — ``open_predictor(ckpt, precision="auto")``, what ``landseg predict`` runs
  when no ``--precision`` is given; the precision it chose (``landseg.precision.choose_precision``) is reported.

Input: one fixed batch of ``--batch`` 512² tiles rendered by ``landseg.data.synth`` (seeded
synthetic aerial scenes) and normalised with the checkpoint's mean/std, exactly as the tiler does.
Each path gets 2 warm-up calls, then ``--repeat`` timed calls; the table reports the median s/batch,
tiles/s (= batch / median), the speed-up over pytorch fp32 and the *agreement*: the fraction of
pixels whose argmax class equals pytorch fp32's (target ≥ 0.99). The issue's target, "default path
≥ 2.5× fp32", is reported as a plain boolean, whatever it turns out to be. Predictors are opened one
at a time and freed after their run, so only one copy of the weights is resident.

Random weights give smaller logit margins than a trained model, so the agreement here is a
pessimistic estimate; ``--checkpoint PATH`` benchmarks a real landseg checkpoint instead.

Full run (several minutes on 2 cores, plus a one-off ONNX export; run from the repository root on a
quiet machine — check ``uptime`` first)::

    .venv/bin/python benchmarks/bench_infer.py --json runs/bench_infer.json

Smoke run used by ``tests/test_benchmarks.py`` (``ftunetformer_tiny`` at 64², 1 repeat, 1 thread so
it stays fast while other work shares the cores; its numbers are not results; seconds)::

    .venv/bin/python benchmarks/bench_infer.py --quick --json /tmp/bench_infer.json
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import cpu_info, publish  # noqa: E402  (sibling script: CPU description, output)

REPO = Path(__file__).resolve().parents[1]
NUM_CLASSES = 6
TARGET_SPEEDUP = 2.5  # the target for the default path over pytorch fp32
AGREEMENT_TARGET = 0.99


def make_checkpoint(work: Path, model_name: str, tile: int, seed: int = 0) -> Path:
    """A landseg checkpoint of ``model_name`` with random (seeded) weights and tile size ``tile``.

    Cached: an existing file is reused (the weights are deterministic for a given seed anyway).
    """
    from landseg.models import build_model
    from landseg.training.config import build_experiment
    from landseg.training.module import checkpoint_metadata

    path = work / f"{model_name}_t{tile}_seed{seed}.ckpt"
    if path.is_file():
        return path
    exp = build_experiment({"model": {"name": model_name}, "data": {"crop_size": tile}})
    torch.manual_seed(seed)
    net = build_model(model_name, len(exp.classes))
    work.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
                "landseg": checkpoint_metadata(exp)}, tmp)
    tmp.replace(path)
    return path


def ensure_onnx(ckpt: Path, work: Path, tile: int) -> tuple[Path, float | None]:
    """The ONNX export of ``ckpt`` at ``tile`` (cached); returns (path, export seconds or None if cached)."""
    from landseg.inference.export import export_model

    path = work / f"{ckpt.stem}_t{tile}.onnx"
    if path.is_file() and path.stat().st_mtime >= ckpt.stat().st_mtime:
        return path, None
    res = export_model(ckpt, path, "onnx", tile=tile)
    print(f"exported {path} in {res.seconds:.1f} s (max |Δlogit| vs PyTorch {res.max_abs_diff:.2g})",
          file=sys.stderr, flush=True)
    return path, res.seconds


def synthetic_tiles(batch: int, size: int, seed: int = 0) -> np.ndarray:
    """(batch, 3, size, size) uint8 RGB synthetic aerial scenes (``landseg.data.synth``)."""
    from landseg.data.synth_scene import build_scene, paint_scene

    tiles = []
    for i in range(batch):
        rng = np.random.default_rng([seed, i])
        tiles.append(paint_scene(rng, build_scene(rng, size)).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(tiles))


def normalise(rgb: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """uint8 (N, 3, h, w) → float32 ``(rgb / 255 - mean) / std`` (as ``Tiler.normalise``)."""
    m = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    return ((rgb.astype(np.float32) / np.float32(255.0) - m) / s).astype(np.float32)


def time_predictor(predictor: Any, batch: np.ndarray, warmup: int, repeat: int) -> tuple[list[float], np.ndarray]:
    """Seconds of each timed call and the argmax labels (N, h, w) of the last one."""
    times: list[float] = []
    probs = None
    for i in range(warmup + repeat):
        t0 = time.perf_counter()
        probs = predictor(batch)
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    assert probs is not None
    n, _, h, w = batch.shape
    if probs.shape[0] != n or probs.shape[2:] != (h, w) or not np.isfinite(probs).all():
        raise RuntimeError(f"{predictor.backend} {predictor.precision} returned probabilities of shape "
                           f"{probs.shape} (finite: {bool(np.isfinite(probs).all())}) for a batch of {batch.shape}.")
    return times, probs.argmax(axis=1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from landseg.inference.runners import open_predictor
    from landseg.precision import choose_precision

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    ckpt = args.checkpoint or make_checkpoint(args.work, args.model_name, args.tile)
    onnx_path, export_s = ensure_onnx(ckpt, args.work, args.tile)
    rgb = synthetic_tiles(args.batch, args.tile)

    paths = [  # (label, model file, precision passed to open_predictor)
        ("pytorch fp32", ckpt, "32"),
        ("pytorch bf16", ckpt, "bf16"),
        ("onnxruntime fp32", onnx_path, "auto"),
        ("default (auto)", ckpt, "auto"),
    ]
    info = {
        "torch": torch.__version__,
        "onnxruntime": __import__("onnxruntime").__version__,
        "python": sys.version.split()[0],
        **cpu_info(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "auto_precision_cpu": str(choose_precision("auto", "cpu")),
        "load_avg_start": list(os.getloadavg()),
    }
    rows: list[dict[str, Any]] = []
    reference: np.ndarray | None = None
    batch = None
    for label, path, precision in paths:
        gc.collect()
        t0 = time.perf_counter()
        predictor = open_predictor(path, precision=precision, threads=args.threads)
        load_s = time.perf_counter() - t0
        if batch is None:
            batch = normalise(rgb, predictor.mean, predictor.std)
        times, labels = time_predictor(predictor, batch, args.warmup, args.repeat)
        if reference is None:
            reference = labels  # pytorch fp32 runs first
        med = statistics.median(times)
        rows.append({
            "path": label, "backend": predictor.backend, "precision": predictor.precision,
            "model_file": str(path), "batch": args.batch, "size": args.tile, "threads": torch.get_num_threads(),
            "load_s": load_s, "s_per_batch": med, "s_min": min(times), "s_max": max(times), "times": times,
            "tiles_per_s": args.batch / med, "speedup_vs_fp32": None,
            "agreement_vs_fp32": float((labels == reference).mean()),
        })
        print(f"  {label:<17} {predictor.backend}/{predictor.precision}: {med:.3f} s/batch, "
              f"{args.batch / med:.2f} tiles/s", file=sys.stderr, flush=True)
        del predictor
    base = rows[0]["s_per_batch"]
    for r in rows:
        r["speedup_vs_fp32"] = base / r["s_per_batch"]
    default = rows[-1]
    info["load_avg_end"] = list(os.getloadavg())
    info["threads"] = torch.get_num_threads()
    return {
        "info": info,
        "config": {"model": args.model_name if args.checkpoint is None else None, "checkpoint": str(ckpt),
                   "onnx": str(onnx_path), "onnx_export_s": export_s, "batch": args.batch, "size": args.tile,
                   "warmup": args.warmup, "repeat": args.repeat, "threads": args.threads, "quick": args.quick},
        "rows": rows,
        "default_precision": default["precision"],
        "target_speedup": TARGET_SPEEDUP,
        "default_speedup": default["speedup_vs_fp32"],
        "default_meets_target": bool(default["speedup_vs_fp32"] >= TARGET_SPEEDUP),
        "agreement_target": AGREEMENT_TARGET,
        "all_agree": bool(all(r["agreement_vs_fp32"] >= AGREEMENT_TARGET for r in rows)),
    }


def markdown(report: dict[str, Any]) -> str:
    info, cfg = report["info"], report["config"]
    lines = [
        f"CPU: {info['cpu_model']} ({info['logical_cpus']} logical), AMX-BF16: {'yes' if info['amx_bf16'] else 'no'}, "
        f"AVX512-BF16: {'yes' if info['avx512_bf16'] else 'no'}, oneDNN bf16: {'yes' if info['mkldnn_bf16'] else 'no'}, "
        f"ATen CPU capability: {info['cpu_capability']}",
        f"torch {info['torch']}, onnxruntime {info['onnxruntime']} (python {info['python']}), "
        f"torch threads={info['threads']}",
        f"load average (1/5/15 min) at start: {' '.join(f'{v:.2f}' for v in info['load_avg_start'])}, "
        f"at end: {' '.join(f'{v:.2f}' for v in info['load_avg_end'])}",
        f"model: {cfg['model'] or cfg['checkpoint']}, batch {cfg['batch']} × {cfg['size']}², "
        f"{cfg['warmup']} warm-up + {cfg['repeat']} timed calls per path",
        "",
        "| path | backend | precision | s/batch (median) | tiles/s | speed-up vs fp32 | agreement vs fp32 |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        lines.append(f"| {r['path']} | {r['backend']} | {r['precision']} | {r['s_per_batch']:.3f} | "
                     f"{r['tiles_per_s']:.2f} | {r['speedup_vs_fp32']:.2f}× | {r['agreement_vs_fp32']:.4f} |")
    lines += [
        "",
        f"default path chose precision {report['default_precision']!r}: {report['default_speedup']:.2f}× fp32; "
        f"default path ≥ {report['target_speedup']}× fp32: {report['default_meets_target']}",
        f"every path agrees with fp32 on ≥ {report['agreement_target']:.0%} of pixels: {report['all_agree']}",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=2, help="tiles per call (default 2)")
    p.add_argument("--repeat", type=int, default=None, help="timed calls per path (default 5; --quick: 1)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up calls per path (default 2: oneDNN builds bf16 kernels on the first calls)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch and onnxruntime (default 2; --quick: 1, see below)")
    p.add_argument("--model-name", default="ftunetformer", help="model of the random-weight checkpoint")
    p.add_argument("--tile", type=int, default=512, help="tile size (checkpoint and ONNX export; default 512)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="benchmark this landseg checkpoint instead of random weights")
    p.add_argument("--work", type=Path, default=REPO / "runs" / "bench_infer",
                   help="where the checkpoint and ONNX export are cached")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write results as JSON")
    p.add_argument("--quick", action="store_true", help="smoke run: ftunetformer_tiny at 64², 1 repeat")
    args = p.parse_args(argv)
    if args.quick:
        args.model_name, args.tile = "ftunetformer_tiny", 64
    if args.repeat is None:
        args.repeat = 1 if args.quick else 5
    if args.threads is None:  # 2 OpenMP threads on 2 busy cores spin for seconds per call: smoke runs use 1
        args.threads = 1 if args.quick else 2
    if args.batch < 1 or args.repeat < 1 or args.warmup < 0 or args.threads < 1:
        p.error("--batch, --repeat and --threads must be >= 1, --warmup >= 0")
    if args.tile % 32:
        p.error("--tile must be a multiple of 32 (the model's stride; the ONNX export needs it)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    publish(markdown(report), report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
