"""Reference solutions, one package per assignment (``reference/<id>/``), imported by the
hidden checks in the trusted grader only. The worker never sees them: a reference graded
end to end travels to it as notebook cells (see ``reference_cells`` in an assignment's
description)."""
