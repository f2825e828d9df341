"""The roster: which LMS identity is which nbgrader student, per assignment.

``downloaded/<id>/roster.csv`` (written by ``labkit lms-roster``, read by the zip_collect
plug-in and by ``labkit lms-export``) has one row per LMS entry:
``student_id, lms, lms_id, name, email, sis_user_id, sis_login_id, section, submitted_at, source``.
A TA may edit it by hand (to fix a mapping) before collecting.

Where a row comes from:

* Moodle: the assignment's offline grading worksheet (``Identifier`` = "Participant 1234",
  the id in the download's folder names; ``Full name``; identity columns such as
  ``Email address``; ``Last modified (submission)``), joined by e-mail, else by full name,
  with the course's participants export (``First name``, ``Last name``, ``ID number``,
  ``Email address``). Participant ids belong to one assignment, hence a roster per assignment.
* Canvas: the gradebook export (``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``,
  ``Section``); the download's names carry the same ``ID``.

The nbgrader student id is, first found: the ID number (Moodle) / SIS User ID (Canvas), the
SIS Login ID (Canvas), the e-mail's local part, else ``moodle-<participant id>`` /
``canvas-<user id>``; always reduced to ``[A-Za-z0-9._-]`` (nbgrader uses it as a folder name).
"""
from __future__ import annotations

import csv
import datetime as dt
import re
import unicodedata
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo

from labkit.lms import csv_file as lms_csv
from labkit.lms.headers import (CANVAS_GRADEBOOK, MOODLE_PARTICIPANTS, MOODLE_WORKSHEET, STUDENT_NUMBER,
                                 moodle_status, resolve)
from labkit.lms.naming import CANVAS, MOODLE
from labkit.term.handin import HandinStatus

ROSTER_NAME = "roster.csv"
DEFAULT_TIMEZONE = "Europe/Warsaw"

@dataclass
class RosterEntry:
    """One LMS identity and the nbgrader student it is."""

    student_id: str
    lms: str
    lms_id: str
    name: str = ""
    email: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    submitted_at: str = ""     # ISO 8601 with offset, when the LMS export says (Moodle worksheet)
    source: str = ""           # which file gave the student id
    status: str = ""           # Moodle: "submitted", "draft" or "new" (the worksheet's Status); "left_out": not a student


@dataclass
class Roster:
    lms: str
    entries: list[RosterEntry]
    left_out: list[str] = field(default_factory=list)   # LMS rows that are not students (Canvas's Test Student)
    warnings: list[str] = field(default_factory=list)   # rows read with a problem (an unreadable time)
    language: str = ""                                  # the interface language of the LMS file's headers

    def by_lms_id(self) -> dict[str, RosterEntry]:
        return {e.lms_id: e for e in self.entries}


# --------------------------------------------------------------------------- ids and names


def clean_id(text: str) -> str:
    """A student id nbgrader can use as a folder name: ASCII letters, digits, ``._-``
    (Polish letters lose their accents: "Łukasz" -> "Lukasz")."""
    text = text.strip().replace("ł", "l").replace("Ł", "L")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return text[:64]


