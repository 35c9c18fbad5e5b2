"""Models: GeoSeg key/shape equality, GeoSeg logits, any 32-multiple size, safe weight loading."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from landseg.errors import CheckpointError, ConfigError
from landseg.models import build_model, list_models, load_weights

FACTS = Path(__file__).parent / "data"


def _shapes(model: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def _facts(name: str) -> dict:
    return json.loads((FACTS / name).read_text())


def test_ftunetformer_swinb_matches_geoseg_keys_and_shapes() -> None:
    facts = _facts("geoseg_ftunetformer_swinb_keys.json")
    model = build_model("ftunetformer", 6)
    assert _shapes(model) == {k: s for k, s in facts["keys"]}
    assert sum(p.numel() for p in model.parameters()) == facts["num_params"] == 95_978_478


def test_unetformer_r18_matches_geoseg_keys_and_shapes() -> None:
    facts = _facts("geoseg_unetformer_r18_keys.json")
    model = build_model("unetformer", 6, backbone="resnet18")
    assert _shapes(model) == {k: s for k, s in facts["keys"]}
    assert sum(p.numel() for p in model.parameters()) == facts["num_params"]


def test_reproduces_geoseg_logits(reference_dir: Path) -> None:
    cfg = json.loads((reference_dir / "geoseg_ftunetformer_small_cfg.json").read_text())
    model = build_model("ftunetformer", cfg.pop("num_classes"), **cfg).eval()
    load_weights(model, reference_dir / "geoseg_ftunetformer_small.ckpt", strict=True)
    io = np.load(reference_dir / "geoseg_ftunetformer_small_io.npz")
    with torch.no_grad():
        logits = model(torch.from_numpy(io["x"]))
    assert np.abs(logits.numpy() - io["logits"]).max() <= 1e-5


@pytest.mark.parametrize("name", ["ftunetformer_tiny", "unetformer"])
@pytest.mark.parametrize("size", [(32, 32), (64, 96), (96, 160), (288, 64)])
def test_any_multiple_of_32_runs(name: str, size: tuple[int, int]) -> None:
    model = build_model(name, 6).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert out.shape == (1, 6, *size)
    assert torch.isfinite(out).all()


def test_padding_equals_geoseg_reflect_where_geoseg_runs() -> None:
    from landseg.models.layers import pad_reflect

    x = torch.randn(2, 3, 9, 11)
    assert torch.equal(pad_reflect(x, 5, 7), torch.nn.functional.pad(x, (0, 5, 0, 7), mode="reflect"))
    big = pad_reflect(torch.randn(1, 2, 3, 1), 7, 9)  # larger than the side: still defined
    assert big.shape == (1, 2, 12, 8)


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_a_step(name: str) -> None:
    kw = {"embed_dim": 32, "depths": (1, 1, 1, 1), "num_heads": (1, 2, 4, 8), "decode_channels": 32} \
        if name == "ftunetformer" else {}
    model = build_model(name, 3, **kw).train()
    x = torch.randn(2, 3, 64, 64)
    out = model(x, return_aux=True) if getattr(model, "has_aux", False) else (model(x),)
    sum(o.mean() for o in out).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_unknown_model_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="Model type 'segformer' is not valid.*ftunetformer"):
        build_model("segformer", 6)


def test_freeze_stages_freezes_patch_embed_and_early_stages() -> None:
    model = build_model("ftunetformer_tiny", 6, freeze_stages=2)
    assert not any(p.requires_grad for p in model.backbone.patch_embed.parameters())
    assert not any(p.requires_grad for p in model.backbone.layers[0].parameters())
    assert all(p.requires_grad for p in model.backbone.layers[1].parameters())


# --- load_weights -------------------------------------------------------------------------------

def _tiny(n: int = 6) -> torch.nn.Module:
    return build_model("ftunetformer_tiny", n)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.mark.parametrize("fmt", ["geoseg", "plain", "landseg"])
def test_load_weights_formats(tmp_path: Path, fmt: str) -> None:
    src = _tiny()
    sd = src.state_dict()
    obj = {"geoseg": {"state_dict": {f"net.{k}": v for k, v in sd.items()}, "epoch": 3},
           "plain": sd,
           "landseg": {"state_dict": {f"net.{k}": v for k, v in sd.items()},
                       "landseg": {"model": {"name": "ftunetformer_tiny", "num_classes": 6, "options": {}}}}}[fmt]
    torch.save(obj, tmp_path / "w.ckpt")
    dst = _tiny()
    assert not _same(src, dst)
    report = load_weights(dst, tmp_path / "w.ckpt")
    assert report.loaded == len(sd)
    assert _same(src, dst)


def test_wrong_class_count_lists_mismatched_keys(tmp_path: Path) -> None:
    torch.save({"state_dict": {f"net.{k}": v for k, v in _tiny(9).state_dict().items()}}, tmp_path / "oem.ckpt")
    with pytest.raises(CheckpointError, match=r"decoder\.segmentation_head\.2\.0\.weight \(9, 32, 1, 1\) vs \(6, 32, 1, 1\)"):
        load_weights(_tiny(6), tmp_path / "oem.ckpt")


def test_other_architecture_lists_missing_and_unexpected(tmp_path: Path) -> None:
    torch.save(build_model("unetformer", 6).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(CheckpointError) as err:
        load_weights(_tiny(6), tmp_path / "r18.pth")
    msg = str(err.value)
    assert "keys missing from the checkpoint" in msg and "unexpected keys" in msg and "r18.pth" in msg


def test_non_strict_loads_what_fits(tmp_path: Path) -> None:
    torch.save(_tiny(9).state_dict(), tmp_path / "w.pth")
    report = load_weights(_tiny(6), tmp_path / "w.pth", strict=False)
    assert report.mismatched and report.loaded > 0


class _Evil:
    def __reduce__(self):  # a pickle that would run code if unpickled unsafely
        return (Path.touch, (Path("/tmp/landseg_pwned"),))


def test_refuses_to_unpickle_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    with path.open("wb") as fh:
        pickle.dump({"state_dict": {}, "x": _Evil()}, fh)
    Path("/tmp/landseg_pwned").unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_weights(_tiny(), path)
    assert not Path("/tmp/landseg_pwned").exists()


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="Checkpoint not found"):
        load_weights(_tiny(), tmp_path / "nope.ckpt")


def test_pretrained_backbone_from_local_file(tmp_path: Path) -> None:
    src = _tiny()
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in src.backbone.state_dict().items()}}, tmp_path / "bb.pth")
    model = build_model("ftunetformer_tiny", 6, pretrained=str(tmp_path / "bb.pth"))
    assert torch.equal(model.backbone.patch_embed.proj.weight, src.backbone.patch_embed.proj.weight)
