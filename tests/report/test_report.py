"""`landseg report`: every section from hand-written stage records, "not run" gaps, a self-contained HTML.

The fake run below mirrors the demo (config/biodiversity/pipeline.yaml under config/demo/profile.yaml): one small stage.json per stage plus the
files records point to (train config.json and csv/metrics.csv, a confusion-matrix PNG, the
hard-sample analysis). Numbers are chosen to be unique so each can be found in the output.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import shutil
from pathlib import Path

import pytest

from landseg.classes import BIODIVERSITY
from landseg.cli.main import main
from landseg.report import write_report

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
NAMES = BIODIVERSITY.names
STAGES = [("data", "synth"), ("baseline", "train"), ("kd", "train"), ("predict_pair", "predict_pair"),
          ("review", "review"), ("replace_masks", "replace_masks"), ("oem_source", "synth_oem"),
          ("import_oem", "import_oem"), ("combine", "combine"), ("filter", "filter"),
          ("step1_pretrain", "train"), ("step2_finetune", "train"), ("hard_samples", "hard_samples"),
          ("step3_kd_hard", "train"), ("evaluate", "evaluate")]
MODELS = ["baseline", "kd", "step1_pretrain", "step2_finetune", "step3_kd_hard"]
#: The least each kind's stage needs in a pipeline file that loads (the records below hold the rest).
REQUIRED = {"synth": "out: d", "train": "config: c.py", "predict_pair": "models: {A: a, B: b}, data: d",
            "review": "dir: d", "replace_masks": "decisions: d.csv, data_root: d", "synth_oem": "out: o",
            "import_oem": "oem_root: o, out: i, mapping: m.yaml", "combine": "sources: {bio: d}, out: c",
            "filter": "dataset: c, class: Settlement", "hard_samples": "model: s.ckpt, data: d",
            "evaluate": "models: {m: m.ckpt}, data: d"}
# Test-split IoU per class and model (unique values: each shows up once as a percentage)
TEST_IOU = {
    "baseline": [0.7011, 0.8812, 0.9013, 0.6514, 0.7815, 0.5716],
    "kd": [0.7121, 0.8822, 0.9123, 0.6624, 0.7925, 0.5826],
    "step1_pretrain": [0.7231, 0.8932, 0.9033, 0.6934, 0.8035, 0.6136],
    "step2_finetune": [0.7341, 0.9042, 0.9243, 0.7044, 0.8145, 0.6346],
    "step3_kd_hard": [0.7451, 0.9152, 0.9253, 0.7154, 0.8255, 0.6456],
}


def scores(iou: list[float], oa: float, shift: float = 0.0, exclude_background: bool = False) -> dict:
    """A scores dict shaped like landseg.metrics.segmentation_scores (values chosen by hand)."""
    iou = [round(v + shift, 4) for v in iou]
    f1 = [round(2 * v / (1 + v), 4) for v in iou]
    counted = list(range(1, 6)) if exclude_background else list(range(6))
    label = "5 classes, Background excluded" if exclude_background else "6 classes"
    return {"num_classes": 6, "class_names": NAMES, "OA": oa, "IoU": iou, "F1": f1,
            "mIoU": round(sum(iou[i] for i in counted) / len(counted), 4), "mIoU_all": round(sum(iou) / 6, 4),
            "mF1": round(sum(f1[i] for i in counted) / len(counted), 4), "mF1_all": round(sum(f1) / 6, 4),
            "means_over_indices": counted,
            "labels": {"mIoU": f"mIoU ({label})", "mIoU_all": "mIoU (6 classes)",
                       "mF1": f"mean F1 ({label})", "mF1_all": "mean F1 (6 classes)"}}


def record(run: Path, stage: str, kind: str, *, params: dict | None = None, outputs: dict | None = None,
           metrics: dict | None = None, status: str = "complete", minute: int = 0, in_pipeline: bool = True) -> Path:
    rec = {"stage": stage, "kind": kind, "key": f"key{stage[:6]:>06}{minute:04d}"[:16], "pipeline": str(run / "pipeline.yaml"),
           "params": params or {}, "landseg_version": "0.1.0", "git_commit": f"c0ffee{minute:02d}" + "0" * 32,
           "host": "test", "started": f"2026-01-01T10:{minute:02d}:00Z", "status": status,
           "pipeline_stages": [list(sk) for sk in STAGES]}  # as the runner writes: the order the report follows
    if not in_pipeline:  # a record written without a pipeline run
        del rec["pipeline"], rec["pipeline_stages"]
    if status == "complete":
        rec.update(outputs=outputs or {}, metrics=metrics or {}, ended=f"2026-01-01T10:{minute:02d}:30Z",
                   duration_s=30.0 + minute)
    path = run / stage / "stage.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=2))
    return path


def train_stage(run: Path, stage: str, minute: int, *, root: Path, split: str = "Train/Rural", epochs: int = 6,
                best: float = 0.8, teacher: str | None = None, init: str | None = None,
                weights: str | None = None) -> None:
    rd = run / stage / "run"
    (rd / "csv").mkdir(parents=True, exist_ok=True)
    config = {"classes": BIODIVERSITY.to_list(), "ignore_index": 255,
              "data": {"root": str(root), "train_split": split},
              "teacher": {"checkpoint": teacher} if teacher else None, "init_from": init,
              "sampling": {"weights": weights, "mode": "repeat", "epoch_size": "sum_of_weights"} if weights else None}
    (rd / "config.json").write_text(json.dumps(config))
    lines = ["epoch,step,train_loss,val_mIoU,val_loss", ",0,,,"]
    for e in range(epochs):
        val = best - 0.03 * abs(epochs - 2 - e)
        lines += [f"{e},{11 * e + 11},,{val:.4f},{1.2 - 0.1 * e:.3f}", f"{e},{11 * e + 11},{2.0 - 0.2 * e + minute / 100:.4f},,"]
    (rd / "csv" / "metrics.csv").write_text("\n".join(lines) + "\n")
    overrides = {"data.root": str(root)}
    record(run, stage, "train", minute=minute, params={"config": f"config/demo/{stage}.py", "overrides": overrides},
           outputs={"best_checkpoint": str(rd / "checkpoints/best.ckpt"),
                    "last_checkpoint": str(rd / "checkpoints/last.ckpt"), "run_dir": str(rd)},
           metrics={"best_score": best, "monitor": "val_mIoU", "epochs": epochs, "seconds": 60.0 + minute,
                    "resumed": False, "precision": {"name": "32", "label": "fp32", "requested": "auto",
                                                    "reason": "CPU has AVX2 only, bf16 would be emulated"}})


@functools.cache
def _confusion_bytes(model: str, cm: tuple[tuple[int, ...], ...]) -> bytes:
    """A real evaluate-style confusion PNG, drawn once per session (plotting is the slow part)."""
    import tempfile

    from landseg.plots import plot_confusion_matrix

    with tempfile.TemporaryDirectory() as tmp:
        return plot_confusion_matrix(cm, BIODIVERSITY, Path(tmp) / "cm.png", title=f"{model} on Test").read_bytes()


def confusion_png(path: Path, model: str, cm: list[list[int]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_confusion_bytes(model, tuple(map(tuple, cm))))
    return path


def make_run(run: Path, exclude_background: bool = False) -> Path:
    """A complete fake run of the demo pipeline (every stage record, small files)."""
    run.mkdir(parents=True, exist_ok=True)
    (run / "pipeline.yaml").write_text("name: fakedemo\nrun_dir: " + str(run) + "\nstages:\n"
                                       + "".join(f"  - {{name: {s}, kind: {k}, params: {{{REQUIRED[k]}}}}}\n"
                                                 for s, k in STAGES))
    data, combined = run / "data", run / "combined"
    record(run, "data", "synth", minute=1, params={"out": str(data)}, outputs={"out": str(data)},
           metrics={"counts": {"Train": 96, "Val": 32, "Test": 32}, "noisy_masks": 39})
    ckpt = {m: str(run / m / "run/checkpoints/best.ckpt") for m in MODELS}
    train_stage(run, "baseline", 2, root=data, best=0.8302, epochs=10)
    train_stage(run, "kd", 3, root=data, best=0.8412, epochs=8, teacher=ckpt["baseline"])
    record(run, "predict_pair", "predict_pair", minute=4, params={"split": "Val"}, metrics={"images": 32})
    record(run, "review", "review", minute=5, metrics={"auto": "agree>=0.85"})
    record(run, "replace_masks", "replace_masks", minute=6, outputs={"data_root": str(data)},
           metrics={"replaced": {"A": 7, "B": 5}, "kept_gt": 20, "skipped": 0, "already": 0, "not_found": [],
                    "accuracy_vs_clean": {"before": {"Train/Rural": 0.9087, "Val/Rural": 0.8741},
                                          "after": {"Train/Rural": 0.9087, "Val/Rural": 0.9312}}})
    record(run, "oem_source", "synth_oem", minute=7, outputs={"out": str(run / "oem_source")})
    record(run, "import_oem", "import_oem", minute=8, outputs={"out": str(run / "oem_bio")},
           metrics={"tiles": 36, "written": 36})
    record(run, "combine", "combine", minute=9,
           params={"sources": {"bio": f"{data}/Train/Rural", "oem": str(run / "oem_bio")}},
           outputs={"out": str(combined), "train": str(combined / "Train"), "manifest": str(combined / "manifest.csv")},
           metrics={"added": {"bio": 96, "oem": 36}, "total": 132})
    # the filter moved 9 tiles into its backup: 6 from the OEM source, 3 biodiversity tiles
    moved = [f"oem_a_{i}.png" for i in range(6)] + [f"bio_{i}.png" for i in range(3)]
    (combined / "backup" / "masks_png").mkdir(parents=True)
    (combined / "manifest.csv").write_text("file,source\n" + "".join(
        f"{n},{'oem' if n.startswith('oem') else 'bio'}\n" for n in [*moved, "oem_kept.png", "bio_kept.png"]))
    for n in moved:
        (combined / "backup" / "masks_png" / n).write_bytes(b"")
    record(run, "filter", "filter", minute=10,
           params={"dataset": str(combined / "Train"), "class_name": "Settlement", "max_fraction": 0.5},
           outputs={"dataset": str(combined / "Train"), "backup": str(combined / "backup")},
           metrics={"tiles": 132, "removed": 9, "remaining": 123})
    train_stage(run, "step1_pretrain", 11, root=combined, split="Train", best=0.8523, epochs=8)
    train_stage(run, "step2_finetune", 12, root=data, best=0.8634, epochs=6, init=ckpt["step1_pretrain"])
    hs_out = run / "hard_samples" / "out"
    hs_out.mkdir(parents=True, exist_ok=True)
    (hs_out / "hard_samples_analysis.json").write_text(json.dumps({"policy": {"kind": "tiers"}}))
    record(run, "hard_samples", "hard_samples", minute=13,
           params={"checkpoint": ckpt["step2_finetune"], "data": str(data), "split": "Train/Rural"},
           outputs={"weights": str(hs_out / "sample_weights.tsv"), "analysis": str(hs_out / "hard_samples_analysis.json")},
           metrics={"tiles": 96, "sum_of_weights": 222.5,
                    "tier_rows": [{"weight": "1", "samples": 31, "percent": 32.3, "meaning": "easy (mean IoU ≥ 0.8)"},
                                  {"weight": "2", "samples": 35, "percent": 36.5, "meaning": "moderate"},
                                  {"weight": "3", "samples": 12, "percent": 12.5, "meaning": "hard"},
                                  {"weight": "4.5", "samples": 15, "percent": 15.6, "meaning": "very hard"},
                                  {"weight": "6", "samples": 3, "percent": 3.1, "meaning": "hardest"}],
                    "class_rows": [{"name": n, "hard": h, "tiles": t, "mean_weight": w} for n, h, t, w in
                                   zip(NAMES, [11, 0, 1, 11, 6, 7], [73, 83, 77, 83, 70, 72],
                                       [2.12, 2.22, 2.21, 2.27, 2.41, 2.19], strict=True)]})
    train_stage(run, "step3_kd_hard", 14, root=data, best=0.8745, epochs=5, teacher=ckpt["step2_finetune"],
                init=ckpt["step2_finetune"], weights=str(hs_out / "sample_weights.tsv"))
    results = {}
    for i, m in enumerate(MODELS):
        ev = run / "evaluate" / m
        cm = [[900 + 10 * i if r == c else 20 + 5 * ((r + c + i) % 4) for c in range(6)] for r in range(6)]
        test_png = confusion_png(ev / "Test" / "confusion_matrix.png", m, cm) if m != "kd" else ev / "Test" / "gone.png"
        metrics_json = ev / "Test" / "metrics.json"
        metrics_json.parent.mkdir(parents=True, exist_ok=True)
        metrics_json.write_text(json.dumps({"confusion_matrix": cm}))
        iou = TEST_IOU[m]
        results[m] = {
            "Val": {"scores": scores(iou, 0.91, 0.05, exclude_background),
                    "original_scores": scores(iou, 0.85, -0.03, exclude_background),
                    "clean_scores": scores(iou, 0.9, 0.02, exclude_background),
                    "confusion_png": str(ev / "Val" / "confusion_matrix.png")},
            "Test": {"scores": scores(iou, 0.88 + i / 100, 0.0, exclude_background),
                     "clean_scores": scores(iou, 0.9, 0.01, exclude_background),
                     "confusion_png": str(test_png), "metrics_json": str(metrics_json)}}
    record(run, "evaluate", "evaluate", minute=15, params={"models": ckpt, "splits": ["Val", "Test"]},
           outputs={"dir": str(run / "evaluate")}, metrics={"results": results})
    return run


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")


def _section(md: str, title: str) -> str:
    """The Markdown of one section (up to the next ## heading)."""
    start = md.index(f"## {title}")
    end = md.find("\n## ", start + 3)
    return md[start:end if end > 0 else None]


def _row(section: str, first_cell: str) -> str:
    return next(line for line in section.splitlines() if line.startswith(f"| {first_cell} |"))


def test_every_section_reads_the_records(run: Path) -> None:
    res = write_report(run)
    assert res.markdown == run / "report" / "report.md" and res.html == run / "report" / "report.html"
    md = res.markdown.read_text()
    for title in ("Performance progression", "Per-class IoU on Test", "Confusion matrices on Test",
                  "Dataset statistics", "Hard-sample weighting", "Training curves",
                  "Against the clean truth (synthetic benchmark)", "Appendix: provenance"):
        assert f"## {title}" in md, title
    assert "not run" not in md.replace("read **not run**", "")
    assert "15 of 15 stages complete" in md

    perf = _section(md, "Performance progression")
    # Test first (fair judge), then Val against corrected and original GT, each with labelled means
    assert perf.index("Test — the fair judge") < perf.index("Val against the corrected") < perf.index(
        "Val against the original")
    assert "| mIoU (6 classes) | mean F1 (6 classes) | OA |" in perf
    test_rows = perf[perf.index("Test — the fair judge"):perf.index("Val against the corrected")]
    step3 = _row(test_rows, "step3_kd_hard")
    miou = sum(TEST_IOU["step3_kd_hard"]) / 6
    assert f"| {100 * round(miou, 4):.2f} |" in step3
    assert f"| {100 * (round(miou, 4) - round(sum(TEST_IOU['baseline']) / 6, 4)):+.2f} |" in step3  # Δ vs baseline
    assert "| 96 (223 per epoch) |" in step3 and "KD from step2_finetune" in step3 and "init from step2_finetune" in step3
    assert "| 123 |" in _row(test_rows, "step1_pretrain")   # combined set after filter
    assert "| 96 |" in _row(test_rows, "baseline") and "KD from baseline" in _row(test_rows, "kd")
    val_original = perf[perf.index("Val against the original"):]
    assert f"| {100 * scores(TEST_IOU['kd'], 0, -0.03)['mIoU_all']:.2f} |" in _row(val_original, "kd")

    per_class = _section(md, "Per-class IoU on Test")
    assert "| Forest Land | 88.12 | 88.22 (+0.10) | 89.32 (+1.20) | 90.42 (+2.30) | 91.52 (+3.40) |" in per_class
    assert "(per_class_iou.png)" in per_class

    data = _section(md, "Dataset statistics")
    assert "| Original | 96 | — | — | — | 96 |" in data
    assert "| After GT correction | 96 | 12 | — | — | 96 | replace_masks: 7 from A, 5 from B; kept GT 20; corrections are in Val |" in data
    assert "| After combination | 132 | — | 36 | — | 132 |" in data
    assert "| After filtering | 123 | — | 30 | 9 | 123 | filter: tiles with > 50% Settlement moved out |" in data
    assert "| Hard-sample weighting | 96 | — | — | — | 223 |" in data

    hard = _section(md, "Hard-sample weighting")
    assert "| 4.5 | 15 | 15.6 | very hard |" in hard
    assert "| Settlement | 6 | 70 | 8.6 | 2.41 |" in hard
    assert "sum of weights = 222.50" in hard and "policy **tiers**" in hard

    curves = _section(md, "Training curves")
    assert "(training_curves.png)" in curves and "| step3_kd_hard | 5 | 87.45 | 3 |" in curves

    clean = _section(md, "Against the clean truth (synthetic benchmark)")
    assert "| Val/Rural | 87.41 | 93.12 | +5.71 |" in clean
    assert f"| {100 * scores(TEST_IOU['step2_finetune'], 0, 0.01)['mIoU_all']:.2f} |" in _row(clean, "step2_finetune")

    prov = _section(md, "Appendix: provenance")
    assert "| hard_samples | hard_samples | complete | 43.0 s | — |" in prov and "`c0ffee1300`" in prov
    assert "| fp32 (CPU has AVX2 only, bf16 would be emulated) |" in _row(prov, "baseline")  # precision, why
    assert "2026-01-01T10:13:00Z | 2026-01-01T10:13:30Z" in prov


def test_markdown_links_pngs_saved_next_to_it(run: Path) -> None:
    res = write_report(run, run / "elsewhere")
    md = res.markdown.read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(linked) == sorted(p.name for p in res.figures)
    assert {"per_class_iou.png", "training_curves.png", "confusion_step3_kd_hard_Test.png"} <= set(linked)
    for p in res.figures:
        assert p.parent == res.markdown.parent and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # kd's PNG is gone: re-plotted from the confusion matrix in its metrics.json
    assert "confusion_kd_Test.png" in linked


def test_changing_a_number_in_a_record_changes_the_report(run: Path) -> None:
    """Acceptance: nothing is typed by hand — edit a record, the report follows."""
    before = write_report(run).markdown.read_text()
    path = run / "evaluate" / "stage.json"
    rec = json.loads(path.read_text())
    rec["metrics"]["results"]["kd"]["Test"]["scores"]["IoU"][3] = 0.4321
    rec["metrics"]["results"]["kd"]["Test"]["scores"]["mIoU_all"] = 0.5555
    path.write_text(json.dumps(rec))
    filt = run / "filter" / "stage.json"
    frec = json.loads(filt.read_text())
    frec["metrics"]["removed"] = 17
    filt.write_text(json.dumps(frec))
    after = write_report(run).markdown.read_text()
    assert before != after
    assert "66.24 (+1.10)" in before and "43.21 (−21.93)" in after and "66.24" not in _section(after, "Per-class IoU on Test")
    assert "| 55.55 |" in _row(_section(after, "Performance progression"), "kd")
    assert "| After filtering | 123 | — | — | 17 |" in after


def test_missing_and_unfinished_stages_read_not_run(run: Path) -> None:
    shutil.rmtree(run / "step3_kd_hard")
    shutil.rmtree(run / "hard_samples")
    shutil.rmtree(run / "combine")
    rec = json.loads((run / "evaluate" / "stage.json").read_text())
    record(run, "evaluate", "evaluate", status="running", params=rec["params"], minute=15)
    md = write_report(run).markdown.read_text()
    perf = _section(md, "Performance progression")
    assert "`evaluate`: **not run (running)**" in perf
    assert "| step3_kd_hard | not run | not run |" in perf
    assert "| After combination | not run |" in md and "| Hard-sample weighting | not run |" in md
    assert "`hard_samples`: not run." in _section(md, "Hard-sample weighting")
    prov = _section(md, "Appendix: provenance")
    assert "| step3_kd_hard | train | not run |" in prov and "| evaluate | evaluate | not run (running) |" in prov
    assert "11 of 15 stages complete" in md
    assert "Evaluation not run." in _section(md, "Per-class IoU on Test")


def test_a_run_with_one_stage_and_no_pipeline_file(tmp_path: Path) -> None:
    run = tmp_path / "r"
    record(run, "data", "synth", outputs={"out": str(run / "data")}, metrics={"counts": {"Train": 5, "Val": 2}},
           in_pipeline=False)
    res = write_report(run)
    md = res.markdown.read_text()
    assert "1 of 1 stages complete" in md and "| Original | 5 |" in md
    assert res.figures == [] and "<img" not in res.html.read_text()


def test_counted_mean_variant_is_labelled_next_to_the_all_class_mean(tmp_path: Path) -> None:
    md = write_report(make_run(tmp_path / "run", exclude_background=True)).markdown.read_text()
    perf = _section(md, "Performance progression")
    assert ("| mIoU (6 classes) | mIoU (5 classes, Background excluded) | mean F1 (6 classes) "
            "| mean F1 (5 classes, Background excluded) | OA |") in perf
    assert "Δ is the change of the mIoU (5 classes, Background excluded) against baseline" in perf
    assert "| Background † |" in _section(md, "Per-class IoU on Test")


def test_training_tiles_follow_a_corrected_copy(run: Path) -> None:
    """replace_masks may write the corrected dataset to a copy: its tiles are still its input's."""
    copy = run / "replace_masks" / "data"
    rec = json.loads((run / "replace_masks" / "stage.json").read_text())
    rec["params"]["data_root"], rec["outputs"]["data_root"] = str(run / "data"), str(copy)
    (run / "replace_masks" / "stage.json").write_text(json.dumps(rec))
    config_path = run / "step2_finetune" / "run" / "config.json"
    config = json.loads(config_path.read_text())
    config["data"]["root"] = str(copy)
    config_path.write_text(json.dumps(config))
    md = write_report(run).markdown.read_text()
    step2 = _row(_section(md, "Performance progression"), "step2_finetune")
    assert "| 96 |" in step2 and "trained on `data` Train/Rural after `replace_masks`" in step2
    assert "trained on `data` Train/Rural;" in _row(_section(md, "Performance progression"), "baseline")


def test_html_is_self_contained(run: Path) -> None:
    res = write_report(run)
    page = res.html.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"url\(|@import|<script|<link", page, re.I)
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == len(res.figures) >= 7
    for uri in images:
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1])[:4] == b"\x89PNG"
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', page))
    assert "<th class=\"r\">mIoU (6 classes)</th>" in page and '<span class="neg">' not in page


