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


#: What a pipeline passes to each config that needs another stage's output.
STAGE_OUTPUTS = {"teacher.checkpoint": "t.ckpt", "init_from": "s.ckpt", "sampling.weights": "w.tsv"}


def _needs(path: Path) -> list[str]:
    from landseg.training.config import load_raw

    raw = load_raw(path)
    keys = list(raw.get("required") or [])
    keys += ["teacher.checkpoint"] if "teacher" in raw else []
    keys += ["sampling.weights"] if "sampling" in raw else []
    return keys


@pytest.mark.parametrize("path", sorted((REPO / "config").rglob("*.py")), ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    exp = load_config(path, [f"{k}={STAGE_OUTPUTS[k]!r}" for k in _needs(path)])
    assert exp.name and exp.model.name


@pytest.mark.parametrize("path", sorted((REPO / "config").rglob("*.py")), ids=lambda p: p.name)
def test_no_shipped_config_names_another_stages_outputs(path: Path) -> None:
    from landseg.training.config import load_raw

    raw = load_raw(path)
    assert not raw.get("init_from") and not (raw.get("teacher") or {}).get("checkpoint")
    assert not (raw.get("sampling") or {}).get("weights")
    data = raw.get("data") or {}
    assert "val_root" not in data and "train_split" not in data or data["train_split"] == "Train/Rural"
    for key in _needs(path):  # used by hand without the value: a clear error naming the key
        others = [f"{k}={STAGE_OUTPUTS[k]!r}" for k in _needs(path) if k != key]
        with pytest.raises(ConfigError, match=key.replace(".", r"\.") + ".*(pipeline passes|command line)"):
            load_config(path, others)


def test_seed_baseline_matches_the_workflow() -> None:
    exp = load_config(REPO / "config/biodiversity/ftunetformer-512-crop-ms-e45.py")
    assert (exp.model.name, exp.data.crop_size, exp.data.batch_size, exp.trainer.max_epochs) == ("ftunetformer", 512, 8, 45)
    assert (exp.optim.lr, exp.optim.weight_decay, exp.data.scale_range) == (6e-5, 0.01, (0.75, 1.5))
    assert exp.class_table.names[4] == "Settlement" and exp.trainer.monitor == "val_mIoU"


def test_later_stage_states_only_differences() -> None:
    step2 = load_config(REPO / "config/biodiversity/step2_finetune_biodiversity.py", ["init_from='s1.ckpt'"])
    base = load_config(REPO / "config/biodiversity/ftunetformer-512-crop-ms-e45.py")
    assert step2.init_from == "s1.ckpt" and step2.required == ["init_from"]
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
    kd = load_config(REPO / "config/biodiversity/ftunetformer_kd_512-crop-ms-e45.py", ["teacher.checkpoint='b.ckpt'"])
    hs = load_config(REPO / "config/biodiversity/ftunetformer_kd_hardsampling.py",
                     ["teacher.checkpoint='s2.ckpt'", "init_from='s2.ckpt'", "sampling.weights='w.tsv'"])
    assert kd.data == base.data and kd.model == base.model and kd.optim == base.optim
    assert kd.teacher and kd.teacher.checkpoint == "b.ckpt"
    assert kd.distill and kd.distill.loss == "kl"
    assert hs.teacher and hs.teacher.precision == "auto"  # the default: chosen from the hardware
    assert hs.sampling and hs.sampling.epoch_size == "sum_of_weights" and hs.init_from == "s2.ckpt"
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
