"""Hard-sample weighting: per-tile statistics, the rules (tiers, additive, continuous) that turn them
into weights, and the tier and per-class tables that explain them.

Pure functions and frozen dataclasses, no model: :mod:`landseg.evaluation.hard_samples` applies
them to a checkpoint's predictions and writes the files.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from landseg.classes import ClassTable
from landseg.errors import ConfigError, DatasetError

POLICIES = ("tiers", "additive", "continuous")
#: (threshold, weight) pairs, highest threshold first: a tile gets the weight of the first tier
#: whose threshold its mean IoU reaches.
DEFAULT_TIERS: tuple[tuple[float, float], ...] = ((0.8, 1.0), (0.7, 2.0), (0.6, 3.0), (0.5, 4.5), (0.0, 6.0))
#: The additive (seed) rule: +2 below the first mean IoU, +1 below the second, +1.5 per hard class.
ADDITIVE_MEAN_STEPS: tuple[tuple[float, float], ...] = ((0.6, 2.0), (0.7, 1.0))
ADDITIVE_CLASS_IOU = 0.6
ADDITIVE_CLASS_BONUS = 1.5
#: A class is "hard" in a tile for the per-class difficulty table when its IoU is below this.
HARD_CLASS_IOU = 0.5
#: Weights are rounded to this many decimals everywhere (JSON, TSV, sums) so the files agree.
WEIGHT_DECIMALS = 4

# Float round-off (e.g. (0.7 + 0.9) / 2) must not push a tile exactly on a threshold into the
# next tier.
_EPS = 1e-9
_DIFFICULTY = ("easy", "moderate", "hard", "very hard", "hardest")


def _reaches(value: float, threshold: float) -> bool:
    return value >= threshold - _EPS


# --------------------------------------------------------------------------------------------
# per-tile statistics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TileStats:
    """One tile's scores: IoU per class name (None: class in neither truth nor prediction)."""

    name: str
    iou: dict[str, float | None]
    pixels: dict[str, int]
    mean_iou: float | None

    @classmethod
    def from_iou(cls, name: str, iou: Mapping[str, float | None], pixels: Mapping[str, int]) -> TileStats:
        """Stats from per-class IoU and truth pixel counts (keys in class-table order)."""
        defined = [v for v in iou.values() if v is not None]
        mean = float(np.mean(defined)) if defined else None
        return cls(name, dict(iou), {k: int(pixels.get(k, 0)) for k in iou}, mean)


def tile_stats(name: str, confmat: Any, class_names: Sequence[str]) -> TileStats:
    """Stats of one tile from its confusion matrix (rows truth, columns prediction)."""
    from landseg.evaluation.metrics import segmentation_scores

    scores = segmentation_scores(confmat)
    if scores["num_classes"] != len(class_names):
        raise ValueError(f"confusion matrix has {scores['num_classes']} classes but {len(class_names)} names given.")
    iou = {c: None if math.isnan(v) else float(v) for c, v in zip(class_names, scores["IoU"], strict=True)}
    return TileStats.from_iou(name, iou, dict(zip(class_names, scores["pixels"], strict=True)))