def test_cli_writes_the_report_and_names_a_bad_run_dir(run: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(run), "--out", str(tmp_path / "out")]) == 0
    assert "report.html" in capsys.readouterr().out and (tmp_path / "out" / "report.md").is_file()
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "missing does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "No stage records" in capsys.readouterr().err


@pytest.mark.skipif(not CHROMIUM.is_file(),
                    reason=f"{CHROMIUM} not found: install it with `make browser` (apt-get install chromium)")
def test_screenshot_of_the_html_report_in_headless_chromium(run: Path) -> None:
    """Acceptance: the page renders in a real browser, offline; the screenshot is kept as an artefact."""
    from playwright.sync_api import sync_playwright

    page_path = write_report(run).html
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri(), wait_until="load")
            assert page.locator("h2").count() == 8
            assert page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    assert shot.stat().st_size > 50_000


def test_a_report_stage_at_the_end_of_a_pipeline(run: Path) -> None:
    """The pipeline's `report` kind calls write_report on its own run_dir, while its record says running."""
    from landseg.pipeline import run_pipeline

    pipeline = run / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text() + "  - {name: report, kind: report}\n")
    res = run_pipeline(pipeline, only="report", progress=False, log=lambda *_: None)
    assert res.ran == ["report"]
    md = (run / "report" / "report.md").read_text()
    assert "| report | report | writing this report |" in md and "15 of 16 stages complete" in md
    assert json.loads((run / "report" / "stage.json").read_text())["outputs"]["html"].endswith("report.html")


