"""Generate a synthetic aerial benchmark in LoveDA layout (OUT/{Train,Val,Test}/Rural/...).

Tiles show field parcels, hedgerows, copses, roads and farmsteads in the six biodiversity classes,
each with its own colour and texture. With --label-noise P a fraction P of the Train and Val masks
(never Test) get realistic annotation errors; the clean truth is always written to
masks_png_clean/ and OUT/synth_manifest.json lists which tiles are noisy and how. The same
arguments always give byte-identical files.

With --oem it writes instead a synthetic OpenEarthMap-like source in the official layout
(OUT/<region>/images|labels/<region>_<n>.tif GeoTIFFs with the 9 OEM codes, train.txt, val.txt,
test.txt) for `landseg import-oem`: --regions labelled regions of --tiles-per-region tiles each
(the last region's tiles are --large-size square), every fourth tile an urban scene, plus an
xBD-like region of images without labels listed in train.txt.

examples:
  landseg synth data/synth --tiles 60 --size 512 --seed 0 --label-noise 0.2
  landseg synth data/oem_like --oem --regions 3 --tiles-per-region 8 --size 512
"""

from __future__ import annotations

import argparse

NAME = "synth"
HELP = "generate a synthetic LoveDA-layout benchmark (optionally with label noise), or with --oem an OEM-like source"
#: LoveDA-layout defaults of the options whose default differs with --oem (None = not given)
_LOVEDA_DEFAULTS = {"tiles": 60, "val_fraction": 0.2, "test_fraction": 0.2}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="output folder (must be empty or not exist)")
    parser.add_argument("--tiles", type=int, default=None, help="number of tiles over all splits (>= 3; default 60)")
    parser.add_argument("--size", type=int, default=512,
                        help="tile side in pixels, a multiple of 32 (default 512; with --oem any side >= 32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    parser.add_argument("--label-noise", type=float, default=0.0, metavar="P",
                        help="fraction of Train/Val masks given realistic errors, 0..1 (default 0)")
    parser.add_argument("--val-fraction", type=float, default=None,
                        help="share of tiles in Val (default 0.2; with --oem per region, default 0.25)")
    parser.add_argument("--test-fraction", type=float, default=None,
                        help="share of tiles in Test (default 0.2; with --oem per region, default 0.125)")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow a non-empty OUT; replaces earlier synth_*.png tiles and the manifest")
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    oem = parser.add_argument_group("OpenEarthMap-like source (--oem)")
    oem.add_argument("--oem", action="store_true",
                     help="write OEM-layout GeoTIFFs with OEM label codes instead of the LoveDA-layout benchmark")
    oem.add_argument("--regions", type=int, default=None, help="number of labelled regions (default 3)")
    oem.add_argument("--tiles-per-region", type=int, default=None, help="tiles per region (default 8)")
    oem.add_argument("--large-size", type=int, default=None,
                     help="side of the last region's tiles (default 1000, OEM's usual size; 0: same as --size)")


def run(args: argparse.Namespace) -> int:
    from landseg.errors import ConfigError

    if args.oem:
        return _run_oem(args)
    given = [flag for flag, value in (("--regions", args.regions), ("--tiles-per-region", args.tiles_per_region),
                                      ("--large-size", args.large_size)) if value is not None]
    if given:
        raise ConfigError(f"{', '.join(given)}: only used with --oem; add --oem or drop the option(s).")
    for key, default in _LOVEDA_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, default)

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


def _run_oem(args: argparse.Namespace) -> int:
    from landseg.data.synth_oem import generate_oem_like
    from landseg.errors import ConfigError

    if args.tiles is not None or args.label_noise:
        raise ConfigError("--tiles and --label-noise do not apply with --oem; use --regions and "
                          "--tiles-per-region (OEM-like labels have no injected noise).")
    options = {"regions": args.regions, "tiles_per_region": args.tiles_per_region, "val_fraction": args.val_fraction,
               "test_fraction": args.test_fraction}
    kwargs = {key: value for key, value in options.items() if value is not None}
    if args.large_size is not None:
        kwargs["large_size"] = args.large_size or None
    result = generate_oem_like(args.out, size=args.size, seed=args.seed, progress=not args.no_progress,
                               overwrite=args.overwrite, **kwargs)
    sizes = ", ".join(f"{region} {side}x{side}" for region, side in result.sizes.items())
    counts = ", ".join(f"{split}.txt {n}" for split, n in result.counts.items())
    print(f"Wrote {result.labelled + result.unlabelled} OpenEarthMap-like GeoTIFF image(s) ({result.labelled} "
          f"with labels) to {result.out} in {result.seconds:.1f} s ({counts}); tiles: {sizes}.")
    if result.unlabelled_region:
        print(f"{result.unlabelled_region}: {result.unlabelled} image(s) without labels, listed in train.txt "
              "(import-oem reports them and skips them).")
    print(f"Settlement-heavy tiles (> 50% of labelled pixels are codes 3/4/8): {len(result.settlement_heavy)} "
          f"of {result.labelled}; details in {result.manifest.name}.")
    print("OEM code shares (label pixels):")
    width = max(len(name) for name in result.code_fractions)
    for code, (name, share) in enumerate(result.code_fractions.items()):
        print(f"  {code} {name:<{width}}  {share:6.1%}")
    print(f"next: landseg import-oem --oem-root {result.out} --out OUT --mapping config/mappings/oem_to_biodiversity.yaml")
    return 0
