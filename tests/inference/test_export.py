"""`landseg export`: ONNX/TorchScript parity with PyTorch, embedded metadata, onnxruntime without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from landseg.cli.main import main
from landseg.inference.export import ExportError, export_model, read_metadata
from landseg.models import build_model

TILE = 64


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint  # ftunetformer_tiny with landseg metadata, tile TILE


@pytest.fixture(scope="module")
def exported(ckpt: Path) -> dict[str, Path]:
    return {"onnx": ckpt.with_name("model.onnx"), "torchscript": ckpt.with_name("model.pt")}


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load is deprecated
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_pytorch_and_embeds_metadata(fmt: str, ckpt: Path, exported: dict[str, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = exported[fmt]
    assert main(["export", "--checkpoint", str(ckpt), "--format", fmt, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "max |Δlogit| = " in printed and out.is_file()
    meta = read_metadata(out)
    assert meta["parity"]["max_abs_diff"] <= 1e-3
    assert meta["tile_size"] == TILE and meta["format"] == fmt and meta["landseg_version"]
    assert meta["model"]["name"] == "ftunetformer_tiny"
    assert [c["name"] for c in meta["classes"]][:2] == ["Background", "Forest Land"]
    assert all(len(c["color"]) == 3 for c in meta["classes"]) and len(meta["classes"]) == 6
    assert meta["normalization"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert meta["normalization"]["std"] == pytest.approx([0.229, 0.224, 0.225])
    if fmt == "torchscript":
        module = torch.jit.load(str(out))
        x = torch.randn(3, 3, TILE, TILE)  # a batch size the trace never saw
        assert module(x).shape == (3, 6, TILE, TILE)


ORT_ONLY = r"""
import json, sys
import numpy as np
import onnxruntime as ort
from PIL import Image
onnx_path, image_path, out_path = sys.argv[1:4]
sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
meta = json.loads(sess.get_modelmeta().custom_metadata_map["landseg.json"])
norm = meta["normalization"]
rgb = np.asarray(Image.open(image_path).convert("RGB"), dtype=np.float32) / norm["max_pixel_value"]
x = ((rgb - np.array(norm["mean"], np.float32)) / np.array(norm["std"], np.float32)).transpose(2, 0, 1)[None]
logits = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]
np.save(out_path, logits.argmax(1)[0].astype(np.uint8))
assert "torch" not in sys.modules, "onnxruntime inference imported torch"
print("classes:", ",".join(c["name"] for c in meta["classes"]))
"""


def test_onnx_runs_with_onnxruntime_alone(ckpt: Path, exported: dict[str, Path], tmp_path: Path) -> None:
    onnx_path = exported["onnx"]
    if not onnx_path.is_file():
        assert main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--out", str(onnx_path)]) == 0
    rng = np.random.default_rng(0)
    rgb = np.clip(rng.normal(120, 50, (TILE, TILE, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "tile.png")
    proc = subprocess.run([sys.executable, "-c", ORT_ONLY, str(onnx_path), str(tmp_path / "tile.png"),
                           str(tmp_path / "pred.npy")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "classes: Background,Forest Land" in proc.stdout
    ort_pred = np.load(tmp_path / "pred.npy")

    from landseg.inference import load_model

    loaded = load_model(ckpt)
    x = torch.from_numpy(rgb).float().div(255).permute(2, 0, 1)
    x = (x - torch.tensor(loaded.mean)[:, None, None]) / torch.tensor(loaded.std)[:, None, None]
    with torch.no_grad():
        torch_pred = loaded.model(x[None]).argmax(1)[0].numpy()
    assert ort_pred.shape == torch_pred.shape == (TILE, TILE)
    assert (ort_pred == torch_pred).mean() >= 0.999


def test_failed_parity_removes_the_file(ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match=r"does not reproduce PyTorch: max \|Δlogit\|"):
        export_model(ckpt, out, "onnx", tolerance=-1.0)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_dynamic_size_is_refused_when_the_graph_cannot_resize(ckpt: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dyn.onnx"
    assert main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--out", str(out), "--dynamic-size"]) == 2
    err = capsys.readouterr().err
    assert "cannot be exported with --dynamic-size" in err and "Export without --dynamic-size" in err
    assert not out.exists()


def test_bad_input_exits_2_with_a_clear_message(ckpt: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.ckpt"
    assert main(["export", "--checkpoint", str(missing), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    assert f"Checkpoint {missing} not found" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(ckpt), "--format", "tflite", "--out", str(tmp_path / "m")]) == 2
    assert "Unknown export format 'tflite'. Valid formats: onnx, torchscript." in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--out", str(tmp_path / "m.onnx"),
                 "--tile", "100"]) == 2
    assert "--tile 100 must be a positive multiple of 32" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_metadata_reader_names_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="x.onnx not found"):
        read_metadata(tmp_path / "x.onnx")


SWIN_SMALL = {"decode_channels": 32, "embed_dim": 48, "depths": [1, 1, 2, 1], "num_heads": [2, 2, 4, 8],
              "window_size": 8}


def test_onnx_export_of_a_swin_backbone_geoseg_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    torch.save(build_model("ftunetformer", 6, **SWIN_SMALL).state_dict(), tmp_path / "geoseg.pth")
    res = export_model(tmp_path / "geoseg.pth", tmp_path / "g.onnx", "onnx", tile=TILE, model="ftunetformer",
                       options=SWIN_SMALL)
    assert res.max_abs_diff <= 1e-3
