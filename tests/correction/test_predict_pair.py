"""predict_pair: files and columns, metrics against hand computation, label quality, CLI errors."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from landseg.classes import BIODIVERSITY
from landseg.cli.main import main
from landseg.correction import PREDICTION_COLUMNS
from landseg.correction.predict_pair import (
    FLOAT_DECIMALS,
    PredictPairResult,
    label_quality,
    pair_scores,
    predict_pair,
    predict_probs,
    read_predictions,
)
from landseg.data.files import read_mask
from landseg.errors import ConfigError
from landseg.models import build_model

REPO = Path(__file__).resolve().parents[2]
HEAD = "decoder.segmentation_head.2.0.weight"  # last 1x1 conv, no bias: zeroed, every logit is 0


def _ckpt(path: Path, seed: int = 0, *, zero_head: bool = False, classes: list[dict] | None = None) -> Path:
    """A tiny landseg checkpoint with random weights (zero_head: uniform probabilities → Background)."""
    from landseg.training.config import build_experiment
    from landseg.training.module import checkpoint_metadata

    raw: dict = {"model": {"name": "ftunetformer_tiny"}, "data": {"crop_size": 64}}
    if classes is not None:
        raw["classes"] = classes
    exp = build_experiment(raw)
    torch.manual_seed(seed)
    net = build_model("ftunetformer_tiny", len(exp.classes))
    sd = net.state_dict()
    if zero_head:
        sd[HEAD] = torch.zeros_like(sd[HEAD])
    torch.save({"state_dict": {f"net.{k}": v for k, v in sd.items()}, "landseg": checkpoint_metadata(exp)}, path)
    return path


def _tree_sha256(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from landseg.data.synth import generate_benchmark

    work = tmp_path_factory.mktemp("pp")
    generate_benchmark(work / "data", tiles=15, size=64, seed=3, label_noise=0.5, progress=False)
    _ckpt(work / "zero.ckpt", zero_head=True)
    _ckpt(work / "rand.ckpt", seed=1)
    return work


@pytest.fixture(scope="module")
def run(work: Path) -> tuple[PredictPairResult, dict[str, str], dict[str, str], list[str]]:
    """One run A=zero-head, B=random; dataset hashes before and after; on_image calls."""
    before = _tree_sha256(work / "data")
    seen: list[str] = []
    res = predict_pair({"A": work / "zero.ckpt", "B": work / "rand.ckpt"}, work / "data", "Val", work / "out",
                       batch_size=2, progress=False, on_image=lambda i, name: seen.append(f"{i}:{name}"))
    return res, before, _tree_sha256(work / "data"), seen


def _val_names(work: Path) -> list[str]:
    return sorted(p.stem for p in (work / "data/Val/Rural/images_png").glob("*.png"))


def test_writes_every_file_with_the_shared_columns(work: Path, run) -> None:
    res, *_ = run
    out = work / "out"
    names = _val_names(work)
    assert res.count == len(names) == 3
    with (out / "predictions.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == PREDICTION_COLUMNS
        rows = list(reader)
    assert rows == res.rows == read_predictions(out)
    assert sorted(r["name"] for r in rows) == names
    qualities = [float(r["label_quality"]) for r in rows]
    assert qualities == sorted(qualities)  # worst first
    for r in rows:
        assert r["split"] == "Val/Rural"
        assert Path(r["image"]).is_absolute() and Path(r["image"]).is_file()
        assert r["gt_mask"] == str((work / "data/Val/Rural/masks_png" / f"{r['name']}.png").resolve())
        assert r["pred_A"] == f"pred_A/{r['name']}.png" and (out / r["pred_B"]).is_file()
        for label in ("A", "B", "GT"):
            jpg = out / f"overlay_{label}" / f"{r['name']}.jpg"
            assert jpg.read_bytes()[:2] == b"\xff\xd8"
            assert Image.open(jpg).size == (64, 64)
        for key in ("iou_A", "iou_B", "acc_A", "acc_B", "agreement", "label_quality"):
            assert len(r[key].split(".")[1]) == FLOAT_DECIMALS and 0.0 <= float(r[key]) <= 1.0
        gt = read_mask(r["gt_mask"])
        assert r["gt_classes"] == ";".join(str(c) for c in np.unique(gt))
    meta = json.loads((out / "predict_pair.json").read_text())
    assert meta["models"] == {"A": str((work / "zero.ckpt").resolve()), "B": str((work / "rand.ckpt").resolve())}
    assert meta["data"] == str((work / "data").resolve()) and meta["split"] == "Val"
    assert meta["mask_dir"] == "masks_png" and meta["tta"] == "none"
    assert meta["classes"] == BIODIVERSITY.to_list() and meta["ignore_index"] == 255
    assert meta["counts"] == {"images": 3, "splits": {"Val/Rural": 3}}


def test_progress_callback_and_dataset_untouched(run) -> None:
    res, before, after, seen = run
    assert before == after
    assert [s.split(":")[0] for s in seen] == ["1", "2", "3"]
    assert sorted(s.split(":")[1] for s in seen) == sorted(r["name"] for r in res.rows)


def test_palette_masks_read_back_as_class_indices(work: Path, run) -> None:
    res, *_ = run
    for r in res.rows:
        img = Image.open(work / "out" / r["pred_A"])
        assert img.mode == "P"
        assert img.getpalette()[: 3 * len(BIODIVERSITY)] == [v for c in BIODIVERSITY.colors for v in c]
        assert not read_mask(work / "out" / r["pred_A"]).any()  # zero head: uniform → Background
        assert set(np.unique(read_mask(work / "out" / r["pred_B"])).tolist()) <= set(range(6))


def _mean_iou(gt: np.ndarray, pred: np.ndarray) -> float:
    """Hand computation: IoU per class present in truth or prediction, averaged."""
    ious = []
    for c in sorted(set(np.unique(gt).tolist()) | set(np.unique(pred).tolist())):
        inter, union = np.sum((gt == c) & (pred == c)), np.sum((gt == c) | (pred == c))
        ious.append(inter / union)
    return float(np.mean(ious))


def test_metrics_match_a_hand_computation(work: Path, run) -> None:
    res, *_ = run
    for r in res.rows:
        gt = read_mask(r["gt_mask"])
        pred_b = read_mask(work / "out" / r["pred_B"])
        # A predicts Background everywhere: IoU(Background) = share of Background, other GT classes 0
        classes = set(np.unique(gt).tolist()) | {0}
        assert float(r["iou_A"]) == pytest.approx(np.mean(gt == 0) / len(classes), abs=1e-6)
        assert float(r["acc_A"]) == pytest.approx(np.mean(gt == 0), abs=1e-6)
        assert float(r["iou_B"]) == pytest.approx(_mean_iou(gt, pred_b), abs=1e-6)
        assert float(r["acc_B"]) == pytest.approx(np.mean(gt == pred_b), abs=1e-6)
        assert float(r["agreement"]) == pytest.approx(np.mean(pred_b == 0), abs=1e-6)


def test_uniform_models_give_the_uniform_label_quality(work: Path) -> None:
    res = predict_pair([work / "zero.ckpt", work / "zero.ckpt"], work / "data", "Val", work / "zero_out",
                       progress=False)
    for r in res.rows:
        assert float(r["label_quality"]) == pytest.approx(1 / 6, abs=1e-6)  # softmin of a constant
        assert r["agreement"] == "1.000000" and r["iou_A"] == r["iou_B"]


def test_same_checkpoint_agrees_fully_with_flip_tta(work: Path) -> None:
    res = predict_pair({"A": work / "rand.ckpt", "B": work / "rand.ckpt"}, work / "data", "Val", work / "tta",
                       tta="flip", progress=False)
    assert res.count == 3
    assert json.loads(res.meta_json.read_text())["tta"] == "flip"
    for r in res.rows:
        assert r["agreement"] == "1.000000"
        assert (r["iou_A"], r["acc_A"]) == (r["iou_B"], r["acc_B"])


def test_flip_tta_averages_flipped_probabilities() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    pointwise = torch.nn.Conv2d(3, 6, 1).eval()  # flip-equivariant: TTA changes nothing
    torch.testing.assert_close(predict_probs(pointwise, x, tta="flip"), predict_probs(pointwise, x), atol=1e-6,
                               rtol=0)
    conv = torch.nn.Conv2d(3, 6, 3, padding=1).eval()
    plain, tta = predict_probs(conv, x), predict_probs(conv, x, tta="flip")
    manual = (plain + predict_probs(conv, x.flip(-1)).flip(-1) + predict_probs(conv, x.flip(-2)).flip(-2)) / 3
    torch.testing.assert_close(tta, manual)
    torch.testing.assert_close(tta.sum(1), torch.ones(2, 32, 32))
    with pytest.raises(ConfigError, match="tta='rot'"):
        predict_probs(conv, x, tta="rot")
    d4 = predict_probs(conv, x, tta="d4")  # the same TTA as `landseg predict`: 8 views, each mapped back
    torch.testing.assert_close(predict_probs(pointwise, x, tta="d4"), predict_probs(pointwise, x), atol=1e-6, rtol=0)
    assert not torch.allclose(d4, tta) and torch.allclose(d4.sum(1), torch.ones(2, 32, 32))


def test_every_tta_option_names_the_same_modes() -> None:
    import landseg.cli.predict as cli_predict
    import landseg.cli.predict_pair as cli_pair
    from landseg.inference.tiling import TTA_MODES
    from landseg.pipeline.stages import STAGE_KINDS

    for kind in ("predict", "predict_pair"):
        assert STAGE_KINDS[kind].params["tta"].choices == TTA_MODES
    for module in (cli_predict, cli_pair):
        import argparse

        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        assert tuple(next(a for a in parser._actions if a.dest == "tta").choices) == TTA_MODES


# ------------------------------------------------------------------------------ label quality


def _probs(rng: np.random.Generator, mask: np.ndarray, confidence: float = 0.8) -> np.ndarray:
    """A decent 'model': mostly the given mask, plus random probability mass."""
    onehot = np.eye(6, dtype=np.float32)[mask].transpose(2, 0, 1)
    noise = rng.dirichlet(np.ones(6), size=mask.shape).astype(np.float32).transpose(2, 0, 1)
    return confidence * onehot + (1 - confidence) * noise


def test_label_quality_is_cleanlab_softmin_and_skips_ignored_pixels() -> None:
    from cleanlab.segmentation.rank import get_label_quality_scores

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, (16, 16))
    probs = _probs(rng, rng.integers(0, 6, (16, 16)))
    expected = get_label_quality_scores(labels[None], probs[None], method="softmin", verbose=False)[0][0]
    assert label_quality(labels, probs) == pytest.approx(expected, abs=1e-12)
    ignored = labels.copy()
    ignored[:4] = 255
    other = ignored.copy()
    other[:4] = labels[:4] ^ 1  # what was under the ignored pixels never matters
    assert label_quality(ignored, probs) == label_quality(np.where(ignored == 255, 255, other), probs)
    flat = get_label_quality_scores(labels[4:].reshape(1, 1, -1), probs[:, 4:].reshape(1, 6, 1, -1),
                                    method="softmin", verbose=False)[0][0]
    assert label_quality(ignored, probs) == pytest.approx(flat, abs=1e-12)
    assert label_quality(np.full((4, 4), 255), probs[:, :4, :4]) == 1.0
    with pytest.raises(ValueError, match="outside 0..5"):
        label_quality(np.full((16, 16), 7), probs)


def test_label_quality_is_lower_for_noisy_masks_than_their_clean_truth(work: Path) -> None:
    manifest = json.loads((work / "data/synth_manifest.json").read_text())
    noisy = [t for t in manifest["tiles"] if t["noisy"]]
    assert len(noisy) >= 3
    rng = np.random.default_rng(1)
    for tile in noisy:
        folder = work / "data" / tile["split"] / "Rural"
        clean = read_mask(folder / "masks_png_clean" / tile["name"])
        probs = _probs(rng, clean)
        noisy_mask = read_mask(folder / "masks_png" / tile["name"])
        assert label_quality(noisy_mask, probs) < label_quality(clean, probs), tile


def test_pair_scores_without_labelled_pixels_are_undefined() -> None:
    gt = np.full((4, 4), 255, np.uint8)
    scores = pair_scores(gt, np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8), BIODIVERSITY)
    assert set(scores.values()) == {None}


# ------------------------------------------------------------------------------ errors


def test_mismatched_class_tables_are_refused(work: Path, tmp_path: Path) -> None:
    renamed = [dict(c, name="Woodland") if c["name"] == "Forest Land" else c for c in BIODIVERSITY.to_list()]
    other = _ckpt(tmp_path / "other.ckpt", classes=renamed)
    with pytest.raises(ConfigError, match="different classes") as exc:
        predict_pair({"A": work / "zero.ckpt", "B": other}, work / "data", "Val", tmp_path / "out", progress=False)
    assert "Woodland" in str(exc.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("models", [{"A": "x.ckpt"}, {"A": "x", "B": "y", "C": "z"}, {"A": "x", "C": "y"}])
def test_exactly_models_a_and_b(work: Path, tmp_path: Path, models: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="exactly two models labelled A and B"):
        predict_pair(models, work / "data", "Val", tmp_path / "out", progress=False)


def test_output_inside_the_dataset_is_refused(work: Path) -> None:
    with pytest.raises(ConfigError, match="inside the dataset"):
        predict_pair([work / "zero.ckpt"] * 2, work / "data", "Val", work / "data/Val/corr", progress=False)


# ------------------------------------------------------------------------------ CLI


def test_cli_writes_predictions(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "geoseg_like.pth"  # a plain state dict records no model: --arch names it
    torch.save(build_model("ftunetformer_tiny", 6).state_dict(), plain)
    code = main(["predict-pair", "--model", f"A={work / 'rand.ckpt'}", "--model", f"B={plain}",
                 "--arch", "B=ftunetformer_tiny", "--data", str(work / "data"), "--split", "Val",
                 "--out", str(tmp_path / "out"), "--batch-size", "3", "--no-progress"])
    assert code == 0
    assert len(read_predictions(tmp_path / "out")) == 3
    assert "3 tiles; worst label quality first" in capsys.readouterr().out


@pytest.mark.parametrize("models, message", [
    (["{zero}"], "needs a label"),
    (["A={zero}"], "exactly two models labelled A and B"),
    (["A={zero}", "A={zero}"], "label 'A' twice"),
])
def test_cli_bad_models_exit_2(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               models: list[str], message: str) -> None:
    args = [a for m in models for a in ("--model", m.format(zero=work / "zero.ckpt"))]
    code = main(["predict-pair", *args, "--data", str(work / "data"), "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_missing_data_exit_2(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zero = work / "zero.ckpt"
    code = main(["predict-pair", "--model", f"A={zero}", "--model", f"B={zero}", "--data", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2
    assert "nope does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # no --data at all: argparse's usage error
        main(["predict-pair", "--model", f"A={zero}", "--model", f"B={zero}", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2


def test_benchmark_quick_mode(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks/bench_predict_pair.py"), "--quick",
                           "--work", str(tmp_path)], capture_output=True, text=True, timeout=180, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "peak RSS" in proc.stdout and "growth" in proc.stdout
