"""The automatic review policy: parsing, decisions at threshold boundaries, and an acceptance test."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from landseg.classes import BIODIVERSITY
from landseg.correction import DECISION_COLUMNS
from landseg.correction.auto import DEFAULT_AUTO_POLICY, AutoPolicy, auto_decisions, parse_auto_policy
from landseg.errors import ConfigError, DatasetError

# ------------------------------------------------------------------------------ parsing


def test_default_policy() -> None:
    policy = parse_auto_policy()
    assert policy == parse_auto_policy(DEFAULT_AUTO_POLICY) == AutoPolicy()
    assert (policy.agree, policy.agree_op, policy.quality, policy.quality_op, policy.prefer) == (
        0.85, ">=", 0.6, "<", "best")
    assert policy.text == "agree>=0.85,quality<0.6,prefer=best"
    assert policy.reviewer == "auto:agree>=0.85,quality<0.6,prefer=best"


@pytest.mark.parametrize("text, expected", [
    ("agree>=0.9,quality<0.5", AutoPolicy(0.9, 0.5)),
    (" agree > 0.9 , quality <= 0.5 , prefer = b ", AutoPolicy(0.9, 0.5, "B", ">", "<=")),
    ("quality<0.3", AutoPolicy(quality=0.3)),  # terms left out keep their defaults
    ("prefer=A", AutoPolicy(prefer="A")),
    ("Agree>=1,Quality<0", AutoPolicy(1.0, 0.0)),
])
def test_parse_good_policies(text: str, expected: AutoPolicy) -> None:
    policy = parse_auto_policy(text)
    assert policy == expected
    assert parse_auto_policy(policy.text) == policy  # the canonical text round-trips


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("agree=0.9", "agree takes >= or >"),
    ("agree<0.9", "agree takes >= or >"),
    ("quality>0.5", "quality takes < or <="),
    ("agree>=x", "'x' is not a number"),
    ("agree>=1.5", "must be a number in [0, 1]"),
    ("quality<-0.1", "must be a number in [0, 1]"),
    ("agree>=nan", "must be a number in [0, 1]"),
    ("prefer=C", "prefer=A, prefer=B or prefer=best"),
    ("prefer:A", "prefer=A, prefer=B or prefer=best"),
    ("iou>0.5", "term 'iou>0.5' is unknown"),
    ("agree>=0.9,agree>=0.8", "gives agree twice"),
    ("agree>=0.9,,quality<0.5", "empty term"),
])
def test_parse_bad_policies(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_auto_policy(text)


def test_policy_object_is_validated() -> None:
    with pytest.raises(ConfigError, match="prefer='C'"):
        AutoPolicy(prefer="C")
    with pytest.raises(ConfigError, match="agree takes"):
        AutoPolicy(agree_op="<")


# ------------------------------------------------------------------------------ decisions


def _row(agreement: float | str, quality: float | str, iou=(0.7, 0.6), acc=(0.9, 0.8), name: str = "t") -> dict:
    """A predictions.csv row as the CSV reader gives it (strings, 6 decimals)."""
    def f(v: float | str) -> str:
        return v if isinstance(v, str) else f"{v:.6f}"

    return {"name": name, "split": "Val/Rural", "image": f"/data/Val/Rural/images_png/{name}.png",
            "gt_mask": f"/data/Val/Rural/masks_png/{name}.png", "pred_A": f"pred_A/{name}.png",
            "pred_B": f"pred_B/{name}.png", "iou_A": f(iou[0]), "iou_B": f(iou[1]), "acc_A": f(acc[0]),
            "acc_B": f(acc[1]), "agreement": f(agreement), "label_quality": f(quality), "gt_classes": "0;1"}


@pytest.mark.parametrize("policy, agreement, quality, choice", [
    ("agree>=0.85,quality<0.6", 0.85, 0.599999, "A"),    # both exactly at / just inside the boundary
    ("agree>=0.85,quality<0.6", 0.849999, 0.1, "GT"),
    ("agree>=0.85,quality<0.6", 0.99, 0.6, "GT"),
    ("agree>0.85,quality<0.6", 0.85, 0.1, "GT"),
    ("agree>0.85,quality<0.6", 0.850001, 0.1, "A"),
    ("agree>=0.85,quality<=0.6", 0.9, 0.6, "A"),
    ("agree>=0.85,quality<=0.6", 0.9, 0.600001, "GT"),
])
def test_decisions_at_threshold_boundaries(policy: str, agreement: float, quality: float, choice: str) -> None:
    assert parse_auto_policy(policy).decide(_row(agreement, quality))[0] == choice


def test_notes_say_why() -> None:
    policy = parse_auto_policy("agree>=0.85,quality<0.6")
    assert policy.decide(_row(0.8, 0.7)) == (
        "GT", "keep GT: A/B agreement 0.800 < 0.85 and GT label quality 0.700 ≥ 0.6")
    choice, note = policy.decide(_row(0.9, 0.2))
    assert choice == "A"
    assert note == ("A/B agreement 0.900 >= 0.85 and GT label quality 0.200 < 0.6 → A "
                    "(best: mean IoU vs GT A 0.700, B 0.600)")
    assert policy.decide(_row("", "0.5")) == ("GT", "keep GT: agreement or label quality undefined "
                                              "(no labelled pixels)")
    assert policy.decide({"agreement": 0.9, "label_quality": 0.2, "iou_A": 0.1, "iou_B": 0.2})[0] == "B"  # floats


@pytest.mark.parametrize("iou, acc, choice", [
    ((0.6, 0.7), (0.9, 0.8), "B"),   # higher mean IoU against GT
    ((0.7, 0.7), (0.8, 0.9), "B"),   # IoU tie: higher accuracy
    ((0.7, 0.7), (0.9, 0.9), "A"),   # full tie: A
    (("", 0.1), (0.9, 0.9), "B"),    # undefined IoU loses
])
def test_prefer_best(iou: tuple, acc: tuple, choice: str) -> None:
    assert parse_auto_policy("prefer=best").decide(_row(0.9, 0.1, iou=iou, acc=acc))[0] == choice


def test_prefer_a_or_b_ignores_scores() -> None:
    row = _row(0.9, 0.1, iou=(0.1, 0.9))
    assert parse_auto_policy("prefer=A").decide(row) == (
        "A", "A/B agreement 0.900 >= 0.85 and GT label quality 0.100 < 0.6 → A (prefer=A)")
    assert parse_auto_policy("prefer=B").decide(_row(0.9, 0.1, iou=(0.9, 0.1)))[0] == "B"


def test_auto_decisions_rows(tmp_path: Path) -> None:
    rows = [_row(0.9, 0.1, iou=(0.5, 0.8), name="bad"), _row(0.5, 0.1, name="disputed"), _row(0.99, 0.9, name="ok")]
    decisions = auto_decisions(rows, "agree>=0.85,quality<0.6", out_dir=tmp_path, time="2024-01-02T03:04:05+00:00")
    assert [d.choice for d in decisions] == ["B", "GT", "GT"]
    assert {d.reviewer for d in decisions} == {"auto:agree>=0.85,quality<0.6,prefer=best"}
    assert {d.time for d in decisions} == {"2024-01-02T03:04:05+00:00"}
    assert decisions[0].prediction == str((tmp_path / "pred_B/bad.png").resolve())
    assert decisions[1].prediction == decisions[2].prediction == ""
    assert decisions[0].image == "/data/Val/Rural/images_png/bad.png"
    row = decisions[0].as_row()
    assert list(row) == DECISION_COLUMNS and row["choice"] == "B"
    stamp = auto_decisions(rows[1:], AutoPolicy())[0].time
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)


def test_auto_decisions_errors() -> None:
    with pytest.raises(ValueError, match="pass out_dir"):
        auto_decisions([_row(0.9, 0.1)])
    absolute = _row(0.9, 0.1) | {"pred_A": "/abs/pred_A/t.png"}
    assert auto_decisions([absolute])[0].prediction == "/abs/pred_A/t.png"
    with pytest.raises(DatasetError, match="lacks column"):
        auto_decisions([{"name": "x", "agreement": "0.9"}])
    with pytest.raises(DatasetError, match="agreement='high' is not a number"):
        auto_decisions([_row("high", 0.1)], out_dir="/tmp")
    with pytest.raises(ConfigError):
        auto_decisions([_row(0.9, 0.1)], "agree=1")


# ------------------------------------------------------------------------------ acceptance


def _model_probs(clean: np.ndarray, shift: int, axis: int) -> np.ndarray:
    """A stand-in for a good model: the clean truth shifted by a pixel, with soft class boundaries."""
    import cv2

    onehot = np.eye(6, dtype=np.float32)[np.roll(clean, shift, axis)]
    probs = 0.9 * cv2.GaussianBlur(onehot, (0, 0), 1.5).transpose(2, 0, 1) + 0.1 / 6
    return probs / probs.sum(0)


def _accuracy(folder: Path, clean_folder: Path) -> float:
    from landseg.data.files import read_mask

    hits = total = 0
    for path in sorted(folder.glob("*.png")):
        clean = read_mask(clean_folder / path.name)
        hits += int(np.sum(read_mask(path) == clean))
        total += clean.size
    return hits / total


def test_auto_policy_makes_noisy_labels_more_accurate(tmp_path: Path) -> None:
    """12 Val tiles of 64², half with annotation errors; "models" are the clean truth with
    one-pixel shifts and soft boundaries (no training). Applying the decisions must move the masks
    towards the clean truth; a stricter quality threshold replaces exactly the noisy tiles."""
    from landseg.correction.predict_pair import (
        _fmt,
        label_quality,
        pair_scores,
        palette_png,
        predictions_csv_text,
        read_predictions,
    )
    from landseg.data.files import read_mask
    from landseg.data.synth import generate_benchmark

    root = tmp_path / "data"
    generate_benchmark(root, tiles=60, size=64, seed=0, label_noise=0.5, progress=False)
    val = root / "Val/Rural"
    noisy = {Path(t["name"]).stem for t in json.loads((root / "synth_manifest.json").read_text())["tiles"]
             if t["split"] == "Val" and t["noisy"]}
    out = tmp_path / "corr"
    rows = []
    for mask_path in sorted((val / "masks_png").glob("*.png")):
        name, gt, clean = mask_path.stem, read_mask(mask_path), read_mask(val / "masks_png_clean" / mask_path.name)
        probs = {"A": _model_probs(clean, 1, 0), "B": _model_probs(clean, 1, 1)}
        preds = {k: p.argmax(0).astype(np.uint8) for k, p in probs.items()}
        for k, pred in preds.items():
            (out / f"pred_{k}").mkdir(parents=True, exist_ok=True)
            (out / f"pred_{k}" / f"{name}.png").write_bytes(palette_png(pred, BIODIVERSITY))
        scores = pair_scores(gt, preds["A"], preds["B"], BIODIVERSITY)
        rows.append({"name": name, "split": "Val/Rural", "image": str(val / "images_png" / mask_path.name),
                     "gt_mask": str(mask_path), "pred_A": f"pred_A/{name}.png", "pred_B": f"pred_B/{name}.png",
                     **{k: _fmt(v) for k, v in scores.items()},
                     "label_quality": _fmt(label_quality(gt, (probs["A"] + probs["B"]) / 2)), "gt_classes": ""})
    (out / "predictions.csv").write_text(predictions_csv_text(rows))
    rows = read_predictions(out)
    assert len(rows) == 12 and len(noisy) == 6

    before = _accuracy(val / "masks_png", val / "masks_png_clean")
    results = {}
    for policy in (DEFAULT_AUTO_POLICY, "agree>=0.9,quality<0.2"):
        fixed = tmp_path / f"fixed_{len(results)}"
        shutil.copytree(val / "masks_png", fixed)
        decisions = auto_decisions(rows, policy, out_dir=out)
        for row, d in zip(rows, decisions, strict=True):
            assert d.image == row["image"]
            if d.choice in ("A", "B"):
                (fixed / f"{row['name']}.png").write_bytes(palette_png(read_mask(d.prediction), BIODIVERSITY))
        replaced = {Path(d.image).stem for d in decisions if d.choice != "GT"}
        results[policy] = (_accuracy(fixed, val / "masks_png_clean"), replaced)
        print(f"{policy}: pixel accuracy vs clean truth {before:.4f} -> {results[policy][0]:.4f}; "
              f"replaced {len(replaced)} tiles ({len(replaced & noisy)} of {len(noisy)} noisy)")
    assert results[DEFAULT_AUTO_POLICY][0] > before + 0.02
    assert noisy <= results[DEFAULT_AUTO_POLICY][1]
    strict_acc, strict_replaced = results["agree>=0.9,quality<0.2"]
    assert strict_replaced == noisy
    assert strict_acc > results[DEFAULT_AUTO_POLICY][0]
