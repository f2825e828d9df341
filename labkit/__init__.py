"""Grading machinery of the lab06 kit: worker, sandbox, hidden-check runner, nbgrader plug-ins."""
