"""Crash-safe, resumable and undoable file operations for every command that changes a dataset.

A command first *plans* its work as a list of operations (move / copy / link, each with the
content hash of the file it moves), writes the plan atomically into
``<root>/.landseg/journals/<id>/plan.json`` and only then touches files. Each operation is atomic
(``os.rename``/``os.replace`` of a fully written, fsynced temp file) and idempotent: re-applying
it checks where the bytes are now. Progress is appended to ``done.log``; killed at any instant
(even ``kill -9``), running the same command again resumes the unfinished journal, and
``landseg undo JOURNAL`` reverses it, verifying every restored file's sha256.

Written by hand because no well-kept library offers planned, hash-verified, resumable and
reversible file moves; the pieces it needs (rename, fsync, hashlib) are the standard library's.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from landseg.errors import LandsegError
from landseg.utils import sha256_file

JOURNALS = Path(".landseg") / "journals"
#: Files a journaled command prepares before planning (new masks, manifests) and those it replaces.
STAGING = Path(".landseg") / "staging"
_CHUNK = 1 << 20
ACTIONS = ("move", "copy", "link")


class JournalError(LandsegError):
    """A journal cannot be applied or undone safely; nothing further was changed."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tmp_name(dst: Path) -> Path:
    return dst.with_name(f".{dst.name}.landseg-tmp")


def copy_atomic(src: Path, dst: Path, link: bool = False) -> None:
    """Put src's bytes at dst atomically: hard link or full copy to a temp name, fsync, rename."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(dst)
    tmp.unlink(missing_ok=True)
    linked = False
    if link:
        try:
            os.link(src, tmp)
            linked = True
        except OSError:
            linked = False  # other filesystem or no hard links: fall back to a copy
    if not linked:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, _CHUNK)
            fout.flush()
            os.fsync(fout.fileno())
        shutil.copystat(src, tmp)
    os.replace(tmp, dst)
    _fsync_dir(dst.parent)


def _move_atomic(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dst)  # atomic on one filesystem
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_atomic(src, dst)  # across filesystems: complete copy first, then drop the source
        src.unlink()
    _fsync_dir(dst.parent)
    _fsync_dir(src.parent)


@dataclass(frozen=True)
class Op:
    """One planned operation; ``sha256``/``size`` describe the bytes that travel."""

    action: str
    src: str
    dst: str
    sha256: str
    size: int

    @classmethod
    def plan(cls, action: str, src: str | Path, dst: str | Path, sha256: str | None = None) -> Op:
        if action not in ACTIONS:
            raise ValueError(f"unknown journal action {action!r}")
        src, dst = Path(src).resolve(), Path(dst).resolve()
        return cls(action, str(src), str(dst), sha256 or sha256_file(src), src.stat().st_size)


def _matches(path: Path, op: Op) -> bool:
    return path.is_file() and path.stat().st_size == op.size and sha256_file(path) == op.sha256


def apply_op(op: Op) -> None:
    """Bring the files into the op's 'done' state, whatever partial state a crash left."""
    src, dst = Path(op.src), Path(op.dst)
    _tmp_name(dst).unlink(missing_ok=True)
    if op.action == "move":
        if _matches(dst, op):
            if src.exists() and _matches(src, op):
                src.unlink()  # a cross-device move died after its copy
            return
        if not src.exists():
            raise JournalError(f"Cannot move {src}: it is gone and {dst} does not hold its bytes.")
        if not _matches(src, op):
            raise JournalError(f"{src} changed since the plan was made (sha256 differs); nothing was moved.")
        if dst.exists():
            raise JournalError(f"Refusing to overwrite {dst}, which holds other content.")
        _move_atomic(src, dst)
        return
    if _matches(dst, op):
        return
    if not _matches(src, op):
        raise JournalError(f"{src} is missing or changed since the plan was made; cannot {op.action} it.")
    if dst.exists():
        raise JournalError(f"Refusing to overwrite {dst}, which holds other content.")
    copy_atomic(src, dst, link=op.action == "link")


def undo_op(op: Op) -> None:
    """Reverse one op (idempotent): moved files go back, copies and links are removed."""
    src, dst = Path(op.src), Path(op.dst)
    _tmp_name(dst).unlink(missing_ok=True)
    if op.action == "move":
        if _matches(src, op):
            if dst.exists() and _matches(dst, op):
                dst.unlink()
            return
        if not _matches(dst, op):
            raise JournalError(f"Cannot restore {src}: {dst} is missing or changed (sha256 differs).")
        if src.exists():
            raise JournalError(f"Refusing to overwrite {src}, which now holds other content.")
        _move_atomic(dst, src)
        return
    if dst.exists():
        if not _matches(dst, op):
            raise JournalError(f"Refusing to delete {dst}: it changed since it was written (sha256 differs).")
        dst.unlink()
        _fsync_dir(dst.parent)


