"""A simulated class handing in the minimal assignment through Moodle or Canvas.

Builds what an instructor downloads: the LMS's "download all submissions" zip in its naming,
with messy hand-ins (renamed notebooks, several notebooks, a notebook in a zip, a PDF, only a
.py, a student not on the roster, two LMS entries with one student id, a stray file), and the
LMS's CSV exports (Moodle's grading worksheet and participants list, Canvas's gradebook), all
with Polish names. tests/test_lms_e2e.py takes them through nbgrader; tests/test_lms.py uses
the pieces.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from labkit.submissions import build_submission

WRONG = '''def weighted_mean(values, weights):
    return float(sum(values) / len(values))   # forgets the weights
'''
DUE = "2025-03-10 12:00:00 Europe/Warsaw"   # the deadline (tests/test_lms_e2e.py writes it as [term] due)
ON_TIME = (2025, 3, 9, 18, 30, 0)
LATE = (2025, 3, 11, 9, 15, 0)              # a day after the deadline


@dataclass
class Student:
    """One LMS entry of the simulated class and what the kit must make of it."""

    key: str
    first: str
    last: str
    lms_id: str
    files: dict[str, bytes] = field(default_factory=dict)   # the student's file name -> content
    late: bool = False
    on_roster: bool = True
    id_number: str = ""
    expect_status: str = "graded"       # in lms_export: graded / missing / no_notebook
    expect_points: float = 0.0          # autograded points before any penalty
    expect_flags: tuple[str, ...] = ()
    expect_graded_file: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def sortable(self) -> str:
        return f"{self.last}, {self.first}"


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


def the_class(release: Path, source: Path, assignment_id: str) -> list[Student]:
    """Nine LMS entries, eight people (two entries share an ID number), seven notebooks to grade."""
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
    ]


# --------------------------------------------------------------------------- Moodle


def moodle_download(students: list[Student], path: Path, *, folder_suffix: str = "") -> Path:
    """Moodle 4.1+'s "Download all submissions" (in folders): "<Full name>_<id>_assignsubmission_file/"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for s in students:
            for name, data in s.files.items():
                info = zipfile.ZipInfo(f"{s.full_name}_{s.lms_id}_assignsubmission_file{folder_suffix}/{name}",
                                       date_time=(2025, 3, 12, 8, 0, 0))   # Moodle writes the download time
                zf.writestr(info, data)
        zf.writestr(zipfile.ZipInfo("README.txt", date_time=(2025, 3, 12, 8, 0, 0)), b"not a student's file")
    return path


def _moodle_time(t: tuple) -> str:
    import datetime as dt
    d = dt.datetime(*t)
    return d.strftime("%A, %d %B %Y, %I:%M %p")


def moodle_worksheet(students: list[Student], path: Path) -> Path:
    """The offline grading worksheet as Moodle writes it: UTF-8 BOM, every field quoted, CRLF,
    Polish decimal comma in "Maximum Grade", an existing multi-line feedback comment."""
    header = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
              "Last modified (submission)", "Online text", "Last modified (grade)", "Feedback comments"]
    lines = [header]
    for s in students:
        submitted = _moodle_time(LATE if s.late else ON_TIME) if s.files else "-"
        status = "Submitted for grading" if s.files else "No submission"
        lines.append([f"Participant {s.lms_id}", s.full_name, f"{s.key}@student.uni.pl", status, "", "10,00", "Yes",
                      submitted, "", "-", "Poprzedni komentarz,\r\nw dwóch liniach" if s.key == "renamed" else ""])
    text = "".join(",".join('"' + f.replace('"', '""') + '"' for f in row) + "\r\n" for row in lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return path


def moodle_participants(students: list[Student], path: Path) -> Path:
    """The course's participants export (the ID number lives here)."""
    rows = [["First name", "Last name", "ID number", "Email address"]]
    rows += [[s.first, s.last, s.id_number, f"{s.key}@student.uni.pl"] for s in students]
    path.write_text("".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- Canvas


def canvas_ids(s: Student) -> str:
    return str(4000 + int(s.lms_id))          # Canvas user ids: 5001, 5002, ...


def canvas_download(students: list[Student], path: Path) -> Path:
    """Canvas's "Download Submissions": flat "<slug>[_LATE]_<user id>_<attachment id>_<file>"."""
    from labkit.lms_naming import canvas_slug
    attachment = 90000
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for s in students:
            prefix = "_".join([canvas_slug(s.sortable), *(["LATE"] if s.late else []), canvas_ids(s)])
            for name, data in s.files.items():
                attachment += 1
                zf.writestr(zipfile.ZipInfo(f"{prefix}_{attachment}_{name}", date_time=(2025, 3, 12, 8, 0, 0)), data)
        zf.writestr(zipfile.ZipInfo("README.txt", date_time=(2025, 3, 12, 8, 0, 0)), b"stray")
    return path


def canvas_gradebook(students: list[Student], path: Path, column: str) -> Path:
    """Canvas's gradebook export: the "Points Possible" row, then one row per student."""
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column, "Current Score"],
            ["    Points Possible", "", "", "", "", "10.00", "(read only)"]]
    rows += [[s.sortable, canvas_ids(s), s.id_number, f"{s.key}@uni.pl", "Grupa 1", "", ""]
             for s in students if s.on_roster]
    import csv
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def canvas_timestamps(students: list[Student], path: Path) -> Path:
    """When each submission came in (the Submissions API's submitted_at), as the kit reads it."""
    import datetime as dt
    from zoneinfo import ZoneInfo
    rows = ["ID,submitted_at"]
    for s in students:
        if s.files:
            when = dt.datetime(*(LATE if s.late else ON_TIME), tzinfo=ZoneInfo("Europe/Warsaw"))
            rows.append(f"{canvas_ids(s)},{when.isoformat()}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
