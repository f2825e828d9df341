"""The assignment an nbgrader preprocessor works on, from what nbgrader passes it."""
from __future__ import annotations



from labkit.core import assignment as assignments
from labkit.core.assignment import Assignment



def assignment_of(preprocessor, resources) -> Assignment | None:
    """The assignment nbgrader is converting, from its resources and CourseDirectory.root."""
    assignment_id = (resources.get("nbgrader") or {}).get("assignment")
    converter = getattr(getattr(preprocessor, "parent", None), "parent", None)
    root = getattr(getattr(converter, "coursedir", None), "root", "") or None
    try:
        return assignments.load(assignment_id, root) if assignment_id else None
    except assignments.AssignmentError:
        return None   # not a kit assignment: nbgrader's own behaviour
