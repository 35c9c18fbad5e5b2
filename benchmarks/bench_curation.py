#!/usr/bin/env python
"""Class statistics throughput: `dataset_stats` against the floor of merely decoding the masks.

Masks are synthetic 512² class-index PNGs with field structure: Voronoi parcels of the six
classes, roads and farmsteads (settlement), copses (forest) and, on ~30% of tiles, a no-data
wedge of ignore (255). They are written once with OpenCV (zlib level 6, as PIL writes) under
``runs/bench_curation/`` and reused by later runs.

Measured, median of ``--repeat`` runs, page cache warm:

* ``decode``:  read + ``cv2.imdecode`` of every mask, nothing else (the physical floor), 1 core;
* ``cold_w1``: ``dataset_stats`` with an empty cache (hash + decode + count + SQLite insert), 1 core;
* ``cold_w2``: the same with ``workers=2`` on 2 cores;
* ``warm``:    ``dataset_stats`` with every mask in the cache (read + hash only), 1 core.

"× decode" is the median over repeats of (time / that repeat's decode time); "2 workers vs 1" the
median of the paired cold-cache ratios.

"1 core" is enforced with ``sched_setaffinity``. Run from the repository root (~1 min, plus
~30 s to generate the masks the first time)::

    .venv/bin/python benchmarks/bench_curation.py --json runs/bench_curation.json
    .venv/bin/python benchmarks/bench_curation.py --quick      # smoke run, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from landseg.curation.stats import CACHE_FILE, dataset_stats, find_masks

REPO = Path(__file__).resolve().parents[1]
CLASS_P = [0.15, 0.17, 0.22, 0.21, 0.07, 0.18]  # parcel classes, as in landseg.data.synth
SETTLEMENT, FOREST, IGNORE = 4, 1, 255


def synthetic_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """Voronoi field parcels, roads, farmsteads, copses and sometimes a no-data wedge."""
    k = int(rng.integers(12, 40))
    seeds = np.ones((size, size), np.uint8)
    pts = rng.integers(0, size, (k, 2))
    seeds[pts[:, 1], pts[:, 0]] = 0
    _, cell = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    mask = rng.choice(6, size=k + 1, p=CLASS_P).astype(np.uint8)[cell]
    for _ in range(int(rng.integers(0, 4))):  # roads
        a, b = rng.integers(0, size, (2, 2))
        cv2.line(mask, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), SETTLEMENT, int(rng.integers(3, 9)))
    for _ in range(int(rng.integers(0, 6))):  # farmsteads and copses: irregular polygons
        centre, n = rng.integers(0, size, 2), int(rng.integers(5, 9))
        angle = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.integers(5, 30) * rng.uniform(0.6, 1.4, n)
        poly = np.stack([centre[0] + radius * np.cos(angle), centre[1] + radius * np.sin(angle)], 1)
        cv2.fillPoly(mask, [poly.astype(np.int32)], int(rng.choice([FOREST, SETTLEMENT])))
    if rng.random() < 0.3:  # no-data wedge at the tile edge
        x = int(rng.integers(size // 2, size))
        wedge = np.array([[x, 0], [size, 0], [size, size], [x + int(rng.integers(-size // 5, size // 5)), size]])
        cv2.fillPoly(mask, [wedge.astype(np.int32)], IGNORE)
    return mask


def ensure_masks(work: Path, n: int, size: int, seed: int) -> Path:
    """Dataset root (flat layout) with ``n`` masks; generated once, reused when complete."""
    root = work / f"n{n}_s{size}_seed{seed}"
    marker = root / "complete.json"
    if marker.is_file():
        return root
    folder = root / "masks_png"
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i in range(n):
        mask = synthetic_mask(np.random.default_rng([seed, i]), size)
        cv2.imwrite(str(folder / f"mask_{i:05d}.png"), mask, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    marker.write_text(json.dumps({"n": n, "size": size, "seed": seed,
                                  "seconds": round(time.perf_counter() - start, 1)}) + "\n")
    print(f"generated {n} masks of {size}² in {root} ({time.perf_counter() - start:.1f} s)")
    return root


def cpu_model() -> str:
    """From /proc/cpuinfo (bench_train.cpu_info would import torch just for this)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = [line.partition(":")[2].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or "unknown"


def clear_cache(root: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{root / CACHE_FILE}{suffix}").unlink(missing_ok=True)


def decode_only(paths: list[Path]) -> None:
    for p in paths:
        cv2.imdecode(np.frombuffer(p.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)


def timed(fn: Callable[[], Any], cores: set[int], before: Callable[[], None] | None = None) -> float:
    os.sched_setaffinity(0, cores)  # worker processes inherit it
    if before:
        before()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="number of masks (default 2000)")
    ap.add_argument("--size", type=int, default=512, help="mask side in pixels (default 512)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is reported")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "bench_curation", help="where masks are kept")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--quick", action="store_true", help="smoke run: 24 masks of 128², one repeat")
    args = ap.parse_args()
    if args.quick:
        args.n, args.size, args.repeat = 24, 128, 1

    cpus = sorted(os.sched_getaffinity(0))
    one, two = {cpus[0]}, set(cpus[:2])
    load_before = os.getloadavg()
    root = ensure_masks(args.work, args.n, args.size, args.seed)
    paths = find_masks(root)
    timed(lambda: decode_only(paths), one)  # warm-up, not reported: page cache, CPU clock

    def stats(workers: int) -> Any:
        return dataset_stats(root, workers=workers, progress=False)

    times: dict[str, list[float]] = {"decode": [], "cold_w1": [], "cold_w2": [], "warm": []}
    results = {}
    for _ in range(args.repeat):
        times["decode"].append(timed(lambda: decode_only(paths), one))
        times["cold_w1"].append(timed(lambda: results.__setitem__(1, stats(1)), one, lambda: clear_cache(root)))
        times["warm"].append(timed(lambda: results.__setitem__("warm", stats(1)), one))
        times["cold_w2"].append(timed(lambda: results.__setitem__(2, stats(2)), two, lambda: clear_cache(root)))
    os.sched_setaffinity(0, set(cpus))
    assert results["warm"].computed == 0 and results[1].computed == results[2].computed == len(paths)
    identical = all(np.array_equal(results[k].counts, results[1].counts) for k in (2, "warm"))
    assert identical, "workers=2 or the warm cache gave different counts than workers=1"

    # Ratios are paired (each repeat's stats run over the decode run just before it) because this
    # machine's single-core speed drifts by tens of percent between minutes.
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = {k: statistics.median(t / d for t, d in zip(v, times["decode"], strict=True)) for k, v in times.items()}
    labels = {"decode": ("read + decode only (floor)", 0, 1), "cold_w1": ("stats, cold cache", 1, 1),
              "cold_w2": ("stats, cold cache", 2, 2), "warm": ("stats, warm cache (all hits)", 1, 1)}
    rows = [{"case": k, "what": labels[k][0], "workers": labels[k][1], "cores": labels[k][2], "seconds": med[k],
             "masks_per_s": len(paths) / med[k], "vs_decode": ratio[k], "all_seconds": times[k]} for k in times]
    speedup = statistics.median(a / b for a, b in zip(times["cold_w1"], times["cold_w2"], strict=True))
    file_kib = sum(p.stat().st_size for p in paths) / len(paths) / 1024

    print(f"\n{len(paths)} masks of {args.size}² (mean {file_kib:.1f} KiB), median of {args.repeat} runs; "
          f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}\n")
    print("| measurement | workers | cores | s | masks/s | × decode |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['what']} | {r['workers'] or '—'} | {r['cores']} | {r['seconds']:.3f} | "
              f"{r['masks_per_s']:.0f} | {r['vs_decode']:.2f}× |")
    print(f"\n2 workers vs 1: {speedup:.2f}× faster (ideal 2×); counts identical across runs: {identical}")
    if args.json:
        info = {"cpu": cpu_model(), "cpus": len(cpus), "n": len(paths), "size": args.size,
                "mean_file_kib": file_kib, "repeat": args.repeat, "loadavg_before": load_before,
                "loadavg_after": os.getloadavg(), "opencv": cv2.__version__, "numpy": np.__version__}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"info": info, "rows": rows, "speedup_2_workers": speedup}, indent=2) + "\n")


if __name__ == "__main__":
    main()
