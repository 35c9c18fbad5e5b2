"""Dataset sizes from the records of the stages that made the data (never by counting by hand).

A train stage's training set is identified by the ``data.root`` and ``data.train_split`` it ran
with (its ``run/config.json``, else its ``data.root`` override) and matched, in this order, to:

1. a ``filter`` stage that filtered ``root/split`` → its ``remaining`` tiles;
2. a ``combine`` stage whose output is ``root`` → its ``total``;
3. a ``synth`` stage whose output is ``root`` → its ``counts`` of the split's top folder (e.g. Train);
4. a ``hard_samples`` stage that scored ``root`` on the same split → its ``tiles``.

With hard-sample weights (``sampling.weights`` = a hard_samples stage's ``weights``) an epoch holds
that stage's ``sum_of_weights`` samples (``epoch_size: sum_of_weights``, the seed's setting).
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Any

from landseg.report.records import RunRecords, same_path


@dataclass
class TrainingSet:
    tiles: int | None
    source: str                    # e.g. "combine after filter", "data (corrected by replace_masks)"
    per_epoch: float | None = None  # samples per epoch when hard-sample weights repeat tiles
    notes: list[str] = field(default_factory=list)

    def size_text(self) -> str:
        if self.tiles is None:
            return "n/a"
        text = f"{self.tiles:,}"
        if self.per_epoch is not None:
            text += f" ({epoch_samples(self.per_epoch):,} per epoch)"
        return text


def epoch_samples(sum_of_weights: float) -> int:
    """Samples an epoch with ``epoch_size: sum_of_weights`` shows (as hard_samples reports it)."""
    return math.floor(sum_of_weights + 0.5)


def _data_settings(rr: RunRecords, stage: str) -> tuple[str | None, str, dict[str, Any]]:
    config = rr.train_config(stage)
    data = config.get("data") or {}
    overrides = ((rr.records.get(stage) or {}).get("params") or {}).get("overrides") or {}
    root = data.get("root") or overrides.get("data.root")
    split = data.get("train_split") or overrides.get("data.train_split") or "Train"
    sampling = config.get("sampling") or {}
    if not sampling and overrides.get("sampling.weights"):
        sampling = {"weights": overrides["sampling.weights"], "epoch_size": "sum_of_weights"}
    return root, str(split), sampling


def training_set(rr: RunRecords, stage: str) -> TrainingSet:
    """The training tiles of a train stage, from the records of the stages that produced its data."""
    root, split, sampling = _data_settings(rr, stage)
    if root is None:
        return TrainingSet(None, "unknown (no data.root recorded)")
    ts = _tiles(rr, root, split, stage)
    weights = sampling.get("weights")
    hs = rr.stage_with_output(weights, "weights") if weights else None
    if hs is not None:
        m = rr.metrics(hs)
        size = sampling.get("epoch_size", "sum_of_weights")
        if size == "sum_of_weights":
            ts.per_epoch = m.get("sum_of_weights")
        elif isinstance(size, int | float):
            ts.per_epoch = float(size)
        ts.notes.append(f"hard-sample weights from `{hs}` ({sampling.get('mode', 'weighted')} sampling)")
    return ts


def _tiles(rr: RunRecords, root: str, split: str, stage: str) -> TrainingSet:
    top = split.split("/")[0]
    rank = {s: i for i, s in enumerate(rr.order)}
    for s in rr.of_kind("filter"):
        p = (rr.complete(s) or {}).get("params") or {}
        if same_path(p.get("dataset"), os.path.join(root, split)) and "remaining" in rr.metrics(s):
            made_by = rr.stage_with_output(p.get("dataset"), "train")
            name = f"`{made_by}` {split}" if made_by else str(p.get("dataset"))
            return TrainingSet(int(rr.metrics(s)["remaining"]), f"{name} after `{s}`")
    for s in rr.of_kind("combine"):
        if same_path(rr.outputs(s).get("out"), root) and "total" in rr.metrics(s):
            return TrainingSet(int(rr.metrics(s)["total"]), f"`{s}` {split}")
    # replace_masks writes corrected masks to its data_root (in place or a copy of its input): only
    # stages after it in the pipeline train on them, and the tiles are those of its input dataset
    origin, corrected = root, None
    for s in rr.of_kind("replace_masks"):
        if same_path(rr.outputs(s).get("data_root"), root) and rank.get(s, 0) < rank.get(stage, 0):
            origin, corrected = ((rr.complete(s) or {}).get("params") or {}).get("data_root") or root, s
    for s in rr.of_kind("synth"):
        counts = rr.metrics(s).get("counts") or {}
        if (same_path(rr.outputs(s).get("out"), root) or same_path(rr.outputs(s).get("out"), origin)) and top in counts:
            after = f" after `{corrected}`" if corrected else ""
            return TrainingSet(int(counts[top]), f"`{s}` {split}{after}")
    for s in rr.of_kind("hard_samples"):
        p = (rr.complete(s) or {}).get("params") or {}
        if same_path(p.get("data"), root) and str(p.get("split", "Train")) == split:
            return TrainingSet(int(rr.metrics(s)["tiles"]), f"{root} {split} (as scored by `{s}`)")
    return TrainingSet(None, f"{root} {split} (no record of its size)")


@dataclass
class StatsRow:
    step: str
    images: int | None
    corrected: int | None = None
    oem: int | None = None
    removed: int | None = None
    per_epoch: float | None = None
    notes: str = ""
    ran: bool = True


def _oem_source(rr: RunRecords, combine: str) -> tuple[str | None, int | None]:
    """The combine source that is the OEM import, and how many tiles combine took from it."""
    params = (rr.complete(combine) or {}).get("params") or {}
    added = rr.metrics(combine).get("added") or {}
    for name, spec in (params.get("sources") or {}).items():
        root = str(spec).split(":")[0]
        if rr.stage_with_output(root, "out") in rr.of_kind("import_oem") or "oem" in name.lower():
            return name, added.get(name)
    return None, None


def _removed_from_source(rr: RunRecords, filt: str, combine: str, source: str) -> int | None:
    """How many tiles the filter moved out came from ``source``: the masks in the filter's backup
    folder, looked up in the combined manifest's ``source`` column. None unless the backup holds
    exactly the ``removed`` count the record gives (e.g. after an undo)."""
    backup = rr.path(rr.outputs(filt).get("backup"))
    manifest = rr.path(rr.outputs(combine).get("manifest"))
    if backup is None or manifest is None or not manifest.is_file():
        return None
    with manifest.open(newline="") as fh:
        sources = {row.get("file"): row.get("source") for row in csv.DictReader(fh)}
    moved = [p.name for p in (backup / "masks_png").glob("*.png")]
    if len(moved) != rr.metrics(filt).get("removed"):
        return None
    return sum(1 for n in moved if sources.get(n) == source)


def dataset_rows(rr: RunRecords) -> list[StatsRow]:
    """The seed's "Dataset Statistics Summary": original → corrected → combined → filtered → sampled."""
    rows: list[StatsRow] = []
    synth, _ = rr.last_complete("synth")
    counts = rr.metrics(synth).get("counts") or {}
    hs, hs_rec = rr.last_complete("hard_samples")
    train = counts.get("Train", rr.metrics(hs).get("tiles"))
    notes = ""
    if synth:
        notes = f"{synth}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        if "noisy_masks" in rr.metrics(synth):
            notes += f"; {rr.metrics(synth)['noisy_masks']:,} masks with label noise"
    rows.append(StatsRow("Original", train, per_epoch=train, notes=notes, ran=train is not None))

    rm, _ = rr.last_complete("replace_masks")
    m = rr.metrics(rm)
    if m:
        replaced = m.get("replaced") or {}
        total = sum(int(v) for v in replaced.values())
        pp, _ = rr.last_complete("predict_pair")
        where = ((rr.complete(pp) or {}).get("params") or {}).get("split")
        parts = ", ".join(f"{v:,} from {k}" for k, v in replaced.items())
        note = f"{rm}: {parts}; kept GT {m.get('kept_gt', 0):,}"
        if where:
            note += f"; corrections are in {where}"
        rows.append(StatsRow("After GT correction", train, corrected=total, per_epoch=train, notes=note))
    else:
        rows.append(StatsRow("After GT correction", None, ran=False))

    comb, _ = rr.last_complete("combine")
    imp, _ = rr.last_complete("import_oem")
    oem_tiles = rr.metrics(imp).get("tiles")
    name, oem_added = _oem_source(rr, comb) if comb else (None, None)
    if comb:
        total = rr.metrics(comb).get("total")
        added = rr.metrics(comb).get("added") or {}
        note = f"{comb}: " + " + ".join(f"{k} {v:,}" for k, v in added.items())
        if imp:
            note += f"; {imp} wrote {oem_tiles:,} tiles"
        rows.append(StatsRow("After combination", total, oem=oem_added if oem_added is not None else oem_tiles,
                             per_epoch=total, notes=note))
    else:
        rows.append(StatsRow("After combination", None, ran=False))

    filt, frec = rr.last_complete("filter")
    if filt:
        fm, fp = rr.metrics(filt), (frec or {}).get("params") or {}
        oem_left = None
        if comb and oem_added is not None and name is not None:
            removed_oem = _removed_from_source(rr, filt, comb, name)
            oem_left = None if removed_oem is None else oem_added - removed_oem
        frac, cls, den = fp.get("max_fraction"), fp.get("class", fp.get("class_name", "?")), fp.get("denominator")
        crit = (f"tiles with > {100 * float(frac):g}% {cls}" if frac is not None else f"{cls}-heavy tiles") + (
            f" (of {den} pixels)" if den else "") + " moved out"
        rows.append(StatsRow("After filtering", fm.get("remaining"), oem=oem_left, removed=fm.get("removed"),
                             per_epoch=fm.get("remaining"), notes=f"{filt}: {crit}"))
    else:
        rows.append(StatsRow("After filtering", None, ran=False))

    if hs:
        hm, hp = rr.metrics(hs), (hs_rec or {}).get("params") or {}
        data = rr.stage_of_path(hp.get("data")) or hp.get("data", "?")
        rows.append(StatsRow("Hard-sample weighting", hm.get("tiles"), per_epoch=hm.get("sum_of_weights"),
                             notes=f"{hs}: {hp.get('split', 'Train')} of {data}, policy {hp.get('policy', 'tiers')}; "
                                   f"sum of weights {hm.get('sum_of_weights', 0):.2f}"))
    else:
        rows.append(StatsRow("Hard-sample weighting", None, ran=False))
    return rows
