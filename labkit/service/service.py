"""The grading service's loop: notice, claim fairly, grade one student, release, remember."""
from __future__ import annotations

import datetime as _dt
import logging
import os
import threading
import time
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

    def step(self) -> list[Claim]:
        """Grade the next entries in fair order, one per grader lane (``jobs``: one per usable
        CPU, as a batch); an empty list when the queue is empty."""
        claims = []
        while len(claims) < self.jobs and (claim := self.journal.claim()) is not None:
            for name in claim.superseded:
                self.log.info("labkit serve: %s superseded by %s", name, claim.name)
            claims.append(claim)
        ready = [claim for claim in claims if self._collect(claim)]
        for assignment_id in sorted({c.assignment for c in ready}):
            students = [c.student for c in ready if c.assignment == assignment_id]
            try:
                self.steps.prefetch(assignment_id, students, jobs=self.jobs)
            except Exception as exc:   # a failed prefetch only costs time: each is graded on its own
                self.log.warning("labkit serve: prefetch of %s failed (%s); grading one at a time", students, exc)
        for claim in ready:
            self._grade(claim)
        return claims

    def drain(self) -> int:
        done = 0
        while claims := self.step():
            done += len(claims)
        return done

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
