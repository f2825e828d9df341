"""What an nbgrader component works on, found in one place: its CourseDirectory, the course
root, and the assignment being converted.

nbgrader hands a preprocessor its converter as ``parent`` (whose ``coursedir`` holds the course
root) and a plug-in its app; nothing else is passed, so every kit component asks here.
"""
from __future__ import annotations

from pathlib import Path

from labkit.core import assignment as assignments
from labkit.core.assignment import Assignment


def converter_of(preprocessor):
    """The nbgrader app converting the notebooks a preprocessor sees (its parent's parent)."""
    return getattr(getattr(preprocessor, "parent", None), "parent", None)


def coursedir_of(component):
    """nbgrader's CourseDirectory of a plug-in (its parent is the app) or a preprocessor (its
    parent's parent is the converter); None outside nbgrader."""
    for owner in (getattr(component, "parent", None), converter_of(component)):
        coursedir = getattr(owner, "coursedir", None)
        if coursedir is not None:
            return coursedir
    return None


def course_root(component) -> Path:
    """CourseDirectory.root, else the current directory (as nbgrader itself defaults)."""
    root = getattr(coursedir_of(component), "root", "")
    return Path(root) if root else Path.cwd()


def assignment_of(preprocessor, resources) -> Assignment | None:
    """The assignment nbgrader is converting, from its resources and the course root; None for
    one the kit does not describe (nbgrader's own behaviour then)."""
    assignment_id = (resources.get("nbgrader") or {}).get("assignment")
    try:
        return assignments.load(assignment_id, course_root(preprocessor)) if assignment_id else None
    except assignments.AssignmentError:
        return None
