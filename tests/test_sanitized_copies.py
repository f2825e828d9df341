"""labkit/nbgrader_ext/sanitized_copies.py: the prefetch grades what nbgrader's sanitizing pass
leaves, so a student who edited a locked cell is graded once, not once more at nbgrader's visit."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from labkit.core.assignment import load
from labkit.term.submissions import build_submission, release_notebook
from minimal import minimal_course
from nbgrader_cli import nbgrader

pytestmark = pytest.mark.slow
GIVEN = {"cell_type": "code", "execution_count": None, "outputs": [], "source": "SCALE = 1  # given\n",
         "metadata": {"nbgrader": {"schema_version": 3, "grade_id": "given", "locked": True, "solution": False,
                                   "grade": False, "task": False}}}


def _course(root: Path) -> dict:
    minimal_course(root, config=True)
    source = root / "source" / "mini" / "mini.ipynb"
    nb = json.loads(source.read_text(encoding="utf-8"))
    nb["cells"].insert(1, GIVEN)                      # a locked cell the student should leave alone
    source.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def test_a_student_who_edited_a_locked_cell_is_graded_once(tmp_path):
    root = tmp_path / "course"
    env = _course(root)
    assert nbgrader(["generate_assignment", "mini", "--force"], cwd=root, env=env).returncode == 0
    release, source = release_notebook(root, "mini"), load("mini", root).notebook
    # Two different correct answers (one verdict each); bartek also edited the locked cell.
    other_style = ("def weighted_mean(values, weights):\n"
                   "    return sum(v * w for v, w in zip(values, weights)) / sum(weights)\n")
    for student, edit in (("ala", {}), ("bartek", {"given": "SCALE = 1000  # zmienione\n",
                                                    "mean_solution": other_style})):
        build_submission(root / "submitted" / student / "mini" / "mini.ipynb", edit, release=release, source=source)
    cache = tmp_path / "cache"
    run = nbgrader(["autograde", "mini", "--force", f"--GradeInWorker.cache_dir={cache}"], cwd=root, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    # One verdict per student: bartek's was prefetched with the locked cell as nbgrader restores
    # it, so the visit found it. Grading his cell as he left it would add a third entry.
    assert len(list(cache.glob("*.json"))) == 2
    autograded = json.loads((root / "autograded" / "bartek" / "mini" / "mini.ipynb").read_text(encoding="utf-8"))
    assert "SCALE = 1  # given" in "".join("".join(c["source"]) for c in autograded["cells"])
    results = {p.stem: json.loads(p.read_text()) for p in (root / "reports" / "results" / "mini").glob("*.json")}
    assert {s: sum(c["credit"] for c in r["parts"]["mean"]["checks"]) > 0 for s, r in results.items()} == \
        {"ala": True, "bartek": True}
