"""Result objects: scores from weighted credit, JSON round trip, failed submissions."""
from __future__ import annotations

import pytest

from labkit.core.assignment import load
from labkit.core.results import (
    CellStatus, CheckResult, CheckStatus, PartResult, SubmissionResult, empty_parts, failed_submission,
)
from labkit.core.settings import REPO_ROOT

LAB06 = load("lab06", REPO_ROOT)


def test_part_score_is_weighted_credit_scaled_to_points():
    part = PartResult("training", 4.0, [CheckResult("training", "a", 2.0, 1.0, "passed"),
                                        CheckResult("training", "b", 1.0, 0.5, "partial"),
                                        CheckResult("training", "c", 1.0, 0.0, "failed")])
    assert part.score == pytest.approx(4.0 * (2 + 0.5) / 4)


def test_part_without_checks_scores_zero():
    assert PartResult("data", 3.0).score == 0.0


def test_submission_result_round_trips_through_json():
    parts = empty_parts(LAB06)
    assert list(parts) == list(LAB06.part_ids)
    assert {p: r.max_points for p, r in parts.items()} == LAB06.points
    parts["data"].checks.append(CheckResult("data", "x", 1.0, 1.0, "passed", "ąę message"))
    result = SubmissionResult(notebook="n.ipynb", parts=parts, assignment=LAB06.id, flags=["tamper"],
                              artifacts={"a": [1, 2]})
    back = SubmissionResult.from_json(result.to_json())
    assert back == result and back.total == pytest.approx(LAB06.points["data"])
    assert back.assignment == "lab06"


def test_failed_submission_zeroes_every_part_with_the_reason():
    result = failed_submission("n.ipynb", "plik nie jest JSON-em", "invalid_notebook", LAB06)
    assert set(result.parts) == set(LAB06.part_ids) and result.total == 0
    assert result.assignment == "lab06" and result.flags == ["invalid_notebook"]
    assert all(p.checks[0].message == "plik nie jest JSON-em" for p in result.parts.values())


def test_statuses_come_back_from_json_as_their_enums():
    parts = empty_parts(LAB06)
    parts["data"].checks.append(CheckResult("data", "x", 1.0, 0.0, CheckStatus.TIMEOUT, "budget"))
    result = SubmissionResult(notebook="n.ipynb", parts=parts, assignment=LAB06.id,
                              cell_status={"3": CellStatus.OK, "4": CellStatus.SKIPPED})
    text = result.to_json()
    assert '"status": "timeout"' in text and '"4": "skipped"' in text      # plain strings on disk
    back = SubmissionResult.from_json(text)
    assert back.parts["data"].checks[0].status is CheckStatus.TIMEOUT
    assert back.cell_status == {"3": CellStatus.OK, "4": CellStatus.SKIPPED}
    assert all(type(s) is CellStatus for s in back.cell_status.values())


def test_a_misspelt_status_in_a_result_file_is_an_error_not_a_new_status():
    parts = empty_parts(LAB06)
    parts["data"].checks.append(CheckResult("data", "x", 1.0, 1.0, CheckStatus.PASSED))
    text = SubmissionResult(notebook="n.ipynb", parts=parts).to_json().replace('"passed"', '"pased"')
    with pytest.raises(ValueError, match="pased"):
        SubmissionResult.from_json(text)
