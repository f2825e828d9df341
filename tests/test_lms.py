"""The LMS path without nbgrader runs: naming both ways, the byte-preserving CSV, rosters, every
hand-in rule of labkit/lms/collect.py, comments and the worksheet's untouched rows.
(tests/test_lms_e2e.py runs the same class through nbgrader.)"""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from labkit.lms import csv_file as lms_csv
from labkit.lms import canvas_export, moodle_export
from labkit.lms import export as lms_export
from labkit.lms import roster
from labkit.core.assignment import load
from labkit.term.handin import load_manifest, write_manifest
from labkit.lms.collect import LmsExtractor
from labkit.lms.extract import CONTENTS, Extraction, extraction_log, safe_extract
from labkit.lms.plan import plan_handins
from labkit.lms.naming import (canvas_feedback_name, canvas_slug, detect, moodle_folder, parse_canvas,
                               parse_moodle)
from lms_class import (GRADES_UPLOADED, ON_TIME, WARSAW, canvas_download, canvas_gradebook, canvas_id,
                       canvas_timestamps, moodle_download, moodle_id, moodle_participants, moodle_worksheet,
                       needs_php, php_check, the_class, userdate, zipped)

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
    m = [f"{s.full_name}_{moodle_id(s)}_assignsubmission_file/{n}" for s in students for n in s.files]
    c = [f"{canvas_slug(s.sortable)}_{canvas_id(s)}_9{i}_{n}" for i, s in enumerate(students) for n in s.files]
    assert detect(m) == "moodle" and detect(c) == "canvas"


# --------------------------------------------------------------------------- CSV


@pytest.mark.parametrize("lang", ["pl", "en"])
def test_worksheet_round_trips_byte_for_byte(tmp_path, students, lang):
    path = moodle_worksheet(students, tmp_path / "w.csv", lang=lang)
    table = lms_csv.load(path)
    assert table.bom and table.encoding == "utf-8" and table.dumps() == path.read_bytes()
    assert b"\r" not in path.read_bytes() and table.rows[0].end == "\n"          # OpenSpout: LF
    first = table.records()[0]
    assert first[table.columns[-1]] == "Poprzedni komentarz,   w dwóch liniach"


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


def test_polish_moodle_roster_needs_no_column_names(tmp_path, students):
    """A Polish worksheet (identyfikator, Uczestnik2151001, Numer Indeksu, 10,00) and the Polish
    participants export (Imię, Nazwisko, Numer Indeksu, E-mail, Grupy) are read as they are."""
    sheet = moodle_worksheet(students, tmp_path / "Oceny.csv", lang="pl")
    people = moodle_participants([s for s in students if s.key not in ("stranger", "script")], tmp_path / "p.csv")
    built = roster.from_moodle(worksheet=sheet, participants=people)
    by = built.by_lms_id()
    assert built.language == "pl" and not built.warnings
    assert by["2151001"].student_id == "s100001" and by["2151001"].name == "Łukasz Żółć"
    assert by["2151001"].source == "participants export (e-mail)"
    assert by["2151007"].student_id == by["2151008"].student_id == "s100007"    # the export says so
    assert (by["2151009"].student_id, by["2151009"].source) == ("s100009", "worksheet student number")
    assert by["2151005"].submitted_at == "2025-03-11T09:15:00+01:00"           # "wtorek, 11 marca 2025, 09:15 AM"
    assert by["2151004"].submitted_at == "" and by["2151004"].status == "new"
    assert by["2151011"].status == "draft" and by["2151001"].status == "submitted"
    path = roster.write(built, tmp_path / "roster.csv")
    assert roster.read(path).by_lms_id()["2151002"].student_id == "s100002"


