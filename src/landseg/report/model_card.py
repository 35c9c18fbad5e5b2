"""MODEL_CARD.md from a pipeline run's stage records alone (``RUN_DIR/<stage>/stage.json``).

Every number in the card comes from a record the pipeline wrote (see ``landseg.pipeline.stages``);
what no record holds is written as "not recorded", never guessed. Class colours come from the
landseg class table for the recorded class names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landseg.errors import LandsegError
from landseg.report.records import read_records
from landseg.utils import atomic_write_text, markdown_table

NOT_RECORDED = "not recorded"
DATA_KINDS = ("synth", "synth_oem", "import_oem", "predict_pair", "review", "replace_masks", "combine", "filter",
              "hard_samples")
LOW_SHARE = 0.05  # a class under 5% of the training pixels is "hardly covered"
LOW_IOU = 0.6


@dataclass
class ModelCardResult:
    path: Path
    model: str | None
    missing: list[str] = field(default_factory=list)


def write_model_card(run_dir: str | Path, out: str | Path | None = None, model: str | None = None) -> ModelCardResult:
    if not Path(run_dir).is_dir():
        raise LandsegError(f"Run folder {run_dir} not found: pass the run_dir of a `landseg pipeline run`.")
    records = read_records(run_dir, strict=True)
    text, chosen, missing = build_model_card(records, model=model, run_name=Path(run_dir).name)
    path = atomic_write_text(Path(out) if out else Path(run_dir) / "MODEL_CARD.md", text)
    return ModelCardResult(path=path, model=chosen, missing=missing)


def build_model_card(records: dict[str, dict[str, Any]], model: str | None = None,
                     run_name: str = "run") -> tuple[str, str | None, list[str]]:
    """The card's Markdown, the model stage it describes and the kinds of stage no record covers."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for rec in records.values():
        by_kind.setdefault(str(rec.get("kind")), []).append(rec)
    chosen = _choose_model(records, model)
    train = records.get(chosen) if chosen else None
    evaluate = _complete(by_kind.get("evaluate", []))
    classes = _class_names(by_kind, evaluate)
    missing = [k for k in ("synth", "train", "evaluate") if not by_kind.get(k)]
    parts = [
        f"# Model card: {chosen or NOT_RECORDED} ({run_name})\n",
        "Built by `landseg model-card` from the pipeline's stage records only; "
        f"anything no record holds is marked *{NOT_RECORDED}*.\n",
        _summary(train, chosen),
        _intended_use(by_kind),
        _classes_section(classes, by_kind),
        _data_section(by_kind),
        _stages_section(records),
        _metrics_section(evaluate, chosen, classes),
        _limitations(by_kind, evaluate, chosen, classes),
        _licences(by_kind),
        _inference(train),
    ]
    return "\n".join(parts), chosen, missing


# --- helpers ---------------------------------------------------------------------------------------

def _complete(recs: list[dict[str, Any]]) -> dict[str, Any] | None:
    done = [r for r in recs if r.get("status") == "complete"]
    return sorted(done, key=lambda r: str(r.get("ended", "")))[-1] if done else None


def _depth(records: dict[str, dict[str, Any]], name: str, seen: frozenset[str] = frozenset()) -> int:
    ups = [u for u in (records.get(name, {}).get("upstream") or {}) if u in records and u not in seen]
    return 1 + max((_depth(records, u, seen | {name}) for u in ups), default=0)


def _choose_model(records: dict[str, dict[str, Any]], model: str | None) -> str | None:
    trained = [n for n, r in records.items() if r.get("kind") == "train"]
    if model is not None:
        if model not in trained:
            raise LandsegError(f"--stage {model!r} is not a train stage of this run. "
                               f"Train stages: {', '.join(sorted(trained)) or 'none recorded'}.")
        return model
    done = [n for n in trained if records[n].get("status") == "complete"]
    # The most downstream finished model: the last step of the workflow that completed.
    return max(done, key=lambda n: (_depth(records, n), n)) if done else None


def _class_names(by_kind: dict[str, list[dict[str, Any]]], evaluate: dict[str, Any] | None) -> list[str]:
    for model_res in ((evaluate or {}).get("metrics") or {}).get("results", {}).values():
        for split in model_res.values():
            names = (split.get("scores") or {}).get("class_names")
            if names:
                return list(names)
    synth = _complete(by_kind.get("synth", []))
    return list(((synth or {}).get("metrics") or {}).get("class_fractions", {}))


