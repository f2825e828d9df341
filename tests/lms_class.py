"""A simulated class handing in the minimal assignment through Moodle or Canvas, in the bytes
each LMS really writes.

Every property below is taken from the LMS's source; docs/lms.md ("The test class, byte for
byte") names the file and function of each:

* Moodle 4.5 "Download all submissions": ``<Full name>_<participant id>_assignsubmission_file/``
  folders, each file stamped with its upload time in the server's zone, drafts included.
* Moodle's grading worksheet (OpenSpout): UTF-8 BOM, PHP ``fputcsv`` quoting (a field is quoted
  when it holds a space, comma, quote, tab or line break), LF line ends, no multi-line field
  (newlines become three spaces), the 4.5 Status with its trailing `` -  - ``, headers and values
  in the downloading teacher's language (``Uczestnik2151001``, ``10,00``, ``wtorek, 11 marca
  2025, 09:15 AM`` in Polish).
* Moodle's participants export: first name, last name, the identity fields, groups.
* Canvas's "Download Submissions": flat ``<slug>[_LATE]_<user id>_<attachment id>_<name>``,
  entries stamped with the build time in UTC, UTF-8 names *without* the zip's UTF-8 flag
  (rubyzip's default).
* Canvas's gradebook export: LF, minimal quoting, ``    Points Possible`` and ``Manual Posting``
  rows, the Test Student last (no SIS User ID, a 40-hex login); ``;`` and a decimal comma for a
  Polish user with the separator autodetection on; ``LastName``/``FirstName`` when split names
  are on.

The hand-ins are messy on purpose: renamed notebooks, several notebooks, a notebook in a zip, a
zip made on macOS (``__MACOSX/``, ``.DS_Store``, a nested folder), a PDF, only a ``.py``, a
student not on the roster, two LMS entries with one student id, a Moodle draft, Canvas's Test
Student, a stray file. tests/test_lms_e2e.py takes them through nbgrader; tests/test_lms.py
uses the pieces.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import struct
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from labkit.term.submissions import build_submission

WRONG = '''def weighted_mean(values, weights):
    return float(sum(values) / len(values))   # forgets the weights
'''
WARSAW = ZoneInfo("Europe/Warsaw")
DUE = "2025-03-10 12:00:00 Europe/Warsaw"   # the deadline (tests/test_lms_e2e.py writes it as [term] due)
ON_TIME = (2025, 3, 9, 18, 30, 0)
LATE = (2025, 3, 11, 9, 15, 0)              # 21 h after the deadline: one started day
DOWNLOADED = (2025, 3, 12, 8, 0, 0)         # when the teacher downloads (Warsaw)
GRADES_UPLOADED = (2025, 3, 12, 10, 2, 37)  # when the first worksheet went back to Moodle (Warsaw)


@dataclass
class Student:
    """One LMS entry of the simulated class and what the kit must make of it."""

    key: str
    first: str
    last: str
    lms_id: str                         # a short key; moodle_id() and canvas_id() give each LMS's number
    files: dict[str, bytes] = field(default_factory=dict)   # the student's file name -> content
    late: bool = False
    on_roster: bool = True
    id_number: str = ""
    draft: bool = False                 # Moodle: saved, never submitted for grading
    lms: str = ""                       # "" for both; "moodle" or "canvas" for one only
    test_student: bool = False          # Canvas's Test Student (Student View)
    expect_status: str = "graded"       # in lms_export: graded / missing / no_notebook / draft / left_out
    expect_points: float = 0.0          # autograded points before any penalty
    expect_flags: tuple[str, ...] = ()
    expect_graded_file: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def sortable(self) -> str:
        return f"{self.last}, {self.first}"

    @property
    def email(self) -> str:
        return f"{self.key}@student.uni.pl"

    def in_lms(self, lms: str) -> bool:
        return not self.lms or self.lms == lms


def moodle_id(s: Student) -> str:
    """Moodle's participant id (assign_user_mapping: per assignment, large numbers)."""
    return str(2150000 + int(s.lms_id))


def canvas_id(s: Student) -> str:
    """Canvas's user id."""
    return str(4000 + int(s.lms_id))


