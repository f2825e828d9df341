"""The LMS path without nbgrader runs: naming both ways, the byte-preserving CSV, rosters, every
hand-in rule of labkit/lms_collect.py, comments and the worksheet's untouched rows.
(tests/test_lms_e2e.py runs the same class through nbgrader.)"""
from __future__ import annotations

import datetime as dt
import io
import os
import zipfile
from pathlib import Path

import pytest

from labkit import lms_csv, lms_export, roster
from labkit.assignment import load
from labkit.handin import load_manifest, write_manifest
from labkit.lms_collect import CONTENTS, LmsExtractor, plan_handins, safe_extract
from labkit.lms_naming import (canvas_feedback_name, canvas_slug, detect, moodle_folder, parse_canvas,
                               parse_moodle)
from lms_class import (canvas_download, canvas_gradebook, canvas_ids, canvas_timestamps, moodle_download,
                       moodle_participants, moodle_worksheet, the_class, zipped)

MINIMAL = Path(__file__).parent / "minimal_course"
NOTEBOOK = MINIMAL / "source" / "mini" / "mini.ipynb"   # carries the release's grade ids
HIDDEN = ("test_weighted_mean_equals_the_weighted_sum_over_the_weights", "HIDDEN TESTS", "hypothesis")


@pytest.fixture(scope="module")
def students():
    return the_class(NOTEBOOK, NOTEBOOK, "mini")


def extract(download: Path, dest: Path) -> Path:
    """What zip_collect's first step leaves: the kit's extractor over downloaded/<id>/archive/."""
    archive = download.parent
    LmsExtractor().extract(str(archive), str(dest))
    return dest


# --------------------------------------------------------------------------- naming


def test_moodle_names_in_every_layout():
    new = parse_moodle("KURS-Lab-77/Łukasz Żółć_1001_assignsubmission_file/lab06 (1).ipynb")
    assert (new.lms_id, new.name, new.filename, new.folders) == ("1001", "Łukasz Żółć", "lab06 (1).ipynb", True)
    old = parse_moodle("Zofia Gęś-Nowak_1002_assignsubmission_file_/sub dir/Lab06.ipynb")   # Moodle 3.1-4.0
    assert (old.lms_id, old.filename, old.prefix) == ("1002", "sub dir/Lab06.ipynb",
                                                      "Zofia Gęś-Nowak_1002_assignsubmission_file_")
    flat = parse_moodle("Jan Kowalski_1003_assignsubmission_file_kopia lab06.ipynb")        # not "in folders"
    assert (flat.lms_id, flat.filename, flat.folders) == ("1003", "kopia lab06.ipynb", False)
    blind = parse_moodle("Participant_1004_assignsubmission_onlinetext/onlinetext.html")
    assert (blind.lms_id, blind.plugin) == ("1004", "onlinetext")
    assert parse_moodle("README.txt") is None
    assert parse_moodle("Ann_12_assignfeedback_file/x.html") is None    # feedback, not a hand-in


def test_canvas_names_with_late_anonymous_and_text_entries():
    f = parse_canvas("żółćłukasz_5001_90001_lab06 (1).ipynb")
    assert (f.lms_id, f.attachment_id, f.filename, f.late, f.name) == ("5001", "90001", "lab06 (1).ipynb", False,
                                                                       "żółćłukasz")
    late = parse_canvas("gęśnowakzofia_LATE_5002_90002_lab_06_v2.ipynb")
    assert (late.lms_id, late.attachment_id, late.filename, late.late) == ("5002", "90002", "lab_06_v2.ipynb", True)
    anon = parse_canvas("LATE_anon_x7k2p_90003_lab06.ipynb")
    assert (anon.lms_id, anon.attachment_id, anon.late) == ("anon_x7k2p", "90003", True)
    text = parse_canvas("kowalskijan_5003_text.html")
    assert (text.lms_id, text.attachment_id, text.filename) == ("5003", "", "text.html")
    assert parse_canvas("lab06.ipynb") is None


