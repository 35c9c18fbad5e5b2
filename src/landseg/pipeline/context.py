"""What a stage function receives and returns: the pieces the runner and the stage kinds share.

Kept apart from the runner so the stage kinds (``stages.py``) do not import the runner that
imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from landseg.errors import LandsegError

if TYPE_CHECKING:
    from landseg.pipeline.spec import PipelineSpec, StageSpec

__all__ = ["NeedsPerson", "StageContext", "StageOutput"]


class NeedsPerson(LandsegError):
    """A stage waits for a person (e.g. review without --auto); the message says what to do."""


@dataclass
class StageContext:
    spec: PipelineSpec
    stage: StageSpec
    dir: Path
    previous: dict[str, Any] | None
    key: str
    progress: bool = True


@dataclass
class StageOutput:
    outputs: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
