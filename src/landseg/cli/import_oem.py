"""Import OpenEarthMap (official layout) as remapped PNG tiles with a georeferencing manifest.

Reads OEM_ROOT/<region>/images|labels/<region>_<n>.tif for the images named in the split lists
(OEM_ROOT/train.txt, val.txt, ...), cuts them into --tile pairs (one tile when an image is exactly
--tile square, else OUT/images_png/oem_<region>_<n>_<row>_<col>.png), remaps the labels with
--mapping and writes OUT/images_png, OUT/masks_png (flat layout) and OUT/manifest.csv (source
files, split, CRS, affine transform of every tile, sha256 of every mask). Images listed without
a label file are reported, not imported. Every input is checked before anything is written; a
non-empty OUT is refused unless it holds this same import, which is then resumed.

Examples:
  landseg import-oem --oem-root data/OpenEarthMap --out data/oem_bio --mapping config/mappings/oem_to_biodiversity.yaml
  landseg import-oem --oem-root data/OpenEarthMap --out data/oem_bio_1024 --mapping config/mappings/oem_to_biodiversity.yaml \\
      --tile 1024 --splits train --workers 2
  landseg import-oem --oem-root data/OpenEarthMap --out data/oem_bio_drop --mapping my_mapping.yaml --edge drop --min-valid 0.75
"""

from __future__ import annotations

import argparse

NAME = "import-oem"
HELP = "cut OpenEarthMap GeoTIFFs into remapped PNG tiles with a georeferencing manifest"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--oem-root", required=True, help="OpenEarthMap folder holding <region>/ folders and train.txt etc.")
    p.add_argument("--out", required=True, help="new (or empty) output folder; an earlier run of the same import resumes")
    p.add_argument("--mapping", required=True, help="class mapping YAML, e.g. config/mappings/oem_to_biodiversity.yaml")
    p.add_argument("--tile", type=int, default=512, help="tile size in pixels (default 512)")
    p.add_argument("--splits", default="train,val", help="comma-separated split lists to import (default train,val)")
    p.add_argument("--edge", choices=["pad", "drop"], default="pad",
                   help="partial edge tiles: pad (image 0, label ignore) or drop those below --min-valid (default pad)")
    p.add_argument("--min-valid", type=float, default=0.5,
                   help="with --edge drop: keep an edge tile when at least this share is real image (default 0.5)")
    p.add_argument("--workers", type=int, default=1, help="processes, one source file each (default 1)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from landseg.curation.oem import import_oem

    res = import_oem(args.oem_root, args.out, args.mapping, tile=args.tile, splits=args.splits, edge=args.edge,
                     min_valid=args.min_valid, workers=args.workers, progress=not args.no_progress)
    print(res.report())
    return 0
