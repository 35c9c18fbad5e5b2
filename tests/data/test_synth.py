"""The synthetic benchmark: layout, determinism, label noise bookkeeping and the ``synth`` command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import landseg.cli.main as cli_main
from landseg.data.synth import generate_benchmark
from landseg.errors import ConfigError, DatasetError

SIZE = 64
KINDS = ("images_png", "masks_png", "masks_png_clean")
SPLITS = ("Train", "Val", "Test")


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _read(root: Path, split: str, kind: str, name: str) -> np.ndarray:
    return np.asarray(Image.open(root / split / "Rural" / kind / name))


@pytest.fixture(scope="module")
def noisy_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("synth") / "noisy"
    return out, generate_benchmark(out, tiles=20, size=SIZE, seed=3, label_noise=0.5, progress=False)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    kwargs = dict(tiles=5, size=SIZE, label_noise=0.5, progress=False)
    a = _hashes(generate_benchmark(tmp_path / "a", seed=7, **kwargs).out)
    b = _hashes(generate_benchmark(tmp_path / "b", seed=7, **kwargs).out)
    c = _hashes(generate_benchmark(tmp_path / "c", seed=8, **kwargs).out)
    assert a == b
    images = [k for k in a if "images_png" in k]
    assert images and all(a[k] != c[k] for k in images)


def test_layout_modes_and_values(noisy_set: tuple[Path, object]) -> None:
    out, result = noisy_set
    assert result.counts == {"Train": 12, "Val": 4, "Test": 4}
    manifest = json.loads((out / "synth_manifest.json").read_text())
    assert [t["split"] for t in manifest["tiles"]].count("Val") == 4
    for split in SPLITS:
        names = {p.name for p in (out / split / "Rural" / "images_png").glob("*.png")}
        assert len(names) == result.counts[split]
        assert all(n.startswith("synth_") for n in names)
        for kind in KINDS[1:]:
            assert {p.name for p in (out / split / "Rural" / kind).glob("*.png")} == names
        name = sorted(names)[0]
        image = Image.open(out / split / "Rural" / "images_png" / name)
        mask = Image.open(out / split / "Rural" / "masks_png" / name)
        assert (image.mode, image.size, mask.mode, mask.size) == ("RGB", (SIZE, SIZE), "L", (SIZE, SIZE))
        pixels = np.asarray(mask)
        assert pixels.dtype == np.uint8 and pixels.max() <= 5
        assert np.asarray(image).std() > 5  # an actual picture, not a flat fill
    assert not list(out.rglob("*.tmp"))  # atomic writes leave no temp files behind


def test_every_class_appears(noisy_set: tuple[Path, object]) -> None:
    out, result = noisy_set
    seen = np.zeros(6, bool)
    for p in out.rglob("masks_png_clean/*.png"):
        seen[np.unique(np.asarray(Image.open(p)))] = True
    assert seen.all()
    assert abs(sum(result.class_fractions.values()) - 1) < 1e-6
    assert all(share > 0 for share in result.class_tile_shares.values())


def test_label_noise_hits_requested_fraction_and_never_test(noisy_set: tuple[Path, object]) -> None:
    out, result = noisy_set
    records = {(t["split"], t["name"]): t for t in json.loads((out / "synth_manifest.json").read_text())["tiles"]}
    for split in SPLITS:
        names = sorted(p.name for p in (out / split / "Rural" / "images_png").glob("*.png"))
        differs = [not np.array_equal(_read(out, split, "masks_png", n), _read(out, split, "masks_png_clean", n))
                   for n in names]
        for name, changed in zip(names, differs, strict=True):
            record = records[(split, name)]
            assert record["noisy"] == changed and bool(record["noise"]) == changed
            assert (record["changed_fraction"] > 0) == changed
        expected = 0 if split == "Test" else len(names) // 2
        assert sum(differs) == expected == result.noisy_per_split[split]


def test_clean_data_does_not_depend_on_noise_rate(tmp_path: Path, noisy_set: tuple[Path, object]) -> None:
    noisy_out, _ = noisy_set
    clean = generate_benchmark(tmp_path / "clean", tiles=20, size=SIZE, seed=3, progress=False)
    assert clean.noisy_masks == 0
    a, b = _hashes(noisy_out), _hashes(clean.out)
    for key in b:
        if "images_png" in key or "masks_png_clean" in key:
            assert a[key] == b[key], key
        elif "masks_png" in key:  # without noise the training masks are the truth
            assert b[key] == b[key.replace("masks_png", "masks_png_clean")]


def test_refuses_non_empty_folder_and_overwrite_replaces_tiles(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not empty.*overwrite") as exc:
        generate_benchmark(out, tiles=3, size=SIZE, progress=False)
    assert str(out) in str(exc.value)
    generate_benchmark(out, tiles=6, size=SIZE, progress=False, overwrite=True)
    generate_benchmark(out, tiles=3, size=SIZE, progress=False, overwrite=True)
    assert len(list(out.rglob("images_png/*.png"))) == 3  # no stale tiles from the larger run
    assert (out / "notes.txt").read_text() == "keep me"  # only our own files are replaced


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 100}, "multiple of 32"),
    ({"size": 0}, "multiple of 32"),
    ({"tiles": 2}, ">= 3"),
    ({"label_noise": 1.5}, "between 0 and 1"),
    ({"val_fraction": 0.5, "test_fraction": 0.5}, "no Train tiles"),
    ({"seed": -1}, "non-negative"),
])
def test_bad_parameters_are_rejected_before_writing(tmp_path: Path, kwargs: dict, match: str) -> None:
    params = {"tiles": 4, "size": SIZE, "progress": False} | kwargs
    with pytest.raises(ConfigError, match=match):
        generate_benchmark(tmp_path / "x", **params)
    assert not (tmp_path / "x").exists()


@pytest.fixture()
def synth_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register only ``synth`` so these tests do not depend on the other command modules."""
    monkeypatch.setattr(cli_main, "COMMANDS", {"synth": "synth"})


def test_cli_writes_benchmark_and_summary(tmp_path: Path, synth_only: None, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli"
    code = cli_main.main(["synth", str(out), "--tiles", "5", "--size", str(SIZE), "--seed", "1",
                          "--label-noise", "0.5", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Train 3, Val 1, Test 1" in printed and "Noisy masks: 3 (Train 2, Val 1)" in printed and "Forest Land" in printed
    assert len(list(out.rglob("images_png/*.png"))) == 5
    assert cli_main.main(["synth", str(out), "--tiles", "3", "--size", str(SIZE), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--size", "100"], "--size"),
    (["--tiles", "2"], "--tiles"),
    (["--label-noise", "-0.1"], "--label-noise"),
])
def test_cli_bad_values_exit_2_with_message(tmp_path: Path, synth_only: None, capsys: pytest.CaptureFixture,
                                            argv: list[str], message: str) -> None:
    assert cli_main.main(["synth", str(tmp_path / "o"), "--no-progress", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("landseg synth: error:") and message in err


def test_cli_unparseable_value_is_a_usage_error(tmp_path: Path, synth_only: None) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["synth", str(tmp_path / "o"), "--tiles", "many"])
    assert exc.value.code == 2
