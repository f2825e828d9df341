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


MAX_BYTES = 32 * 1024**2


def read_notebook(path: Path, max_bytes: int = MAX_BYTES, lang: str | None = None) -> dict:
    """A submitted notebook's JSON, checked: readable, bounded, JSON, nbformat 4 with a cells
    list. ``InvalidNotebook`` says why not, in ``lang`` (default: the assignment's language)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        data = path.read_bytes() if size <= max_bytes else b""
    except OSError as exc:
        raise InvalidNotebook(tr("nie można odczytać pliku: {e}", "the file cannot be read: {e}",
                                 lang=lang, e=exc.strerror)) from None
    if size > max_bytes:
        raise InvalidNotebook(tr("plik ma {size} bajtów, limit to {limit}", "the file has {size} bytes, the limit "
                                 "is {limit}", lang=lang, size=size, limit=max_bytes))
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidNotebook(tr("plik nie jest poprawnym JSON-em notatnika ({e})",
                                 "the file is not valid notebook JSON ({e})", lang=lang, e=exc)) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise InvalidNotebook(tr("brak listy komórek 'cells'", "there is no 'cells' list", lang=lang))
    if nb.get("nbformat") != 4:
        raise InvalidNotebook(tr("oczekiwano nbformat 4, otrzymano {got!r}", "expected nbformat 4, got {got!r}",
                                 lang=lang, got=nb.get("nbformat")))
    return nb


def load_cells(path: Path, max_bytes: int = MAX_BYTES) -> tuple[dict, list[CodeCell]]:
    """Parse and check a notebook (``read_notebook``); return it and the code cells to execute, in order."""
    nb = read_notebook(path, max_bytes)
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