# --------------------------------------------------------------------------------------------
# weight policies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightPolicy:
    """How a tile's scores become a sampling weight (see :func:`parse_policy` for the CLI form).

    ``tiers``: the weight of the first (threshold, weight) tier the mean IoU reaches.
    ``additive``: 1 + (2 if mean IoU < 0.6 else 1 if < 0.7 else 0) + 1.5 per ``hard_classes``
    entry with IoU < 0.6 on at least ``min_pixels`` truth pixels (default: every class but index 0).
    ``continuous``: 1 + (w_max − 1)·((1 − mIoU)/(1 − iou_min))^gamma, clipped to [1, w_max].
    """

    kind: str = "tiers"
    tiers: tuple[tuple[float, float], ...] = DEFAULT_TIERS
    hard_classes: tuple[str, ...] | None = None
    min_pixels: int = 100
    w_max: float = 6.0
    iou_min: float = 0.3
    gamma: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in POLICIES:
            raise ConfigError(f"unknown weight policy {self.kind!r} (--policy); choose one of {', '.join(POLICIES)}.")
        tiers = tuple(sorted(((float(t), float(w)) for t, w in self.tiers), reverse=True))
        _check_tiers(tiers)
        object.__setattr__(self, "tiers", tiers)
        if isinstance(self.min_pixels, bool) or not isinstance(self.min_pixels, int) or self.min_pixels < 0:
            raise ConfigError(f"min_pixels={self.min_pixels!r} (--min-pixels) must be an integer >= 0, e.g. 100.")
        if not (self.w_max >= 1.0 and math.isfinite(self.w_max)):
            raise ConfigError(f"w_max={self.w_max!r} (--w-max) must be >= 1 (the weight of the hardest tile), e.g. 6.")
        if not 0.0 <= self.iou_min < 1.0:
            raise ConfigError(f"iou_min={self.iou_min!r} (--iou-min) must be in [0, 1): the mean IoU at or "
                              "below which a tile gets w_max, e.g. 0.3.")
        if not (self.gamma > 0.0 and math.isfinite(self.gamma)):
            raise ConfigError(f"gamma={self.gamma!r} (--gamma) must be > 0 (1 = linear), e.g. 1.")

    def params(self) -> dict[str, Any]:
        """The parameters that matter for this kind (recorded in the analysis JSON)."""
        if self.kind == "tiers":
            return {"tiers": [{"min_mean_iou": t, "weight": w} for t, w in self.tiers]}
        if self.kind == "additive":
            return {"mean_iou_steps": [{"below": t, "add": a} for t, a in ADDITIVE_MEAN_STEPS],
                    "hard_classes": list(self.hard_classes) if self.hard_classes is not None else None,
                    "class_iou_below": ADDITIVE_CLASS_IOU, "class_bonus": ADDITIVE_CLASS_BONUS,
                    "min_pixels": self.min_pixels}
        return {"w_max": self.w_max, "iou_min": self.iou_min, "gamma": self.gamma}

    def for_classes(self, classes: ClassTable) -> WeightPolicy:
        """This policy with ``hard_classes`` checked against ``classes`` and spelled as they are.

        Why: a typo in a class name would otherwise silently make no class hard.
        """
        names = self.hard_classes if self.hard_classes is not None else tuple(classes.names[1:])
        resolved = []
        for name in names:
            try:
                resolved.append(classes.names[classes.index(name)])
            except KeyError:
                raise ConfigError(f"--hard-classes: {name!r} is not a class of this checkpoint; valid classes: "
                                  f"{', '.join(classes.names)}.") from None
        return replace(self, hard_classes=tuple(resolved))

    def weigh(self, stats: TileStats) -> tuple[float, str]:
        """``(weight, why)`` of one tile; a tile without labelled pixels counts as easy."""
        mean = 1.0 if stats.mean_iou is None else stats.mean_iou
        weight, why = _WEIGHERS[self.kind](self, stats, mean)
        if stats.mean_iou is None:
            why = f"no labelled pixels, weighted as an easy tile (mean IoU taken as 1): {why}"
        return round(weight, WEIGHT_DECIMALS), why


def _check_tiers(tiers: tuple[tuple[float, float], ...]) -> None:
    example = "e.g. 0.8:1,0.7:2,0.6:3,0.5:4.5,0:6"
    if not tiers:
        raise ConfigError(f"--tiers needs at least one THRESHOLD:WEIGHT pair, {example}.")
    thresholds = [t for t, _ in tiers]
    if len(set(thresholds)) != len(thresholds):
        raise ConfigError(f"--tiers repeats a threshold ({thresholds}); give each threshold once, {example}.")
    if any(not 0.0 <= t <= 1.0 for t in thresholds):
        raise ConfigError(f"--tiers thresholds must be mean IoUs in [0, 1], got {thresholds}; {example}.")
    if thresholds[-1] != 0.0:
        raise ConfigError(f"--tiers needs a tier with threshold 0 so every tile gets a weight, {example}.")
    if any(not (w > 0.0 and math.isfinite(w)) for _, w in tiers):
        raise ConfigError(f"--tiers weights must be positive numbers, got {[w for _, w in tiers]}; {example}.")


