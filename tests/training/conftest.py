"""Fixtures for training tests: a tiny generated benchmark and a config writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from landseg.data.synth import generate_benchmark

    root = tmp_path_factory.mktemp("synth") / "data"
    generate_benchmark(root, tiles=12, size=64, seed=3, progress=False)
    return root


def write_tiny_config(tmp_path: Path, data: Path, name: str = "run", extra: str = "") -> Path:
    """A config building on the demo baseline, shrunk to 64-pixel tiles and 2 epochs."""
    cfg = tmp_path / f"{name}.py"
    cfg.write_text(f"""
base = {str(REPO / "config/demo/baseline.py")!r}
name = {name!r}
output_dir = {str(tmp_path / name)!r}
data = dict(root={str(data)!r}, crop_size=64, batch_size=4, val_batch_size=4, num_workers=0)
trainer = dict(max_epochs=2, precision="32-true", progress_bar=False, log_images=1, num_threads=2)
{extra}
""")
    return cfg


@pytest.fixture
def tiny_config() -> Callable[..., Path]:
    return write_tiny_config
