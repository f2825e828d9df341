"""A grading engine for nbgrader courses: sandboxed worker, hidden-check runner, nbgrader plug-ins.

It knows no assignment; each one is described by its own files (see labkit/core/assignment.py).
"""
