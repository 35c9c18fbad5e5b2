"""Stage kinds: each wraps the same public function the matching CLI command calls."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landseg.errors import ConfigError
from landseg.pipeline.runner import NeedsPerson, StageContext, StageOutput


@dataclass(frozen=True)
class StageKind:
    run: Callable[[dict[str, Any], StageContext], StageOutput]
    outputs: tuple[str, ...]
    files: Callable[[dict[str, Any]], list[Path]] = field(default=lambda params: [])


def _need(params: dict[str, Any], *names: str) -> None:
    missing = [n for n in names if n not in params]
    if missing:
        raise ConfigError(f"Missing parameter(s) {', '.join(missing)}.")


# --- data ----------------------------------------------------------------------------------------

def _synth(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.data.synth import generate_benchmark

    _need(p, "out")
    out = Path(p["out"])
    # Later stages change this folder in place (replace-masks) and keep a backup beside it: a new
    # benchmark starts from nothing, so no stale journal or backup survives.
    for stale in (out, out.with_name(f"{out.name}_masks_original_backup")):
        shutil.rmtree(stale, ignore_errors=True)
    kw = {k: v for k, v in p.items() if k != "out"}
    res = generate_benchmark(out, progress=ctx.progress, **kw)
    return StageOutput({"out": str(res.out), "manifest": str(res.manifest)},
                       {"counts": res.counts, "noisy_masks": res.noisy_masks, "class_fractions": res.class_fractions})


def _synth_oem(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.data.synth_oem import generate_oem_like

    _need(p, "out")
    res = generate_oem_like(p["out"], overwrite=True, progress=ctx.progress, **{k: v for k, v in p.items() if k != "out"})
    return StageOutput({"out": str(p["out"])}, {"result": _plain(res)})


def _import_oem(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.curation.oem import import_oem

    _need(p, "oem_root", "out", "mapping")
    _fresh(Path(p["out"]), ctx)
    res = import_oem(p["oem_root"], p["out"], p["mapping"], tile=p.get("tile", 512),
                     splits=tuple(p.get("splits", ("train", "val"))), progress=ctx.progress)
    return StageOutput({"out": str(res.out), "manifest": str(res.manifest)},
                       {"tiles": res.tiles, "written": res.written, "unlabelled": _plain(res.unlabelled),
                        "report": res.report()})


def _combine(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.curation.combine import Source, combine_datasets

    _need(p, "sources", "out")
    _fresh(Path(p["out"]), ctx)
    sources = [Source(name, Path(spec.split(":")[0]), spec.split(":")[1] if ":" in spec else "")
               for name, spec in p["sources"].items()]
    res = combine_datasets(sources, p["out"], split=p.get("split", "Train"), progress=ctx.progress)
    return StageOutput({"out": str(res.out), "train": str(res.out / p.get("split", "Train")),
                        "manifest": str(res.out / "manifest.csv")},
                       {"added": res.added, "total": res.total, "report": res.report()})


def _filter(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.curation.filter import filter_dataset

    _need(p, "dataset", "class_name")
    _undo_previous(ctx)
    res = filter_dataset(p["dataset"], p["class_name"], p.get("max_fraction", 0.5),
                         denominator=p.get("denominator", "labelled"), backup=p.get("backup"), progress=ctx.progress)
    return StageOutput({"dataset": str(p["dataset"]), "backup": str(res.backup), "journal": str(res.journal or "")},
                       {"tiles": res.tiles, "removed": len(res.removed), "remaining": res.tiles - len(res.removed),
                        "mean": res.mean, "median": res.median, "max": res.maximum,
                        "top": res.removed[:10], "report": res.report()})


# --- training and analysis ----------------------------------------------------------------------

def _config_chain(p: dict[str, Any]) -> list[Path]:
    """A train stage's config file and every ``base`` it builds on: their content is in the key."""
    from landseg.training.config import _read_file

    chain, path = [], Path(p["config"])
    while path.is_file() and len(chain) < 8:
        chain.append(path)
        base = _read_file(path).get("base")
        if not base:
            break
        path = (path.parent / base).resolve()
    return chain


