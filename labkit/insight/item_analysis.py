"""Item analysis: which checks and parts the class fails, and whether a check measures skill.

For every hidden check and every part of an assignment, over the class's gradable submissions:
the fail rate with a Wilson 95% interval, the mean score, the discrimination (the corrected
point-biserial correlation of the item with the rest of the student's autograded total) and the
most frequent failure messages. Two kinds of item are flagged for the course team:

- ``hard``: nearly everyone fails it: the lab may be unclear, or the check wrong;
- ``negative_discrimination``: students who do well elsewhere fail it more often than those
  who do badly, the classic sign of a broken check.

Pure computation over ``SubmissionResult``s (no grading, no student code); the report and the
CSV export read the same ``ItemStats`` rows.
"""
from __future__ import annotations

import csv
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from labkit.core.results import PartResult, SubmissionResult

Z95 = 1.959963984540054          # two-sided 95% normal quantile
HARD_FAIL_RATE = 0.9             # "nearly everyone": at least this share fails the item
MIN_STUDENTS_HARD = 5            # below this, a high fail rate is noise, not a signal
NEGATIVE_DISCRIMINATION = -0.2   # a correlation below this is flagged...
MIN_STUDENTS_DISCRIMINATION = 10 # ...once the class is large enough for it to mean something
TOP_MESSAGES = 3
PASS = 1.0 - 1e-9                # credit at or above this is a pass (credits are 0..1 floats)

HARD = "hard"
NEGATIVE = "negative_discrimination"
FLAG_HELP = {
    HARD: f"at least {HARD_FAIL_RATE:.0%} of the class fails it: is the lab unclear, or the check wrong?",
    NEGATIVE: "students strong elsewhere fail it more often than weak ones: check the check",
}
CSV_FIELDS = ["assignment", "part", "check", "students", "failed", "fail_rate", "ci_low", "ci_high",
              "mean", "max", "discrimination", "flags",
              *[f"{k}_{i}" for i in range(1, TOP_MESSAGES + 1) for k in ("message", "count")]]


@dataclass
class ItemStats:
    """One check (``check`` set) or one whole part (``check`` empty) across the class."""

    part: str
    check: str
    students: int
    failed: int
    mean: float                            # a check: mean credit 0..1; a part: mean points
    max: float                             # a check: 1; a part: its points
    discrimination: float | None           # None when either side has no spread
    messages: list[tuple[str, int]] = field(default_factory=list)   # normalized message, count
    flags: list[str] = field(default_factory=list)

    @property
    def fail_rate(self) -> float:
        return self.failed / self.students if self.students else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.failed, self.students)

    @property
    def is_part(self) -> bool:
        return not self.check

    @property
    def label(self) -> str:
        return self.part if self.is_part else f"{self.part}: {self.check}"


@dataclass
class Diagnosed:
    """One likely mistake the grader's diagnoses named, and the students it named it for."""

    part: str
    mistake: str
    message: str                            # one student's wording (the mistake's own text)
    students: list[str] = field(default_factory=list)