def test_default_english_moodle_roster_with_only_the_email(tmp_path, students):
    """A default Moodle shows only the e-mail (showuseridentity): no ID number anywhere is no
    error; the e-mail's local part is the id."""
    sheet = moodle_worksheet(students, tmp_path / "Grades.csv", lang="en")
    people = moodle_participants(students, tmp_path / "courseid_7_participants.csv", lang="en")
    built = roster.from_moodle(worksheet=sheet, participants=people)
    by = built.by_lms_id()
    assert built.language == "en"
    assert (by["2151001"].student_id, by["2151001"].source) == ("renamed", "e-mail")
    assert by["2151005"].submitted_at == "2025-03-11T09:15:00+01:00"           # "Tuesday, 11 March 2025, 9:15 AM"
    assert by["2151011"].status == "draft"


def test_renamed_columns_still_need_column(tmp_path):
    sheet = tmp_path / "w.csv"
    sheet.write_bytes(b'Kennung,Bewertung\nTeilnehmer/in 1,\n')
    with pytest.raises(KeyError, match="--column identifier=HEADER"):
        roster.from_moodle(worksheet=sheet)
    built = roster.from_moodle(worksheet=sheet, columns={"identifier": "Kennung"})
    assert built.entries[0].lms_id == "1"


def test_an_unreadable_time_is_a_warning_not_an_exit(tmp_path, students):
    sheet = moodle_worksheet(students[:2], tmp_path / "w.csv", lang="pl")
    sheet.write_bytes(sheet.read_bytes().replace("niedziela, 9 marca 2025".encode(), "jutro".encode(), 1))
    built = roster.from_moodle(worksheet=sheet)
    assert len(built.entries) == 2 and "cannot read the time" in built.warnings[0]


def test_lms_times_in_english_polish_and_iso():
    warsaw = dt.timezone(dt.timedelta(hours=1))
    want = dt.datetime(2025, 3, 11, 21, 15, tzinfo=warsaw)
    assert roster.parse_lms_time("Tuesday, 11 March 2025, 9:15 PM") == want
    assert roster.parse_lms_time("wtorek, 11 marca 2025, 21:15 PM") == want       # pl: %H:%M %p
    assert roster.parse_lms_time("wtorek, 11 marca 2025, 21:15") == want          # older pl packs: no %p
    assert roster.parse_lms_time("2025-03-11T20:15:00Z") == want
    assert roster.parse_lms_time(userdate((2025, 3, 11, 0, 5, 0), "en")).hour == 0
    assert roster.parse_lms_time(userdate((2025, 3, 11, 12, 5, 0), "pl")).hour == 12
    assert roster.parse_lms_time("-") is None
    with pytest.raises(ValueError, match="cannot read"):
        roster.parse_lms_time("jutro")


@pytest.mark.parametrize("polish,split", [(False, False), (True, False), (False, True)])
def test_canvas_roster_reads_every_export_layout_and_leaves_out_the_test_student(tmp_path, students, polish, split):
    book = canvas_gradebook(students, tmp_path / "g.csv", "Lab (1)", polish=polish, split_names=split)
    times = canvas_timestamps(students, tmp_path / "t.csv")
    built = roster.from_canvas(gradebook=book, timestamps=times)
    by = built.by_lms_id()
    real = [s for s in students if s.on_roster and s.in_lms("canvas") and not s.test_student]
    assert {e.lms_id for e in built.entries if e.status != "left_out"} == {canvas_id(s) for s in real}
    assert by["5001"].student_id == "s100001" and by["5001"].name == "Żółć, Łukasz"
    assert by["5005"].submitted_at == "2025-03-11T08:15:00+00:00"              # the API's UTC, kept exact
    assert by["5099"].status == "left_out" and "Test Student" in built.left_out[0]
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
    log = Extraction.read(extraction_log(out))
    assert log.times[files[0]] == "2025-03-09T18:30:00"                       # as the zip holds it: naive
    plan = plan_handins(extracted=out, assignment_id="lab06", zip_timezone="Europe/Warsaw")
    by_id = {h.lms_id: h for h in plan.handins}
    assert "unreadable_zip" in by_id["2"].flags and by_id["2"].status == "no_notebook"
    assert set(by_id["1"].notebooks) == {"NB.ipynb", "sol.zip/lab06.ipynb"}
    # every refused entry is on its student's row, or on the plan when it has no student
    skipped = {(f.file, f.why) for f in by_id["1"].files if f.action == "skipped"}
    assert ("sol.zip/../escape.txt", "unsafe path (absolute, drive or ..)") in skipped
    assert ("link", "symbolic link") in {(PurePosixPath(f).name, w) for f, w in skipped}
    assert "skipped_entries" in by_id["1"].flags
    assert any("../../evil.txt" in w for w in plan.warnings) and any("/abs.txt" in w for w in plan.warnings)


