"""Hard-sample oversampling: per-tile weights keyed by image name, drawn afresh every epoch.

Weights are matched to tiles by *name*, never by row position (the seed's weight files silently
misaligned when the file order changed). An epoch really has the announced number of samples
(the seed claimed "6x" while its sampler kept the epoch at ``len(dataset)``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Sampler

from landseg.errors import ConfigError


def read_weights(path: str | Path) -> dict[str, float]:
    """Read ``name<TAB>weight`` rows (with a header) into a dict; bad rows are errors naming the line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Sample weights file not found: {path} (write it with `landseg hard-samples`).")
    weights: dict[str, float] = {}
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["name", "weight"]:
        raise ConfigError(f"{path}: the first line must be the header 'name<TAB>weight'.")
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise ConfigError(f"{path}:{lineno}: expected 'name<TAB>weight', got {row!r}.")
        name = Path(row[0].strip()).stem
        try:
            w = float(row[1])
        except ValueError:
            raise ConfigError(f"{path}:{lineno}: weight {row[1]!r} is not a number.") from None
        if not math.isfinite(w) or w <= 0:
            raise ConfigError(f"{path}:{lineno}: weight of {name!r} must be a positive number, got {w}.")
        if name in weights:
            raise ConfigError(f"{path}:{lineno}: {name!r} appears twice.")
        weights[name] = w
    if not weights:
        raise ConfigError(f"{path} lists no tiles.")
    return weights


@dataclass
class WeightMatch:
    weights: list[float]
    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def match_weights(names: Sequence[str], table: dict[str, float], missing: str = "error",
                  default_weight: float = 1.0, unknown: str = "warn") -> WeightMatch:
    """Align weights to the dataset's tile names; report tiles without a weight and unknown names."""
    absent = [n for n in names if n not in table]
    extra = sorted(set(table) - set(names))
    if absent and missing == "error":
        raise ConfigError(f"{len(absent)} tiles have no weight (e.g. {', '.join(absent[:5])}); recompute the weights "
                          "for this dataset or set sampling.missing='default'.")
    if extra and unknown == "error":
        raise ConfigError(f"{len(extra)} names in the weights file are not in the dataset "
                          f"(e.g. {', '.join(extra[:5])}); set sampling.unknown='warn' to ignore them.")
    return WeightMatch([table.get(n, default_weight) for n in names], absent, extra)


def epoch_length(weights: Sequence[float], epoch_size: str | int) -> int:
    if epoch_size == "dataset":
        return len(weights)
    if epoch_size == "sum_of_weights":
        return max(1, math.floor(sum(weights) + 0.5))  # halves round up, as hard-samples reports
    return int(epoch_size)


class WeightedEpochSampler(Sampler[int]):
    """Draws an epoch of tile indices from per-tile weights; DDP-aware and reproducible.

    Every rank draws the same global sequence from ``(seed, epoch)`` and keeps positions
    ``rank, rank + world, ...``: shares are disjoint and together are the whole draw (padded with
    extra draws to a multiple of the world size so every rank runs the same number of batches).
    """

    def __init__(self, weights: Sequence[float], mode: str = "weighted", epoch_size: str | int = "dataset",
                 seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        if mode not in ("weighted", "repeat"):
            raise ValueError(f"mode must be 'weighted' or 'repeat', got {mode!r}")
        self.weights = torch.as_tensor(list(weights), dtype=torch.float64)
        if (self.weights <= 0).any():
            raise ValueError("weights must be positive")
        self.mode, self.seed = mode, seed
        self.num_replicas, self.rank = num_replicas, rank
        self.total = epoch_length(list(weights), epoch_size)
        self.total = math.ceil(self.total / num_replicas) * num_replicas
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _draw(self, gen: torch.Generator, n: int) -> torch.Tensor:
        if self.mode == "weighted":
            return torch.multinomial(self.weights, n, replacement=True, generator=gen)
        out: list[torch.Tensor] = []
        size = 0
        while size < n:  # repeat mode: floor(w) copies + Bernoulli(w - floor(w)), shuffled; again if short
            base = self.weights.floor()
            extra = torch.bernoulli(self.weights - base, generator=gen)
            idx = torch.repeat_interleave(torch.arange(len(self.weights)), (base + extra).long())
            out.append(idx[torch.randperm(len(idx), generator=gen)])
            size += len(idx)
        return torch.cat(out)[:n]

    def global_indices(self) -> list[int]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return self._draw(gen, self.total).tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.global_indices()[self.rank :: self.num_replicas])

    def __len__(self) -> int:
        return self.total // self.num_replicas
