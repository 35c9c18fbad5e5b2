"""Config files: typed validation, base inheritance, overrides, shipped configs load."""

from __future__ import annotations

from pathlib import Path

import pytest

from landseg.errors import ConfigError
from landseg.training.config import load_config

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", sorted((REPO / "config").rglob("*.py")), ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    exp = load_config(path)
    assert exp.name and exp.model.name


def test_seed_baseline_matches_the_workflow() -> None:
    exp = load_config(REPO / "config/biodiversity/ftunetformer-512-crop-ms-e45.py")
    assert (exp.model.name, exp.data.crop_size, exp.data.batch_size, exp.trainer.max_epochs) == ("ftunetformer", 512, 8, 45)
    assert (exp.optim.lr, exp.optim.weight_decay, exp.data.scale_range) == (6e-5, 0.01, (0.75, 1.5))
    assert exp.class_table.names[4] == "Settlement" and exp.trainer.monitor == "val_mIoU"


def test_later_stage_states_only_differences() -> None:
    step2 = load_config(REPO / "config/biodiversity/step2_finetune_biodiversity.py")
    base = load_config(REPO / "config/biodiversity/ftunetformer-512-crop-ms-e45.py")
    assert step2.init_from and step2.init_from.endswith("best.ckpt")
    assert step2.data == base.data and step2.optim == base.optim
    text = (REPO / "config/biodiversity/step2_finetune_biodiversity.py").read_text()
    assert "classes" not in text and "crop_size" not in text


def test_unknown_top_level_key_lists_valid_keys(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "c.py", "name='x'\ntrainr=dict(max_epochs=1)\n")
    with pytest.raises(ConfigError, match=r"Unknown config key\(s\): trainr.*Valid keys:.*trainer"):
        load_config(cfg)


def test_unknown_section_key_is_an_error(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "c.py", "trainer=dict(max_epoch=3)\n")
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) in 'trainer': max_epoch.*max_epochs"):
        load_config(cfg)


def test_wrong_type_is_an_error(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "c.py", "optim=dict(lr='fast')\n")
    with pytest.raises(ConfigError, match="optim.lr must be float"):
        load_config(cfg)


def test_crop_size_must_be_multiple_of_32(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="multiple of 32"):
        load_config(_write(tmp_path / "c.py", "data=dict(crop_size=500)\n"))


def test_base_merges_dicts_and_overrides_apply(tmp_path: Path) -> None:
    _write(tmp_path / "a.py", "name='a'\ndata=dict(root='/d', batch_size=8)\ntrainer=dict(max_epochs=45)\n")
    _write(tmp_path / "b.py", "base='a.py'\nname='b'\ndata=dict(batch_size=2)\n")
    exp = load_config(tmp_path / "b.py", ["trainer.max_epochs=3", "model.decode_channels=64", "optim.lr=1"])
    assert (exp.name, exp.data.root, exp.data.batch_size, exp.trainer.max_epochs) == ("b", "/d", 2, 3)
    assert exp.model.options == {"decode_channels": 64}
    assert exp.optim.lr == 1.0 and isinstance(exp.optim.lr, float)


def test_bad_override_syntax(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key=value"):
        load_config(_write(tmp_path / "c.py", "name='x'\n"), ["trainer.max_epochs"])


def test_config_that_fails_to_run_names_the_file(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "broken.py", "name = undefined_name\n")
    with pytest.raises(ConfigError, match="broken.py failed to run: NameError"):
        load_config(cfg)


def test_bad_class_table(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "c.py", "classes=[{'name': 'A', 'color': [0, 0, 0]}, {'name': 'A', 'color': [1, 1, 1]}]\n")
    with pytest.raises(ConfigError, match="repeated: A"):
        load_config(cfg)


def test_kd_configs_build_on_the_baseline() -> None:
    base = load_config(REPO / "config/biodiversity/ftunetformer-512-crop-ms-e45.py")
    kd = load_config(REPO / "config/biodiversity/ftunetformer_kd_512-crop-ms-e45.py")
    hs = load_config(REPO / "config/biodiversity/ftunetformer_kd_hardsampling.py")
    assert kd.data == base.data and kd.model == base.model and kd.optim == base.optim
    assert kd.teacher and kd.teacher.checkpoint.endswith("ftunetformer-512-crop-ms-e45/checkpoints/best.ckpt")
    assert kd.distill and kd.distill.loss == "kl"
    assert hs.teacher and "step2" in hs.teacher.checkpoint and hs.teacher.precision == "auto"  # the default: chosen from the hardware
    assert hs.sampling and hs.sampling.epoch_size == "sum_of_weights" and hs.init_from
    for name in ("ftunetformer_kd_512-crop-ms-e45.py", "ftunetformer_kd_hardsampling.py"):
        text = (REPO / "config/biodiversity" / name).read_text()
        assert "classes" not in text and "data =" not in text and "optim" not in text


@pytest.mark.parametrize("extra,match", [
    ("distill = dict(loss='kl')\n", "both a 'teacher' and a 'distill'"),
    ("teacher = dict(checkpoint='t.ckpt')\ndistill = dict(loss='mse')\n", "distill.loss 'mse' is not valid"),
    ("teacher = dict(checkpoint='t.ckpt')\ndistill = dict(alpha=1.5)\n", "alpha must be in"),
    ("sampling = dict(weights='w.tsv', mode='boost')\n", "sampling.mode"),
    ("sampling = dict(weights='w.tsv', epoch_size='all')\n", "sampling.epoch_size"),
])
def test_bad_kd_and_sampling_sections(tmp_path: Path, extra: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path / "c.py", extra))
