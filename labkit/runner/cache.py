"""Content-addressed cache of verdicts: an unchanged submission is not graded twice.

The key covers everything a verdict depends on: the gradable content of the notebook
(cell layout and the source of every cell the worker runs), the grader's fingerprint
(labkit/grading/fingerprint.py: the assignment's own files, the engine's verdict code, the
settings and the versions of the packages that compute grades). Changing any of them changes
every key, so a stale verdict cannot be reused; editing the report or the LMS paths changes none.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from labkit.core import flags
from labkit.core.assignment import Assignment
from labkit.core.cells import is_autograder_tests, nbgrader_meta
from labkit.core.notebook import InvalidNotebook
from labkit.core.results import SubmissionResult
from labkit.grading.fingerprint import grader_fingerprint

def submission_key(notebook: Path, assignment: Assignment, fingerprint: str | None = None) -> str:
    """Key of a notebook's gradable content under the current grader of ``assignment``.

    ``fingerprint``: ``grader_fingerprint(assignment)`` computed once by a caller that keys a
    whole batch (it reads every file of the assignment)."""
    raw = Path(notebook).read_bytes()
    try:
        nb = json.loads(raw.decode("utf-8"))
        layout = [[c.get("cell_type"), nbgrader_meta(c).get("grade_id"),
                   "" if c.get("cell_type") != "code" or is_autograder_tests(c) else _text(c.get("source", ""))]
                  for c in nb.get("cells", [])]
        content = json.dumps([nb.get("nbformat"), layout], sort_keys=True)
    except (UnicodeDecodeError, ValueError, AttributeError, InvalidNotebook):
        content = raw.hex()  # unparseable: the bytes themselves are the content
    return hashlib.sha256(((fingerprint or grader_fingerprint(assignment)) + content).encode()).hexdigest()


class ResultCache:
    """Verdicts on disk, one JSON file per key."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def get(self, key: str) -> SubmissionResult | None:
        path = self.folder / f"{key}.json"
        if not path.exists():
            return None
        try:
            return SubmissionResult.load(path)
        except (ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, result: SubmissionResult) -> None:
        if flags.TRANSIENT & set(result.flags):
            return  # a grader failure is not a verdict; grade again next time
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.tmp"
        tmp.write_text(result.to_json(), encoding="utf-8")
        tmp.replace(self.folder / f"{key}.json")


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)
