"""The exporter of the feedback page: nbgrader's HTML feedback, started with the kit's summary."""
from __future__ import annotations

from pathlib import Path

import nbgrader
from nbconvert.exporters import HTMLExporter

__all__ = ["FeedbackPage", "TEMPLATE_DIRS"]

# The kit's labkit_feedback template extends nbgrader's feedback template, so both folders are searched.
TEMPLATE_DIRS = [str(Path(__file__).parent / "templates"),
                 str(Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates")]


class FeedbackPage(HTMLExporter):
    """``GenerateFeedback.exporter_class``. Configured under its own name (nbgrader_config.py),
    because nbgrader sets ``HTMLExporter.template_name = 'feedback'`` for every feedback run,
    and a subclass's own section is the one that wins."""
