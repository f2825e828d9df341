"""The language of student-facing text: ``LABKIT_LANG`` if set, else the assignment's own.

Every message is written in both languages at the place it is raised (``tr(pl, en)``),
so a translation cannot drift from the check that produces it.
"""
from __future__ import annotations

from typing import Any

from labkit.core.settings import load_settings


def language_for(assignment=None) -> str:
    """``LABKIT_LANG``, else ``assignment``'s language (default: the active one), else Polish."""
    override = load_settings().language
    if override:
        return override
    if assignment is None:
        from labkit.core.assignment import active
        assignment = active()
    return assignment.language if assignment is not None else "pl"


def language() -> str:
    """The language of the assignment being graded (``language_for`` the active one)."""
    return language_for(None)


def tr(pl: str, en: str, *, lang: str | None = None, **fmt: Any) -> str:
    """The message in ``lang`` (default: the current language), formatted."""
    text = en if (lang or language()) == "en" else pl
    return text.format(**fmt) if fmt else text


def number(value: float, lang: str | None = None, digits: int = 2) -> str:
    """A number for people: at most ``digits`` decimals, a decimal comma in Polish."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if (lang or language()) == "pl" else text
