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


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A landseg checkpoint of ftunetformer_tiny (random weights, seed 0, 6 classes, tile 64)."""
    from landseg.models import build_model
    from landseg.training.config import build_experiment
    from landseg.training.module import checkpoint_metadata

    torch.manual_seed(0)
    exp = build_experiment({"model": {"name": "ftunetformer_tiny"}, "data": {"crop_size": 64}})
    net = build_model("ftunetformer_tiny", 6)
    path = tmp_path_factory.mktemp("tiny_model") / "tiny.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
                "landseg": checkpoint_metadata(exp)}, path)
    return path
