"""Pipeline files: stages, their parameters and the references that order them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from landseg.errors import ConfigError

_REF = re.compile(r"\{stages\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\}")
_VAR = re.compile(r"\{(run_dir|name)\}")


@dataclass
class StageSpec:
    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    #: Config files whose *content* is part of the stage key (train stages: the config and its bases).
    needs: list[str] = field(default_factory=list)

    def references(self) -> set[str]:
        return {m.group(1) for m in _REF.finditer(repr(self.params))}


@dataclass
class PipelineSpec:
    name: str
    run_dir: Path
    stages: list[StageSpec]
    source: Path

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise ConfigError(f"No stage {name!r} in {self.source}. Stages: {', '.join(s.name for s in self.stages)}.")

    def downstream(self, name: str) -> list[str]:
        """``name`` and every stage that depends on it, directly or not, in pipeline order."""
        out = {name}
        for s in self.stages:
            if s.references() & out:
                out.add(s.name)
        return [s.name for s in self.stages if s.name in out]


def load_pipeline(path: str | Path) -> PipelineSpec:
    """Read and check a pipeline file: known stage kinds, unique names, references to earlier stages."""
    from landseg.pipeline.stages import STAGE_KINDS

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Pipeline file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or "stages" not in raw:
        raise ConfigError(f"{path} must be a mapping with 'name', 'run_dir' and a list of 'stages'.")
    unknown = sorted(set(raw) - {"name", "run_dir", "stages"})
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; valid: name, run_dir, stages.")
    name = str(raw.get("name") or path.stem)
    run_dir = Path(str(raw.get("run_dir") or f"runs/{name}"))
    stages: list[StageSpec] = []
    for i, item in enumerate(raw["stages"] or []):
        if not isinstance(item, dict) or "name" not in item or "kind" not in item:
            raise ConfigError(f"{path}: stage #{i + 1} needs 'name' and 'kind'.")
        bad = sorted(set(item) - {"name", "kind", "params", "needs"})
        if bad:
            raise ConfigError(f"{path}: stage {item['name']!r} has unknown key(s) {', '.join(bad)}; "
                              "valid: name, kind, params, needs.")
        if item["kind"] not in STAGE_KINDS:
            raise ConfigError(f"{path}: stage {item['name']!r} has kind {item['kind']!r}; "
                              f"valid kinds: {', '.join(sorted(STAGE_KINDS))}.")
        spec = StageSpec(str(item["name"]), str(item["kind"]), dict(item.get("params") or {}),
                         [str(n) for n in item.get("needs") or []])
        if any(s.name == spec.name for s in stages):
            raise ConfigError(f"{path}: stage name {spec.name!r} is used twice.")
        earlier = {s.name for s in stages}
        missing = spec.references() - earlier
        if missing:
            raise ConfigError(f"{path}: stage {spec.name!r} refers to {', '.join(sorted(missing))}, which "
                              "is not an earlier stage.")
        stages.append(spec)
    return PipelineSpec(name, run_dir, stages, path)


def resolve(value: Any, run_dir: Path, name: str, outputs: dict[str, dict[str, Any]]) -> Any:
    """Substitute ``{run_dir}``, ``{name}`` and ``{stages.X.Y}`` in strings, recursively."""
    if isinstance(value, dict):
        return {k: resolve(v, run_dir, name, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, run_dir, name, outputs) for v in value]
    if not isinstance(value, str):
        return value

    def ref(m: re.Match) -> str:
        stage, key = m.group(1), m.group(2)
        if key not in outputs.get(stage, {}):
            raise ConfigError(f"Stage {stage!r} has no output {key!r} (outputs: {', '.join(outputs.get(stage, {}))}).")
        return str(outputs[stage][key])

    value = _VAR.sub(lambda m: str(run_dir) if m.group(1) == "run_dir" else name, value)
    return _REF.sub(ref, value)
