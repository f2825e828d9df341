"""The hand-in manifest: what the LMS collector decided for every LMS entry.

``reports/<id>_handin.json`` (and a ``.csv`` for spreadsheets) is written by the zip_collect
plug-in (labkit/lms/collect.py) and read by the TA report's "Hand-in" section
(labkit/insight/report.py) and by ``labkit lms-export`` (labkit/lms/export.py). Kept apart from the
plug-in so that reading it needs no nbgrader.
"""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

FLAGS = {
    "renamed": "the graded notebook had another name",
    "several_notebooks": "several notebooks; one graded by the rule, the others kept",
    "from_zip": "the notebook came out of a zip the student handed in",
    "extra_files": "files that are not notebooks were kept, not graded",
    "no_notebook": "no notebook among the files: 0 points",
    "no_submission": "on the roster, nothing handed in: 0 points",
    "not_on_roster": "not on the roster: graded under an id made from the LMS id",
    "same_student_id": "another LMS entry maps to the same student id: graded separately",
    "lms_late": "the LMS marked the submission late",
    "time_from_zip": "submission time from the zip entry: Moodle's file upload time, Canvas's zip build time",
    "unreadable_zip": "a zip that could not be unpacked (kept as it is)",
    "skipped_entries": "entries of a zip were not unpacked (unsafe path, link, size limit, unreadable): see files",
    "draft": "Moodle: a draft, not submitted for grading",
    "stale_download": "Canvas: the download zip was built before this submission came in: download again",
    "not_a_student": "an LMS account that is no student (Canvas's Test Student): nothing collected, no grade",
    "collect_error": "the collector failed on this entry: nothing of it was collected (see notes)",
}

# What happened to each file of an entry (``Handin.files``).
ACTIONS = {
    "graded": "copied to submitted/<student>/<id>/<id>.ipynb and graded",
    "kept": "copied to submitted/<student>/<id>/kept/, never graded",
    "left": "left in downloaded/<id>/extracted/: not collected",
    "skipped": "not unpacked from its zip",
}


class HandinStatus(StrEnum):
    """What became of one LMS entry's hand-in. A StrEnum: it is its own string in the manifest."""

    COLLECTED = "collected"          # a notebook went to nbgrader
    NO_NOTEBOOK = "no_notebook"      # files, but none of them the assignment's notebook
    MISSING = "missing"              # nothing handed in
    DRAFT = "draft"                  # a draft the student never submitted (kept, not graded)
    ERROR = "error"                  # the collector failed on it: a TA's case, never a number
    LEFT_OUT = "left_out"            # not a student (the Canvas Test Student, a teacher)


@dataclass
class HandinFile:
    """One file (or zip entry) of an LMS entry and what the collector did with it."""

    file: str                                   # the student's own path ("x.zip/inner.ipynb" inside a zip)
    action: str                                 # a key of ACTIONS
    to: str = ""                                # where it went, relative to submitted/<student>/<id>/
    why: str = ""


@dataclass
class Handin:
    """One LMS entry: what it handed in and what the kit does with it."""

    lms: str
    lms_id: str
    name: str
    student_id: str
    status: HandinStatus
    flags: list[str] = field(default_factory=list)
    graded_file: str = ""                       # the student's own file name of the graded notebook
    notebooks: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    timestamp: str = ""                         # ISO 8601 with offset, or ""
    timestamp_source: str = ""
    notes: list[str] = field(default_factory=list)
    prefix: str = ""                            # the LMS's per-entry name prefix (feedback names)
    attachment_id: str = ""                     # Canvas: the graded file's attachment id
    folders: bool = True                        # Moodle: the download was "in folders"
    trailing_underscore: bool = False           # Moodle 3.1-4.0 folder names end with "_"
    files: list[HandinFile] = field(default_factory=list)


@dataclass
class HandinPlan:
    assignment: str
    lms: str
    handins: list[Handin]
    unmatched: list[str] = field(default_factory=list)
    generated: str = ""
    warnings: list[str] = field(default_factory=list)   # about the whole download (stale zip, skipped entries)
    # extracted file (absolute) -> what nbgrader's zip_collect is told; not part of the manifest
    collect: dict[str, dict] = field(default_factory=dict, repr=False)

    def manifest(self) -> dict:
        return {"assignment": self.assignment, "lms": self.lms, "generated": self.generated,
                "flags": FLAGS, "actions": ACTIONS, "handins": [asdict(h) for h in self.handins],
                "unmatched": self.unmatched, "warnings": self.warnings}


# --------------------------------------------------------------------------- manifest


def manifest_paths(course: Path, assignment_id: str) -> tuple[Path, Path]:
    """``reports/<id>_handin.json`` and ``reports/<id>_handin.csv``."""
    reports = Path(course) / "reports"
    return reports / f"{assignment_id}_handin.json", reports / f"{assignment_id}_handin.csv"


def write_manifest(plan: HandinPlan, course: Path) -> tuple[Path, Path]:
    json_path, csv_path = manifest_paths(course, plan.assignment)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(plan.manifest(), indent=1, ensure_ascii=False), encoding="utf-8")
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["lms", "lms_id", "name", "student_id", "status", "flags", "graded_file", "kept",
                         "timestamp", "timestamp_source", "notes", "files"])
        for h in plan.handins:
            writer.writerow([h.lms, h.lms_id, h.name, h.student_id, h.status, " ".join(h.flags), h.graded_file,
                             " | ".join(h.kept), h.timestamp, h.timestamp_source, " ".join(h.notes),
                             " | ".join(f"{f.file}: {f.action}" + (f" ({f.why})" if f.why else "") for f in h.files)])
        for rel in plan.unmatched:
            writer.writerow([plan.lms, "", "", "", "unmatched", "", "", rel, "", "", "no LMS naming: no student", ""])
    return json_path, csv_path


def load_manifest(course: Path, assignment_id: str) -> dict | None:
    """The collector's manifest, or None when this assignment was not collected from an LMS."""
    path = manifest_paths(course, assignment_id)[0]
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