def test_names_written_back_parse_to_the_same_participant():
    folder = moodle_folder("Anna_Maria Nowak", "1004")            # "_" in a name would break Moodle's split
    assert parse_moodle(f"{folder}/lab06.html").lms_id == "1004"
    assert parse_moodle(f"{moodle_folder('Łukasz Żółć', '1001', trailing_underscore=True)}/x.html").lms_id == "1001"
    f = parse_canvas("gęśnowakzofia_LATE_5002_90002_lab06.ipynb")
    name = canvas_feedback_name(f, "lab06_feedback.html")
    assert [t for t in name.split("_") if t.isdigit()][:2] == ["5002", "90002"]   # Canvas's re-upload rule
    assert canvas_slug("Gęś-Nowak, Zofia") == "gęśnowakzofia"
    assert canvas_slug("O'Brien_12_, Ann") == "obrien12ann"


def test_detect_tells_the_two_downloads_apart(tmp_path, students):
    m = [f"{s.full_name}_{s.lms_id}_assignsubmission_file/{n}" for s in students for n in s.files]
    c = [f"{canvas_slug(s.sortable)}_{canvas_ids(s)}_9{i}_{n}" for i, s in enumerate(students) for n in s.files]
    assert detect(m) == "moodle" and detect(c) == "canvas"


# --------------------------------------------------------------------------- CSV


def test_worksheet_round_trips_byte_for_byte(tmp_path, students):
    path = moodle_worksheet(students, tmp_path / "w.csv")
    table = lms_csv.load(path)
    assert table.bom and table.encoding == "utf-8" and table.dumps() == path.read_bytes()
    assert table.records()[0]["Feedback comments"] == "Poprzedni komentarz,\r\nw dwóch liniach"


def test_set_changes_one_field_in_the_files_own_style():
    data = "Identifier,Grade,Note\nParticipant 1,,plain\nParticipant 2,5.00,\"quoted, yes\"\n".encode()
    table = lms_csv.loads(data)
    table.set(table.rows[0], 1, "7.50")
    table.set(table.rows[1], 1, "8,50")                         # a comma must be quoted
    out = table.dumps().decode()
    assert out == "Identifier,Grade,Note\nParticipant 1,7.50,plain\nParticipant 2,\"8,50\",\"quoted, yes\"\n"


def test_cp1250_worksheet_stays_cp1250():
    data = "Full name;Grade\r\nŁukasz Żółć;\r\n".encode("cp1250")
    table = lms_csv.loads(data)
    assert (table.encoding, table.delimiter) == ("cp1250", ";")
    table.set(table.rows[0], 1, "3,5")
    assert table.dumps() == "Full name;Grade\r\nŁukasz Żółć;3,5\r\n".encode("cp1250")


# --------------------------------------------------------------------------- roster


def test_moodle_roster_ids_from_participants_then_fallbacks(tmp_path, students):
    sheet = moodle_worksheet(students, tmp_path / "w.csv")
    people = moodle_participants([s for s in students if s.key not in ("stranger", "script")], tmp_path / "p.csv")
    built = {e.lms_id: e for e in roster.from_moodle(worksheet=sheet, participants=people).entries}
    assert built["1001"].student_id == "s100001" and built["1001"].name == "Łukasz Żółć"
    assert built["1007"].student_id == built["1008"].student_id == "s100007"      # the export says so
    assert (built["1009"].student_id, built["1009"].source) == ("script", "e-mail")   # not in participants
    assert built["1005"].submitted_at == "2025-03-11T09:15:00+01:00"
    assert built["1004"].submitted_at == ""                                       # "-": nothing submitted
    path = roster.write(roster.Roster("moodle", list(built.values())), tmp_path / "roster.csv")
    assert roster.read(path).by_lms_id()["1002"].student_id == "s100002"


