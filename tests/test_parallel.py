"""Parallel and cached grading: same verdicts as one at a time, on a pool and on Dask."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus import CHEAP_CELLS, CHEAP_DEMO
from labkit.grading import fingerprint
from labkit.runner.cache import ResultCache, submission_key
from labkit.runner import parallel
from labkit.core.assignment import load
from labkit.runner.parallel import grade_many
from labkit.core.settings import REPO_ROOT
from labkit.term.submissions import build_submission, release_notebook, solution_sources

pytestmark = pytest.mark.slow

LAB06 = load("lab06", REPO_ROOT)
RELEASE = release_notebook(REPO_ROOT, LAB06.id)


def build(dest: Path, replacements: dict | None = None) -> Path:
    """lab06's release notebook with the reference solutions filled in, the corpus's cheap grid,
    BEST_CONFIG and demonstration cell (tests/corpus.py), then ``replacements``."""
    return build_submission(dest, {**CHEAP_CELLS, **CHEAP_DEMO, **(replacements or {})}, release=RELEASE,
                            source=LAB06.notebook)


def credits(result) -> dict:
    return {(c.part, c.name): c.credit for p in result.parts.values() for c in p.checks}


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("class")
    filled = build(folder / "filled.ipynb")
    release = folder / "release.ipynb"
    release.write_bytes(RELEASE.read_bytes())
    return [filled, release]


@pytest.fixture(scope="module")
def local(notebooks, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    results = grade_many(notebooks, assignment=LAB06, jobs=2, cache=ResultCache(folder), progress=False)
    return results, folder, None


def test_pool_grades_reference_full_and_release_zero(local, notebooks):
    results, _, _ = local
    filled, release = notebooks
    assert results[filled].total == pytest.approx(sum(LAB06.points.values()))
    assert results[release].total == 0.0
    assert {r.assignment for r in results.values()} == {"lab06"}


def test_unchanged_class_is_regraded_from_the_cache(local, notebooks, monkeypatch):
    results, folder, _ = local

    def no_grading(*args, **kwargs):
        raise AssertionError("an unchanged notebook under an unchanged grader was graded again")

    monkeypatch.setattr(parallel, "grade_notebook", no_grading)
    again = grade_many(notebooks, assignment=LAB06, jobs=2, cache=ResultCache(folder), progress=False)
    assert all(again[nb].timings.get("cached") for nb in notebooks)
    assert {nb: credits(r) for nb, r in again.items()} == {nb: credits(r) for nb, r in results.items()}


def test_a_changed_grader_or_notebook_changes_the_key(notebooks, monkeypatch):
    filled, _ = notebooks
    key = submission_key(filled, LAB06)
    monkeypatch.setattr(fingerprint, "engine_digest", lambda: "another engine")
    assert submission_key(filled, LAB06) != key
    monkeypatch.undo()
    # The assignment's own files (checks, reference, description, ...) are part of the grader.
    monkeypatch.setattr(type(LAB06), "digest", lambda self: "other checks")
    assert submission_key(filled, LAB06) != key
    monkeypatch.undo()
    # The same notebook under another assignment (the English twin) is another verdict.
    assert submission_key(filled, load("lab06_en", REPO_ROOT)) != key
    source = solution_sources(LAB06.notebook)["data_solution"]
    edited = build(filled.with_name("edited.ipynb"),
                   {"data_solution": source.replace("sd, size=(n, 2)", "sd * 1.01, size=(n, 2)")})
    assert edited.read_text() != filled.read_text()
    assert submission_key(edited, LAB06) != key
    # Prose is not graded: editing a markdown cell keeps the key (and the cached verdict).
    prose = filled.with_name("prose.ipynb")
    nb = json.loads(filled.read_text())
    markdown = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    markdown["source"] = "Zmieniony opis.\n"
    prose.write_text(json.dumps(nb))
    assert submission_key(prose, LAB06) == key


def test_dask_cluster_gives_the_local_verdicts(local, notebooks):
    distributed = pytest.importorskip("dask.distributed")
    results, _, _ = local
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote = grade_many(notebooks, assignment=LAB06, scheduler=cluster.scheduler_address, progress=False)
    for nb in notebooks:
        assert credits(remote[nb]) == credits(results[nb])


def test_grading_works_from_a_caller_without_a_main_guard(local, notebooks, tmp_path):
    """Grader children must not re-run the caller's __main__ (a script with no guard).

    The release notebook is enough (a grader child and a worker start all the same): the test
    took 17 s with it, 30 s with the filled one. A grader that broke would say so in the flags
    and the checks."""
    import subprocess
    import sys
    _, release = notebooks
    script = tmp_path / "unguarded.py"
    script.write_text("from labkit.core.assignment import load\n"
                      "from labkit.grading.grade import grade_notebook\n"
                      f"r = grade_notebook({str(release)!r}, assignment=load('lab06', {str(REPO_ROOT)!r}))\n"
                      "checks = [c for p in r.parts.values() for c in p.checks]\n"
                      "print('FLAGS', r.flags, 'TOTAL', r.total, 'CHECKS', len(checks),\n"
                      "      'STUB', all('NotImplementedError' in c.message for c in checks if c.part == 'data'))\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    results, _, _ = local
    every_check = len(credits(results[release]))
    assert f"FLAGS [] TOTAL 0.0 CHECKS {every_check} STUB True" in out.stdout, out.stdout + out.stderr[-2000:]
