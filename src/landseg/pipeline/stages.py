"""Stage kinds: each wraps the same public function the matching CLI command calls.

A kind declares its parameters (checked when the pipeline file loads, see ``params.py``), its
outputs (what ``{stages.NAME.OUTPUT}`` may name), the config files whose content is in its key,
the inputs that must exist before it runs, and the datasets it reads and writes (lineage).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landseg.errors import DatasetError
from landseg.pipeline.context import NeedsPerson, StageContext, StageOutput
from landseg.pipeline.lineage import DataUse, mask_files, tree_state
from landseg.pipeline.params import Param, opt, req
from landseg.precision import PRECISIONS, PREDICT_PRECISIONS


def _none(*_: Any) -> list:
    return []


@dataclass(frozen=True)
class StageKind:
    run: Callable[[dict[str, Any], StageContext], StageOutput]
    outputs: tuple[str, ...]
    params: dict[str, Param] = field(default_factory=dict)
    #: Config files whose content is part of the key (train: the config and its bases).
    files: Callable[[dict[str, Any]], list[Path]] = _none
    #: (path, what it is) that must exist before the stage runs: a dry run lists the missing ones.
    inputs: Callable[[dict[str, Any]], list[tuple[str, str]]] = _none
    #: Datasets read (fingerprinted before the run) and written (after it), for the record's lineage.
    reads: Callable[[dict[str, Any]], list[DataUse]] = _none
    writes: Callable[[dict[str, Any], dict[str, Any]], list[DataUse]] = _none
    #: Extra key content: a user's folder's state, so a changed dataset re-runs its stage.
    state: Callable[[dict[str, Any]], str | None] = lambda params: None


# --- data ----------------------------------------------------------------------------------------

def _synth(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.data.synth import generate_benchmark

    out = Path(p["out"])
    _claim(out, ctx, "out")
    # A new benchmark starts from nothing, so no stale journal or backup of this stage's survives.
    from landseg.curation.backup import original_backup

    for stale in (out, original_backup(out)):
        shutil.rmtree(stale, ignore_errors=True)
    kw = {k: v for k, v in p.items() if k != "out"}
    res = generate_benchmark(out, progress=ctx.progress, **kw)
    return StageOutput({"out": str(res.out), "manifest": str(res.manifest)},
                       {"counts": res.counts, "noisy_masks": res.noisy_masks, "class_fractions": res.class_fractions})


def _synth_oem(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.data.synth_oem import generate_oem_like

    _claim(Path(p["out"]), ctx, "out")
    res = generate_oem_like(p["out"], overwrite=True, progress=ctx.progress, **{k: v for k, v in p.items() if k != "out"})
    return StageOutput({"out": str(p["out"])}, {"result": _plain(res)})


def _import_oem(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.curation.oem import import_oem

    _fresh(Path(p["out"]), ctx, "out")
    splits = p["splits"].split(",") if isinstance(p["splits"], str) else p["splits"]
    res = import_oem(p["oem_root"], p["out"], p["mapping"], tile=p["tile"], splits=tuple(splits), edge=p["edge"],
                     min_valid=p["min_valid"], workers=p["workers"], progress=ctx.progress)
    return StageOutput({"out": str(res.out), "manifest": str(res.manifest)},
                       {"tiles": res.tiles, "written": res.written, "unlabelled": _plain(res.unlabelled),
                        "report": res.report()})


def _combine(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.curation.combine import combine_datasets

    _fresh(Path(p["out"]), ctx, "out")
    res = combine_datasets(_sources(p), p["out"], split=p["split"], workers=p["workers"], progress=ctx.progress)
    return StageOutput({"out": str(res.out), "train": str(res.out / p["split"]),
                        "manifest": str(res.out / "manifest.csv")},
                       {"added": res.added, "total": res.total, "report": res.report()})


def _filter(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.curation.filter import filter_dataset

    _undo_previous(ctx)
    res = filter_dataset(p["dataset"], p["class"], p["max_fraction"], denominator=p["denominator"],
                         split=p.get("split"), backup=p.get("backup"), workers=p["workers"], progress=ctx.progress)
    return StageOutput({"dataset": str(p["dataset"]), "backup": str(res.backup), "journal": str(res.journal or "")},
                       {"tiles": res.tiles, "removed": len(res.removed), "remaining": res.tiles - len(res.removed),
                        "mean": res.mean, "median": res.median, "max": res.maximum,
                        "top": res.removed[:10], "report": res.report()})


# --- training and analysis ----------------------------------------------------------------------

def _config_chain(p: dict[str, Any]) -> list[Path]:
    """A train stage's config file and every ``base`` it builds on: their content is in the key."""
    from landseg.training.config import config_files

    return config_files(p["config"])


