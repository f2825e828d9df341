"""The TA report: sections, flags, changed scores, escaping, CSVs, no network, and a real browser."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from labkit.core import assignment as assignments
from labkit.insight.report import TEMPLATES, build_report
from labkit.core.results import CheckResult, PartResult, SubmissionResult
from labkit.core.settings import REPO_ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "report"
ASSIGNMENT = "lab06"
LAB06 = assignments.load(ASSIGNMENT, REPO_ROOT)
PART_POINTS, PARTS = LAB06.points, LAB06.part_ids
CONCLUSIONS = LAB06.manual[0]
MALICIOUS = "<script>alert(1)</script>"


# --------------------------------------------------------------------------- helpers


class Dom(HTMLParser):
    """Every start tag with its attributes and its ancestors (enough for the checks below)."""

    VOID = {"img", "meta", "br", "link", "input", "hr", "wbr", "source"}

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict, list[tuple[str, dict]]]] = []
        self.stack: list[tuple[str, dict]] = []
        self.scripts = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v or "") for k, v in attrs}
        self.elements.append((tag, attrs, list(self.stack)))
        if tag == "script":
            self.scripts += 1
        if tag not in self.VOID:
            self.stack.append((tag, attrs))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def find(self, tag: str, *, inside: tuple[str, str, str] | None = None, **attrs) -> list[dict]:
        """Elements ``tag`` whose attributes contain ``attrs`` (class: one of its classes)."""
        out = []
        for t, a, ancestors in self.elements:
            if t != tag or not _match(a, attrs):
                continue
            if inside is not None:
                atag, key, value = inside
                if not any(at == atag and _match(aa, {key: value}) for at, aa in ancestors):
                    continue
            out.append(a)
        return out


def _match(attrs: dict, want: dict) -> bool:
    for key, value in want.items():
        key = key.rstrip("_").replace("_", "-")
        if key == "class":
            if value not in attrs.get("class", "").split():
                return False
        elif attrs.get(key) != value:
            return False
    return True


def _load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def _put(course: Path, student: str, data: dict) -> None:
    path = course / "reports" / "results" / ASSIGNMENT / f"{student}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _flagged_submission() -> dict:
    """The reference submission, but with every kind of trouble and hostile strings."""
    data = _load("ala_reference")
    data["flags"] = ["call_timeout", "cell_crash", "sandbox_fallback", "tamper"]
    data["tamper"] = ["torch.optim.Adam.step", "<img src=x onerror=alert(2)>"]
    check = data["parts"]["loss"]["checks"][0]
    check.update(status="failed", credit=0.0, message=f"oczekiwano 0.5, otrzymano {MALICIOUS}")
    data["artifacts"]["best_config"]["activation"] = "</code><script>alert(3)</script>"
    data["artifacts"]["results"][6]["config"]["activation"] = "$\\frac{1}{0$ <b>x</b>"
    data["grader_log"] = "Traceback: <iframe src='https://evil.example/'></iframe>"
    data["diagnoses"] = [{"part": "loss", "mistake": "sum_instead_of_mean", "message": f"suma {MALICIOUS}",
                          "explains": []}]
    return data


def _report(course: Path, **kwargs) -> Path:
    return build_report(course=course, assignment=ASSIGNMENT, **kwargs)


def _make_course(root: Path) -> Path:
    """A course directory with the fixture results and one flagged, hostile submission; lab06's
    description, report blocks and notebook are the repository's own (linked, not copied)."""
    for folder in ("grader_tests", "source"):
        (root / folder).mkdir()
        (root / folder / ASSIGNMENT).symlink_to(REPO_ROOT / folder / ASSIGNMENT, target_is_directory=True)
    for path in FIXTURES.glob("*.json"):
        _put(root, path.stem, json.loads(path.read_text(encoding="utf-8")))
    _put(root, "eve_flagged", _flagged_submission())
    return root


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """The fixture course, for a test that changes it or its results."""
    return _make_course(tmp_path)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """(course, report): the fixture course's report built once, for the tests that only read
    it (a build draws every student's figures: about 4 CPU s)."""
    root = _make_course(tmp_path_factory.mktemp("report-course"))
    return root, _report(root)


STUDENTS = ["ala_reference", "bartek_untouched", "darek_no_zero_grad", "eve_flagged"]