@dataclass
class JournalStatus:
    total: int
    done: int
    undone: bool

    @property
    def complete(self) -> bool:
        return self.done == self.total


class Journal:
    """A planned list of operations with append-only progress, stored in one folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        plan_file = self.path / "plan.json"
        if not plan_file.is_file():
            raise JournalError(f"{self.path} is not a landseg journal (no plan.json).")
        self.plan = json.loads(plan_file.read_text())
        self.ops = [Op(**o) for o in self.plan["ops"]]

    # -- creation and lookup -------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, command: str, signature: str, ops: Iterable[Op],
               summary: dict | None = None) -> Journal:
        root = Path(root).resolve()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        path = root / JOURNALS / f"{stamp}-{command}"
        path.mkdir(parents=True)
        plan = {"version": 1, "command": command, "signature": signature, "root": str(root),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": socket.gethostname(),
                "summary": summary or {}, "ops": [asdict(o) for o in ops]}
        tmp = path / ".plan.json.tmp"
        with open(tmp, "w") as fh:
            json.dump(plan, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path / "plan.json")
        _fsync_dir(path)
        return cls(path)

    @staticmethod
    def all_for(root: str | Path) -> list[Journal]:
        base = Path(root).resolve() / JOURNALS
        if not base.is_dir():
            return []
        return [Journal(p) for p in sorted(base.iterdir()) if (p / "plan.json").is_file()]

    @classmethod
    def unfinished(cls, root: str | Path) -> list[Journal]:
        return [j for j in cls.all_for(root) if not j.status().complete and not j.status().undone]

    @classmethod
    def resume_or_check(cls, root: str | Path, signature: str) -> Journal | None:
        """The unfinished journal of this same command (to resume), else None.

        An unfinished journal of a *different* command is an error: finishing or undoing it comes
        first, otherwise two half-done changes would interleave.
        """
        for j in cls.unfinished(root):
            if j.plan["signature"] == signature:
                return j
            raise JournalError(
                f"{root} has an unfinished change: {j.plan['command']} ({j.path}). Re-run that command to finish "
                f"it, or `landseg undo {j.path}` to reverse it.")
        return None

    # -- progress ------------------------------------------------------------------------------
    def _read_log(self, name: str) -> set[int]:
        f = self.path / name
        if not f.is_file():
            return set()
        lines = f.read_text().split("\n")[:-1]  # a torn last line (killed mid-write) does not count
        return {int(line) for line in lines if line.strip().isdigit()}

    def _mark(self, name: str, index: int) -> None:
        with open(self.path / name, "a") as fh:
            fh.write(f"{index}\n")
            fh.flush()
            os.fsync(fh.fileno())

    def status(self) -> JournalStatus:
        return JournalStatus(total=len(self.ops), done=len(self._read_log("done.log")),
                             undone=(self.path / "UNDONE").exists())

    def apply(self, on_op: Callable[[int, Op], None] | None = None, progress: bool = False) -> int:
        """Apply every op not yet marked done; returns how many were applied now."""
        if self.status().undone:
            raise JournalError(f"{self.path} was undone; plan the command again instead of re-applying it.")
        done = self._read_log("done.log")
        todo = [(i, op) for i, op in enumerate(self.ops) if i not in done]
        from tqdm import tqdm

        for i, op in tqdm(todo, desc=self.plan["command"], unit="file", disable=not progress or not todo):
            apply_op(op)
            self._mark("done.log", i)
            if on_op:
                on_op(i, op)
        return len(todo)

    def undo(self, progress: bool = False) -> int:
        """Reverse every op (last first) and verify each restored file by sha256."""
        if self.status().undone:
            return 0
        reverted = self._read_log("undo.log")
        todo = [(i, op) for i, op in reversed(list(enumerate(self.ops))) if i not in reverted]
        from tqdm import tqdm

        for i, op in tqdm(todo, desc=f"undo {self.plan['command']}", unit="file", disable=not progress or not todo):
            undo_op(op)
            self._mark("undo.log", i)
        for op in self.ops:
            if op.action == "move" and not _matches(Path(op.src), op):
                raise JournalError(f"Undo could not verify {op.src} (sha256 differs).")
        (self.path / "UNDONE").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")
        return len(todo)


def describe_ops(command: str, ops: list[Op], limit: int = 20) -> str:
    """The plan as text without writing a journal (for --dry-run)."""
    lines = [f"{command}: {len(ops)} file operations (dry run: nothing changed)"]
    lines += [f"  {op.action:4s} {op.src} -> {op.dst}" for op in ops[:limit]]
    if len(ops) > limit:
        lines.append(f"  ... and {len(ops) - limit} more")
    return "\n".join(lines)