def test_figures_of_an_earlier_report_are_not_left_behind(run: Path) -> None:
    first = write_report(run)
    assert (first.markdown.parent / "confusion_kd_Test.png").is_file()
    shutil.rmtree(run / "evaluate")
    second = write_report(run)
    assert not any(second.markdown.parent.glob("confusion_*.png"))
    assert sorted(p.name for p in second.markdown.parent.glob("*.png")) == ["training_curves.png"]


def test_deployment_section_shows_export_parity_areas_and_map_previews(tmp_path: Path) -> None:
    from PIL import Image

    run = tmp_path / "r"
    maps = run / "predict" / "maps"
    maps.mkdir(parents=True)
    (maps / "areas.csv").write_text("class_index,class,pixels,hectares,percent\n0,Background,30,0.0008,30.0000\n"
                                    "1,Forest Land,70,0.0018,70.0000\n,nodata,5,,\n,total,100,0.0025,100.0000\n")
    Image.new("RGBA", (8, 8), (0, 128, 0, 255)).save(maps / "ortho_preview.png")
    record(run, "export", "export", outputs={"path": str(run / "export" / "model.onnx")},
           metrics={"max_abs_diff": 1.4e-6, "tile_size": 256})
    record(run, "predict", "predict", params={"input": "rasters/"},
           outputs={"out": str(maps), "areas": str(maps / "areas.csv")},
           metrics={"summary": {"inputs": 1, "backend": "onnxruntime", "precision": "32", "tta": "flip",
                                "windows": 9, "seconds": 2.0, "area_note": "EPSG:32629: 0.5 m pixels"}})
    res = write_report(run)
    sec = _section(res.markdown.read_text(), "Deployment")
    assert "`model.onnx` (256² input); max |Δlogit| against PyTorch 1.4e-06" in sec
    assert "with onnxruntime (fp32, TTA flip): 9 windows" in sec and "0.5 m pixels" in sec
    assert _row(sec, "Forest Land") == "| Forest Land | 70 | 0.0018 | 70.0000 |"
    assert "![ortho](map_ortho_preview.png)" in sec and (run / "report" / "map_ortho_preview.png").is_file()
    assert "data:image/png;base64," in res.html.read_text()
    other = tmp_path / "r2"
    record(other, "data", "synth")
    assert "## Deployment" not in write_report(other).markdown.read_text()  # no deployment stages: no section
