"""nbgrader's cell metadata, read in one place: what a cell is (a solution, an autograder test,
a manually graded answer), its grade id and its source. Everything else asks here."""
from __future__ import annotations


def nbgrader_meta(cell: dict) -> dict:
    """A cell's nbgrader metadata ({} when it has none or it is malformed): the one reader of it."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("nbgrader", {}) if isinstance(metadata, dict) else {}
    return meta if isinstance(meta, dict) else {}


def grade_id(cell: dict) -> str | None:
    """The cell's nbgrader ``grade_id``, if any."""
    value = nbgrader_meta(cell).get("grade_id")
    return str(value) if value else None


def grade_ids(nb: dict) -> set[str]:
    """Every ``grade_id`` of a notebook's cells."""
    cells = nb.get("cells", []) if isinstance(nb, dict) else []
    return {gid for cell in cells if (gid := grade_id(cell))}


def cell_source(cell: dict) -> str:
    """A cell's source as one string (nbformat allows a list of lines)."""
    source = cell.get("source", "")
    return "".join(str(s) for s in source) if isinstance(source, list) else str(source)


def is_autograder_tests(cell: dict) -> bool:
    """Autograder test cells are replaced by verdicts; they are never executed as student code."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")