def test_lms_times_in_english_polish_and_iso():
    warsaw = dt.timezone(dt.timedelta(hours=1))
    want = dt.datetime(2025, 3, 11, 21, 15, tzinfo=warsaw)
    assert roster.parse_lms_time("Tuesday, 11 March 2025, 9:15 PM") == want
    assert roster.parse_lms_time("wtorek, 11 marca 2025, 21:15") == want
    assert roster.parse_lms_time("2025-03-11T20:15:00Z") == want
    assert roster.parse_lms_time("-") is None
    with pytest.raises(ValueError, match="cannot read"):
        roster.parse_lms_time("jutro")


def test_canvas_roster_reads_the_gradebook_export(tmp_path, students):
    book = canvas_gradebook(students, tmp_path / "g.csv", "Lab (1)")
    times = canvas_timestamps(students, tmp_path / "t.csv")
    built = {e.lms_id: e for e in roster.from_canvas(gradebook=book, timestamps=times).entries}
    assert "" not in built and len(built) == sum(1 for s in students if s.on_roster)   # no "Points Possible"
    assert built["5001"].student_id == "s100001" and built["5001"].name == "Żółć, Łukasz"
    assert built["5005"].submitted_at.startswith("2025-03-11T09:15")
    assert roster.clean_id("Łukasz Żółć") == "Lukasz-Zolc"


def test_roster_file_errors_name_the_problem(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("student_id,lms,lms_id\ns1,moodle,1\ns2,canvas,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="several LMSs"):
        roster.read(path)
    path.write_text("student_id,lms,lms_id\n,moodle,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="student_id"):
        roster.read(path)


# --------------------------------------------------------------------------- extraction


def test_extractor_keeps_times_unpacks_student_zips_and_refuses_unsafe_paths(tmp_path):
    inner = zipped({"lab06.ipynb": b"{}", "../escape.txt": b"x"})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("A B_1_assignsubmission_file/sol.zip", date_time=(2025, 3, 9, 18, 30, 0)), inner)
        zf.writestr(zipfile.ZipInfo("A B_1_assignsubmission_file/NB.IPYNB", date_time=(2025, 3, 9, 18, 30, 0)), b"{}")
        zf.writestr("../../evil.txt", b"x")
        zf.writestr("/abs.txt", b"x")
        link = zipfile.ZipInfo("A B_1_assignsubmission_file/link")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
        zf.writestr("C D_2_assignsubmission_file/broken.zip", b"not a zip")
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "download.zip").write_bytes(buf.getvalue())
    out = extract(archive / "download.zip", tmp_path / "extracted")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["download/A B_1_assignsubmission_file/NB.ipynb",           # extension nbgrader can find
                     "download/A B_1_assignsubmission_file/sol.zip",
                     f"download/A B_1_assignsubmission_file/sol.zip{CONTENTS}/lab06.ipynb",
                     "download/C D_2_assignsubmission_file/broken.zip"]
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "escape.txt").exists()
    when = dt.datetime.fromtimestamp(os.stat(out / files[0]).st_mtime, tz=dt.timezone.utc)
    assert when == dt.datetime(2025, 3, 9, 17, 30, tzinfo=dt.timezone.utc)        # 18:30 in Warsaw
    plan = plan_handins(extracted=out, assignment_id="lab06")
    by_id = {h.lms_id: h for h in plan.handins}
    assert "unreadable_zip" in by_id["2"].flags and by_id["2"].status == "no_notebook"
    assert set(by_id["1"].notebooks) == {"NB.ipynb", "sol.zip/lab06.ipynb"}


def test_unpacking_stops_at_the_size_limit(tmp_path):
    bomb = tmp_path / "big.zip"
    bomb.write_bytes(zipped({"a.ipynb": b"0" * 4000, "b.ipynb": b"0" * 4000}))
    skipped = safe_extract(bomb, tmp_path / "out", max_bytes=5000)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.ipynb"] and "over 5000 bytes" in skipped[0]


# --------------------------------------------------------------------------- the rules


