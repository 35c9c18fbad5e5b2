"""Small shared helpers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from landseg.utils import atomic_write_text


def test_atomic_write_gives_files_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "areas.csv", "a,b\n")
    finally:
        os.umask(old)
    assert path.read_text() == "a,b\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600: others can read a result
    assert [p.name for p in tmp_path.iterdir()] == ["areas.csv"]  # no temp file left


def test_default_workers_leave_half_the_cores_to_the_model() -> None:
    from landseg.utils import default_workers

    assert [default_workers(c) for c in (1, 2, 3, 4, 16, 64)] == [0, 1, 1, 2, 8, 8]
