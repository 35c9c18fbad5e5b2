"""Weighted sampling: frequencies follow weights, epoch lengths as configured, DDP shares disjoint."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from landseg.errors import ConfigError
from landseg.training.sampling import WeightedEpochSampler, match_weights, read_weights

WEIGHTS = [1.0, 2.0, 3.0, 4.5, 6.0]


def test_weighted_frequencies_are_proportional_to_weights() -> None:
    sampler = WeightedEpochSampler(WEIGHTS, "weighted", epoch_size=20_000, seed=1)
    counts = Counter(iter(sampler))
    observed = np.array([counts[i] for i in range(len(WEIGHTS))], dtype=float)
    expected = np.array(WEIGHTS) / sum(WEIGHTS) * 20_000
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < 18.5  # chi-square, 4 degrees of freedom, p = 0.001


def test_repeat_mode_shows_each_tile_about_weight_times() -> None:
    sampler = WeightedEpochSampler([1.0, 2.0, 3.5, 1.5], "repeat", epoch_size="sum_of_weights", seed=0)
    totals: Counter[int] = Counter()
    for epoch in range(400):
        sampler.set_epoch(epoch)
        totals.update(iter(sampler))
    per_epoch = np.array([totals[i] / 400 for i in range(4)])
    assert np.allclose(per_epoch, [1.0, 2.0, 3.5, 1.5], atol=0.15)


@pytest.mark.parametrize("epoch_size,expected", [("dataset", 5), ("sum_of_weights", 17), (37, 37)])  # 16.5 rounds up
def test_epoch_length(epoch_size: str | int, expected: int) -> None:
    for mode in ("weighted", "repeat"):
        sampler = WeightedEpochSampler(WEIGHTS, mode, epoch_size=epoch_size, seed=0)
        assert len(sampler) == expected == len(list(sampler))


def test_new_draw_each_epoch_and_reproducible_from_seed() -> None:
    a = WeightedEpochSampler(WEIGHTS, epoch_size=50, seed=7)
    b = WeightedEpochSampler(WEIGHTS, epoch_size=50, seed=7)
    first = list(a)
    assert first == list(b)
    a.set_epoch(1)
    assert list(a) != first


@pytest.mark.parametrize("mode", ["weighted", "repeat"])
def test_two_rank_shares_are_disjoint_and_complete(mode: str) -> None:
    ranks = [WeightedEpochSampler(WEIGHTS, mode, epoch_size=37, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    for s in ranks:
        s.set_epoch(4)
    shares = [list(s) for s in ranks]
    assert len(shares[0]) == len(shares[1]) == 19  # 37 padded to 38 so ranks run equal batches
    full = ranks[0].global_indices()
    positions = [list(range(r, len(full), 2)) for r in (0, 1)]
    assert set(positions[0]).isdisjoint(positions[1])
    assert sorted(positions[0] + positions[1]) == list(range(len(full)))
    assert [full[p] for p in positions[0]] == shares[0] and [full[p] for p in positions[1]] == shares[1]


def test_weights_file_is_keyed_by_name_and_validated(tmp_path: Path) -> None:
    f = tmp_path / "w.tsv"
    f.write_text("name\tweight\nb\t2\na.png\t1.5\n")
    table = read_weights(f)
    assert table == {"b": 2.0, "a": 1.5}
    match = match_weights(["a", "b", "c"], table, missing="default", default_weight=1.0)
    assert match.weights == [1.5, 2.0, 1.0] and match.missing == ["c"]
    # order of the dataset does not matter: weights follow names
    assert match_weights(["b", "a"], table).weights == [2.0, 1.5]
    with pytest.raises(ConfigError, match="1 tiles have no weight.*c"):
        match_weights(["a", "b", "c"], table)
    with pytest.raises(ConfigError, match="not in the dataset"):
        match_weights(["a"], table, unknown="error")


@pytest.mark.parametrize("text,match", [("a\t1\n", "header"), ("name\tweight\na\tx\n", "not a number"),
                                        ("name\tweight\na\t-1\n", "positive"), ("name\tweight\na\t1\na\t2\n", "twice")])
def test_bad_weight_files(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "w.tsv"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_weights(f)