@pytest.fixture(scope="module")
def moodle_plan(tmp_path_factory, students):
    tmp = tmp_path_factory.mktemp("moodle-plan")
    download = moodle_download(students, tmp / "archive" / "KURS-77.zip")
    out = extract(download, tmp / "extracted")
    known = roster.from_moodle(worksheet=moodle_worksheet([s for s in students if s.on_roster], tmp / "w.csv"),
                               participants=moodle_participants(students, tmp / "p.csv"))
    plan = plan_handins(extracted=out, assignment_id="mini", release=NOTEBOOK, roster=known)
    return plan, {h.lms_id: h for h in plan.handins}, out


def test_every_rule_has_its_flag(moodle_plan, students):
    plan, by_id, _ = moodle_plan
    assert plan.lms == "moodle"
    for s in students:
        h = by_id[s.lms_id]
        assert set(s.expect_flags) <= set(h.flags), (s.key, h.flags)
        assert h.graded_file == s.expect_graded_file, s.key
    assert {h.status for h in plan.handins} == {"collected", "missing", "no_notebook"}
    assert by_id["1004"].status == "missing" and by_id["1009"].status == "no_notebook"


def test_several_notebooks_the_one_with_the_release_cells_is_graded(moodle_plan):
    _, by_id, out = moodle_plan
    h = by_id["1002"]
    assert h.graded_file == "Mini.ipynb" and set(h.kept) == {"notatki.ipynb", "raport.pdf"}
    assert "most release grade ids" in h.notes[0]


def test_several_notebooks_tie_goes_to_the_latest_upload(tmp_path):
    nb = NOTEBOOK.read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("kowalskijan_5003_90020_mini.ipynb", nb)          # uploaded last: higher attachment id
        zf.writestr("kowalskijan_5003_90007_mini-1.ipynb", nb)
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "submissions.zip").write_bytes(buf.getvalue())
    out = extract(tmp_path / "archive" / "submissions.zip", tmp_path / "extracted")
    h = plan_handins(extracted=out, assignment_id="mini", release=NOTEBOOK).handins[0]
    assert (h.graded_file, h.attachment_id, h.kept) == ("mini.ipynb", "90020", ["mini-1.ipynb"])


def test_nobody_is_dropped_and_nothing_replaced(moodle_plan, students):
    plan, by_id, out = moodle_plan
    assert {h.lms_id for h in plan.handins} == {s.lms_id for s in students}
    assert plan.unmatched == ["KURS-77/README.txt"]
    assert (by_id["1007"].student_id, by_id["1008"].student_id) == ("s100007", "s100007-moodle-1008")
    assert by_id["1006"].student_id == "moodle-1006"
    # every extracted file of a student goes somewhere in submitted/: graded or kept/
    told = {Path(p).relative_to(out.resolve()).as_posix(): info for p, info in plan.collect.items()}
    owned = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and "README" not in p.name]
    assert sorted(told) == sorted(owned)
    graded = [i for i in told.values() if i["file_id"] == "mini.ipynb"]
    assert len(graded) == len({i["student_id"] for i in graded}) == 7
    assert all(i["file_id"].startswith("kept/") for i in told.values() if i["file_id"] != "mini.ipynb")


def test_times_from_the_worksheet_else_the_zip_flagged(moodle_plan):
    _, by_id, _ = moodle_plan
    assert by_id["1005"].timestamp == "2025-03-11T09:15:00+01:00"
    assert "time_from_zip" not in by_id["1005"].flags
    assert by_id["1006"].timestamp.startswith("2025-03-12T08:00") and "time_from_zip" in by_id["1006"].flags


def test_canvas_late_marker_and_times(tmp_path, students):
    download = canvas_download(students, tmp_path / "archive" / "submissions.zip")
    out = extract(download, tmp_path / "extracted")
    known = roster.from_canvas(gradebook=canvas_gradebook(students, tmp_path / "g.csv", "Mini (1)"))
    by_id = {h.lms_id: h for h in plan_handins(extracted=out, assignment_id="mini", release=NOTEBOOK,
                                               roster=known).handins}
    late = by_id["5005"]
    assert "lms_late" in late.flags and "time_from_zip" in late.flags       # no timestamps file given
    assert late.prefix == "wiśniewskipiotr_LATE_5005"
    assert by_id["5001"].timestamp == "" and by_id["5001"].timestamp_source.startswith("none")
    assert by_id["5003"].graded_file == "rozwiązanie.zip/lab/mini.ipynb" and "from_zip" in by_id["5003"].flags


