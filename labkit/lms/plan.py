"""The hand-in plan: every entry of an extracted LMS download, decided by the rules of
labkit/lms/collect.py's doc, with every file and what happens to it."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from labkit.core.cells import grade_ids
from labkit.lms import roster as roster_mod
from labkit.lms.extract import CONTENTS, Extraction, extraction_log
from labkit.lms.naming import CANVAS, LMS_NAMES, MOODLE, LmsFile, detect, parse
from labkit.lms.roster import Roster
from labkit.term.handin import Handin, HandinFile, HandinPlan
from labkit.term.handin import HandinStatus

KEPT = "kept"                   # submitted/<student>/<id>/kept/: handed in, not graded
JUNK = ("__MACOSX", ".ipynb_checkpoints", ".DS_Store", "Thumbs.db")

@dataclass
class _File:
    rel: str                  # path relative to extracted/
    info: LmsFile
    filename: str             # the student's path as shown: "x.zip/inner.ipynb" for zip contents
    stored: str               # the same, as on disk ("x.zip.contents/inner.ipynb"): unique among the entry's files
    from_zip: bool
    uploaded: dt.datetime | None   # the LMS zip entry's time (the outer zip's, for zip contents)
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
        return grade_ids(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):   # not JSON, not a notebook: it matches nothing
        return set()


def _owner(lms: str, rel: str) -> tuple[LmsFile | None, str, str, str]:
    """The LMS entry a file belongs to, the student's path as shown and as stored, and the
    path of the LMS's own zip entry it came from (itself, or the student's zip it is inside)."""
    parts = PurePosixPath(rel).parts
    for i, part in enumerate(parts):
        if part.lower().endswith(".zip" + CONTENTS):   # inside a student's zip: the zip's owner
            zip_rel = "/".join([*parts[:i], part[: -len(CONTENTS)]])
            info, shown, stored, outer = _owner(lms, zip_rel)
            inner = "/".join(parts[i + 1:])
            if info is None:
                return None, rel, rel, outer
            return info, f"{shown}/{inner}", f"{stored}{CONTENTS}/{inner}", outer
    info = parse(lms, rel)
    name = info.filename if info else rel
    return info, name, name, rel


def _time_key(f: _File) -> tuple:
    return (int(f.info.attachment_id or 0), f.uploaded or dt.datetime.min.replace(tzinfo=dt.timezone.utc))


def _files(extracted: Path, lms: str, log: Extraction, zone: ZoneInfo) -> tuple[dict[str, list[_File]], list[str]]:
    """The extracted files by LMS id, and those in no LMS's naming."""
    rels = sorted(p.relative_to(extracted).as_posix() for p in extracted.rglob("*") if p.is_file())
    files: dict[str, list[_File]] = {}
    unmatched: list[str] = []
    for rel in rels:
        info, shown, stored, outer = _owner(lms, rel)
        if info is None:
            unmatched.append(rel)
            continue
        naive = log.times.get(outer)
        uploaded = (dt.datetime.fromisoformat(naive).replace(tzinfo=zone) if naive else
                    dt.datetime.fromtimestamp((extracted / outer).stat().st_mtime, tz=zone))
        junk = any(part in JUNK or part.startswith("._") for part in PurePosixPath(shown).parts)
        files.setdefault(info.lms_id, []).append(_File(rel, info, shown, stored, shown != info.filename,
                                                       uploaded, junk))
    return files, unmatched


def detect_lms(extracted: Path) -> str:
    """The LMS whose naming the download's own files follow (not what is inside students' zips)."""
    return detect([p.relative_to(extracted).as_posix() for p in Path(extracted).rglob("*")
                   if p.is_file() and CONTENTS + "/" not in p.relative_to(extracted).as_posix() + "/"])


