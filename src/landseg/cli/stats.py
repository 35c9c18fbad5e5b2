"""Class statistics of a dataset's masks: pixel share per class and per-tile class fractions.

Every mask is read once and hashed; counts are cached in DATASET/.landseg/stats_cache.sqlite by
content hash, so a second run (and every other curation command) only re-reads and hashes, and
an edited mask is recounted. Prints two tables and writes into --out:

  stats.json            per-class totals, both summaries, per-tile counts and sha256
  class_fractions.csv   per tile: name and the fraction of each class (--denominator)
  class_histograms.png  one histogram per class of the per-tile fraction

--denominator labelled divides by the pixels that carry a class; all also counts ignore (255) and
values outside the class table. A tile with no labelled pixels has no labelled fraction (empty).

Examples:
  landseg stats runs/demo/data --split Train
  landseg stats /data/biodiversity --split Train/Rural --workers 2 --denominator all
  landseg stats /data/biodiversity --out -              # print only, write nothing
  landseg stats /data/oem --classes oem_classes.yaml --out reports/oem_stats
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from landseg.classes import ClassTable
from landseg.errors import LandsegError

NAME = "stats"
HELP = "class pixel share and per-tile class fractions of a dataset (cached by content hash)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET", help="dataset root (LoveDA layout or flat)")
    p.add_argument("--split", default=None, help="split folder, e.g. Train or Train/Rural (default: every mask)")
    p.add_argument("--denominator", default="labelled", choices=["labelled", "all"],
                   help="fractions of labelled pixels, or of all pixels incl. ignore (default labelled)")
    p.add_argument("--workers", type=int, default=1, help="processes that decode masks (default 1)")
    p.add_argument("--out", default=None,
                   help="output folder (default DATASET/.landseg/stats[/SPLIT]); '-' prints only")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the stats cache")
    p.add_argument("--classes", default=None, metavar="FILE",
                   help="YAML/JSON class list [{name, color}, ...] (default: the 6 biodiversity classes)")
    p.add_argument("--mask-dir", default="masks_png", help="mask folder name (default masks_png)")
    p.add_argument("--no-progress", action="store_true", help="do not show a progress bar")


def _out_dir(args: argparse.Namespace) -> Path | None:
    if args.out == "-":
        return None
    if args.out:
        return Path(args.out)
    base = Path(args.dataset) / ".landseg" / "stats"
    return base / args.split if args.split else base


def run(args: argparse.Namespace) -> int:
    import warnings

    from landseg.classes import BIODIVERSITY
    from landseg.curation.stats import dataset_stats
    from landseg.curation.stats_report import plot_class_histograms, render_tables
    from landseg.utils import atomic_write_text, jsonable, write_json

    if args.workers < 1:
        raise LandsegError(f"--workers must be at least 1, got {args.workers}.")
    classes = ClassTable.from_file(args.classes) if args.classes else BIODIVERSITY
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        stats = dataset_stats(args.dataset, args.split, classes, workers=args.workers, cache=not args.no_cache,
                              progress=not args.no_progress, mask_dir=args.mask_dir)
    for w in caught:
        print(f"landseg stats: warning: {w.message}", file=sys.stderr)

    where = f"{args.dataset}" + (f" (split {args.split})" if args.split else "")
    cache = f"{stats.computed} counted, {stats.cache_hits} from cache {stats.cache_path}" if stats.cache_path \
        else f"{stats.computed} counted, no cache"
    print(f"{len(stats)} masks in {where}: {cache}\n")
    print(render_tables(stats, args.denominator))
    other = int((stats.counts[:, -1] > 0).sum())
    if other:
        print(f"\nnote: {other} tile(s) hold values outside 0..{len(classes) - 1} that are not the ignore value "
              f"{classes.ignore_index} (row 'other values'); remap them or pass a matching --classes file.")

    out = _out_dir(args)
    if out is None:
        return 0
    try:
        data = stats.as_dict()
        data["denominator"] = args.denominator  # of class_fractions.csv and class_histograms.png
        written = [write_json(out / "stats.json", jsonable(data)),
                   atomic_write_text(out / "class_fractions.csv", stats.fractions_csv(args.denominator)),
                   plot_class_histograms(stats, classes, out / "class_histograms.png", args.denominator)]
    except OSError as exc:
        raise LandsegError(f"cannot write the outputs to {out}: {exc.strerror or exc}; "
                           "pass --out DIR for a writable folder or --out - to print only.") from exc
    print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0