def _parts_csv(course: Path) -> dict[str, dict[str, str]]:
    with open(course / "reports" / f"{ASSIGNMENT}_parts.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["assignment", "student_id", *PARTS, "manual", "total"]
        rows = list(reader)
    assert {row["assignment"] for row in rows} <= {ASSIGNMENT}
    return {row["student_id"]: row for row in rows}


# --------------------------------------------------------------------------- unit tests


def test_report_has_overview_table_and_a_section_per_student(built):
    course, out = built
    assert out == course / "reports" / f"{ASSIGNMENT}_report.html"
    dom = Dom(out.read_text(encoding="utf-8"))
    assert dom.find("section", id="overview")
    assert dom.find("img", inside=("figure", "class", "histogram"))
    assert dom.find("img", inside=("figure", "class", "part-averages"))
    rows = dom.find("tr", inside=("table", "id", "scores"))
    assert [r["data-student"] for r in rows if "data-student" in r] == STUDENTS
    sections = dom.find("section", class_="student")
    assert [s["data-student"] for s in sections] == STUDENTS
    # the reference submission gets all three charts
    for css in ("boundary", "losses", "results-chart"):
        assert dom.find("img", inside=("figure", "class", css))
    assert len(dom.find("img", inside=("section", "id", "student-ala_reference"))) == 3
    # hostile config strings (mathtext, HTML) do not break the flagged student's charts
    assert len(dom.find("img", inside=("section", "id", "student-eve_flagged"))) == 3
    assert "could not be drawn" not in out.read_text(encoding="utf-8")


def test_students_without_artifacts_still_get_a_section(built):
    _, report = built
    text = report.read_text(encoding="utf-8")
    dom = Dom(text)
    # untouched release: no artifacts at all, but its failed checks and messages are there
    assert not dom.find("img", inside=("section", "id", "student-bartek_untouched"))
    assert dom.find("code", inside=("section", "id", "student-bartek_untouched"), class_="check-name")
    section = text[text.index('id="student-bartek_untouched"'):text.index('id="student-darek_no_zero_grad"')]
    assert "test_make_rings_is_defined" in section
    assert "test_best_config_reaches_high_heldout_accuracy" in section
    assert "Nie zdefiniowano BEST_CONFIG." in section
    assert "Not available: decision boundary, loss curve, RESULTS." in section
    # partial artifacts: best_config and accuracies but no boundary, losses or RESULTS
    section = text[text.index('id="student-darek_no_zero_grad"'):text.index('id="student-eve_flagged"')]
    assert "BEST_CONFIG" in section and "0.9897" in section
    assert "RESULTS: oczekiwano niepustej listy wierszy, otrzymano list o długości 0." in section


def test_flags_are_shown_in_table_flag_section_and_student_section(built):
    _, report = built
    dom = Dom(report.read_text(encoding="utf-8"))
    for flag, kind in [("call_timeout", "timeout"), ("cell_crash", "crash"),
                       ("sandbox_fallback", "sandbox"), ("tamper", "tamper")]:
        for where in (("table", "id", "scores"), ("table", "id", "flag-table"),
                      ("section", "id", "student-eve_flagged")):
            assert dom.find("span", inside=where, class_=f"flag-{kind}"), (flag, where)
    flagged = [r.get("data-student") for r in dom.find("tr", inside=("table", "id", "flag-table"))]
    assert "eve_flagged" in flagged and "ala_reference" not in flagged
    assert dom.find("tr", inside=("table", "id", "scores"), data_student="eve_flagged", class_="flagged")


def test_changed_scores_are_flagged_on_the_next_run_with_old_and_new(course):
    first = _report(course).read_text(encoding="utf-8")
    assert "No previous run to compare scores with" in first
    assert not Dom(first).find("span", class_="flag-changed")
    snapshot = json.loads((course / "reports" / f"{ASSIGNMENT}_scores.json").read_text())
    assert snapshot["scores"]["darek_no_zero_grad"]["training"] == pytest.approx(0.5714)

    again = _report(course).read_text(encoding="utf-8")
    assert not Dom(again).find("span", class_="flag-changed")    # nothing changed in between

    darek = _load("darek_no_zero_grad")
    for check in darek["parts"]["training"]["checks"]:
        check.update(status="passed", credit=1.0, message="")
    _put(course, "darek_no_zero_grad", darek)
    text = _report(course).read_text(encoding="utf-8")
    dom = Dom(text)
    changed = {s for s in STUDENTS if dom.find("span", inside=("tr", "data-student", s), class_="flag-changed")}
    assert changed == {"darek_no_zero_grad"}
    assert dom.find("span", inside=("section", "id", "student-darek_no_zero_grad"), class_="flag-changed")
    assert "training: 0.57 → 4.00" in text
    assert "total: 14.75 → 18.18" in text


def test_student_text_is_escaped(built):
    _, report = built
    text = report.read_text(encoding="utf-8")
    assert MALICIOUS not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(2)&gt;" in text
    assert "<script>alert(3)" not in text
    assert "<iframe" not in text
    assert Dom(text).scripts == 1                 # only the report's own sort script


def test_no_external_resources(built):
    _, report = built
    text = report.read_text(encoding="utf-8")
    dom = Dom(text)
    refs = [(t, k, v) for t, a, _ in dom.elements for k, v in a.items() if k in ("src", "href", "action")]
    assert refs
    for tag, key, value in refs:
        assert value.startswith(("data:image/png;base64,", "#")), (tag, key, value[:80])
        assert "http://" not in value and "https://" not in value
    assert not dom.find("link") and not dom.find("iframe")
    assert "@import" not in text and "url(" not in text
    csp = dom.find("meta", http_equiv="Content-Security-Policy")
    assert csp and "default-src 'none'" in csp[0]["content"]


def test_parts_csv_from_results(built):
    course, _ = built
    rows = _parts_csv(course)
    assert list(rows) == STUDENTS
    assert rows["ala_reference"]["total"] == "20.0"
    assert all(float(rows["ala_reference"][p]) == PART_POINTS[p] for p in PARTS)
    assert float(rows["darek_no_zero_grad"]["training"]) == pytest.approx(0.5714)
    assert float(rows["darek_no_zero_grad"]["experiments"]) == pytest.approx(3.1818)
    assert float(rows["darek_no_zero_grad"]["total"]) == pytest.approx(14.7532)
    assert rows["bartek_untouched"]["total"] == "0.0"
    assert rows["ala_reference"]["manual"] == ""           # no gradebook: no manual grade yet
    assert float(rows["eve_flagged"]["loss"]) < PART_POINTS["loss"]


def test_custom_output_path_and_broken_inputs(course, tmp_path):
    (course / "reports" / "results" / ASSIGNMENT / "zed_truncated.json").write_text('{"notebook": ')
    weird = _load("ala_reference")
    weird["artifacts"]["boundary"] = [0.5] * 10                   # not a square grid
    weird["artifacts"]["results"] = [{"factor": "lr", "test_accuracy": "high"}, "row"]
    weird["artifacts"]["best_losses"] = ["nan?"]
    _put(course, "yola_weird", weird)
    out = _report(course, out=tmp_path / "elsewhere" / "r.html")
    assert out == tmp_path / "elsewhere" / "r.html" and out.is_file()
    text = out.read_text(encoding="utf-8")
    dom = Dom(text)
    assert dom.find("section", id="student-zed_truncated")
    assert dom.find("span", inside=("section", "id", "student-zed_truncated"), class_="flag-crash")
    assert dom.find("section", id="student-yola_weird")
    assert text.count("could not be drawn") == 3
    assert (course / "reports" / f"{ASSIGNMENT}_parts.csv").is_file()


# --------------------------------------------------------------------------- gradebook + exporter


@pytest.fixture
def venv_path(monkeypatch):
    """nbgrader creates a new gradebook by running ``alembic``, which lives next to this python."""
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))


