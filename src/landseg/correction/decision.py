"""One reviewer decision: the row format shared by the review app, the auto policy and decisions.csv."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

from landseg.correction import DECISION_COLUMNS


@dataclass(frozen=True)
class Decision:
    """One row of decisions.csv (fields in :data:`landseg.correction.DECISION_COLUMNS` order)."""

    image: str
    choice: str
    reviewer: str
    time: str
    note: str = ""
    prediction: str = ""

    def as_row(self) -> dict[str, str]:
        return dict(zip(DECISION_COLUMNS, astuple(self), strict=True))

    @classmethod
    def coerce(cls, obj: Any) -> Decision:
        """Accept any object or mapping with the DECISION_COLUMNS fields (e.g. auto decisions)."""
        get = obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
        values = {k: get(k, "") for k in DECISION_COLUMNS}
        return cls(**{k: "" if v is None else str(v) for k, v in values.items()})
