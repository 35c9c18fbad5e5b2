"""Export a checkpoint to ONNX or TorchScript, verified against PyTorch, with metadata embedded.

After exporting, the file is run next to PyTorch eager on seeded inputs; if the largest logit
difference exceeds 1e-3 the file is removed and the command fails. The file carries class names and
colours, normalisation mean/std, tile size, model name/options and the landseg version (ONNX:
metadata_props["landseg.json"]; TorchScript: extra file "landseg.json").

Examples:
  landseg export --model runs/demo/step2_finetune/run/checkpoints/best.ckpt --format onnx --out model.onnx
  landseg export --model best.ckpt --format torchscript --out model.pt --tile 512
  landseg export --model geoseg.ckpt --arch ftunetformer --format onnx --out geoseg.onnx
"""

from __future__ import annotations

import argparse

from landseg.cli.common import add_model_arguments, model_options

NAME = "export"
HELP = "export a checkpoint to ONNX or TorchScript (parity-checked, metadata embedded)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--format", required=True, help="onnx or torchscript")
    p.add_argument("--out", required=True, help="output file (e.g. model.onnx, model.pt)")
    p.add_argument("--tile", type=int, default=None,
                   help="input side in pixels, a multiple of 32 (default: the checkpoint's tile size, 512 for GeoSeg)")
    p.add_argument("--dynamic-size", action="store_true",
                   help="ONNX only: dynamic height/width; refused (with nothing written) if the exported graph "
                        "does not reproduce PyTorch at another size, as for FT-UNetFormer")


def run(args: argparse.Namespace) -> int:
    from landseg.inference.export import export_model

    res = export_model(args.model, args.out, args.format, tile=args.tile, dynamic_size=args.dynamic_size,
                       **model_options(args))
    print(res.report())
    return 0
