"""Small helpers shared across commands (plain-data conversion, atomic writes)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def jsonable(obj: Any) -> Any:
    """Strict-JSON plain data from nested dicts/lists/tuples, numpy or torch values and paths.

    NaN and ±inf become null (strict JSON has neither). Torch is never imported: tensors and
    arrays are recognised by their ``tolist``/``item`` methods.
    """
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays and scalars, torch tensors
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def available_cores() -> int:
    """CPU cores this process may run on (its affinity, e.g. under taskset or a container limit)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[bool] | None = None,
                   *, pad: bool = True) -> str:
    """A Markdown table; ``right`` marks right-aligned (numeric) columns.

    ``pad`` aligns the columns with spaces so the table reads well printed in a terminal too; without
    it each cell is written as is (for tables inside reports, where width does not matter).
    """
    right = list(right) if right is not None else [False] * len(headers)
    cells = [[str(c) for c in r] for r in rows]
    widths = ([max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)] if pad
              else [0] * len(headers))

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True)) + " |"

    if pad:
        rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right, strict=True)) + "|"
    else:
        rule = "|" + "|".join("---:" if r else "---" for r in right) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``name`` from ``exports[name]`` on first use (PEP 562).

    Packages re-export their entry points this way so ``import landseg`` stays instant and
    importing one name does not pull in torch or Lightning for the others.
    """
    import importlib

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def default_workers(cores: int | None = None) -> int:
    """DataLoader workers by default: half the available cores (at most 8), the rest run torch threads.

    One core gets none (a worker would only compete with the model for it).
    """
    return min(8, (cores if cores is not None else available_cores()) // 2)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (any size, constant memory)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


#: Suffix of every temp file an atomic write makes (a killed run's leftovers are found by it).
TMP_SUFFIX = ".landseg-tmp"


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """A temp path beside ``path`` to write to; on success it replaces ``path`` in one rename.

    Readers see the old file or the new one, never half a file; on an exception the temp file is
    removed and nothing at ``path`` changes. The one atomic-write primitive of landseg: bytes, text,
    JSON, PNGs, GeoTIFFs written by rasterio and model exports all go through it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write a file so readers see the old or the new content, never a half-written one."""
    return atomic_write_bytes(path, text.encode())


def write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(jsonable(obj), indent=2) + "\n")
