"""Run a pipeline's stages in order, skipping those whose key is unchanged, recording provenance.

Written by hand rather than on DVC or Snakemake: those bring their own cache, DSL or git coupling,
while a landseg stage is one Python call whose key is the hash of its resolved parameters, the
content of the config files it reads and the keys of the stages it depends on — a few dozen lines.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landseg import __version__
from landseg.errors import LandsegError
from landseg.pipeline.context import NeedsPerson, StageContext, StageOutput
from landseg.pipeline.spec import PipelineSpec, StageSpec, load_pipeline, resolve
from landseg.report.records import read_record
from landseg.utils import jsonable, sha256_file, write_json


@dataclass
class PipelineResult:
    ran: list[str]
    skipped: list[str]
    waiting: str | None
    run_dir: Path
    message: str = ""
    #: (stage, path, what it is) for inputs a dry run found missing.
    missing: list[tuple[str, str, str]] = field(default_factory=list)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _input_hashes(params: Any) -> dict[str, str]:
    """Content hashes of every existing file named in the parameters (checkpoints, configs, CSVs)."""
    found: dict[str, str] = {}

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str) and len(v) < 4096:
            p = Path(v)
            if p.is_file():
                found[v] = sha256_file(p)

    walk(params)
    return found


def stage_key(stage: StageSpec, params: dict[str, Any], upstream_keys: dict[str, str]) -> tuple[str, dict[str, str]]:
    from landseg.pipeline.stages import STAGE_KINDS

    kind = STAGE_KINDS[stage.kind]
    files = [Path(f) for f in stage.needs] + kind.files(params)
    hashes = {str(f): sha256_file(f) for f in files if f.is_file()}
    content = {"kind": stage.kind, "params": jsonable(params), "files": hashes, "upstream": upstream_keys}
    state = kind.state(params)
    if state is not None:
        content["state"] = state  # a user's folder: its files' names, sizes and times
    blob = json.dumps(content, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16], hashes


def missing_inputs(spec: PipelineSpec, stages: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(stage, path, what) for every input a stage needs that is not there and no earlier stage makes.

    Paths that come from earlier stages' outputs are left to those stages; everything else (a
    user's dataset folder, a config, a class mapping) must exist before the pipeline starts.
    """
    from landseg.pipeline.stages import STAGE_KINDS

    outputs: dict[str, dict[str, Any]] = {}
    missing = []
    for stage in spec.stages:
        outputs[stage.name] = _placeholder_outputs(stage.kind)
        if stages is not None and stage.name not in stages:
            continue
        params = resolve(stage.params, spec.run_dir, spec.name, outputs)
        for path, what in STAGE_KINDS[stage.kind].inputs(params):
            if "<" not in path and not Path(path).exists():
                missing.append((stage.name, path, what))
    return missing


def _lineage(uses: list[Any]) -> list[dict[str, Any]]:
    from landseg.pipeline.lineage import fingerprint

    return [fingerprint(u) for u in uses]


