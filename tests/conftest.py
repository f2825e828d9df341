"""Collection rules for the kit's own tests."""

# The minimal course's hidden checks are a fixture: they run only inside a grading run of that
# course (tests/test_new_assignment.py), which names its assignment. Collected here, they would
# ask for an assignment that the kit's suite has no reason to pick.
collect_ignore = ["minimal_course"]


# Modules by the time they took in the last serial run (seconds, most first). ./kit test runs
# whole modules on pytest-xdist workers in collection order; longest-first keeps two long
# batches from meeting at the end of the run, while the short modules fill the gaps.
LONGEST_FIRST = [
    "test_grader_corpus.py",    # 531
    "test_hostile.py",          # 457
    "test_roundtrip.py",        # 317 + the stock comparison
    "test_exchange.py",         # 103
    "test_overrides.py",        # 97
    "test_formgrader.py",       # 76
    "test_lms_e2e.py",          # 75
    "test_inkernel.py",         # 52
    "test_parallel.py",         # 52
    "test_new_assignment.py",   # 50
    "test_sandbox.py",
    "test_zygote.py",
    "test_report.py",
]


def pytest_collection_modifyitems(config, items):
    """Longest modules first (LONGEST_FIRST), then the rest, each module's tests in their own order."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
