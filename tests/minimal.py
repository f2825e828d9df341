"""The minimal course (tests/minimal_course/: one tiny assignment, `mini`), copied into a test's
own folder, for tests of the machinery around the verdicts."""
from __future__ import annotations

import shutil
from pathlib import Path

MINIMAL = Path(__file__).parent / "minimal_course"
REPO_ROOT = Path(__file__).resolve().parents[1]


def minimal_course(root: Path, *, config: bool = False) -> Path:
    """``root`` with mini's source notebook and checks (and, with ``config``, the course's own
    nbgrader_config.py, unchanged)."""
    shutil.copytree(MINIMAL / "source", root / "source")
    shutil.copytree(MINIMAL / "grader_tests", root / "grader_tests")
    if config:
        shutil.copy(REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    return root


def describe(root: Path, text: str) -> Path:
    """Append ``text`` (TOML) to mini's description."""
    toml = root / "grader_tests" / "mini" / "assignment.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + text, encoding="utf-8")
    return toml