def plan_handins(*, extracted: Path, assignment_id: str, release: Path | None = None, roster: Roster | None = None,
                 lms: str = "auto", zip_timezone: str = "UTC", grade_drafts: bool = False) -> HandinPlan:
    """Every hand-in of an extracted LMS download, decided by the rules of this module.

    ``zip_timezone``: the zone in which the LMS wrote its zip entries' times (its server's:
    docs/lms.md). One odd entry never stops the plan: it becomes a flagged row."""
    extracted = Path(extracted)
    zone = ZoneInfo(zip_timezone)
    log = Extraction.read(extraction_log(extracted))
    if lms == "auto":
        lms = detect_lms(extracted)
    if lms not in LMS_NAMES:
        raise ValueError(f"unknown LMS {lms!r}")
    files, unmatched = _files(extracted, lms, log, zone)
    wanted = release_grade_ids(release)
    known = roster.by_lms_id() if roster is not None else {}
    handins: list[Handin] = []
    chosen: dict[str, _File] = {}
    for lms_id, group in sorted(files.items(), key=lambda kv: _lms_order(kv[0])):
        entry = known.get(lms_id)
        try:
            h, best = _plan_entry(lms, group, entry, extracted, assignment_id, wanted, grade_drafts)
        except Exception as exc:   # a bug or an oddity no rule foresaw: one flagged row, the class goes on
            h, best = _failed_entry(lms, group, entry, exc), None
        if best is not None:
            chosen[lms_id] = best
        handins.append(h)
    for entry in (roster.entries if roster is not None else []):
        if entry.lms_id not in files and entry.status == HandinStatus.LEFT_OUT:
            handins.append(Handin(lms=lms, lms_id=entry.lms_id, name=entry.name, student_id=entry.student_id,
                                  status=HandinStatus.LEFT_OUT, flags=["not_a_student"],
                                  notes=[f"not a student ({entry.source}): no gradebook entry"]))
        elif entry.lms_id not in files:
            handins.append(Handin(lms=lms, lms_id=entry.lms_id, name=entry.name, student_id=entry.student_id,
                                  status=HandinStatus.MISSING, flags=["no_submission"]))
    problems = _attribute_problems(log, lms, handins, extracted)
    _separate_shared_ids(handins, lms)
    handins.sort(key=lambda h: (h.student_id, _lms_order(h.lms_id)))
    plan = HandinPlan(assignment=assignment_id, lms=lms, handins=handins, unmatched=unmatched,
                      generated=dt.datetime.now(tz=dt.timezone.utc).astimezone(zone).isoformat(timespec="seconds"),
                      warnings=problems)
    if lms == CANVAS:
        _check_canvas_freshness(plan, files, log, zone)
    _tell_nbgrader(plan, files, chosen, extracted, assignment_id)
    return plan


def _new_handin(lms: str, group: list[_File], entry) -> Handin:
    first = group[0].info
    h = Handin(lms=lms, lms_id=first.lms_id, name=entry.name if entry and entry.name else first.name,
               student_id=entry.student_id if entry else f"{lms}-{roster_mod.clean_id(first.lms_id)}",
               status=HandinStatus.COLLECTED, prefix=first.prefix, folders=first.folders,
               trailing_underscore=first.prefix.endswith("_") and lms == MOODLE and first.folders)
    if entry is None:
        h.flags.append("not_on_roster")
    return h


def _plan_entry(lms: str, group: list[_File], entry, extracted: Path, assignment_id: str, wanted: set[str],
                grade_drafts: bool) -> tuple[Handin, _File | None]:
    """One LMS entry: which notebook is graded, what is kept, the time, the flags."""
    h = _new_handin(lms, group, entry)
    if entry is not None and entry.status == HandinStatus.LEFT_OUT:
        h.status, h.flags = HandinStatus.LEFT_OUT, ["not_a_student"]
        h.notes.append(f"not a student ({entry.source}): nothing collected, no gradebook entry")
        h.files = [HandinFile(f.filename, "left", why="not a student") for f in group]
        return h, None
    if entry is not None and entry.status == HandinStatus.DRAFT:
        h.flags.append("draft")
        if not grade_drafts:
            h.status = HandinStatus.DRAFT
            h.notes.append("a draft, not submitted for grading: not collected (c.LmsSettings.grade_drafts = True "
                           "grades drafts)")
            h.files = [HandinFile(f.filename, "left", why="draft") for f in group]
            return h, None
    notebooks = [f for f in group if f.is_notebook]
    h.notebooks = [f.filename for f in notebooks]
    best = None
    if notebooks:
        best = max(notebooks, key=lambda f: (len(_grade_ids(extracted / f.rel) & wanted), _time_key(f),
                                             PurePosixPath(f.filename).name == f"{assignment_id}.ipynb",
                                             f.filename))
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
        h.status = HandinStatus.NO_NOTEBOOK
        h.flags.append("no_notebook")
    others = [f for f in group if f is not best]
    h.kept = [f.filename for f in others]
    if any(not f.is_notebook and not f.is_zip and not f.junk for f in others):
        h.flags.append("extra_files")
    if any(f.is_zip and not (extracted / (f.rel + CONTENTS)).is_dir() for f in group):
        h.flags.append("unreadable_zip")
    if any(f.info.late for f in group):
        h.flags.append("lms_late")
    _timestamp(h, entry, best)
    return h, best


