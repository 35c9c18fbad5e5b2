"""Ablations: bootstrap intervals (pure functions), variants and derived pipelines, and a tiny real run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny_pipeline import write_tiny_pipeline

from landseg.cli.main import main
from landseg.errors import ConfigError
from landseg.pipeline.ablation import emit_jobs, make_variants, parse_vary, plan_ablation
from landseg.pipeline.bootstrap import bootstrap_ci, bootstrap_ci_unpaired, contrast

REPO = Path(__file__).resolve().parents[2]


def scores(miou: float, ious: list[float | None], miou_all: float | None = None) -> dict:
    """The part of an evaluate stage's ``scores`` an ablation reads."""
    return {"mIoU": miou, "mIoU_all": miou if miou_all is None else miou_all, "IoU": ious,
            "class_names": [f"c{i}" for i in range(len(ious))],
            "labels": {"mIoU": "mIoU (2 classes, c0 excluded)", "mIoU_all": "mIoU (3 classes)"}}


# --- statistics ----------------------------------------------------------------------------------

def test_constant_deltas_give_a_degenerate_interval_at_the_constant() -> None:
    assert bootstrap_ci([0.1, 0.1, 0.1, 0.1]) == (0.1, 0.1)
    assert bootstrap_ci([0.0] * 5) == (0.0, 0.0)


def test_known_shift_gives_an_interval_around_the_shift() -> None:
    rng = np.random.default_rng(3)
    deltas = 0.05 + rng.normal(0, 0.01, size=20)
    low, high = bootstrap_ci(deltas)
    assert low < deltas.mean() < high and 0.04 < low and high < 0.06
    # Reproducible (fixed RNG seed), narrower at a lower level.
    assert bootstrap_ci(deltas) == (low, high)
    low80, high80 = bootstrap_ci(deltas, level=0.8)
    assert low < low80 < high80 < high
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci([])


def test_contrast_of_a_variant_with_itself_is_zero() -> None:
    runs = {k: scores(0.5 + 0.03 * k, [0.9, 0.4 + 0.01 * k, None]) for k in range(5)}
    c = contrast(runs, runs)
    assert c.paired and [e.metric for e in c.estimates] == ["mIoU", "mIoU_all", "IoU/c0", "IoU/c1", "IoU/c2"]
    for e in c.estimates[:4]:
        assert (e.mean, e.low, e.high) == (0.0, 0.0, 0.0) and e.contains_zero and e.verdict == "no evidence"
    undefined = c.estimate("IoU/c2")  # a class absent from every run has no estimate, not a zero
    assert undefined.n == 0 and math.isnan(undefined.mean) and undefined.verdict == "undefined"


def test_paired_contrast_cancels_seed_noise_and_finds_the_shift() -> None:
    # Seed noise (±5 points) much larger than the effect (+1 point), shared by both variants per seed.
    noise = [0.05, -0.04, 0.03, -0.05, 0.01]
    ref = {k: scores(0.5 + n, [0.5 + n] * 3) for k, n in enumerate(noise)}
    var = {k: scores(0.51 + n + 0.001 * k, [0.51 + n] * 3) for k, n in enumerate(noise)}
    c = contrast(ref, var, variant="v", reference="r")
    e = c.estimate("mIoU")
    assert c.paired and e.n == 5 and e.low > 0 and e.low <= e.mean <= e.high and e.verdict == "higher"
    assert e.mean == pytest.approx(0.012)
    assert contrast(var, ref).estimate("mIoU").verdict == "lower"


def test_unpaired_fallback_when_seeds_differ() -> None:
    ref = {k: scores(0.50 + 0.01 * k, [0.5] * 3) for k in range(4)}
    var = {k: scores(0.60 + 0.01 * (k - 10), [0.6] * 3) for k in range(10, 13)}
    c = contrast(ref, var)
    e = c.estimate("mIoU")
    assert not c.paired and c.ref_seeds == [0, 1, 2, 3] and c.var_seeds == [10, 11, 12] and e.n == 3
    assert e.mean == pytest.approx(0.61 - 0.515)
    assert e.low <= e.mean <= e.high and e.low > 0
    assert bootstrap_ci_unpaired([0.5] * 3, [0.5] * 4) == (0.0, 0.0)
    low, high = bootstrap_ci_unpaired([0.4, 0.5, 0.6], [0.45, 0.55, 0.65])
    assert low < 0.05 < high


# --- variants and derived pipelines ---------------------------------------------------------------

def test_parse_vary_and_the_cartesian_product() -> None:
    v = parse_vary("kd.overrides.distill.loss=kl, dist")
    assert (v.stage, v.path, v.values) == ("kd", ("overrides", "distill", "loss"), ("kl", "dist"))
    assert parse_vary("a.overrides.optim.lr=0.002,0.0020,true").values == (0.002, 0.002, True)
    for bad in ("kd=kl", "kd.overrides.distill.loss", "kd.overrides.x=[1, 2]", "kd..x=1"):
        with pytest.raises(ConfigError):
            parse_vary(bad)
    variants = make_variants([parse_vary("a.p=1,1"), parse_vary("b.q=x,y")])
    assert [x.label for x in variants] == ["a.p=1, b.q=x", "a.p=1, b.q=y", "a.p=1, b.q=x (2)", "a.p=1, b.q=y (2)"]
    assert len({x.slug for x in variants}) == 4 and variants[0].slug == "a.p=1__b.q=x"


