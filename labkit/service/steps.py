"""nbgrader's own steps for one student, in this (warm) process, through nbgrader's API.

The same calls formgrader makes (``nbgrader.apps.api.NbGraderAPI``), configured by the course's
own nbgrader_config.py: collect the student's newest submission, autograde it (the kit's
GradeInWorker, so the same verdicts as a batch run, and a cache hit for the batch later),
generate the feedback page and release it to the exchange. A gradebook another process holds
locked (a TA in formgrader, a batch autograde) is waited for: the step is retried, never skipped.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from nbgrader.apps.api import NbGraderAPI
from nbgrader.utils import temp_attrs
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from labkit.service.over_budget import write_note

__all__ = ["StepFailed", "Steps", "course_config"]

_LOCKED = ("database is locked", "database table is locked")


class StepFailed(RuntimeError):
    """nbgrader refused a step for a reason other than a busy gradebook."""


def course_config(root: Path, exchange: Path | None = None) -> Config:
    """The course's nbgrader_config.py, as ``nbgrader`` run in ``root`` reads it."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    if exchange is not None:
        config.Exchange.root = str(exchange)
    return config


class Steps:
    def __init__(self, config: Config, *, lock_wait_seconds: float = 600.0, log: logging.Logger | None = None):
        self.api = NbGraderAPI(config=config)
        self.lock_wait_seconds = lock_wait_seconds
        self.log = log or logging.getLogger("labkit.service")

    @property
    def check_owner(self) -> bool:
        """nbgrader's ExchangeCollect.check_owner as the course configures it (default True)."""
        return bool(self.api.config.get("ExchangeCollect", {}).get("check_owner", True))

    @property
    def inbound(self) -> Path:
        return Path(self.api.exchange_root) / self.api.coursedir.course_id / "inbound"

    def collect(self, assignment: str, student: str) -> None:
        with temp_attrs(self.api.coursedir, student_id=student):
            self._run("collect", lambda: self.api.collect(assignment, update=True))

    def forget_collected(self, assignment: str, student: str) -> None:
        """Remove the student's submitted folder, so that collect copies their newest entry whole."""
        coursedir = self.api.coursedir
        folder = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
        shutil.rmtree(folder, ignore_errors=True)

    def autograde(self, assignment: str, student: str) -> None:
        self._run("autograde", lambda: self.api.autograde(assignment, student, force=True, create=True))

    def sanitized(self, assignment_id: str, student: str, folder: Path) -> list[Path]:
        """The student's collected notebooks as nbgrader's sanitizing pass will leave them (the
        batch prefetch does the same), written under ``folder``: what ``grade`` grades, so that
        ``autograde`` then finds each verdict in the cache."""
        from nbgrader.converters import Autograde

        from labkit.nbgrader_ext.sanitized_copies import sanitized_copies
        coursedir = self.api.coursedir
        submitted = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment_id))
        converter = Autograde(coursedir=coursedir, parent=self.api)
        return sanitized_copies(converter, {str(submitted): sorted(submitted.glob("*.ipynb"))}, folder, self.log)

    def grade(self, assignment_id: str, notebooks: list[Path]) -> None:
        """Grade notebooks into the verdict cache (on the course's Dask scheduler when
        ``GradeInWorker.scheduler`` is set, as the batch does). Thread-safe: it touches neither
        nbgrader nor the gradebook, so the service runs it beside the gradebook steps."""
        from labkit.core.assignment import load
        from labkit.runner.cache import ResultCache
        from labkit.runner.parallel import grade_many
        settings = self.api.config.get("GradeInWorker", {})
        cache_dir, scheduler = settings.get("cache_dir"), settings.get("scheduler") or None
        if not cache_dir:
            return   # no cache to fill: autograde grades on its own
        grade_many(notebooks, assignment=load(assignment_id, self.api.coursedir.root), jobs=1, scheduler=scheduler,
                   cache=ResultCache(Path(cache_dir)), progress=False)

    def over_budget_note(self, assignment: str, student: str, *, attempts: int, lang: str) -> None:
        """Release a note instead of feedback for the student's collected submission."""
        coursedir = self.api.coursedir
        write_note(Path(coursedir.format_path(coursedir.submitted_directory, student, assignment)),
                   Path(coursedir.format_path(coursedir.feedback_directory, student, assignment)),
                   attempts=attempts, lang=lang)
        self._run("release_feedback", lambda: self.api.release_feedback(assignment, student))

    def feedback(self, assignment: str, student: str, *, attempt: int, graded_at: str) -> None:
        """generate_feedback with the instant page's header and withholding, then release_feedback."""
        section = self.api.config.FeedbackSummary
        section.instant, section.attempt, section.graded_at = True, attempt, graded_at
        self._run("generate_feedback", lambda: self.api.generate_feedback(assignment, student, force=True))
        self._run("release_feedback", lambda: self.api.release_feedback(assignment, student))

    def _run(self, step: str, call) -> dict:
        waited, pause = 0.0, 0.5
        while True:
            result = call()
            if result.get("success"):
                return result
            error = f"{result.get('error') or ''}\n{result.get('log') or ''}"
            if not any(text in error for text in _LOCKED) or waited >= self.lock_wait_seconds:
                raise StepFailed(f"{step}: {error.strip()[-3000:]}")
            # Another writer holds the gradebook; nothing is lost by waiting for it.
            self.log.warning("labkit serve: the gradebook is locked during %s; retrying in %.1f s", step, pause)
            time.sleep(pause)
            waited += pause
            pause = min(pause * 2, 10.0)
