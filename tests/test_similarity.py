"""labkit/insight/similarity.py: who copied from whom, on a generated class (tests/similarity_class.py).

Derandomized: the class is a fixed function of its seed, and with a winnowing window of 1 the
scores do not depend on Python's hash seed (checked below). No wall-time assertions here;
the speed budget is bench/bench_similarity.py's.
"""
from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import similarity_class as sc
from labkit.insight import similarity
from labkit.insight.similarity import compare_class, student_code, write_csv

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    return sc.generate_class(tmp_path_factory.mktemp("class"), n_students=40, seed=0)


@pytest.fixture(scope="module")
def report(klass):
    return compare_class(klass.notebooks, release=klass.release, reference=klass.reference)


def _pair_set(pairs) -> set[tuple[str, str]]:
    return {(p.a, p.b) for p in pairs}


# --------------------------------------------------------------------------- the generated class
def test_class_is_built_as_designed(klass):
    assert len(klass.notebooks) == 40
    independent = klass.of_kind("independent")
    assert len(independent) == 31 and len(klass.of_kind("reference")) == 3
    # No two independent students share a non-reference style in more than one cell.
    for a, b in itertools.combinations(independent, 2):
        assert sc.shared_styles(klass.students[a].styles, klass.students[b].styles) <= 1, (a, b)
    sizes = sorted(len(g) for g in klass.groups)
    assert sizes == [2, 2, 2, 2, 3]
    notes = [n for s in klass.students.values() if s.kind == "copy" for n in s.notes]
    for change in ("reordered definitions", "moved helper", "renamed", "rewrote"):
        assert any(change in n for n in notes), change


def test_copies_keep_the_contract_and_rename_the_rest(klass):
    copy = next(s for s in klass.students.values() if s.kind == "copy" and s.added)
    source = klass.students[copy.copy_of]
    text, original = student_code(klass.notebooks[copy.name]), student_code(klass.notebooks[source.name])
    for name in ("def make_rings(", "def make_loader(", "class Klasyfikator(", "def predict(", "def evaluate(",
                 "def train(model, loader, loss_fn, optimizer, n_epochs=4)", "def run_experiment(config, seed=0)",
                 "RESULTS", "BEST_CONFIG"):
        assert name in text
    assert text != original and "# ---- added cell ----" in text


# --------------------------------------------------------------------------- calibration claims
def test_distinct_correct_styles_never_flag_each_other(tmp_path):
    styles = sc.style_students(tmp_path)
    rep = compare_class({name: path for name, (_, _, path) in styles.items()},
                        release=sc.RELEASE, reference=sc.SOURCE, display_floor=0.0)
    assert rep.flagged == []
    for p in rep.pairs:
        if styles[p.a][0] == styles[p.b][0]:
            # Alone in the notebook, without dilution by other cells, and ignoring the guard
            # on small own code: still below the threshold.
            assert p.score < similarity.THRESHOLD, (p.a, p.b, p.score)


def test_the_class_flags_exactly_the_planted_copies(klass, report):
    assert report.skipped == {}
    assert report.students == sorted(klass.notebooks)
    assert _pair_set(report.flagged) == klass.planted_pairs
    assert all(p.score >= report.threshold and p.enough_code and p.tokens > 0 for p in report.flagged)
    cluster = next(g for g in klass.groups if len(g) == 3)
    assert report.clusters == [cluster]
    # A copy's closest classmate is someone of its own group.
    for group in klass.groups:
        for name in group:
            assert report.highest[name][0] in group, name


def test_independent_students_stay_well_below_the_threshold(klass, report):
    independent = set(klass.of_kind("independent"))
    for name in independent:
        other, score = report.highest[name]
        if other in independent:
            assert score < report.threshold - 0.15, (name, other, score)


def test_pairs_are_sorted_and_above_the_display_floor(report):
    scores = [p.score for p in report.pairs]
    assert scores == sorted(scores, reverse=True)
    assert min(scores) >= similarity.DISPLAY_FLOOR
    assert all(p.score == min(p.score_a, p.score_b) for p in report.pairs)


def test_reference_students_are_close_to_the_reference_and_flag_no_one(klass, report):
    refs = klass.of_kind("reference")
    close = {m.student: m for m in report.reference_close}
    assert set(close) == set(refs)
    for name in refs:
        assert close[name].score > 0.99
        assert any(s.matched for s in close[name].segments)
        assert all(name not in (p.a, p.b) for p in report.flagged)
    others = [report.reference_scores[n] for n in klass.notebooks if n not in refs]
    assert max(others) < report.reference_threshold - 0.2


def test_segments_reassemble_into_the_student_code(klass, report):
    assert report.pairs
    for p in report.pairs:
        for name, segments in ((p.a, p.segments_a), (p.b, p.segments_b)):
            assert "".join(s.text for s in segments) == student_code(klass.notebooks[name])
            assert all(s.text for s in segments)
            assert all(x.matched != y.matched for x, y in zip(segments, segments[1:]))  # runs are maximal
        if p in report.flagged:
            matched = sum(len(s.text) for s in p.segments_a if s.matched)
            assert matched > 0.5 * len(student_code(klass.notebooks[p.a]))
    for m in report.reference_close:
        assert "".join(s.text for s in m.segments) == student_code(klass.notebooks[m.student])


