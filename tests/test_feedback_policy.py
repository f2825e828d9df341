"""labkit/term/feedback_policy.py: the [feedback] table of a description, strict like the rest of it."""
from __future__ import annotations

from pathlib import Path

import pytest

from labkit.core.assignment import AssignmentError, load
from labkit.term.feedback_policy import FeedbackPolicy, Visibility, feedback_policy
from minimal import describe, minimal_course



@pytest.fixture
def course(tmp_path) -> Path:
    return minimal_course(tmp_path)


def test_without_a_table_everything_is_visible_five_times_a_day(course):
    assert feedback_policy("mini", course) == FeedbackPolicy()
    assert FeedbackPolicy().attempts_per_day == 5 and FeedbackPolicy().of_part("mean") is Visibility.VISIBLE


def test_parts_and_checks_are_withheld_as_written_and_a_check_never_shows_more_than_its_part(course):
    describe(course, '\n[feedback]\nattempts_per_day = 2\n[feedback.part]\nmean = "after_deadline"\n'
                     '[feedback.check]\ntest_a = "hidden"\ntest_b = "visible"\n')
    policy = feedback_policy("mini", course, load("mini", course).part_ids)
    assert policy.attempts_per_day == 2
    assert policy.of_check("mean", "test_a") is Visibility.HIDDEN
    assert policy.of_check("mean", "test_b") is Visibility.AFTER_DEADLINE    # its part waits for the deadline


def test_the_table_changes_no_verdict_so_no_cached_verdict_is_lost(course):
    before = load("mini", course).digest()
    describe(course, '\n[feedback]\nattempts_per_day = 1\n')
    assert load("mini", course).digest() == before


@pytest.mark.parametrize("text, named", [
    ('\n[feedback]\nattempts = 3\n', "attempts"),
    ('\n[feedback]\nattempts_per_day = -1\n', "attempts_per_day"),
    ('\n[feedback]\nparts = "sometimes"\n', "sometimes"),
    ('\n[feedback.part]\nmaen = "hidden"\n', "maen"),
])
def test_a_misspelt_key_value_or_part_is_an_error_that_names_it(course, text, named):
    describe(course, text)
    with pytest.raises(AssignmentError, match=named):
        feedback_policy("mini", course, load("mini", course).part_ids)