def run_pipeline(path: str | Path, *, profiles: list[str | Path] | tuple = (), from_stage: str | None = None,
                 only: str | None = None, dry_run: bool = False, progress: bool = True, log=print) -> PipelineResult:
    """Run (or with ``dry_run`` explain) every stage that is out of date.

    ``profiles`` are laid over the pipeline file in order (see :func:`~landseg.pipeline.spec.apply_profile`).
    Parameters and references are checked, and missing inputs reported, before any stage runs; a
    dry run changes nothing on disk.
    """
    from landseg.errors import DatasetError
    from landseg.pipeline.stages import STAGE_KINDS

    spec = load_pipeline(path, profiles)
    forced = set(spec.downstream(from_stage)) if from_stage else set()
    if only:
        spec.stage(only)
        forced.add(only)  # asking for one stage by name means: run it
    outputs: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}
    ran, skipped = [], []
    missing = missing_inputs(spec, [only] if only else None)
    if missing and not dry_run:
        raise DatasetError(f"{spec.source}: inputs missing, nothing was run:\n"
                           + "\n".join(f"  {p}  — {what}, needed by stage {s!r}" for s, p, what in missing)
                           + "\nCreate them (or fix the paths in the pipeline file), then run again; "
                             "`--dry-run` lists them without running anything.")
    for stage in spec.stages:
        record = read_record(spec.run_dir, stage.name)
        not_run = stage.references() - set(outputs)
        if not_run:
            raise LandsegError(f"Stage {stage.name!r} needs {', '.join(sorted(not_run))}, which has not run yet: "
                               "run the pipeline without --only first.")
        params = resolve(stage.params, spec.run_dir, spec.name, outputs)
        key, file_hashes = stage_key(stage, params, {s: keys[s] for s in sorted(stage.references())})
        keys[stage.name] = key
        up_to_date = (record is not None and record.get("status") == "complete" and record.get("key") == key
                      and stage.name not in forced)
        if only is not None and only != stage.name:
            if record is None or record.get("status") != "complete":
                raise LandsegError(f"--only {only}: earlier stage {stage.name!r} has no complete record; "
                                   "run the pipeline without --only first.")
            outputs[stage.name] = record["outputs"]
            skipped.append(stage.name)
            continue
        if up_to_date:
            assert record is not None
            outputs[stage.name] = record["outputs"]
            skipped.append(stage.name)
            log(f"[skip] {stage.name} (unchanged, key {key})")
            continue
        why = ("asked for" if stage.name in forced else "never ran" if record is None
               else f"was {record.get('status')}" if record.get("status") != "complete" else "inputs or config changed")
        if dry_run:
            gaps = [p for s, p, _ in missing if s == stage.name]
            log(f"[would run] {stage.name} ({stage.kind}): {why}" + (f" — MISSING {', '.join(gaps)}" if gaps else ""))
            outputs[stage.name] = (record or {}).get("outputs") or _placeholder_outputs(stage.kind)
            ran.append(stage.name)
            if only == stage.name:
                break
            continue
        log(f"[run] {stage.name} ({stage.kind}): {why}")
        stage_dir = spec.run_dir / stage.name
        stage_dir.mkdir(parents=True, exist_ok=True)
        started = time.time()
        kind = STAGE_KINDS[stage.kind]
        base_record = {"stage": stage.name, "kind": stage.kind, "key": key, "pipeline": str(spec.source),
                       "profiles": [str(p) for p in spec.profiles], "pipeline_name": spec.name,
                       "pipeline_stages": [[s.name, s.kind] for s in spec.stages],
                       "params": params, "config_files": file_hashes, "inputs": _input_hashes(params),
                       "upstream": {s: keys[s] for s in sorted(stage.references())}, "landseg_version": __version__,
                       "git_commit": _git_commit(), "host": platform.node(),
                       "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))}
        write_json(stage_dir / "stage.json", {**base_record, "status": "running"})
        ctx = StageContext(spec, stage, stage_dir, record, key, progress)
        try:
            read = _lineage(kind.reads(params))  # before the run: what the stage read, not what it left
            result: StageOutput = kind.run(params, ctx)
            data = {"read": read, "wrote": _lineage(kind.writes(params, result.outputs))}
        except NeedsPerson as exc:
            write_json(stage_dir / "stage.json", {**base_record, "status": "waiting", "message": str(exc)})
            log(f"[waiting] {stage.name}: {exc}")
            return PipelineResult(ran, skipped, stage.name, spec.run_dir, str(exc))
        except BaseException as exc:
            write_json(stage_dir / "stage.json", {**base_record, "status": "failed",
                                                  "error": f"{type(exc).__name__}: {exc}"})
            raise
        ended = time.time()
        write_json(stage_dir / "stage.json", {
            **base_record, "status": "complete", "outputs": result.outputs, "metrics": result.metrics, "data": data,
            "ended": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ended)), "duration_s": round(ended - started, 2)})
        outputs[stage.name] = result.outputs
        ran.append(stage.name)
        log(f"[done] {stage.name} in {ended - started:.1f} s")
        if only == stage.name:
            break
    return PipelineResult(ran, skipped, None, spec.run_dir, missing=missing)


def _placeholder_outputs(kind: str) -> dict[str, Any]:
    from landseg.pipeline.stages import STAGE_KINDS

    return {k: f"<{k} of a {kind} stage>" for k in STAGE_KINDS[kind].outputs}
