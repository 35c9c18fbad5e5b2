"""An automatic review policy: adopt a prediction where the evidence against the ground truth is strong.

Why: reviewing thousands of tiles by hand is slow, yet most decisions are easy. When two models
agree with each other on nearly every pixel *and* cleanlab finds the ground truth unlikely under
their probabilities, the annotation is the probable error, so a prediction replaces it; in every
other case the ground truth stays. The policy is a short text so it can be given on the command
line and recorded as the reviewer of each decision::

    agree>=0.85,quality<0.6              # the default
    agree>=0.9,quality<0.5,prefer=A      # stricter, always take model A's mask

Terms (comma-separated, each at most once, any left out keeps its default):

* ``agree>=X`` or ``agree>X``: A and B agree on at least (more than) X of the labelled pixels;
* ``quality<Y`` or ``quality<=Y``: the ground truth's label-quality score is below (at most) Y;
* ``prefer=A|B|best``: which prediction to adopt. ``best`` (default) takes, per tile, the
  prediction with the higher mean IoU against the ground truth (then pixel accuracy, then A):
  the two already agree almost everywhere, and on the few pixels where they differ the ground
  truth, right outside its error region, is the best referee available.

Everything here is a pure function of ``predictions.csv`` rows (strings or numbers); storing the
decisions (SQLite, decisions.csv) is the review app's job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from landseg.correction.decision import Decision
from landseg.errors import ConfigError, DatasetError

DEFAULT_AUTO_POLICY = "agree>=0.85,quality<0.6"
PREFER = ("A", "B", "best")
REVIEWER_PREFIX = "auto:"
_EXAMPLE = "e.g. agree>=0.85,quality<0.6,prefer=best"
#: allowed comparison per term, and the words for a value that fails it
_OPS = {"agree": (">=", ">"), "quality": ("<", "<=")}
_FAILS = {">=": "<", ">": "≤", "<": "≥", "<=": ">"}
_ROW_KEYS = ("image", "agreement", "label_quality", "iou_A", "iou_B", "acc_A", "acc_B", "pred_A", "pred_B")


def _compare(value: float, op: str, threshold: float) -> bool:
    return {">=": value >= threshold, ">": value > threshold, "<": value < threshold, "<=": value <= threshold}[op]


def _number(row: Mapping[str, Any], key: str) -> float | None:
    """A float cell; empty/None (undefined, e.g. a tile without labelled pixels) gives None."""
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DatasetError(f"predictions row {row.get('name', row.get('image', '?'))!r}: {key}={value!r} is not a "
                           "number; re-create predictions.csv with `landseg predict-pair`.") from None
    return None if math.isnan(number) else number


@dataclass(frozen=True)
class AutoPolicy:
    """Adopt a prediction when ``agreement <agree_op> agree`` and ``label_quality <quality_op> quality``."""

    agree: float = 0.85
    quality: float = 0.6
    prefer: str = "best"
    agree_op: str = ">="
    quality_op: str = "<"

    def __post_init__(self) -> None:
        for key, value in (("agree", self.agree), ("quality", self.quality)):
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ConfigError(f"auto policy: {key} threshold {value!r} must be a number in [0, 1]; {_EXAMPLE}.")
        if self.prefer not in PREFER:
            raise ConfigError(f"auto policy: prefer={self.prefer!r} is not valid; choose one of "
                              f"{', '.join(PREFER)}; {_EXAMPLE}.")
        for key, op in (("agree", self.agree_op), ("quality", self.quality_op)):
            if op not in _OPS[key]:
                raise ConfigError(f"auto policy: {key} takes {' or '.join(_OPS[key])}, not {op!r}; {_EXAMPLE}.")

    @property
    def text(self) -> str:
        """The canonical policy text (all three terms), e.g. ``agree>=0.85,quality<0.6,prefer=best``."""
        return f"agree{self.agree_op}{self.agree:g},quality{self.quality_op}{self.quality:g},prefer={self.prefer}"

    @property
    def reviewer(self) -> str:
        """The reviewer recorded with each decision: ``auto:`` + the canonical policy text."""
        return REVIEWER_PREFIX + self.text

    def _best(self, row: Mapping[str, Any]) -> tuple[str, str]:
        def key(label: str) -> tuple[float, float]:
            return tuple(-1.0 if (v := _number(row, f"{m}_{label}")) is None else v  # type: ignore[return-value]
                         for m in ("iou", "acc"))

        a, b = key("A"), key("B")
        choice = "B" if b > a else "A"
        return choice, f"best: mean IoU vs GT A {a[0]:.3f}, B {b[0]:.3f}"

    def decide(self, row: Mapping[str, Any]) -> tuple[str, str]:
        """``(choice, note)`` for one predictions row: ``"A"``/``"B"`` to adopt a prediction, else ``"GT"``."""
        agreement, quality = _number(row, "agreement"), _number(row, "label_quality")
        if agreement is None or quality is None:
            return "GT", "keep GT: agreement or label quality undefined (no labelled pixels)"
        agree_ok = _compare(agreement, self.agree_op, self.agree)
        quality_ok = _compare(quality, self.quality_op, self.quality)
        if not (agree_ok and quality_ok):
            why = []
            if not agree_ok:
                why.append(f"A/B agreement {agreement:.3f} {_FAILS[self.agree_op]} {self.agree:g}")
            if not quality_ok:
                why.append(f"GT label quality {quality:.3f} {_FAILS[self.quality_op]} {self.quality:g}")
            return "GT", "keep GT: " + " and ".join(why)
        evidence = (f"A/B agreement {agreement:.3f} {self.agree_op} {self.agree:g} and GT label quality "
                    f"{quality:.3f} {self.quality_op} {self.quality:g}")
        if self.prefer == "best":
            choice, how = self._best(row)
        else:
            choice, how = self.prefer, f"prefer={self.prefer}"
        return choice, f"{evidence} → {choice} ({how})"


def parse_auto_policy(text: str = DEFAULT_AUTO_POLICY) -> AutoPolicy:
    """An :class:`AutoPolicy` from text such as ``agree>=0.9,quality<0.5,prefer=B``; bad text is a ConfigError."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"auto policy is empty; {_EXAMPLE}.")
    values: dict[str, Any] = {}
    for term in (t.strip() for t in text.split(",")):
        if not term:
            raise ConfigError(f"auto policy {text!r} has an empty term; separate terms by single commas, {_EXAMPLE}.")
        key = next((k for k in ("agree", "quality", "prefer") if term.lower().startswith(k)), None)
        if key is None:
            raise ConfigError(f"auto policy term {term!r} is unknown; the terms are agree, quality and prefer, "
                              f"{_EXAMPLE}.")
        if key in values:
            raise ConfigError(f"auto policy {text!r} gives {key} twice; give each term once.")
        rest = term[len(key):].strip()
        if key == "prefer":
            op, value = rest[:1], rest[1:].strip()
            choice = {p.lower(): p for p in PREFER}.get(value.lower())
            if op != "=" or choice is None:
                raise ConfigError(f"auto policy term {term!r}: write prefer=A, prefer=B or prefer=best.")
            values["prefer"] = choice
            continue
        op = next((o for o in sorted(_OPS[key], key=len, reverse=True) if rest.startswith(o)), None)
        if op is None:
            raise ConfigError(f"auto policy term {term!r}: {key} takes {' or '.join(_OPS[key])} and a number, "
                              f"{_EXAMPLE}.")
        try:
            threshold = float(rest[len(op):])
        except ValueError:
            raise ConfigError(f"auto policy term {term!r}: {rest[len(op):]!r} is not a number, {_EXAMPLE}.") from None
        if not math.isfinite(threshold):
            raise ConfigError(f"auto policy term {term!r}: the threshold must be a number in [0, 1], {_EXAMPLE}.")
        values[key], values[f"{key}_op"] = threshold, op
    return AutoPolicy(**values)


