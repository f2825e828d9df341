"""What the service is doing: queued, being graded and done, per student and overall."""
from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass

from labkit.service.journal import State

__all__ = ["Status", "status_of"]


@dataclass
class Status:
    counts: dict[str, int]
    queue: list[dict]                 # waiting students in the order they will be served
    grading: list[dict]
    students: dict[str, dict]         # student -> their newest entry's state, attempts, note
    seconds_per_grading: float | None  # median of the released gradings

    def lines(self) -> list[str]:
        out = ["  ".join(f"{state}: {n}" for state, n in self.counts.items() if n) or "nothing yet"]
        per = self.seconds_per_grading
        for row in self.grading:
            out.append(f"grading  {row['student']:<20} {row['assignment']:<12} since {row['waited']:.0f} s")
        for position, row in enumerate(self.queue, 1):
            wait = f"~{per * position:.0f} s" if per else "?"
            out.append(f"queued   {row['student']:<20} {row['assignment']:<12} #{position}, expected wait {wait}")
        for student, row in sorted(self.students.items()):
            note = f"  ({row['note']})" if row["note"] else ""
            out.append(f"{student:<20} {row['assignment']:<12} {row['state']:<12} attempts {row['attempts']}{note}")
        return out


def status_of(rows: list[dict], now: float | None = None) -> Status:
    """From the journal's rows: the queue in the order ``Journal.claim`` will serve it."""
    now = time.time() if now is None else now
    counts = {state.value: 0 for state in State}
    for row in rows:
        counts[row["state"]] += 1
    served: dict[tuple[str, str], float] = {}
    for row in rows:
        if row["finished"] is not None and row["state"] != State.SUPERSEDED:
            key = (row["student"], row["assignment"])
            served[key] = max(served.get(key, 0.0), row["finished"])
    waiting: dict[tuple[str, str], dict] = {}
    for row in rows:
        if row["state"] == State.QUEUED:
            key = (row["student"], row["assignment"])
            waiting.setdefault(key, {"student": row["student"], "assignment": row["assignment"], "seen": row["seen"]})
    queue = sorted(waiting.values(), key=lambda r: (served.get((r["student"], r["assignment"]), 0.0), r["seen"]))
    grading = [{"student": r["student"], "assignment": r["assignment"], "waited": now - (r["started"] or now)}
               for r in rows if r["state"] == State.GRADING]
    released = Counter(r["student"] for r in rows if r["state"] == State.RELEASED)
    students: dict[str, dict] = {}
    for row in rows:   # rows come in the order they were seen: the last one is the newest
        students[row["student"]] = {"assignment": row["assignment"], "state": row["state"],
                                    "attempts": released[row["student"]], "note": row["note"]}
    times = [r["finished"] - r["started"] for r in rows if r["state"] == State.RELEASED and r["started"]]
    return Status(counts, queue, grading, students, statistics.median(times) if times else None)
