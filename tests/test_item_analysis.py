"""Item analysis (labkit/insight/item_analysis.py): classes whose answers are known by construction."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from labkit.insight import item_analysis as ia
from labkit.core.results import CheckResult, PartResult, SubmissionResult, failed_submission

FIXTURES = Path(__file__).parent / "fixtures" / "report"
PARTS = ["data", "loader", "model", "loss", "training", "experiments"]
# A class of 40 built from three graded submissions of lab06 (the grader's own result JSONs):
# 28 correct, 8 without zero_grad (5 of 6 training checks and 3 of 8 experiments checks fail),
# 4 untouched releases (everything fails).
CLASS = {"ala_reference": 28, "darek_no_zero_grad": 8, "bartek_untouched": 4}


def _fixture(name: str) -> SubmissionResult:
    return SubmissionResult.from_json((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def _class_of_40() -> dict[str, SubmissionResult]:
    return {f"{name}_{i:02d}": _fixture(name) for name, count in CLASS.items() for i in range(count)}


def _row(analysis: ia.ItemAnalysis, part: str, check: str = "") -> ia.ItemStats:
    [item] = [i for i in analysis.items if i.part == part and i.check == check]
    return item


# --------------------------------------------------------------------------- statistics


def test_wilson_interval_matches_the_textbook_values():
    # Known values (Newcombe 1998, table I): 0/10 -> [0, 0.2775]; 81/263 -> [0.2553, 0.3662].
    low, high = ia.wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = ia.wilson(81, 263)
    assert (low, high) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))
    assert ia.wilson(10, 10)[1] == pytest.approx(1.0) and ia.wilson(10, 10)[0] == pytest.approx(0.7225, abs=1e-4)


def test_correlation_is_pearsons_r_and_none_without_spread():
    assert ia.correlation([0, 1, 0, 1], [1, 3, 1, 3]) == pytest.approx(1.0)
    assert ia.correlation([1, 0, 1, 0], [1, 3, 1, 3]) == pytest.approx(-1.0)
    assert ia.correlation([1, 1, 1], [1, 2, 3]) is None       # everyone passed: no discrimination
    xs, ys = [0, 1, 1, 0, 1], [2.0, 5.0, 3.0, 1.0, 4.0]
    mx, my = sum(xs) / 5, sum(ys) / 5
    r = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(
        sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))
    assert ia.correlation(xs, ys) == pytest.approx(r)


def test_messages_that_differ_only_in_numbers_count_as_one():
    a = ia.normalize_message("oczekiwano 0.5, otrzymano 0.4812\nszczegóły")
    b = ia.normalize_message("oczekiwano 0.5, otrzymano 1e-3")
    assert a == b == "oczekiwano #, otrzymano #"


# --------------------------------------------------------------------------- a class of 40


def test_fail_rates_are_the_ones_the_class_was_built_with():
    analysis = ia.analyse(_class_of_40(), assignment="lab06", parts=PARTS)
    assert analysis.students == 40 and analysis.left_out == []
    # Parts: only the untouched fail data..loss; training and experiments also lose darek's 8.
    for part in ("data", "loader", "model", "loss"):
        assert (_row(analysis, part).failed, _row(analysis, part).fail_rate) == (4, 0.1), part
    assert _row(analysis, "training").failed == 12 and _row(analysis, "experiments").failed == 12
    # Checks: the one training check darek passes fails only for the untouched 4.
    training = [i for i in analysis.checks if i.part == "training"]
    assert sorted(i.failed for i in training) == [4, 12, 12, 12, 12, 12]
    experiments = [i for i in analysis.checks if i.part == "experiments"]
    assert sorted(i.failed for i in experiments) == [4] * 5 + [12] * 3
    assert len(analysis.checks) == 9 + 6 + 6 + 4 + 6 + 8
    lands = _row(analysis, "training", "test_train_lands_on_reference_parameters")
    assert lands.fail_rate == pytest.approx(0.3) and lands.mean == pytest.approx(0.7)
    assert lands.interval == pytest.approx(ia.wilson(12, 40))


def test_the_most_frequent_messages_are_counted_with_their_numbers_masked():
    analysis = ia.analyse(_class_of_40(), assignment="lab06", parts=PARTS)
    results_keys = _row(analysis, "experiments", "test_results_rows_have_the_contract_keys")
    message, count = results_keys.messages[0]
    assert count == 8 and "RESULTS" in message and "#" in message   # darek's 8, "length 0" masked
    assert sum(c for _, c in results_keys.messages) == 12
    assert len(_row(analysis, "training").messages) == ia.TOP_MESSAGES


def test_a_check_that_strong_students_fail_has_negative_discrimination():
    """20 students; 'suspect' is failed by exactly the 10 best (by the rest of their work)."""
    results = {}
    for i in range(20):
        strong = i >= 10
        other = [CheckResult("p", f"c{k}", 1.0, 1.0 if k < (7 + i % 4 if strong else 2 + i % 4) else 0.0,
                             "passed") for k in range(10)]
        suspect = CheckResult("q", "suspect", 1.0, 0.0 if strong else 1.0,
                              "failed" if strong else "passed", "oczekiwano 1, otrzymano 2")
        results[f"s{i:02d}"] = SubmissionResult("nb", {"p": PartResult("p", 10.0, other),
                                                       "q": PartResult("q", 1.0, [suspect])})
    analysis = ia.analyse(results, assignment="x", parts=["p", "q"])
    suspect = _row(analysis, "q", "suspect")
    assert suspect.discrimination is not None and suspect.discrimination < ia.NEGATIVE_DISCRIMINATION
    assert ia.NEGATIVE in suspect.flags and ia.HARD not in suspect.flags
    # The ordinary checks of part p discriminate positively and carry no flag.
    assert all(i.discrimination is None or i.discrimination >= 0 for i in analysis.checks if i.part == "p")
    assert not [i for i in analysis.checks if i.part == "p" and i.flags]


def test_a_check_nearly_everyone_fails_is_flagged_hard_and_an_easy_one_is_not():
    results = {}
    for i in range(10):
        checks = [CheckResult("p", "hard_one", 1.0, 0.0 if i else 1.0, "failed" if i else "passed"),
                  CheckResult("p", "easy_one", 1.0, 1.0, "passed")]
        results[f"s{i}"] = SubmissionResult("nb", {"p": PartResult("p", 2.0, checks)})
    analysis = ia.analyse(results, assignment="x", parts=["p"])
    assert _row(analysis, "p", "hard_one").flags == [ia.HARD]
    assert _row(analysis, "p", "easy_one").flags == [] and _row(analysis, "p", "easy_one").discrimination is None


def test_ungradable_submissions_are_left_out_and_named():
    from labkit.core.assignment import load
    from labkit.core.settings import REPO_ROOT
    results = _class_of_40()
    results["zed_broken"] = failed_submission("nb", "not JSON", "invalid_notebook", load("lab06", REPO_ROOT))
    results["yan_missing"] = None
    analysis = ia.analyse(results, assignment="lab06", parts=PARTS)
    assert analysis.students == 40
    assert analysis.left_out == ["yan_missing: no result", "zed_broken: not gradable"]
    assert _row(analysis, "data").failed == 4


def test_item_csv_has_a_row_per_part_and_check(tmp_path):
    analysis = ia.analyse(_class_of_40(), assignment="lab06", parts=PARTS)
    path = ia.write_csv(analysis, tmp_path / "items.csv")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ia.CSV_FIELDS
        rows = list(reader)
    assert len(rows) == len(PARTS) + len(analysis.checks)
    lands = next(r for r in rows if r["check"] == "test_train_lands_on_reference_parameters")
    assert (lands["students"], lands["failed"], lands["fail_rate"]) == ("40", "12", "0.3000")
    assert float(lands["ci_low"]) < 0.3 < float(lands["ci_high"])
    training = next(r for r in rows if r["part"] == "training" and r["check"] == "")
    from labkit.core.assignment import load
    from labkit.core.settings import REPO_ROOT
    assert float(training["max"]) == load("lab06", REPO_ROOT).points["training"]
    assert float(training["mean"]) == pytest.approx(sum(r.parts["training"].score for r in _class_of_40().values()) / 40,
                                                    abs=1e-4)


def test_diagnoses_csv_counts_each_named_mistake_with_its_students(tmp_path):
    results = _class_of_40()
    named = {"part": "training", "mistake": "no_zero_grad", "message": "Wygląda na brak optimizer.zero_grad()."}
    for student, result in results.items():
        if student.startswith("darek_no_zero_grad"):
            result.diagnoses = [dict(named)]
    analysis = ia.analyse(results, assignment="lab06", parts=PARTS)
    with open(ia.write_diagnoses_csv(analysis, tmp_path / "diagnoses.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["part"], r["mistake"], r["students"], r["share"]) for r in rows] == \
        [("training", "no_zero_grad", "8", "0.2000")]
    assert rows[0]["student_ids"].split() == sorted(s for s in results if s.startswith("darek"))
    assert rows[0]["message"] == named["message"]
