"""Split a dataset into Train/Val/Test by space, so no evaluation tile shares ground with training.

Tiles go to square blocks of --block-size metres (by their centre); whole blocks are drawn at
random (seeded) into the splits by --ratios; where two splits meet, tiles that overlap or come
closer than --buffer metres to a tile of another split are dropped (or, with --buffer-policy
holdout, written to OUT/Buffer/). Georeferencing per tile: <stem>.json sidecar or world file
(.pgw/.wld/...) next to the image, a row of manifest.csv (landseg import-oem), or the GeoTIFF's
transform; without any, --pattern reads a grid position from the tile names. --by random splits
single tiles, as a baseline (it leaks when tiles overlap; see landseg check-leakage).

Writes OUT/{Train,Val,Test}/<domain>/{images_png,masks_png} as hard links (copies only where the
filesystem cannot link) and OUT/split_manifest.csv (name, split or "buffer", block, x, y and the
georeferencing). OUT must be new or empty.

Examples:
  landseg split data/oem_bio --by space --block-size 2000 --buffer 100 --out data/oem_bio_split
  landseg split data/tiles --by space --block-size 1024 --buffer 0 --pattern "{region}_{row}_{col}" \\
      --tile-size-m 256 --grid-step-m 128 --ratios 0.8,0.1,0.1 --seed 1 --out data/tiles_split
  landseg split data/tiles --by random --ratios 0.7,0.15,0.15 --out data/tiles_random   # the leaky baseline
"""

from __future__ import annotations

import argparse

NAME = "split"
HELP = "split a dataset into Train/Val/Test by spatial blocks with a buffer (no shared ground)"


def add_georef_arguments(p: argparse.ArgumentParser) -> None:
    """Tile-name grid options, for datasets without georeferencing (shared with check-leakage)."""
    p.add_argument("--pattern", default=None,
                   help="tile-name grid, e.g. '{region}_{row}_{col}': {row}/{col} are grid indices, "
                        "other fields name separate grids; used for every tile")
    p.add_argument("--tile-size-m", type=float, default=None,
                   help="with --pattern: side of a tile on the ground, metres")
    p.add_argument("--grid-step-m", type=float, default=None,
                   help="with --pattern: distance between neighbouring row/col indices, metres "
                        "(default --tile-size-m; smaller when tiles were cut on an overlapping stride)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder: flat images_png/masks_png, or LoveDA layout (all splits)")
    p.add_argument("--out", required=True, help="new or empty output folder")
    p.add_argument("--by", choices=["space", "random"], default="space",
                   help="space: blocks + buffer (default); random: single tiles (leaky baseline)")
    p.add_argument("--block-size", type=float, default=None, help="block side in metres (required for --by space)")
    p.add_argument("--buffer", type=float, default=0.0,
                   help="minimum distance in metres between tiles of different splits (default 0: "
                        "overlapping tiles are still removed)")
    p.add_argument("--buffer-policy", choices=["drop", "holdout"], default="drop",
                   help="drop buffer tiles (default) or write them to OUT/Buffer/")
    p.add_argument("--ratios", default="0.7,0.15,0.15", help="shares of Train,Val,Test (default 0.7,0.15,0.15)")
    p.add_argument("--seed", type=int, default=0, help="seed of the block (or tile) draw (default 0)")
    p.add_argument("--domain", default="Rural", help="LoveDA domain folder in OUT (default Rural)")
    add_georef_arguments(p)


def run(args: argparse.Namespace) -> int:
    from landseg.splitting import split_dataset

    result = split_dataset(args.dataset, args.out, by=args.by, block_size=args.block_size, buffer=args.buffer,
                           ratios=args.ratios, seed=args.seed, pattern=args.pattern, tile_size_m=args.tile_size_m,
                           grid_step_m=args.grid_step_m, buffer_policy=args.buffer_policy, domain=args.domain)
    print(result.report())
    return 0
