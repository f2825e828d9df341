"""From an LMS's "download all submissions" zip to nbgrader's submitted/ folder.

``nbgrader zip_collect <id>`` with the kit's plug-ins (nbgrader_config.py, "LMS" block):

1. ``LmsExtractor`` unpacks ``downloaded/<id>/archive/*.zip`` into ``downloaded/<id>/extracted/``
   keeping each entry's time, refusing unsafe paths, and unpacks a student's own zip next to
   it (``<name>.zip.contents/``), so a notebook inside a zip inside the download is found.
2. ``LmsCollector`` plans every hand-in once (``plan_handins``): who handed in what, by the
   LMS's naming (labkit/lms_naming.py) and the roster (labkit/roster.py); which notebook is
   graded; what is kept; the submission time. nbgrader then copies the graded notebook to
   ``submitted/<student>/<id>/<id>.ipynb`` (and writes timestamp.txt) and everything else
   of that student to ``submitted/<student>/<id>/kept/``.
3. The plan is written as ``reports/<id>_handin.json`` and ``.csv``; the TA report shows it,
   ``labkit lms-export`` reads it. Roster students with nothing handed in are added to the
   gradebook, so nbgrader's grades.csv lists them with 0.

The rules (each with its flag; docs/lms.md):

* ``renamed``: the graded notebook is not called ``<id>.ipynb`` (``lab06 (1).ipynb``,
  ``Lab06.ipynb``, ``kopia lab06.ipynb``): any single notebook is the hand-in.
* ``several_notebooks``: more than one notebook; graded is the one carrying the most of the
  release's grade-cell ids, then the latest (Canvas: the highest attachment id, i.e. uploaded
  last; otherwise the file time), then the one named ``<id>.ipynb``, then by name. The others
  are kept, never graded.
* ``from_zip``: the graded notebook came out of a zip the student handed in.
* ``extra_files``: files that are not notebooks are kept (``kept/``), never graded.
* ``no_notebook``: files but no notebook: 0 points, files kept.
* ``no_submission``: on the roster, nothing in the download: 0 points.
* ``not_on_roster``: an LMS entry the roster does not know: graded as ``<lms>-<lms id>``.
* ``same_student_id``: two LMS entries map to one student id: each is graded on its own (the
  first with a notebook, by LMS id, keeps the id; the others get ``<id>-<lms>-<lms id>``), so
  neither replaces the other; a TA decides.
* ``lms_late``: Canvas's LATE marker. ``time_from_zip``: the submission time is the zip entry's
  time (no better source); both LMSs write the time of the download there (docs/lms.md).
* ``unreadable_zip``: a zip that could not be unpacked (kept as it is).
Files whose names follow neither LMS's naming are listed as ``unmatched``: no student, kept in
``downloaded/<id>/extracted/``.
"""
from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin
from traitlets import Enum, Int, Unicode
from traitlets.config import Configurable

from labkit import roster as roster_mod
from labkit.handin import Handin, HandinPlan, write_manifest
from labkit.lms_naming import CANVAS, LMS_NAMES, MOODLE, LmsFile, detect, parse
from labkit.roster import DEFAULT_TIMEZONE, Roster

CONTENTS = ".contents"          # "x.zip" is unpacked into "x.zip.contents/"
KEPT = "kept"                   # submitted/<student>/<id>/kept/: handed in, not graded
JUNK = ("__MACOSX", ".ipynb_checkpoints", ".DS_Store", "Thumbs.db")


# --------------------------------------------------------------------------- plan


@dataclass
class _File:
    rel: str                  # path relative to extracted/
    info: LmsFile
    filename: str             # the student's path, "x.zip/inner.ipynb" for zip contents
    from_zip: bool
    mtime: dt.datetime
    junk: bool

    @property
    def is_notebook(self) -> bool:
        return self.filename.lower().endswith(".ipynb") and not self.junk

    @property
    def is_zip(self) -> bool:
        return self.filename.lower().endswith(".zip")


def release_grade_ids(release: Path | None) -> set[str]:
    """The nbgrader grade ids of the release notebook's cells (what a hand-in should carry)."""
    if release is None or not Path(release).is_file():
        return set()
    return _grade_ids(Path(release))


def _grade_ids(path: Path) -> set[str]:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        return {c["metadata"]["nbgrader"]["grade_id"] for c in nb.get("cells", [])
                if isinstance(c, dict) and isinstance(c.get("metadata", {}).get("nbgrader"), dict)
                and c["metadata"]["nbgrader"].get("grade_id")}
    except Exception:   # not JSON, not a notebook: it matches nothing
        return set()


