"""The README's Python block is the public API's contract: it runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def python_block(section: str) -> str:
    text = (REPO / "README.md").read_text()
    body = text[text.index(f"## {section}\n"):]
    return re.search(r"```python\n(.*?)```", body, re.S).group(1)


def test_import_landseg_is_instant_and_lists_its_entry_points() -> None:
    import subprocess
    import sys

    code = "import sys, landseg; print('torch' in sys.modules, len(landseg.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False" and int(out[1]) >= 25
    import landseg

    for name in landseg.__all__:
        assert getattr(landseg, name) is not None, name
    with pytest.raises(AttributeError, match="has no attribute 'trian'"):
        landseg.trian  # noqa: B018


@pytest.mark.slow
def test_the_python_api_block_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").symlink_to(REPO / "config")
    namespace: dict = {}
    exec(compile(python_block("Python API"), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    scores = namespace["scores"]
    counted = [scores["IoU"][i] for i in scores["means_over_indices"] if scores["IoU"][i] is not None]
    assert scores["mIoU"] == pytest.approx(sum(counted) / len(counted))  # the headline mean
    assert namespace["decisions"].is_file() and (tmp_path / "runs/py/model.onnx").is_file()
    assert sorted(p.name for p in (tmp_path / "runs/py/maps/masks").glob("*.png"))  # one map per Test tile
    assert "masks corrected; maps in runs/py/maps" in capsys.readouterr().out