def test_manifest_round_trip(tmp_path, moodle_plan):
    plan = moodle_plan[0]
    json_path, csv_path = write_manifest(plan, tmp_path)
    data = load_manifest(tmp_path, "mini")
    assert [h["lms_id"] for h in data["handins"]] == [h.lms_id for h in plan.handins]
    assert "collect" not in data and "unmatched" in csv_path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- out


@pytest.fixture(scope="module")
def mini():
    return load("mini", MINIMAL)


def grade(status="graded", **kw) -> lms_export.StudentGrade:
    base = dict(lms_id="1001", student_id="s1", name="Łukasz Żółć", status=status,
                parts={"mean": 2.0, "manual": 0.0, "total": 2.0}, raw=2.0, penalty=0.5, final=1.5, hours_late=3.0,
                graded_file="mini (1).ipynb", flags=["renamed"])
    base.update(kw)
    return lms_export.StudentGrade(**base)


def test_comments_in_the_assignments_language_without_hidden_text(mini, monkeypatch):
    monkeypatch.delenv("LABKIT_LANG", raising=False)
    en = lms_export.comment(grade(), assignment=mini, lms_max=10)
    assert en == ("mini: mean 2/2. Total 2/2 points; late penalty −0.5 (3 h); result 1.5/2, grade 7.5/10. "
                  "Graded file: “mini (1).ipynb”.")
    monkeypatch.setenv("LABKIT_LANG", "pl")
    pl = lms_export.comment(grade(), assignment=mini, lms_max=10)
    assert "kara za spóźnienie −0,5 pkt (3 h)" in pl and "ocena 7,5/10" in pl
    assert "nie oddano notebooka" in lms_export.comment(grade("missing"), assignment=mini, lms_max=10)
    for text in (en, pl):
        assert not any(h in text for h in HIDDEN)


def test_worksheet_rows_moodle_locks_the_gradebook_lacks_or_graded_by_hand_stay_as_they_were(tmp_path, mini, monkeypatch):
    sheet = tmp_path / "w.csv"
    sheet.write_bytes(b'"Identifier","Full name","Grade","Maximum Grade","Grade can be changed",'
                      b'"Last modified (grade)","Feedback comments"\n'
                      b'"Participant 1","A","","10.00","Yes","-",""\n'
                      b'"Participant 2","B","4.00","10.00","No","-","old"\n'
                      b'"Participant 3","C","","10.00","Yes","-",""\n'
                      b'"Participant 4","D","6.00","10.00","Yes","-",""\n')
    grades = [grade(lms_id="1"), grade(lms_id="2", student_id="s2"),
              grade("not_graded", lms_id="3", student_id="s3"), grade("missing", lms_id="4", student_id="s4")]
    monkeypatch.setattr(lms_export, "class_grades", lambda **kw: grades)
    (tmp_path / "source").symlink_to(MINIMAL / "source")
    (tmp_path / "grader_tests").symlink_to(MINIMAL / "grader_tests")
    result = lms_export.export_moodle(course=tmp_path, assignment_id="mini", worksheet=sheet)
    rows = lms_csv.load(tmp_path / "reports" / "mini_moodle_worksheet.csv").records()
    assert [r["Grade"] for r in rows] == ["7.50", "4.00", "", "6.00"]   # a grade given by hand stays
    assert rows[1]["Feedback comments"] == "old"
    assert len(result.untouched) == 3 and "cannot be changed" in result.untouched[0]
    assert "autograde" in result.untouched[1] and "already has" in result.untouched[2]


def test_rescale():
    assert lms_export.rescale(1.5, kit_max=2, lms_max=10) == 7.5
    assert lms_export.rescale(2 / 3, kit_max=2, lms_max=100) == 33.33
