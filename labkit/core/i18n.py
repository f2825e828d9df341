"""The language of student-facing text: ``LABKIT_LANG`` if set, else the assignment's own.

Every message is written in both languages at the place it is raised (``tr(pl, en)``),
so a translation cannot drift from the check that produces it.
"""
from __future__ import annotations

from typing import Any

from labkit.core.settings import load_settings


def language() -> str:
    """``LABKIT_LANG``, else the active assignment's language, else Polish."""
    override = load_settings().language
    if override:
        return override
    from labkit.core.assignment import active
    assignment = active()
    return assignment.language if assignment is not None else "pl"


def tr(pl: str, en: str, **fmt: Any) -> str:
    """The message in the current language, formatted."""
    text = en if language() == "en" else pl
    return text.format(**fmt) if fmt else text
