"""Collection rules for the kit's own tests."""

# The minimal course's hidden checks are a fixture: they run only inside a grading run of that
# course (tests/test_new_assignment.py), which names its assignment. Collected here, they would
# ask for an assignment that the kit's suite has no reason to pick.
collect_ignore = ["minimal_course"]
