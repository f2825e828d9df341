"""The grading service's loop: notice, claim fairly, grade one student, release, remember."""
from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from labkit.core.assignment import available, load
from labkit.core.i18n import tr
from labkit.runner.parallel import default_jobs
from labkit.service.inbound import parse_name, scan
from labkit.service.journal import Claim, Journal, State
from labkit.service.steps import StepFailed, Steps, course_config
from labkit.term.feedback_policy import feedback_policy

__all__ = ["Service", "ServiceSettings", "journal_path", "ready_path"]


def journal_path(root: Path) -> Path:
    return Path(root) / ".labkit-service" / "journal.sqlite"


def ready_path(root: Path) -> Path:
    """Written with the service's pid once it is warm and has caught up with inbound."""
    return Path(root) / ".labkit-service" / "ready"


@dataclass
class ServiceSettings:
    root: Path
    exchange: Path | None = None                 # default: the course config's Exchange.root
    assignments: tuple[str, ...] = ()            # default: every assignment the course describes
    rescan_seconds: float = 30.0                 # the backstop scan when no file event arrives
    lock_wait_seconds: float = 600.0
    jobs: int = 0                                # students graded side by side (0: one per usable CPU)
    refused: set[str] = field(default_factory=set)


class Service:
    def __init__(self, settings: ServiceSettings, *, log: logging.Logger | None = None):
        self.settings = settings
        self.root = Path(settings.root).resolve()
        self.log = log or logging.getLogger("labkit.service")
        self.assignments = set(settings.assignments or available(self.root))
        for assignment_id in self.assignments:   # a misspelt [feedback] stops the start, not a grading
            spec = load(assignment_id, self.root)
            feedback_policy(assignment_id, self.root, spec.part_ids)
        self.steps = Steps(course_config(self.root, settings.exchange), lock_wait_seconds=settings.lock_wait_seconds,
                           log=self.log)
        self.journal = Journal(journal_path(self.root))
        self.jobs = settings.jobs or default_jobs()
        self._fresh: set[tuple[str, str]] = set()     # (student, assignment) to collect afresh

    @property
    def inbound(self) -> Path:
        return self.steps.inbound

    def scan(self) -> int:
        """Record what is new in inbound; how many entries."""
        entries, refused = scan(self.inbound, self.assignments, check_owner=self.steps.check_owner)
        for name, reason in refused:
            self._refuse(name, reason)
        return self.journal.add(entries)

    def _refuse(self, name: str, reason: str) -> None:
        """An entry nbgrader's collect would still take (it globs ``<student>+<id>+*`` and only
        warns about an owner) is renamed with a leading dot, which collect never globs, so
        neither this service nor a later batch grades it as the named student's."""
        entry = parse_name(name, self.inbound)
        student, assignment = (entry.student, entry.assignment) if entry else ("", "")
        if not any(f"+{a}+" in name for a in self.assignments):
            if name not in self.settings.refused:
                self.log.warning("labkit serve: ignored in inbound: %s (%s)", name, reason)
                self.settings.refused.add(name)
            return
        aside = f".labkit-refused-{name}"
        try:
            os.rename(self.inbound / name, self.inbound / aside)
        except OSError as exc:
            reason += f"; could not move it aside: {exc}"
        self.log.warning("labkit serve: refused %s: %s (now %s)", name, reason, aside)
        self.journal.refuse(name, student, assignment, reason)

    def drain(self) -> int:
        """Grade what is queued, in fair order, until nothing is left; how many entries were taken.

        ``jobs`` gradings run side by side on a pool (one per usable CPU, as a batch), while this
        thread, the only one that touches nbgrader and the gradebook, collects the next students
        and releases the finished ones: no core waits for the gradebook steps."""
        taken = 0
        with tempfile.TemporaryDirectory(prefix="labkit-serve-") as tmp, \
                ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="labkit-grade") as pool:
            running: dict[Future, Claim] = {}
            while True:
                taken += self._fill(pool, running, Path(tmp))
                if not running:
                    return taken
                # A short wait: a student who submits while a lane is free starts at once.
                finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    claim = running.pop(future)
                    if future.exception() is not None:   # only costs time: autograde grades it itself
                        self.log.warning("labkit serve: grading %s beside nbgrader failed (%s); autograde grades it",
                                         claim.name, future.exception())
                    self._grade(claim)

    def _fill(self, pool: ThreadPoolExecutor, running: dict[Future, "Claim"], folder: Path) -> int:
        """Claim and collect students, fairest first, until ``jobs`` gradings run; how many
        entries were claimed (those over the day's budget are answered here at once)."""
        self.scan()   # what arrived meanwhile takes its fair turn now
        claimed = 0
        while len(running) < self.jobs and (claim := self.journal.claim()) is not None:
            claimed += 1
            for name in claim.superseded:
                self.log.info("labkit serve: %s superseded by %s", name, claim.name)
            if not self._collect(claim):
                continue
            here = folder / f"{claimed}-{claim.student}"
            try:
                copies = self.steps.sanitized(claim.assignment, claim.student, here)
            except Exception as exc:   # nbgrader's own autograde says what is wrong with it
                self.log.warning("labkit serve: no sanitized copy of %s (%s)", claim.name, exc)
                copies = []
            running[pool.submit(self._grade_copies, claim.assignment, copies, here)] = claim
        return claimed

    def _grade_copies(self, assignment_id: str, copies: list[Path], folder: Path) -> None:
        try:
            if copies:
                self.steps.grade(assignment_id, copies)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def recover(self) -> None:
        """After a restart: the entries the service died on go back to the queue (or to a TA),
        and their students' submitted folders, which a killed collect may have left half
        copied (nbgrader's collect never repairs one whose timestamp.txt is there), are
        collected afresh from inbound, which still holds every entry."""
        for name, state in self.journal.recover():
            self.log.warning("labkit serve: %s was being graded when the service stopped: now %s", name, state)
            entry = parse_name(name, self.inbound)
            if entry is not None:
                self._fresh.add((entry.student, entry.assignment))

    def warm_up(self) -> None:
        """Pay the start-up before the first student does: the sandbox's zygote (interpreter,
        torch and the notebook's libraries imported once), the graders' forkserver (torch,
        hypothesis and pytest imported once) and the machine's speed, measured once."""
        from labkit.grading import speed
        from labkit.grading.grade import zygote_env
        zygote_env()
        speed.current()

    def run(self, stop: threading.Event | None = None) -> None:
        """Until ``stop``: react to inbound's file events, and rescan every rescan_seconds."""
        from watchfiles import watch
        stop = stop or threading.Event()
        self.recover()
        self.warm_up()
        if not self.inbound.is_dir():
            raise FileNotFoundError(f"{self.inbound}: no inbound folder; the exchange is set up by "
                                    "`nbgrader release_assignment` (docs/exchange.md)")
        self.scan()
        self.drain()
        # Warm and caught up: what `labkit serve-status` and the benchmark wait for.
        ready_path(self.root).write_text(f"{os.getpid()}\n", encoding="utf-8")
        for _changes in watch(self.inbound, stop_event=stop, rust_timeout=int(self.settings.rescan_seconds * 1000),
                              yield_on_timeout=True, debounce=200, recursive=True):
            self.scan()
            self.drain()

    def _collect(self, claim: Claim) -> bool:
        """Collect the claimed student's newest submission; whether it is to be graded now
        (not over the day's budget, not refused by nbgrader)."""
        spec = load(claim.assignment, self.root)
        policy = feedback_policy(claim.assignment, self.root, spec.part_ids)
        midnight = _dt.datetime.combine(_dt.date.today(), _dt.time()).timestamp()   # the service's local day
        try:
            if (claim.student, claim.assignment) in self._fresh:
                self.steps.forget_collected(claim.assignment, claim.student)
                self._fresh.discard((claim.student, claim.assignment))
            self.steps.collect(claim.assignment, claim.student)
        except StepFailed as exc:
            self.log.error("labkit serve: %s failed: %s", claim.name, exc)
            self.journal.finish(claim.name, State.FAILED, note=str(exc)[-2000:])
            return False
        if self.journal.attempts(claim.student, claim.assignment, since=midnight) >= policy.attempts_per_day:
            # Kept and collected like every submission; it counts for the final grade as usual,
            # and the student can fetch a page that says so.
            try:
                self.steps.over_budget_note(claim.assignment, claim.student, attempts=policy.attempts_per_day,
                                            lang=spec.language)
            except (StepFailed, OSError) as exc:
                self.log.error("labkit serve: no over-budget note for %s: %s", claim.name, exc)
            self.journal.finish(claim.name, State.OVER_BUDGET, note=tr(
                "Wykorzystano {n} sprawdzeń na dziś; to zgłoszenie oceni prowadzący po terminie.",
                "All {n} checks of today are used; this submission is graded after the deadline.",
                n=policy.attempts_per_day, lang=spec.language))
            return False
        return True

    def _grade(self, claim: Claim) -> None:
        attempt = self.journal.graded_attempts(claim.student, claim.assignment) + 1
        started = time.perf_counter()
        try:
            self.steps.autograde(claim.assignment, claim.student)
            graded_at = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
            self.steps.feedback(claim.assignment, claim.student, attempt=attempt, graded_at=graded_at[:19])
        except StepFailed as exc:
            self.log.error("labkit serve: %s failed: %s", claim.name, exc)
            self.journal.finish(claim.name, State.FAILED, note=str(exc)[-2000:])
            return
        self.journal.finish(claim.name, State.RELEASED, attempt=attempt)
        self.log.info("labkit serve: %s released (attempt %d, %.1f s)", claim.name, attempt,
                      time.perf_counter() - started)