def _owner(lms: str, rel: str) -> tuple[LmsFile | None, str, bool]:
    """The LMS entry a file belongs to, the student's own path, whether it came out of a zip."""
    parts = PurePosixPath(rel).parts
    for i, part in enumerate(parts):
        if part.lower().endswith(".zip" + CONTENTS):   # inside a student's zip: the zip's owner
            zip_rel = "/".join([*parts[:i], part[: -len(CONTENTS)]])
            info = parse(lms, zip_rel)
            if info is None:
                return None, rel, True
            return info, f"{info.filename}/{'/'.join(parts[i + 1:])}", True
    info = parse(lms, rel)
    return info, (info.filename if info else rel), False


def _time_key(f: _File) -> tuple:
    return (int(f.info.attachment_id or 0), f.mtime)


def plan_handins(*, extracted: Path, assignment_id: str, release: Path | None = None, roster: Roster | None = None,
                 lms: str = "auto", timezone: str = DEFAULT_TIMEZONE) -> HandinPlan:
    """Every hand-in of an extracted LMS download, decided by the rules of this module."""
    extracted = Path(extracted)
    zone = ZoneInfo(timezone)
    rels = sorted(p.relative_to(extracted).as_posix() for p in extracted.rglob("*") if p.is_file())
    if lms == "auto":
        lms = detect([r for r in rels if CONTENTS + "/" not in r])
    if lms not in LMS_NAMES:
        raise ValueError(f"unknown LMS {lms!r}")
    files: dict[str, list[_File]] = {}
    unmatched: list[str] = []
    for rel in rels:
        info, filename, from_zip = _owner(lms, rel)
        if info is None:
            unmatched.append(rel)
            continue
        mtime = dt.datetime.fromtimestamp((extracted / rel).stat().st_mtime, tz=zone)
        junk = any(part in JUNK for part in PurePosixPath(filename).parts)
        files.setdefault(info.lms_id, []).append(_File(rel, info, filename, from_zip, mtime, junk))

    wanted = release_grade_ids(release)
    known = roster.by_lms_id() if roster is not None else {}
    handins: list[Handin] = []
    chosen: dict[str, _File] = {}
    for lms_id, group in sorted(files.items(), key=lambda kv: _lms_order(kv[0])):
        first = group[0].info
        entry = known.get(lms_id)
        h = Handin(lms=lms, lms_id=lms_id, name=entry.name if entry and entry.name else first.name,
                   student_id=entry.student_id if entry else f"{lms}-{roster_mod.clean_id(lms_id)}",
                   status="collected", prefix=first.prefix, folders=first.folders,
                   trailing_underscore=first.prefix.endswith("_") and lms == MOODLE and first.folders)
        if entry is None:
            h.flags.append("not_on_roster")
        notebooks = [f for f in group if f.is_notebook]
        h.notebooks = [f.filename for f in notebooks]
        if notebooks:
            ranked = sorted(notebooks, key=lambda f: (len(_grade_ids(extracted / f.rel) & wanted), _time_key(f),
                                                     PurePosixPath(f.filename).name == f"{assignment_id}.ipynb",
                                                     f.filename), reverse=True)
            best = ranked[0]
            chosen[lms_id] = best
            h.graded_file, h.attachment_id = best.filename, best.info.attachment_id
            if PurePosixPath(best.filename).name != f"{assignment_id}.ipynb":
                h.flags.append("renamed")
            if len(notebooks) > 1:
                h.flags.append("several_notebooks")
                h.notes.append(f"graded {best.filename!r} of {len(notebooks)} notebooks "
                               "(most release grade ids, then latest); the others are in kept/")
            if best.from_zip:
                h.flags.append("from_zip")
        else:
            h.status = "no_notebook"
            h.flags.append("no_notebook")
        others = [f for f in group if f is not chosen.get(lms_id)]
        h.kept = [f.filename for f in others]
        if any(not f.is_notebook and not f.is_zip and not f.junk for f in others):
            h.flags.append("extra_files")
        for f in group:
            if f.is_zip and not (extracted / (f.rel + CONTENTS)).is_dir():
                h.flags.append("unreadable_zip")
                break
        if any(f.info.late for f in group):
            h.flags.append("lms_late")
        _timestamp(h, entry, chosen.get(lms_id))
        handins.append(h)

    for entry in (roster.entries if roster is not None else []):
        if entry.lms_id not in files:
            handins.append(Handin(lms=lms, lms_id=entry.lms_id, name=entry.name, student_id=entry.student_id,
                                  status="missing", flags=["no_submission"]))
    _separate_shared_ids(handins, lms)
    handins.sort(key=lambda h: (h.student_id, _lms_order(h.lms_id)))

    plan = HandinPlan(assignment=assignment_id, lms=lms, handins=handins, unmatched=unmatched,
                      generated=dt.datetime.now(tz=zone).isoformat(timespec="seconds"))
    by_id = {h.lms_id: h for h in handins}
    for lms_id, group in files.items():
        h = by_id[lms_id]
        used: set[str] = set()
        for f in group:
            path = str((extracted / f.rel).resolve())
            if f is chosen.get(lms_id):
                info = {"student_id": h.student_id, "file_id": f"{assignment_id}.ipynb"}
                if h.timestamp:
                    info["timestamp"] = h.timestamp
            else:
                info = {"student_id": h.student_id, "file_id": _unique(f"{KEPT}/{f.filename}", used)}
            plan.collect[path] = info
    return plan


