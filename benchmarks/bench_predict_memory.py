#!/usr/bin/env python
"""Peak memory of ``landseg predict`` on large GeoTIFFs: it must not grow with the raster's size.

``landseg.predict.predict`` streams a raster strip by strip (:mod:`landseg.inference.tiling`):
it keeps ``classes × tile × band width`` float32 probabilities and one strip of pixels, never the
whole image or its probabilities (6000² px × 6 classes × 4 bytes would be 824 MB on its own).

The script writes synthetic GeoTIFFs of 3000² and 6000² px (3-band uint8, EPSG:32629, 0.25 m
pixels, smooth random fields, written window by window with rasterio as a tiled deflate GeoTIFF;
cached under ``runs/bench_predict_memory/``) and a Swin-B FT-UNetFormer checkpoint with random
weights (``ftunetformer``, tile size 512, via ``bench_infer.make_checkpoint``). Each size is then
predicted in a *fresh* subprocess (the script re-invoked with ``--one SIZE``), so the peaks are
independent, with::

    predict(ckpt, tif, out, tile=512, overlap=128, batch_size=2, precision="auto", progress=False)

The child samples its own ``VmRSS`` from ``/proc/self/status`` every 50 ms in a thread, reads
``VmHWM`` (the kernel's exact high-water mark, used as *the* peak) at the end, and prints one JSON
line that the parent parses. The parent checks that each output map has the input's CRS,
transform, width and height, and reports the peaks, the ratio 6000²/3000², and pass/fail against
"peak < 2048 MB and the 6000² peak within 10% of the 3000² peak".

Full run (Swin-B on 2 cores: 64 + 256 windows of 512², several minutes; run from the repository
root on a quiet machine)::

    .venv/bin/python benchmarks/bench_predict_memory.py --json runs/bench_predict_memory.json
    .venv/bin/python benchmarks/bench_predict_memory.py --model-name ftunetformer_tiny   # quicker model

Smoke run used by ``tests/test_benchmarks.py`` (300² and 600², ``ftunetformer_tiny`` at tile 64,
overlap 16, 1 thread; seconds)::

    .venv/bin/python benchmarks/bench_predict_memory.py --quick --json /tmp/bench_predict_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_predict_pair import RssSampler, proc_status_mb  # noqa: E402  (sibling script, shared sampler)
from bench_train import publish  # noqa: E402  (sibling script, shared output)

REPO = Path(__file__).resolve().parents[1]
RESULT_PREFIX = "BENCH_PREDICT_MEMORY "
LIMIT_MB = 2048.0  # peak RSS limit of every size
GROWTH_LIMIT = 0.10  # largest size's peak over the smallest's, minus 1
CRS = "EPSG:32629"
PIXEL = 0.25  # metres
ORIGIN = (500_000.0, 4_300_000.0)  # upper-left corner, UTM 29N (Portugal)


# --------------------------------------------------------------------------- memory


# --------------------------------------------------------------------------- inputs


def smooth_field(rows: np.ndarray, cols: np.ndarray, band: int, seed: int = 0) -> np.ndarray:
    """uint8 values of a smooth random field at global pixel coordinates (continuous across windows)."""
    rng = np.random.default_rng([seed, band])
    y, x = rows[:, None].astype(np.float32), cols[None, :].astype(np.float32)
    out = np.full((len(rows), len(cols)), 128.0, np.float32)
    for _ in range(4):
        fy, fx = rng.uniform(1 / 400, 1 / 40, 2)
        py, px, amp = rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi), rng.uniform(15, 35)
        wave_y = np.sin(np.float32(fy) * y + np.float32(py))
        wave_x = np.cos(np.float32(fx) * x + np.float32(px))
        out += np.float32(amp) * wave_y * wave_x
    return np.clip(out, 0, 255).astype(np.uint8)


def ensure_raster(work: Path, size: int, seed: int = 0) -> Path:
    """A ``size``² 3-band uint8 GeoTIFF (tiled, deflate, EPSG:32629, 0.25 m); reused when complete."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    path = work / f"synth_{size}.tif"
    if path.is_file():
        with rasterio.open(path) as ds:
            if (ds.width, ds.height, ds.count) == (size, size, 3) and ds.crs is not None:
                return path
    work.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8", "crs": CRS,
               "transform": from_origin(*ORIGIN, PIXEL, PIXEL), "tiled": True, "blockxsize": 256,
               "blockysize": 256, "compress": "deflate", "photometric": "RGB"}
    step = 512
    with rasterio.open(tmp, "w", **profile) as dst:
        cols = np.arange(size)
        for r0 in range(0, size, step):
            rows = np.arange(r0, min(r0 + step, size))
            block = np.stack([smooth_field(rows, cols, b, seed) for b in range(3)])
            dst.write(block, window=Window(0, r0, size, len(rows)))
    tmp.replace(path)
    return path


