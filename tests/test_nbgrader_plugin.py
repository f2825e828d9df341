"""Verdict cells read back by nbgrader as exactly the part's score; worker outputs sanitized."""
from __future__ import annotations

import nbformat
import pytest
from nbgrader.utils import determine_grade
from labkit.nbgrader_ext.verdict_cells import report_text, sanitize_outputs, verdict_outputs
from labkit.core.results import CheckResult, PartResult


def grade_cell(outputs, points=3.0):
    cell = nbformat.v4.new_code_cell("# tests")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": points,
                                 "grade_id": "data_tests", "schema_version": 3}
    cell.outputs = outputs
    return cell


@pytest.mark.parametrize("credits", [(1, 1, 1), (1, 0.5, 0), (0, 0, 0), (1, 0, 0)])
def test_determine_grade_reads_the_part_score(credits):
    part = PartResult("data", 3.0, [CheckResult("data", f"c{i}", 1.0, c, "passed" if c == 1 else "failed",
                                                "oczekiwano X, otrzymano Y") for i, c in enumerate(credits)])
    score, max_points = determine_grade(grade_cell(verdict_outputs(part)))
    assert max_points == 3.0 and score == pytest.approx(part.score, abs=1e-4)


def test_missing_part_results_earn_nothing():
    score, _ = determine_grade(grade_cell(verdict_outputs(None, "zły plik")))
    assert score == 0


def test_report_lists_each_check_with_its_message():
    part = PartResult("loss", 3.0, [CheckResult("loss", "test_x", 1.0, 0.0, "failed", "oczekiwano 1, otrzymano 2")])
    text = report_text(part)
    assert "test_x" in text and "oczekiwano 1, otrzymano 2" in text and "0.00 / 3.00" in text


def test_sanitize_keeps_text_and_png_and_drops_active_content():
    outputs = [
        {"output_type": "display_data", "data": {"text/html": "<script>x</script>", "image/png": "iVBOR"}},
        {"output_type": "execute_result", "data": {"application/javascript": "x"}},
        {"output_type": "stream", "name": "stdout", "text": "a" * 10**6},
        {"output_type": "weird"},
        "not a dict",
    ]
    clean = sanitize_outputs(outputs)
    assert clean[0]["data"] == {"image/png": "iVBOR"}
    assert len(clean) == 2 and len(clean[1]["text"]) <= 100_000