def _tier_index(policy: WeightPolicy, mean: float) -> int:
    return next(i for i, (t, _) in enumerate(policy.tiers) if _reaches(mean, t))


def _difficulty(i: int, n: int) -> str:
    """'easy' … 'hardest' spread over ``n`` ordered bins."""
    return "all tiles" if n == 1 else _DIFFICULTY[round(i * (len(_DIFFICULTY) - 1) / (n - 1))]


def _tier_meaning(policy: WeightPolicy, i: int) -> str:
    thresholds = [t for t, _ in policy.tiers]
    if len(thresholds) == 1:
        span = "any mean IoU"
    elif i == 0:
        span = f"mean IoU ≥ {thresholds[0]:g}"
    elif i == len(thresholds) - 1:
        span = f"mean IoU < {thresholds[i - 1]:g}"
    else:
        span = f"{thresholds[i]:g} ≤ mean IoU < {thresholds[i - 1]:g}"
    return f"{_difficulty(i, len(thresholds))} ({span})"


def _weigh_tiers(policy: WeightPolicy, stats: TileStats, mean: float) -> tuple[float, str]:
    i = _tier_index(policy, mean)
    return policy.tiers[i][1], f"mean IoU {mean:.3f} → {_tier_meaning(policy, i)}"


def _additive_terms(policy: WeightPolicy, stats: TileStats, mean: float) -> tuple[float, str, list[str]]:
    """The seed rule's parts: the mean-IoU bonus, the mean-IoU range it stands for, the hard classes."""
    steps = ADDITIVE_MEAN_STEPS
    bonus, span = 0.0, f"mean IoU ≥ {steps[-1][0]:g}"
    for i, (threshold, add) in enumerate(steps):
        if not _reaches(mean, threshold):
            lower = f"{steps[i - 1][0]:g} ≤ " if i else ""
            bonus, span = add, f"{lower}mean IoU < {threshold:g}"
            break
    names = policy.hard_classes if policy.hard_classes is not None else tuple(stats.iou)[1:]
    hard = []
    for name in names:
        if name not in stats.iou:
            raise ConfigError(f"hard class {name!r} is not among the tile's classes: {', '.join(stats.iou)}.")
        iou, px = stats.iou[name], stats.pixels[name]
        if iou is not None and not _reaches(iou, ADDITIVE_CLASS_IOU) and px >= max(policy.min_pixels, 1):
            hard.append(f"{name} IoU {iou:.3f} on {px:,} px")
    return bonus, span, hard


def _additive_meaning(span: str, n_hard: int) -> str:
    return f"{span}, {n_hard} hard class{'es' if n_hard != 1 else ''}"


def _weigh_additive(policy: WeightPolicy, stats: TileStats, mean: float) -> tuple[float, str]:
    bonus, span, hard = _additive_terms(policy, stats, mean)
    weight = 1.0 + bonus + ADDITIVE_CLASS_BONUS * len(hard)
    classes = f"{ADDITIVE_CLASS_BONUS:g} × {len(hard)} ({'; '.join(hard)})" if hard else "0 (no hard class)"
    return weight, f"1 + {bonus:g} (mean IoU {mean:.3f}: {span}) + {classes}"


def _continuous(policy: WeightPolicy, mean: float) -> float:
    x = max(0.0, 1.0 - mean) / (1.0 - policy.iou_min)
    return min(max(1.0 + (policy.w_max - 1.0) * x**policy.gamma, 1.0), policy.w_max)