def _gradebook(course: Path, students: list[str], manual: dict[str, float | None]):
    from nbgrader.api import Gradebook
    gb = Gradebook(f"sqlite:///{course / 'gradebook.db'}")
    gb.add_assignment(ASSIGNMENT)
    gb.add_notebook(ASSIGNMENT, ASSIGNMENT)
    for part in PARTS:
        gb.add_grade_cell(f"{part}_tests", ASSIGNMENT, ASSIGNMENT, max_score=PART_POINTS[part], cell_type="code")
    gb.add_grade_cell(CONCLUSIONS.cell, ASSIGNMENT, ASSIGNMENT, max_score=CONCLUSIONS.points, cell_type="markdown")
    for student in students:
        gb.add_student(student)
        gb.add_submission(ASSIGNMENT, student)
        result = _load(student) if (FIXTURES / f"{student}.json").is_file() else None
        for part in PARTS:
            grade = gb.find_grade(f"{part}_tests", ASSIGNMENT, ASSIGNMENT, student)
            if result is not None:
                checks = result["parts"][part]["checks"]
                frac = sum(c["weight"] * c["credit"] for c in checks) / sum(c["weight"] for c in checks)
                grade.auto_score = round(PART_POINTS[part] * frac, 4)
            else:
                grade.auto_score = 1.0
        grade = gb.find_grade(CONCLUSIONS.cell, ASSIGNMENT, ASSIGNMENT, student)
        grade.manual_score = manual.get(student)
        grade.needs_manual_grade = manual.get(student) is None
    gb.add_student("no_show")                                    # never submitted
    gb.db.commit()
    return gb


