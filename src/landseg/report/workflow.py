"""Sections about the workflow: dataset statistics, hard-sample tables, training curves, provenance."""

from __future__ import annotations

from pathlib import Path

from landseg.evaluation.weight_policy import HARD_CLASS_IOU
from landseg.report.datasets import dataset_rows, epoch_samples
from landseg.report.document import NOT_RUN, Figure, FigureGrid, Para, Section, Table
from landseg.report.figures import read_curve, training_curves_figure
from landseg.report.fmt import count, pct, seconds, status_cell
from landseg.report.records import RunRecords


def dataset_section(rr: RunRecords) -> Section:
    """The seed's "Dataset Statistics Summary", each number from the stage that produced it."""
    sec = Section("Dataset statistics", "datasets")
    sec.blocks.append(Para("Training tiles after each data step, from the stage records (synth counts, "
                           "replace_masks replaced A/B, import_oem tiles, combine total, filter removed, "
                           "hard_samples sum of weights). Effective samples per epoch: each tile once, except "
                           "with hard-sample weights, where an epoch shows the rounded sum of the weights."))
    rows = []
    for r in dataset_rows(rr):
        if not r.ran:
            rows.append([r.step, NOT_RUN, "—", "—", "—", "—", r.notes])
            continue
        per_epoch = (count(epoch_samples(r.per_epoch)) if r.per_epoch is not None and r.step.startswith("Hard")
                     else count(r.per_epoch))
        rows.append([r.step, count(r.images), count(r.corrected), count(r.oem), count(r.removed), per_epoch, r.notes])
    sec.blocks.append(Table(["Step", "Training images", "Corrected masks", "OEM images", "Removed",
                             "Effective samples / epoch", "Notes"], rows, align=["l", "r", "r", "r", "r", "r", "l"],
                            notes=True))
    return sec


def hard_samples_section(rr: RunRecords) -> Section:
    """The weight-tier and per-class difficulty tables of the hard_samples record."""
    sec = Section("Hard-sample weighting", "hard-samples")
    hs, rec = rr.last_complete("hard_samples")
    if hs is None:
        stage = (rr.of_kind("hard_samples") or ["hard_samples"])[-1]
        sec.blocks.append(Para(f"`{stage}`: {status_cell(rr.status(stage))}."))
        return sec
    m, params = rr.metrics(hs), (rec or {}).get("params") or {}
    analysis = rr.read_json(rr.outputs(hs).get("analysis")) or {}
    policy = (analysis.get("policy") or {}).get("kind") or params.get("policy", "tiers")
    model = rr.stage_of_path(params.get("model", params.get("checkpoint")))
    sec.blocks.append(Para(f"`{hs}` scored every tile of {params.get('split', 'Train')} whole with "
                           f"{model or Path(str(params.get('model', params.get('checkpoint', '?')))).name}; policy **{policy}**."))
    tiers = [[str(r.get("weight")), count(r.get("samples")), f"{float(r.get('percent', 0)):.1f}",
              str(r.get("meaning", ""))] for r in m.get("tier_rows") or []]
    sec.blocks.append(Table(["Weight", "Samples", "%", "Meaning"], tiers, align=["r", "r", "r", "l"],
                            caption=f"Weight tiers (policy: {policy})"))
    classes = []
    for r in m.get("class_rows") or []:
        tiles, hard = int(r.get("tiles") or 0), int(r.get("hard") or 0)
        mean_w = r.get("mean_weight")
        classes.append([str(r.get("name")), count(hard), count(tiles), f"{100 * hard / tiles:.1f}" if tiles else "—",
                        "—" if mean_w is None else f"{float(mean_w):.2f}"])
    sec.blocks.append(Table(["Class", "Hard samples", "Tiles with class", "% hard", "Avg weight"], classes,
                            caption=f"Per-class difficulty (hard: class IoU < {HARD_CLASS_IOU:g} in a tile that "
                                    "contains the class)"))
    total = m.get("sum_of_weights")
    if total is not None:
        sec.blocks.append(Para(f"{count(m.get('tiles'))} unique tiles; sum of weights = {float(total):.2f} (an "
                               f"epoch with sum_of_weights sampling shows {epoch_samples(float(total)):,} samples)."))
    return sec