def georeferencing(path: Path) -> dict[str, Any]:
    import rasterio

    with rasterio.open(path) as ds:
        return {"crs": ds.crs.to_string() if ds.crs else None, "transform": list(ds.transform)[:6],
                "width": ds.width, "height": ds.height}


# --------------------------------------------------------------------------- one size (child)


def run_one(args: argparse.Namespace) -> int:
    """Child process: predict one raster and print its memory numbers as one JSON line."""
    sampler = RssSampler()
    sampler.start()
    import torch

    from landseg.inference.predict import predict

    torch.set_num_threads(args.threads)
    tif = args.work / f"synth_{args.one}.tif"
    out = args.work / f"out_{args.one}"
    shutil.rmtree(out, ignore_errors=True)
    rss_start = proc_status_mb("VmRSS")  # after imports, before predict() loads the model
    t0 = time.perf_counter()
    try:
        res = predict(args.checkpoint, tif, out, tile=args.tile, overlap=args.overlap, batch_size=args.batch_size,
                      precision=args.precision, threads=args.threads, progress=False)
    finally:
        sampler.stop()
    seconds = time.perf_counter() - t0
    s = res.summary
    print(RESULT_PREFIX + json.dumps({
        "size": args.one, "input": str(tif), "map": str(res.maps[0]),
        "rss_start_mb": round(rss_start, 1), "sampled_peak_mb": round(sampler.peak, 1),
        "vmhwm_mb": round(proc_status_mb("VmHWM"), 1), "samples": sampler.samples, "seconds": round(seconds, 2),
        "windows": s["windows"], "windows_per_s": round(s["windows_per_s"], 3), "backend": s["backend"],
        "precision": s["precision"]}), flush=True)
    return 0


# --------------------------------------------------------------------------- parent


