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

import datetime as dt
import json
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin
from traitlets import Bool, Enum, Int, Unicode
from traitlets.config import Configurable

from labkit.lms import roster as roster_mod
from labkit.term.handin import Handin, HandinFile, HandinPlan, write_manifest
from labkit.lms.naming import CANVAS, LMS_NAMES, MOODLE, LmsFile, detect, parse
from labkit.lms.roster import DEFAULT_TIMEZONE, Roster

CONTENTS = ".contents"          # "x.zip" is unpacked into "x.zip.contents/"
KEPT = "kept"                   # submitted/<student>/<id>/kept/: handed in, not graded
JUNK = ("__MACOSX", ".ipynb_checkpoints", ".DS_Store", "Thumbs.db")


# --------------------------------------------------------------------------- plan


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
        nb = json.loads(path.read_text(encoding="utf-8"))
        return {c["metadata"]["nbgrader"]["grade_id"] for c in nb.get("cells", [])
                if isinstance(c, dict) and isinstance(c.get("metadata", {}).get("nbgrader"), dict)
                and c["metadata"]["nbgrader"].get("grade_id")}
    except Exception:   # not JSON, not a notebook: it matches nothing
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
        if entry.lms_id not in files and entry.status == "left_out":
            handins.append(Handin(lms=lms, lms_id=entry.lms_id, name=entry.name, student_id=entry.student_id,
                                  status="left_out", flags=["not_a_student"],
                                  notes=[f"not a student ({entry.source}): no gradebook entry"]))
        elif entry.lms_id not in files:
            handins.append(Handin(lms=lms, lms_id=entry.lms_id, name=entry.name, student_id=entry.student_id,
                                  status="missing", flags=["no_submission"]))
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
               status="collected", prefix=first.prefix, folders=first.folders,
               trailing_underscore=first.prefix.endswith("_") and lms == MOODLE and first.folders)
    if entry is None:
        h.flags.append("not_on_roster")
    return h


def _plan_entry(lms: str, group: list[_File], entry, extracted: Path, assignment_id: str, wanted: set[str],
                grade_drafts: bool) -> tuple[Handin, _File | None]:
    """One LMS entry: which notebook is graded, what is kept, the time, the flags."""
    h = _new_handin(lms, group, entry)
    if entry is not None and entry.status == "left_out":
        h.status, h.flags = "left_out", ["not_a_student"]
        h.notes.append(f"not a student ({entry.source}): nothing collected, no gradebook entry")
        h.files = [HandinFile(f.filename, "left", why="not a student") for f in group]
        return h, None
    if entry is not None and entry.status == "draft":
        h.flags.append("draft")
        if not grade_drafts:
            h.status = "draft"
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
        h.status = "no_notebook"
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
    h.status = "error"
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
        if h.status in ("draft", "error", "left_out"):
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
        ordered = sorted(group, key=lambda h: (h.status != "collected", _lms_order(h.lms_id)))
        ids = ", ".join(h.lms_id for h in ordered)
        for i, h in enumerate(ordered):
            h.flags.append("same_student_id")
            if i > 0:
                h.student_id = f"{sid}-{lms}-{roster_mod.clean_id(h.lms_id)}"
            h.notes.append(f"LMS entries {ids} all map to {sid!r}; graded as {h.student_id!r}: check the roster")


# --------------------------------------------------------------------------- extraction


@dataclass
class Extraction:
    """What unpacking wrote and what it refused, for the collector (``extraction.json`` beside
    extracted/): each unpacked file's zip entry time as the zip holds it (a naive local time,
    whose zone depends on who wrote the zip: docs/lms.md), and each entry not unpacked."""

    times: dict[str, str] = field(default_factory=dict)        # path under extracted/ -> naive ISO time
    problems: list[dict] = field(default_factory=list)         # {"zip", "entry", "why"}

    def add(self, other: "Extraction") -> None:
        self.times.update(other.times)
        self.problems.extend(other.problems)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps({"times": self.times, "problems": self.problems}, indent=1, ensure_ascii=False),
                        encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> "Extraction":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        return cls(times=dict(data.get("times", {})), problems=list(data.get("problems", [])))