def curves_section(rr: RunRecords, out_dir: Path, figures: list[Path]) -> Section:
    """Train loss and val mIoU per epoch for every training stage, from its Lightning CSV log."""
    sec = Section("Training curves", "curves")
    curves, rows = [], []
    for s in rr.of_kind("train"):
        rec = rr.complete(s)
        run = rr.path(rr.outputs(s).get("run_dir"))
        csv = run / "csv" / "metrics.csv" if run else None
        if rec is None or csv is None or not csv.is_file():
            why = status_cell(rr.status(s)) if rec is None else "no csv/metrics.csv"
            rows.append([s, why, "—", "—", "—"])
            continue
        c = read_curve(s, csv)
        curves.append(c)
        m = rec.get("metrics") or {}
        best = max(range(len(c.val)), key=c.val.__getitem__) if c.val else None
        rows.append([s, count(m.get("epochs")), pct(m.get("best_score")), "—" if best is None else str(c.val_epochs[best]),
                     seconds(m.get("seconds", rec.get("duration_s")))])
    if curves:
        png = training_curves_figure(curves, out_dir / "training_curves.png")
        figures.append(png)
        sec.blocks.append(Figure(png, "Training loss and validation mIoU per epoch, one line per training stage"))
    else:
        sec.blocks.append(Para(f"No training stage has a CSV log yet ({NOT_RUN})."))
    sec.blocks.append(Table(["Stage", "Epochs", "Best val_mIoU (%)", "Best epoch", "Training time"], rows,
                            caption="Best val_mIoU is the score its best.ckpt was selected with (train record)."))
    return sec


def provenance_section(rr: RunRecords) -> Section:
    """Per stage: status, duration, precision (and why), key, git commit, landseg version, start and end (UTC)."""
    from landseg.precision import describe

    sec = Section("Appendix: provenance", "provenance")
    where = f" of `{rr.pipeline_file}`" if rr.pipeline_file else ""
    sec.blocks.append(Para(f"One row per stage{where} in pipeline order, from `<run_dir>/<stage>/stage.json`. "
                           "The key hashes a stage's resolved parameters, config files and upstream keys. "
                           "Precision is what the stage's model ran in and why (`precision: auto` decides from "
                           "the hardware)."))
    rows = []
    for s in rr.order:
        rec = rr.records.get(s) or {}
        commit = str(rec.get("git_commit") or "—")[:10]
        # a pipeline's `report` stage runs this code: its record says "running" while the report is written
        status = ("writing this report" if rr.kinds.get(s) == "report" and rr.status(s) == "running"
                  else status_cell(rr.status(s)))
        rows.append([s, rr.kinds.get(s, "?"), status, seconds(rec.get("duration_s")), describe(rec.get("metrics")),
                     f"`{rec['key']}`" if rec.get("key") else "—", f"`{commit}`" if rec.get("git_commit") else "—",
                     str(rec.get("landseg_version") or "—"), str(rec.get("started") or "—"),
                     str(rec.get("ended") or "—")])
    sec.blocks.append(Table(["Stage", "Kind", "Status", "Duration", "Precision", "Key", "Git commit", "landseg",
                             "Started", "Ended"], rows, align=["l", "l", "l", "r", "l", "l", "l", "l", "l", "l"]))
    lineage = lineage_rows(rr)
    if lineage:
        sec.blocks.append(Para("Data lineage: the masks each model was trained, validated and scored on, and the "
                               "tiles hard-samples weighted, named by the stage that made them (a fingerprint hashes "
                               "every mask's bytes: equal fingerprints, identical masks)."))
        sec.blocks.append(Table(["Stage", "Role", "Masks", "Split", "Count", "Fingerprint", "Path"], lineage,
                                align=["l", "l", "l", "l", "r", "l", "l"]))
    return sec


