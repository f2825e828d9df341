"""Moodle and Canvas, in and out, end to end (docs/lms.md, README "The term, step by step").

Per LMS, one module-scoped course: the minimal assignment (tests/minimal_course) released
with the repository's nbgrader_config.py, a simulated class of nine LMS entries with Polish
names and messy hand-ins (tests/lms_class.py) downloaded in that LMS's naming, then the
documented steps: ``labkit lms-roster``, real ``nbgrader zip_collect``, ``nbgrader autograde``
(the deadline in the assignment's ``[term] due``, the course's late policy: 10% of the points
per started day, labkit/term/late.py), ``nbgrader generate_feedback``, ``nbgrader export`` (Moodle)
and ``labkit lms-export``. The assertions
read what goes back to the LMS: every student's grade, comment (with the penalty) and
feedback file by name.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import nbgrader_cli

from labkit.lms import csv_file as lms_csv
from labkit.core.assignment import load
from labkit.cli.main import main
from labkit.lms.naming import canvas_slug
from labkit.core.settings import REPO_ROOT
from labkit.term.submissions import release_notebook
from lms_class import (DUE, GRADES_UPLOADED, WARSAW, canvas_download, canvas_gradebook, canvas_id,
                       canvas_timestamps, moodle_download, moodle_id, moodle_participants, moodle_worksheet,
                       needs_php, php_check, the_class)

pytestmark = pytest.mark.slow
MINIMAL = Path(__file__).parent / "minimal_course"
HIDDEN = ("test_weighted_mean_equals_the_weighted_sum_over_the_weights", "HIDDEN TESTS", "hypothesis")


def _term() -> str:
    """DUE of tests/lms_class.py ("2025-03-10 12:00:00 Europe/Warsaw") as the description's [term] due."""
    import datetime as dt
    from zoneinfo import ZoneInfo
    when, zone = DUE[:19], DUE[20:]
    due = dt.datetime.strptime(when, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(zone))
    return f"\n[term]\ndue = {due.isoformat()}\n"


TERM = _term()
PER_DAY = 0.10 * 2.0          # the course's PerDayPenalty: 10% of the minimal assignment's 2 points


def run(course: Path, *args: str) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).parent / args[0]
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    env.pop("LABKIT_ASSIGNMENT", None)
    env.pop("LABKIT_LANG", None)
    if args[0] == "nbgrader":
        done = nbgrader_cli.nbgrader(list(args[1:]), cwd=course, env=env)
    else:
        done = subprocess.run([str(tool), *args[1:]], cwd=course, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done


def labkit(*args: str) -> str:
    """A ``labkit`` command, in this process (the CLI the README documents, without a second
    interpreter start-up)."""
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    assert code == 0, out.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """The minimal assignment released once (generate_assignment and the deadline), with the
    repository's nbgrader_config.py; each LMS's course starts as a copy of it."""
    root = tmp_path_factory.mktemp("released")
    shutil.copytree(MINIMAL / "source", root / "source")
    shutil.copytree(MINIMAL / "grader_tests", root / "grader_tests")
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    toml = root / "grader_tests" / "mini" / "assignment.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + TERM, encoding="utf-8")
    run(root, "nbgrader", "generate_assignment", "mini", "--force")
    return root


def new_course(released: Path, tmp_path_factory, name: str, language: str) -> tuple[Path, list]:
    """A copy of the released course whose assignment speaks ``language`` (the comments' and
    the feedback's language; the release's stubs do not matter to a filled-in notebook)."""
    root = tmp_path_factory.mktemp(name) / "course"
    shutil.copytree(released, root)
    toml = root / "grader_tests" / "mini" / "assignment.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('language = "en"', f'language = "{language}"'),
                    encoding="utf-8")
    assignment = load("mini", root)
    return root, the_class(release_notebook(root, "mini"), assignment.notebook, "mini")


def grade_all(root: Path) -> None:
    run(root, "nbgrader", "zip_collect", "mini", "--force")
    run(root, "nbgrader", "autograde", "mini", "--force", "--GradeInWorker.jobs=2")
    run(root, "nbgrader", "generate_feedback", "mini", "--force")