@pytest.mark.filterwarnings("ignore:Object of type")   # nbgrader's own SQLAlchemy autoflush noise
def test_gradebook_scores_include_the_manual_grade(course, venv_path):
    gb = _gradebook(course, ["ala_reference", "darek_no_zero_grad", "fred_gradebook_only"],
                    {"ala_reference": 2.5})
    gb.close()
    dom = Dom(_report(course).read_text(encoding="utf-8"))
    rows = _parts_csv(course)
    assert rows["ala_reference"]["manual"] == "2.5"
    assert rows["ala_reference"]["total"] == "22.5"
    assert rows["darek_no_zero_grad"]["manual"] == ""             # still waiting for a TA
    assert float(rows["darek_no_zero_grad"]["total"]) == pytest.approx(14.7532)
    assert rows["fred_gradebook_only"]["total"] == "6.0"
    assert rows["bartek_untouched"]["manual"] == ""               # result JSON only
    assert "no_show" not in rows
    section = dom.find("section", id="student-fred_gradebook_only")
    assert section and dom.find("span", inside=("section", "id", "student-fred_gradebook_only"),
                                class_="flag-crash")


@pytest.mark.filterwarnings("ignore:Object of type")
def test_report_exporter_keeps_grades_csv_and_adds_parts_csv(course, tmp_path, venv_path):
    from nbgrader.plugins import CsvExportPlugin

    from labkit.nbgrader_ext.exporter import ReportExporter
    gb = _gradebook(course, ["ala_reference", "darek_no_zero_grad"], {"ala_reference": 3.0})
    try:
        CsvExportPlugin(to=str(tmp_path / "stock.csv")).export(gb)
        exporter = ReportExporter(to=str(tmp_path / "grades.csv"), course_root=str(course))
        exporter.export(gb)
    finally:
        gb.close()
    assert (tmp_path / "grades.csv").read_text() == (tmp_path / "stock.csv").read_text()
    with open(tmp_path / "grades_parts.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"ala_reference", "darek_no_zero_grad", "no_show"}
    assert rows["ala_reference"]["assignment"] == ASSIGNMENT
    assert rows["ala_reference"]["manual"] == "3.0" and rows["ala_reference"]["total"] == "23.0"
    assert float(rows["darek_no_zero_grad"]["training"]) == pytest.approx(0.5714)
    assert rows["no_show"]["total"] == "0.0"
    report = course / "reports" / f"{ASSIGNMENT}_report.html"
    assert report.is_file() and "student-eve_flagged" in report.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- real browser


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)   # a hang guard; a 4x slower host renders in minutes, not hours


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(built, tmp_path):
    _, report = built
    url = report.resolve().as_uri()

    proc = _chromium("--dump-dom", url, profile=tmp_path / "profile-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = Dom(proc.stdout)
    assert dom.find("table", id="scores", data_sortable="ready"), "the sort script did not run"
    assert dom.find("img", inside=("figure", "class", "histogram"))
    rows = [r for r in dom.find("tr", inside=("table", "id", "scores")) if r.get("data-student")]
    assert [r["data-student"] for r in rows] == STUDENTS
    assert [s["data-student"] for s in dom.find("section", class_="student")] == STUDENTS
    assert dom.find("table", id="flag-table")
    assert dom.find("table", id="item-table", data_sortable="ready")
    assert dom.find("img", inside=("figure", "class", "items"))
    for kind in ("timeout", "crash", "sandbox", "tamper"):
        assert dom.find("span", inside=("table", "id", "scores"), class_=f"flag-{kind}")
    assert dom.scripts == 1

    png = tmp_path / "report.png"
    proc = _chromium(f"--screenshot={png}", "--window-size=1400,3000", url, profile=tmp_path / "profile-shot")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.is_file() and png.stat().st_size > 50_000
    import matplotlib.image
    import numpy as np
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (3000, 1400)
    rgb = np.round(pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    # Colours packed into one integer each: np.unique(rgb, axis=0) sorts rows, 14 CPU s here.
    colours = np.unique(rgb.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.uint32))
    assert len(colours) > 200, "the screenshot is (nearly) a single colour"
    assert float(rgb.std()) > 10


def test_item_section_table_figure_and_csv_agree_with_the_class(built):
    """Four submissions: the untouched one fails every check, darek 5 of 6 training checks,
    eve (the reference with one forged loss failure) one loss check."""
    course, report = built
    dom = Dom(report.read_text(encoding="utf-8"))
    assert dom.find("a", href="#items") and dom.find("section", id="items")
    assert dom.find("img", inside=("figure", "class", "items"))
    rows = dom.find("tr", inside=("table", "id", "item-table"))
    parts = [r["data-part"] for r in rows if "item-part" in r.get("class", "").split()]
    assert parts == list(PARTS)
    checks = {(r["data-part"], r["data-check"]) for r in rows if "item-check" in r.get("class", "").split()}
    loss_checks = [c["name"] for c in _load("ala_reference")["parts"]["loss"]["checks"]]
    assert {("loss", name) for name in loss_checks} <= checks
    with open(course / "reports" / f"{ASSIGNMENT}_items.csv", newline="", encoding="utf-8") as f:
        items = {(r["part"], r["check"]): r for r in csv.DictReader(f)}
    assert set(items) == checks | {(p, "") for p in PARTS}
    assert items["training", "test_train_lands_on_reference_parameters"]["failed"] == "2"
    assert items["loss", loss_checks[0]]["failed"] == "2"            # bartek and eve
    assert items["loss", loss_checks[1]]["failed"] == "1"            # bartek alone
    assert all(r["students"] == "4" for r in items.values())
    # The class's diagnoses: one student, counted and named; the student's own section says it too.
    assert [r["data-mistake"] for r in dom.find("tr", inside=("table", "id", "diagnosis-table"))
            if r.get("data-mistake")] == ["sum_instead_of_mean"]
    assert dom.find("span", class_="diagnosis", data_mistake="sum_instead_of_mean",
                    inside=("section", "id", "student-eve_flagged"))


def test_overview_shows_the_measured_machine_speed_of_the_run(course):
    """Budgets are CPU seconds times the run's CPU factor: the TA sees both factors, and a
    wall factor far above the CPU factor (a busy or CPU-limited host) is told apart."""
    for student, (cpu, wall) in {"ala_reference": (1.0, 1.02), "eve_flagged": (1.18, 4.4)}.items():
        path = course / "reports" / "results" / ASSIGNMENT / f"{student}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["machine"] = {"cpu_factor": cpu, "wall_factor": wall, "budget_scale": max(cpu, 1.0), "measured": True}
        data["flags"] = sorted(set(data["flags"]) | ({"slow_host"} if wall > 3 else set()))
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    html = _report(course).read_text(encoding="utf-8")
    dom = Dom(html)
    assert dom.find("p", class_="machine")
    assert '<span class="cpu-factor">1.00–1.18</span>' in html
    assert '<span class="wall-factor">1.02–4.40</span>' in html
    assert "3 result(s) graded without a measurement" not in html
    assert "slow or busy" in html     # the slow_host flag explains itself


def test_results_without_a_machine_measurement_say_so(built):
    _, report = built
    html = report.read_text(encoding="utf-8")
    assert "Machine speed: not recorded." in html


# --------------------------------------------------------------------------- any assignment


MINI_NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "stats-tests", "outputs": [],
               "source": "# hidden checks run here",
               "metadata": {"nbgrader": {"grade": True, "solution": False, "locked": True, "task": False,
                                         "grade_id": "stats_tests", "points": 2, "schema_version": 3}}}],
    "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
}