#: What a dataset is, by the kind of the stage that wrote it.
_MADE_BY = {"synth": "original", "dataset": "original", "replace_masks": "corrected", "combine": "combined",
            "filter": "combined, filtered", "import_oem": "OpenEarthMap, remapped"}


def _producer(rr: RunRecords, use: dict, before: str) -> str:
    """What the masks a stage read are: named by the last earlier stage that wrote them (or a folder above)."""
    def full(record: dict) -> Path:
        root = Path(str(record.get("path")))
        return (root / record["split"] if record.get("split") else root).resolve()

    target, best, best_len = full(use), "unknown", -1
    for s in rr.order:
        if s == before:
            break
        for w in ((rr.complete(s) or {}).get("data") or {}).get("wrote") or []:
            root = full(w)
            if (root == target or root in target.parents) and len(root.parts) >= best_len:
                best, best_len = f"{_MADE_BY.get(rr.kinds.get(s, ''), 'written')} ({s})", len(root.parts)
                if use.get("mask_dir") != w.get("mask_dir"):  # e.g. the clean truth kept beside the masks
                    best = f"{use.get('mask_dir')} in the {best} copy"
    return best


def lineage_rows(rr: RunRecords) -> list[list[str]]:
    """One row per dataset use of every train, evaluate, hard_samples and predict_pair stage."""
    rows = []
    for s in rr.order:
        if rr.kinds.get(s) not in ("train", "evaluate", "hard_samples", "predict_pair"):
            continue
        for use in ((rr.complete(s) or {}).get("data") or {}).get("read") or []:
            rows.append([s, str(use.get("role")), _producer(rr, use, s), str(use.get("split") or "—"),
                         count(use.get("masks")), f"`{use.get('sha256') or '—'}`", f"`{use.get('path')}`"])
    return rows


def deployment_section(rr: RunRecords, out_dir: Path, figures: list[Path], max_previews: int = 4) -> Section | None:
    """The export's parity, and the predict stage's class areas and map previews (None: neither ran)."""
    exp, _ = rr.last_complete("export")
    pred, rec = rr.last_complete("predict")
    if exp is None and pred is None:
        return None
    sec = Section("Deployment", "deployment")
    if exp is not None:
        m = rr.metrics(exp)
        sec.blocks.append(Para(f"`{exp}` exported `{Path(str(rr.outputs(exp).get('path'))).name}` "
                               f"({m.get('tile_size')}² input); max |Δlogit| against PyTorch "
                               f"{float(m.get('max_abs_diff', float('nan'))):.2g} (limit 1e-3)."))
    if pred is None:
        return sec
    summary = rr.metrics(pred).get("summary") or {}
    params = (rec or {}).get("params") or {}
    precision = {"32": "fp32"}.get(str(summary.get("precision")), summary.get("precision", "?"))
    sec.blocks.append(Para(
        f"`{pred}` mapped {summary.get('inputs', '?')} input(s) from `{params.get('input', '?')}` with "
        f"{summary.get('backend', '?')} ({precision}, TTA {summary.get('tta', 'none')}): "
        f"{count(summary.get('windows'))} windows in {seconds(summary.get('seconds'))}. "
        f"Area note: {summary.get('area_note') or '—'}."))
    areas = Path(str(rr.outputs(pred).get("areas", "")))
    if areas.is_file():
        import csv

        with open(areas, newline="") as fh:
            rows = [[r["class"], count(int(r["pixels"])), r["hectares"] or "—", r["percent"] or "—"]
                    for r in csv.DictReader(fh)]
        sec.blocks.append(Table(["Class", "Pixels", "Hectares", "%"], rows, caption="Predicted land cover (all maps)"))
    previews = sorted(areas.parent.glob("*_preview.png"))[:max_previews]
    if previews:
        import shutil

        shown = []
        for p in previews:
            dst = out_dir / f"map_{p.name}"
            shutil.copyfile(p, dst)
            figures.append(dst)
            shown.append(Figure(dst, p.name.removesuffix("_preview.png")))
        sec.blocks.append(FigureGrid(shown))
    return sec