def extraction_log(extracted: Path) -> Path:
    """``downloaded/<id>/extraction.json``: next to extracted/, never inside it (zip_collect
    would take it for a hand-in)."""
    return Path(extracted).parent / "extraction.json"


def entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as its writer meant it. Without the UTF-8 flag (bit 11) Python reads
    names as cp437; Canvas (rubyzip) and macOS write UTF-8 without the flag, so UTF-8 is tried
    first, which a real cp437 name of non-ASCII bytes almost never is."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _entry_parts(info: zipfile.ZipInfo) -> list[str]:
    return [p for p in entry_name(info).replace("\\", "/").split("/") if p not in ("", ".")]


def _refusal(info: zipfile.ZipInfo, parts: list[str], n: int, max_files: int) -> str:
    """Why an entry must not be unpacked, or ""."""
    if n >= max_files:
        return f"more than {max_files} entries"
    if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        return "unsafe path (absolute, drive or ..)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    return ""


def safe_extract(archive: Path, dest: Path, *, root: Path | None = None, max_bytes: int = 500 * 2**20,
                 max_files: int = 20000) -> Extraction:
    """Unpack ``archive`` into ``dest``, entry by entry; what was refused is recorded, never raised.

    A zip handed in by a student is untrusted and may be odd in any way: entries with absolute
    paths or ``..``, links, anything past ``max_files`` entries or ``max_bytes`` unpacked, an
    encrypted or unsupported entry, a name the file system refuses, a file where a folder of the
    same name is needed. Each is skipped with its reason; the other entries are unpacked.
    Times are recorded as the zip holds them (naive); paths are relative to ``root``
    (default ``dest``). Each file's mtime is its entry time read as UTC (only the record is
    authoritative: the zone is the collector's to decide)."""
    dest = Path(dest)
    root = Path(root) if root is not None else dest
    out = Extraction()
    total = 0
    where = archive.relative_to(root).as_posix() if archive.is_relative_to(root) else archive.name
    with zipfile.ZipFile(archive) as zf:
        for n, info in enumerate(zf.infolist()):
            parts = _entry_parts(info)
            if info.is_dir() or not parts:
                continue
            why = _refusal(info, parts, n, max_files)
            if not why and total + info.file_size > max_bytes:
                why = f"over {max_bytes} bytes unpacked"
            if why:
                out.problems.append({"zip": where, "entry": entry_name(info), "why": why})
                continue
            total += info.file_size
            if parts[-1].lower().endswith(".ipynb") and not parts[-1].endswith(".ipynb"):
                parts[-1] = parts[-1][:-6] + ".ipynb"   # nbgrader only finds "*.ipynb"
            target = dest.joinpath(*parts)
            created = False
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src:
                    with open(target, "xb") as fh:
                        created = True
                        shutil.copyfileobj(src, fh)
            except (OSError, RuntimeError, NotImplementedError, zipfile.BadZipFile, EOFError) as exc:
                out.problems.append({"zip": where, "entry": entry_name(info), "why": _why(exc)})
                if created:                       # half written (a bad CRC, a full disk): not a hand-in
                    target.unlink(missing_ok=True)
                continue
            try:
                naive = dt.datetime(*info.date_time)
            except ValueError:
                naive = dt.datetime(1980, 1, 1)
            stamp = naive.replace(tzinfo=dt.timezone.utc).timestamp()
            os.utime(target, (stamp, stamp))
            out.times[target.relative_to(root).as_posix()] = naive.isoformat()
    return out


def _why(exc: BaseException) -> str:
    if isinstance(exc, (FileExistsError, IsADirectoryError)):
        return "another entry of the zip has this name, or a folder of this name"
    if isinstance(exc, NotADirectoryError):
        return "a folder of this path is a file in the same zip"
    if isinstance(exc, RuntimeError) and "encrypted" in str(exc):
        return "encrypted (password-protected) entry"
    if isinstance(exc, NotImplementedError):
        return f"compression the kit cannot read ({exc})"
    if getattr(exc, "errno", None) == 36:
        return "name too long for the file system"
    return f"{type(exc).__name__}: {exc}"


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
        extracted = Path(app._format_collect_path(app.extracted_directory))
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
                if h.status == "left_out":
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