def days_late(s) -> int:
    """Started days after DUE: LATE is 21 h after it; every other hand-in is on time (Moodle's
    student missing from the older roster has no worksheet time: the zip entry's time is the
    file's upload, on time, flagged time_from_zip)."""
    return 1 if s.late else 0


def penalty_of(s) -> float:
    """The course's policy: PER_DAY per started day, at most half, never more than the score."""
    if s.expect_status != "graded":
        return 0.0
    return round(min(s.expect_points, min(0.5 * 2.0, PER_DAY * days_late(s))), 9)


def expected_grade(s, lms_max: float = 10.0) -> float:
    """What the LMS must receive: the points after the late penalty, on its scale."""
    if s.expect_status != "graded":
        return 0.0
    return round((s.expect_points - penalty_of(s)) / 2.0 * lms_max, 9)


def number(value: float, lang: str) -> str:
    """A number as the comments print it (two decimals at most; a decimal comma in Polish)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "pl" else text


def manifest(root: Path) -> dict[str, dict]:
    data = json.loads((root / "reports" / "mini_handin.json").read_text(encoding="utf-8"))
    return {h["lms_id"]: h for h in data["handins"]} | {"_unmatched": data["unmatched"]}


# --------------------------------------------------------------------------- Moodle


@pytest.fixture(scope="module")
def moodle(released, tmp_path_factory) -> dict:
    """A Polish-interface Moodle 4.5 class, through the README's commands with no --column."""
    root, students = new_course(released, tmp_path_factory, "moodle", "pl")
    students = [s for s in students if s.in_lms("moodle")]
    downloads = root.parent / "moodle-downloads"
    archive = root / "downloaded" / "mini" / "archive"
    moodle_download(students, archive / "KURS-Lab mini-77.zip")
    (archive / "notatki prowadzącego.txt").write_text("the teacher's own note", encoding="utf-8")
    worksheet = moodle_worksheet(students, downloads / "Oceny-KURS-Lab mini-77.csv")
    # The roster comes from a worksheet downloaded before Ewa Zielińska joined the course.
    early = moodle_worksheet([s for s in students if s.on_roster], downloads / "early-worksheet.csv")
    participants = moodle_participants([s for s in students if s.on_roster], downloads / "courseid_7_participants.csv")
    roster = labkit("lms-roster", "mini", "--moodle-worksheet", str(early),
                    "--moodle-participants", str(participants), "--course", str(root))
    grade_all(root)
    run(root, "nbgrader", "export", "--exporter=labkit.nbgrader_ext.exporter.ReportExporter")
    export = labkit("lms-export", "mini", "--moodle-worksheet", str(worksheet), "--course", str(root))
    return {"root": root, "students": students, "worksheet": worksheet, "roster": roster, "export": export,
            "downloads": downloads}


def test_moodle_every_entry_is_in_the_manifest_with_its_rule(moodle):
    handins = manifest(moodle["root"])
    for s in moodle["students"]:
        h = handins[moodle_id(s)]
        assert set(s.expect_flags) <= set(h["flags"]), (s.key, h["flags"])
        assert h["graded_file"] == s.expect_graded_file, s.key
    assert handins["2151006"]["student_id"] == "moodle-2151006"           # not on the roster: by its LMS id
    assert "time_from_zip" in handins["2151006"]["flags"]                 # ... and no worksheet time
    assert handins["2151007"]["student_id"] == "s100007"                  # two entries, one ID number:
    assert handins["2151008"]["student_id"] == "s100007-moodle-2151008"   # graded apart, nothing replaced
    assert handins["2151005"]["timestamp"].startswith("2025-03-11T09:15")   # from the worksheet
    assert handins["2151005"]["timestamp_source"] == "Moodle grading worksheet"
    assert handins["2151011"]["status"] == "draft"
    assert handins["_unmatched"] == ["notatki prowadzącego.txt"]
    assert "pl headers" in moodle["roster"] and "drafts, not submitted" in moodle["roster"]


