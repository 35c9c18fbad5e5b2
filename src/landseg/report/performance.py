"""Sections about the models: the progression table, per-class IoU, confusion matrices, clean truth.

Scores come from the evaluate record (``metrics.results[model][split]``: ``scores``,
``original_scores`` when Val masks were corrected, ``clean_scores`` on the synthetic benchmark).
Mean columns are headed by the scores' own ``labels`` ("mIoU (6 classes)", and the counted
variant such as "mIoU (5 classes, Background excluded)" when the class table leaves one out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landseg.report.datasets import training_set
from landseg.report.document import NOT_RUN, Figure, FigureGrid, Para, Section, Table
from landseg.report.figures import confusion_png, per_class_iou_figure
from landseg.report.fmt import count, delta_pp, pct, status_cell, with_delta
from landseg.report.records import Model, RunRecords


def _entry(m: Model, split: str) -> dict[str, Any]:
    return (m.results or {}).get(split) or {}


def splits(rr: RunRecords, models: list[Model]) -> list[str]:
    _, rec = rr.evaluation()
    listed = ((rec or {}).get("params") or {}).get("splits") or []
    seen = list(dict.fromkeys([*listed, *(s for m in models for s in (m.results or {}))]))
    return sorted(seen, key=lambda s: (not s.lower().startswith("test"), seen.index(s)))


def judge_split(split_names: list[str]) -> str | None:
    """The split the per-class and confusion sections use: Test when evaluated, else the first."""
    return next((s for s in split_names if s.lower().startswith("test")), split_names[0] if split_names else None)


def baseline_index(models: list[Model]) -> int:
    return next((i for i, m in enumerate(models) if m.name == "baseline"), 0)


def _labels(models: list[Model], key: str = "scores") -> dict[str, str]:
    for m in models:
        for e in (m.results or {}).values():
            if (e.get(key) or {}).get("labels"):
                return e[key]["labels"]
    return {"mIoU": "mIoU", "mIoU_all": "mIoU", "mF1": "mean F1", "mF1_all": "mean F1"}


def mean_columns(labels: dict[str, str]) -> list[tuple[str, str]]:
    """(key, header) of the mean columns: all-class variant first, counted one only if it differs."""
    cols = []
    for stem in ("mIoU", "mF1"):
        cols.append((f"{stem}_all", labels.get(f"{stem}_all", stem)))
        if labels.get(stem) and labels.get(stem) != labels.get(f"{stem}_all"):
            cols.append((stem, labels[stem]))
    return cols


def model_notes(rr: RunRecords, m: Model) -> str:
    """What distinguishes a model, read from its train stage's record and config."""
    if m.stage is None or rr.complete(m.stage) is None:
        return NOT_RUN if m.stage else ""
    rec = rr.complete(m.stage) or {}
    config, params = rr.train_config(m.stage), rec.get("params") or {}
    overrides = params.get("overrides") or {}
    notes = []
    config_name = Path(str(params.get("config", ""))).stem
    if config_name and config_name != m.stage:
        notes.append(f"config `{config_name}`")
    teacher = (config.get("teacher") or {}).get("checkpoint") or overrides.get("teacher.checkpoint")
    if teacher:
        notes.append(f"KD from {rr.stage_of_path(teacher) or Path(str(teacher)).name}")
    init = config.get("init_from") or overrides.get("init_from")
    if init:
        notes.append(f"init from {rr.stage_of_path(init) or Path(str(init)).name}")
    ts = training_set(rr, m.stage)
    notes += [f"trained on {ts.source}", *ts.notes]
    if "epochs" in (rec.get("metrics") or {}):
        notes.append(f"{rec['metrics']['epochs']} epochs")
    return "; ".join(notes)