def run_size(args: argparse.Namespace, size: int, ckpt: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", str(size), "--checkpoint", str(ckpt),
           "--work", str(args.work), "--tile", str(args.tile), "--overlap", str(args.overlap),
           "--batch-size", str(args.batch_size), "--precision", args.precision, "--threads", str(args.threads)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # stderr passes through
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        sys.stdout.write(proc.stdout)
        raise RuntimeError(f"the child for {size}² failed (exit code {proc.returncode}): {' '.join(cmd)}")
    row = json.loads(lines[-1][len(RESULT_PREFIX):])
    src, dst = georeferencing(Path(row["input"])), georeferencing(Path(row["map"]))
    row["input_georef"], row["output_georef"] = src, dst
    row["georef_ok"] = bool(src["crs"] == dst["crs"] and np.allclose(src["transform"], dst["transform"], rtol=0,
                                                                        atol=1e-9)
                            and (src["width"], src["height"]) == (dst["width"], dst["height"]))
    row["peak_mb"] = row["vmhwm_mb"]
    row["under_limit"] = bool(row["peak_mb"] < LIMIT_MB)
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from bench_infer import make_checkpoint
    from bench_train import cpu_info

    args.work.mkdir(parents=True, exist_ok=True)
    ckpt = args.checkpoint or make_checkpoint(args.work, args.model_name, args.tile)
    info = {"torch": torch.__version__, "python": sys.version.split()[0], **cpu_info(), "threads": args.threads,
            "load_avg_start": list(os.getloadavg())}
    rows = []
    for size in args.sizes:
        t0 = time.perf_counter()
        tif = ensure_raster(args.work, size)
        print(f"  input {tif} ready ({time.perf_counter() - t0:.1f} s, {tif.stat().st_size / 2**20:.1f} MB on disk); "
              f"predicting in a fresh process…", file=sys.stderr, flush=True)
        row = run_size(args, size, ckpt)
        print(f"  {size}²: {row['windows']} windows in {row['seconds']:.1f} s, peak RSS {row['peak_mb']:.0f} MB",
              file=sys.stderr, flush=True)
        rows.append(row)
    info["load_avg_end"] = list(os.getloadavg())
    small, large = min(rows, key=lambda r: r["size"]), max(rows, key=lambda r: r["size"])
    ratio = large["peak_mb"] / small["peak_mb"]
    flat = bool(ratio - 1 <= GROWTH_LIMIT)
    georef_ok = all(r["georef_ok"] for r in rows)
    return {
        "info": info,
        "config": {"model": args.model_name if args.checkpoint is None else None, "checkpoint": str(ckpt),
                   "sizes": args.sizes, "tile": args.tile, "overlap": args.overlap, "batch_size": args.batch_size,
                   "precision": args.precision, "threads": args.threads, "quick": args.quick},
        "rows": rows,
        "ratio": ratio,
        "limit_mb": LIMIT_MB,
        "growth_limit": GROWTH_LIMIT,
        "under_limit": all(r["under_limit"] for r in rows),
        "flat": flat,
        "georef_ok": georef_ok,
        "pass": bool(all(r["under_limit"] for r in rows) and flat),
    }


def markdown(report: dict[str, Any]) -> str:
    info, cfg = report["info"], report["config"]
    rows = sorted(report["rows"], key=lambda r: r["size"])
    lines = [
        f"CPU: {info['cpu_model']} ({info['logical_cpus']} logical), torch {info['torch']}, threads={info['threads']}",
        f"load average (1/5/15 min) at start: {' '.join(f'{v:.2f}' for v in info['load_avg_start'])}, "
        f"at end: {' '.join(f'{v:.2f}' for v in info['load_avg_end'])}",
        f"model: {cfg['model'] or cfg['checkpoint']}, tile {cfg['tile']}, overlap {cfg['overlap']}, batch "
        f"{cfg['batch_size']}, precision {cfg['precision']}; each size in a fresh process",
        "",
        "| size | windows | seconds | backend/precision | RSS before predict() (MB) | sampled peak RSS (MB) "
        "| peak RSS, VmHWM (MB) | < 2048 MB | georeferencing = input |",
        "|---|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['size']}² | {r['windows']} | {r['seconds']:.1f} | {r['backend']}/{r['precision']} | "
                     f"{r['rss_start_mb']:.0f} | {r['sampled_peak_mb']:.0f} | {r['peak_mb']:.0f} | "
                     f"{'yes' if r['under_limit'] else 'NO'} | {'yes' if r['georef_ok'] else 'NO'} |")
    for r in rows:
        g = r["output_georef"]
        lines.append(f"output {r['size']}²: crs {g['crs']}, {g['width']}×{g['height']}, transform "
                     f"{', '.join(f'{v:g}' for v in g['transform'])}")
    small, large = rows[0], rows[-1]
    lines += [
        f"peak ratio {large['size']}²/{small['size']}²: {report['ratio']:.3f} "
        f"({100 * (report['ratio'] - 1):+.1f}%, limit +{100 * report['growth_limit']:.0f}%)",
        f"verdict (peak < {report['limit_mb']:.0f} MB and within {100 * report['growth_limit']:.0f}% of the "
        f"{small['size']}² peak): {'PASS' if report['pass'] else 'FAIL'}; georeferencing preserved: "
        f"{'yes' if report['georef_ok'] else 'NO'}",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[3000, 6000], help="raster sides in px (default 3000 6000)")
    p.add_argument("--model-name", default="ftunetformer",
                   help="model of the random-weight checkpoint (ftunetformer_tiny for a quicker run)")
    p.add_argument("--checkpoint", type=Path, default=None, help="use this checkpoint instead of random weights")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlap", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=2, help="windows per forward (default 2, as landseg predict)")
    p.add_argument("--precision", default="auto", choices=("auto", "32", "bf16"))
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default 2; --quick: 1)")
    p.add_argument("--work", type=Path, default=REPO / "runs" / "bench_predict_memory",
                   help="where the rasters, checkpoint and maps are kept")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the numbers here")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 300² and 600², ftunetformer_tiny at tile 64, overlap 16")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # child: predict one size
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.model_name, args.tile, args.overlap = [300, 600], "ftunetformer_tiny", 64, 16
    if args.threads is None:  # 2 OpenMP threads on 2 busy cores spin for seconds per call: smoke runs use 1
        args.threads = 1 if args.quick else 2
    if len(set(args.sizes)) < 2 and args.one is None:
        p.error("--sizes needs at least two different sizes (the peak ratio compares the largest and smallest)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one is not None:
        return run_one(args)
    report = run(args)
    publish(markdown(report), report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
