"""Fixtures for the review tests (the folder itself is fabricated by review_fixture.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from review_fixture import ReviewDir, make_review_dir


@pytest.fixture
def review_dir(tmp_path: Path) -> ReviewDir:
    return make_review_dir(tmp_path)