def _weigh_continuous(policy: WeightPolicy, stats: TileStats, mean: float) -> tuple[float, str]:
    w = _continuous(policy, mean)
    if w >= policy.w_max:
        return w, f"mean IoU {mean:.3f} ≤ iou_min {policy.iou_min:g} → w_max {policy.w_max:g}"
    return w, (f"mean IoU {mean:.3f} → 1 + {policy.w_max - 1:g}·({1 - mean:.3f}/{1 - policy.iou_min:g})"
               f"^{policy.gamma:g} = {w:.{WEIGHT_DECIMALS}f}")


_WEIGHERS = {"tiers": _weigh_tiers, "additive": _weigh_additive, "continuous": _weigh_continuous}


def _parse_tiers(text: str) -> tuple[tuple[float, float], ...]:
    pairs = []
    for item in text.split(","):
        threshold, sep, weight = item.strip().partition(":")
        try:
            if not sep:
                raise ValueError
            pairs.append((float(threshold), float(weight)))
        except ValueError:
            raise ConfigError(f"--tiers: cannot read {item.strip()!r}; write THRESHOLD:WEIGHT pairs separated "
                              "by commas, e.g. 0.8:1,0.7:2,0.6:3,0.5:4.5,0:6.") from None
    return tuple(pairs)


def parse_policy(kind: str = "tiers", *, tiers: str | Sequence[tuple[float, float]] | None = None,
                 hard_classes: str | Sequence[str] | None = None, min_pixels: int | None = None,
                 w_max: float | None = None, iou_min: float | None = None,
                 gamma: float | None = None) -> WeightPolicy:
    """A :class:`WeightPolicy` from CLI-style values; ``None`` means the default.

    ``tiers`` may be ``"0.8:1,0.7:2,0.6:3,0.5:4.5,0:6"``; ``hard_classes`` a comma-separated list
    of class names. Options that do not belong to ``kind`` are refused rather than ignored, so
    ``--policy continuous --tiers ...`` does not silently do something else than asked.
    """
    given = {"tiers": tiers, "hard_classes": hard_classes, "min_pixels": min_pixels,
             "w_max": w_max, "iou_min": iou_min, "gamma": gamma}
    owners = {"tiers": "tiers", "hard_classes": "additive", "min_pixels": "additive",
              "w_max": "continuous", "iou_min": "continuous", "gamma": "continuous"}
    if kind not in POLICIES:
        raise ConfigError(f"unknown weight policy {kind!r} (--policy); choose one of {', '.join(POLICIES)}.")
    stray = [k for k, v in given.items() if v is not None and owners[k] != kind]
    if stray:
        raise ConfigError("; ".join(f"--{k.replace('_', '-')} only applies to --policy {owners[k]}" for k in stray)
                          + f", not to --policy {kind}: drop it or change the policy.")
    if isinstance(tiers, str):
        tiers = _parse_tiers(tiers)
    if isinstance(hard_classes, str):
        hard_classes = [c.strip() for c in hard_classes.split(",") if c.strip()]
        if not hard_classes:
            raise ConfigError("--hard-classes is empty; list class names separated by commas, e.g. Settlement,Cropland.")
    values = {k: v for k, v in given.items() if v is not None}
    values.update({"tiers": tuple(tiers)} if tiers is not None else {})
    values.update({"hard_classes": tuple(hard_classes)} if hard_classes is not None else {})
    return WeightPolicy(kind=kind, **values)


# --------------------------------------------------------------------------------------------
# weighting and tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightedTile:
    stats: TileStats
    weight: float
    why: str

    @property
    def name(self) -> str:
        return self.stats.name


@dataclass(frozen=True)
class TierRow:
    """One row of the weight-tier table; ``weight`` is display text ("4.5" or "2–3")."""

    weight: str
    samples: int
    percent: float
    meaning: str


@dataclass(frozen=True)
class ClassRow:
    """One row of the per-class difficulty table (hard: IoU < 0.5 in a tile holding the class)."""

    name: str
    hard: int
    tiles: int
    mean_weight: float | None

    @property
    def percent_hard(self) -> float | None:
        return 100.0 * self.hard / self.tiles if self.tiles else None