def _train(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.training.config import load_config
    from landseg.training.train import train

    exp = load_config(p["config"], [*_overrides(p), f"output_dir={str(ctx.dir / 'run')!r}"])
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
    from landseg.evaluation.hard_samples import analyze_hard_samples
    from landseg.evaluation.weight_policy import parse_policy

    policy = parse_policy(p["policy"], **{k: p.get(k) for k in _POLICY_OPTIONS})
    res = analyze_hard_samples(p["model"], p["data"], p["split"], ctx.dir / "out", policy=policy,
                               mask_dir=p["mask_dir"], window=p.get("window"), overlap=p["overlap"],
                               batch_size=p["batch_size"], precision=p["precision"], progress=ctx.progress)
    return StageOutput({"weights": str(res.weights_tsv), "analysis": str(res.analysis_json),
                        "tables": str(res.tables_md)},
                       {"tiles": len(res.tiles), "sum_of_weights": res.sum_of_weights,
                        "tier_rows": _plain(res.tier_rows), "class_rows": _plain(res.class_rows),
                        "report": res.report, "precision": res.precision})


def _evaluate(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    """Every model on every split; Val also against the original masks when they were corrected."""
    from landseg.curation.backup import corrected_backup
    from landseg.evaluation.evaluator import evaluate

    data = Path(p["data"])
    backup = corrected_backup(data)
    results: dict[str, dict[str, Any]] = {}
    precision: dict[str, str] = {}
    for model, ckpt in p["models"].items():
        results[model] = {}
        for split in p["splits"]:
            res = evaluate(ckpt, data, split, ctx.dir / model / split.replace("/", "_"), progress=ctx.progress,
                           precision=p["precision"], batch_size=p["batch_size"],
                           original_masks=backup if backup and not split.startswith("Test") else None)
            entry = {"scores": _plain(res.scores), "warnings": res.warnings, "metrics_json": str(res.metrics_json),
                     "confusion_png": str(res.confusion_png)}
            precision = res.precision
            if res.original_scores is not None:
                entry["original_scores"] = _plain(res.original_scores)
            if p.get("clean_mask_dir"):
                clean = evaluate(ckpt, data, split, ctx.dir / model / f"{split.replace('/', '_')}_clean",
                                 mask_dir=p["clean_mask_dir"], progress=False, precision=p["precision"])
                entry["clean_scores"] = _plain(clean.scores)
            results[model][split] = entry
    return StageOutput({"dir": str(ctx.dir)}, {"results": results, "precision": precision})


# --- ground-truth correction ----------------------------------------------------------------------

def _predict_pair(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.correction.predict_pair import predict_pair

    res = predict_pair(p["models"], p["data"], p["split"], ctx.dir / "out", mask_dir=p["mask_dir"], tta=p["tta"],
                       batch_size=p["batch_size"], precision=p["precision"], progress=ctx.progress)
    return StageOutput({"out": str(res.out_dir), "predictions": str(res.predictions_csv)},
                       {"images": res.count, "precision": res.precision})


def _review(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.review.auto_review import auto_review

    review_dir = Path(p["dir"])
    decisions = review_dir / "decisions.csv"
    if p.get("auto"):
        _, summary = auto_review(review_dir, p["auto"], decisions)
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
    from landseg.curation.backup import original_backup

    source, snapshot = Path(p["data_root"]), ctx.dir / "data"
    for stale in (snapshot, original_backup(snapshot)):
        shutil.rmtree(stale, ignore_errors=True)
    shutil.copytree(source, snapshot, copy_function=os.link, ignore=shutil.ignore_patterns(".landseg"))
    clean = p.get("clean_mask_dir")
    before = _mask_accuracy(snapshot, clean) if clean else None
    res = replace_masks(p["decisions"], snapshot, mask_dir=p["mask_dir"], progress=ctx.progress)
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
    from landseg.inference.export import export_model

    fmt = p["format"]
    res = export_model(p["model"], ctx.dir / f"model.{'onnx' if fmt == 'onnx' else 'pt'}", fmt, tile=p.get("tile"),
                       dynamic_size=p["dynamic_size"])
    return StageOutput({"path": str(res.path)}, {"max_abs_diff": res.max_abs_diff, "tile_size": res.tile_size,
                                                 "precision": res.metadata["parity"]["precision"]})


def _predict(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    from landseg.inference.predict import predict

    _fresh(ctx.dir / "maps", ctx)
    options = {k: v for k, v in p.items() if k not in ("model", "input")}
    res = predict(p["model"], p["input"], ctx.dir / "maps", progress=ctx.progress, **options)
    return StageOutput({"out": str(res.out), "areas": str(res.out / "areas.csv")},
                       {"maps": [str(m) for m in res.maps], "summary": res.summary})


def _model_card(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    """``after`` (references to the stages the card describes) only ties the card to them."""
    from landseg.report.model_card import write_model_card

    res = write_model_card(ctx.spec.run_dir, ctx.dir / "MODEL_CARD.md", model=p.get("stage"))
    return StageOutput({"path": str(res.path)}, {"model": res.model, "not_recorded": res.missing})


def _plain(obj: Any) -> Any:
    import dataclasses

    from landseg.utils import jsonable

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if isinstance(obj, list):
        return [_plain(o) for o in obj]
    return jsonable(obj)


def _undo_previous(ctx: StageContext) -> None:
    """A dataset-changing stage re-run with new inputs first reverses its previous change.

    Otherwise the old change would stay in the data (e.g. masks replaced by an earlier review).
    A journal whose dataset was since rebuilt by an upstream stage is gone with it: nothing to undo.
    """
    from landseg.curation.journal import Journal

    journal = ((ctx.previous or {}).get("outputs") or {}).get("journal")
    if journal and (Path(journal) / "plan.json").is_file() and not Journal(journal).status().undone:
        Journal(journal).undo(progress=ctx.progress)


def _fresh(out: Path, ctx: StageContext, param: str | None = None) -> None:
    """Stages that create a folder start from an empty one when re-run with new inputs.

    Only a folder this stage wrote before (or one inside its own stage folder) is emptied; any other
    existing folder is refused, as the command would refuse it, rather than silently deleted.
    """
    if param is not None:
        _claim(out, ctx, param)
    if out.exists() and (ctx.previous or {}).get("key") != ctx.key:
        shutil.rmtree(out)


def _claim(out: Path, ctx: StageContext, param: str) -> None:
    """Refuse to replace an existing, non-empty folder that an earlier run of this stage did not write."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    inside = out.resolve() == ctx.dir.resolve() or ctx.dir.resolve() in out.resolve().parents
    previous = ((ctx.previous or {}).get("params") or {}).get(param)
    if inside or (previous is not None and Path(str(previous)).resolve() == out.resolve()):
        return
    raise DatasetError(f"Stage {ctx.stage.name!r}: {param} {out} already exists and was not written by this stage "
                       f"(no earlier record of {ctx.stage.name!r} names it). It is left untouched: move it away, or "
                       f"point {param} at a new folder.")


def _overrides(p: dict[str, Any]) -> list[str]:
    return [f"{k}={v!r}" for k, v in (p.get("overrides") or {}).items()]


def _sources(p: dict[str, Any]) -> list[Any]:
    from landseg.curation.combine import Source

    return [Source(name, Path(spec.split(":")[0]), spec.split(":")[1] if ":" in spec else "")
            for name, spec in p["sources"].items()]


# --- user data --------------------------------------------------------------------------------------

_LAYOUTS = {
    "loveda": "LoveDA layout: <split>/<domain>/images_png and masks_png, e.g. Train/Rural",
    "flat": "images_png and masks_png folders",
    "oem": "<region>/images and <region>/labels GeoTIFFs with train.txt/val.txt",
    "rasters": "a folder of GeoTIFF/VRT/PNG/JPEG files, or one file",
}


def _dataset_problem(path: Path, layout: str, mask_dir: str) -> str | None:
    """Why ``path`` is not a dataset of ``layout`` (None: it is)."""
    if not path.exists():
        return "does not exist"
    if layout == "rasters":
        if path.is_file():
            return None
        exts = (".tif", ".tiff", ".vrt", ".png", ".jpg", ".jpeg")
        return None if any(f.suffix.lower() in exts for f in path.iterdir()) else "holds no GeoTIFF/VRT/PNG/JPEG files"
    if not path.is_dir():
        return "is not a folder"
    if layout == "oem":
        return None if any(path.glob("*/images")) and any(path.glob("*/labels")) else "has no <region>/images and labels"
    if layout == "flat":
        return None if (path / "images_png").is_dir() else "has no images_png folder"
    return None if any(path.glob("*/*/images_png")) and mask_files(path, None, mask_dir) else (
        f"has no <split>/<domain>/images_png with {mask_dir} beside it")


def _dataset(p: dict[str, Any], ctx: StageContext) -> StageOutput:
    """A dataset the user brings: checked (exists, layout) and fingerprinted, never changed."""
    path = Path(p["path"])
    problem = _dataset_problem(path, p["layout"], p["mask_dir"])
    if problem:
        raise DatasetError(f"Stage {ctx.stage.name!r}: {path} {problem}. Expected {p.get('about') or 'a dataset'} "
                           f"({_LAYOUTS[p['layout']]}).")
    metrics: dict[str, Any] = {"layout": p["layout"], "state": tree_state(path)}
    if p["layout"] in ("loveda", "flat"):
        metrics["masks"] = len(mask_files(path, None, p["mask_dir"]))
    return StageOutput({"out": str(path)}, metrics)


def _dataset_inputs(p: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(p["path"]), f"{p.get('about') or 'dataset'} ({_LAYOUTS[p.get('layout', 'loveda')]})")]


def _dataset_state(p: dict[str, Any]) -> str | None:
    return tree_state(p["path"]) if Path(str(p["path"])).exists() else None


# --- lineage: the datasets each stage reads and writes ----------------------------------------------

def _train_reads(p: dict[str, Any]) -> list[DataUse]:
    from landseg.training.config import load_config

    d = load_config(p["config"], _overrides(p)).data
    return [DataUse("train", d.root, d.train_split, d.mask_dir),
            DataUse("val", d.val_root or d.root, d.val_split, d.mask_dir)]


def _evaluate_reads(p: dict[str, Any]) -> list[DataUse]:
    out = [DataUse("score", p["data"], split, p["mask_dir"]) for split in p["splits"]]
    if p.get("clean_mask_dir"):
        out += [DataUse("score (clean truth)", p["data"], split, p["clean_mask_dir"]) for split in p["splits"]]
    return out


def _config_inputs(p: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(p["config"]), "training config")]


STAGE_KINDS: dict[str, StageKind] = {}


def _kind(name: str, run: Callable[[dict[str, Any], StageContext], StageOutput], outputs: tuple[str, ...],
          params: dict[str, Param], **hooks: Any) -> None:
    STAGE_KINDS[name] = StageKind(run, outputs, params, **hooks)


_PRECISION = opt(str, default="auto", choices=PRECISIONS, help="model precision")
_TTA = ("none", "flip", "d4")  # landseg.inference.tiling.TTA_MODES (tested equal; importing it needs torch)
_POLICY_OPTIONS = ("tiers", "hard_classes", "min_pixels", "w_max", "iou_min", "gamma")

_kind("dataset", _dataset, ("out",), {
    "path": req(str, help="the folder (or raster file) the user brings"),
    "layout": opt(str, default="loveda", choices=tuple(_LAYOUTS)),
    "mask_dir": opt(str, default="masks_png"),
    "about": opt(str, help="what the data is, said when it is missing"),
}, inputs=_dataset_inputs, state=_dataset_state,
    writes=lambda p, o: [DataUse("source", p["path"], None, p["mask_dir"])] if p["layout"] in ("loveda", "flat") else [])
_kind("synth", _synth, ("out", "manifest"), {
    "out": req(str, help="output folder"), "tiles": opt(int), "size": opt(int), "seed": opt(int),
    "label_noise": opt(float), "val_fraction": opt(float), "test_fraction": opt(float),
}, writes=lambda p, o: [DataUse("source", o["out"])])
_kind("synth_oem", _synth_oem, ("out",), {
    "out": req(str, help="output folder"), "regions": opt(int, list), "tiles_per_region": opt(int), "size": opt(int),
    "seed": opt(int), "unlabelled_region": opt(str), "crs": opt(str), "pixel_size": opt(float),
    "val_fraction": opt(float), "test_fraction": opt(float), "large_size": opt(int),
})
_kind("import_oem", _import_oem, ("out", "manifest"), {
    "oem_root": req(str, help="OpenEarthMap folder"), "out": req(str, help="output folder"),
    "mapping": req(str, help="class mapping YAML"), "tile": opt(int, default=512),
    "splits": opt(list, str, default=["train", "val"]), "edge": opt(str, default="pad", choices=("pad", "drop")),
    "min_valid": opt(float, default=0.5), "workers": opt(int, default=1),
}, inputs=lambda p: [(str(p["mapping"]), "class mapping")],
    reads=lambda p: [DataUse("source", p["oem_root"], None, "labels")],
    writes=lambda p, o: [DataUse("imported", o["out"])])
_kind("combine", _combine, ("out", "train", "manifest"), {
    "sources": req(dict, help="name: ROOT[:prefix] per source"), "out": req(str, help="output folder"),
    "split": opt(str, default="Train"), "workers": opt(int, default=1),
}, reads=lambda p: [DataUse(f"source {s.name}", str(s.root)) for s in _sources(p)],
    writes=lambda p, o: [DataUse("combined", o["out"])])
_kind("filter", _filter, ("dataset", "backup", "journal"), {
    "dataset": req(str, help="dataset folder"), "class": req(str, help="class name, e.g. Settlement"),
    "max_fraction": opt(float, default=0.5), "denominator": opt(str, default="labelled", choices=("labelled", "all")),
    "split": opt(str), "backup": opt(str), "workers": opt(int, default=1),
}, reads=lambda p: [DataUse("filtered", p["dataset"], p.get("split"))],
    writes=lambda p, o: [DataUse("filtered", o["dataset"], p.get("split"))])
_kind("train", _train, ("best_checkpoint", "last_checkpoint", "run_dir"), {
    "config": req(str, help="a Python training config"), "overrides": opt(dict, help="config key: value"),
}, files=_config_chain, inputs=_config_inputs, reads=_train_reads)
_kind("hard_samples", _hard_samples, ("weights", "analysis", "tables"), {
    "model": req(str, help="the checkpoint that scores the tiles"), "data": req(str, help="dataset root"),
    "split": opt(str, default="Train"), "mask_dir": opt(str, default="masks_png"),
    "policy": opt(str, default="tiers", choices=("tiers", "additive", "continuous")),
    "tiers": opt(str, list), "hard_classes": opt(str, list), "min_pixels": opt(int), "w_max": opt(float),
    "iou_min": opt(float), "gamma": opt(float), "window": opt(int), "overlap": opt(int, default=128),
    "batch_size": opt(int, default=1), "precision": _PRECISION,
}, reads=lambda p: [DataUse("weights", p["data"], p["split"], p["mask_dir"])])
_kind("evaluate", _evaluate, ("dir",), {
    "models": req(dict, help="name: checkpoint"), "data": req(str, help="dataset root"),
    "splits": opt(list, default=["Val", "Test"]), "mask_dir": opt(str, default="masks_png"),
    "clean_mask_dir": opt(str), "batch_size": opt(int, default=8), "precision": _PRECISION,
}, reads=_evaluate_reads)
_kind("predict_pair", _predict_pair, ("out", "predictions"), {
    "models": req(dict, help="A: checkpoint, B: checkpoint"), "data": req(str, help="dataset root"),
    "split": opt(str, default="Val"), "mask_dir": opt(str, default="masks_png"),
    "tta": opt(str, default="none", choices=_TTA), "batch_size": opt(int, default=8),
    "precision": _PRECISION,
}, reads=lambda p: [DataUse("predict", p["data"], p["split"], p["mask_dir"])])
_kind("review", _review, ("decisions",), {
    "dir": req(str, help="a predict_pair output folder"), "auto": opt(str, help="automatic policy, e.g. agree>=0.95"),
})
_kind("replace_masks", _replace_masks, ("data_root", "backup", "journal"), {
    "decisions": req(str, help="decisions.csv"), "data_root": req(str, help="the dataset to correct"),
    "mask_dir": opt(str, default="masks_png"), "clean_mask_dir": opt(str, help="synthetic clean truth (demo)"),
}, reads=lambda p: [DataUse("original", p["data_root"], None, p["mask_dir"])],
    writes=lambda p, o: [DataUse("corrected", o["data_root"], None, p["mask_dir"])])
_kind("report", _report, ("markdown", "html"), {})
_kind("export", _export, ("path",), {
    "model": req(str, help="checkpoint to export"), "format": opt(str, default="onnx", choices=("onnx", "torchscript")),
    "tile": opt(int), "dynamic_size": opt(bool, default=False),
})
_kind("predict", _predict, ("out", "areas"), {
    "model": req(str, help="checkpoint, .onnx or TorchScript file"), "input": req(str, help="rasters to map"),
    "tile": opt(int), "overlap": opt(int), "batch_size": opt(int), "tta": opt(str, choices=_TTA),
    "precision": opt(str, choices=PREDICT_PRECISIONS), "device": opt(str), "bands": opt(list),
    "pixel_size": opt(float), "band_width": opt(int), "threads": opt(int), "devices": opt(int),
})
_kind("model_card", _model_card, ("path",), {
    "after": opt(list, help="references to the stages the card describes"), "stage": opt(str, help="a train stage"),
})
