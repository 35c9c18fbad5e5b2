"""Check that no tile of one split shares ground with a tile of another split.

Two kinds of evidence: geometry (footprints from the same georeferencing sources as
landseg split, or --pattern, intersecting with positive area) and content (64-bit DCT hashes of
each tile, its halves and quarters, compared across splits: a tile shifted by half its size
matches its neighbour). Tiles without georeferencing are checked by content only.

Exit codes: 0 no leakage found; 1 leakage found (the pairs are listed: split A file, split B
file, geometry overlap % and/or hash distance); 2 bad arguments or unreadable data.

Examples:
  landseg check-leakage data/biodiversity
  landseg check-leakage data/biodiversity --splits Train/Rural,Val/Rural --max-report 0
  landseg check-leakage data/tiles_split --pattern "{region}_{row}_{col}" --tile-size-m 256 --hash-threshold 6
"""

from __future__ import annotations

import argparse

from landseg.cli.split import add_georef_arguments

NAME = "check-leakage"
HELP = "find tiles that share ground across Train/Val/Test (exit 1 if any)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder in LoveDA layout (or any folder holding the splits)")
    p.add_argument("--splits", default=None,
                   help="comma-separated split folders (default Train,Val,Test, skipping absent ones)")
    p.add_argument("--hash-threshold", type=int, default=None,
                   help="largest Hamming distance (of 64 bits) that counts as the same ground (default 8)")
    p.add_argument("--max-report", type=int, default=20, help="pairs to list (0: all; default 20)")
    p.add_argument("--no-geometry", action="store_true", help="skip the footprint check")
    p.add_argument("--no-content", action="store_true", help="skip the hash check")
    add_georef_arguments(p)
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from landseg.splitting.leakage import DEFAULT_HASH_THRESHOLD, DEFAULT_SPLITS, check_leakage

    splits = [s.strip() for s in args.splits.split(",") if s.strip()] if args.splits else list(DEFAULT_SPLITS)
    threshold = DEFAULT_HASH_THRESHOLD if args.hash_threshold is None else args.hash_threshold
    report = check_leakage(args.dataset, splits, hash_threshold=threshold, geometry=not args.no_geometry,
                           content=not args.no_content, pattern=args.pattern, tile_size_m=args.tile_size_m,
                           grid_step_m=args.grid_step_m, skip_missing=args.splits is None,
                           progress=not args.no_progress)
    print(report.report(args.max_report))
    return 1 if report.leaking else 0