def _patch_encrypted(data: bytes, name: str) -> bytes:
    """Set the "encrypted" flag of one entry (local and central header)."""
    import struct
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
    struct.pack_into("<H", out, info.header_offset + 6, info.flag_bits | 0x1)
    pos = out.find(b"PK\x01\x02")
    while pos >= 0:
        n = struct.unpack_from("<H", out, pos + 28)[0]
        if bytes(out[pos + 46:pos + 46 + n]) == name.encode():
            struct.pack_into("<H", out, pos + 8, info.flag_bits | 0x1)
        pos = out.find(b"PK\x01\x02", pos + 4)
    return bytes(out)


def test_an_odd_student_zip_is_recorded_entry_by_entry_never_raised(tmp_path):
    """A file and a folder of one name, a duplicate entry, an encrypted entry, a name too long
    for the file system: each is a recorded problem; the rest of the zip is unpacked."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a", b"file first")
        zf.writestr("a/b.ipynb", b"{}")                 # needs a folder "a"
        zf.writestr("dup.txt", b"1")
        zf.writestr("dup.txt", b"2")
        zf.writestr("secret.ipynb", b"{}")
        zf.writestr("ą" * 200 + ".txt", b"x")           # 400 bytes: over NAME_MAX
        zf.writestr("ok/lab06.ipynb", b"{}")
    odd = tmp_path / "odd.zip"
    odd.write_bytes(_patch_encrypted(buf.getvalue(), "secret.ipynb"))
    done = safe_extract(odd, tmp_path / "out")
    why = {p["entry"]: p["why"] for p in done.problems}
    assert set(why) == {"a/b.ipynb", "dup.txt", "secret.ipynb", "ą" * 200 + ".txt"}
    assert "encrypted" in why["secret.ipynb"]
    assert (tmp_path / "out" / "ok" / "lab06.ipynb").read_bytes() == b"{}"
    assert (tmp_path / "out" / "dup.txt").read_bytes() == b"1"
    assert not (tmp_path / "out" / "secret.ipynb").exists()


def test_unpacking_stops_at_the_size_limit(tmp_path):
    bomb = tmp_path / "big.zip"
    bomb.write_bytes(zipped({"a.ipynb": b"0" * 4000, "b.ipynb": b"0" * 4000}))
    done = safe_extract(bomb, tmp_path / "out", max_bytes=5000)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.ipynb"]
    assert "over 5000 bytes" in done.problems[0]["why"]


def test_canvas_names_without_the_utf8_flag_are_read_as_utf8(tmp_path, students):
    download = canvas_download(students, tmp_path / "archive" / "submissions.zip")
    with zipfile.ZipFile(download) as zf:
        assert not any(i.flag_bits & 0x800 for i in zf.infolist())          # as rubyzip writes them
    out = extract(download, tmp_path / "extracted")
    names = {p.name for p in (out / "submissions").iterdir()}
    assert any(n.startswith("żółćłukasz_5001_") for n in names), names


# --------------------------------------------------------------------------- the rules


@pytest.fixture(scope="module")
def moodle_plan(tmp_path_factory, students):
    tmp = tmp_path_factory.mktemp("moodle-plan")
    download = moodle_download(students, tmp / "archive" / "KURS-77.zip")
    (tmp / "archive" / "notatki prowadzącego.txt").write_text("not a student's file", encoding="utf-8")
    out = extract(download, tmp / "extracted")
    known = roster.from_moodle(worksheet=moodle_worksheet([s for s in students if s.on_roster], tmp / "w.csv"),
                               participants=moodle_participants(students, tmp / "p.csv"))
    plan = plan_handins(extracted=out, assignment_id="mini", release=NOTEBOOK, roster=known,
                        zip_timezone="Europe/Warsaw")
    return plan, {h.lms_id: h for h in plan.handins}, out


def test_every_rule_has_its_flag(moodle_plan, students):
    plan, by_id, _ = moodle_plan
    assert plan.lms == "moodle"
    for s in students:
        if not s.in_lms("moodle"):
            continue
        h = by_id[moodle_id(s)]
        assert set(s.expect_flags) <= set(h.flags), (s.key, h.flags)
        assert h.graded_file == s.expect_graded_file, s.key
    assert {h.status for h in plan.handins} == {"collected", "missing", "no_notebook", "draft"}
    assert by_id["2151004"].status == "missing" and by_id["2151009"].status == "no_notebook"


def test_a_macos_zip_is_graded_and_its_junk_kept_apart(moodle_plan):
    """The first real class's crash: the zip kept as ``kept/mini.zip`` and its contents under
    ``kept/mini.zip/...``, a file and a folder of one name. Contents now go under
    ``kept/mini.zip.contents/``; AppleDouble and .DS_Store are kept as system files."""
    plan, by_id, out = moodle_plan
    h = by_id["2151010"]
    assert h.graded_file == "mini.zip/mini/mini.ipynb" and h.status == "collected"
    actions = {f.file: (f.action, f.to, f.why) for f in h.files}
    assert actions["mini.zip"] == ("kept", "kept/mini.zip", "")
    assert actions["mini.zip/__MACOSX/mini/._mini.ipynb"] == ("kept", "kept/mini.zip.contents/__MACOSX/mini/._mini.ipynb",
                                                           "system file")
    assert actions["mini.zip/mini/.DS_Store"][2] == "system file"
    assert actions["mini.zip/mini/dane/wykres.png"][0] == "kept"
    assert "._mini.ipynb" not in " ".join(h.notebooks)


def test_no_kept_path_is_both_a_file_and_a_folder(moodle_plan):
    plan = moodle_plan[0]
    by_student: dict[str, set[str]] = {}
    for info in plan.collect.values():
        by_student.setdefault(info["student_id"], set()).add(info["file_id"])
    for sid, ids in by_student.items():
        folders = {"/".join(PurePosixPath(i).parts[:n]) for i in ids for n in range(1, len(PurePosixPath(i).parts))}
        assert not ids & folders, (sid, ids & folders)


def test_drafts_are_left_unless_the_instructor_opts_in(moodle_plan, tmp_path_factory, students):
    _, by_id, out = moodle_plan
    h = by_id["2151011"]
    assert (h.status, h.flags) == ("draft", ["draft"]) and {f.action for f in h.files} == {"left"}
    assert not any(i["student_id"] == h.student_id for i in moodle_plan[0].collect.values())
    known = roster.from_moodle(worksheet=moodle_worksheet(students, tmp_path_factory.mktemp("w") / "w.csv"))
    opted = plan_handins(extracted=out, assignment_id="mini", release=NOTEBOOK, roster=known,
                         zip_timezone="Europe/Warsaw", grade_drafts=True)
    d = {x.lms_id: x for x in opted.handins}["2151011"]
    assert d.status == "collected" and "draft" in d.flags and d.files[0].action == "graded"


def test_several_notebooks_the_one_with_the_release_cells_is_graded(moodle_plan):
    _, by_id, out = moodle_plan
    h = by_id["2151002"]
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
    assert {h.lms_id for h in plan.handins} == {moodle_id(s) for s in students if s.in_lms("moodle")}
    assert plan.unmatched == ["notatki prowadzącego.txt"]
    assert (by_id["2151007"].student_id, by_id["2151008"].student_id) == ("s100007", "s100007-moodle-2151008")
    assert by_id["2151006"].student_id == "moodle-2151006"
    # every extracted file of a collected student goes somewhere in submitted/: graded or kept/
    told = {Path(p).relative_to(out.resolve()).as_posix(): info for p, info in plan.collect.items()}
    draft = by_id["2151011"].prefix
    owned = [p.relative_to(out).as_posix() for p in out.rglob("*")
             if p.is_file() and "notatki prowadz" not in p.name and draft not in p.as_posix()]
    assert sorted(told) == sorted(owned)
    graded = [i for i in told.values() if i["file_id"] == "mini.ipynb"]
    assert len(graded) == len({i["student_id"] for i in graded}) == 8
    assert all(i["file_id"].startswith("kept/") for i in told.values() if i["file_id"] != "mini.ipynb")
    # and every file of every entry says what happened to it
    for h in plan.handins:
        if h.status != "missing":
            assert h.files and all(f.action in ("graded", "kept", "left", "skipped") for f in h.files), h.lms_id


def test_moodle_times_from_the_worksheet_else_the_upload_time_in_the_zip(moodle_plan):
    """Moodle stamps each zip entry with the file's upload time in the server's zone
    (zip_writer::add_file_from_stored_file): the fallback is the upload, not the download."""
    _, by_id, _ = moodle_plan
    assert by_id["2151005"].timestamp == "2025-03-11T09:15:00+01:00"
    assert "time_from_zip" not in by_id["2151005"].flags
    stranger = by_id["2151006"]                                                # not in the older worksheet
    assert stranger.timestamp == "2025-03-09T18:30:00+01:00" and "time_from_zip" in stranger.flags
    assert "upload time" in stranger.timestamp_source


def test_a_moodle_server_in_another_zone_is_read_in_its_zone(tmp_path, students):
    download = moodle_download(students[5:6], tmp_path / "archive" / "K.zip", server_zone="UTC")
    out = extract(download, tmp_path / "extracted")
    h = plan_handins(extracted=out, assignment_id="mini", zip_timezone="UTC").handins[0]
    assert dt.datetime.fromisoformat(h.timestamp) == dt.datetime(*ON_TIME, tzinfo=WARSAW)


def test_canvas_late_marker_build_time_and_a_stale_download(tmp_path, students):
    download = canvas_download(students, tmp_path / "archive" / "submissions.zip")
    out = extract(download, tmp_path / "extracted")
    known = roster.from_canvas(gradebook=canvas_gradebook(students, tmp_path / "g.csv", "Mini (1)"))
    plan = plan_handins(extracted=out, assignment_id="mini", release=NOTEBOOK, roster=known, zip_timezone="UTC")
    by_id = {h.lms_id: h for h in plan.handins}
    late = by_id["5005"]
    assert "lms_late" in late.flags and "time_from_zip" in late.flags       # no timestamps file given
    assert dt.datetime.fromisoformat(late.timestamp) == dt.datetime(2025, 3, 12, 7, 0, tzinfo=dt.timezone.utc)
    assert late.prefix == "wiśniewskipiotr_LATE_5005"
    assert by_id["5001"].timestamp == "" and by_id["5001"].timestamp_source.startswith("none")
    assert by_id["5003"].graded_file == "rozwiązanie.zip/lab/mini.ipynb" and "from_zip" in by_id["5003"].flags
    assert any("Canvas built this download at 2025-03-12T07:00" in w for w in plan.warnings)
    test = by_id["5099"]
    assert (test.status, test.flags) == ("left_out", ["not_a_student"])
    assert not any(i["student_id"] == "canvas-5099" for i in plan.collect.values())
    # A cached zip: Canvas served one built before a resubmission (lib/api/v1/submission.rb).
    times = tmp_path / "t.csv"
    times.write_text("ID,submitted_at\n5001,2025-03-12T07:30:00Z\n", encoding="utf-8")
    known = roster.from_canvas(gradebook=tmp_path / "g.csv", timestamps=times)
    stale = {h.lms_id: h for h in plan_handins(extracted=out, assignment_id="mini", release=NOTEBOOK,
                                               roster=known, zip_timezone="UTC").handins}
    assert "stale_download" in stale["5001"].flags and "stale_download" not in stale["5002"].flags


def test_manifest_round_trip(tmp_path, moodle_plan):
    plan = moodle_plan[0]
    json_path, csv_path = write_manifest(plan, tmp_path)
    data = load_manifest(tmp_path, "mini")
    assert [h["lms_id"] for h in data["handins"]] == [h.lms_id for h in plan.handins]
    assert "collect" not in data and "unmatched" in csv_path.read_text(encoding="utf-8")
    mac = next(h for h in data["handins"] if h["lms_id"] == "2151010")
    assert {f["action"] for f in mac["files"]} == {"graded", "kept"}


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
    assert "wersję roboczą" in lms_export.comment(grade("draft"), assignment=mini, lms_max=10)
    for text in (en, pl):
        assert not any(h in text for h in HIDDEN) and "\n" not in text


def _course(tmp_path: Path) -> Path:
    (tmp_path / "source").symlink_to(MINIMAL / "source")
    (tmp_path / "grader_tests").symlink_to(MINIMAL / "grader_tests")
    return tmp_path


def test_worksheet_rows_moodle_locks_the_gradebook_lacks_or_graded_by_hand_stay_as_they_were(tmp_path, mini, monkeypatch):
    sheet = tmp_path / "w.csv"
    sheet.write_bytes(b'Identifier,"Full name",Grade,"Maximum Grade","Grade can be changed",'
                      b'"Last modified (grade)","Feedback comments"\n'
                      b'"Participant 1",A,,10.00,Yes,-,\n'
                      b'"Participant 2",B,4.00,10.00,No,-,old\n'
                      b'"Participant 3",C,,10.00,Yes,-,\n'
                      b'"Participant 4",D,6.00,10.00,Yes,-,\n')
    grades = [grade(lms_id="1"), grade(lms_id="2", student_id="s2"),
              grade("not_graded", lms_id="3", student_id="s3"), grade("missing", lms_id="4", student_id="s4")]
    monkeypatch.setattr(lms_export, "class_grades", lambda **kw: grades)
    result = moodle_export.export_moodle(course=_course(tmp_path), assignment_id="mini", worksheet=sheet)
    rows = lms_csv.load(tmp_path / "reports" / "mini_moodle_worksheet.csv").records()
    assert [r["Grade"] for r in rows] == ["7.50", "4.00", "", "6.00"]   # a grade given by hand stays
    assert rows[1]["Feedback comments"] == "old"
    assert len(result.untouched) == 3 and "cannot be changed" in result.untouched[0]
    assert "autograde" in result.untouched[1] and "already has" in result.untouched[2]


@needs_php
@pytest.mark.parametrize("lang", ["pl", "en"])
def test_regraded_worksheet_passes_moodles_upload_check(tmp_path, mini, monkeypatch, students, lang):
    """After a first upload, the teacher downloads the worksheet again (its "Last modified
    (grade)" is the upload's minute in the teacher's language) and exports a regrade. Without
    "Allow updating records that have been modified more recently", Moodle must take every row."""
    people = [s for s in students if s.in_lms("moodle")][:5]
    sheet = moodle_worksheet(people, tmp_path / "again.csv", lang=lang, graded={s.key: 8.0 for s in people})
    header = "Ostatnia aktualizacja (ocena)" if lang == "pl" else "Last modified (grade)"
    uploaded = int(dt.datetime(*GRADES_UPLOADED, tzinfo=WARSAW).timestamp())   # 10:02:37, shown as 10:02
    times = {moodle_id(s): uploaded for s in people}
    as_downloaded = php_check(sheet, times, header=header).values()
    if lang == "pl":
        assert not any(as_downloaded)        # strtotime() reads no Polish date: every graded row refused
    else:
        assert all(as_downloaded)            # English is read, in the server's zone (here the teacher's too)
    grades = [grade(lms_id=moodle_id(s), student_id=s.key, name=s.full_name) for s in people]
    monkeypatch.setattr(lms_export, "class_grades", lambda **kw: grades)
    moodle_export.export_moodle(course=_course(tmp_path), assignment_id="mini", worksheet=sheet)
    out = tmp_path / "reports" / "mini_moodle_worksheet.csv"
    later = {pid: t + 120 for pid, t in times.items()}
    for server in ("Europe/Warsaw", "UTC", "America/New_York"):   # the instant, whatever the server's zone
        assert all(php_check(out, times, header=header, server_zone=server).values()), server
        # and the check keeps its meaning: a grade changed in Moodle after the download is still refused
        assert not any(php_check(out, later, header=header, server_zone=server).values()), server
    rows = lms_csv.load(out).records()
    assert rows[0][header] == "2025-03-12T10:02:00+01:00"
    grade_header = "Ocena" if lang == "pl" else "Grade"
    assert rows[0][grade_header] == ("7,50" if lang == "pl" else "7.50")


def test_polish_worksheet_written_back_changes_only_grade_comment_and_grade_time(tmp_path, mini, monkeypatch, students):
    people = [s for s in students if s.in_lms("moodle")]
    sheet = moodle_worksheet(people, tmp_path / "Oceny.csv", lang="pl")
    monkeypatch.setattr(lms_export, "class_grades",
                        lambda **kw: [grade(lms_id=moodle_id(s), student_id=s.key) for s in people])
    result = moodle_export.export_moodle(course=_course(tmp_path), assignment_id="mini", worksheet=sheet)
    assert result.language == "pl" and not any("NO COMMENTS" in w for w in result.warnings)
    before, after = lms_csv.load(sheet), lms_csv.load(tmp_path / "reports" / "mini_moodle_worksheet.csv")
    changed = {before.column("Ocena"), before.column("Komentarz zwrotny"),
               before.column("Ostatnia aktualizacja (ocena)")}
    for old, new in zip(before.rows, after.rows, strict=True):
        assert [f.raw for i, f in enumerate(old.fields) if i not in changed] == \
               [f.raw for i, f in enumerate(new.fields) if i not in changed]
        assert new.end == "\n"
    assert after.records()[0]["Komentarz zwrotny"].startswith("mini: mean 2/2")


@pytest.mark.parametrize("polish,split", [(False, False), (True, False), (False, True)])
def test_canvas_import_keeps_the_exports_separator_and_numbers_and_leaves_out_the_test_student(
        tmp_path, mini, monkeypatch, students, polish, split):
    book = canvas_gradebook(students, tmp_path / "g.csv", "Mini (4242)", polish=polish, split_names=split)
    grades = [grade(lms_id=canvas_id(s), student_id=s.key, name=s.sortable) for s in students
              if s.in_lms("canvas") and s.on_roster and not s.test_student]
    grades.append(grade("left_out", lms_id="5099", student_id="canvas-5099", name="Student, Test"))
    monkeypatch.setattr(lms_export, "class_grades", lambda **kw: grades)
    result = canvas_export.export_canvas(course=_course(tmp_path), assignment_id="mini", gradebook_csv=book,
                                      column="4242")
    raw = (tmp_path / "reports" / "mini_canvas_grades.csv").read_bytes()
    table = lms_csv.loads(raw)
    assert table.delimiter == (";" if polish else ",") and b"\r\n" not in raw
    rows = table.records()
    assert rows[0]["Student"] == "Points Possible" and rows[0]["Mini (4242)"] == ("10,00" if polish else "10.00")
    by_id = {r["ID"]: r for r in rows[1:]}
    assert "5099" not in by_id and any("Test Student" in x for x in result.left_out)
    assert by_id["5001"]["Student"] == "Żółć, Łukasz" and by_id["5001"]["SIS User ID"] == "s100001"
    assert by_id["5001"]["Mini (4242)"] == ("7,50" if polish else "7.50")


def test_rescale():
    assert lms_export.rescale(1.5, kit_max=2, lms_max=10) == 7.5
    assert lms_export.rescale(2 / 3, kit_max=2, lms_max=100) == 33.33
