"""Class mappings as data: which source label code becomes which target class (or ignore).

A mapping file is YAML (see ``config/mappings/*.yaml`` for the documented format). It is loaded
into a :class:`ClassMapping` whose 256-entry lookup table remaps a whole mask in one indexing
operation. Every source code must be mapped explicitly and a label holding a code the mapping does
not define is an error naming the file: a silent default would hide a wrong mapping until the
metrics look odd weeks later.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landseg.classes import BIODIVERSITY, ClassTable
from landseg.errors import ConfigError, DatasetError

#: Class tables a mapping file may name as its ``target``.
NAMED_TABLES: dict[str, ClassTable] = {"biodiversity": BIODIVERSITY}
IGNORE = "ignore"
_TOP_KEYS = ("name", "description", "source", "target", "mapping")
_SOURCE_KEYS = ("name", "codes")
_TARGET_KEYS = ("classes", "ignore_index")


@dataclass(frozen=True, eq=False)
class ClassMapping:
    """A loaded mapping: source code names, the target class table and the code -> index table.

    ``lut[code]`` is the target class index or ``target.ignore_index``; it is read-only. Codes
    not in ``source_codes`` also hold the ignore value in ``lut`` but :meth:`apply` refuses them.
    """

    name: str
    source_codes: dict[int, str]
    target: ClassTable
    lut: np.ndarray
    source_name: str = ""
    path: str = ""
    #: source code -> target class name, or None for ignore (the mapping as written, for reports).
    targets: dict[int, str | None] = field(default_factory=dict)

    def undefined_codes(self, labels: np.ndarray) -> dict[int, int]:
        """``{code: pixel count}`` for values in ``labels`` that the mapping does not define."""
        labels = np.asarray(labels)
        if labels.dtype != np.uint8:
            if not np.issubdtype(labels.dtype, np.integer):
                return {-1: int(labels.size)}
            values, counts = np.unique(labels, return_counts=True)
            return {int(v): int(c) for v, c in zip(values, counts, strict=True)
                    if int(v) not in self.source_codes}
        counts = np.bincount(labels.ravel(), minlength=256)
        return {int(c): int(counts[c]) for c in np.flatnonzero(counts) if int(c) not in self.source_codes}

    def apply(self, labels: np.ndarray, where: str) -> np.ndarray:
        """Remap raw source codes to target indices (uint8); ``where`` names the file for errors."""
        bad = self.undefined_codes(labels)
        if bad:
            if -1 in bad:
                raise DatasetError(f"label file {where} holds {np.asarray(labels).dtype} values; expected "
                                   "integer class codes. Re-export the labels as 8-bit integers.")
            found = ", ".join(f"{c} ({n} pixels)" for c, n in sorted(bad.items()))
            raise DatasetError(
                f"label file {where} holds code(s) {found} that mapping {self.name!r} ({self.path or 'inline'}) "
                f"does not define; it defines {self.describe_codes()}. Add the code(s) to the mapping's "
                "source.codes and mapping (as a class or `ignore`), or fix the labels."
            )
        return self.lut[np.asarray(labels).astype(np.uint8, copy=False)]

    def describe_codes(self) -> str:
        return ", ".join(f"{c} {n}" for c, n in sorted(self.source_codes.items()))

    def describe(self) -> str:
        """One line per source code: ``2 rangeland -> Grassland``."""
        return "\n".join(f"{c} {self.source_codes[c]} -> {self.targets.get(c) or IGNORE}"
                         for c in sorted(self.source_codes))

    def fingerprint(self) -> str:
        """Hash of everything that changes written masks or manifests (not comments or the path)."""
        data = json.dumps({"source": self.source_name, "codes": {str(k): v for k, v in self.source_codes.items()},
                           "target": self.target.to_list(), "ignore": self.target.ignore_index},
                          sort_keys=True)
        return hashlib.sha256(data.encode() + self.lut.tobytes()).hexdigest()


# --------------------------------------------------------------------------- loading


def _code(value: Any, path: Path, what: str) -> int:
    """Codes are integers 0..255 (YAML may give ``"3"`` when the key was quoted)."""
    if isinstance(value, bool):
        raise ConfigError(f"mapping {path}: {what} {value!r} is not a label code; use integers 0..255.")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= 255:
        raise ConfigError(f"mapping {path}: {what} {value!r} is not a label code; use integers 0..255.")
    return value


def _require(block: Any, keys: tuple[str, ...], required: tuple[str, ...], path: Path, where: str) -> dict:
    if not isinstance(block, Mapping):
        raise ConfigError(f"mapping {path}: {where} must be a mapping with keys {', '.join(required)}; "
                          f"got {type(block).__name__}.")
    unknown = sorted(set(map(str, block)) - set(keys))
    if unknown:
        raise ConfigError(f"mapping {path}: unknown key(s) {', '.join(unknown)} in {where}; "
                          f"valid keys: {', '.join(keys)}.")
    missing = [k for k in required if k not in block]
    if missing:
        raise ConfigError(f"mapping {path}: {where} is missing key(s) {', '.join(missing)} "
                          "(see config/mappings/oem_to_biodiversity.yaml for the format).")
    return dict(block)


def _target_table(target: Any, path: Path) -> ClassTable:
    """``biodiversity`` (a named table), an inline class list, or ``{classes: [...], ignore_index}``."""
    if isinstance(target, str):
        try:
            return NAMED_TABLES[target.lower()]
        except KeyError:
            raise ConfigError(f"mapping {path}: unknown target class table {target!r}; known tables: "
                              f"{', '.join(NAMED_TABLES)}, or give the classes inline.") from None
    if isinstance(target, Mapping):
        _require(target, _TARGET_KEYS, ("classes",), path, "target")
    elif not isinstance(target, list):
        raise ConfigError(f"mapping {path}: target must name a class table ({', '.join(NAMED_TABLES)}) or list "
                          "classes as [{name: ..., color: [r, g, b]}, ...].")
    return ClassTable.from_data(target, f"mapping {path}: target")


def load_mapping(path: str | Path) -> ClassMapping:
    """Read and validate a mapping YAML file; every problem is a ConfigError naming the file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"mapping file {path} does not exist; see config/mappings/ for the shipped ones.") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"mapping file {path} is not valid YAML: {exc}") from None
    top = _require(data, _TOP_KEYS, ("source", "target", "mapping"), path, "the file")
    source = _require(top["source"], _SOURCE_KEYS, ("codes",), path, "source")
    if not isinstance(source["codes"], Mapping) or not source["codes"]:
        raise ConfigError(f"mapping {path}: source.codes must map every source code to its name, "
                          "e.g. {0: unknown, 1: bareland}.")
    codes = {_code(k, path, "source code"): str(v) for k, v in source["codes"].items()}
    target = _target_table(top["target"], path)
    if not isinstance(top["mapping"], Mapping):
        raise ConfigError(f"mapping {path}: mapping must be {{code: \"Class Name\" | ignore}}.")

    lut = np.full(256, target.ignore_index, dtype=np.uint8)
    targets: dict[int, str | None] = {}
    for key, value in top["mapping"].items():
        code = _code(key, path, "mapped code")
        if code not in codes:
            raise ConfigError(f"mapping {path}: code {code} is mapped but not listed in source.codes "
                              f"({', '.join(map(str, sorted(codes)))}); add it there with its name or remove it.")
        if value is None or (isinstance(value, str) and value.strip().lower() == IGNORE):
            targets[code] = None
            continue
        if not isinstance(value, str):
            raise ConfigError(f"mapping {path}: code {code} maps to {value!r}; give a class name "
                              f"({', '.join(target.names)}) or `ignore`.")
        try:
            index = target.index(value.strip())
        except KeyError:
            raise ConfigError(f"mapping {path}: code {code} ({codes[code]}) maps to unknown class {value!r}; "
                              f"valid classes: {', '.join(target.names)}, or `ignore`.") from None
        lut[code] = index
        targets[code] = target.names[index]
    unmapped = sorted(set(codes) - set(targets))
    if unmapped:
        listed = ", ".join(f"{c} ({codes[c]})" for c in unmapped)
        raise ConfigError(f"mapping {path}: source code(s) {listed} are not mapped; map each to a class "
                          f"({', '.join(target.names)}) or to `ignore`.")
    lut.setflags(write=False)
    return ClassMapping(name=str(top.get("name") or path.stem), source_codes=codes, target=target, lut=lut,
                        source_name=str(source.get("name") or ""), path=str(path), targets=targets)