def name_key(name: str) -> str:
    """Full names compared without case, accents' spacing or word order quirks of whitespace."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def participant_id(identifier: str) -> str:
    """"Participant 1234" (any language: the digits at the end) -> "1234"."""
    m = re.search(r"(\d+)\s*$", identifier or "")
    if not m:
        raise ValueError(f"not a participant identifier: {identifier!r}")
    return m.group(1)


# --------------------------------------------------------------------------- timestamps

_MONTHS = {
    **{m: i for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july", "august",
                                   "september", "october", "november", "december"], 1)},
    # Polish: nominative and genitive (Moodle's Polish date format uses the genitive)
    **{m: i for i, m in enumerate(["styczeń", "luty", "marzec", "kwiecień", "maj", "czerwiec", "lipiec",
                                   "sierpień", "wrzesień", "październik", "listopad", "grudzień"], 1)},
    **{m: i for i, m in enumerate(["stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca",
                                   "sierpnia", "września", "października", "listopada", "grudnia"], 1)},
}
_LONG_DATE = re.compile(r"(?P<day>\d{1,2})\s+(?P<month>[^\W\d_]+)\s+(?P<year>\d{4}),?\s+"
                        r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ampm>[AaPp][Mm])?")


def parse_lms_time(text: str, timezone: str = DEFAULT_TIMEZONE) -> dt.datetime | None:
    """A time as an LMS export shows it, aware; None for "-" or empty.

    Moodle's worksheet shows ``userdate()`` in the downloading user's time zone: "Tuesday,
    14 May 2024, 11:32 AM" in English, "wtorek, 14 maja 2024, 11:32" in Polish. ISO 8601 is
    accepted too (the kit's own files, and hand-made timestamp files)."""
    text = (text or "").strip()
    if text in ("", "-", "—"):
        return None
    zone = ZoneInfo(timezone)
    m = _LONG_DATE.search(text)
    if m and m["month"].casefold() in _MONTHS:
        hour = int(m["h"])
        if m["ampm"]:
            hour = hour % 12 + (12 if m["ampm"].lower() == "pm" else 0)
        return dt.datetime(int(m["year"]), _MONTHS[m["month"].casefold()], int(m["day"]), hour, int(m["m"]),
                           int(m["s"] or 0), tzinfo=zone)
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot read the time {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


# --------------------------------------------------------------------------- building rosters


def _time(text: str, timezone: str, where: str, warnings: list[str]) -> str:
    """An LMS time as ISO 8601 with its offset; an unreadable one is a warning and "", never an exit."""
    try:
        when = parse_lms_time(text, timezone)
    except ValueError as exc:
        warnings.append(f"{where}: {exc}; no time taken from it")
        return ""
    return when.isoformat() if when else ""


def _moodle_numbers(participants: Path, overrides: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Student numbers from the participants export, by e-mail and by full name. A default
    Moodle shows only the e-mail (showuseridentity): then there is no number, and no error."""
    people = lms_csv.load(participants)
    cols = resolve(people.columns, MOODLE_PARTICIPANTS, overrides=overrides, what=str(participants),
                   extra={"student_number": STUDENT_NUMBER})
    number_col = cols["id_number"] if cols["id_number"] is not None else cols["student_number"]
    by_email: dict[str, str] = {}
    by_name: dict[str, str] = {}
    if number_col is None:
        return by_email, by_name
    for row in people.rows:
        number = people.get(row, number_col).strip()
        if not number:
            continue
        mail = people.get(row, cols["email"]).strip()
        if mail:
            by_email[mail.casefold()] = number
        name = people.get(row, cols["full_name"]) if cols["full_name"] is not None else \
            f"{people.get(row, cols['first_name'])} {people.get(row, cols['last_name'])}"
        if name.strip():
            by_name[name_key(name)] = number
    return by_email, by_name


def from_moodle(*, worksheet: Path, participants: Path | None = None, timezone: str = DEFAULT_TIMEZONE,
                columns: dict[str, str] | None = None) -> Roster:
    """The roster of one Moodle assignment: its grading worksheet, joined with the course's
    participants export (for a student number) when given. Headers in English or Polish
    (labkit/lms/headers.py); ``columns`` renames any key, for both files (participants' keys
    with a ``p_`` prefix)."""
    overrides = dict(columns or {})
    p_overrides = {k[2:]: v for k, v in overrides.items() if k.startswith("p_")}
    w_overrides = {k: v for k, v in overrides.items() if not k.startswith("p_")}
    sheet = lms_csv.load(worksheet)
    cols = resolve(sheet.columns, MOODLE_WORKSHEET, overrides=w_overrides, required=("identifier",),
                   what=str(worksheet), extra={"student_number": STUDENT_NUMBER})
    by_email, by_name = _moodle_numbers(participants, p_overrides) if participants is not None else ({}, {})
    number_col = cols["id_number"] if cols["id_number"] is not None else cols["student_number"]
    out = Roster(MOODLE, [], language=cols.language)
    for n, row in enumerate(sheet.rows, 2):
        if not sheet.get(row, cols["identifier"]).strip():
            continue
        pid = participant_id(sheet.get(row, cols["identifier"]))
        name, mail = sheet.get(row, cols["full_name"]).strip(), sheet.get(row, cols["email"]).strip()
        candidates = [(by_email.get(mail.casefold()) if mail else None, "participants export (e-mail)"),
                      (by_name.get(name_key(name)) if name else None, "participants export (name)"),
                      (sheet.get(row, number_col).strip() or None, "worksheet student number"),
                      (mail.split("@")[0] if mail else None, "e-mail")]
        student, source = next(((clean_id(v), s) for v, s in candidates if v and clean_id(v)),
                               (f"moodle-{pid}", "participant id"))
        when = _time(sheet.get(row, cols["submitted"]), timezone, f"{worksheet.name}:{n}", out.warnings)
        status = moodle_status(sheet.get(row, cols["status"])) if cols["status"] is not None else ""
        out.entries.append(RosterEntry(student_id=student, lms=MOODLE, lms_id=pid, name=name, email=mail,
                                       submitted_at=when, source=source, status=status))
    return out


_HEX40 = re.compile(r"^[0-9a-f]{40}$")


def is_test_student(name: str, sis_user_id: str, sis_login_id: str) -> bool:
    """Canvas's Test Student (Student View): no SIS User ID, and a login that is the 40-hex
    HMAC Canvas gives it (app/models/course.rb, find_or_create_student_view_student); its
    name ("Student, Test", translated at creation) alone is not trusted."""
    return not sis_user_id.strip() and bool(_HEX40.match(sis_login_id.strip()))


def from_canvas(*, gradebook: Path, timestamps: Path | None = None, timezone: str = "UTC",
                columns: dict[str, str] | None = None) -> Roster:
    """The roster from Canvas's gradebook export (``Student`` or ``LastName``/``FirstName``;
    comma or semicolon). Rows without a numeric ``ID`` (``Points Possible``, ``Manual Posting``)
    are not students; the Test Student is left out and said so.

    ``timestamps``: an optional CSV with ``ID`` (Canvas user id) and ``submitted_at`` (ISO
    8601, e.g. the Submissions API's field of that name, in UTC), because Canvas's download
    carries no submission time (docs/lms.md); a time without an offset is in ``timezone``."""
    book = lms_csv.load(gradebook)
    cols = resolve(book.columns, CANVAS_GRADEBOOK, overrides=columns, required=("id",), what=str(gradebook))
    if cols["student"] is None and (cols["last_name"] is None or cols["first_name"] is None):
        raise KeyError(f"{gradebook}: no 'Student' column, nor 'LastName' and 'FirstName' (the file has "
                       f"{book.columns}); name it with --column student=HEADER")
    out = Roster(CANVAS, [], language=cols.language)
    times = _timestamps(timestamps, timezone, out.warnings) if timestamps is not None else {}
    for row in book.rows:
        user = book.get(row, cols["id"]).strip()
        if not user.isdigit():
            continue
        name = canvas_name(book, row, cols)
        sis, login = book.get(row, cols["sis_user_id"]).strip(), book.get(row, cols["sis_login_id"]).strip()
        if is_test_student(name, sis, login):
            # Kept as a "left_out" row, so that the collector knows its hand-in is nobody's.
            out.left_out.append(f"{user} ({name}): Canvas's Test Student, not a student: left out of the roster, "
                                "the gradebook and the export")
            out.entries.append(RosterEntry(student_id=f"canvas-{user}", lms=CANVAS, lms_id=user, name=name,
                                           source="Canvas Test Student", status=HandinStatus.LEFT_OUT))
            continue
        candidates = [(sis, "SIS User ID"), (login, "SIS Login ID")]
        sid, source = next(((clean_id(v), s) for v, s in candidates if v and clean_id(v)),
                           (f"canvas-{user}", "Canvas user id"))
        out.entries.append(RosterEntry(student_id=sid, lms=CANVAS, lms_id=user, name=name, sis_user_id=sis,
                                       sis_login_id=login, section=book.get(row, cols["section"]).strip(),
                                       submitted_at=times.get(user, ""), source=source))
    return out


def canvas_name(book, row, cols) -> str:
    """The student's sortable name ("Last, First") from either export layout."""
    if cols["student"] is not None:
        return book.get(row, cols["student"]).strip()
    last, first = book.get(row, cols["last_name"]).strip(), book.get(row, cols["first_name"]).strip()
    return f"{last}, {first}" if last and first else (last or first)


def _timestamps(path: Path, timezone: str, warnings: list[str]) -> dict[str, str]:
    table = lms_csv.load(path)
    uid = table.column("ID", "user_id", "lms_id")
    when = table.column("submitted_at", "timestamp")
    out = {}
    for n, row in enumerate(table.rows, 2):
        value = _time(table.get(row, when), timezone, f"{path.name}:{n}", warnings)
        if value:
            out[table.get(row, uid).strip()] = value
    return out


# --------------------------------------------------------------------------- the roster file


def roster_path(course: Path, assignment_id: str) -> Path:
    """``downloaded/<id>/roster.csv``, next to nbgrader zip_collect's archive/ and extracted/."""
    return Path(course) / "downloaded" / assignment_id / ROSTER_NAME


def write(roster: Roster, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [f.name for f in fields(RosterEntry)]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        for entry in roster.entries:
            writer.writerow(asdict(entry))
    return path


def read(path: Path) -> Roster:
    """The roster file; an error naming the file when it mixes LMSs or lacks columns."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    names = {f.name for f in fields(RosterEntry)}
    entries = []
    for i, row in enumerate(rows, 2):
        missing = {"student_id", "lms", "lms_id"} - {k for k, v in row.items() if v}
        if missing:
            raise ValueError(f"{path}:{i}: empty {sorted(missing)}")
        entries.append(RosterEntry(**{k: (v or "") for k, v in row.items() if k in names}))
    kinds = {e.lms for e in entries}
    if len(kinds) > 1:
        raise ValueError(f"{path}: rows of several LMSs {sorted(kinds)}; one roster per LMS download")
    return Roster(kinds.pop() if kinds else "", entries)
