"""What became of every inbound entry: the service's memory across restarts.

SQLite in WAL mode, one transaction per change. An entry goes

    queued -> grading -> released                 (instant feedback out)
    queued -> superseded                          (a newer one of the same student came first)
    queued -> grading -> over_budget              (the day's attempts used up: collected, not graded)
    queued -> grading -> failed                   (nbgrader refused it; the reason is kept)
    grading -> queued | held                      (the service died during it: once is retried,
                                                   twice is held for a TA)
    refused                                       (a link, a forged owner, too big: moved aside)

Claims are fair: the next entry belongs to the student served longest ago, so a student who
submits in a loop waits their turn behind everyone else, and only their newest entry is graded.
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from nbgrader.utils import parse_utc

from labkit.service.inbound import InboundEntry

__all__ = ["Claim", "Journal", "State", "HOLD_AFTER_CRASHES"]

HOLD_AFTER_CRASHES = 2


class State(StrEnum):
    QUEUED = "queued"
    GRADING = "grading"
    RELEASED = "released"
    SUPERSEDED = "superseded"
    OVER_BUDGET = "over_budget"
    FAILED = "failed"
    HELD = "held"
    REFUSED = "refused"               # not collectable as written (moved aside in inbound, for a TA)


@dataclass(frozen=True)
class Claim:
    name: str
    student: str
    assignment: str
    superseded: tuple[str, ...]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    name TEXT PRIMARY KEY, student TEXT NOT NULL, assignment TEXT NOT NULL,
    submitted TEXT NOT NULL,            -- the entry's timestamp as UTC ISO 8601 (its order)
    seen REAL NOT NULL, state TEXT NOT NULL, crashes INTEGER NOT NULL DEFAULT 0,
    attempt INTEGER, started REAL, finished REAL, note TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS served (
    student TEXT NOT NULL, assignment TEXT NOT NULL, last REAL NOT NULL, PRIMARY KEY (student, assignment));
CREATE INDEX IF NOT EXISTS by_state ON entries (state, student, assignment);
"""


class Journal:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection per journal; the service's one loop uses it. A TA's status command
        # opens its own, read-only in effect.
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")   # a finished entry survives a power cut
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _transaction(self):
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def add(self, entries: list[InboundEntry], now: float | None = None) -> int:
        """Record entries not seen before as queued; how many were new."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO entries (name, student, assignment, submitted, seen, state) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           [(e.name, e.student, e.assignment, parse_utc(e.timestamp).isoformat(), now, State.QUEUED)
                            for e in entries])
            return db.total_changes - before

    def refuse(self, name: str, student: str, assignment: str, reason: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO entries (name, student, assignment, submitted, seen, state, finished, note) "
                       "VALUES (?, ?, ?, '', ?, ?, ?, ?)", (name, student, assignment, now, State.REFUSED, now, reason))

    def recover(self) -> list[tuple[str, State]]:
        """After a restart: entries left in grading go back to the queue, or to a TA when they
        were being graded at two deaths of the service."""
        moved = []
        with self._transaction() as db:
            for name, crashes in db.execute("SELECT name, crashes FROM entries WHERE state = ?", (State.GRADING,)).fetchall():
                state = State.HELD if crashes + 1 >= HOLD_AFTER_CRASHES else State.QUEUED
                note = "the service died twice while grading it" if state is State.HELD else ""
                db.execute("UPDATE entries SET state = ?, crashes = crashes + 1, note = ? WHERE name = ?",
                           (state, note, name))
                moved.append((name, state))
        return moved

    def claim(self, now: float | None = None) -> Claim | None:
        """The next entry to grade (marked grading), its student's older queued ones superseded.

        A student whose earlier entry is still being graded waits: their submitted folder
        holds that entry until its feedback is out, and a newer one would be collected over it."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            turn = db.execute(
                "SELECT e.student, e.assignment FROM entries e LEFT JOIN served s "
                "ON s.student = e.student AND s.assignment = e.assignment WHERE e.state = ? "
                "AND NOT EXISTS (SELECT 1 FROM entries g WHERE g.state = ? AND g.student = e.student "
                "AND g.assignment = e.assignment) "
                "GROUP BY e.student, e.assignment ORDER BY COALESCE(MAX(s.last), 0), MIN(e.seen) LIMIT 1",
                (State.QUEUED, State.GRADING)).fetchone()
            if turn is None:
                return None
            rows = db.execute("SELECT name FROM entries WHERE state = ? AND student = ? AND assignment = ? "
                              "ORDER BY submitted DESC, name DESC", (State.QUEUED, *turn)).fetchall()
            newest, older = rows[0][0], tuple(r[0] for r in rows[1:])
            db.execute("UPDATE entries SET state = ?, started = ? WHERE name = ?", (State.GRADING, now, newest))
            db.executemany("UPDATE entries SET state = ?, finished = ?, note = ? WHERE name = ?",
                           [(State.SUPERSEDED, now, f"a newer submission ({newest}) was graded", n) for n in older])
            return Claim(newest, turn[0], turn[1], older)

    def finish(self, name: str, state: State, *, note: str = "", attempt: int | None = None,
               now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._transaction() as db:
            row = db.execute("SELECT student, assignment FROM entries WHERE name = ?", (name,)).fetchone()
            db.execute("UPDATE entries SET state = ?, note = ?, attempt = COALESCE(?, attempt), finished = ? "
                       "WHERE name = ?", (state, note, attempt, now, name))
            db.execute("INSERT INTO served (student, assignment, last) VALUES (?, ?, ?) "
                       "ON CONFLICT (student, assignment) DO UPDATE SET last = excluded.last", (*row, now))

    def attempts(self, student: str, assignment: str, since: float) -> int:
        """Graded attempts (feedback released) of a student since ``since`` (a time.time())."""
        return self._db.execute("SELECT COUNT(*) FROM entries WHERE student = ? AND assignment = ? AND state = ? "
                                "AND started >= ?", (student, assignment, State.RELEASED, since)).fetchone()[0]

    def graded_attempts(self, student: str, assignment: str) -> int:
        return self._db.execute("SELECT COUNT(*) FROM entries WHERE student = ? AND assignment = ? AND state = ?",
                                (student, assignment, State.RELEASED)).fetchone()[0]

    def rows(self) -> list[dict]:
        cursor = self._db.execute("SELECT * FROM entries ORDER BY seen, name")
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def close(self) -> None:
        self._db.close()