def test_moodle_submitted_folder_keeps_what_is_not_graded(moodle):
    sub = moodle["root"] / "submitted"
    assert (sub / "s100002" / "mini" / "mini.ipynb").is_file()
    assert (sub / "s100002" / "mini" / "kept" / "notatki.ipynb").is_file()
    assert (sub / "s100002" / "mini" / "kept" / "raport.pdf").read_bytes() == b"%PDF-1.4 not graded"
    assert (sub / "s100009" / "mini" / "kept" / "mini.py").is_file()
    assert not (sub / "s100009" / "mini" / "mini.ipynb").exists()
    assert (sub / "s100005" / "mini" / "timestamp.txt").read_text().startswith("2025-03-11 08:15")  # UTC
    mac = sub / "s100010" / "mini"                                         # the macOS zip: graded, and kept
    assert (mac / "mini.ipynb").is_file() and (mac / "kept" / "mini.zip").is_file()
    assert (mac / "kept" / "mini.zip.contents" / "__MACOSX" / "mini" / "._mini.ipynb").is_file()
    assert not (sub / "s100011").exists()                                 # a draft is not collected


def test_moodle_worksheet_changes_only_grade_feedback_and_grade_time(moodle):
    before = lms_csv.load(moodle["worksheet"])
    out_path = moodle["root"] / "reports" / "mini_moodle_worksheet.csv"
    after = lms_csv.load(out_path)
    raw = out_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw
    assert after.columns == before.columns
    changed = {before.column("Ocena"), before.column("Komentarz zwrotny"), before.column("Ostatnia aktualizacja (ocena)")}
    for old, new in zip(before.rows, after.rows, strict=True):
        for i, (f_old, f_new) in enumerate(zip(old.fields, new.fields, strict=True)):
            if i not in changed:
                assert f_old.raw == f_new.raw
        assert old.end == new.end


def test_moodle_every_student_gets_grade_and_comment(moodle):
    table = lms_csv.load(moodle["root"] / "reports" / "mini_moodle_worksheet.csv")
    rows = {r["identyfikator"]: r for r in table.records()}
    for s in moodle["students"]:
        row = rows[f"Uczestnik{moodle_id(s)}"]
        assert row["Ocena"] == f"{expected_grade(s):.2f}".replace(".", ","), (s.key, row["Ocena"])
        text = row["Komentarz zwrotny"]
        assert not any(h in text for h in HIDDEN), text
        if s.expect_status == "missing":
            assert "nie oddano notebooka" in text
        elif s.expect_status == "no_notebook":
            assert "nie ma notebooka" in text
        elif s.expect_status == "draft":
            assert "wersję roboczą" in text
        else:
            penalty = number(penalty_of(s), "pl")
            assert f"mean {s.expect_points:g}/2" in text and f"kara za spóźnienie −{penalty} pkt" in text, text
    assert "kara za spóźnienie −0,2 pkt" in rows["Uczestnik2151005"]["Komentarz zwrotny"]
    assert "kara za spóźnienie −0 pkt" in rows["Uczestnik2151006"]["Komentarz zwrotny"]   # the upload: on time
    assert "„mini (1).ipynb”" in rows["Uczestnik2151001"]["Komentarz zwrotny"]


@needs_php
def test_moodle_regrade_upload_passes_moodles_check(moodle):
    """The worksheet went back to Moodle; the teacher downloads it again (grades in, "Last
    modified (grade)" at the upload's minute, in Polish) and exports again after a regrade:
    every row passes Moodle's check without "Allow updating records..." ticked."""
    root = moodle["root"]
    first = lms_csv.load(root / "reports" / "mini_moodle_worksheet.csv").records()
    graded = {s.key: float(r["Ocena"].replace(",", ".")) for s in moodle["students"]
              for r in first if r["identyfikator"] == f"Uczestnik{moodle_id(s)}"}
    again = moodle_worksheet(moodle["students"], moodle["downloads"] / "Oceny-again.csv", graded=graded)
    labkit("lms-export", "mini", "--moodle-worksheet", str(again), "--course", str(root))
    import datetime as dt
    uploaded = int(dt.datetime(*GRADES_UPLOADED, tzinfo=WARSAW).timestamp())
    times = {moodle_id(s): uploaded for s in moodle["students"]}
    verdicts = php_check(root / "reports" / "mini_moodle_worksheet.csv", times, header="Ostatnia aktualizacja (ocena)")
    assert len(verdicts) == len(moodle["students"]) and all(verdicts.values()), verdicts
    assert not any(php_check(again, times, header="Ostatnia aktualizacja (ocena)").values())   # as Moodle wrote it


