"""Lanes: which parts' checks are graded side by side, each in its own copy of the worker.

An assignment lists them in its description, ``lanes = [["data", "loader"], ["model"]]`` in
[assignment]. Once the notebook has run, the worker is copied (forked) once per lane, and each
lane's checks run in their own copy and their own grader process (labkit/grading/lanes.py): one
submission then uses as many cores as it has lanes. The lanes are part of what a verdict means,
not a speed setting: a lane's checks never see what another lane's checks did to the notebook's
objects, on every machine and in every mode (batch, instant feedback, a regrade), so the same
notebook gets the same scores. Without the key every part is in one lane, in the order of the checks.
"""
from __future__ import annotations

from typing import Any

__all__ = ["MAX_LANES", "parse_lanes"]

MAX_LANES = 8   # lane channels handed to a worker at its start (labkit/sandbox/worker_process.py)


def parse_lanes(value: Any, part_ids: tuple[str, ...], where: str) -> tuple[tuple[str, ...], ...]:
    """``value`` (the description's ``lanes``, or None) checked against the notebook's parts: every
    part in exactly one lane. ``()`` means one lane of all parts. ValueError names what is wrong."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(lane, list) and lane for lane in value):
        raise ValueError(f"{where}: lanes = {value!r}: expected a list of non-empty lists of part names")
    if len(value) > MAX_LANES:
        raise ValueError(f"{where}: {len(value)} lanes; at most {MAX_LANES}")
    listed = [str(part) for lane in value for part in lane]
    unknown = sorted(set(listed) - set(part_ids))
    twice = sorted({part for part in listed if listed.count(part) > 1})
    missing = [part for part in part_ids if part not in listed]
    if unknown or twice or missing:
        problems = [f"not parts of the notebook: {unknown}" if unknown else "",
                    f"in two lanes: {twice}" if twice else "", f"in no lane: {missing}" if missing else ""]
        raise ValueError(f"{where}: lanes: {'; '.join(p for p in problems if p)} (parts: {', '.join(part_ids)})")
    return tuple(tuple(str(part) for part in lane) for lane in value)
