"""From an LMS's "download all submissions" zip to nbgrader's submitted/ folder.

``nbgrader zip_collect <id>`` with the kit's plug-ins (nbgrader_config.py, "LMS" block):

1. ``LmsExtractor`` unpacks ``downloaded/<id>/archive/*.zip`` into ``downloaded/<id>/extracted/``
   entry by entry, and a student's own zip next to it (``<name>.zip.contents/``), so a notebook
   inside a zip inside the download is found. What it refuses, and each entry's time as the
   zip holds it, go to ``downloaded/<id>/extraction.json``; nothing it meets raises.
2. ``LmsCollector`` plans every hand-in once (``plan_handins``): who handed in what, by the
   LMS's naming (labkit/lms/naming.py) and the roster (labkit/lms/roster.py); which notebook is
   graded; what is kept; the submission time. nbgrader then copies the graded notebook to
   ``submitted/<student>/<id>/<id>.ipynb`` (and writes timestamp.txt) and everything else
   of that student to ``submitted/<student>/<id>/kept/`` (a zip's contents to
   ``kept/<zip>.contents/``, beside the zip: never a file and a folder of one name).
3. The plan is written as ``reports/<id>_handin.json`` and ``.csv``, with every file of every
   entry and what happened to it; the TA report shows it, ``labkit lms-export`` reads it.
   Roster students with nothing handed in are added to the gradebook, so nbgrader's grades.csv
   lists them with 0.

The rules (each with its flag; docs/lms.md):

* ``renamed``: the graded notebook is not called ``<id>.ipynb`` (``lab06 (1).ipynb``,
  ``Lab06.ipynb``, ``kopia lab06.ipynb``): any single notebook is the hand-in.
* ``several_notebooks``: more than one notebook; graded is the one carrying the most of the
  release's grade-cell ids, then the latest (Canvas: the highest attachment id, i.e. uploaded
  last; otherwise the upload time), then the one named ``<id>.ipynb``, then by name. The
  others are kept, never graded.
* ``from_zip``: the graded notebook came out of a zip the student handed in.
* ``extra_files``: files that are not notebooks are kept (``kept/``), never graded; system
  files (``__MACOSX/``, ``._*``, ``.DS_Store``) are kept and never candidates.
* ``no_notebook``: files but no notebook: 0 points, files kept.
* ``no_submission``: on the roster, nothing in the download: 0 points.
* ``draft``: Moodle's worksheet says the attempt is a draft: not collected unless
  ``c.LmsSettings.grade_drafts``.
* ``not_a_student``: Canvas's Test Student: nothing collected, no gradebook entry.
* ``not_on_roster``: an LMS entry the roster does not know: graded as ``<lms>-<lms id>``.
* ``same_student_id``: two LMS entries map to one student id: each is graded on its own (the
  first with a notebook, by LMS id, keeps the id; the others get ``<id>-<lms>-<lms id>``), so
  neither replaces the other; a TA decides.
* ``lms_late``: Canvas's LATE marker. ``time_from_zip``: the submission time is the zip entry's
  time, no better source: Moodle's is the file's upload, Canvas's the zip's build (each in its
  server's zone, ``LmsSettings``). ``stale_download``: Canvas built the zip before the
  student's last submission.
* ``unreadable_zip``: a zip that could not be unpacked (kept as it is); ``skipped_entries``:
  entries of a zip that were not unpacked, each with its reason.
* ``collect_error``: a rule failed on this entry; the entry is a row, the class goes on.
Files whose names follow neither LMS's naming are listed as ``unmatched``: no student, kept in
``downloaded/<id>/extracted/``.
"""
from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin
from traitlets import Bool, Enum, Int, Unicode
from traitlets.config import Configurable

from labkit.lms import roster as roster_mod
from labkit.lms.extract import CONTENTS, Extraction, extraction_log, safe_extract
from labkit.lms.naming import CANVAS, MOODLE
from labkit.lms.plan import detect_lms, plan_handins
from labkit.lms.roster import DEFAULT_TIMEZONE
from labkit.term.handin import HandinPlan, write_manifest
from labkit.term.handin import HandinStatus

class LmsSettings(Configurable):
    """Settings shared by the kit's zip_collect plug-ins (``c.LmsSettings.<name>``).

    Each source of a time has its own zone (docs/lms.md, "Submission times"): the zip entries
    carry the LMS server's local time; the worksheet's and the timestamps file's times are read
    by ``labkit lms-roster --timezone`` and stored with their offset in the roster."""

    lms = Enum(["auto", MOODLE, CANVAS], default_value="auto",
               help="The LMS of the download: 'auto' decides by its file names.").tag(config=True)
    moodle_zip_timezone = Unicode(DEFAULT_TIMEZONE, help=(
        "Moodle's server time zone ($CFG->timezone, else PHP's date.timezone): its download stamps each "
        "file with the file's upload time in this zone.")).tag(config=True)
    canvas_zip_timezone = Unicode("UTC", help=(
        "Canvas's server time zone: it stamps each entry with the time it built the zip, in this zone "
        "(UTC on Instructure-hosted Canvas).")).tag(config=True)
    grade_drafts = Bool(False, help=(
        "Moodle: also collect and grade a participant whose worksheet Status is a draft (not submitted "
        "for grading); flagged 'draft' either way.")).tag(config=True)

    def zip_timezone(self, lms: str) -> str:
        zone = self.moodle_zip_timezone if lms == MOODLE else self.canvas_zip_timezone
        try:
            ZoneInfo(zone)
        except Exception:
            raise ValueError(f"c.LmsSettings.{lms}_zip_timezone = {zone!r} is not an IANA time zone "
                             "(e.g. 'Europe/Warsaw', 'UTC')") from None
        return zone


