"""Stage parameters: what each stage kind accepts, checked when the pipeline file is loaded.

Why by hand rather than pydantic/jsonschema: the checks are a dozen lines, the messages must name
the pipeline file, the stage and the valid parameters in one paragraph (with the closest valid name
for a typo), and a value may be a ``{stages.X.Y}`` reference that is only a string until it resolves.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from landseg.errors import ConfigError

__all__ = ["Param", "check_params", "opt", "req", "with_defaults"]

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false", dict: "a mapping",
               list: "a list"}


@dataclass(frozen=True)
class Param:
    """One stage parameter: its accepted types, whether it is required, its default and what it means."""

    types: tuple[type, ...]
    required: bool = False
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] | None = None

    def accepts(self, value: Any) -> bool:
        if value is None:
            return not self.required
        if isinstance(value, str) and "{" in value and str in self.types:
            return True  # a reference or {run_dir}: checked when it resolves
        if isinstance(value, bool):
            return bool in self.types
        if isinstance(value, int) and float in self.types:
            return True
        if isinstance(value, str) and "{stages." in value:
            return False  # a reference can only stand for a string or a path
        if list in self.types and isinstance(value, tuple):
            return True
        if self.choices is not None and value not in self.choices:
            return False
        return isinstance(value, self.types)

    def describe(self) -> str:
        kinds = (" | ".join(map(str, self.choices)) if self.choices is not None
                 else " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in self.types))
        tail = " (required)" if self.required else (f" (default {self.default!r})" if self.default is not None else "")
        return f"{kinds}{tail}"


def req(*types: type, help: str = "") -> Param:
    return Param(types, required=True, help=help)


def opt(*types: type, default: Any = None, help: str = "", choices: tuple[Any, ...] | None = None) -> Param:
    return Param(types, default=default, help=help, choices=choices)


def check_params(where: str, stage: str, kind: str, params: dict[str, Any], schema: dict[str, Param]) -> None:
    """Raise one clear ConfigError for unknown, missing or wrongly typed parameters."""
    valid = ", ".join(f"{k} ({p.describe()})" for k, p in schema.items()) or "none"
    problems = []
    for key in params:
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1, cutoff=0.6)
            problems.append(f"unknown parameter {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    for key, p in schema.items():
        if p.required and params.get(key) is None:
            problems.append(f"missing required parameter {key!r} ({p.help or p.describe()})")
        elif key in params and not p.accepts(params[key]):
            problems.append(f"parameter {key!r} must be {p.describe()}, got {params[key]!r}")
    if problems:
        raise ConfigError(f"{where}: stage {stage!r} (kind {kind}): {'; '.join(problems)}. "
                          f"Valid parameters of a {kind} stage: {valid}.")


def with_defaults(params: dict[str, Any], schema: dict[str, Param]) -> dict[str, Any]:
    """The parameters a stage runs with: its defaults, then what the pipeline file gave."""
    return {**{k: p.default for k, p in schema.items() if p.default is not None}, **params}