def _lms_order(lms_id: str) -> tuple:
    return (0, int(lms_id), "") if lms_id.isdigit() else (1, 0, lms_id)


def _unique(name: str, used: set[str]) -> str:
    candidate, i = name, 1
    stem, dot, ext = name.rpartition(".")
    while candidate in used:
        i += 1
        candidate = f"{stem} ({i}).{ext}" if dot and "/" not in ext else f"{name} ({i})"
    used.add(candidate)
    return candidate


def _timestamp(h: Handin, entry, best: _File | None) -> None:
    """Submission time: the LMS export's (Moodle worksheet, Canvas timestamps file) first; else
    the zip entry's time, flagged; Canvas without its LATE marker needs none (on time)."""
    if entry is not None and entry.submitted_at:
        h.timestamp = entry.submitted_at
        h.timestamp_source = "Moodle grading worksheet" if h.lms == MOODLE else "timestamps file"
        return
    if best is None:
        return
    if h.lms == CANVAS and "lms_late" not in h.flags:
        h.timestamp_source = "none (Canvas: not marked LATE)"
        return
    h.timestamp = best.mtime.isoformat()
    h.timestamp_source = "zip entry time"
    h.flags.append("time_from_zip")


def _separate_shared_ids(handins: list[Handin], lms: str) -> None:
    """Two LMS entries, one student id: flag both; the first with a notebook keeps the id."""
    groups: dict[str, list[Handin]] = {}
    for h in handins:
        groups.setdefault(h.student_id, []).append(h)
    for sid, group in groups.items():
        if len(group) < 2:
            continue
        ordered = sorted(group, key=lambda h: (h.status != "collected", _lms_order(h.lms_id)))
        ids = ", ".join(h.lms_id for h in ordered)
        for i, h in enumerate(ordered):
            h.flags.append("same_student_id")
            if i > 0:
                h.student_id = f"{sid}-{lms}-{roster_mod.clean_id(h.lms_id)}"
            h.notes.append(f"LMS entries {ids} all map to {sid!r}; graded as {h.student_id!r}: check the roster")


# --------------------------------------------------------------------------- extraction


def _zip_time(info: zipfile.ZipInfo, zone: ZoneInfo) -> float:
    """A zip entry's (local, naive) time as epoch seconds in the LMS's time zone."""
    try:
        return dt.datetime(*info.date_time, tzinfo=zone).timestamp()
    except ValueError:
        return calendar.timegm((1980, 1, 1, 0, 0, 0))


def safe_extract(archive: Path, dest: Path, *, timezone: str = DEFAULT_TIMEZONE, max_bytes: int = 500 * 2**20,
                 max_files: int = 20000) -> list[str]:
    """Unpack ``archive`` into ``dest`` keeping entry times; returns what was skipped and why.

    Entries with absolute paths or ``..``, symlinks, and anything past ``max_files`` entries
    or ``max_bytes`` unpacked are skipped (a zip handed in by a student is untrusted)."""
    zone = ZoneInfo(timezone)
    skipped: list[str] = []
    total = 0
    dest = Path(dest)
    with zipfile.ZipFile(archive) as zf:
        for n, info in enumerate(zf.infolist()):
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if info.is_dir() or not parts:
                continue
            if n >= max_files or name.startswith("/") or ".." in parts or ":" in parts[0]:
                skipped.append(f"{name}: unsafe path or too many entries")
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                skipped.append(f"{name}: symbolic link")
                continue
            total += info.file_size
            if total > max_bytes:
                skipped.append(f"{name}: over {max_bytes} bytes unpacked")
                continue
            if parts[-1].lower().endswith(".ipynb") and not parts[-1].endswith(".ipynb"):
                parts[-1] = parts[-1][:-6] + ".ipynb"   # nbgrader only finds "*.ipynb"
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            when = _zip_time(info, zone)
            os.utime(target, (when, when))
    return skipped


