"""Collection rules for the kit's own tests."""

# The minimal course's hidden checks are a fixture: they run only inside a grading run of that
# course (tests/test_new_assignment.py), which names its assignment. Collected here, they would
# ask for an assignment that the kit's suite has no reason to pick.
collect_ignore = ["minimal_course"]


def pytest_collection_modifyitems(config, items):
    """End-to-end modules (marked slow) first, the rest after, each in its own order.

    ./kit test runs whole modules on pytest-xdist workers in this order: the long batches
    start at once and the short tests fill the gaps, instead of one batch ending the run alone.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