# --------------------------------------------------------------------------- edge cases
def test_release_against_itself_flags_nothing(tmp_path):
    rep = compare_class({"a": sc.RELEASE, "b": sc.RELEASE}, release=sc.RELEASE, reference=sc.SOURCE,
                        display_floor=0.0)
    assert rep.flagged == [] and rep.clusters == [] and rep.reference_close == []
    assert rep.highest == {"a": ("b", 0.0), "b": ("a", 0.0)}
    assert rep.reference_scores == {"a": 0.0, "b": 0.0}


def test_too_little_own_code_never_flags(tmp_path):
    # Two students who wrote only the same three-line loader: identical own code, but far
    # too little of it to tell copying from the obvious way to write it.
    cells = {**sc.reference_cells(), "loader_solution": sc.STYLES["loader_solution"][2]}
    books = {n: sc.write_notebook(tmp_path / f"{n}.ipynb", cells) for n in ("a", "b")}
    rep = compare_class(books, release=sc.RELEASE, reference=sc.SOURCE)
    (pair,) = rep.pairs
    assert pair.score >= rep.threshold and not pair.enough_code
    assert max(pair.own_a, pair.own_b) < similarity.MIN_OWN_TOKENS
    assert rep.flagged == []


def test_unreadable_notebooks_are_skipped(klass, tmp_path):
    broken = {
        "not_json": tmp_path / "not_json.ipynb",
        "nbformat3": tmp_path / "nbformat3.ipynb",
        "no_cells": tmp_path / "no_cells.ipynb",
        "missing": tmp_path / "missing.ipynb",
    }
    broken["not_json"].write_text("{ this is not json", encoding="utf-8")
    broken["nbformat3"].write_text(json.dumps({"nbformat": 3, "cells": []}), encoding="utf-8")
    broken["no_cells"].write_text(json.dumps({"nbformat": 4}), encoding="utf-8")
    group = next(g for g in klass.groups if len(g) == 2)
    books = {**{n: klass.notebooks[n] for n in group}, **broken}
    rep = compare_class(books, release=klass.release, reference=klass.reference)
    assert set(rep.skipped) == set(broken)
    assert "JSON" in rep.skipped["not_json"] and "nbformat 4" in rep.skipped["nbformat3"]
    assert "cannot be read" in rep.skipped["missing"]
    assert rep.students == sorted(group)
    assert _pair_set(rep.flagged) == {tuple(sorted(group))}


def test_student_code_takes_solution_and_added_cells_only(tmp_path):
    nb = json.loads(sc.RELEASE.read_text(encoding="utf-8"))
    first = next(i for i, c in enumerate(nb["cells"]) if c.get("metadata", {}).get("nbgrader", {}).get("solution"))
    nb["cells"].insert(first, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                               "source": ["%matplotlib inline\n", "!pip install torch\n", "  %time x = 1\n",
                                          "pomoc = 42\n"]})
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    code = student_code(path)
    assert code.startswith("# ---- added cell ----\npomoc = 42\n")
    assert "%" not in code.split("\n", 2)[1] and "pip install" not in code and "%time" not in code
    assert "# ---- data_solution ----" in code and "# ---- loader_solution ----" in code
    assert "Jawne testy" not in code          # autograder test cells are left out
    assert "torch.set_num_threads" not in code and "def rysuj_punkty" not in code   # locked cells too
    ref = similarity.reference_code(sc.SOURCE)
    assert "BEGIN SOLUTION" not in ref and "END SOLUTION" not in ref
    assert "rng = np.random.default_rng(seed)" in ref and '"""Zwraca (X, y)' in ref


def test_write_csv(klass, report, tmp_path):
    path = write_csv(report, tmp_path / "out" / "similarity.csv")
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    pairs = [r for r in rows if r["kind"] == "pair"]
    refs = [r for r in rows if r["kind"] == "reference"]
    assert {(r["student"], r["other"]) for r in pairs} == klass.planted_pairs
    assert {r["student"] for r in refs} == set(klass.of_kind("reference"))
    assert all(float(r["score"]) >= report.threshold for r in pairs)


def test_scores_do_not_depend_on_the_hash_seed(klass):
    # copydetect hashes k-grams with Python's salted hash(); with a window of 1 every k-gram
    # is kept, so the selection (and every score) must be the same under any PYTHONHASHSEED.
    group = next(g for g in klass.groups if len(g) == 3)
    names = group + klass.of_kind("independent")[:2]
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from labkit.insight.similarity import compare_class\n"
        "books = json.loads(sys.argv[1])\n"
        "rep = compare_class({k: Path(v) for k, v in books.items()}, release=Path(sys.argv[2]),\n"
        "                    reference=Path(sys.argv[3]), display_floor=0.0)\n"
        "print(json.dumps([[p.a, p.b, p.score, p.tokens] for p in rep.pairs] + [rep.reference_scores]))\n"
    )
    args = [json.dumps({n: str(klass.notebooks[n]) for n in names}), str(klass.release), str(klass.reference)]
    outputs = []
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script, *args], env=env, cwd=REPO, capture_output=True,
                              text=True, check=True)
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