def _absolute(path: str, out_dir: str | Path | None, name: str) -> str:
    p = Path(path)
    if p.is_absolute():
        return str(p)
    if out_dir is None:
        raise ValueError(f"predictions row {name!r}: {path!r} is relative to the predict-pair folder; pass out_dir.")
    return str((Path(out_dir) / p).resolve())


def auto_decisions(rows: Iterable[Mapping[str, Any]], policy: AutoPolicy | str = DEFAULT_AUTO_POLICY, *,
                   out_dir: str | Path | None = None, time: str | None = None) -> list[Decision]:
    """One :class:`Decision` per predictions row, in row order, by ``policy`` (an AutoPolicy or its text).

    ``prediction`` is the chosen mask's absolute path (``pred_*`` paths in predictions.csv are
    relative to the predict-pair folder ``out_dir``); empty when GT is kept. ``time`` defaults to
    now in UTC (ISO 8601 with ``Z``, as the review store writes it), one value for the whole batch.
    """
    if isinstance(policy, str):
        policy = parse_auto_policy(policy)
    stamp = time if time is not None else datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for row in rows:
        missing = [k for k in _ROW_KEYS if k not in row]
        if missing:
            raise DatasetError(f"predictions row {row.get('name', '?')!r} lacks column(s) {', '.join(missing)}; "
                               "re-create predictions.csv with `landseg predict-pair`.")
        choice, note = policy.decide(row)
        prediction = "" if choice == "GT" else _absolute(str(row[f"pred_{choice}"]), out_dir,
                                                          str(row.get("name", "")))
        out.append(Decision(image=str(row["image"]), choice=choice, reviewer=policy.reviewer, time=stamp,
                            note=note, prediction=prediction))
    return out
