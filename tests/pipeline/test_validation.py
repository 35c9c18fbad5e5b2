"""Pipeline files are checked before any stage runs: parameters, kinds, references, cycles, profiles, inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from landseg.cli.main import main
from landseg.errors import ConfigError, DatasetError
from landseg.pipeline import load_pipeline, run_pipeline
from landseg.pipeline.spec import apply_profile, merged_raw

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "config/biodiversity/pipeline.yaml"
DEMO_PROFILE = REPO / "config/demo/profile.yaml"


def _pipe(tmp_path: Path, stages: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(f"name: t\nrun_dir: {tmp_path / 'run'}\nstages:\n{stages}")
    return path


def _error(path: Path, profiles: list[Path] | None = None) -> str:
    with pytest.raises(ConfigError) as exc:
        load_pipeline(path, profiles or [])
    return str(exc.value)


def test_misspelled_parameter_names_the_file_the_stage_and_the_closest_valid_name(tmp_path: Path) -> None:
    path = _pipe(tmp_path, "  - {name: data, kind: synth, params: {out: x}}\n"
                           "  - {name: drop, kind: filter, params: {dataset: x, class: Settlement, max_fractoin: 0.4}}\n")
    msg = _error(path)
    assert msg.startswith(f"{path}: stage 'drop' (kind filter): unknown parameter 'max_fractoin' "
                          "(did you mean 'max_fraction'?)")
    assert "Valid parameters of a filter stage: dataset (a string (required)), class" in msg
    assert "max_fraction (a number (default 0.5))" in msg and "\n" not in msg  # one paragraph


def test_missing_required_and_wrongly_typed_parameters(tmp_path: Path) -> None:
    msg = _error(_pipe(tmp_path, "  - {name: imp, kind: import_oem, params: {out: x, tile: big, edge: crop}}\n"))
    assert "stage 'imp' (kind import_oem): missing required parameter 'oem_root' (OpenEarthMap folder)" in msg
    assert "missing required parameter 'mapping' (class mapping YAML)" in msg
    assert "parameter 'tile' must be an integer (default 512), got 'big'" in msg
    assert "parameter 'edge' must be pad | drop (default 'pad'), got 'crop'" in msg
    # a reference stands for a string: not for a number
    msg = _error(_pipe(tmp_path, "  - {name: d, kind: synth, params: {out: x}}\n"
                                 "  - {name: s, kind: synth, params: {out: y, tiles: '{stages.d.out}'}}\n"))
    assert "parameter 'tiles' must be an integer" in msg


def test_unknown_stage_kind_suggests_the_closest(tmp_path: Path) -> None:
    msg = _error(_pipe(tmp_path, "  - {name: t, kind: trian, params: {config: c.py}}\n"))
    assert "stage 't' has unknown kind 'trian' (did you mean 'train'?); valid kinds: combine, dataset" in msg


def test_references_to_later_or_unknown_stages_and_cycles(tmp_path: Path) -> None:
    later = _pipe(tmp_path, "  - {name: a, kind: synth, params: {out: '{stages.b.out}'}}\n"
                            "  - {name: b, kind: synth, params: {out: x}}\n")
    assert "stage 'a' refers to b, a later stage: stages run in file order, so move 'a' below 'b'" in _error(later)
    unknown = _pipe(tmp_path, "  - {name: a, kind: synth, params: {out: '{stages.nowhere.out}'}}\n")
    assert "stage 'a' refers to nowhere, which is no stage of this pipeline (stages: a)" in _error(unknown)
    cycle = _pipe(tmp_path, "  - {name: a, kind: synth, params: {out: '{stages.b.out}'}}\n"
                            "  - {name: b, kind: synth, params: {out: '{stages.a.out}'}}\n")
    assert "stages form a cycle: a -> b -> a (stage 'a' needs its own output, indirectly)" in _error(cycle)
    itself = _pipe(tmp_path, "  - {name: a, kind: synth, params: {out: '{stages.a.out}'}}\n")
    assert "stages form a cycle: a -> a" in _error(itself)


def test_cli_reports_a_bad_pipeline_in_one_paragraph_with_exit_2(tmp_path: Path) -> None:
    path = _pipe(tmp_path, "  - {name: data, kind: synth, params: {out: x, tilez: 3}}\n")
    proc = subprocess.run([str(Path(sys.executable).with_name("landseg")), "pipeline", "run", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "unknown parameter 'tilez' (did you mean 'tiles'?)" in proc.stderr
    assert not (tmp_path / "run").exists()  # nothing ran, nothing was made


def test_profile_replaces_kinds_merges_params_and_names_unknown_stages(tmp_path: Path) -> None:
    raw = merged_raw(PIPELINE, [DEMO_PROFILE])
    stages = {s["name"]: s for s in raw["stages"]}
    assert (raw["name"], raw["run_dir"]) == ("demo", "runs/demo")
    assert stages["data"]["kind"] == "synth" and stages["oem_source"]["kind"] == "synth_oem"
    assert stages["baseline"]["params"]["config"] == "config/demo/baseline.py"
    # merged, not replaced: the pipeline's references stay
    assert stages["step3_kd_hard"]["params"]["overrides"]["sampling.weights"] == "{stages.hard_samples.weights}"
    assert stages["import_oem"]["params"] == {**merged_raw(PIPELINE)["stages"][7]["params"], "tile": 256}
    # the same stages, in the same order: a profile can neither add nor drop one
    assert [s["name"] for s in raw["stages"]] == [s["name"] for s in merged_raw(PIPELINE)["stages"]]
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  baselin: {params: {config: x.py}}\n")
    with pytest.raises(ConfigError, match=r"profile .*bad.yaml: no stage 'baselin' in the pipeline"):
        apply_profile(merged_raw(PIPELINE), bad)
    # null removes a parameter
    drop = tmp_path / "drop.yaml"
    drop.write_text("stages:\n  predict_pair: {params: {tta: null}}\n")
    assert "tta" not in {s["name"]: s for s in merged_raw(PIPELINE, [drop])["stages"]}["predict_pair"]["params"]
    # a profile's mistakes are caught like the pipeline's, naming the profile
    typo = tmp_path / "typo.yaml"
    typo.write_text("stages:\n  filter: {params: {max_fractoin: 0.4}}\n")
    assert f"{PIPELINE} (profile {typo}): stage 'filter' (kind filter): unknown parameter" in _error(PIPELINE, [typo])


def test_dry_run_of_the_seed_workflow_lists_missing_inputs_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # a machine without the user's data
    (tmp_path / "config").symlink_to(REPO / "config")
    code = main(["pipeline", "run", str(PIPELINE), "--dry-run", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    assert "[would run] data (dataset): never ran — MISSING data/biodiversity" in out
    for path, stage in (("data/biodiversity", "data"), ("data/openearthmap", "oem_source"),
                        ("data/orthomosaics", "orthomosaics")):
        assert f"  {path}  — " in out and f"needed by stage '{stage}'" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config"]  # no runs/, nothing written
    # a real run stops before its first stage, naming every missing input
    with pytest.raises(DatasetError, match=r"inputs missing, nothing was run:\n  data/biodiversity"):
        run_pipeline(PIPELINE, progress=False, log=lambda *_: None)
    assert not (tmp_path / "runs").exists()


def test_a_stage_never_deletes_a_folder_it_did_not_write(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "field_notes.txt").write_text("years of work")
    path = _pipe(tmp_path, f"  - {{name: data, kind: synth, params: {{out: {precious}, tiles: 6, size: 64}}}}\n")
    with pytest.raises(DatasetError, match="out .*precious already exists and was not written by this stage"):
        run_pipeline(path, progress=False, log=lambda *_: None)
    assert (precious / "field_notes.txt").read_text() == "years of work"
    status = json.loads((tmp_path / "run/data/stage.json").read_text())["status"]
    assert status == "failed"


def test_a_user_dataset_stage_checks_the_layout_and_reruns_when_the_data_changes(tmp_path: Path) -> None:
    from landseg.data.synth import generate_benchmark

    data = tmp_path / "bio"
    generate_benchmark(data, tiles=6, size=64, seed=0, progress=False)
    path = _pipe(tmp_path, f"  - {{name: data, kind: dataset, params: {{path: {data}}}}}\n")
    assert run_pipeline(path, progress=False, log=lambda *_: None).ran == ["data"]
    rec = json.loads((tmp_path / "run/data/stage.json").read_text())
    assert rec["outputs"] == {"out": str(data)} and rec["metrics"]["masks"] == 6  # masks_png, not the clean truth
    assert rec["data"]["wrote"][0]["masks"] == 6 and rec["data"]["wrote"][0]["sha256"]
    assert run_pipeline(path, progress=False, log=lambda *_: None).ran == []
    mask = next((data / "Train/Rural/masks_png").glob("*.png"))
    mask.write_bytes(mask.read_bytes())  # rewritten: new mtime
    import os

    os.utime(mask, ns=(0, 0))
    assert run_pipeline(path, progress=False, log=lambda *_: None).ran == ["data"]
    flat = _pipe(tmp_path, f"  - {{name: data, kind: dataset, params: {{path: {data / 'Train'}, layout: oem}}}}\n")
    with pytest.raises(DatasetError, match="has no <region>/images and labels. Expected a dataset"):
        run_pipeline(flat, progress=False, log=lambda *_: None)