def write_pipeline(tmp_path: Path) -> Path:
    """synth 10 tiles of 64 px → tiny train (1 epoch) → evaluate on Test."""
    return write_tiny_pipeline(tmp_path, """  - name: a
    kind: train
    params: {config: {cfg}, overrides: {data.root: "{stages.data.out}", trainer.seed: 7}}
  - name: evaluate
    kind: evaluate
    params: {models: {a: "{stages.a.best_checkpoint}"}, data: "{stages.data.out}", splits: [Test]}
""")


def test_derived_pipelines_and_jobs(tmp_path: Path) -> None:
    pipe = write_pipeline(tmp_path)
    plan = plan_ablation(pipe, ["a.overrides.optim.lr=0.001,0.002", "data.tiles=10"], 2, tmp_path / "abl")
    assert [v.slug for v in plan.variants] == ["a.overrides.optim.lr=0.001__data.tiles=10",
                                               "a.overrides.optim.lr=0.002__data.tiles=10"]
    assert plan.evaluate_stage == "evaluate" and plan.models == ["a"] and len(plan.runs) == 4
    jobs = emit_jobs(plan, cwd=tmp_path).read_text().splitlines()
    assert len(jobs) == 4 and all("landseg pipeline run" in j and j.startswith(f"cd {tmp_path}") for j in jobs)
    run = plan.runs[3]
    derived = yaml.safe_load(run.pipeline.read_text())
    assert derived["run_dir"] == str(run.dir) == str(tmp_path / "abl" / plan.variants[1].slug / "seed1")
    a = derived["stages"][1]["params"]["overrides"]
    assert a["optim.lr"] == 0.002 and a["trainer.seed"] == 1 and a["data.root"] == "{stages.data.out}"
    assert derived["stages"][0]["params"] == yaml.safe_load(pipe.read_text())["stages"][0]["params"]  # data fixed
    assert json.loads((plan.out / "plan.json").read_text())["seeds"] == [0, 1]
    with pytest.raises(ConfigError, match="no parameter 'tile'"):
        plan_ablation(pipe, ["data.tile=3,4"], 1, tmp_path / "x")
    with pytest.raises(ConfigError, match="no stage 'kd'"):
        plan_ablation(pipe, ["kd.overrides.distill.loss=kl"], 1, tmp_path / "x")
    with pytest.raises(ConfigError, match="what --seeds varies"):
        plan_ablation(pipe, ["a.overrides.trainer.seed=1,2"], 1, tmp_path / "x")
    pipe.write_text(pipe.read_text().replace('"{run_dir}/data"', f'"{tmp_path}/fixed"'))
    with pytest.raises(ConfigError, match="fixed folder"):
        plan_ablation(pipe, [], 1, tmp_path / "x")
    assert not (tmp_path / "x").exists()


# --- acceptance ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_ablate_tiny_pipeline_prints_intervals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """3 seeds × (lr 0.002, the same again, lr 0 = no training at all).

    Training is deterministic on CPU, so the identical pair differs by exactly 0; a model that never
    learns is worse on every seed, so its interval lies below 0 (both would fail if contrasts broke).
    """
    pipe = write_pipeline(tmp_path)
    out = tmp_path / "abl"
    argv = ["ablate", str(pipe), "--vary", "a.overrides.optim.lr=0.002,0.002,0.0", "--seeds", "3",
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "95% CI" in printed and "no evidence of a difference beyond seed noise" in printed
    assert "Contrasts with the reference `a.overrides.optim.lr=0.002`" in printed
    # its row in the variants table + 8 contrast rows: mIoU, mIoU over all classes, 6 classes
    assert printed.count("| a.overrides.optim.lr=0.002 (2) | ") == 1 + 8
    report = json.loads((out / "ablation.json").read_text())
    assert [v["seeds"] for v in report["variants"]] == [[0, 1, 2]] * 3
    self_contrast, untrained = report["contrasts"]
    assert self_contrast["paired"] and self_contrast["variant"].endswith("(2)")
    for e in self_contrast["estimates"]:
        assert e["mean"] is None or e["mean"] == e["low"] == e["high"] == 0.0, e
    assert untrained["variant"] == "a.overrides.optim.lr=0.0" and untrained["estimates"][0]["metric"] == "mIoU"
    miou = untrained["estimates"][0]
    assert miou["label"].startswith("mIoU (") and untrained["estimates"][1]["metric"] == "mIoU_all"
    assert miou["mean"] < 0 and miou["high"] < 0, miou  # the interval excludes 0: a real difference
    md = (out / "ablation.md").read_text()
    assert "± " in md and "(reference)" in md
    # Seeds really vary training: the 3 seeds of one variant do not all score the same.
    assert len(set(report["variants"][0]["mIoU"]["values"])) > 1
    # A second ablate skips every stage; --collect reports without running.
    assert main(argv) == 0
    assert "[run]" not in capsys.readouterr().out
    assert main([*argv[:-1], "--collect", "--reference", "a.overrides.optim.lr=0.0"]) == 0
    assert "reference `a.overrides.optim.lr=0.0`" in capsys.readouterr().out