def notebook(release: Path, source: Path, *, wrong: bool = False, filled: bool = True) -> bytes:
    """The release notebook, solved (or wrongly solved, or untouched), as bytes."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = build_submission(Path(tmp) / "nb.ipynb", {"mean_solution": WRONG} if wrong else {}, filled=filled,
                                release=release, source=source)
        return path.read_bytes()


def scratch_notebook() -> bytes:
    """A notebook of the student's own, without nbgrader cells (notes, experiments)."""
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1  # moje notatki", "outputs": [],
                     "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb).encode()


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def macos_zip(folder: str, files: dict[str, bytes]) -> bytes:
    """A folder compressed by macOS's Finder: the folder, its .DS_Store, and AppleDouble
    ``._`` files under ``__MACOSX/`` for the folder and each file."""
    appledouble = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 40
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(f"{folder}/"), b"")
        for name, data in files.items():
            zf.writestr(f"{folder}/{name}", data)
        zf.writestr(f"{folder}/.DS_Store", b"\x00\x00\x00\x01Bud1" + b"\x00" * 60)
        zf.writestr(zipfile.ZipInfo("__MACOSX/"), b"")
        zf.writestr(f"__MACOSX/._{folder}", appledouble)
        for name in files:
            zf.writestr(f"__MACOSX/{folder}/._{name}", appledouble)
    return buf.getvalue()


def the_class(release: Path, source: Path, assignment_id: str) -> list[Student]:
    """Thirteen LMS entries: eleven in Moodle's download, eleven in Canvas's (a Moodle draft,
    Canvas's Test Student); two entries share an ID number."""
    good, bad = notebook(release, source), notebook(release, source, wrong=True)
    nb = f"{assignment_id}.ipynb"
    return [
        Student("renamed", "Łukasz", "Żółć", "1001", {f"{assignment_id} (1).ipynb": good}, id_number="s100001",
                expect_points=2.0, expect_flags=("renamed",), expect_graded_file=f"{assignment_id} (1).ipynb"),
        Student("several", "Zofia", "Gęś-Nowak", "1002",
                {"notatki.ipynb": scratch_notebook(), f"{assignment_id.capitalize()}.ipynb": good,
                 "raport.pdf": b"%PDF-1.4 not graded"}, id_number="s100002", expect_points=2.0,
                expect_flags=("several_notebooks", "renamed", "extra_files"),
                expect_graded_file=f"{assignment_id.capitalize()}.ipynb"),
        Student("zipped", "Jan", "Kowalski", "1003", {"rozwiązanie.zip": zipped({f"lab/{nb}": bad})},
                id_number="s100003", expect_points=0.0, expect_flags=("from_zip",),
                expect_graded_file=f"rozwiązanie.zip/lab/{nb}"),
        Student("missing", "Anna", "Nowak", "1004", {}, id_number="s100004", expect_status="missing",
                expect_flags=("no_submission",)),
        Student("late", "Piotr", "Wiśniewski", "1005", {nb: good}, late=True, id_number="s100005", expect_points=2.0,
                expect_graded_file=nb),
        Student("stranger", "Ewa", "Zielińska", "1006", {f"kopia {nb}": good}, on_roster=False, id_number="s100006",
                expect_points=2.0, expect_flags=("not_on_roster", "renamed"), expect_graded_file=f"kopia {nb}"),
        Student("twin_a", "Maria", "Dąbrowska", "1007", {nb: good}, id_number="s100007", expect_points=2.0,
                expect_flags=("same_student_id",), expect_graded_file=nb),
        Student("twin_b", "Maria", "Dąbrowska-Kowal", "1008", {"lab6.ipynb": bad}, id_number="s100007",
                expect_points=0.0, expect_flags=("same_student_id", "renamed"), expect_graded_file="lab6.ipynb"),
        Student("script", "Tomasz", "Lewandowski", "1009", {f"{assignment_id}.py": b"print('hello')\n"},
                id_number="s100009", expect_status="no_notebook", expect_flags=("no_notebook", "extra_files")),
        # The bug of the first real class: a macOS zip next to its notebook's AppleDouble twin.
        Student("mac", "Oliwia", "Mazur", "1010",
                {f"{assignment_id}.zip": macos_zip(assignment_id, {nb: good, "dane/wykres.png": b"\x89PNG"})},
                id_number="s100010", expect_points=2.0, expect_flags=("from_zip",),
                expect_graded_file=f"{assignment_id}.zip/{assignment_id}/{nb}"),
        Student("draft", "Karol", "Wójcik", "1011", {nb: good}, id_number="s100011", draft=True, lms="moodle",
                expect_status="draft", expect_flags=("draft",)),
        Student("test", "Test", "Student", "1099", {nb: bad}, lms="canvas", test_student=True,
                expect_status="left_out", expect_flags=("not_a_student",)),
    ]


