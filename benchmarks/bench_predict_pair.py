#!/usr/bin/env python
"""Memory of `predict_pair` over a long split: peak RSS must not grow with the number of tiles.

predict_pair keeps the probabilities of one batch only and writes every tile's outputs before the
next batch, so its resident memory should be flat; holding all probabilities instead would grow by
``tiles x 2 models x 6 classes x H x W x 4 bytes`` (630 MB for 200 tiles of 256²).

The script synthesises ``--tiles`` tiles (``landseg.data.synth``, one split, cached under
``runs/bench_predict_pair/``), saves two ``ftunetformer_tiny`` checkpoints with random weights and
landseg metadata, and runs predict_pair in-process with 2 threads while a background thread reads
``VmRSS`` from ``/proc/self/status`` every 50 ms. The peak RSS seen after each quarter of the tiles
is printed with the growth from the first quarter to the end (flat: < 10%).

Run from the repository root (~1 min the first time, including synthesis)::

    .venv/bin/python benchmarks/bench_predict_pair.py                 # 200 tiles of 256²
    .venv/bin/python benchmarks/bench_predict_pair.py --quick         # smoke run, 24 tiles of 64²
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
FLAT_LIMIT = 0.10  # growth of peak RSS from the first quarter to the end that still counts as flat


def proc_status_mb(key: str) -> float:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in MB; Linux only."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{key} not found in /proc/self/status (Linux only)")


class RssSampler(threading.Thread):
    """Track the peak VmRSS, sampled every ``interval`` seconds until stopped."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval, self.peak, self.samples = interval, proc_status_mb("VmRSS"), 1
        self._stop_event = threading.Event()

    def sample(self) -> float:
        self.peak = max(self.peak, proc_status_mb("VmRSS"))
        self.samples += 1
        return self.peak

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.sample()


def ensure_data(work: Path, tiles: int, size: int) -> Path:
    """A one-split (Train) synthetic dataset; generated once and reused when complete."""
    from landseg.data.synth import MANIFEST_NAME, generate_benchmark

    root = work / f"data_n{tiles}_s{size}"
    if not (root / MANIFEST_NAME).is_file():
        generate_benchmark(root, tiles=tiles, size=size, seed=0, val_fraction=0.0, test_fraction=0.0,
                           overwrite=True)
    return root


def make_checkpoints(work: Path, size: int) -> dict[str, Path]:
    from landseg.models import build_model
    from landseg.training.config import build_experiment
    from landseg.training.module import checkpoint_metadata

    exp = build_experiment({"model": {"name": "ftunetformer_tiny"}, "data": {"crop_size": size}})
    paths = {}
    for seed, label in enumerate("AB"):
        torch.manual_seed(seed)
        net = build_model("ftunetformer_tiny", len(exp.classes))
        paths[label] = work / f"tiny_{label}.ckpt"
        torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
                    "landseg": checkpoint_metadata(exp)}, paths[label])
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiles", type=int, default=200)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "bench_predict_pair")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    ap.add_argument("--quick", action="store_true", help="smoke run: 24 tiles of 64²")
    args = ap.parse_args()
    if args.quick:
        args.tiles, args.size = 24, 64
    torch.set_num_threads(2)
    from landseg.correction.predict_pair import predict_pair

    args.work.mkdir(parents=True, exist_ok=True)
    data = ensure_data(args.work, args.tiles, args.size)
    models = make_checkpoints(args.work, args.size)
    marks = {round(args.tiles * q / 4): None for q in (1, 2, 3, 4)}
    peaks: dict[int, float] = {}
    sampler = RssSampler()
    start_rss = sampler.sample()

    def on_image(done: int, name: str) -> None:
        if done in marks:
            peaks[done] = sampler.sample()

    sampler.start()
    started = time.perf_counter()
    try:
        res = predict_pair(models, data, "Train", args.work / "out", batch_size=args.batch_size, progress=False,
                           on_image=on_image)
    finally:
        sampler.stop()
    seconds = time.perf_counter() - started

    first, last = min(peaks), max(peaks)
    growth = (peaks[last] - peaks[first]) / peaks[first]
    all_probs_mb = args.tiles * 2 * len(res.classes) * args.size**2 * 4 / 2**20
    print(f"predict_pair on {res.count} tiles of {args.size}² (2 x ftunetformer_tiny, batch {args.batch_size}, "
          f"2 threads): {seconds:.1f} s, {res.count / seconds:.1f} tiles/s")
    print(f"RSS before the run: {start_rss:.0f} MB; holding all probabilities would add {all_probs_mb:.0f} MB")
    print("| tiles done | peak RSS (MB) |")
    print("|---:|---:|")
    for n in sorted(peaks):
        print(f"| {n} | {peaks[n]:.0f} |")
    verdict = "flat" if growth < FLAT_LIMIT else "NOT flat"
    print(f"peak RSS growth from {first} to {last} tiles: {peaks[last] - peaks[first]:+.1f} MB "
          f"({100 * growth:+.1f}%) -> {verdict} (limit {100 * FLAT_LIMIT:.0f}%)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "tiles": res.count, "size": args.size, "batch_size": args.batch_size, "seconds": round(seconds, 2),
            "rss_before_mb": round(start_rss, 1), "peak_rss_mb": {str(k): round(v, 1) for k, v in peaks.items()},
            "growth": round(growth, 4), "all_probabilities_mb": round(all_probs_mb, 1)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
