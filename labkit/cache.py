"""Content-addressed cache of verdicts: an unchanged submission is not graded twice.

The key covers everything a verdict depends on: the gradable content of the notebook
(cell layout and the source of every cell the worker runs), the assignment's own files
(description, hidden checks, reference, worker helpers, source notebook), the engine's code,
the settings and the versions of the packages that compute grades. Changing any of them changes every key, so a stale verdict cannot be reused.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from labkit import flags
from labkit.assignment import Assignment
from labkit.notebook import InvalidNotebook, is_autograder_tests, nbgrader_meta
from labkit.results import SubmissionResult
from labkit.settings import load_settings

PINNED_PACKAGES = ("torch", "numpy", "scikit-learn", "hypothesis", "pytest", "nbgrader", "nbformat")


@lru_cache(maxsize=1)
def _engine_digest() -> str:
    """The engine's own code and the versions of the packages that compute grades."""
    digest = hashlib.sha256()
    kit = Path(__file__).resolve().parent
    for path in sorted(kit.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(kit)).encode())
            digest.update(path.read_bytes())
    for package in PINNED_PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package}: missing".encode())
    return digest.hexdigest()


def grader_fingerprint(assignment: Assignment) -> str:
    """Hash of the grader: the assignment's own files (description, checks, reference, helpers,
    templates, source notebook), the engine's code, package versions and settings."""
    settings = json.dumps(dataclasses.asdict(load_settings()), sort_keys=True, default=str)
    return hashlib.sha256((_engine_digest() + assignment.digest() + settings).encode()).hexdigest()


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
