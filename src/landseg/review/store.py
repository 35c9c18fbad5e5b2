"""The decision store: ``DIR/review.sqlite``, one row per decision ever made.

Every decision is committed (WAL, ``synchronous=FULL``) before the API answers, so a reviewer can
close the tab or the server can be killed at any moment without losing a click. History is kept;
the latest row per image is the decision that counts.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from landseg.correction import CHOICES, DECISION_COLUMNS
from landseg.correction.decision import Decision
from landseg.errors import LandsegError
from landseg.utils import atomic_write_text

STORE_NAME = "review.sqlite"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS decisions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    image      TEXT NOT NULL,
    choice     TEXT NOT NULL CHECK (choice IN ({", ".join(repr(c) for c in CHOICES)})),
    reviewer   TEXT NOT NULL,
    time       TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    prediction TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS decisions_image ON decisions (image, id);
"""


def utc_now() -> str:
    """ISO 8601 UTC with a ``Z``, e.g. ``2026-11-23T10:00:00Z`` (sortable, unambiguous)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DecisionStore:
    """Append-only decision log in SQLite, safe to share between the server's worker threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            # Autocommit mode: every INSERT is its own durable transaction unless batched explicitly.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise LandsegError(f"cannot open the review store {self.path}: {exc}. "
                               "Move the damaged file away to start a fresh review.") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> DecisionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _check(d: Decision) -> None:
        if d.choice not in CHOICES:
            raise ValueError(f"choice {d.choice!r} is not one of {', '.join(CHOICES)}.")
        if not d.image:
            raise ValueError("a decision needs an image name.")

    def add(self, image: str, choice: str, reviewer: str, note: str = "", prediction: str = "",
            time: str | None = None) -> Decision:
        """Record one decision and commit it before returning."""
        d = Decision(image, choice, reviewer, time or utc_now(), note, prediction)
        self.add_many([d])
        return d

    def add_many(self, decisions: Iterable[Any]) -> list[Decision]:
        """Record several decisions in one transaction (all or none)."""
        rows = [Decision.coerce(d) for d in decisions]
        for d in rows:
            self._check(d)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO decisions (image, choice, reviewer, time, note, prediction) VALUES (?,?,?,?,?,?)",
                    [tuple(asdict(d)[k] for k in DECISION_COLUMNS) for d in rows])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return rows

    def _select(self, sql: str, args: tuple = ()) -> list[Decision]:
        with self._lock:
            cur = self._db.execute(sql, args)
            return [Decision(*row) for row in cur.fetchall()]

    def latest(self) -> dict[str, Decision]:
        """The decision that counts for every decided image (the most recent one)."""
        rows = self._select(
            "SELECT image, choice, reviewer, time, note, prediction FROM decisions d "
            "WHERE id = (SELECT MAX(id) FROM decisions WHERE image = d.image) ORDER BY image")
        return {d.image: d for d in rows}

    def history(self, image: str) -> list[Decision]:
        """Every decision ever made for ``image``, oldest first."""
        return self._select("SELECT image, choice, reviewer, time, note, prediction FROM decisions "
                            "WHERE image = ? ORDER BY id", (image,))

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])

    def export_csv(self, path: str | Path) -> int:
        """Write the latest decision per image (sorted by image) as decisions.csv; returns the row count."""
        latest = self.latest()
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=DECISION_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for d in latest.values():
            writer.writerow(asdict(d))
        atomic_write_text(path, buf.getvalue())
        return len(latest)