class LmsExtractor(ExtractorPlugin, LmsSettings):
    """Unpacks the LMS's zip(s) keeping entry times, then every zip a student handed in."""

    max_bytes = Int(500 * 2**20, help="Most bytes unpacked from one zip.").tag(config=True)
    nested_depth = Int(2, help="How deep zips inside zips are unpacked.").tag(config=True)

    def extract(self, archive_path: str, extracted_path: str) -> None:
        archive, extracted = Path(archive_path), Path(extracted_path)
        log = Extraction()
        for path in sorted(p for p in archive.rglob("*") if p.is_file()):
            rel = path.relative_to(archive)
            if path.suffix.lower() == ".zip":
                target = extracted / rel.parent / path.stem
                self.log.info("Extracting %s -> %s", path, target)
                log.add(self._unpack(path, target, extracted, shown=rel.as_posix()))
            else:
                (extracted / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, extracted / rel)
        for _ in range(self.nested_depth):   # a student's zip, and a zip inside that
            nested = [p for p in extracted.rglob("*") if p.is_file() and p.suffix.lower() == ".zip"
                      and not Path(str(p) + CONTENTS).exists()]
            for path in sorted(nested):
                log.add(self._unpack(path, Path(str(path) + CONTENTS), extracted))
        log.write(extraction_log(extracted))

    def _unpack(self, path: Path, target: Path, extracted: Path, shown: str = "") -> Extraction:
        """One zip; a zip that cannot be opened at all is a recorded problem, not an exit."""
        where = shown or path.relative_to(extracted).as_posix()
        try:
            done = safe_extract(path, target, root=extracted, max_bytes=self.max_bytes)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
            self.log.warning("Cannot unpack %s (kept as it is): %s", where, exc)
            return Extraction(problems=[{"zip": where, "entry": "", "why": f"cannot be opened: {exc}"}])
        for problem in done.problems:
            self.log.warning("%s: not unpacked %s: %s", where, problem["entry"], problem["why"])
        return done


class LmsCollector(FileNameCollectorPlugin, LmsSettings):
    """Tells zip_collect, file by file, whose hand-in each extracted file is (``plan_handins``)."""

    roster = Unicode("", help="The roster CSV (default downloaded/<id>/roster.csv; optional).").tag(config=True)

    _plan: HandinPlan | None = None

    def _make_plan(self) -> HandinPlan:
        app = self.parent
        coursedir = app.coursedir
        course, assignment_id = Path(coursedir.root), coursedir.assignment_id
        # zip_collect's own layout (collect_directory_structure), from its public settings.
        extracted = Path(os.path.join(coursedir.root, app.collect_directory_structure).format(
            downloaded=app.downloaded_directory, assignment_id=assignment_id, collect_step=app.extracted_directory))
        roster_file = Path(self.roster) if self.roster else roster_mod.roster_path(course, assignment_id)
        roster = roster_mod.read(roster_file) if roster_file.is_file() else None
        if roster is None:
            self.log.warning("No roster at %s: every hand-in is graded under its LMS id (labkit lms-roster)",
                             roster_file)
        release = course / coursedir.release_directory / assignment_id / f"{assignment_id}.ipynb"
        lms = self.lms if self.lms != "auto" or roster is None or not roster.lms else roster.lms
        if lms == "auto":
            lms = detect_lms(extracted)
        plan = plan_handins(extracted=extracted, assignment_id=assignment_id, release=release, roster=roster,
                            lms=lms, zip_timezone=self.zip_timezone(lms), grade_drafts=self.grade_drafts)
        json_path, _ = write_manifest(plan, course)
        self.log.info("Hand-in manifest: %s", json_path)
        for h in plan.handins:
            if h.flags:
                self.log.warning("%s %s (%s): %s", h.lms, h.lms_id, h.student_id, ", ".join(h.flags))
        for rel in plan.unmatched:
            self.log.warning("Not in %s's naming, no student: %s", plan.lms, rel)
        for text in plan.warnings:
            self.log.warning("%s", text)
        self._register_students(plan, coursedir)
        return plan

    def _register_students(self, plan: HandinPlan, coursedir) -> None:
        """Every hand-in's student in the gradebook, with name and e-mail: those without a
        notebook too, so that nbgrader's grades.csv lists them (with 0)."""
        from nbgrader.api import Gradebook
        with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
            for h in plan.handins:
                if h.status == HandinStatus.LEFT_OUT:
                    continue
                first, last = _split_name(h.name, plan.lms)
                gb.update_or_create_student(h.student_id, first_name=first, last_name=last)

    def collect(self, submitted_file: str) -> dict | None:
        if self._plan is None:
            self._plan = self._make_plan()
        return self._plan.collect.get(str(Path(submitted_file).resolve()))


def _split_name(name: str, lms: str) -> tuple[str, str]:
    if "," in name:                                   # Canvas's sortable name: "Żółć, Łukasz"
        last, first = (s.strip() for s in name.split(",", 1))
        return first, last
    first, _, last = name.rpartition(" ")
    return first, last