def weigh_tiles(stats: Iterable[TileStats], policy: WeightPolicy) -> list[WeightedTile]:
    """Weights for all tiles, sorted by name; a repeated name is an error (weights are keyed by it)."""
    tiles = sorted((WeightedTile(s, *policy.weigh(s)) for s in stats), key=lambda t: t.name)
    for a, b in zip(tiles, tiles[1:], strict=False):
        if a.name == b.name:
            raise DatasetError(f"two tiles are both named {a.name!r}; weights are keyed by name, rename one.")
    return tiles


def _percent(n: int, total: int) -> float:
    return 100.0 * n / total if total else 0.0


def _continuous_edges(policy: WeightPolicy) -> list[float]:
    if policy.w_max <= 1.0:
        return [1.0, 1.0]
    return [1.0 + k for k in range(math.ceil(policy.w_max - 1.0))] + [policy.w_max]


def _iou_at(policy: WeightPolicy, weight: float) -> float:
    """Inverse of the continuous formula: the mean IoU that gets ``weight``."""
    return 1.0 - (1.0 - policy.iou_min) * ((weight - 1.0) / (policy.w_max - 1.0)) ** (1.0 / policy.gamma)


def tier_table(tiles: Sequence[WeightedTile], policy: WeightPolicy) -> list[TierRow]:
    """Samples per weight tier, easiest first (continuous weights are binned into unit ranges)."""
    n = len(tiles)
    means = [1.0 if t.stats.mean_iou is None else t.stats.mean_iou for t in tiles]
    if policy.kind == "tiers":
        counts = np.bincount([_tier_index(policy, m) for m in means], minlength=len(policy.tiers))
        return [TierRow(f"{w:g}", int(c), _percent(int(c), n), _tier_meaning(policy, i))
                for i, ((_, w), c) in enumerate(zip(policy.tiers, counts, strict=True))]
    if policy.kind == "additive":
        groups: dict[float, tuple[int, str]] = {}
        for tile, mean in zip(tiles, means, strict=True):
            _, span, hard = _additive_terms(policy, tile.stats, mean)
            count, _ = groups.get(tile.weight, (0, ""))
            groups[tile.weight] = (count + 1, _additive_meaning(span, len(hard)))
        return [TierRow(f"{w:g}", c, _percent(c, n), meaning) for w, (c, meaning) in sorted(groups.items())]
    edges = _continuous_edges(policy)
    bins = len(edges) - 1
    counts = np.bincount([min(bins - 1, int(np.searchsorted(edges, t.weight, side="right")) - 1) for t in tiles],
                         minlength=bins)
    rows = []
    for i, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False)):
        if bins == 1:
            span = "any mean IoU"
        elif i == 0:
            span = f"mean IoU > {_iou_at(policy, hi):.2f}"
        elif i == bins - 1:
            span = f"mean IoU ≤ {_iou_at(policy, lo):.2f}"
        else:
            span = f"{_iou_at(policy, hi):.2f} < mean IoU ≤ {_iou_at(policy, lo):.2f}"
        label = f"{lo:g}–{hi:g}" if hi > lo else f"{lo:g}"
        rows.append(TierRow(label, int(counts[i]), _percent(int(counts[i]), n), f"{_difficulty(i, bins)} ({span})"))
    return rows


def class_table(tiles: Sequence[WeightedTile], class_names: Sequence[str],
                hard_iou: float = HARD_CLASS_IOU) -> list[ClassRow]:
    """Per class: tiles holding it (truth pixels > 0), how many of them it is hard in, their mean weight."""
    rows = []
    for name in class_names:
        holding = [t for t in tiles if t.stats.pixels.get(name, 0) > 0]
        hard = sum(1 for t in holding if (iou := t.stats.iou.get(name)) is not None and not _reaches(iou, hard_iou))
        mean_w = float(np.mean([t.weight for t in holding])) if holding else None
        rows.append(ClassRow(name, hard, len(holding), mean_w))
    return rows
