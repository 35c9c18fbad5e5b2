"""Seed-noise statistics for ablations: paired and unpaired bootstrap intervals of mean differences.

Pure numpy; :mod:`landseg.pipeline.ablation` runs the variants and hands their scores here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["N_BOOT", "NO_EVIDENCE", "Contrast", "Estimate", "bootstrap_ci", "bootstrap_ci_unpaired", "contrast",
           "metric_value"]


N_BOOT = 10_000
NO_EVIDENCE = "An interval containing 0 means no evidence of a difference beyond seed noise."


# --- statistics (pure) ---------------------------------------------------------------------------

def _interval(stats: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of bootstrap statistics."""
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    return float(low), float(high)


def _sample(values: Sequence[float], what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"{what} must be a non-empty 1-D list of finite numbers, got {values!r}.")
    return arr


def _check_level(level: float, n_boot: int) -> None:
    if not 0.0 < level < 1.0 or n_boot < 1:
        raise ValueError(f"Need 0 < level < 1 and n_boot >= 1, got level={level}, n_boot={n_boot}.")


def _boot_means(arr: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement, same size) of ``arr``."""
    return arr[rng.integers(0, arr.size, size=(n_boot, arr.size))].mean(axis=1)


def bootstrap_ci(deltas: Sequence[float], n_boot: int = N_BOOT, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences (resampling seeds).

    The RNG seed is fixed so a report is reproducible. Constant differences give the degenerate
    interval at that constant (every resample has the same mean; returned exactly, without
    floating-point noise from averaging).
    """
    _check_level(level, n_boot)
    d = _sample(deltas, "deltas")
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0])
    return _interval(_boot_means(d, np.random.default_rng(seed), n_boot), level)


def bootstrap_ci_unpaired(ref: Sequence[float], var: Sequence[float], n_boot: int = N_BOOT, seed: int = 0,
                          level: float = 0.95) -> tuple[float, float]:
    """Interval of mean(var) − mean(ref) resampling each group on its own (seeds do not match)."""
    _check_level(level, n_boot)
    r, v = _sample(ref, "ref"), _sample(var, "var")
    rng = np.random.default_rng(seed)
    return _interval(_boot_means(v, rng, n_boot) - _boot_means(r, rng, n_boot), level)


@dataclass(frozen=True)
class Estimate:
    """A mean difference (variant − reference) of one metric with its interval."""

    metric: str        # key: "mIoU", "mIoU_all" or "IoU/<class>"
    label: str         # e.g. "mIoU (5 classes, Background excluded)"
    mean: float
    low: float
    high: float
    n: int             # seed pairs (paired) or the smaller group size (unpaired) behind the estimate

    @property
    def contains_zero(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high)) and self.low <= 0.0 <= self.high

    @property
    def verdict(self) -> str:
        if math.isnan(self.mean):
            return "undefined"
        return "no evidence" if self.contains_zero else ("higher" if self.low > 0 else "lower")


@dataclass
class Contrast:
    variant: str
    reference: str
    paired: bool
    ref_seeds: list[int]
    var_seeds: list[int]
    estimates: list[Estimate]

    def estimate(self, metric: str) -> Estimate:
        return next(e for e in self.estimates if e.metric == metric)


def metric_value(x: Any) -> float:
    """A stored score as float; None (NaN written to JSON: class absent) becomes NaN."""
    return math.nan if x is None else float(x)


def _metric_series(scores: Mapping[int, Mapping[str, Any]]) -> tuple[dict[str, str], dict[str, dict[int, float]]]:
    """Labels and per-seed values of the compared metrics: counted mIoU, all-class mIoU, per-class IoU."""
    first = scores[next(iter(scores))]
    labels = {"mIoU": first["labels"]["mIoU"], "mIoU_all": first["labels"]["mIoU_all"]}
    names = first.get("class_names") or [f"class {i}" for i in range(len(first["IoU"]))]
    labels.update({f"IoU/{name}": f"IoU {name}" for name in names})
    values: dict[str, dict[int, float]] = {k: {} for k in labels}
    for s, sc in scores.items():
        values["mIoU"][s], values["mIoU_all"][s] = metric_value(sc["mIoU"]), metric_value(sc["mIoU_all"])
        for name, iou in zip(names, sc["IoU"], strict=True):
            values[f"IoU/{name}"][s] = metric_value(iou)
    return labels, values


def contrast(ref_scores: Mapping[int, Mapping[str, Any]], var_scores: Mapping[int, Mapping[str, Any]], *,
             variant: str = "variant", reference: str = "reference", n_boot: int = N_BOOT, seed: int = 0,
             level: float = 0.95) -> Contrast:
    """Variant − reference for mIoU (counted and all classes) and each class's IoU, with intervals.

    ``*_scores`` map a training seed to the evaluate stage's ``scores``. With the same seeds on both
    sides the differences are paired by seed (seed noise shared by both cancels); otherwise the
    two groups are resampled independently. A class undefined in a run (absent from truth and
    prediction) is left out of that class's estimate only.
    """
    if not ref_scores or not var_scores:
        raise ValueError("contrast needs at least one seed on each side.")
    paired = set(ref_scores) == set(var_scores)
    labels, ref = _metric_series(ref_scores)
    _, var = _metric_series(var_scores)
    estimates = []
    for metric, label in labels.items():
        r = {s: v for s, v in ref[metric].items() if not math.isnan(v)}
        v = {s: x for s, x in var.get(metric, {}).items() if not math.isnan(x)}
        if paired:
            common = sorted(set(r) & set(v))
            deltas = [v[s] - r[s] for s in common]
            n = len(deltas)
            mean = float(np.mean(deltas)) if n else math.nan
            low, high = bootstrap_ci(deltas, n_boot, seed, level) if n else (math.nan, math.nan)
        else:
            n = min(len(r), len(v))
            mean = float(np.mean(list(v.values())) - np.mean(list(r.values()))) if n else math.nan
            low, high = (bootstrap_ci_unpaired(list(r.values()), list(v.values()), n_boot, seed, level) if n
                         else (math.nan, math.nan))
        estimates.append(Estimate(metric, label, mean, low, high, n))
    return Contrast(variant, reference, paired, sorted(ref_scores), sorted(var_scores), estimates)
