"""The journal: atomic, resumable from any partial state, undone byte for byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from landseg.curation.journal import Journal, JournalError, Op, apply_op, undo_op


def tree(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file, skipping landseg's own bookkeeping."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".landseg" not in p.parts}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    for i in range(5):
        (root / "images_png").mkdir(parents=True, exist_ok=True)
        (root / "images_png" / f"t{i}.png").write_bytes(bytes([i]) * (1000 + i))
    return root


def test_apply_and_undo_round_trip(files: Path, tmp_path: Path) -> None:
    before = tree(files)
    ops = [Op.plan("move", p, tmp_path / "backup" / p.name) for p in sorted((files / "images_png").iterdir())[:3]]
    ops.append(Op.plan("copy", files / "images_png/t3.png", files / "copies/t3.png"))
    ops.append(Op.plan("link", files / "images_png/t4.png", files / "links/t4.png"))
    j = Journal.create(files, "test", "sig", ops)
    assert j.apply() == 5 and j.status().complete
    assert not (files / "images_png/t0.png").exists() and (tmp_path / "backup/t0.png").exists()
    assert (files / "links/t4.png").stat().st_ino == (files / "images_png/t4.png").stat().st_ino
    assert j.apply() == 0  # idempotent
    j.undo()
    assert tree(files) == before
    assert not any((tmp_path / "backup").iterdir())
    assert j.status().undone


@pytest.mark.parametrize("state", ["dst_done_src_left", "tmp_left", "nothing_done"])
def test_move_resumes_from_any_partial_state(files: Path, tmp_path: Path, state: str) -> None:
    src = files / "images_png/t1.png"
    dst = tmp_path / "b/t1.png"
    op = Op.plan("move", src, dst)
    dst.parent.mkdir(parents=True)
    if state == "dst_done_src_left":  # a cross-device move killed after the copy, before the unlink
        dst.write_bytes(src.read_bytes())
    elif state == "tmp_left":  # killed while writing the temp file
        (dst.parent / f".{dst.name}.landseg-tmp").write_bytes(b"partial")
    apply_op(op)
    assert not src.exists() and dst.read_bytes() == bytes([1]) * 1001
    assert not (dst.parent / f".{dst.name}.landseg-tmp").exists()
    undo_op(op)
    assert src.read_bytes() == bytes([1]) * 1001 and not dst.exists()


def test_changed_source_is_refused(files: Path, tmp_path: Path) -> None:
    op = Op.plan("move", files / "images_png/t0.png", tmp_path / "b/t0.png")
    (files / "images_png/t0.png").write_bytes(b"edited since the plan")
    with pytest.raises(JournalError, match="changed since the plan"):
        apply_op(op)
    assert (files / "images_png/t0.png").read_bytes() == b"edited since the plan"


def test_never_overwrites_other_content(files: Path, tmp_path: Path) -> None:
    dst = tmp_path / "b/t0.png"
    dst.parent.mkdir(parents=True)
    dst.write_bytes(b"someone else's file")
    with pytest.raises(JournalError, match="Refusing to overwrite"):
        apply_op(Op.plan("move", files / "images_png/t0.png", dst))
    assert dst.read_bytes() == b"someone else's file" and (files / "images_png/t0.png").exists()


def test_undo_refuses_to_delete_a_modified_copy(files: Path) -> None:
    op = Op.plan("copy", files / "images_png/t0.png", files / "c/t0.png")
    apply_op(op)
    (files / "c/t0.png").write_bytes(b"edited")
    with pytest.raises(JournalError, match="Refusing to delete"):
        undo_op(op)


def test_torn_progress_line_is_redone(files: Path, tmp_path: Path) -> None:
    ops = [Op.plan("move", p, tmp_path / "b" / p.name) for p in sorted((files / "images_png").iterdir())]
    j = Journal.create(files, "test", "sig", ops)
    apply_op(ops[0])
    (j.path / "done.log").write_text("0\n1")  # killed while writing op 1's line: it must not count
    assert j.status().done == 1
    assert j.apply() == 4
    assert all(Path(o.dst).exists() for o in ops) and j.status().complete


def test_unfinished_journal_of_another_command_blocks(files: Path, tmp_path: Path) -> None:
    op = Op.plan("move", files / "images_png/t0.png", tmp_path / "b/t0.png")
    Journal.create(files, "filter", "sig-a", [op])
    assert Journal.resume_or_check(files, "sig-a") is not None
    with pytest.raises(JournalError, match="unfinished change: filter.*landseg undo"):
        Journal.resume_or_check(files, "sig-b")
