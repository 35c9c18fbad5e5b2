"""A tiny pipeline file for the pipeline and ablation tests: synth 10 tiles of 64 px, then given stages."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def write_tiny_pipeline(tmp_path: Path, stages: str, epochs: int = 1) -> Path:
    """``tiny.py`` (the demo baseline at 64 px, ``epochs`` epochs, fp32) and a pipeline starting with a
    ``data`` synth stage; ``stages`` is the YAML of the stages after it, where ``{cfg}`` names tiny.py."""
    cfg = tmp_path / "tiny.py"
    cfg.write_text(f"""base = {str(REPO / "config/demo/baseline.py")!r}
data = dict(crop_size=64, batch_size=4, val_batch_size=4, num_workers=0)
trainer = dict(max_epochs={epochs}, precision="32-true", progress_bar=False, log_images=0)
""")
    pipe = tmp_path / "pipe.yaml"
    pipe.write_text(f"""name: t
run_dir: {tmp_path / "run"}
stages:
  - name: data
    kind: synth
    params: {{out: "{{run_dir}}/data", tiles: 10, size: 64, seed: 1, label_noise: 0.3}}
""" + stages.replace("{cfg}", str(cfg)))
    return pipe
