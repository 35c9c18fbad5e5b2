"""The stage records of a run directory, read once, with the paths they name resolved.

This module is the one reader of stage records (the pipeline runner, ablations, the report and
the model card all read through it). Everything the report says comes from here: ``<run_dir>/<stage>/stage.json`` (written by
:mod:`landseg.pipeline.runner`) and the files those records point to. A stage whose record is
missing or not ``complete`` is simply absent from :meth:`RunRecords.complete`, so every section
can say "not run" instead of failing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landseg.classes import BIODIVERSITY, ClassTable
from landseg.errors import LandsegError

RECORD = "stage.json"


def read_record(run_dir: str | Path, stage: str) -> dict[str, Any] | None:
    """One stage's record (``<run_dir>/<stage>/stage.json``), or None when it has none."""
    path = Path(run_dir) / stage / RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def read_records(run_dir: str | Path, *, strict: bool = False) -> dict[str, dict[str, Any]]:
    """Stage name -> record for every ``<run_dir>/<stage>/stage.json``.

    An unreadable record raises with ``strict`` (a model card must not guess), else it becomes
    ``{"status": "unreadable", "error": ...}`` so a report can say so and go on.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LandsegError(f"Run directory {run_dir} does not exist: give the run_dir of a pipeline "
                           "(e.g. runs/demo) after `landseg pipeline run`.")
    records: dict[str, dict[str, Any]] = {}
    for path in sorted(run_dir.glob(f"*/{RECORD}")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            if strict:
                raise LandsegError(f"{path} is not valid JSON ({exc}); re-run that stage or remove the file.") from exc
            rec = {"status": "unreadable", "error": f"{path}: {exc}"}
        records[str(rec.get("stage") or path.parent.name)] = rec
    if not records:
        raise LandsegError(f"No stage records (<stage>/stage.json) in {run_dir}: run "
                           "`landseg pipeline run PIPELINE.yaml` first, or pass the pipeline's run_dir.")
    return records


def same_path(a: Any, b: Any) -> bool:
    """Two recorded paths name the same place.

    Records hold paths as the pipeline resolved them: some relative to where it ran, some
    absolute (e.g. ``runs/demo/data`` and ``/work/x/runs/demo/data``), so a relative path also
    matches an absolute one that ends with it, wherever the report is written from.
    """
    if not a or not b:
        return False
    x, y = os.path.normpath(str(a)), os.path.normpath(str(b))
    if x == y:
        return True
    if os.path.isabs(x) == os.path.isabs(y):
        return False
    rel, full = (y, x) if os.path.isabs(x) else (x, y)
    return full.endswith(os.sep + rel)


@dataclass
class Model:
    """One evaluated model: its name in the evaluate record and the train stage that made it."""

    name: str
    stage: str | None
    results: dict[str, dict[str, Any]] | None  # split -> evaluate entry; None when evaluate did not run


@dataclass
class RunRecords:
    run_dir: Path
    records: dict[str, dict[str, Any]]  # stage -> record, any status
    order: list[str]                    # pipeline order; stages without a record included
    kinds: dict[str, str]
    pipeline_name: str
    pipeline_file: Path | None

    @classmethod
    def load(cls, run_dir: str | Path) -> RunRecords:
        run_dir = Path(run_dir)
        records = read_records(run_dir)
        rr = cls(run_dir, records, [], {s: str(r.get("kind", "?")) for s, r in records.items()}, run_dir.name, None)
        rr._read_pipeline()
        return rr

    def _read_pipeline(self) -> None:
        """Stage order and kinds as the latest record saw the pipeline (profiles applied); else by start time.

        The runner writes the pipeline's stages into every record, so the report needs neither the
        pipeline file (which may have changed since) nor the pipeline package.
        """
        latest = max((r for r in self.records.values() if r.get("pipeline_stages")),
                     key=lambda r: str(r.get("started") or ""), default=None)
        order: list[str] = []
        if latest is not None:
            order = [str(name) for name, _ in latest["pipeline_stages"]]
            for name, kind in latest["pipeline_stages"]:
                self.kinds.setdefault(str(name), str(kind))
            self.pipeline_file = self.path(latest.get("pipeline")) or (Path(latest["pipeline"])
                                                                       if latest.get("pipeline") else None)
            self.pipeline_name = str(latest.get("pipeline_name") or self.pipeline_name)
        rest = sorted((s for s in self.records if s not in order), key=lambda s: self.records[s].get("started") or "")
        self.order = order + rest

    # --- access ---------------------------------------------------------------------------------

    def status(self, stage: str) -> str:
        rec = self.records.get(stage)
        return "not run" if rec is None else str(rec.get("status", "unknown"))

    def complete(self, stage: str | None) -> dict[str, Any] | None:
        rec = self.records.get(stage) if stage else None
        return rec if rec is not None and rec.get("status") == "complete" else None

    def of_kind(self, kind: str) -> list[str]:
        return [s for s in self.order if self.kinds.get(s) == kind]

    def last_complete(self, kind: str) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        done = [(s, self.records[s]) for s in self.of_kind(kind) if self.complete(s)]
        return done[-1] if done else (None, None)

    def metrics(self, stage: str | None) -> dict[str, Any]:
        return (self.complete(stage) or {}).get("metrics") or {}

    def outputs(self, stage: str | None) -> dict[str, Any]:
        return (self.complete(stage) or {}).get("outputs") or {}

    def stage_with_output(self, value: Any, *keys: str) -> str | None:
        """The complete stage that wrote ``value`` as one of its outputs ``keys``."""
        for s in self.order:
            out = self.outputs(s)
            if any(same_path(out.get(k), value) for k in keys):
                return s
        return None

    def stage_of_path(self, value: Any) -> str | None:
        """The stage that wrote ``value``, by its outputs or else by its folder (``<run_dir>/<stage>/…``).

        The folder fallback names the teacher of a KD stage even while that teacher is re-running.
        """
        found = self.stage_with_output(value, "best_checkpoint", "last_checkpoint", "weights", "out", "data_root")
        if found or not value:
            return found
        parts = Path(str(value)).parts
        return next((parts[i + 1] for i in range(len(parts) - 2)
                     if parts[i] == self.run_dir.name and parts[i + 1] in self.kinds), None)

    def path(self, value: Any) -> Path | None:
        """A path from a record as an existing file or folder, or None.

        Records hold paths as the pipeline saw them (usually relative to where it ran). Tried in
        order: as given (from the current directory), then any tail of it below ``run_dir`` that
        starts with one of run_dir's folders, so a run directory that was moved still works.
        """
        if not value or not isinstance(value, str | Path):
            return None
        p = Path(value)
        if p.exists():
            return p
        if p.is_absolute():
            p = Path(*p.parts[1:])
        for i in range(len(p.parts)):
            if (self.run_dir / p.parts[i]).is_dir():
                cand = self.run_dir.joinpath(*p.parts[i:])
                if cand.exists():
                    return cand
        return None

    def read_json(self, value: Any) -> dict[str, Any] | None:
        p = self.path(value)
        if p is None or not p.is_file():
            return None
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def train_config(self, stage: str) -> dict[str, Any]:
        """The resolved experiment a train stage ran (``run/config.json``), or {} when absent."""
        run = self.outputs(stage).get("run_dir")
        return (self.read_json(str(Path(run) / "config.json")) if run else None) or {}

    # --- models and classes ---------------------------------------------------------------------

    def evaluation(self) -> tuple[str | None, dict[str, Any] | None]:
        return self.last_complete("evaluate")

    def models(self) -> list[Model]:
        """Models from the evaluate record (keys of ``metrics.results``), in pipeline order.

        Each is matched to the train stage whose ``best_checkpoint``/``last_checkpoint`` it was
        given (or the stage of the same name). Without a complete evaluate record the train stages
        stand in, with no results, so the tables show "not run".
        """
        stage, rec = self.evaluation()
        if rec is None:
            return [Model(s, s, None) for s in self.of_kind("train")]
        ckpts = (rec.get("params") or {}).get("models") or {}
        found = []
        for name, results in ((rec.get("metrics") or {}).get("results") or {}).items():
            train = self.stage_with_output(ckpts.get(name), "best_checkpoint", "last_checkpoint")
            if train is None and self.kinds.get(name) == "train":
                train = name
            found.append(Model(name, train, results))
        rank = {s: i for i, s in enumerate(self.order)}
        return sorted(found, key=lambda m: rank.get(m.stage or "", len(rank)))

    def class_table(self) -> ClassTable:
        """Class names and colours: from a train stage's config.json, else the evaluated names."""
        for s in self.of_kind("train"):
            config = self.train_config(s)
            if config.get("classes"):
                try:
                    return ClassTable.from_list(config["classes"], ignore_index=int(config.get("ignore_index", 255)))
                except (ValueError, TypeError):
                    pass
        names = next((e["scores"]["class_names"] for m in self.models() for e in (m.results or {}).values()
                      if "class_names" in (e.get("scores") or {})), None)
        if not names or names == BIODIVERSITY.names:
            return BIODIVERSITY
        from matplotlib import colormaps

        cmap = colormaps["tab10"]
        return ClassTable.from_list([(n, [int(255 * v) for v in cmap(i % 10)[:3]]) for i, n in enumerate(names)])