@dataclass
class ItemAnalysis:
    """The class's items, parts first in notebook order, each followed by its checks."""

    assignment: str
    students: int                          # submissions analysed
    left_out: list[str]                    # students without a gradable result, and why
    items: list[ItemStats]
    diagnoses: list[Diagnosed] = field(default_factory=list)   # most frequent first

    @property
    def checks(self) -> list[ItemStats]:
        return [i for i in self.items if not i.is_part]

    @property
    def parts(self) -> list[ItemStats]:
        return [i for i in self.items if i.is_part]

    @property
    def flagged(self) -> list[ItemStats]:
        return [i for i in self.items if i.flags]


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (sane at 0/n and n/n, unlike Wald's)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def correlation(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's r; with a 0/1 item it is the point-biserial correlation. None without spread."""
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def normalize_message(message: str) -> str:
    """A failure message with its numbers masked, so "got 0.51" and "got 0.48" count as one."""
    first = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    return _NUMBER.sub("#", first)[:300]


def _check_points(part: PartResult) -> dict[str, float]:
    """Each check's share of the part's points, as the grader weighs it."""
    total = sum(c.weight for c in part.checks)
    return {c.name: (part.max_points * c.weight * c.graded_credit / total if total else 0.0) for c in part.checks}


def _flags(item: ItemStats) -> list[str]:
    flags = []
    if item.students >= MIN_STUDENTS_HARD and item.fail_rate >= HARD_FAIL_RATE:
        flags.append(HARD)
    if (item.students >= MIN_STUDENTS_DISCRIMINATION and item.discrimination is not None
            and item.discrimination < NEGATIVE_DISCRIMINATION):
        flags.append(NEGATIVE)
    return flags


def _item(part: str, check: str, scores: list[float], rests: list[float], top: float,
          messages: Iterable[str]) -> ItemStats:
    failed = sum(1 for s in scores if s < top * PASS)
    item = ItemStats(part=part, check=check, students=len(scores), failed=failed,
                     mean=sum(scores) / len(scores) if scores else 0.0, max=top,
                     discrimination=correlation(scores, rests),
                     messages=Counter(m for m in messages if m).most_common(TOP_MESSAGES))
    item.flags = _flags(item)
    return item


def analyse(results: Mapping[str, SubmissionResult | None], *, assignment: str, parts: list[str]) -> ItemAnalysis:
    """Item statistics over ``results`` (student -> result; None: no result).

    A submission that could not be graded at all (``invalid``) or has no result is left out
    and listed: its zeros say nothing about any one check. Items are scored as graded, before
    any TA override (labkit/term/overrides.py): a check that TAs keep overruling should still show
    up as the check the class fails.
    """
    left_out, graded = [], {}
    for student, result in sorted(results.items()):
        if result is None:
            left_out.append(f"{student}: no result")
        elif result.invalid:
            left_out.append(f"{student}: not gradable")
        else:
            graded[student] = result
    totals = {s: sum(r.parts[p].graded_score for p in parts if p in r.parts) for s, r in graded.items()}
    items: list[ItemStats] = []
    for part in parts:
        having = {s: r.parts[part] for s, r in graded.items() if part in r.parts and r.parts[part].checks}
        if not having:
            continue
        top = next(iter(having.values())).max_points
        scores = [p.graded_score for p in having.values()]
        rests = [totals[s] - p.graded_score for s, p in having.items()]
        failing = [normalize_message(c.message) for p in having.values() for c in p.checks if c.graded_credit < PASS]
        items.append(_item(part, "", scores, rests, top, failing))
        names = list(dict.fromkeys(c.name for p in having.values() for c in p.checks))
        for name in names:
            credits, rests, messages = [], [], []
            for student, p in having.items():
                check = next((c for c in p.checks if c.name == name), None)
                if check is None:
                    continue
                credits.append(check.graded_credit)
                rests.append(totals[student] - _check_points(p)[name])
                if check.graded_credit < PASS:
                    messages.append(normalize_message(check.message))
            items.append(_item(part, name, credits, rests, 1.0, messages))
    return ItemAnalysis(assignment=assignment, students=len(graded), left_out=left_out, items=items,
                        diagnoses=diagnosed(graded))


def diagnosed(results: Mapping[str, SubmissionResult]) -> list[Diagnosed]:
    """How many students each likely mistake was named for ("no zero_grad: 12 students")."""
    found: dict[tuple[str, str], Diagnosed] = {}
    for student, result in sorted(results.items()):
        for d in result.diagnoses:
            key = (str(d.get("part", "")), str(d.get("mistake", "")))
            entry = found.setdefault(key, Diagnosed(key[0], key[1], str(d.get("message", ""))))
            if student not in entry.students:
                entry.students.append(student)
    return sorted(found.values(), key=lambda d: (-len(d.students), d.part, d.mistake))


def write_csv(analysis: ItemAnalysis, path: Path) -> Path:
    """The item table for the instructor: one row per part and per check."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for item in analysis.items:
            low, high = item.interval
            row = {"assignment": analysis.assignment, "part": item.part, "check": item.check,
                   "students": item.students, "failed": item.failed, "fail_rate": f"{item.fail_rate:.4f}",
                   "ci_low": f"{low:.4f}", "ci_high": f"{high:.4f}", "mean": f"{item.mean:.4f}",
                   "max": f"{item.max:g}",
                   "discrimination": "" if item.discrimination is None else f"{item.discrimination:.4f}",
                   "flags": " ".join(item.flags)}
            for i, (message, count) in enumerate(item.messages, start=1):
                row[f"message_{i}"], row[f"count_{i}"] = message, count
            writer.writerow(row)
    return path


DIAGNOSES_FIELDS = ("assignment", "part", "mistake", "students", "share", "student_ids", "message")


def write_diagnoses_csv(analysis: ItemAnalysis, path: Path) -> Path:
    """The named mistakes for the instructor: one row per mistake, most frequent first, with
    who made it (the report's diagnosis table, for a spreadsheet or the next lecture)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=DIAGNOSES_FIELDS)
        writer.writeheader()
        for d in analysis.diagnoses:
            writer.writerow({"assignment": analysis.assignment, "part": d.part, "mistake": d.mistake,
                             "students": len(d.students),
                             "share": f"{len(d.students) / analysis.students:.4f}" if analysis.students else "",
                             "student_ids": " ".join(d.students), "message": d.message})
    return path
