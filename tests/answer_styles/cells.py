"""What every style shares with the lab's notebook: its imports, the code given in a cell, and
``variant`` (one visible edit of a style)."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "source" / "lab06" / "lab06.ipynb"
_CODE_STARTS = ("def ", "class ", "### BEGIN SOLUTION")


def variant(source: str, old: str, new: str) -> str:
    """source with the one occurrence of old replaced by new (a minimal, visible edit)."""
    if source.count(old) != 1:
        raise ValueError(f"{old!r} occurs {source.count(old)} times")
    return source.replace(old, new)


@cache
def _cells() -> dict[str, str]:
    notebook = json.loads(SOURCE.read_text(encoding="utf-8"))
    return {cell["metadata"]["nbgrader"]["grade_id"]: "".join(cell["source"])
            for cell in notebook["cells"] if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")}


def given_code(grade_id: str) -> str:
    """The lines a student finds at the top of an answer cell (comments, LAB_CONFIG), up to the
    first definition or the solution region: a whole-cell style starts with them, as the
    student's cell does. Read from the notebook, so that a change there reaches every style."""
    lines = _cells()[grade_id].splitlines(keepends=True)
    given = []
    for line in lines:
        if line.startswith(_CODE_STARTS) or line.strip().startswith("### BEGIN SOLUTION"):
            break
        given.append(line)
    return "".join(given)


def notebook_namespace(*sources: str) -> dict:
    """A notebook's globals after its own imports cell and then ``sources``, each run as a cell."""
    namespace: dict = {"__name__": "__main__"}
    for index, source in enumerate((_cells()["imports"], *sources)):
        exec(compile(source, f"<cell {index}>", "exec"), namespace)
    return namespace


def define(source: str, name: str):
    """What one style's cell defines as ``name``, run after the notebook's imports cell (the
    calibration, bench/calibrate.py, measures styles this way, in its own process)."""
    return notebook_namespace(source)[name]
