"""Shared fixtures: paths to ../shared (real samples and GeoSeg facts) and tiny generated data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# Tests run on 2 cores; keep torch from oversubscribing them.
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared not found at {SHARED} (real samples and GeoSeg reference files live there)")
    return SHARED


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    ref = shared_dir / "reference"
    if not (ref / "geoseg_ftunetformer_small.ckpt").is_file():
        pytest.skip(f"GeoSeg reference checkpoint missing under {ref}")
    return ref
