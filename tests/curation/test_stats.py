"""Class statistics: counts against numpy, both denominators, the content-hash cache, workers, CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from landseg.classes import BIODIVERSITY, ClassTable
from landseg.cli.main import main
from landseg.curation import stats as st

REPO = Path(__file__).resolve().parents[2]
C = len(BIODIVERSITY)


def direct_counts(mask: np.ndarray, num_classes: int = C, ignore: int = 255) -> np.ndarray:
    """The definition, written plainly: classes, then ignore, then everything else."""
    values = mask.astype(np.int64).ravel()
    out = [(values == c).sum() for c in range(num_classes)]
    out.append((values == ignore).sum())
    out.append(((values >= num_classes) & (values != ignore)).sum())
    return np.array(out, dtype=np.int64)


def random_mask(rng: np.random.Generator, h: int = 24, w: int = 32) -> np.ndarray:
    """Classes 0..5 plus ignore (255) and out-of-range values (6, 9, 254)."""
    return rng.choice(np.array([0, 1, 2, 3, 4, 5, 255, 6, 9, 254], np.uint8), size=(h, w),
                      p=[0.15, 0.15, 0.15, 0.1, 0.1, 0.1, 0.15, 0.04, 0.03, 0.03])


def write_dataset(root: Path, masks: dict[str, dict[str, np.ndarray]]) -> None:
    """LoveDA layout: ROOT/<Split>/Rural/masks_png/<name>.png (images are not needed for stats)."""
    for split, items in masks.items():
        folder = root / split / "Rural" / "masks_png"
        folder.mkdir(parents=True)
        for name, mask in items.items():
            assert cv2.imwrite(str(folder / f"{name}.png"), mask)


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    write_dataset(root, {"Train": {f"t{i}": random_mask(rng) for i in range(7)},
                         "Val": {f"v{i}": random_mask(rng) for i in range(3)}})
    return root


def test_mask_counts_equal_numpy_for_grey_and_palette_pngs(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    mask = random_mask(rng, 40, 50)
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), mask)
    np.testing.assert_array_equal(st.mask_counts(grey, C), direct_counts(mask))
    np.testing.assert_array_equal(st.mask_counts(grey, 3, ignore_index=9), direct_counts(mask, 3, 9))

    # A palette PNG: OpenCV would return the palette colours (3 channels); we need the indices.
    pal = tmp_path / "palette.png"
    img = Image.fromarray(mask, "P")
    img.putpalette(BIODIVERSITY.palette())
    img.save(pal)
    assert cv2.imread(str(pal), cv2.IMREAD_UNCHANGED).ndim == 3
    np.testing.assert_array_equal(st.mask_counts(pal, C), direct_counts(mask))


def test_value_histogram_is_exact() -> None:
    rng = np.random.default_rng(2)
    runs = np.repeat(rng.integers(0, 256, 300).astype(np.uint8), rng.integers(1, 40, 300))[:64 * 70].reshape(64, 70)
    edges = np.zeros((3, 16), np.uint8)
    edges[0, 7], edges[1, 8], edges[2, 15] = 9, 9, 255  # changes at the last / first byte of a word
    cases = [random_mask(rng, 37, 29), random_mask(rng, 512, 512)[:, ::3],  # odd sizes, a strided view
             runs, runs.ravel()[1:].reshape(1, -1),  # long runs (the word-skipping path), unaligned
             np.full((8, 8), 200, np.uint8), edges, np.zeros((1, 5), np.uint8), np.zeros((0, 4), np.uint8)]
    for mask in cases:
        np.testing.assert_array_equal(st.value_histogram(mask), np.bincount(mask.ravel(), minlength=256))
    with pytest.raises(ValueError, match="uint8"):
        st.value_histogram(np.zeros((2, 2), np.int32))


def test_fractions_with_both_denominators(tmp_path: Path) -> None:
    half_ignored = np.full((4, 4), 255, np.uint8)
    half_ignored[:2, :2] = 1
    half_ignored[2:, 2:] = 2  # 4 px class 1, 4 px class 2, 8 px ignore
    all_ignored = np.full((4, 4), 255, np.uint8)
    write_dataset(tmp_path, {"Train": {"a": half_ignored, "b": all_ignored}})
    s = st.dataset_stats(tmp_path, "Train", cache=False, progress=False)
    assert s.names == ["a", "b"] and s.columns[-2:] == ["ignore", "other"]
    np.testing.assert_array_equal(s.counts, [[0, 4, 4, 0, 0, 0, 8, 0], [0, 0, 0, 0, 0, 0, 16, 0]])

    labelled, everything = s.fractions("labelled"), s.fractions("all")
    np.testing.assert_allclose(labelled[0], [0, 0.5, 0.5, 0, 0, 0])
    np.testing.assert_allclose(everything[0], [0, 0.25, 0.25, 0, 0, 0])
    assert np.isnan(labelled[1]).all()  # no labelled pixels: undefined, never "above a threshold"
    np.testing.assert_allclose(everything[1], 0)
    np.testing.assert_allclose(s.pixel_share("labelled"), [0, 0.5, 0.5, 0, 0, 0])
    np.testing.assert_allclose(s.pixel_share("all"), [0, 0.125, 0.125, 0, 0, 0])

    rows = {r.name: r for r in s.summary_table("all")}
    grass = rows["Forest Land"]
    assert (grass.mean, grass.median, grass.max, grass.tiles) == (0.125, 0.125, 0.25, 1)
    assert rows["Forest Land"] == st.ClassSummary("Forest Land", 0.125, 0.125, 0.25, 1)
    assert s.summary_table("labelled")[1] == st.ClassSummary("Forest Land", 0.5, 0.5, 0.5, 1)
    with pytest.raises(ValueError, match="denominator must be one of labelled, all"):
        s.fractions("pixels")  # type: ignore[arg-type]


def test_cache_hit_skips_decoding_and_a_changed_file_is_recounted(
        dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[str] = []
    real = st.decode_mask
    monkeypatch.setattr(st, "decode_mask", lambda data, path="": decoded.append(str(path)) or real(data, path))

    first = st.dataset_stats(dataset, progress=False)
    assert (first.computed, first.cache_hits, len(decoded)) == (10, 0, 10)
    assert first.cache_path == dataset / ".landseg" / "stats_cache.sqlite" and first.cache_path.is_file()
    with st.StatsCache(first.cache_path) as cache:
        assert len(cache) == 10
        assert cache._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    decoded.clear()
    second = st.dataset_stats(dataset, progress=False)
    assert (second.computed, second.cache_hits, decoded) == (0, 10, [])
    np.testing.assert_array_equal(second.counts, first.counts)

    # The cache stores whole value histograms: another class table needs no decoding either.
    three = ClassTable.from_list([("a", (0, 0, 0)), ("b", (1, 1, 1)), ("c", (2, 2, 2))], ignore_index=9)
    other = st.dataset_stats(dataset, classes=three, progress=False)
    assert decoded == []
    for path, row in zip(other.paths, other.counts, strict=True):
        np.testing.assert_array_equal(row, direct_counts(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), 3, 9))

    changed = dataset / "Train" / "Rural" / "masks_png" / "t3.png"
    new_mask = np.full((24, 32), 4, np.uint8)
    cv2.imwrite(str(changed), new_mask)
    third = st.dataset_stats(dataset, progress=False)
    assert (third.computed, decoded) == (1, [str(changed)])
    np.testing.assert_array_equal(third.counts[third.row("t3")], direct_counts(new_mask))


def test_unusable_cache_warns_and_still_counts(dataset: Path, tmp_path: Path) -> None:
    bad = tmp_path / "not_a_db.sqlite"
    bad.write_bytes(b"this is not an SQLite database" * 10)
    with pytest.warns(RuntimeWarning, match="stats cache .* unavailable"):
        s = st.dataset_stats(dataset, "Val", cache=bad, progress=False)
    assert s.computed == 3 and s.cache_path is None


def test_two_workers_equal_one(dataset: Path) -> None:
    one = st.dataset_stats(dataset, "Train", workers=1, cache=False, progress=False)
    two = st.dataset_stats(dataset, "Train", workers=2, cache=False, progress=False)
    assert two.names == one.names == [f"t{i}" for i in range(7)]
    assert two.sha256 == one.sha256
    np.testing.assert_array_equal(two.counts, one.counts)
    for path, row in zip(one.paths, one.counts, strict=True):
        np.testing.assert_array_equal(row, direct_counts(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)))


def test_plot_class_histograms(dataset: Path, tmp_path: Path) -> None:
    s = st.dataset_stats(dataset, cache=False, progress=False)
    from landseg.curation.stats_report import plot_class_histograms

    png = plot_class_histograms(s, None, tmp_path / "h.png", "all")
    with Image.open(png) as img:
        assert img.size[0] > 1000 and img.size[1] > 500


def test_cli_writes_tables_and_files(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["stats", str(dataset), "--split", "Train", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "7 masks in" in printed and "7 counted, 0 from cache" in printed
    assert "| class" in printed and "| Forest Land" in printed and "(ignore 255)" in printed
    assert "hold values outside 0..5" in printed  # the fixture has values 6, 9, 254

    report = json.loads((out / "stats.json").read_text())
    assert report["tiles"] == 7 and report["denominator"] == "labelled"
    assert [t["name"] for t in report["per_tile"]] == [f"t{i}" for i in range(7)]
    with open(out / "class_fractions.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["name", *BIODIVERSITY.names] and len(rows) == 8
    s = st.dataset_stats(dataset, "Train", cache=False, progress=False)
    np.testing.assert_allclose(np.array(rows[1][1:], float), s.fractions("labelled")[0], atol=1e-6)
    assert (out / "class_histograms.png").stat().st_size > 10_000

    # Second run: served by the cache; default output folder; --out - writes nothing.
    assert main(["stats", str(dataset), "--split", "Train", "--no-progress"]) == 0
    assert "0 counted, 7 from cache" in capsys.readouterr().out
    assert (dataset / ".landseg" / "stats" / "Train" / "stats.json").is_file()
    assert main(["stats", str(dataset), "--out", "-", "--no-progress", "--no-cache"]) == 0
    assert "10 counted, no cache" in capsys.readouterr().out
    assert not (dataset / ".landseg" / "stats" / "stats.json").exists()


def test_cli_classes_file(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "classes.yaml"
    table.write_text("classes:\n  - {name: Low, color: [0, 0, 0]}\n  - {name: High, color: [255, 0, 0]}\n"
                     "ignore_index: 255\n")
    assert main(["stats", str(dataset), "--split", "Val", "--out", "-", "--no-progress", "--classes",
                 str(table), "--denominator", "all"]) == 0
    assert "| High" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["missing", "split", "rgb", "classes"])
def test_cli_bad_input_exits_2_with_message(case: str, dataset: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    args = ["stats", str(dataset), "--no-progress", "--out", "-"]
    if case == "missing":
        args[1] = str(tmp_path / "nowhere")
        expected = "does not exist"
    elif case == "split":
        args += ["--split", "Test"]
        expected = "split 'Test' not found"
    elif case == "rgb":
        rgb = np.zeros((8, 8, 3), np.uint8)
        rgb[..., 1] = 139
        cv2.imwrite(str(dataset / "Val" / "Rural" / "masks_png" / "colour.png"), rgb)
        expected = "colour.png is a mode-RGB image; masks must be class-index PNGs"
    else:
        bad = tmp_path / "bad.json"
        bad.write_text('[{"name": "x"}]')
        args += ["--classes", str(bad)]
        expected = "needs both 'name' and 'color'"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("landseg stats: error: ") and expected in err
    if case == "split":
        assert "Train, Train/Rural, Val, Val/Rural" in err


def test_bench_curation_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_curation.py"), "--quick",
                           "--work", str(tmp_path / "work"), "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| measurement |" in proc.stdout
    rows = {r["case"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"decode", "cold_w1", "cold_w2", "warm"}
    assert all(r["seconds"] > 0 for r in rows.values())
