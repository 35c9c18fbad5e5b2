"""Number formatting shared by every table: scores in %, deltas in signed percentage points."""

from __future__ import annotations

import math
from typing import Any

from landseg.report.document import NOT_RUN


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def pct(v: Any, missing: str = "n/a") -> str:
    """A 0..1 score as a percentage with 2 decimals (as ``metrics.md`` shows it)."""
    f = _finite(v)
    return missing if f is None else f"{100 * f:.2f}"


def delta_pp(v: Any, base: Any) -> str:
    """Signed difference of two 0..1 scores in percentage points, with a real minus sign."""
    a, b = _finite(v), _finite(base)
    if a is None or b is None:
        return "n/a"
    text = f"{100 * (a - b):+.2f}"
    return "±0.00" if text in ("+0.00", "-0.00") else text.replace("-", "−")


def with_delta(v: Any, base: Any) -> str:
    return pct(v) if _finite(v) is None or _finite(base) is None else f"{pct(v)} ({delta_pp(v, base)})"


def count(v: Any) -> str:
    return "—" if v is None else f"{int(v):,}"


def seconds(v: Any) -> str:
    f = _finite(v)
    if f is None:
        return "—"
    return f"{f:.1f} s" if f < 60 else f"{int(f // 60)} min {f % 60:04.1f} s"


def status_cell(status: str) -> str:
    """A record's status as shown in tables: anything but complete reads "not run (…)"."""
    return "complete" if status == "complete" else NOT_RUN if status == NOT_RUN else f"{NOT_RUN} ({status})"
