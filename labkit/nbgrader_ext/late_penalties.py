"""nbgrader's AssignLatePenalties after writing the deadline and the student's extension into
the gradebook (labkit/term/late.py reads them from the course's files)."""
from __future__ import annotations

import datetime as _dt

from nbgrader.plugins import BasePlugin
from nbgrader.preprocessors import AssignLatePenalties
from traitlets import Type

from labkit.core.assignment import DESCRIPTION, available
from labkit.nbgrader_ext.course_context import course_root
from labkit.nbgrader_ext.per_day_penalty import PerDayPenalty
from labkit.term.late import Extension, deadline, extension_for, load_extensions


class LatePenalties(AssignLatePenalties):
    """``AssignLatePenalties`` after writing into the gradebook the assignment's deadline
    (``[term] due``) and the student's extension (``extensions.toml``), so that nbgrader's own
    ``total_seconds_late`` and everything built on it use them. Without ``[term] due`` the
    gradebook's deadline (e.g. from ``nbgrader db assignment add --duedate``) stays."""

    plugin_class = Type(PerDayPenalty, klass=BasePlugin,
                        help="The plugin that computes each notebook's penalty.").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        assignment_id, student_id = info["assignment"], info["student"]
        due, extensions = self._term(assignment_id)
        extension = extension_for(extensions, assignment_id, student_id)
        from nbgrader.api import Gradebook
        with Gradebook(info["db_url"]) as gb:
            assignment = gb.find_assignment(assignment_id)
            if due is not None and assignment.duedate != due:
                self.log.info("labkit: deadline of %s: %s UTC (%s)", assignment_id, due, DESCRIPTION)
                assignment.duedate = due
            submission = gb.find_submission(assignment_id, student_id)
            wanted = extension.delta(assignment.duedate) if extension and assignment.duedate else None
            if submission.extension != wanted:
                self.log.info("labkit: extension of %s/%s: %s (%s)", student_id, assignment_id, wanted,
                              extension.reason if extension else "withdrawn")
                submission.extension = wanted
            gb.db.commit()
        return super().preprocess(nb, resources)

    def _term(self, assignment_id: str) -> tuple[_dt.datetime | None, list[Extension]]:
        """The deadline and the course's extensions, read once per autograde run (one
        preprocessor serves every notebook of the run), not once per notebook."""
        cache = self.__dict__.setdefault("_terms", {})
        if assignment_id not in cache:
            root = course_root(self)
            cache[assignment_id] = (deadline(assignment_id, root), load_extensions(root, available(root)))
        return cache[assignment_id]