class LmsSettings(Configurable):
    """Settings shared by the kit's zip_collect plug-ins (``c.LmsSettings.<name>``)."""

    lms = Enum(["auto", MOODLE, CANVAS], default_value="auto",
               help="The LMS of the download: 'auto' decides by its file names.").tag(config=True)
    timezone = Unicode(DEFAULT_TIMEZONE, help="Time zone of the LMS's times (worksheet, zip entries).").tag(config=True)


class LmsExtractor(ExtractorPlugin, LmsSettings):
    """Unpacks the LMS's zip(s) keeping entry times, then every zip a student handed in."""

    max_bytes = Int(500 * 2**20, help="Most bytes unpacked from one zip.").tag(config=True)
    nested_depth = Int(2, help="How deep zips inside zips are unpacked.").tag(config=True)

    def extract(self, archive_path: str, extracted_path: str) -> None:
        archive, extracted = Path(archive_path), Path(extracted_path)
        for path in sorted(p for p in archive.rglob("*") if p.is_file()):
            rel = path.relative_to(archive)
            if path.suffix.lower() == ".zip":
                target = extracted / rel.parent / path.stem
                self.log.info("Extracting %s -> %s", path, target)
                for problem in safe_extract(path, target, timezone=self.timezone, max_bytes=self.max_bytes):
                    self.log.warning("%s: skipped %s", path.name, problem)
            else:
                (extracted / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, extracted / rel)
        for _ in range(self.nested_depth):   # a student's zip, and a zip inside that
            nested = [p for p in extracted.rglob("*") if p.is_file() and p.suffix.lower() == ".zip"
                      and not Path(str(p) + CONTENTS).exists()]
            for path in sorted(nested):
                try:
                    problems = safe_extract(path, Path(str(path) + CONTENTS), timezone=self.timezone,
                                            max_bytes=self.max_bytes)
                except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
                    self.log.warning("Cannot unpack %s (kept as it is): %s", path, exc)
                    continue
                for problem in problems:
                    self.log.warning("%s: skipped %s", path.name, problem)


class LmsCollector(FileNameCollectorPlugin, LmsSettings):
    """Tells zip_collect, file by file, whose hand-in each extracted file is (``plan_handins``)."""

    roster = Unicode("", help="The roster CSV (default downloaded/<id>/roster.csv; optional).").tag(config=True)

    _plan: HandinPlan | None = None

    def _make_plan(self) -> HandinPlan:
        app = self.parent
        coursedir = app.coursedir
        course, assignment_id = Path(coursedir.root), coursedir.assignment_id
        extracted = Path(app._format_collect_path(app.extracted_directory))
        roster_file = Path(self.roster) if self.roster else roster_mod.roster_path(course, assignment_id)
        roster = roster_mod.read(roster_file) if roster_file.is_file() else None
        if roster is None:
            self.log.warning("No roster at %s: every hand-in is graded under its LMS id (labkit lms-roster)",
                             roster_file)
        release = course / coursedir.release_directory / assignment_id / f"{assignment_id}.ipynb"
        lms = self.lms if self.lms != "auto" or roster is None or not roster.lms else roster.lms
        plan = plan_handins(extracted=extracted, assignment_id=assignment_id, release=release, roster=roster,
                            lms=lms, timezone=self.timezone)
        json_path, _ = write_manifest(plan, course)
        self.log.info("Hand-in manifest: %s", json_path)
        for h in plan.handins:
            if h.flags:
                self.log.warning("%s %s (%s): %s", h.lms, h.lms_id, h.student_id, ", ".join(h.flags))
        for rel in plan.unmatched:
            self.log.warning("Not in %s's naming, no student: %s", plan.lms, rel)
        self._register_students(plan, coursedir)
        return plan

    def _register_students(self, plan: HandinPlan, coursedir) -> None:
        """Every hand-in's student in the gradebook, with name and e-mail: those without a
        notebook too, so that nbgrader's grades.csv lists them (with 0)."""
        from nbgrader.api import Gradebook
        with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
            for h in plan.handins:
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