def _mini_course(root: Path, description: str = '[assignment]\nlanguage = "en"\nchecks = "."\n') -> Path:
    """A course with one tiny assignment (one part, no manual cell, no report blocks) and one
    graded student whose artifacts happen to carry lab06-like keys."""
    (root / "source" / "mini").mkdir(parents=True)
    (root / "source" / "mini" / "mini.ipynb").write_text(json.dumps(MINI_NOTEBOOK), encoding="utf-8")
    (root / "grader_tests" / "mini").mkdir(parents=True)
    for package in ("grader_tests", "grader_tests/mini"):
        (root / package / "__init__.py").touch()
    (root / "grader_tests" / "mini" / "assignment.toml").write_text(description, encoding="utf-8")
    checks = [CheckResult("stats", "test_mean", 1.0, 1.0, "passed"),
              CheckResult("stats", "test_median", 1.0, 0.0, "failed", f"expected 2, got {MALICIOUS}")]
    result = SubmissionResult(notebook="mini.ipynb", assignment="mini",
                              parts={"stats": PartResult("stats", 2.0, checks)},
                              artifacts={"boundary": [0.5] * 4, "results": [{"factor": "lr", "test_accuracy": 1.0}],
                                         "best_config": {"lr": 0.1}})
    path = root / "reports" / "results" / "mini" / "zoe.json"
    path.parent.mkdir(parents=True)
    path.write_text(result.to_json(), encoding="utf-8")
    return root


