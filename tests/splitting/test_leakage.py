"""`landseg check-leakage`: the acceptance test (a random split of 50%-overlapping tiles leaks,
a spatial split with a buffer does not) and the geometry and content evidence on their own."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from test_splits import cut_tiles, make_scene

from landseg.cli.main import main
from landseg.errors import ConfigError, DatasetError
from landseg.splitting.leakage import TileHashes, check_leakage, matching_windows, region_hashes, thumbnail


@pytest.fixture(scope="module")
def tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """121 tiles of 128 px cut on a 64-px stride, with world files: each shares half its ground
    with each of its four neighbours and a quarter with its diagonal ones."""
    root = tmp_path_factory.mktemp("leak") / "tiles"
    cut_tiles(root, make_scene(), "world")
    return root


@pytest.fixture(scope="module")
def random_split(tiles: Path) -> Path:
    out = tiles.parent / "random"
    assert main(["split", str(tiles), "--by", "random", "--seed", "0", "--out", str(out)]) == 0
    return out


def test_random_split_leaks_and_spatial_split_with_buffer_does_not(tiles: Path, random_split: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["check-leakage", str(random_split), "--max-report", "5", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("LEAKAGE: ")
    assert "Test: 18 of 18 tiles (100%) share ground with another split" in out
    lines = [line for line in out.splitlines() if "<->" in line]
    assert len(lines) == 5 and "... and " in out
    assert "geometry overlap 50.0%" in lines[0] and "half hash distance 0, mean grey difference 0.0" in lines[0]

    report = check_leakage(random_split)
    geometric = {(p.file_a, p.file_b) for p in report.pairs if p.overlap is not None}
    by_content = {(p.file_a, p.file_b) for p in report.pairs if p.hash_distance is not None}
    # every shared half is found by both; diagonal neighbours (25%) at least by geometry
    halves = {(p.file_a, p.file_b) for p in report.pairs if p.overlap == pytest.approx(0.5)}
    assert halves and halves <= by_content and by_content <= geometric
    assert {round(p.overlap, 2) for p in report.pairs} == {0.25, 0.5}

    spatial = tiles.parent / "spatial"
    assert main(["split", str(tiles), "--by", "space", "--block-size", "256", "--buffer", "32",
                 "--out", str(spatial)]) == 0
    capsys.readouterr()
    assert main(["check-leakage", str(spatial), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("No leakage found between Train, Val, Test")
    assert "0 pairs of footprints overlap" in out


def test_content_alone_finds_shifted_and_duplicated_tiles(random_split: Path, tmp_path: Path) -> None:
    """Without georeferencing the hashes still find every half-shifted neighbour and a duplicate."""
    plain = tmp_path / "plain"
    shutil.copytree(random_split, plain, ignore=shutil.ignore_patterns("*.csv"))
    with_geometry = check_leakage(random_split)
    report = check_leakage(plain)
    assert report.georeferenced == {"Train": 0, "Val": 0, "Test": 0}
    assert {(p.file_a, p.file_b) for p in report.pairs} == \
        {(p.file_a, p.file_b) for p in with_geometry.pairs if p.hash_distance is not None}
    assert "geometry: not checked" in report.report()
    # an exact copy under another name, in another split, matches on the whole tile
    train = sorted((plain / "Train" / "Rural" / "images_png").iterdir())[0]
    shutil.copy(train, plain / "Val" / "Rural" / "images_png" / "copy.png")
    dup = [p for p in check_leakage(plain, ["Train", "Val"]).pairs if p.file_b.endswith("copy.png")]
    assert any(p.region == "whole tile" and p.hash_distance == 0 for p in dup)


def test_unrelated_tiles_do_not_match(tmp_path: Path) -> None:
    """Tiles of two different scenes share no ground: no false alarm from similar texture."""
    for split, seed in (("Train", 1), ("Test", 2)):
        cut_tiles(tmp_path / split / "Rural", make_scene(size=512, seed=seed), "none")
    report = check_leakage(tmp_path, ["Train", "Test"])
    assert not report.leaking and report.tiles == {"Train": 49, "Test": 49}


def test_hash_matching_is_chunked_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunked all-pairs popcount gives the same pairs as one big comparison."""
    import landseg.splitting.leakage as leakage

    rng = np.random.default_rng(0)
    scene, _ = make_scene(size=384, seed=3)
    thumbs = np.stack([thumbnail(scene[y:y + 128, x:x + 128]) for y in range(0, 257, 64) for x in range(0, 257, 64)])
    a = TileHashes(thumbs[::2], *region_hashes(thumbs[::2]))
    b = TileHashes(thumbs[1::2], *region_hashes(thumbs[1::2]))
    whole = matching_windows(a, b, "quarter", 8)
    monkeypatch.setattr(leakage, "_CHUNK", int(rng.integers(5, 40)))
    chunked = matching_windows(a, b, "quarter", 8)
    key = [sorted(zip(*(x.tolist() for x in r[:3]), strict=True)) for r in (whole, chunked)]
    assert key[0] == key[1] and len(key[0]) > 0


def test_usage_errors(random_split: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-leakage", str(random_split), "--splits", "Train,Vla", "--no-progress"]) == 2
    assert "split 'Vla' not found" in capsys.readouterr().err
    assert main(["check-leakage", str(random_split), "--hash-threshold", "40", "--no-progress"]) == 2
    assert "must be 0..32" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="at least two splits"):
        check_leakage(random_split, ["Train", "Nope"], skip_missing=True)
    with pytest.raises(ConfigError, match="needs --tile-size-m"):
        check_leakage(random_split, pattern="t_{row}_{col}")
