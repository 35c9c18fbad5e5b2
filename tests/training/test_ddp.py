"""DDP with 2 CPU processes (gloo) through the real CLI: validation metrics are synced across ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from landseg.data import find_pairs, read_mask


@pytest.mark.slow
def test_ddp_two_cpu_processes_sync_validation_metrics(tmp_path: Path, tiny_config) -> None:
    from landseg.data.synth import generate_benchmark

    data = tmp_path / "data"
    # 3 Val tiles, so the ranks get unequal shares (2 + 1).
    generate_benchmark(data, tiles=15, size=64, seed=5, val_fraction=0.2, test_fraction=0.2, progress=False)
    cfg = tiny_config(tmp_path, data, "ddp")
    landseg = Path(sys.executable).with_name("landseg")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(landseg), "train", "-c", str(cfg), "trainer.max_epochs=1", "trainer.devices=2",
         "trainer.strategy='ddp'", "trainer.accelerator='cpu'", "trainer.num_threads=1", "data.batch_size=2"],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "distributed_backend=gloo" in proc.stderr + proc.stdout
    history = [json.loads(line) for line in (tmp_path / "ddp/val_history.jsonl").read_text().splitlines()]
    assert len(history) == 1  # written once, by rank 0
    val_masks = [read_mask(m) for _, m in find_pairs(data, "Val")]
    assert len(val_masks) == 3
    labelled = sum(int((m != 255).sum()) for m in val_masks)
    # Synced over both ranks, each tile counted exactly once (rank 0: 2 tiles, rank 1: 1 tile).
    assert int(np.array(history[0]["confmat"]).sum()) == labelled
