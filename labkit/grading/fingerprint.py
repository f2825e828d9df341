"""What a verdict depends on, as one hash: the grader's fingerprint.

The verdict cache (labkit/runner/cache.py) and the reference memo (labkit/grading/memo.py)
key on it. It covers the assignment's own files, the settings, the versions of the packages
that compute grades, and exactly the engine's packages that can change a verdict: those that
run the notebook, the checks and their messages (``VERDICT_PACKAGES``). The report, the LMS
paths, the term's rules and the CLI are outside it: editing them keeps every cached verdict.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from labkit.core.assignment import Assignment
from labkit.core.settings import load_settings

PINNED_PACKAGES = ("torch", "numpy", "scikit-learn", "hypothesis", "pytest", "nbgrader", "nbformat")
# The engine's packages a verdict is computed by (labkit/<name>/): the model and its messages,
# the wire, the worker, the sandbox's limits and the grading itself.
VERDICT_PACKAGES = ("core", "protocol", "worker", "sandbox", "grading")
KIT = Path(__file__).resolve().parent.parent


def verdict_files() -> list[Path]:
    """The engine's files that can change a verdict, in a stable order."""
    files = [KIT / "__init__.py"]
    for package in VERDICT_PACKAGES:
        files += [p for p in (KIT / package).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(files)


@lru_cache(maxsize=1)
def engine_digest() -> str:
    """The verdict packages' code and the versions of the packages that compute grades."""
    digest = hashlib.sha256()
    for path in verdict_files():
        digest.update(str(path.relative_to(KIT)).encode())
        digest.update(path.read_bytes())
    for package in PINNED_PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package}: missing".encode())
    return digest.hexdigest()


def grader_fingerprint(assignment: Assignment) -> str:
    """Hash of the grader: the assignment's own files (description, checks, reference, helpers,
    templates, source notebook), the engine's verdict code, package versions and settings."""
    settings = json.dumps(dataclasses.asdict(load_settings()), sort_keys=True, default=str)
    return hashlib.sha256((engine_digest() + assignment.digest() + settings).encode()).hexdigest()
