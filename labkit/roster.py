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
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from zoneinfo import ZoneInfo

from labkit import lms_csv
from labkit.lms_naming import CANVAS, MOODLE

ROSTER_NAME = "roster.csv"
DEFAULT_TIMEZONE = "Europe/Warsaw"

# Column names as Moodle and Canvas write them with an English interface (docs/lms.md cites
# the language strings). ``--column KEY=HEADER`` on the command line renames any of them.
MOODLE_WORKSHEET = {
    "identifier": "Identifier", "full_name": "Full name", "email": "Email address", "id_number": "ID number",
    "status": "Status", "grade": "Grade", "max_grade": "Maximum Grade", "can_change": "Grade can be changed",
    "submitted": "Last modified (submission)", "graded": "Last modified (grade)", "feedback": "Feedback comments",
}
MOODLE_PARTICIPANTS = {"first_name": "First name", "last_name": "Last name", "id_number": "ID number",
                       "email": "Email address"}
CANVAS_GRADEBOOK = {"student": "Student", "id": "ID", "sis_user_id": "SIS User ID", "sis_login_id": "SIS Login ID",
                    "section": "Section"}


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


@dataclass
class Roster:
    lms: str
    entries: list[RosterEntry]

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


def _columns(overrides: dict[str, str] | None, defaults: dict[str, str]) -> dict[str, str]:
    unknown = set(overrides or {}) - set(defaults)
    if unknown:
        raise KeyError(f"unknown column key(s) {sorted(unknown)}; known: {sorted(defaults)}")
    return {**defaults, **(overrides or {})}


def from_moodle(*, worksheet: Path, participants: Path | None = None, timezone: str = DEFAULT_TIMEZONE,
                columns: dict[str, str] | None = None) -> Roster:
    """The roster of one Moodle assignment: its grading worksheet, joined with the course's
    participants export (for the ID number) when given."""
    cols = _columns(columns, {**MOODLE_WORKSHEET, **{f"p_{k}": v for k, v in MOODLE_PARTICIPANTS.items()}})
    sheet = lms_csv.load(worksheet)
    ident = sheet.column(cols["identifier"])
    full = sheet.column(cols["full_name"], required=False)
    email = sheet.column(cols["email"], required=False)
    idnum = sheet.column(cols["id_number"], required=False)
    submitted = sheet.column(cols["submitted"], required=False)
    by_email: dict[str, str] = {}
    by_name: dict[str, str] = {}
    if participants is not None:
        people = lms_csv.load(participants)
        p_first, p_last = people.column(cols["p_first_name"]), people.column(cols["p_last_name"])
        p_id, p_email = people.column(cols["p_id_number"]), people.column(cols["p_email"], required=False)
        for row in people.rows:
            number = people.get(row, p_id).strip()
            if not number:
                continue
            if people.get(row, p_email).strip():
                by_email[people.get(row, p_email).strip().casefold()] = number
            by_name[name_key(f"{people.get(row, p_first)} {people.get(row, p_last)}")] = number
    entries = []
    for row in sheet.rows:
        if not sheet.get(row, ident).strip():
            continue
        pid = participant_id(sheet.get(row, ident))
        name, mail = sheet.get(row, full).strip(), sheet.get(row, email).strip()
        candidates = [(by_email.get(mail.casefold()) if mail else None, "participants export (e-mail)"),
                      (by_name.get(name_key(name)) if name else None, "participants export (name)"),
                      (sheet.get(row, idnum).strip() or None, "worksheet ID number"),
                      (mail.split("@")[0] if mail else None, "e-mail")]
        student, source = next(((clean_id(v), s) for v, s in candidates if v and clean_id(v)),
                               (f"moodle-{pid}", "participant id"))
        when = parse_lms_time(sheet.get(row, submitted), timezone) if submitted is not None else None
        entries.append(RosterEntry(student_id=student, lms=MOODLE, lms_id=pid, name=name, email=mail,
                                   submitted_at=when.isoformat() if when else "", source=source))
    return Roster(MOODLE, entries)


def from_canvas(*, gradebook: Path, timestamps: Path | None = None, timezone: str = DEFAULT_TIMEZONE,
                columns: dict[str, str] | None = None) -> Roster:
    """The roster from Canvas's gradebook export. Rows without a numeric ``ID`` (the
    "Points Possible" row, the test student's blank lines) are not students.

    ``timestamps``: an optional CSV with ``ID`` (Canvas user id) and ``submitted_at`` (ISO
    8601, e.g. the Submissions API's field of that name), because Canvas's download carries
    no submission time (docs/lms.md)."""
    cols = _columns(columns, CANVAS_GRADEBOOK)
    book = lms_csv.load(gradebook)
    student, uid = book.column(cols["student"]), book.column(cols["id"])
    sis, login = book.column(cols["sis_user_id"], required=False), book.column(cols["sis_login_id"], required=False)
    section = book.column(cols["section"], required=False)
    times = _timestamps(timestamps, timezone) if timestamps is not None else {}
    entries = []
    for row in book.rows:
        user = book.get(row, uid).strip()
        if not user.isdigit():
            continue
        candidates = [(book.get(row, sis).strip(), "SIS User ID"), (book.get(row, login).strip(), "SIS Login ID")]
        sid, source = next(((clean_id(v), s) for v, s in candidates if v and clean_id(v)),
                           (f"canvas-{user}", "Canvas user id"))
        when = times.get(user)
        entries.append(RosterEntry(student_id=sid, lms=CANVAS, lms_id=user, name=book.get(row, student).strip(),
                                   sis_user_id=book.get(row, sis).strip(), sis_login_id=book.get(row, login).strip(),
                                   section=book.get(row, section).strip(),
                                   submitted_at=when.isoformat() if when else "", source=source))
    return Roster(CANVAS, entries)


def _timestamps(path: Path, timezone: str) -> dict[str, dt.datetime]:
    table = lms_csv.load(path)
    uid = table.column("ID", "user_id", "lms_id")
    when = table.column("submitted_at", "timestamp")
    out = {}
    for row in table.rows:
        value = parse_lms_time(table.get(row, when), timezone)
        if value is not None:
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
