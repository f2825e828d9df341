"""The page a student fetches for a submission over the day's budget: it was received and
counts for the grade as usual, and its feedback comes after the deadline."""
from __future__ import annotations

import html
import shutil
from pathlib import Path

from labkit.core.i18n import tr

__all__ = ["write_note"]

_PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"/><title>{title}</title></head>
<body><h4>{title}</h4><p class="labkit-over-budget">{text}</p></body></html>
"""


def write_note(submitted: Path, feedback: Path, *, attempts: int, lang: str) -> None:
    """A note page per notebook of ``submitted`` in ``feedback`` (what nbgrader's
    release_feedback releases), with the submission's timestamp and secret beside it."""
    if feedback.exists():
        shutil.rmtree(feedback)
    feedback.mkdir(parents=True)
    for name in ("timestamp.txt", "submission_secret.txt"):
        shutil.copy(submitted / name, feedback / name)
    stamp = (submitted / "timestamp.txt").read_text(encoding="utf-8").strip()
    text = tr("Zgłoszenie z {t} przyjęte i liczy się do oceny jak zwykle. Wszystkie {n} dzisiejsze sprawdzenia "
              "są już wykorzystane, więc jego wynik zobaczysz po terminie (jutro limit zaczyna się od nowa).",
              "Your submission of {t} was received and counts for the grade as usual. All {n} of today's checks "
              "are used, so its results come after the deadline (tomorrow the count starts again).",
              t=stamp, n=attempts, lang=lang)
    for notebook in sorted(submitted.glob("*.ipynb")):
        page = _PAGE.format(lang=lang, title=html.escape(notebook.stem), text=html.escape(text))
        (feedback / f"{notebook.stem}.html").write_text(page, encoding="utf-8")