def _train(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.training.config import load_config
    from landseg.training.train import train

    _need(p, "config")
    overrides = [f"{k}={v!r}" for k, v in (p.get("overrides") or {}).items()]
    exp = load_config(p["config"], [*overrides, f"output_dir={str(ctx.dir / 'run')!r}"])
    last = exp.run_dir / "checkpoints" / "last.ckpt"
    prev = ctx.previous or {}
    resume = last.is_file() and prev.get("key") == ctx.key and prev.get("status") in ("running", "failed")
    if not resume and exp.run_dir.exists():
        shutil.rmtree(exp.run_dir)  # a run of an older config: this stage owns the folder
    res = train(exp, resume=resume)
    return StageOutput({"best_checkpoint": str(res.best_checkpoint), "last_checkpoint": str(res.last_checkpoint),
                        "run_dir": str(res.run_dir)},
                       {"best_score": res.best_score, "monitor": res.monitor, "epochs": res.epochs,
                        "seconds": round(res.seconds, 1), "resumed": resume, "precision": res.precision,
                        "threads": res.threads, "workers": res.workers})


def _hard_samples(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.hard_samples import analyze_hard_samples, parse_policy

    _need(p, "checkpoint", "data")
    policy = parse_policy(p.get("policy", "tiers"))
    res = analyze_hard_samples(p["checkpoint"], p["data"], p.get("split", "Train"), ctx.dir / "out", policy=policy,
                               batch_size=p.get("batch_size", 1), precision=p.get("precision", "auto"),
                               progress=ctx.progress)
    return StageOutput({"weights": str(res.weights_tsv), "analysis": str(res.analysis_json),
                        "tables": str(res.tables_md)},
                       {"tiles": len(res.tiles), "sum_of_weights": res.sum_of_weights,
                        "tier_rows": _plain(res.tier_rows), "class_rows": _plain(res.class_rows),
                        "report": res.report, "precision": res.precision})


def _evaluate(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    """Every model on every split; Val also against the original masks when they were corrected."""
    from landseg.evaluation import corrected_backup, evaluate

    _need(p, "models", "data")
    data = Path(p["data"])
    backup = corrected_backup(data)
    results: dict[str, dict[str, Any]] = {}
    precision: dict[str, str] = {}
    for model, ckpt in p["models"].items():
        results[model] = {}
        for split in p.get("splits", ["Val", "Test"]):
            res = evaluate(ckpt, data, split, ctx.dir / model / split.replace("/", "_"), progress=ctx.progress,
                           precision=p.get("precision", "auto"), batch_size=p.get("batch_size", 8),
                           original_masks=backup if backup and not split.startswith("Test") else None)
            entry = {"scores": _plain(res.scores), "warnings": res.warnings, "metrics_json": str(res.metrics_json),
                     "confusion_png": str(res.confusion_png)}
            precision = res.precision
            if res.original_scores is not None:
                entry["original_scores"] = _plain(res.original_scores)
            if p.get("clean_mask_dir"):
                clean = evaluate(ckpt, data, split, ctx.dir / model / f"{split.replace('/', '_')}_clean",
                                 mask_dir=p["clean_mask_dir"], progress=False, precision=p.get("precision", "auto"))
                entry["clean_scores"] = _plain(clean.scores)
            results[model][split] = entry
    return StageOutput({"dir": str(ctx.dir)}, {"results": results, "precision": precision})


# --- ground-truth correction ----------------------------------------------------------------------

def _predict_pair(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.correction.predict_pair import predict_pair

    _need(p, "models", "data")
    res = predict_pair(p["models"], p["data"], p.get("split", "Val"), ctx.dir / "out", tta=p.get("tta", "none"),
                       batch_size=p.get("batch_size", 8), precision=p.get("precision", "auto"), progress=ctx.progress)
    return StageOutput({"out": str(res.out_dir), "predictions": str(res.predictions_csv)},
                       {"images": res.count, "precision": res.precision})


def _review(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.review.auto_review import run_auto
    from landseg.review.store import STORE_NAME, DecisionStore

    _need(p, "dir")
    review_dir = Path(p["dir"])
    decisions = review_dir / "decisions.csv"
    if p.get("auto"):
        summary = run_auto(review_dir, p["auto"])
        with DecisionStore(review_dir / STORE_NAME) as store:
            store.export_csv(decisions)
        return StageOutput({"decisions": str(decisions)}, {"auto": p["auto"], "summary": summary})
    if not decisions.is_file():
        raise NeedsPerson(f"Review the masks: `landseg review {review_dir}` (keys 1/2/3/s), then "
                          f"`landseg review {review_dir} --export {decisions}`, then run the pipeline again.")
    return StageOutput({"decisions": str(decisions)}, {"reviewer": "person"})


def _replace_masks(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    """Correct a hard-linked snapshot of the dataset, never the dataset itself.

    Earlier stages (the models, predict-pair) read the dataset; correcting it in place would
    change their inputs behind their backs on the next run. The snapshot costs no disk space:
    unchanged files are hard links, and replace-masks swaps links, never writes through them.
    """
    import os

    from landseg.correction.replace import replace_masks

    _need(p, "decisions", "data_root")
    source, snapshot = Path(p["data_root"]), ctx.dir / "data"
    for stale in (snapshot, snapshot.with_name(f"{snapshot.name}_masks_original_backup")):
        shutil.rmtree(stale, ignore_errors=True)
    shutil.copytree(source, snapshot, copy_function=os.link, ignore=shutil.ignore_patterns(".landseg"))
    clean = p.get("clean_mask_dir")
    before = _mask_accuracy(snapshot, clean) if clean else None
    res = replace_masks(p["decisions"], snapshot, progress=ctx.progress)
    metrics: dict[str, Any] = {"replaced": res.replaced, "kept_gt": res.kept_gt, "skipped": res.skipped,
                               "already": res.already, "not_found": res.not_found, "report": res.report()}
    if clean:
        metrics["accuracy_vs_clean"] = {"before": before, "after": _mask_accuracy(snapshot, clean)}
    return StageOutput({"data_root": str(snapshot), "backup": str(res.backup), "journal": str(res.journal or "")},
                       metrics)


def _mask_accuracy(root: Path, clean_dir: str) -> dict[str, float]:
    """Pixel accuracy of each split's masks against the synthetic clean truth (demo only)."""

    from landseg.data.files import read_mask

    out = {}
    for masks in sorted(root.glob("*/*/masks_png")):
        agree = total = 0
        for m in masks.glob("*.png"):
            clean = masks.parent / clean_dir / m.name
            if clean.is_file():
                a, b = read_mask(m), read_mask(clean)
                valid = b != 255
                agree += int((a[valid] == b[valid]).sum())
                total += int(valid.sum())
        if total:
            out[str(masks.parent.relative_to(root))] = agree / total
    return out


def _report(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.report import write_report

    res = write_report(ctx.spec.run_dir, ctx.spec.run_dir / "report")
    return StageOutput({"markdown": str(res.markdown), "html": str(res.html)})


# --- deployment -------------------------------------------------------------------------------------

def _export(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.export import export_model

    _need(p, "checkpoint")
    fmt = p.get("format", "onnx")
    res = export_model(p["checkpoint"], ctx.dir / f"model.{'onnx' if fmt == 'onnx' else 'pt'}", fmt, tile=p.get("tile"))
    return StageOutput({"path": str(res.path)}, {"max_abs_diff": res.max_abs_diff, "tile_size": res.tile_size,
                                                 "precision": res.metadata["parity"]["precision"]})


def _predict(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.predict import predict

    _need(p, "model", "input")
    _fresh(ctx.dir / "maps", ctx)
    options = {k: v for k, v in p.items() if k not in ("model", "input")}
    res = predict(p["model"], p["input"], ctx.dir / "maps", progress=ctx.progress, **options)
    return StageOutput({"out": str(res.out), "areas": str(res.out / "areas.csv")},
                       {"maps": [str(m) for m in res.maps], "summary": res.summary})


def _model_card(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    """``after`` (references to the stages the card describes) only ties the card to them."""
    from landseg.model_card import write_model_card

    res = write_model_card(ctx.spec.run_dir, ctx.dir / "MODEL_CARD.md", model=p.get("model"))
    return StageOutput({"path": str(res.path)}, {"model": res.model, "not_recorded": res.missing})


def _undo_previous(ctx: StageContext) -> None:
    """A dataset-changing stage re-run with new inputs first reverses its previous change.

    Otherwise the old change would stay in the data (e.g. masks replaced by an earlier review).
    A journal whose dataset was since rebuilt by an upstream stage is gone with it: nothing to undo.
    """
    from landseg.curation.journal import Journal

    journal = ((ctx.previous or {}).get("outputs") or {}).get("journal")
    if journal and (Path(journal) / "plan.json").is_file() and not Journal(journal).status().undone:
        Journal(journal).undo(progress=ctx.progress)


def _fresh(out: Path, ctx: StageContext) -> None:
    """Stages that create a folder start from an empty one when re-run with new inputs."""
    if out.exists() and (ctx.previous or {}).get("key") != ctx.key:
        shutil.rmtree(out)


def _plain(obj: Any) -> Any:
    import dataclasses

    from landseg.utils import jsonable

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if isinstance(obj, list):
        return [_plain(o) for o in obj]
    return jsonable(obj)


STAGE_KINDS: dict[str, StageKind] = {
    "synth": StageKind(_synth, ("out", "manifest")),
    "synth_oem": StageKind(_synth_oem, ("out",)),
    "import_oem": StageKind(_import_oem, ("out", "manifest")),
    "combine": StageKind(_combine, ("out", "train", "manifest")),
    "filter": StageKind(_filter, ("dataset", "backup", "journal")),
    "train": StageKind(_train, ("best_checkpoint", "last_checkpoint", "run_dir"), _config_chain),
    "hard_samples": StageKind(_hard_samples, ("weights", "analysis", "tables")),
    "evaluate": StageKind(_evaluate, ("dir",)),
    "predict_pair": StageKind(_predict_pair, ("out", "predictions")),
    "review": StageKind(_review, ("decisions",)),
    "replace_masks": StageKind(_replace_masks, ("data_root", "backup", "journal")),
    "report": StageKind(_report, ("markdown", "html")),
    "export": StageKind(_export, ("path",)),
    "predict": StageKind(_predict, ("out", "areas")),
    "model_card": StageKind(_model_card, ("path",)),
}