def test_moodle_feedback_zip_in_the_download_naming(moodle):
    root = moodle["root"]
    with zipfile.ZipFile(root / "reports" / "mini_moodle_feedback.zip") as zf:
        names = set(zf.namelist())
        by_id = {h["lms_id"]: h for h in json.loads((root / "reports" / "mini_handin.json").read_text())["handins"]}
        graded = [s for s in moodle["students"] if s.expect_status == "graded"]
        assert names == {f"{s.full_name}_{moodle_id(s)}_assignsubmission_file/mini.html" for s in graded}
        for s in graded:
            html = zf.read(f"{s.full_name}_{moodle_id(s)}_assignsubmission_file/mini.html")
            sid = by_id[moodle_id(s)]["student_id"]
            assert html == (root / "feedback" / sid / "mini" / "mini.html").read_bytes()
            assert b"HIDDEN TESTS" not in html


def test_moodle_gradebook_lists_students_without_a_notebook(moodle):
    with open(moodle["root"] / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert float(rows["s100004"]["score"]) == 0.0 and float(rows["s100009"]["score"]) == 0.0
    assert float(rows["s100011"]["score"]) == 0.0                         # the draft: listed, 0
    assert float(rows["s100005"]["late_submission_penalty"]) == pytest.approx(0.2)
    assert float(rows["s100005"]["score"]) == pytest.approx(1.8)
    assert float(rows["s100010"]["score"]) == pytest.approx(2.0)          # the macOS zip


def test_moodle_report_has_the_hand_in_section(moodle):
    html = (moodle["root"] / "reports" / "mini_report.html").read_text(encoding="utf-8")
    assert 'id="handin"' in html and 'data-status="missing"' in html and 'data-status="draft"' in html
    assert 'data-lms-id="2151008" data-student="s100007-moodle-2151008"' in html
    assert "notatki prowadzącego.txt" in html


def test_moodle_parts_csv(moodle):
    with open(moodle["root"] / "reports" / "mini_lms_parts.csv", newline="", encoding="utf-8") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert rows["s100005"]["mean"] == "2.0" and float(rows["s100005"]["late_penalty"]) == pytest.approx(0.2)
    assert float(rows["s100005"]["lms_grade"]) == pytest.approx(9.0) and rows["s100001"]["lms_grade"] == "10.0"
    assert rows["s100004"]["total"] == "0.0"


# --------------------------------------------------------------------------- Canvas


@pytest.fixture(scope="module")
def canvas(released, tmp_path_factory) -> dict:
    """The same class from Canvas: a Polish user's export (``;``, decimal comma), the Test
    Student last (and its Student View hand-in in the download)."""
    root, students = new_course(released, tmp_path_factory, "canvas", "en")
    students = [s for s in students if s.in_lms("canvas")]
    downloads = root.parent / "canvas-downloads"
    downloads.mkdir()
    canvas_download(students, root / "downloaded" / "mini" / "archive" / "submissions.zip")
    gradebook = canvas_gradebook(students, downloads / "2025-03-12T0800_Oceny-KURS.csv", "Mini (4242)", polish=True)
    times = canvas_timestamps(students, downloads / "submitted_at.csv")
    roster = labkit("lms-roster", "mini", "--canvas-gradebook", str(gradebook), "--timestamps", str(times),
                    "--course", str(root))
    grade_all(root)
    run(root, "nbgrader", "export", "--exporter=labkit.nbgrader_ext.exporter.ReportExporter")
    export = labkit("lms-export", "mini", "--canvas-gradebook", str(gradebook),
                    "--canvas-column", "4242", "--course", str(root))
    return {"root": root, "students": students, "export": export, "roster": roster}


def test_canvas_every_entry_is_in_the_manifest_with_its_rule(canvas):
    handins = manifest(canvas["root"])
    for s in canvas["students"]:
        h = handins[canvas_id(s)]
        assert set(s.expect_flags) <= set(h["flags"]), (s.key, h["flags"])
        assert h["graded_file"] == s.expect_graded_file, s.key
    assert "lms_late" in handins["5005"]["flags"]
    assert handins["5005"]["timestamp_source"] == "timestamps file"
    assert handins["5006"]["student_id"] == "canvas-5006"
    assert not handins["5006"]["timestamp"]                               # not LATE: on time, no time needed
    assert handins["5008"]["student_id"] == "s100007-canvas-5008"
    assert handins["5099"]["status"] == "left_out"                         # the Test Student
    assert "left out: 5099" in canvas["roster"]


def test_canvas_test_student_gets_nothing(canvas):
    root = canvas["root"]
    assert not (root / "submitted" / "canvas-5099").exists()
    with open(root / "grades.csv", newline="", encoding="utf-8") as fh:
        assert "canvas-5099" not in {r["student_id"] for r in csv.DictReader(fh)}
    assert "5099" not in (root / "reports" / "mini_canvas_grades.csv").read_text(encoding="utf-8")
    assert "Test Student" in canvas["export"]


def test_canvas_import_csv_has_every_student(canvas):
    table = lms_csv.load(canvas["root"] / "reports" / "mini_canvas_grades.csv")
    assert table.delimiter == ";"                                           # as the Polish export came
    rows = [[f.value for f in r.fields] for r in [table.header, *table.rows]]
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Mini (4242)"]
    assert rows[1][0] == "Points Possible" and rows[1][5] == "10,00"
    by_id = {r[1]: r for r in rows[2:]}
    for s in canvas["students"]:
        if s.test_student:
            continue
        row = by_id[canvas_id(s)]
        assert float(row[5].replace(",", ".")) == expected_grade(s), (s.key, row)
        if s.on_roster:
            assert row[0] == s.sortable and row[2] == s.id_number and row[4] == "Grupa 1"


def test_canvas_comments_in_english_with_the_penalty(canvas):
    table = lms_csv.load(canvas["root"] / "reports" / "mini_canvas_comments.csv")
    rows = {r["ID"]: r["comment"] for r in table.records()}
    for s in canvas["students"]:
        if s.expect_status == "graded":
            assert f"late penalty −{number(penalty_of(s), 'en')}" in rows[canvas_id(s)], s.key
    assert "late penalty −0.2" in rows["5005"] and "grade 9/10" in rows["5005"]
    assert "late penalty −0" in rows["5001"] and "grade 10/10" in rows["5001"]
    assert "no notebook was handed in" in rows["5004"]
    assert not any(h in text for text in rows.values() for h in HIDDEN)
    assert not any("kara" in text for text in rows.values())


def test_canvas_feedback_for_reupload_and_by_hand(canvas):
    root = canvas["root"]
    by_id = {h["lms_id"]: h for h in json.loads((root / "reports" / "mini_handin.json").read_text())["handins"]}
    graded = [s for s in canvas["students"] if s.expect_status == "graded"]
    with zipfile.ZipFile(root / "reports" / "mini_canvas_feedback.zip") as zf:
        names = zf.namelist()
        for s in graded:
            h = by_id[canvas_id(s)]
            name = f"{h['prefix']}_{h['attachment_id']}_mini_feedback.html"
            assert name in names
            # Canvas's re-upload reads the first two all-digit tokens as user id and attachment id.
            digits = [t for t in name.split("_") if t.isdigit()][:2]
            assert digits == [canvas_id(s), h["attachment_id"]]
            html = (root / "feedback" / h["student_id"] / "mini" / "mini.html").read_bytes()
            assert zf.read(name) == html
            single = root / "reports" / "mini_canvas_feedback" / f"{canvas_slug(s.sortable)}_{canvas_id(s)}_mini_feedback.html"
            assert single.read_bytes() == html
        assert len(names) == len(graded)
    late = by_id["5005"]
    assert late["prefix"] == f"{canvas_slug('Wiśniewski, Piotr')}_LATE_5005"