def _table(rr: RunRecords, models: list[Model], split: str, key: str, base: int, full: bool) -> Table:
    """One progression table; ``full`` adds the training-set size and notes (the seed's columns)."""
    labels = _labels(models, key)
    cols = mean_columns(labels)
    base_scores = (_entry(models[base], split).get(key) or {}) if models else {}
    headers = ["Stage", *(["Training tiles"] if full else []), *(h for _, h in cols), "OA",
               f"Δ vs {models[base].name if models else 'baseline'} (pp)", *(["Notes"] if full else [])]
    rows = []
    for i, m in enumerate(models):
        s = _entry(m, split).get(key)
        if s is None:
            cells = [NOT_RUN] * (len(cols) + 2)
        else:
            d = "—" if i == base else delta_pp(s.get("mIoU"), base_scores.get("mIoU"))
            cells = [*(pct(s.get(k)) for k, _ in cols), pct(s.get("OA")), d]
        if full:
            tiles = (training_set(rr, m.stage).size_text() if m.stage and rr.complete(m.stage)
                     else NOT_RUN if m.stage else "n/a")
            rows.append([m.name, tiles, *cells, model_notes(rr, m)])
        else:
            rows.append([m.name, *cells])
    return Table(headers, rows, align=["l"] + ["r"] * (len(headers) - 1 - full) + ["l"] * full, notes=full)


def progression_section(rr: RunRecords, models: list[Model]) -> Section:
    """The seed's "Expected Performance Progression", filled with measured values."""
    sec = Section("Performance progression", "performance")
    ev, _ = rr.evaluation()
    if ev is None:
        stage = (rr.of_kind("evaluate") or ["evaluate"])[-1]
        sec.blocks.append(Para(f"`{stage}`: **{status_cell(rr.status(stage))}**, so there are no scores yet."))
    else:
        label = _labels(models).get("mIoU", "mIoU")
        sec.blocks.append(Para(f"Scores (%) from the `{ev}` record. Δ is the change of the {label} against "
                               f"{models[baseline_index(models)].name if models else 'the baseline'} in percentage "
                               "points. Training tiles come from the records of the stages that made each training "
                               "set (see Dataset statistics)."))
    base = baseline_index(models)
    for n, split in enumerate(splits(rr, models) or ["Test"]):
        corrected = any("original_scores" in _entry(m, split) for m in models)
        if split.lower().startswith("test"):
            intro = (f"**{split} — the fair judge.** Its masks are never corrected and no checkpoint is "
                     "chosen on it.")
        elif corrected:
            intro = (f"**{split} against the corrected ground truth** (after replace_masks). Some of these masks "
                     "are predictions of the models that made the correction, which flatters them.")
        else:
            intro = f"**{split}** (checkpoints are selected on it)."
        sec.blocks += [Para(intro), _table(rr, models, split, "scores", base, full=n == 0)]
        if corrected:
            sec.blocks += [Para(f"**{split} against the original ground truth**: the same predictions scored against "
                                "the masks as they were before correction (the backup replace_masks kept)."),
                           _table(rr, models, split, "original_scores", base, full=False)]
    return sec


def per_class_section(rr: RunRecords, models: list[Model], out_dir: Path, figures: list[Path]) -> Section:
    """Per-class IoU per stage on Test, with deltas against the baseline, as a table and a bar chart."""
    split = judge_split(splits(rr, models))
    sec = Section(f"Per-class IoU on {split or 'Test'}", "per-class")
    done = [m for m in models if split and _entry(m, split).get("scores")]
    if not done:
        sec.blocks.append(Para(f"Evaluation {NOT_RUN}."))
        return sec
    classes = rr.class_table()
    base = next((i for i, m in enumerate(done) if m.name == models[baseline_index(models)].name), 0)
    scores = [_entry(m, split)["scores"] for m in done]
    counted = set(scores[0].get("means_over_indices", range(len(classes))))
    rows = []
    for c, name in enumerate(scores[0].get("class_names", classes.names)):
        base_v = scores[base]["IoU"][c]
        cells = [pct(s["IoU"][c]) if i == base else with_delta(s["IoU"][c], base_v) for i, s in enumerate(scores)]
        rows.append([name + ("" if c in counted else " †"), *cells])
    for key, label in mean_columns(scores[0].get("labels") or {}):
        if key.startswith("mIoU"):
            base_v = scores[base].get(key)
            cells = [pct(s.get(key)) if i == base else with_delta(s.get(key), base_v) for i, s in enumerate(scores)]
            rows.append([f"**{label}**", *(f"**{c}**" for c in cells)])
    missing = [m.name for m in models if m not in done]
    sec.blocks.append(Para(f"IoU (%) on {split}; in brackets the change against {done[base].name} in percentage "
                           "points." + (f" Not evaluated: {', '.join(missing)} ({NOT_RUN})." if missing else "")
                           + (" † not counted in the first mean." if len(counted) < len(classes) else "")))
    sec.blocks.append(Table(["Class", *(m.name for m in done)], rows))
    if len(classes) == len(scores[0]["IoU"]):
        png = per_class_iou_figure([m.name for m in done], [s["IoU"] for s in scores], classes, base,
                                   out_dir / "per_class_iou.png", split)
        figures.append(png)
        sec.blocks.append(Figure(png, f"Per-class IoU on {split} by stage (class colours) and the change "
                                      f"against {done[base].name}"))
    return sec


