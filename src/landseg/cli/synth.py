"""Generate a synthetic aerial benchmark in LoveDA layout (OUT/{Train,Val,Test}/Rural/...).

Tiles show field parcels, hedgerows, copses, roads and farmsteads in the six biodiversity classes,
each with its own colour and texture. With --label-noise P a fraction P of the Train and Val masks
(never Test) get realistic annotation errors; the clean truth is always written to
masks_png_clean/ and OUT/synth_manifest.json lists which tiles are noisy and how. The same
arguments always give byte-identical files.

example:
  landseg synth data/synth --tiles 60 --size 512 --seed 0 --label-noise 0.2
"""

from __future__ import annotations

import argparse

NAME = "synth"
HELP = "generate a synthetic LoveDA-layout benchmark (optionally with label noise)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="output folder (must be empty or not exist)")
    parser.add_argument("--tiles", type=int, default=60, help="number of tiles over all splits (>= 3; default 60)")
    parser.add_argument("--size", type=int, default=512, help="tile side in pixels, a multiple of 32 (default 512)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    parser.add_argument("--label-noise", type=float, default=0.0, metavar="P",
                        help="fraction of Train/Val masks given realistic errors, 0..1 (default 0)")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share of tiles in Val (default 0.2)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of tiles in Test (default 0.2)")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow a non-empty OUT; replaces earlier synth_*.png tiles and the manifest")
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")


def run(args: argparse.Namespace) -> int:
    from landseg.data.synth import generate_benchmark

    result = generate_benchmark(
        args.out, tiles=args.tiles, size=args.size, seed=args.seed, label_noise=args.label_noise,
        val_fraction=args.val_fraction, test_fraction=args.test_fraction,
        progress=not args.no_progress, overwrite=args.overwrite,
    )
    counts = ", ".join(f"{split} {n}" for split, n in result.counts.items())
    noisy = ", ".join(f"{split} {n}" for split, n in result.noisy_per_split.items() if split != "Test")
    print(f"Wrote {sum(result.counts.values())} tiles of {args.size}x{args.size} px to {result.out} "
          f"in {result.seconds:.1f} s ({counts}).")
    print(f"Noisy masks: {result.noisy_masks} ({noisy}); clean truth in masks_png_clean/, "
          f"details in {result.manifest.name}.")
    print("Class shares (pixels / tiles containing it):")
    width = max(len(name) for name in result.class_fractions)
    for name, share in result.class_fractions.items():
        print(f"  {name:<{width}}  {share:6.1%}  {result.class_tile_shares[name]:6.1%}")
    return 0
