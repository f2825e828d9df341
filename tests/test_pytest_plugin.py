"""The pytest plug-in's diagnosis handling (labkit/grading/pytest_plugin.py): findings never score, and
they correct only the messages of failed checks whose named cause they rule out."""
from __future__ import annotations

from labkit.grading.pytest_plugin import _apply_diagnoses
from labkit.core.results import CheckResult, PartResult


def _parts() -> dict[str, PartResult]:
    return {"training": PartResult("training", 4.0, [
        CheckResult("training", "lands", 2.0, 0.0, "failed", "parametry: oczekiwano 1, otrzymano 2"),
        CheckResult("training", "mode", 1.0, 0.0, "failed", "parametry w trybie eval (powinno wywołać train()): "
                                                            "oczekiwano 1, otrzymano 2"),
        CheckResult("training", "prints", 1.0, 1.0, "passed", ""),
    ])}


def _finding(**explains) -> dict:
    return {"part": "training", "mistake": "no_zero_grad", "message": "brak zero_grad", "explains": explains}


def test_the_ruled_out_cause_is_replaced_and_expected_got_stays():
    parts = _parts()
    found = _apply_diagnoses(parts, [_finding(mode=("(powinno wywołać train())", "(przyczyna: brak zero_grad)"))])
    mode = parts["training"].checks[1]
    assert mode.message == "parametry w trybie eval (przyczyna: brak zero_grad): oczekiwano 1, otrzymano 2"
    assert found == [{"part": "training", "mistake": "no_zero_grad", "message": "brak zero_grad",
                      "explains": ["mode"]}]
    assert parts["training"].score == 1.0 and mode.credit == 0.0          # never scores: prints alone, 1 of 4


def test_a_cause_not_in_the_message_is_appended_and_passed_checks_are_untouched():
    parts = _parts()
    _apply_diagnoses(parts, [_finding(lands=("nie ma tego", "uwaga: brak zero_grad"),
                                      prints=("x", "nie dotyczy"))])
    assert parts["training"].checks[0].message.endswith("\nuwaga: brak zero_grad")
    assert parts["training"].checks[2].message == ""


def test_a_finding_reported_twice_is_listed_once_and_unknown_parts_are_ignored():
    parts = _parts()
    found = _apply_diagnoses(parts, [_finding(), _finding(), {**_finding(), "part": "nope"}])
    assert [(d["part"], d["mistake"]) for d in found] == [("training", "no_zero_grad"), ("nope", "no_zero_grad")]


class _Item:
    """Just what a Diagnosis reads of its pytest item: the part marker and the session's stash."""

    def __init__(self, results: dict):
        from labkit.grading import pytest_plugin
        self.config = type("Config", (), {})()
        self.config.stash = {pytest_plugin._RESULTS: results, pytest_plugin._DIAGNOSES: []}

    def get_closest_marker(self, name):
        import pytest
        return pytest.mark.part("training").mark if name == "part" else None


def test_a_diagnosis_runs_only_when_its_part_failed_and_records_what_it_names():
    import pytest

    from labkit.grading import pytest_plugin
    from labkit.grading.pytest_plugin import Diagnosis
    passed = _Item({"a": CheckResult("training", "lands", 1.0, 1.0, "passed")})
    with pytest.raises(pytest.skip.Exception):
        Diagnosis(passed).name(lambda: pytest.fail("must not replay a passing part"), str)
    failed = _Item({"a": CheckResult("training", "lands", 1.0, 0.0, "failed", "x"),
                    "b": CheckResult("data", "radii", 1.0, 0.0, "failed", "y")})
    diagnosis = Diagnosis(failed)
    assert diagnosis.failed == {"lands"}                          # its own part only
    diagnosis.name(lambda: None, str)
    assert failed.config.stash[pytest_plugin._DIAGNOSES] == []   # nothing matched, nothing said
    diagnosis.name(lambda: "no_zero_grad", lambda m: f"brak {m}")
    assert failed.config.stash[pytest_plugin._DIAGNOSES] == [
        {"part": "training", "mistake": "no_zero_grad", "message": "brak no_zero_grad", "explains": {}}]


def test_the_grading_profile_shrinks_failures_but_never_replays_them_to_explain():
    """A failing property still reports its smallest example (messages quote it), and no run
    of the check comes after that example was found: hypothesis's explain phase, which re-ran
    a failing check over the worker pipe ~100 times, is off."""
    from hypothesis import Phase, given, settings, strategies as st

    from labkit.grading.pytest_plugin import register_grading_profile
    register_grading_profile(25)
    profile = settings.get_profile("grading")
    assert profile.derandomize and profile.database is None and profile.deadline is None
    assert Phase.shrink in profile.phases and Phase.explain not in profile.phases

    seen: list[tuple[int, int]] = []

    @settings(profile)
    @given(n=st.integers(min_value=0, max_value=10_000), seed=st.integers(min_value=0, max_value=1000))
    def prop(n, seed):
        seen.append((n, seed))
        assert n < 50

    try:
        prop()
    except AssertionError:
        pass
    else:
        raise AssertionError("the property should fail")
    assert seen[-1] == (50, 0)                      # shrunk to the smallest failing example
    after = seen[seen.index((50, 0)):]
    # Once the smallest example is found, only it runs again (the final report): explain would
    # re-run it with the seed varied, (50, s) for other s.
    assert {example for example in after if example[0] >= 50} == {(50, 0)}, after


def test_properties_imported_before_the_grading_profile_still_run_under_it():
    """hypothesis fixes settings at decoration; checks imported earlier in the same process (the
    kit's tests collect them in-process) must not keep the default 200 ms deadline."""
    from types import SimpleNamespace

    from hypothesis import given, settings, strategies as st

    from labkit.grading.pytest_plugin import _pin_grading_settings, register_grading_profile

    settings.register_profile("labkit-test-before", settings.default)   # whatever this process has loaded
    settings.load_profile("default")   # as when a module is collected before any grading session
    try:
        @given(st.integers())
        def imported_early(x):
            pass

        @given(st.integers())
        @settings(max_examples=7, deadline=50)
        def with_its_own_settings(x):
            pass
    finally:
        settings.load_profile("labkit-test-before")

    assert imported_early._hypothesis_internal_use_settings.deadline is not None
    register_grading_profile(25)
    _pin_grading_settings([SimpleNamespace(obj=imported_early), SimpleNamespace(obj=with_its_own_settings),
                           SimpleNamespace(obj=lambda: None)])
    pinned = imported_early._hypothesis_internal_use_settings
    assert pinned == settings.get_profile("grading") and pinned.deadline is None and pinned.max_examples == 25
    own = with_its_own_settings._hypothesis_internal_use_settings
    assert own.max_examples == 7 and own.deadline is None and own.derandomize and own.database is None
