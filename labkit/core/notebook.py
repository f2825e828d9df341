"""Reading a submitted notebook on the trusted side: validation and the cells to run."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from labkit.core.cells import cell_source, grade_id, is_autograder_tests
from labkit.core.i18n import tr


class InvalidNotebook(Exception):
    """The file cannot be graded at all; the message says why, for the student."""


@dataclass(frozen=True)
class CodeCell:
    """One code cell the worker will execute, by its position in the notebook."""

    index: int
    source: str
    grade_id: str | None


def load_cells(path: Path, max_bytes: int = 32 * 1024**2) -> tuple[dict, list[CodeCell]]:
    """Parse and check a notebook; return it and the code cells to execute, in order."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidNotebook(tr("nie można odczytać pliku: {e}", "the file cannot be read: {e}",
                                 e=exc.strerror)) from None
    if size > max_bytes:
        raise InvalidNotebook(tr("plik ma {size} bajtów, limit to {limit}",
                                 "the file has {size} bytes, the limit is {limit}", size=size, limit=max_bytes))
    try:
        nb = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidNotebook(tr("plik nie jest poprawnym JSON-em notatnika ({e})",
                                 "the file is not valid notebook JSON ({e})", e=exc)) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise InvalidNotebook(tr("brak listy komórek 'cells'", "there is no 'cells' list"))
    if nb.get("nbformat") != 4:
        raise InvalidNotebook(tr("oczekiwano nbformat 4, otrzymano {got!r}", "expected nbformat 4, got {got!r}",
                                 got=nb.get("nbformat")))
    cells = []
    for index, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or is_autograder_tests(cell):
            continue
        cells.append(CodeCell(index, cell_source(cell), grade_id(cell)))
    return nb, cells


def reference_cells(assignment) -> list[CodeCell]:
    """The assignment's reference as notebook cells (its ``reference_cells`` files, in order,
    with package-relative imports dropped).

    Grading the reference through the same worker path as a student proves the grader
    end to end; sending sources keeps reference/ unmounted in the sandbox.
    """
    cells = []
    for index, (name, source) in enumerate(assignment.reference_sources()):
        lines = [line for line in source.splitlines() if not line.startswith("from .")]
        cells.append(CodeCell(index, "\n".join(lines), f"reference_{Path(name).stem}"))
    return cells
