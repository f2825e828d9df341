"""Hidden grader: shared fixtures and the `grading` hypothesis profile.

Run: ``pytest grader_tests --submission PATH.ipynb`` (or ``--submission reference``).
This process is trusted and never executes student code; the ``submission`` fixture
talks to a confined worker that does.
"""
from __future__ import annotations

from hypothesis import HealthCheck, settings

from labkit.settings import load_settings

pytest_plugins = ["labkit.pytest_plugin"]

# Derandomized, no example database, no deadline: the same submission meets the same
# examples on every regrade, and a slow machine never turns into a failed check.
settings.register_profile(
    "grading",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=load_settings().hypothesis_examples,
    print_blob=False,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile("grading")