def _failed_entry(lms: str, group: list[_File], entry, exc: Exception) -> Handin:
    h = _new_handin(lms, group, entry)
    h.status = HandinStatus.ERROR
    h.flags.append("collect_error")
    h.notes.append(f"the collector failed on this entry ({type(exc).__name__}: {exc}); its files are in "
                   "downloaded/<id>/extracted/: grade it by hand or report the bug")
    h.files = [HandinFile(f.filename, "left", why="collector error") for f in group]
    return h


def _attribute_problems(log: Extraction, lms: str, handins: list[Handin], extracted: Path) -> list[str]:
    """Each zip entry that was not unpacked goes to its student's row; the rest to the plan."""
    by_id = {h.lms_id: h for h in handins}
    loose = []
    for p in log.problems:
        inner = p["zip"] + CONTENTS + "/" if (extracted / (p["zip"] + CONTENTS)).exists() or \
            (extracted / p["zip"]).is_file() else ""
        info, shown, _, _ = _owner(lms, inner + p["entry"]) if inner else (parse(lms, p["entry"]), p["entry"], "", "")
        h = by_id.get(info.lms_id) if info is not None else None
        if h is None:
            loose.append(f"{p['zip']}: {p['entry'] or '(the whole zip)'}: {p['why']}")
            continue
        h.files.append(HandinFile(shown if info else p["entry"], "skipped", why=p["why"]))
        if "skipped_entries" not in h.flags:
            h.flags.append("skipped_entries")
    return loose


def _check_canvas_freshness(plan: HandinPlan, files: dict[str, list[_File]], log: Extraction, zone) -> None:
    """Canvas stamps its entries with the time it built the zip, and may serve a zip built up
    to a day earlier (docs/lms.md): a submission newer than that is not in it, or not as it is now."""
    built = max((f.uploaded for group in files.values() for f in group if not f.from_zip and f.uploaded),
                default=None)
    if built is None:
        return
    plan.warnings.append(f"Canvas built this download at {built.isoformat(timespec='minutes')}: anything "
                         "submitted after that is not in it (Canvas may serve a zip up to a day old)")
    for h in plan.handins:
        if h.timestamp and dt.datetime.fromisoformat(h.timestamp) > built:
            h.flags.append("stale_download")
            h.notes.append(f"submitted {h.timestamp}, after the download was built ({built.isoformat()}): "
                           "download the submissions again")


def _tell_nbgrader(plan: HandinPlan, files: dict[str, list[_File]], chosen: dict[str, _File], extracted: Path,
                   assignment_id: str) -> None:
    """What zip_collect is told for each extracted file, and the same in each row's file list."""
    by_id = {h.lms_id: h for h in plan.handins}
    for lms_id, group in files.items():
        h = by_id[lms_id]
        if h.status in (HandinStatus.DRAFT, HandinStatus.ERROR, HandinStatus.LEFT_OUT):
            continue
        used: set[str] = set()
        records = []
        for f in group:
            path = str((extracted / f.rel).resolve())
            if f is chosen.get(lms_id):
                info = {"student_id": h.student_id, "file_id": f"{assignment_id}.ipynb"}
                if h.timestamp:
                    info["timestamp"] = h.timestamp
                records.append(HandinFile(f.filename, "graded", to=info["file_id"]))
            else:
                info = {"student_id": h.student_id, "file_id": _unique(f"{KEPT}/{f.stored}", used)}
                why = "system file" if f.junk else ("notebook not chosen" if f.is_notebook else "")
                records.append(HandinFile(f.filename, "kept", to=info["file_id"], why=why))
            plan.collect[path] = info
        h.files = records + h.files


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
    if best.uploaded is None:
        return
    h.timestamp = best.uploaded.isoformat()
    h.timestamp_source = ("Moodle zip entry (the file's upload time)" if h.lms == MOODLE else
                          "Canvas zip entry (when Canvas built the zip: an upper bound)")
    h.flags.append("time_from_zip")


def _separate_shared_ids(handins: list[Handin], lms: str) -> None:
    """Two LMS entries, one student id: flag both; the first with a notebook keeps the id."""
    groups: dict[str, list[Handin]] = {}
    for h in handins:
        groups.setdefault(h.student_id, []).append(h)
    for sid, group in groups.items():
        if len(group) < 2:
            continue
        ordered = sorted(group, key=lambda h: (h.status != HandinStatus.COLLECTED, _lms_order(h.lms_id)))
        ids = ", ".join(h.lms_id for h in ordered)
        for i, h in enumerate(ordered):
            h.flags.append("same_student_id")
            if i > 0:
                h.student_id = f"{sid}-{lms}-{roster_mod.clean_id(h.lms_id)}"
            h.notes.append(f"LMS entries {ids} all map to {sid!r}; graded as {h.student_id!r}: check the roster")