def _fmt(value: Any, digits: int = 3) -> str:
    return NOT_RECORDED if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _pct(value: Any) -> str:
    return NOT_RECORDED if value is None else f"{100 * float(value):.1f}%"


def _training_shares(by_kind: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    synth = _complete(by_kind.get("synth", []))
    return dict(((synth or {}).get("metrics") or {}).get("class_fractions", {}))


def _oem_shares(by_kind: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Class shares of labelled pixels from the import-oem report line 'Name a% / b%'."""
    rec = _complete(by_kind.get("import_oem", []))
    report = str(((rec or {}).get("metrics") or {}).get("report", ""))
    line = next((ln for ln in report.splitlines() if ln.startswith("Class shares")), "")
    return {m[0].strip(): float(m[2]) / 100 for m in re.findall(r"([A-Za-z][\w ]*?) ([\d.]+)% / ([\d.]+)%", line)}


# --- sections --------------------------------------------------------------------------------------

def _summary(train: dict[str, Any] | None, chosen: str | None) -> str:
    if train is None:
        return f"## Model\n\nModel: {NOT_RECORDED} (no train stage recorded).\n"
    m, p, o = train.get("metrics") or {}, train.get("params") or {}, train.get("outputs") or {}
    rows = [("Stage", f"`{chosen}` (status {train.get('status')})"), ("Config", f"`{p.get('config', NOT_RECORDED)}`"),
            ("Overrides", ", ".join(f"`{k}={v}`" for k, v in (p.get("overrides") or {}).items()) or "none"),
            ("Checkpoint", f"`{o.get('best_checkpoint', NOT_RECORDED)}`"),
            (f"Best {m.get('monitor', 'score')}", _fmt(m.get("best_score"))), ("Epochs", _fmt(m.get("epochs"))),
            ("Training time", f"{m['seconds']} s" if "seconds" in m else NOT_RECORDED),
            ("landseg version", str(train.get("landseg_version", NOT_RECORDED))),
            ("Git commit", f"`{train.get('git_commit') or NOT_RECORDED}`")]
    return "## Model\n\n| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)


def _intended_use(by_kind: dict[str, list[dict[str, Any]]]) -> str:
    synthetic_only = _synthetic_only(by_kind)
    text = ("## Intended use\n\nSemantic segmentation of RGB aerial tiles into the land-cover classes below, "
            "for biodiversity monitoring (habitat mapping, land-cover statistics) on imagery like the "
            "training data (same sensor type, resolution, season and region), with people reviewing the maps "
            "before decisions are made from them.\n\n## Out-of-scope use\n\n"
            "- Imagery unlike the training data (other sensors, bands, resolutions, regions or seasons) "
            "without a new evaluation.\n"
            "- Decisions about individual parcels or people (enforcement, subsidies, ownership) without human "
            "review; change detection; classes not listed below.\n")
    if synthetic_only:
        text += ("- **Any real-world use**: this model was trained and evaluated on synthetic data generated by "
                 "landseg only; it demonstrates the workflow.\n")
    return text


def _synthetic_only(by_kind: dict[str, list[dict[str, Any]]]) -> bool:
    return bool(by_kind.get("synth")) and (not by_kind.get("import_oem") or _oem_is_synthetic(by_kind))


def _oem_is_synthetic(by_kind: dict[str, list[dict[str, Any]]]) -> bool:
    return bool(by_kind.get("import_oem")) and bool(by_kind.get("synth_oem"))


def _classes_section(classes: list[str], by_kind: dict[str, list[dict[str, Any]]]) -> str:
    from landseg.classes import BIODIVERSITY

    if not classes:
        return f"## Classes\n\n{NOT_RECORDED}\n"
    colours = {c.name: c.color for c in BIODIVERSITY.classes}
    shares = _training_shares(by_kind)
    rows = []
    for i, name in enumerate(classes):
        rgb = colours.get(name)
        swatch = NOT_RECORDED if rgb is None else (
            f'<span style="background:#{"".join(f"{v:02x}" for v in rgb)}">&nbsp;&nbsp;&nbsp;&nbsp;</span> '
            f'`#{"".join(f"{v:02x}" for v in rgb)}`')
        rows.append([str(i), name, swatch, _pct(shares.get(name)) if shares else NOT_RECORDED])
    table = markdown_table(["Index", "Class", "Colour", "Pixel share (synthetic training data)"], rows,
                           [True, False, False, True], pad=False)
    return f"## Classes\n\n{table}\n\nMask value 255 means *ignore* (not scored).\n"


def _data_section(by_kind: dict[str, list[dict[str, Any]]]) -> str:
    out = "## Training data\n\n"
    synth = _complete(by_kind.get("synth", []))
    if synth:
        p, m = synth.get("params") or {}, synth.get("metrics") or {}
        counts = ", ".join(f"{k} {v}" for k, v in (m.get("counts") or {}).items())
        out += (f"- **Synthetic benchmark** (`{synth['stage']}`): {counts} tiles of {p.get('size', '?')}² px, seed "
                f"{p.get('seed', '?')}, label noise {p.get('label_noise', 0)} → {m.get('noisy_masks', 0)} masks "
                "with systematic annotation errors (clean truth kept in `masks_png_clean/`).\n")
    else:
        out += f"- Base dataset: {NOT_RECORDED}.\n"
    for kind, render in (("predict_pair", _r_predict_pair), ("review", _r_review), ("replace_masks", _r_replace),
                         ("synth_oem", _r_synth_oem), ("import_oem", _r_import_oem), ("combine", _r_combine),
                         ("filter", _r_filter), ("hard_samples", _r_hard)):
        rec = _complete(by_kind.get(kind, []))
        if rec is None:
            state = by_kind.get(kind, [{}])[-1].get("status") if by_kind.get(kind) else None
            out += f"- {kind.replace('_', '-')}: {NOT_RECORDED}" + (f" (stage {state})" if state else "") + ".\n"
        else:
            out += f"- {render(rec.get('params') or {}, rec.get('metrics') or {}, rec['stage'])}\n"
    return out


def _r_predict_pair(p: dict[str, Any], m: dict[str, Any], s: str) -> str:
    models = ", ".join(f"{k}: `{Path(str(v)).parent.parent.parent.name}`" for k, v in (p.get("models") or {}).items())
    return f"**Correction candidates** (`{s}`): {m.get('images', '?')} {p.get('split', 'Val')} tiles predicted by {models}."


def _r_review(p: dict[str, Any], m: dict[str, Any], s: str) -> str:
    how = f"automatic policy `{m['auto']}`" if m.get("auto") else "a person"
    return f"**Review** (`{s}`): decisions by {how}" + (f" — {m['summary']}" if m.get("summary") else "") + "."


def _r_replace(p: dict[str, Any], m: dict[str, Any], s: str) -> str:
    replaced = m.get("replaced") or {}
    text = (f"**Ground-truth correction** (`{s}`): {sum(replaced.values())} masks replaced by model predictions "
            f"({', '.join(f'{k} {v}' for k, v in replaced.items())}), {m.get('kept_gt', '?')} kept; originals backed up.")
    acc = m.get("accuracy_vs_clean")
    if acc:
        text += " Mask accuracy vs clean truth: " + "; ".join(
            f"{split} {_pct(acc['before'].get(split))} → {_pct(acc['after'].get(split))}" for split in acc.get("before", {}))
    return text


def _r_synth_oem(p: dict[str, Any], m: dict[str, Any], s: str) -> str:
    res = m.get("result") or {}
    return (f"**OpenEarthMap-like source** (`{s}`, synthetic, generated by landseg): regions "
            f"{', '.join(res.get('regions', []))}, {res.get('labelled', '?')} labelled images.")


def _r_import_oem(p: dict[str, Any], m: dict[str, Any], s: str) -> str:
    return (f"**OpenEarthMap import** (`{s}`): {m.get('tiles', '?')} tiles of {p.get('tile', 512)}² px remapped with "
            f"`{p.get('mapping', NOT_RECORDED)}`; {len(m.get('unlabelled') or [])} listed image(s) without labels "
            "not imported.")


def _r_combine(p: dict[str, Any], m: dict[str, Any], s: str) -> str:
    added = ", ".join(f"{k} {v}" for k, v in (m.get("added") or {}).items())
    return f"**Combined training set** (`{s}`): {m.get('total', '?')} tiles ({added})."


def _r_filter(p: dict[str, Any], m: dict[str, Any], s: str) -> str:
    return (f"**Filtering** (`{s}`): tiles with more than {_pct(p.get('max_fraction'))} {p.get('class', p.get('class_name', '?'))} "
            f"moved out: {m.get('removed', '?')} of {m.get('tiles', '?')} removed, {m.get('remaining', '?')} remain "
            f"(share mean {_pct(m.get('mean'))}, median {_pct(m.get('median'))}).")


def _r_hard(p: dict[str, Any], m: dict[str, Any], s: str) -> str:
    return (f"**Hard-sample weights** (`{s}`): {m.get('tiles', '?')} {p.get('split', 'Train')} tiles weighted "
            f"(policy {p.get('policy', 'tiers')}, sum of weights {_fmt(m.get('sum_of_weights'), 1)}).")


def _stages_section(records: dict[str, dict[str, Any]]) -> str:
    from landseg.precision import describe

    rows = []
    for rec in sorted(records.values(), key=lambda r: str(r.get("started", ""))):
        commit = rec.get("git_commit")
        dur = f"{rec['duration_s']:.1f} s" if isinstance(rec.get("duration_s"), int | float) else NOT_RECORDED
        rows.append([str(rec.get("stage")), str(rec.get("kind")), str(rec.get("status")), describe(rec.get("metrics")),
                     f"`{rec.get('key', '')}`", f"`{commit[:12]}`" if commit else NOT_RECORDED, dur,
                     str(rec.get("ended", NOT_RECORDED))])
    table = markdown_table(["Stage", "Kind", "Status", "Precision", "Key", "Commit", "Duration", "Ended"], rows,
                           [False] * 6 + [True, False], pad=False)
    return f"## Stages and provenance\n\n{table}\n"


def _metrics_section(evaluate: dict[str, Any] | None, chosen: str | None, classes: list[str]) -> str:
    results = ((evaluate or {}).get("metrics") or {}).get("results") or {}
    if not results:
        return f"## Evaluation\n\nPer-class metrics: {NOT_RECORDED} (no complete evaluate stage).\n"
    out = f"## Evaluation\n\nFrom stage `{evaluate['stage']}`.\n\n"  # type: ignore[index]
    mine = results.get(chosen) if chosen else None
    if mine is None:
        out += f"Model `{chosen}`: {NOT_RECORDED} in the evaluate record.\n\n"
    else:
        for split, entry in mine.items():
            s = entry.get("scores") or {}
            names = s.get("class_names") or classes
            out += (f"### {chosen} on {split}\n\n{(s.get('labels') or {}).get('mIoU', 'mIoU')}: {_fmt(s.get('mIoU'))}, "
                    f"OA {_fmt(s.get('OA'))}\n\n")
            out += markdown_table(["Class", "IoU", "F1"], [[name, _fmt(_at(s.get("IoU"), i)), _fmt(_at(s.get("F1"), i))]
                                                           for i, name in enumerate(names)],
                                  [False, True, True], pad=False) + "\n"
            for key, what in (("original_scores", "against the original (uncorrected) masks"),
                              ("clean_scores", "against the synthetic clean truth")):
                if entry.get(key):
                    out += f"\nmIoU {what}: {_fmt(entry[key].get('mIoU'))}\n"
            out += "\n"
    splits = _splits(results)
    rows = [[name, *(_fmt(((res.get(sp) or {}).get("scores") or {}).get("mIoU")) for sp in splits)]
            for name, res in results.items()]
    out += "### All evaluated models (mIoU)\n\n" + markdown_table(["Model", *splits], rows,
                                                                  [False] + [True] * len(splits), pad=False) + "\n"
    return out


def _splits(results: dict[str, Any]) -> list[str]:
    return sorted({sp for res in results.values() for sp in res}, key=lambda s: (s.startswith("Test"), s))


def _at(values: Any, i: int) -> Any:
    return values[i] if isinstance(values, list) and i < len(values) else None


def _limitations(by_kind: dict[str, list[dict[str, Any]]], evaluate: dict[str, Any] | None, chosen: str | None,
                 classes: list[str]) -> str:
    items = []
    for label, shares in (("the synthetic training data", _training_shares(by_kind)),
                          ("the imported OpenEarthMap tiles", _oem_shares(by_kind))):
        low = [f"{n} ({_pct(v)})" for n, v in shares.items() if v < LOW_SHARE]
        if low:
            items.append(f"Classes hardly covered by {label} (< {_pct(LOW_SHARE)} of labelled pixels): {', '.join(low)}.")
    results = (((evaluate or {}).get("metrics") or {}).get("results") or {}).get(chosen or "", {})
    for split, entry in results.items():
        s = entry.get("scores") or {}
        weak = [f"{n} ({_fmt(_at(s.get('IoU'), i))})" for i, n in enumerate(s.get("class_names") or classes)
                if isinstance(_at(s.get("IoU"), i), float) and _at(s.get("IoU"), i) < LOW_IOU]
        if weak:
            items.append(f"Weak classes on {split} (IoU < {LOW_IOU}): {', '.join(weak)}.")
        for w in entry.get("warnings") or []:
            items.append(f"{split}: {w}")
    if _complete(by_kind.get("replace_masks", [])):
        items.append("Validation masks were partly replaced by model predictions: Val scores against corrected masks "
                     "are optimistic; the untouched Test split is the fair estimate.")
    flt = _complete(by_kind.get("filter", []))
    if flt:
        p = flt.get("params") or {}
        items.append(f"Tiles dominated by {p.get('class', p.get('class_name'))} were removed from training: expect weaker results on "
                     "such scenes.")
    if _synthetic_only(by_kind):
        items.append("All data are synthetic: the scores say nothing about real imagery.")
    if not items:
        items.append(NOT_RECORDED)
    return "## Known limitations\n\n" + "".join(f"- {i}\n" for i in items)


LICENCES = {
    "synth": "generated by landseg (synthetic; no third-party licence)",
    "synth_oem": "generated by landseg (synthetic OpenEarthMap-like data; no third-party licence)",
    "oem": ("OpenEarthMap: CC BY-SA 4.0 or CC BY-NC-SA 4.0 depending on the region's source imagery — "
            "check the dataset's licence"),
    "loveda": "LoveDA: CC BY-NC-SA 4.0 — check the dataset's licence",
}


def _licences(by_kind: dict[str, list[dict[str, Any]]]) -> str:
    rows = []
    if by_kind.get("synth"):
        rows.append(("Synthetic benchmark", LICENCES["synth"]))
    if by_kind.get("import_oem"):
        rows.append(("OpenEarthMap tiles", LICENCES["synth_oem"] if _oem_is_synthetic(by_kind) else LICENCES["oem"]))
    comb = _complete(by_kind.get("combine", []))
    for name, spec in ((comb or {}).get("params") or {}).get("sources", {}).items():
        low = f"{name} {spec}".lower()
        if "loveda" in low:
            rows.append((f"combine source `{name}`", LICENCES["loveda"]))
        elif not any(k in low for k in ("oem", "openearthmap")) and not by_kind.get("synth"):
            rows.append((f"combine source `{name}`", "unknown — check the dataset's licence"))
    if not rows:
        rows.append(("Training data", f"{NOT_RECORDED} — check the dataset's licence"))
    return "## Data licences\n\n" + "".join(f"- {a}: {b}.\n" for a, b in rows)


def _inference(train: dict[str, Any] | None) -> str:
    ckpt = ((train or {}).get("outputs") or {}).get("best_checkpoint", "CHECKPOINT")
    return f"""## How to run inference

Maps for a folder of tiles or a georeferenced raster of any size (seamless overlapping windows, a
GeoTIFF with the input's CRS and transform, per-class areas in hectares):

```bash
landseg predict --model {ckpt} --input ortho.tif --out maps/
landseg predict --model {ckpt} --input tiles/ --out maps/ --pixel-size 0.3
```

To deploy without landseg, export the model:

```bash
landseg export --model {ckpt} --format onnx --out model.onnx
landseg export --model {ckpt} --format torchscript --out model.pt
```

The export is checked against PyTorch (max |Δlogit| ≤ 1e-3) and carries the class table, the
normalisation and the tile size. With onnxruntime alone (no torch):

```python
import json
import numpy as np
import onnxruntime as ort
from PIL import Image

sess = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
meta = json.loads(sess.get_modelmeta().custom_metadata_map["landseg.json"])
norm = meta["normalization"]
rgb = np.asarray(Image.open("tile.png").convert("RGB"), dtype=np.float32) / 255  # a tile_size x tile_size tile
x = ((rgb - np.array(norm["mean"], np.float32)) / np.array(norm["std"], np.float32)).transpose(2, 0, 1)[None]
classes = sess.run(None, {{"image": x.astype(np.float32)}})[0].argmax(1)[0]  # class index per pixel
```
"""
