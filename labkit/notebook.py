"""Reading a submitted notebook on the trusted side: validation and the cells to run."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


class InvalidNotebook(Exception):
    """The file cannot be graded at all; the message says why, for the student."""


@dataclass(frozen=True)
class CodeCell:
    """One code cell the worker will execute, by its position in the notebook."""

    index: int
    source: str
    grade_id: str | None


def nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def is_autograder_tests(cell: dict) -> bool:
    """Autograder test cells are replaced by verdicts; they are never executed as student code."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def load_cells(path: Path, max_bytes: int = 32 * 1024**2) -> tuple[dict, list[CodeCell]]:
    """Parse and check a notebook; return it and the code cells to execute, in order."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidNotebook(f"nie można odczytać pliku: {exc.strerror}") from None
    if size > max_bytes:
        raise InvalidNotebook(f"plik ma {size} bajtów, limit to {max_bytes}")
    try:
        nb = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidNotebook(f"plik nie jest poprawnym JSON-em notatnika ({exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise InvalidNotebook("brak listy komórek 'cells'")
    if nb.get("nbformat") != 4:
        raise InvalidNotebook(f"oczekiwano nbformat 4, otrzymano {nb.get('nbformat')!r}")
    cells = []
    for index, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or is_autograder_tests(cell):
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        cells.append(CodeCell(index, str(source), nbgrader_meta(cell).get("grade_id")))
    return nb, cells


REFERENCE_MODULES = ("data", "model", "evaluation", "training", "experiments")
REFERENCE_RESULTS_CELL = '''RESULTS = []
for factor, config in experiment_grid():
    outcome = run_experiment(config, seed=0)
    RESULTS.append({"factor": factor, "config": config, "seed": 0,
                    "test_accuracy": outcome["test_accuracy"]})
'''


def reference_cells() -> list[CodeCell]:
    """reference/ as notebook cells (relative imports dropped), plus the RESULTS sweep.

    Grading the reference through the same worker path as a student proves the grader
    end to end; sending sources keeps reference/ unmounted in the sandbox.
    """
    from labkit.settings import REPO_ROOT
    cells = []
    for index, name in enumerate(REFERENCE_MODULES):
        source = (REPO_ROOT / "reference" / f"{name}.py").read_text(encoding="utf-8")
        lines = [line for line in source.splitlines() if not line.startswith("from .")]
        cells.append(CodeCell(index, "\n".join(lines), f"reference_{name}"))
    cells.append(CodeCell(len(cells), REFERENCE_RESULTS_CELL, "reference_results"))
    return cells
