"""Pipeline files: stages, their parameters and the references that order them."""

from __future__ import annotations

import re
from collections.abc import Sequence
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
    #: Profiles laid over the pipeline file, in order (e.g. config/demo/profile.yaml).
    profiles: list[Path] = field(default_factory=list)

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


def _read_yaml(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a mapping with 'name', 'run_dir' and 'stages'.")
    return raw


def _merge(base: Any, over: Any) -> Any:
    """Dicts merge key by key (``null`` removes a key); anything else replaces."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    out = dict(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


def apply_profile(raw: dict[str, Any], profile: str | Path) -> dict[str, Any]:
    """A pipeline with a profile laid over it: the profile states only what differs.

    A profile holds ``name``/``run_dir`` (replace) and ``stages: {STAGE: {kind?, params}}``: with a
    ``kind`` the stage's kind and parameters are replaced (e.g. synthetic data instead of a user's
    folder); without one its parameters merge key by key (``null`` removes one). Stages cannot be
    added or removed, so every stage and reference of the pipeline runs under every profile.
    """
    path = Path(profile)
    prof = _read_yaml(path, "Profile file")
    unknown = sorted(set(prof) - {"name", "run_dir", "stages"})
    if unknown:
        raise ConfigError(f"profile {path}: unknown key(s) {', '.join(unknown)}; valid: name, run_dir, stages.")
    out = {**raw, **{k: prof[k] for k in ("name", "run_dir") if k in prof}}
    stages = [dict(s) if isinstance(s, dict) else s for s in raw.get("stages") or []]
    by_name = {s.get("name"): s for s in stages if isinstance(s, dict)}
    for name, change in (prof.get("stages") or {}).items():
        if name not in by_name:
            raise ConfigError(f"profile {path}: no stage {name!r} in the pipeline; its stages: "
                              f"{', '.join(str(n) for n in by_name)}.")
        if not isinstance(change, dict) or set(change) - {"kind", "params"}:
            raise ConfigError(f"profile {path}: stage {name!r} must be a mapping of 'kind' and/or 'params'.")
        stage = by_name[name]
        if "kind" in change:
            stage["kind"], stage["params"] = change["kind"], dict(change.get("params") or {})
        else:
            stage["params"] = _merge(stage.get("params") or {}, change.get("params") or {})
    out["stages"] = stages
    return out


def merged_raw(path: str | Path, profiles: Sequence[str | Path] = ()) -> dict[str, Any]:
    """The pipeline file as data, with each profile applied in order (not yet validated)."""
    raw = _read_yaml(Path(path), "Pipeline file")
    for prof in profiles:
        raw = apply_profile(raw, prof)
    return raw


def _check_references(where: str, stages: list[StageSpec]) -> None:
    """Every ``{stages.X.Y}`` names a known, earlier stage; a cycle or forward reference is named."""
    names = [s.name for s in stages]
    refs = {s.name: s.references() for s in stages}
    for name, targets in refs.items():
        unknown = sorted(targets - set(names))
        if unknown:
            raise ConfigError(f"{where}: stage {name!r} refers to {', '.join(unknown)}, which is no stage of this "
                              f"pipeline (stages: {', '.join(names)}).")

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(refs[node]):
                if nxt == start:
                    return [*path, start]
                if nxt not in path:
                    stack.append((nxt, [*path, nxt]))
        return None

    for name in names:
        loop = cycle_from(name)
        if loop:
            raise ConfigError(f"{where}: stages form a cycle: {' -> '.join(loop)} (stage {name!r} needs its own "
                              "output, indirectly). Break the loop: a stage may use only earlier stages' outputs.")
    position = {n: i for i, n in enumerate(names)}
    for name, targets in refs.items():
        later = sorted(t for t in targets if position[t] > position[name])
        if later:
            raise ConfigError(f"{where}: stage {name!r} refers to {', '.join(later)}, a later stage: stages run in "
                              f"file order, so move {name!r} below {later[-1]!r}.")


def load_pipeline(path: str | Path, profiles: Sequence[str | Path] = ()) -> PipelineSpec:
    """Read and check a pipeline file (with profiles laid over it) before any stage runs.

    Checked: known stage kinds, unique names, references to earlier stages only (no cycles), and
    each stage's parameters against what its kind accepts (unknown, missing and wrongly typed
    ones, with the closest valid name). Every problem is one :class:`ConfigError` paragraph.
    """
    import difflib

    from landseg.pipeline.params import check_params, with_defaults
    from landseg.pipeline.stages import STAGE_KINDS

    path = Path(path)
    raw = merged_raw(path, profiles)
    where = str(path) + "".join(f" (profile {p})" for p in profiles)
    if "stages" not in raw:
        raise ConfigError(f"{where} must be a mapping with 'name', 'run_dir' and a list of 'stages'.")
    unknown = sorted(set(raw) - {"name", "run_dir", "stages"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: name, run_dir, stages.")
    name = str(raw.get("name") or path.stem)
    run_dir = Path(str(raw.get("run_dir") or f"runs/{name}"))
    items = raw["stages"] or []
    if not isinstance(items, list):
        raise ConfigError(f"{where}: 'stages' must be a list of stages.")
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "name" not in item or "kind" not in item:
            raise ConfigError(f"{where}: stage #{i + 1} needs 'name' and 'kind'.")
        bad = sorted(set(item) - {"name", "kind", "params", "needs"})
        if bad:
            raise ConfigError(f"{where}: stage {item['name']!r} has unknown key(s) {', '.join(bad)}; "
                              "valid: name, kind, params, needs.")
        if item["kind"] not in STAGE_KINDS:
            close = difflib.get_close_matches(str(item["kind"]), list(STAGE_KINDS), n=1, cutoff=0.6)
            raise ConfigError(f"{where}: stage {item['name']!r} has unknown kind {item['kind']!r}"
                              + (f" (did you mean {close[0]!r}?)" if close else "")
                              + f"; valid kinds: {', '.join(sorted(STAGE_KINDS))}.")
        if str(item["name"]) in seen:
            raise ConfigError(f"{where}: stage name {item['name']!r} is used twice.")
        seen.add(str(item["name"]))
        if not isinstance(item.get("params") or {}, dict):
            raise ConfigError(f"{where}: stage {item['name']!r}: 'params' must be a mapping.")
        check_params(where, str(item["name"]), item["kind"], item.get("params") or {}, STAGE_KINDS[item["kind"]].params)
    stages = [StageSpec(str(item["name"]), str(item["kind"]),
                        with_defaults(dict(item.get("params") or {}), STAGE_KINDS[item["kind"]].params),
                        [str(n) for n in item.get("needs") or []]) for item in items]
    _check_references(where, stages)
    return PipelineSpec(name, run_dir, stages, path, [Path(p) for p in profiles])


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