def confusion_section(rr: RunRecords, models: list[Model], out_dir: Path, figures: list[Path]) -> Section:
    """Row-normalised confusion matrices per model on Test (the evaluate stage's PNGs)."""
    split = judge_split(splits(rr, models))
    sec = Section(f"Confusion matrices on {split or 'Test'}", "confusion")
    classes = rr.class_table()
    grid: list[Figure] = []
    missing = []
    for m in models:
        e = _entry(m, split) if split else {}
        png = None
        if e:
            dest = out_dir / f"confusion_{m.name}_{split.replace('/', '_')}.png"
            png = confusion_png(rr.path(e.get("confusion_png")), rr.read_json(e.get("metrics_json")), classes,
                                dest, f"{m.name} on {split}")
        if png is None:
            missing.append(m.name)
            continue
        figures.append(png)
        grid.append(Figure(png, f"{m.name} on {split}"))
    sec.blocks.append(Para("Rows are the true class and sum to 100%: the diagonal is each class's recall."
                           + (f" {', '.join(missing)}: {NOT_RUN}." if missing else "")))
    if grid:
        sec.blocks.append(FigureGrid(grid))
    return sec


def clean_section(rr: RunRecords, models: list[Model]) -> Section | None:
    """Synthetic benchmark only: masks and models against the known clean truth."""
    rm, _ = rr.last_complete("replace_masks")
    acc = rr.metrics(rm).get("accuracy_vs_clean") or {}
    has_clean = any("clean_scores" in e for m in models for e in (m.results or {}).values())
    if not (acc or has_clean or rr.of_kind("synth")):
        return None
    sec = Section("Against the clean truth (synthetic benchmark)", "clean")
    synth, _ = rr.last_complete("synth")
    noisy = rr.metrics(synth).get("noisy_masks")
    sec.blocks.append(Para("The synthetic benchmark knows each tile's clean truth (`masks_png_clean`)"
                           + (f"; {count(noisy)} masks were given systematic label noise by `{synth}`." if noisy
                              is not None else ".")))
    if acc:
        before, after = acc.get("before") or {}, acc.get("after") or {}
        rows = [[sp, pct(before.get(sp)), pct(after.get(sp)), delta_pp(after.get(sp), before.get(sp))]
                for sp in dict.fromkeys([*before, *after])]
        sec.blocks += [Para(f"Pixel accuracy (%) of the masks against the clean truth, before and after `{rm}`."),
                       Table(["Split", "before correction", "after correction", "Δ (pp)"], rows)]
    else:
        sec.blocks.append(Para(f"Mask accuracy before/after correction: {NOT_RUN} "
                               "(replace_masks with clean_mask_dir)."))
    if has_clean:
        split_names = splits(rr, models)
        labels = _labels(models, "clean_scores")
        cols = [c for c in mean_columns(labels) if c[0].startswith("mIoU")]
        cols.append(("mF1_all", labels.get("mF1_all", "mean F1")))
        headers = ["Stage", *(f"{sp} {h}" for sp in split_names for _, h in cols)]
        rows = [[m.name, *(pct((_entry(m, sp).get("clean_scores") or {}).get(k), NOT_RUN)
                           for sp in split_names for k, _ in cols)] for m in models]
        sec.blocks += [Para("Each model's scores (%) against the clean truth (the evaluate stage's "
                            "`clean_scores`)."), Table(headers, rows)]
    else:
        sec.blocks.append(Para(f"Models against the clean truth: {NOT_RUN} (evaluate with clean_mask_dir)."))
    return sec
