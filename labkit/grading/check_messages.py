"""What a check's exception tells the student: a status and a message, never hidden test code.

Only messages written for students travel into results (CheckFailed and the worker's failure
types); any other exception becomes a neutral "internal grader error".
"""
from __future__ import annotations

from labkit.core.notebook import InvalidNotebook
from labkit.core.results import CellStatus, CheckStatus
from labkit.grading.checks import CheckFailed, tr
from labkit.grading.client import GraderError, Missing, StudentError, Submission, WorkerCrashed, WorkerTimeout
from labkit.protocol.codec import ProtocolError

__all__ = ["message_for", "timeout_message", "unwrap"]


def message_for(exc: BaseException, sub: Submission | None = None) -> tuple[CheckStatus, str]:
    """(status, student-facing message) for an exception raised by a check."""
    if isinstance(exc, CheckFailed):
        return CheckStatus.FAILED, str(exc)
    if isinstance(exc, GraderError):
        return CheckStatus.GRADER_ERROR, tr("Błąd sprawdzarki, nie Twój: ten test pominięto i nie obniża oceny; "
                                "prowadzący zobaczy go w raporcie.",
                                "A grader error, not yours: this check was left out and does not lower "
                                "the grade; your instructor sees it in the report.")
    if isinstance(exc, Missing):
        message = tr("Nie zdefiniowano `{name}` (nazwy z kontraktu nie mogą się zmieniać).",
                     "`{name}` is not defined (contract names must not change).", name=exc.name)
        return CheckStatus.FAILED, message + _failed_cells(sub)
    if isinstance(exc, StudentError):
        tb = "\n".join(exc.traceback[-6:])
        return CheckStatus.ERROR, tr("Wywołanie `{what}` zgłosiło wyjątek {type}: {msg}\n{tb}",
                           "Calling `{what}` raised {type}: {msg}\n{tb}",
                           what=exc.what, type=exc.type, msg=exc.message, tb=tb).rstrip()
    if isinstance(exc, WorkerTimeout):
        return (CheckStatus.OVERLOADED if exc.kind == "overload" else CheckStatus.TIMEOUT), timeout_message(exc)
    if isinstance(exc, WorkerCrashed):
        return CheckStatus.CRASHED, tr("Proces z Twoim kodem zakończył się podczas `{what}` {detail}.",
                             "The process running your code died during `{what}` {detail}.",
                             what=exc.what, detail=exc.detail)
    if isinstance(exc, ProtocolError):
        return CheckStatus.CRASHED, tr("Twój kod zwrócił dane, których nie da się odczytać ({msg}).",
                             "Your code returned data that cannot be read ({msg}).", msg=str(exc)[:200])
    if isinstance(exc, InvalidNotebook):
        return CheckStatus.ERROR, tr("Notatnika nie da się ocenić: {msg}", "The notebook cannot be graded: {msg}",
                           msg=str(exc))
    return CheckStatus.ERROR, tr("Wewnętrzny błąd sprawdzarki ({type}); zgłoś to prowadzącemu.",
                       "Internal grader error ({type}); please tell your instructor.",
                       type=type(exc).__name__)


def timeout_message(exc: WorkerTimeout) -> str:
    """Why a budget ran out, in the student's terms (budgets are CPU time, see Limits)."""
    if exc.earlier:
        return tr("`{what}` przekroczyło wcześniej limit {s:.0f} s czasu procesora; pominięto.",
                  "`{what}` exceeded its {s:.0f} s CPU-time limit earlier; skipped.",
                  what=exc.what, s=exc.seconds)
    if exc.kind == "idle":
        return tr("`{what}` czekało {s:.0f} s bez żadnych obliczeń (sleep, input(), zakleszczenie?); przerwano.",
                  "`{what}` waited {s:.0f} s without computing anything (sleep, input(), a deadlock?); stopped.",
                  what=exc.what, s=exc.seconds)
    if exc.kind == "overload":
        return tr("Sprawdzarka była przeciążona podczas `{what}` (Twój kod dostał za mało czasu procesora); "
                  "to nie Twoja wina, praca zostanie oceniona ponownie.",
                  "The grader was overloaded during `{what}` (your code got too little CPU time); "
                  "this is not your fault, the work will be graded again.", what=exc.what)
    return tr("`{what}` nie zakończyło się w limicie {s:.0f} s czasu procesora (pętla nieskończona?).",
              "`{what}` did not finish within its {s:.0f} s CPU-time limit (an infinite loop?).",
              what=exc.what, s=exc.seconds)


def _failed_cells(sub: Submission | None) -> str:
    """Which notebook cells did not run cleanly: the usual reason a name is missing."""
    if sub is None:
        return ""
    broken = [f"{index} ({run.error.get('type') if run.error else run.status})"
              for index, run in sorted(sub.cell_runs.items()) if run.status != CellStatus.OK]
    if not broken:
        return ""
    return " " + tr("Komórki z błędem: {cells}.", "Cells that failed: {cells}.", cells=", ".join(broken[:8]))


def unwrap(exc: BaseException) -> BaseException:
    """Hypothesis and pytest may wrap the check's exception; find the one that speaks."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (CheckFailed, GraderError, Missing, StudentError, WorkerTimeout, WorkerCrashed,
                            ProtocolError, InvalidNotebook)):
            return exc
        inner = getattr(exc, "exceptions", None)
        if inner:
            exc = inner[0]
            continue
        if exc.__cause__ is not None:
            exc = exc.__cause__
            continue
        break
    return exc
