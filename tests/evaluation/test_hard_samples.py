"""hard-samples: per-tile stats, weight policies, tables, name-keyed deterministic outputs, sliding window, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from landseg.cli.main import main
from landseg.errors import ConfigError
from landseg.evaluation.hard_samples import (
    ANALYSIS_JSON,
    TABLES_MD,
    WEIGHTS_TSV,
    analyze_hard_samples,
    summary_line,
    weights_tsv,
)
from landseg.evaluation.weight_policy import (
    TileStats,
    WeightPolicy,
    class_table,
    parse_policy,
    tier_table,
    tile_stats,
    weigh_tiles,
)
from landseg.inference import predict_logits, predict_sliding
from landseg.inference.sliding import window_starts
from landseg.models import build_model

NAMES = ["Background", "Forest Land", "Grassland", "Cropland", "Settlement", "SemiNatural Grassland"]


def stats(name: str, mean: float | None, **classes: tuple[float | None, int]) -> TileStats:
    """A tile whose mean IoU is exactly ``mean``: Background carries it unless classes are given."""
    iou: dict[str, float | None] = dict.fromkeys(NAMES)
    pixels = dict.fromkeys(NAMES, 0)
    if mean is not None and not classes:
        iou["Background"], pixels["Background"] = mean, 1000
    for key, (value, px) in classes.items():
        iou[key.replace("_", " ")], pixels[key.replace("_", " ")] = value, px
    return TileStats.from_iou(name, iou, pixels)


def weight(policy: WeightPolicy, tile: TileStats) -> float:
    return policy.weigh(tile)[0]


# ---------------------------------------------------------------------------------- pure functions


def test_tile_stats_from_confusion_matrix() -> None:
    # rows truth, cols prediction; class 2 is in neither truth nor prediction; class 3 is only predicted
    cm = np.array([[6, 2, 0, 0], [1, 3, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]])
    s = tile_stats("t", cm, ["a", "b", "c", "d"])
    assert s.iou == {"a": 6 / 9, "b": 3 / 7, "c": None, "d": 0.0}
    assert s.pixels == {"a": 8, "b": 5, "c": 0, "d": 0}
    assert s.mean_iou == pytest.approx((6 / 9 + 3 / 7 + 0.0) / 3)


@pytest.mark.parametrize(("mean", "expected"), [
    (1.0, 1.0), (0.8, 1.0), (0.7999, 2.0), (0.7, 2.0), (0.6999, 3.0), (0.6, 3.0),
    (0.5999, 4.5), (0.5, 4.5), (0.4999, 6.0), (0.0, 6.0)])
def test_tiers_policy_at_boundaries(mean: float, expected: float) -> None:
    assert weight(WeightPolicy(), stats("t", mean)) == expected


def test_tiers_ignore_float_round_off_at_a_boundary() -> None:
    tile = stats("t", None, Background=(0.7, 10), Grassland=(0.9, 10))  # mean (0.7 + 0.9) / 2
    assert weight(WeightPolicy(), tile) == 1.0


def test_custom_tiers_are_parsed_and_sorted() -> None:
    policy = parse_policy("tiers", tiers="0.5:2, 0:5, 0.9:1")
    assert policy.tiers == ((0.9, 1.0), (0.5, 2.0), (0.0, 5.0))
    assert [weight(policy, stats("t", m)) for m in (0.95, 0.9, 0.6, 0.49)] == [1.0, 1.0, 2.0, 5.0]


@pytest.mark.parametrize(("tile", "expected"), [
    (stats("t", 0.75), 1.0),
    (stats("t", 0.7), 1.0),
    (stats("t", 0.65), 2.0),
    (stats("t", 0.6), 2.0),
    (stats("t", 0.55), 3.0),
    # hard class: IoU < 0.6 on >= 100 truth pixels adds 1.5 (mean 0.75 here)
    (stats("t", None, Background=(0.91, 500), Settlement=(0.59, 100)), 2.5),
    (stats("t", None, Background=(0.91, 500), Settlement=(0.59, 99)), 1.0),   # too few pixels
    (stats("t", None, Background=(0.9, 500), Settlement=(0.6, 100)), 1.0),    # not below 0.6
    (stats("t", None, Background=(0.5, 500), Settlement=(0.5, 300)), 4.5),    # 1 + 2 + 1.5; Background never hard
    # mean 0.4 -> +2, two hard classes -> +3
    (stats("t", None, Background=(0.9, 50), Grassland=(0.2, 400), Cropland=(0.1, 400)), 6.0),
])
def test_additive_policy(tile: TileStats, expected: float) -> None:
    assert weight(parse_policy("additive"), tile) == expected


def test_additive_policy_with_listed_classes_and_min_pixels() -> None:
    tile = stats("t", None, Background=(0.9, 500), Grassland=(0.3, 50), Settlement=(0.3, 50))
    policy = parse_policy("additive", hard_classes="Settlement", min_pixels=10)
    w, why = policy.weigh(tile)
    assert w == 1 + 2 + 1.5  # mean 0.5, only Settlement is listed
    assert "Settlement IoU 0.300 on 50 px" in why and "Grassland" not in why


@pytest.mark.parametrize(("mean", "kwargs", "expected"), [
    (0.65, {}, 1 + 5 * 0.35 / 0.7),
    (0.65, {"gamma": 2.0}, 1 + 5 * (0.35 / 0.7) ** 2),
    (0.3, {}, 6.0),
    (0.1, {}, 6.0),
    (1.0, {}, 1.0),
    (0.5, {"w_max": 3.0, "iou_min": 0.0}, 2.0),
])
def test_continuous_policy(mean: float, kwargs: dict, expected: float) -> None:
    assert weight(parse_policy("continuous", **kwargs), stats("t", mean)) == pytest.approx(expected, abs=1e-4)


def test_unlabelled_tile_counts_as_easy() -> None:
    w, why = WeightPolicy().weigh(stats("t", None))
    assert w == 1.0 and "no labelled pixels" in why


def test_tier_table_counts_and_percentages() -> None:
    means = [0.9, 0.85, 0.8, 0.75, 0.65, 0.6, 0.3, 0.1]
    tiles = weigh_tiles([stats(f"t{i}", m) for i, m in enumerate(means)], WeightPolicy())
    rows = tier_table(tiles, WeightPolicy())
    assert [(r.weight, r.samples, r.percent) for r in rows] == [
        ("1", 3, 37.5), ("2", 1, 12.5), ("3", 2, 25.0), ("4.5", 0, 0.0), ("6", 2, 25.0)]
    assert rows[0].meaning == "easy (mean IoU ≥ 0.8)"
    assert rows[2].meaning == "hard (0.6 ≤ mean IoU < 0.7)"
    assert rows[-1].meaning == "hardest (mean IoU < 0.5)"
    assert summary_line(tiles) == ("8 unique tiles; sum of weights = 23.00 (an epoch with sum_of_weights "
                                   "sampling would show 23 samples)")


def test_additive_tier_table_groups_by_weight() -> None:
    policy = parse_policy("additive")
    tiles = weigh_tiles([stats("a", 0.9), stats("b", 0.9),
                         stats("c", None, Background=(0.5, 500), Settlement=(0.5, 300))], policy)
    rows = tier_table(tiles, policy)
    assert [(r.weight, r.samples, r.meaning) for r in rows] == [
        ("1", 2, "mean IoU ≥ 0.7, 0 hard classes"), ("4.5", 1, "mean IoU < 0.6, 1 hard class")]


def test_continuous_tier_table_bins_weights() -> None:
    policy = parse_policy("continuous")
    tiles = weigh_tiles([stats(f"t{i}", m) for i, m in enumerate([1.0, 0.95, 0.65, 0.3, 0.0])], policy)
    rows = tier_table(tiles, policy)
    assert [r.weight for r in rows] == ["1–2", "2–3", "3–4", "4–5", "5–6"]
    assert [r.samples for r in rows] == [2, 0, 1, 0, 2]  # weights 1, 1.357, 3.5, 6, 6
    assert rows[0].meaning == "easy (mean IoU > 0.86)" and rows[-1].meaning == "hardest (mean IoU ≤ 0.44)"


def test_class_table_counts_hard_tiles_per_class() -> None:
    tiles = weigh_tiles([
        stats("a", None, Background=(0.9, 100), Settlement=(0.4, 20)),   # mean 0.65 -> 3
        stats("b", None, Background=(0.9, 100), Settlement=(0.5, 20)),   # IoU 0.5 is not hard; mean 0.7 -> 2
        stats("c", None, Background=(0.2, 100), Cropland=(0.0, 0)),      # Cropland only predicted; mean 0.1 -> 6
        stats("d", None, Background=(0.95, 100)),                        # -> 1
    ], WeightPolicy())
    rows = {r.name: r for r in class_table(tiles, NAMES)}
    assert (rows["Background"].hard, rows["Background"].tiles, rows["Background"].mean_weight) == (1, 4, 3.0)
    assert (rows["Settlement"].hard, rows["Settlement"].tiles, rows["Settlement"].percent_hard) == (1, 2, 50.0)
    assert rows["Settlement"].mean_weight == 2.5
    assert (rows["Cropland"].hard, rows["Cropland"].tiles, rows["Cropland"].mean_weight) == (0, 0, None)


def test_weights_tsv_is_keyed_and_sorted_by_name() -> None:
    tiles = weigh_tiles([stats("b10", 0.9), stats("a", 0.55), stats("b2", 0.65)], parse_policy("continuous"))
    assert weights_tsv(tiles) == "name\tweight\na\t4.2143\nb10\t1.7143\nb2\t3.5000\n"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tiers": "0.8-1,0:6"}, "THRESHOLD:WEIGHT"),
    ({"tiers": "0.8:1,0.5:3"}, "threshold 0"),
    ({"tiers": "0.8:1,0.8:2,0:6"}, "repeats a threshold"),
    ({"tiers": "0.8:-1,0:6"}, "positive"),
    ({"gamma": 2.0}, "--gamma only applies to --policy continuous"),
    ({"kind": "random"}, "unknown weight policy"),
    ({"kind": "continuous", "iou_min": 1.0}, "--iou-min"),
    ({"kind": "additive", "hard_classes": " , "}, "--hard-classes is empty"),
])
def test_bad_policy_settings_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_policy(**{"kind": "tiers", **kwargs})


def test_unknown_hard_class_lists_valid_classes() -> None:
    from landseg.classes import BIODIVERSITY

    assert parse_policy("additive", hard_classes="settlement").for_classes(BIODIVERSITY).hard_classes == ("Settlement",)
    with pytest.raises(ConfigError, match="'Wetland' is not a class.*valid classes: Background"):
        parse_policy("additive", hard_classes="Settlement,Wetland").for_classes(BIODIVERSITY)


# ---------------------------------------------------------------------------------- sliding window


@pytest.fixture(scope="module")
def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return build_model("ftunetformer_tiny", 6).eval()


@pytest.mark.parametrize("window", [64, 96, 512])
def test_sliding_equals_whole_tile_when_window_covers_it(tiny_net: nn.Module, window: int) -> None:
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(predict_sliding(tiny_net, x, window, overlap=16), predict_logits(tiny_net, x))


def test_sliding_windows_cover_large_tiles(tiny_net: nn.Module) -> None:
    assert window_starts(96, 64, 32) == [0, 32] and window_starts(100, 64, 16) == [0, 36]
    x = torch.randn(2, 3, 96, 64)
    out = predict_sliding(tiny_net, x, 64, overlap=16)
    assert out.shape == (2, 6, 96, 64) and torch.isfinite(out).all()
    # a per-pixel model gives the same logits however the tile is cut
    pointwise = nn.Conv2d(3, 6, 1).eval()
    assert torch.allclose(predict_sliding(pointwise, x, 32, overlap=8), predict_logits(pointwise, x), atol=1e-6)


# ---------------------------------------------------------------------------------- with a model


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from landseg.data.synth import generate_benchmark

    root = tmp_path_factory.mktemp("hard") / "data"
    generate_benchmark(root, tiles=6, size=64, seed=3, val_fraction=0.0, test_fraction=0.0, progress=False)
    return root


def _ckpt(path: Path, zero_head: bool = False) -> Path:
    """A tiny landseg checkpoint; with ``zero_head`` all logits are 0, so every pixel is Background."""
    from landseg.training.config import build_experiment
    from landseg.training.module import checkpoint_metadata

    torch.manual_seed(0)
    exp = build_experiment({"model": {"name": "ftunetformer_tiny"}, "data": {"crop_size": 64}})
    state = build_model("ftunetformer_tiny", 6).state_dict()
    if zero_head:
        state["decoder.segmentation_head.2.0.weight"].zero_()
    torch.save({"state_dict": {f"net.{k}": v for k, v in state.items()}, "landseg": checkpoint_metadata(exp)}, path)
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _ckpt(tmp_path_factory.mktemp("ckpt") / "model.ckpt")


def _run(ckpt: Path, data: Path, out: Path, policy: WeightPolicy | None = None) -> dict[str, float]:
    # iou_min 0: an untrained model's tiles all score below the default 0.3, which would give all 6
    policy = policy or parse_policy("continuous", iou_min=0.0)
    res = analyze_hard_samples(ckpt, data, "Train", out, policy=policy, progress=False)
    return res.weights


def test_per_tile_stats_match_a_hand_count(bench: Path, tmp_path: Path) -> None:
    from landseg.data import read_mask

    ckpt = _ckpt(tmp_path / "background.ckpt", zero_head=True)
    analyze_hard_samples(ckpt, bench, "Train", tmp_path / "out", progress=False)
    tiles = json.loads((tmp_path / "out" / ANALYSIS_JSON).read_text())["tiles"]
    masks = sorted((bench / "Train/Rural/masks_png").glob("*.png"))
    assert [t["name"] for t in tiles] == [m.stem for m in masks]
    for tile, mask_path in zip(tiles, masks, strict=True):
        counts = np.bincount(read_mask(mask_path).ravel(), minlength=6)[:6]
        iou = [counts[0] / counts.sum()] + [0.0 if c else None for c in counts[1:]]
        assert tile["pixels"] == dict(zip(NAMES, counts.tolist(), strict=True))
        assert tile["iou"] == {n: None if v is None else round(float(v), 6) for n, v in zip(NAMES, iou, strict=True)}
        assert tile["mean_iou"] == pytest.approx(np.mean([v for v in iou if v is not None]), abs=1e-6)


def test_two_runs_write_identical_files(ckpt: Path, bench: Path, tmp_path: Path) -> None:
    for out in ("a", "b"):
        analyze_hard_samples(ckpt, bench, "Train", tmp_path / out, progress=False)
    for name in (ANALYSIS_JSON, WEIGHTS_TSV, TABLES_MD):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    rows = (tmp_path / "a" / WEIGHTS_TSV).read_text().splitlines()
    assert rows[0] == "name\tweight" and len(rows) == 7
    assert [r.split("\t")[0] for r in rows[1:]] == sorted(p.stem for p in (bench / "Train/Rural/images_png").iterdir())


def test_weights_do_not_depend_on_file_order_or_the_other_tiles(ckpt: Path, bench: Path, tmp_path: Path) -> None:
    original = _run(ckpt, bench, tmp_path / "orig")
    assert len(set(original.values())) > 1  # continuous weights differ per tile, so a shift would show
    names = sorted(original)
    # Renamed so that the sort order reverses, and only every tile but the first: keyed by name,
    # each tile must keep its weight.
    renamed = {f"r{len(names) - i:02d}": old for i, old in enumerate(names) if i > 0}
    copy = tmp_path / "copy"
    for kind in ("images_png", "masks_png"):
        (copy / "Train/Rural" / kind).mkdir(parents=True)
        for new, old in renamed.items():
            shutil.copy(bench / "Train/Rural" / kind / f"{old}.png", copy / "Train/Rural" / kind / f"{new}.png")
    shuffled = _run(ckpt, copy, tmp_path / "copy_out")
    assert {renamed[new]: w for new, w in shuffled.items()} == {old: original[old] for old in renamed.values()}


def test_cli_prints_both_tables(ckpt: Path, bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["hard-samples", "--checkpoint", str(ckpt), "--data", str(bench), "--out", str(tmp_path),
                 "--policy", "additive", "--hard-classes", "Settlement,cropland", "--min-pixels", "50",
                 "--window", "32", "--overlap", "8", "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "## Weight tiers (policy: additive)" in out and "| weight | samples |" in out
    assert "## Per-class difficulty" in out and "| SemiNatural Grassland |" in out
    assert "6 unique tiles; sum of weights = " in out
    analysis = json.loads((tmp_path / ANALYSIS_JSON).read_text())
    assert analysis["policy"]["hard_classes"] == ["Settlement", "Cropland"] and analysis["window"] == 32


@pytest.mark.parametrize(("args", "message"), [
    (["--checkpoint", "missing.ckpt"], "Checkpoint not found: missing.ckpt"),
    (["--policy", "additive", "--hard-classes", "Wetland"], "'Wetland' is not a class of this checkpoint"),
    (["--tiers", "0.8=1,0=6"], "--tiers: cannot read '0.8=1'"),
    (["--policy", "continuous", "--tiers", "0:1"], "--tiers only applies to --policy tiers"),
    (["--window", "64", "--overlap", "64"], "must be at least 0 and smaller than the window"),
])
def test_cli_bad_input_exits_2(ckpt: Path, bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               args: list[str], message: str) -> None:
    base = {"--checkpoint": str(ckpt), "--data": str(bench), "--out": str(tmp_path / "o")}
    given = dict(zip(args[::2], args[1::2], strict=True))
    argv = ["hard-samples", *[x for k, v in {**base, **given}.items() for x in (k, v)], "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("landseg hard-samples: error: ") and message in err
    assert not (tmp_path / "o").exists()