def dos(t: tuple) -> tuple:
    return t[:5] + (t[5] - t[5] % 2,)          # zip times have a 2-second resolution


def _warsaw(t: tuple) -> dt.datetime:
    return dt.datetime(*t, tzinfo=WARSAW)


# --------------------------------------------------------------------------- Moodle


def moodle_download(students: list[Student], path: Path, *, folder_suffix: str = "",
                    server_zone: str = "Europe/Warsaw") -> Path:
    """Moodle 4.1+'s "Download all submissions" (in folders): every participant's latest
    attempt, drafts included, each file stamped with its upload time in the server's zone
    (downloader.php, archive_writer::add_file_from_stored_file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    zone = ZoneInfo(server_zone)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for s in students:
            if not s.in_lms("moodle"):
                continue
            uploaded = _warsaw(LATE if s.late else ON_TIME).astimezone(zone).timetuple()[:6]
            for name, data in s.files.items():
                info = zipfile.ZipInfo(f"{s.full_name}_{moodle_id(s)}_assignsubmission_file{folder_suffix}/{name}",
                                       date_time=dos(uploaded))
                zf.writestr(info, data)
    return path


WORKSHEET_HEADERS = {
    "pl": ["identyfikator", "Pełna nazwa", "E-mail", "Numer Indeksu", "Status", "Ocena", "Maksymalna ocena",
           "Ocena może być zmieniona", "Ostatnia modyfikacja (przesłane rozwiązanie)",
           "Ostatnia aktualizacja (ocena)", "Komentarz zwrotny"],
    "en": ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
           "Last modified (submission)", "Last modified (grade)", "Feedback comments"],
}
_WORDS = {
    "pl": {"participant": "Uczestnik", "yes": "Tak", "submitted": "Przesłane do oceny",
           "draft": "Wersja robocza (nieprzesłana)", "new": "Brak przesłanego zadania",
           "late": "Zadanie przesłane z opóźnieniem 21 godz.", "graded": "Ocenione"},
    "en": {"participant": "Participant ", "yes": "Yes", "submitted": "Submitted for grading",
           "draft": "Draft (not submitted)", "new": "No submission",
           "late": "Assignment was submitted 21 hours late", "graded": "Graded"},
}
_DAYS = {"pl": ["poniedziałek", "wtorek", "środa", "czwartek", "piątek", "sobota", "niedziela"],
         "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]}
_MONTHS = {"pl": ["stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia", "września",
                  "października", "listopada", "grudnia"],
           "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                  "November", "December"]}


def userdate(t: tuple, lang: str) -> str:
    """Moodle's ``userdate()`` with ``strftimedaydatetime``: en ``%A, %d %B %Y, %I:%M %p`` (no
    leading zeros), pl ``%A, %d %B %Y, %H:%M %p`` (genitive month, 24-hour hour and AM/PM)."""
    d = dt.datetime(*t)
    ampm = "AM" if d.hour < 12 else "PM"
    if lang == "pl":
        return f"{_DAYS['pl'][d.weekday()]}, {d.day} {_MONTHS['pl'][d.month - 1]} {d.year}, {d:%H:%M} {ampm}"
    return f"{_DAYS['en'][d.weekday()]}, {d.day} {_MONTHS['en'][d.month - 1]} {d.year}, {d.hour % 12 or 12}:{d:%M} {ampm}"


def fputcsv(row: list[str]) -> str:
    """PHP's ``fputcsv($fp, $row, ',', '"', '')`` as OpenSpout calls it: a field is enclosed
    when it holds the delimiter, the enclosure, a line break, a tab or a space; LF ends the line."""
    def one(value: str) -> str:
        if any(ch in value for ch in ',"\n\r\t '):
            return '"' + value.replace('"', '""') + '"'
        return value
    return ",".join(one(v) for v in row) + "\n"


def moodle_worksheet(students: list[Student], path: Path, *, lang: str = "pl",
                     graded: dict[str, float] | None = None) -> Path:
    """The offline grading worksheet of Moodle 4.5 as a teacher with interface ``lang``
    downloads it. ``graded``: student key -> grade already in Moodle (a worksheet downloaded
    after a first upload: Moodle then shows the upload's time in "Last modified (grade)")."""
    w = _WORDS[lang]
    decimal = (lambda v: f"{v:.2f}".replace(".", ",")) if lang == "pl" else (lambda v: f"{v:.2f}")
    lines = [WORKSHEET_HEADERS[lang]]
    for s in students:
        if not s.in_lms("moodle"):
            continue
        handed = bool(s.files)
        status = [w["draft"] if s.draft else w["submitted"] if handed else w["new"]]
        if s.late:
            status.append(w["late"])
        grade = (graded or {}).get(s.key)
        if grade is not None:
            status.append(w["graded"])
        # 4.5's wrapper divs leave " -  - " behind (gradingtable.php, col_status()).
        status_text = " - ".join(status) + " -  - "
        submitted = userdate(LATE if s.late else ON_TIME, lang) if handed else "-"
        last_graded = userdate(GRADES_UPLOADED, lang) if grade is not None else "-"
        identity = [s.email, s.id_number] if lang == "pl" else [s.email]
        old_comment = "Poprzedni komentarz,   w dwóch liniach" if s.key == "renamed" else ""   # "\n" -> 3 spaces
        lines.append([f"{w['participant']}{moodle_id(s)}", s.full_name, *identity, status_text,
                      decimal(grade) if grade is not None else "", decimal(10.0), w["yes"], submitted, last_graded,
                      old_comment])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xef\xbb\xbf" + "".join(fputcsv(r) for r in lines).encode("utf-8"))
    return path


def moodle_participants(students: list[Student], path: Path, *, lang: str = "pl") -> Path:
    """The participants page's "Download table data as CSV" bulk action (user/action_redir.php):
    first name, last name, the identity fields (the Polish site shows its student-number
    profile field; a default English site only the e-mail), groups."""
    if lang == "pl":
        rows = [["Imię", "Nazwisko", "Numer Indeksu", "E-mail", "Grupy"]]
        rows += [[s.first, s.last, s.id_number, s.email, "Grupa 1"] for s in students if s.in_lms("moodle")]
    else:
        rows = [["First name", "Last name", "Email address", "Groups"]]
        rows += [[s.first, s.last, s.email, "Group 1"] for s in students if s.in_lms("moodle")]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xef\xbb\xbf" + "".join(fputcsv(r) for r in rows).encode("utf-8"))
    return path


# --------------------------------------------------------------------------- Canvas


def _no_utf8_flag(data: bytes) -> bytes:
    """Clear bit 11 (names are UTF-8) in every local and central header: rubyzip writes UTF-8
    names without it (Zip.unicode_names is false by default)."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            off = info.header_offset + 6
            struct.pack_into("<H", out, off, struct.unpack_from("<H", out, off)[0] & ~0x800)
    pos = out.find(b"PK\x01\x02")
    while pos >= 0:
        struct.pack_into("<H", out, pos + 8, struct.unpack_from("<H", out, pos + 8)[0] & ~0x800)
        pos = out.find(b"PK\x01\x02", pos + 4)
    return bytes(out)


def canvas_download(students: list[Student], path: Path, *, built_utc: tuple = (2025, 3, 12, 7, 0, 0)) -> Path:
    """Canvas's "Download Submissions": flat "<slug>[_LATE]_<user id>_<attachment id>_<file>",
    every entry stamped with the time the zip was built, in the server's zone (UTC)."""
    from labkit.lms.naming import canvas_slug
    attachment = 90000
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for s in students:
            if not s.in_lms("canvas") or s.draft:
                continue
            prefix = "_".join([canvas_slug(s.sortable), *(["LATE"] if s.late else []), canvas_id(s)])
            for name, data in s.files.items():
                attachment += 1
                zf.writestr(zipfile.ZipInfo(f"{prefix}_{attachment}_{name}", date_time=built_utc), data)
    path.write_bytes(_no_utf8_flag(buf.getvalue()))
    return path


def _canvas_csv(rows: list[list[str]], sep: str) -> str:
    """Ruby CSV: a field is quoted only when it holds the separator, a quote or a line break; LF."""
    def one(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(ch in value for ch in (sep, '"', "\n", "\r")) else value
    return "".join(sep.join(one(v) for v in row) + "\n" for row in rows)


def canvas_gradebook(students: list[Student], path: Path, column: str, *, polish: bool = False,
                     split_names: bool = False) -> Path:
    """Canvas's gradebook export: header, ``    Points Possible``, ``Manual Posting`` (the
    assignment posts grades manually), one row per student, the Test Student last.
    ``polish``: a pl user with separator autodetection (``;`` and ``10,00``);
    ``split_names``: ``LastName``, ``FirstName`` instead of ``Student``."""
    sep = ";" if polish else ","
    num = (lambda v: f"{v:.2f}".replace(".", ",")) if polish else (lambda v: f"{v:.2f}")
    names = ["LastName", "FirstName"] if split_names else ["Student"]
    tail = ["Current Score", "Unposted Current Score", "Final Score", "Unposted Final Score"]
    read_only = "(tylko do odczytu)" if polish else "(read only)"
    rows = [[*names, "ID", "SIS User ID", "SIS Login ID", "Section", column, *tail],
            ["    Points Possible", *([""] if split_names else []), "", "", "", "", num(10.0), *[read_only] * 4],
            ["", *([""] if split_names else []), "", "", "", "", "Manual Posting", "", "", "", ""]]
    people = sorted((s for s in students if s.on_roster and s.in_lms("canvas") and not s.test_student),
                    key=lambda s: s.sortable)
    people += [s for s in students if s.test_student]
    for s in people:
        who = [s.last, s.first] if split_names else [s.sortable]
        if s.test_student:
            login = hashlib.sha1(f"Test Student_{canvas_id(s)}".encode()).hexdigest()
            rows.append([*who, canvas_id(s), "", login, "Grupa 1 and Grupa 2", "", "", "", "", ""])
        else:
            rows.append([*who, canvas_id(s), s.id_number, s.email, "Grupa 1", "", "", "", "", ""])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_canvas_csv(rows, sep).encode("utf-8"))
    return path


def canvas_timestamps(students: list[Student], path: Path) -> Path:
    """When each submission came in: the Submissions API's ``submitted_at`` (UTC, ``Z``)."""
    rows = ["ID,submitted_at"]
    for s in students:
        if s.files and s.in_lms("canvas") and not s.draft:
            when = _warsaw(LATE if s.late else ON_TIME).astimezone(dt.timezone.utc)
            rows.append(f"{canvas_id(s)},{when.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- Moodle's upload check


def php_check(worksheet: Path, grade_times: dict[str, int], *, header: str,
              server_zone: str = "Europe/Warsaw") -> dict[str, bool]:
    """Moodle's upload check, run by PHP itself: each row's ``Last modified (grade)`` through
    ``strtotime()`` in the server's zone (importgradeslib.php ``next()``), then the skip rule of
    locallib.php ``process_import_grades()``:
    ``$usergrade->timemodified > ($modified + 60)``. Returns participant id -> accepted."""
    from labkit.lms import csv_file as lms_csv
    from labkit.lms.roster import participant_id
    table = lms_csv.load(worksheet)
    ident, col = table.column("Identifier", "identyfikator"), table.column(header)
    cases = {participant_id(table.get(r, ident)): table.get(r, col) for r in table.rows}
    script = (f"date_default_timezone_set('{server_zone}');"
              "$in = json_decode(stream_get_contents(STDIN), true); $out = [];"
              "foreach ($in as $id => $c) { $modified = strtotime($c[0]);"
              " $out[$id] = !($c[1] > ($modified + 60)); }"
              "echo json_encode($out);")
    payload = {pid: [text, grade_times[pid]] for pid, text in cases.items() if pid in grade_times}
    done = subprocess.run(["php", "-r", script], input=json.dumps(payload), capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


needs_php = pytest.mark.skipif(shutil.which("php") is None,
                               reason="needs php-cli (./kit installs it as root): Moodle's check is PHP's strtotime")