def test_an_assignment_without_report_blocks_gets_the_engine_report(tmp_path):
    course = _mini_course(tmp_path)
    mini = assignments.load("mini", course)
    assert mini.report_template is None and mini.report_sections is None and not mini.manual
    out = build_report(course=course, assignment="mini")
    assert out == course / "reports" / "mini_report.html"
    text = out.read_text(encoding="utf-8")
    dom = Dom(text)
    for section in ("overview", "students", "flags", "student-zoe"):
        assert dom.find("section", id=section), section
    assert dom.find("img", inside=("figure", "class", "histogram"))
    assert [r["data-student"] for r in dom.find("tr", inside=("table", "id", "scores")) if "data-student" in r] == ["zoe"]
    assert dom.find("code", inside=("section", "id", "student-zoe"), class_="check-name")
    assert "test_median" in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text and MALICIOUS not in text
    assert "zoe — 1.00 / 2" in text and "stats 1.00/2" in text
    # nothing of lab06: no figures per student, no BEST_CONFIG or RESULTS wording
    assert not dom.find("img", inside=("section", "id", "student-zoe"))
    for css in ("boundary", "losses", "results-chart"):
        assert not dom.find("figure", class_=css)
    for word in ("BEST_CONFIG", "RESULTS", "Not available", "could not be drawn", "report sections"):
        assert word not in text, word
    assert Dom(text).scripts == 1
    with open(course / "reports" / "mini_parts.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows == [["assignment", "student_id", "stats", "manual", "total"], ["mini", "zoe", "1.0", "", "1.0"]]
    snapshot = json.loads((course / "reports" / "mini_scores.json").read_text(encoding="utf-8"))
    assert snapshot["assignment"] == "mini" and snapshot["scores"]["zoe"]["total"] == 1.0


def test_an_assignment_can_extend_the_report_and_its_failures_do_not_sink_it(tmp_path):
    course = _mini_course(tmp_path, '[assignment]\nlanguage = "en"\nchecks = "."\n'
                                    'report_template = "page.html.j2"\nreport_sections = "sections.py"\n')
    folder = course / "grader_tests" / "mini"
    (folder / "sections.py").write_text(
        "def student_context(result, helpers):\n"
        "    return {'note': result.artifacts['best_config'], 'fig': helpers.figure('bad', lambda: 1 / 0)}\n"
        "def overview_context(entries, helpers):\n"
        "    return {'count': len(entries)}\n", encoding="utf-8")
    (folder / "page.html.j2").write_text(
        '{% extends "report.html.j2" %}{% import "macros.html.j2" as m %}'
        '{% block overview_extra %}<p class="mini-overview">{{ overview.extra.count }} graded</p>{% endblock %}'
        '{% block student_extra %}<p class="mini-note">{{ extra.note }} {{ s.student }}</p>'
        '{{ m.figure(extra.fig) }}{% endblock %}', encoding="utf-8")
    dom = Dom(build_report(course=course, assignment="mini").read_text(encoding="utf-8"))
    assert dom.find("p", inside=("section", "id", "overview"), class_="mini-overview")
    assert dom.find("p", inside=("section", "id", "student-zoe"), class_="mini-note")
    text = (course / "reports" / "mini_report.html").read_text(encoding="utf-8")
    assert "{&#39;lr&#39;: 0.1} zoe" in text
    assert "bad: could not be drawn (ZeroDivisionError" in text

    # a failing student_context is a note in that student's section, not a lost report
    (folder / "sections.py").write_text("def student_context(result, helpers):\n    raise KeyError('x')\n")
    text = build_report(course=course, assignment="mini").read_text(encoding="utf-8")
    assert "report sections failed here: KeyError" in text and Dom(text).find("section", id="student-zoe")
    # a misspelt hook is named on the page, never silently skipped
    (folder / "sections.py").write_text("def studnet_context(result, helpers):\n    return {}\n"
                                        "def overview_context(entries, helpers):\n    return {}\n")
    text = build_report(course=course, assignment="mini").read_text(encoding="utf-8")
    assert "unknown report hook(s) studnet_context" in text
    # a broken template falls back to the engine's page, with a notice
    (folder / "page.html.j2").write_text('{% extends "report.html.j2" %}{% block student_extra %}{{ 1 / 0 }}'
                                          '{% endblock %}', encoding="utf-8")
    (folder / "sections.py").write_text("raise ImportError('broken')\n")
    text = build_report(course=course, assignment="mini").read_text(encoding="utf-8")
    dom = Dom(text)
    assert dom.find("section", id="student-zoe") and len(dom.find("p", class_="notice")) == 2
    assert "report sections could not be loaded: ImportError: broken" in text
    assert "report template failed (ZeroDivisionError" in text


def test_the_engine_report_knows_no_assignment():
    engine = [Path(__file__).parent.parent / "labkit" / "insight" / "report.py", *sorted(TEMPLATES.iterdir())]
    for path in engine:
        text = path.read_text(encoding="utf-8")
        for word in ("lab06", "BEST_CONFIG", "RESULTS", "boundary", "rings"):
            assert not re.search(rf"\b{word}\b", text), (path.name, word)


# --------------------------------------------------------------------------- the TA's workbench


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_a_class_of_40_shows_items_diagnoses_similarity_and_overrides_in_chromium(tmp_path):
    """The generated class of 40 (tests/similarity_class.py: planted copies among distinct
    styles) with grader results built in: 28 full marks, 8 without zero_grad (diagnosed),
    4 untouched; one TA override. Every section of the workbench is on the rendered page."""
    import similarity_class

    from labkit.term import overrides
    from labkit.core.results import SubmissionResult
    klass = similarity_class.generate_class(tmp_path / "notebooks", n_students=40, seed=0)
    course = tmp_path / "course"
    for folder in ("grader_tests", "source", "release"):
        (course / folder).mkdir(parents=True)
        (course / folder / ASSIGNMENT).symlink_to(REPO_ROOT / folder / ASSIGNMENT, target_is_directory=True)
    students = sorted(klass.notebooks)
    kinds = ["ala_reference"] * 28 + ["darek_no_zero_grad"] * 8 + ["bartek_untouched"] * 4
    diagnosis = {"part": "training", "mistake": "no_zero_grad", "message": "Wygląda na brak zero_grad",
                 "explains": []}
    for student, kind in zip(students, kinds):
        shutil.copy(klass.notebooks[student], _mkdir(course / "submitted" / student / ASSIGNMENT) / "lab06.ipynb")
        data = _load(kind)
        data["diagnoses"] = [diagnosis] if kind == "darek_no_zero_grad" else []
        result = SubmissionResult.from_json(json.dumps(data))
        if student == students[-1]:
            result = overrides.apply(result, [overrides.Decision(
                assignment=ASSIGNMENT, student=student, part="data", reason="rings drawn by hand", by="TA Nowak",
                date="2026-11-30", points=1.5)], LAB06)
        _put(course, student, json.loads(result.to_json()))
    url = _report(course).resolve().as_uri()
    proc = _chromium("--dump-dom", url, profile=tmp_path / "profile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = Dom(proc.stdout)
    for section in ("overview", "students", "items", "similarity", "flags"):
        assert dom.find("section", id=section), section
    for table in ("item-table", "similarity-table", "scores"):
        assert dom.find("table", id=table, data_sortable="ready"), table
    # Items: the fail rate the class was built with (8 + 4 of 40 fail the loop's main check).
    with open(course / "reports" / f"{ASSIGNMENT}_items.csv", newline="", encoding="utf-8") as f:
        items = {(r["part"], r["check"]): r for r in csv.DictReader(f)}
    assert items["training", "test_train_lands_on_reference_parameters"]["fail_rate"] == "0.3000"
    assert [r.get("data-mistake") for r in dom.find("tr", inside=("table", "id", "diagnosis-table"))
            if r.get("data-mistake")] == ["no_zero_grad"]
    assert "8" in proc.stdout.split('class="diagnosed-count">')[1][:3]
    with open(course / "reports" / f"{ASSIGNMENT}_diagnoses.csv", newline="", encoding="utf-8") as f:
        assert [(r["mistake"], r["students"]) for r in csv.DictReader(f)] == [("no_zero_grad", "8")]
    # Similarity: exactly the planted copies, the cluster of three, side-by-side views offline.
    pairs = {tuple(sorted((r["data-a"], r["data-b"])))
             for r in dom.find("tr", inside=("table", "id", "similarity-table")) if r.get("data-a")}
    assert pairs == klass.planted_pairs
    assert [c for c in dom.find("li", class_="cluster") if c["data-size"] == "3"]
    assert len(dom.find("details", class_="side-by-side")) == len(pairs) and "<mark>" in proc.stdout
    assert {r["data-student"] for r in dom.find("tr", inside=("table", "id", "reference-close"))
            if r.get("data-student")} >= set(klass.of_kind("reference"))
    # The override: in the student's section with its reason, and flagged.
    assert dom.find("tr", class_="decision", inside=("section", "id", f"student-{students[-1]}"))
    assert "rings drawn by hand" in proc.stdout
    assert dom.find("span", class_="flag", inside=("table", "id", "scores"))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


DRAWN: list = []


def _counted_png(helpers, rows) -> str:
    DRAWN.append(repr(rows))
    return f"data:image/png;base64,{len(DRAWN)}"


def test_a_page_draws_each_distinct_figure_once():
    """Identical artifacts (students who ran the same seeded code) share one drawing; other
    data, another page, or a closure (which draws what it captured) are drawn anew."""
    from labkit.insight.report import Helpers
    DRAWN.clear()
    page = Helpers(LAB06)
    same = [page.figure(f"RESULTS {i}", _counted_png, page, [{"factor": "lr", "acc": 0.9}]) for i in range(3)]
    other = page.figure("RESULTS", _counted_png, page, [{"factor": "lr", "acc": 0.8}])
    assert len(DRAWN) == 2 and {f.uri for f in same} == {same[0].uri} != {other.uri}
    assert [f.label for f in same] == ["RESULTS 0", "RESULTS 1", "RESULTS 2"]
    Helpers(LAB06).figure("RESULTS", _counted_png, page, [{"factor": "lr", "acc": 0.9}])
    assert len(DRAWN) == 3, "another page draws its own"
    uris = [page.figure("c", lambda k=k: f"data:image/png;base64,{k}") for k in range(2)]
    assert [f.uri for f in uris] == ["data:image/png;base64,0", "data:image/png;base64,1"]
    failing = [page.figure("bad", _counted_png, page, object()) for _ in range(2)]
    assert all(f.error == "" for f in failing) and len(DRAWN) == 5, "not plain data: drawn each time"


def test_an_unreadable_gradebook_is_flagged_on_every_student_not_swallowed(tmp_path, caplog):
    """The report still comes from the result JSONs, but without manual grades or late
    penalties: each student carries ``gradebook_unreadable`` and the log says why."""
    from labkit.core.results import failed_submission
    from labkit.insight.report import collect
    folder = tmp_path / "reports" / "results" / LAB06.id
    folder.mkdir(parents=True)
    (folder / "ala.json").write_text(failed_submission("ala.ipynb", "x", "invalid_notebook", LAB06).to_json(),
                                     encoding="utf-8")
    (tmp_path / "gradebook.db").write_bytes(b"this is not an SQLite database" * 100)
    with caplog.at_level("ERROR"):
        entries = collect(tmp_path, LAB06)
    assert [e.student for e in entries] == ["ala"] and "gradebook_unreadable" in entries[0].flags
    assert "without the gradebook" in caplog.text
