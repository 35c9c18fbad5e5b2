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
from landseg.pipeline.spec import PipelineSpec, StageSpec, load_pipeline, resolve
from landseg.utils import jsonable, write_json


class NeedsPerson(LandsegError):
    """A stage waits for a person (e.g. review without --auto); the message says what to do."""


@dataclass
class StageContext:
    spec: PipelineSpec
    stage: StageSpec
    dir: Path
    previous: dict[str, Any] | None
    key: str
    progress: bool = True


@dataclass
class StageOutput:
    outputs: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    ran: list[str]
    skipped: list[str]
    waiting: str | None
    run_dir: Path
    message: str = ""


def _sha_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def read_record(run_dir: Path, stage: str) -> dict[str, Any] | None:
    path = run_dir / stage / "stage.json"
    return json.loads(path.read_text()) if path.is_file() else None


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
                found[v] = _sha_file(p)

    walk(params)
    return found


def stage_key(stage: StageSpec, params: dict[str, Any], upstream_keys: dict[str, str]) -> tuple[str, dict[str, str]]:
    from landseg.pipeline.stages import STAGE_KINDS

    files = [Path(f) for f in stage.needs] + STAGE_KINDS[stage.kind].files(params)
    hashes = {str(f): _sha_file(f) for f in files if f.is_file()}
    blob = json.dumps({"kind": stage.kind, "params": jsonable(params), "files": hashes, "upstream": upstream_keys},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16], hashes


def run_pipeline(path: str | Path, *, from_stage: str | None = None, only: str | None = None,
                 dry_run: bool = False, progress: bool = True, log=print) -> PipelineResult:
    """Run (or with ``dry_run`` explain) every stage that is out of date."""
    from landseg.pipeline.stages import STAGE_KINDS

    spec = load_pipeline(path)
    forced = set(spec.downstream(from_stage)) if from_stage else set()
    if only:
        spec.stage(only)
        forced.add(only)  # asking for one stage by name means: run it
    outputs: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}
    ran, skipped = [], []
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    for stage in spec.stages:
        record = read_record(spec.run_dir, stage.name)
        missing = stage.references() - set(outputs)
        if missing:
            raise LandsegError(f"Stage {stage.name!r} needs {', '.join(sorted(missing))}, which has not run yet: "
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
            log(f"[would run] {stage.name} ({stage.kind}): {why}")
            outputs[stage.name] = (record or {}).get("outputs") or _placeholder_outputs(stage.kind)
            ran.append(stage.name)
            if only == stage.name:
                break
            continue
        log(f"[run] {stage.name} ({stage.kind}): {why}")
        stage_dir = spec.run_dir / stage.name
        stage_dir.mkdir(parents=True, exist_ok=True)
        started = time.time()
        base_record = {"stage": stage.name, "kind": stage.kind, "key": key, "pipeline": str(spec.source),
                       "params": params, "config_files": file_hashes, "inputs": _input_hashes(params),
                       "upstream": {s: keys[s] for s in sorted(stage.references())}, "landseg_version": __version__,
                       "git_commit": _git_commit(), "host": platform.node(),
                       "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))}
        write_json(stage_dir / "stage.json", {**base_record, "status": "running"})
        ctx = StageContext(spec, stage, stage_dir, record, key, progress)
        try:
            result: StageOutput = STAGE_KINDS[stage.kind].run(params, ctx)
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
            **base_record, "status": "complete", "outputs": result.outputs, "metrics": result.metrics,
            "ended": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ended)), "duration_s": round(ended - started, 2)})
        outputs[stage.name] = result.outputs
        ran.append(stage.name)
        log(f"[done] {stage.name} in {ended - started:.1f} s")
        if only == stage.name:
            break
    return PipelineResult(ran, skipped, None, spec.run_dir)


def _placeholder_outputs(kind: str) -> dict[str, Any]:
    from landseg.pipeline.stages import STAGE_KINDS

    return {k: f"<{k} of a {kind} stage>" for k in STAGE_KINDS[kind].outputs}
