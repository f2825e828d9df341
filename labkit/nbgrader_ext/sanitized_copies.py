"""What nbgrader's sanitizing pass will make of each submission, for the prefetch.

``nbgrader autograde`` sanitizes a submission before grading it (``Autograde.sanitize_preprocessors``:
locked cells restored from the gradebook's source, outputs cleared, missing grade cells put
back). The kit's prefetch grades the whole batch before nbgrader visits any of it, and its
verdicts are found again by the notebook's content. So it grades what nbgrader will grade:
the same preprocessors, configured as the converter configures them, run on a copy. A student
who edited a locked demonstration cell then gets the prefetched verdict too, instead of being
graded a second time, serially, during nbgrader's visit.
"""
from __future__ import annotations

import logging
from pathlib import Path

from nbconvert.exporters import NotebookExporter

__all__ = ["sanitized_copies"]


def sanitized_copies(converter, submitted: dict[str, list[Path]], folder: Path,
                     log: logging.Logger) -> list[Path]:
    """``submitted``: nbgrader's ``submitted/<student>/<assignment>`` -> its notebooks. Each
    notebook sanitized as the converter will, written under ``folder``; a notebook the
    sanitizing refuses is listed as it is (nbgrader will grade or reject it on its visit)."""
    exporter = NotebookExporter(parent=converter)
    for preprocessor in converter.sanitize_preprocessors:
        exporter.register_preprocessor(preprocessor, enabled=True)
    copies = []
    for student_folder, notebooks in sorted(submitted.items()):
        student, assignment_id = Path(student_folder).parent.name, Path(student_folder).name
        for notebook in sorted(notebooks):
            notebook = Path(notebook)
            resources = {"unique_key": notebook.stem, "output_files_dir": f"{notebook.stem}_files",
                         "nbgrader": {"student": student, "assignment": assignment_id,
                                      "notebook": notebook.stem, "db_url": converter.coursedir.db_url}}
            try:
                output, _ = exporter.from_filename(str(notebook), resources=resources)
            except Exception as exc:   # unreadable, or refused by CheckCellMetadata: nbgrader's call
                log.info("labkit: prefetch takes %s as submitted (%s: %s)", notebook, type(exc).__name__, exc)
                copies.append(notebook)
                continue
            copy = folder / student / f"{notebook.stem}.ipynb"
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(output, encoding="utf-8")
            copies.append(copy)
    return copies
