"""Content-addressed cache of verdicts: an unchanged submission is not graded twice.

The key covers everything a verdict depends on: the gradable content of the notebook
(cell layout and the source of every cell the worker runs), the hidden tests, the
reference, the kit's code, the settings and the versions of the packages that compute
grades. Changing any of them changes every key, so a stale verdict cannot be reused.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from labkit.notebook import InvalidNotebook, is_autograder_tests, nbgrader_meta
from labkit.results import SubmissionResult
from labkit.settings import REPO_ROOT, load_settings

PINNED_PACKAGES = ("torch", "numpy", "scikit-learn", "hypothesis", "pytest", "nbgrader", "nbformat")
# Not verdicts: the grader or the host failed, so the next run grades again.
TRANSIENT_FLAGS = {"grader_error", "grader_timeout", "grader_overloaded"}


@lru_cache(maxsize=1)
def _code_digest() -> str:
    digest = hashlib.sha256()
    for folder in ("grader_tests", "reference", "labkit"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    for package in PINNED_PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package}: missing".encode())
    return digest.hexdigest()


def grader_fingerprint() -> str:
    """Hash of the grader: tests, reference, kit code, package versions and settings."""
    settings = json.dumps(dataclasses.asdict(load_settings()), sort_keys=True, default=str)
    return hashlib.sha256((_code_digest() + settings).encode()).hexdigest()


def submission_key(notebook: Path) -> str:
    """Key of a notebook's gradable content under the current grader."""
    raw = Path(notebook).read_bytes()
    try:
        nb = json.loads(raw.decode("utf-8"))
        layout = [[c.get("cell_type"), nbgrader_meta(c).get("grade_id"),
                   "" if c.get("cell_type") != "code" or is_autograder_tests(c) else _text(c.get("source", ""))]
                  for c in nb.get("cells", [])]
        content = json.dumps([nb.get("nbformat"), layout], sort_keys=True)
    except (UnicodeDecodeError, ValueError, AttributeError, InvalidNotebook):
        content = raw.hex()  # unparseable: the bytes themselves are the content
    return hashlib.sha256((grader_fingerprint() + content).encode()).hexdigest()


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
        if TRANSIENT_FLAGS & set(result.flags):
            return  # a grader failure is not a verdict; grade again next time
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.tmp"
        tmp.write_text(result.to_json(), encoding="utf-8")
        tmp.replace(self.folder / f"{key}.json")


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)
