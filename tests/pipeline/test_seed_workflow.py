"""The real seed-workflow pipeline file, under the demo profile (shrunk further for a test), end to end.

This is the file users run on their data; the demo is the same file under config/demo/profile.yaml.
The test runs every stage of it and checks the data flow users depend on: after replace_masks,
every stage that trains, scores or weights tiles reads the corrected masks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from landseg.pipeline import run_pipeline
from landseg.pipeline.lineage import DataUse, fingerprint
from landseg.pipeline.stages import STAGE_KINDS

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "config/biodiversity/pipeline.yaml"
DEMO_PROFILE = REPO / "config/demo/profile.yaml"
TRAIN_STAGES = ("baseline", "kd", "step1_pretrain", "step2_finetune", "step3_kd_hard")
TINY = ("{data.crop_size: 64, data.batch_size: 4, data.val_batch_size: 4, data.num_workers: 0, "
        "trainer.max_epochs: 1, trainer.progress_bar: false, trainer.log_images: 0, trainer.precision: '32'}")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("seed")
    tiny = tmp / "tiny_profile.yaml"
    tiny.write_text(f"""run_dir: {tmp / "run"}
stages:
  data: {{params: {{tiles: 24, size: 64}}}}
  review: {{params: {{auto: "agree>=0.5,quality<0.9"}}}}
  oem_source: {{params: {{tiles_per_region: 4, size: 64, large_size: 96}}}}
  import_oem: {{params: {{tile: 64}}}}
  predict: {{params: {{tile: 64, overlap: 16}}}}
""" + "".join(f"  {s}: {{params: {{overrides: {TINY}}}}}\n" for s in TRAIN_STAGES))
    res = run_pipeline(PIPELINE, profiles=[DEMO_PROFILE, tiny], progress=False, log=lambda *_: None)
    assert res.waiting is None and res.skipped == []
    return tmp / "run"


def _rec(run: Path, stage: str) -> dict:
    return json.loads((run / stage / "stage.json").read_text())


@pytest.mark.slow
def test_every_stage_of_the_seed_workflow_runs_under_the_demo_profile(run: Path) -> None:
    kinds = {}
    for path in run.glob("*/stage.json"):
        rec = json.loads(path.read_text())
        assert rec["status"] == "complete", rec["stage"]
        assert rec["pipeline"] == str(PIPELINE) and rec["profiles"][0] == str(DEMO_PROFILE)
        kinds[rec["stage"]] = rec["kind"]
    assert len(kinds) == 19
    # every stage kind but `report` (tests/test_report.py runs that one) ran here
    assert set(kinds.values()) == set(STAGE_KINDS) - {"report"}
    assert sum(_rec(run, "replace_masks")["metrics"]["replaced"].values()) > 0


@pytest.mark.slow
def test_every_stage_after_replace_masks_reads_the_corrected_masks(run: Path) -> None:
    corrected = _rec(run, "replace_masks")["outputs"]["data_root"]
    original = _rec(run, "data")["outputs"]["out"]
    uses = {s: _rec(run, s)["data"]["read"] for s in ("step2_finetune", "hard_samples", "step3_kd_hard", "evaluate")}
    for stage, reads in uses.items():
        assert reads, stage
        for use in reads:
            assert use["path"] == corrected, (stage, use)
            now = fingerprint(DataUse(use["role"], corrected, use["split"], use["mask_dir"]))
            assert use["sha256"] == now["sha256"] and use["masks"] == now["masks"] > 0, (stage, use)
    # the corrections are in Val: what evaluate scored differs from the original masks
    val = next(u for u in uses["evaluate"] if u["split"] == "Val/Rural" and u["mask_dir"] == "masks_png")
    assert val["sha256"] != fingerprint(DataUse("x", original, "Val/Rural"))["sha256"]
    # step 1 trains on the combined (corrected + OEM) set and validates on the corrected masks
    step1 = {u["role"]: u for u in _rec(run, "step1_pretrain")["data"]["read"]}
    assert step1["train"]["path"] == _rec(run, "combine")["outputs"]["out"] and step1["train"]["split"] == "Train"
    assert step1["val"]["path"] == corrected
    # before the correction, the models read the original masks
    assert {u["path"] for u in _rec(run, "baseline")["data"]["read"]} == {original}
    assert {u["path"] for u in _rec(run, "predict_pair")["data"]["read"]} == {original}


@pytest.mark.slow
def test_report_shows_which_masks_each_model_was_trained_and_scored_on(run: Path) -> None:
    from landseg.report import write_report
    from landseg.report.records import RunRecords
    from landseg.report.workflow import lineage_rows

    rows = {(r[0], r[1], r[3]): r[2] for r in lineage_rows(RunRecords.load(run))}
    assert rows[("baseline", "train", "Train/Rural")] == "original (data)"
    assert rows[("step1_pretrain", "train", "Train")] == "combined, filtered (filter)"
    assert rows[("step1_pretrain", "val", "Val/Rural")] == "corrected (replace_masks)"
    assert rows[("step2_finetune", "train", "Train/Rural")] == "corrected (replace_masks)"
    assert rows[("step3_kd_hard", "train", "Train/Rural")] == "corrected (replace_masks)"
    assert rows[("hard_samples", "weights", "Train/Rural")] == "corrected (replace_masks)"
    assert rows[("evaluate", "score", "Test/Rural")] == "corrected (replace_masks)"
    md = write_report(run).markdown.read_text()
    assert "Data lineage" in md and "| step2_finetune | train | corrected (replace_masks) | Train/Rural |" in md
