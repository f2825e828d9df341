"""Manual grading in nbgrader's formgrader, through a real browser (docs/formgrader.md).

A TA's session, end to end: a course with one autograded lab06 submission, `jupyter lab` on
a free localhost port with a token (the command of docs/formgrader.md), headless Chromium
driven over the DevTools protocol. The TA logs in with the token link, opens Nbgrader ->
Formgrader in JupyterLab, then the submission in its own tab, reads the kit's verdicts, plots
and the conclusions cell with its question, and types a score and a comment. The test then
follows the grade: nbgrader's gradebook, the page after a reload, the student's feedback
(generate_feedback), grades.csv, grades_parts.csv and the TA report (`nbgrader export
--exporter=labkit.nbgrader_ext.exporter.ReportExporter`, whose grades.csv is nbgrader's own CSV export).

The student is cheap on purpose: data, loader, model and loss solved (three plots, full-marks
verdicts), training and experiments left as stubs (failed verdicts with their error), and a
written answer in the conclusions cell. Chromium resolves no host but 127.0.0.1, as on an
offline grading machine.
"""
from __future__ import annotations

import csv
import html
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import nbgrader_cli
from browser import Browser, _free_port, _stop, _wait

from labkit.core.settings import REPO_ROOT
from labkit.term.submissions import build_submission, release_notebook, solution_sources, source_notebook

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")]

ASSIGNMENT = NOTEBOOK = "lab06"
STUDENT = "bartek"
CELL = "experiments_conclusions"          # the manually graded cell (3 points)
SOLVED_PARTS = ("data", "loader", "model", "loss")
ANSWER = ("Sieć 2-4-2-1 utyka, bo neurony ReLU *umierają*: strata stoi wtedy na ln 2.\n\n"
          "Pomogły szersze warstwy i tanh; różnice rzędu 0.01 mogą wynikać z jednego ziarna.")
SCORE = 2.5
COMMENT = "Dobrze o martwych ReLU; zabrakło **porównania ziaren** (pytanie 2)."
BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------- helpers


def nbgrader(course: dict, *args: str) -> subprocess.CompletedProcess:
    proc = nbgrader_cli.nbgrader(list(args), cwd=course["root"], env=course["env"])
    assert proc.returncode == 0, f"nbgrader {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def gradebook_entry(course: dict) -> dict:
    """The conclusions cell's grade and comment and the notebook's totals, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course['root'] / 'gradebook.db'}") as gb:
        grade = gb.find_grade(CELL, NOTEBOOK, ASSIGNMENT, STUDENT)
        comment = gb.find_comment(CELL, NOTEBOOK, ASSIGNMENT, STUDENT)
        nb = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, STUDENT)
        return {"manual_score": grade.manual_score, "auto_score": grade.auto_score,
                "needs_manual_grade": grade.needs_manual_grade, "manual_comment": comment.manual_comment,
                "score": nb.score, "written_score": nb.written_score, "max_score": nb.max_score}


# --------------------------------------------------------------------------- the course


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    """A tmp course with lab06 generated and one student's submission autograded."""
    root = tmp_path_factory.mktemp("course")
    for folder in ("source", "grader_tests", "reference"):
        shutil.copytree(REPO_ROOT / folder / ASSIGNMENT, root / folder / ASSIGNMENT,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "grader_tests" / "__init__.py", root / "grader_tests")   # the checks' package
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    jupyter = root.parent / "jupyter"   # no user-level Jupyter configuration leaks in
    env = {**os.environ, "PATH": str(BIN) + os.pathsep + os.environ["PATH"],
           "JUPYTER_CONFIG_DIR": str(jupyter / "config"), "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime")}
    env.pop("LABKIT_ASSIGNMENT", None)
    course = {"root": root, "env": env}
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    source = source_notebook(root, ASSIGNMENT)
    solved = {gid: code for gid, code in solution_sources(source).items() if gid.split("_")[0] in SOLVED_PARTS}
    build_submission(root / "submitted" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.ipynb", {**solved, CELL: ANSWER},
                     filled=False, release=release_notebook(root, ASSIGNMENT), source=source)
    nbgrader(course, "autograde", ASSIGNMENT)
    course["before"] = gradebook_entry(course)
    return course


@pytest.fixture(scope="module")
def session(course, tmp_path_factory) -> dict:
    """The TA's browser session: log in, open formgrader, read the submission, grade the
    conclusions. Returns what the pages showed; the server and browser are gone afterwards."""
    root, work = course["root"], tmp_path_factory.mktemp("formgrader")
    port, token = _free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")           # containers and CI run as root; a TA does not
    log = open(work / "server.log", "w")
    server = subprocess.Popen(cmd, cwd=root, env=course["env"], stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    browser = None
    seen: dict = {}
    try:
        def up():
            assert server.poll() is None, (work / "server.log").read_text()[-3000:]
            try:
                req = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(req, timeout=5) as r:
                    return r.status == 200
            except OSError:
                return False
        _wait("the Jupyter server", up)
        browser = Browser(work / "profile")
        browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)

        # 1. The link the server prints: JupyterLab, with nbgrader's menu.
        browser.goto(f"{base}/lab?token={token}")
        _wait("JupyterLab's Nbgrader menu", lambda: browser.js(
            "Array.from(document.querySelectorAll('.lm-MenuBar-itemLabel')).some(e => e.textContent === 'Nbgrader')"))
        for _ in range(10):    # the menu bar may take a moment to answer clicks
            assert browser.click(".lm-MenuBar-itemLabel", "Nbgrader")
            try:
                _wait("the Nbgrader menu", lambda: browser.click(".lm-Menu-itemLabel", "Formgrader"), deadline=5)
                break
            except AssertionError:
                browser.call("Input.dispatchKeyEvent", type="keyDown", key="Escape", code="Escape",
                             windowsVirtualKeyCode=27)
        else:
            raise AssertionError("JupyterLab's Nbgrader menu has no working Formgrader entry")
        seen["lab_tab"] = _wait("formgrader in its JupyterLab tab", lambda: browser.js("""(() => {
            const f = Array.from(document.querySelectorAll('iframe')).find(f => f.src.includes('/formgrader'));
            const text = f && f.contentDocument && f.contentDocument.body ? f.contentDocument.body.innerText : '';
            return text.includes('Manage Assignments') ? text : ''; })()"""))

        # 2. Manual Grading -> lab06 -> lab06 in a tab of its own (docs/formgrader.md).
        browser.goto(f"{base}/formgrader/gradebook/{ASSIGNMENT}/{NOTEBOOK}")
        links = _wait("the submission list", lambda: browser.js(
            "Array.from(document.querySelectorAll('a')).filter(a => a.href.includes('/formgrader/submissions/'))"
            ".map(a => a.href)"))
        assert len(set(links)) == 1, links
        seen["list"] = browser.js("document.body.innerText")
        browser.goto(links[0])
        _wait("formgrader's grades and comments", lambda: browser.js(
            "!!(window.formgrader && formgrader.grades && formgrader.grades.loaded && formgrader.comments.loaded)"))
        seen["page"] = browser.js(RENDERED)

        # 3. The TA types a score and a comment; formgrader saves each on its "change" event.
        browser.js(f"""(() => {{
            for (const [id, value] of [[{json.dumps(CELL)}, {json.dumps(str(SCORE))}],
                                       [{json.dumps(CELL + '-comment')}, {json.dumps(COMMENT)}]]) {{
                const e = document.getElementById(id);
                e.value = value;
                e.dispatchEvent(new Event('input', {{bubbles: true}}));
                e.dispatchEvent(new Event('change', {{bubbles: true}}));
            }} }})()""")
        def saved():
            entry = gradebook_entry(course)
            return entry if entry["manual_score"] == SCORE and entry["manual_comment"] == COMMENT else None
        seen["gradebook"] = _wait("the grade and comment in the gradebook", saved)
        _wait("formgrader to confirm the save", lambda: browser.js(
            f"(() => {{ const g = formgrader.grades.findWhere({{name: {json.dumps(CELL)}}});"
            f" return !!g && Number(g.get('manual_score')) === {SCORE} && !g.get('needs_manual_grade'); }})()"))

        # 4. A reload shows what was saved.
        browser.goto(links[0])
        _wait("the page after a reload", lambda: browser.js(
            "!!(window.formgrader && formgrader.grades && formgrader.grades.loaded && formgrader.comments.loaded)"))
        seen["reloaded"] = browser.js(f"""({{score: document.getElementById({json.dumps(CELL)}).value,
            comment: document.getElementById({json.dumps(CELL + '-comment')}).value}})""")
        seen["errors"] = browser.errors()
        seen["blocked"] = sorted({e["params"]["entry"].get("url", "") for e in browser.events
                                  if e["method"] == "Log.entryAdded" and e["params"]["entry"].get("source") == "network"})
    finally:
        if browser is not None:
            browser.close()
        _stop(server)
        log.close()
    return seen


# What the formgrade page shows, read in the page. Cells are nbgrader's "panel" cells; the
# outputs follow the input of their cell.
RENDERED = """(() => {
    const cellOf = id => document.getElementById(id).closest('.cell');
    const grade = id => { const c = cellOf(id); return {
        text: c.innerText,
        max: c.querySelector('input.score').parentElement.innerText.trim(),
        errors: Array.from(c.querySelectorAll('.output_error')).map(e => e.innerText) }; };
    const conclusions = cellOf(%(cell)s);
    let question = conclusions.previousElementSibling;
    return {
        data: grade('data_tests'), training: grade('training_tests'), conclusions: grade(%(cell)s),
        answer_html: conclusions.querySelector('.rendered_html').innerHTML,
        comment_box: !!document.getElementById(%(cell)s + '-comment'),
        question: question ? question.innerText : '',
        plots: Array.from(document.querySelectorAll('.output_png img'))
            .filter(i => i.complete && i.naturalWidth > 100).length,
        score_inputs: Array.from(document.querySelectorAll('input.score')).map(i => i.id),
        hidden_markers: document.body.innerText.includes('BEGIN HIDDEN TESTS'),
    }; })()""" % {"cell": json.dumps(CELL)}


@pytest.fixture(scope="module")
def exported(course, session) -> dict:
    """After grading, what docs/formgrader.md says to re-run: the student's feedback, then one
    export. The kit's exporter writes grades.csv with nbgrader's own CsvExportPlugin (a plain
    `nbgrader export` writes the same file), grades_parts.csv and the TA report."""
    root = course["root"]
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--force")
    nbgrader(course, "export", "--exporter=labkit.nbgrader_ext.exporter.ReportExporter")
    return {"feedback": (root / "feedback" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.html").read_text(encoding="utf-8"),
            "grades": _csv(root / "grades.csv"), "parts": _csv(root / "grades_parts.csv"),
            "report": (root / "reports" / f"{ASSIGNMENT}_report.html").read_text(encoding="utf-8"),
            "after": gradebook_entry(course)}


def _csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["student_id"]: row for row in csv.DictReader(f) if row["assignment"] == ASSIGNMENT}


def _report_row(page: str, student: str) -> dict[str, str]:
    """The TA report's score table (table#scores): column name -> data-sort of the student's row."""
    table = page[page.index('<table id="scores"'):]
    table = table[:table.index("</table>")]
    heads = [html.unescape(re.sub(r"<[^>]+>", "", h)).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", table)]
    row = re.search(rf'<tr data-student="{re.escape(student)}"[^>]*>(.*?)</tr>', table, re.S)
    assert row, f"no row for {student} in the report"
    cells = re.findall(r'<td[^>]*data-sort="([^"]*)"', row.group(1))
    return dict(zip(heads, cells))


# --------------------------------------------------------------------------- tests


def test_the_autograded_submission_waits_for_a_manual_grade(course):
    before = course["before"]
    assert before["needs_manual_grade"] and before["manual_score"] is None and before["auto_score"] is None
    assert before["written_score"] == 0 and before["max_score"] == 23.0
    assert 0 < before["score"] < 20


def test_formgrader_opens_from_jupyterlab_and_lists_the_submission(session):
    assert "Manage Assignments" in session["lab_tab"] and "Manual Grading" in session["lab_tab"]
    assert "Submission #1" in session["list"]


def test_verdicts_plots_and_the_conclusions_cell_render(session):
    page = session["page"]
    # Every autograder cell and the conclusions cell get a score box, with the part's points.
    assert page["score_inputs"] == ["data_tests", "loader_tests", "model_tests", "loss_tests",
                                    "training_tests", "experiments_tests", CELL]
    # The kit's verdict report and partial score in a solved part's autograder cell...
    assert "Część `data`: 3.00 / 3.00 pkt" in page["data"]["text"]
    assert "✔ test_zero_sd_gives_exact_radii" in page["data"]["text"]
    assert "3.0000" in page["data"]["text"] and page["data"]["errors"] == []
    assert page["data"]["max"].startswith("/ 3.0")
    # ... and in a failed one, with the error that gives it zero.
    assert "Część `training`: 0.00 / 4.00 pkt" in page["training"]["text"]
    assert any("Część nie zdobyła punktów" in e for e in page["training"]["errors"])
    # The hidden sections are the TA's to see (feedback strips them: HideHiddenTests).
    assert page["hidden_markers"]
    # Rings, the boundary before training and the one after (drawn by an untrained model).
    assert page["plots"] >= 3
    # The conclusions cell: the question above it, the student's rendered answer, score and comment boxes.
    assert "Wnioski (oceniane ręcznie, 3 pkt)" in page["question"]
    assert "Dlaczego sieć 2-4-2-1" in page["question"]
    assert "<em>umierają</em>" in page["answer_html"] and "jednego ziarna" in page["answer_html"]
    assert page["conclusions"]["max"].startswith("/ 3.0") and page["comment_box"]


def test_grade_and_comment_are_saved_to_the_gradebook(course, session):
    saved = session["gradebook"]
    assert saved["manual_score"] == SCORE and saved["manual_comment"] == COMMENT
    assert not saved["needs_manual_grade"]
    assert saved["written_score"] == SCORE
    assert saved["score"] == pytest.approx(course["before"]["score"] + SCORE)
    assert session["reloaded"] == {"score": str(SCORE), "comment": COMMENT}


def test_the_page_ran_offline_except_mathjax(session):
    # formgrader loads MathJax 2 from a CDN; offline only that request fails, and formgrader's
    # keyboard shortcuts (set up after MathJax) with it. Scores and comments save regardless.
    assert all("mathjax" in url.lower() for url in session["blocked"] if url), session["blocked"]
    assert all("formgrade.js" in e and "MathJax is not defined" in e for e in session["errors"]), session["errors"]


def test_feedback_shows_the_grade_and_the_comment(exported):
    page = exported["feedback"]
    # The page's summary (labkit/nbgrader_ext/feedback_summary.py): the TA's grade, not "awaits a TA".
    assert re.search(r"Odpowiedź pisemna</a>:\s*2\.50\s*/\s*3\.00", page)
    assert "zabrakło <strong>porównania ziaren</strong>" in page
    total = exported["after"]["score"]
    assert f"wynik {total:.2f} / 23.00 pkt" in page, "the total"
    assert "BEGIN HIDDEN TESTS" not in page


def test_grades_csv_parts_csv_and_report_carry_the_manual_grade(course, exported):
    total = course["before"]["score"] + SCORE
    row = exported["grades"][STUDENT]
    assert float(row["score"]) == pytest.approx(total) and float(row["max_score"]) == 23.0
    parts = exported["parts"][STUDENT]
    assert float(parts["manual"]) == SCORE
    assert float(parts["total"]) == pytest.approx(total)
    assert sum(float(parts[p]) for p in ("data", "loader", "model", "loss", "training", "experiments")) \
        == pytest.approx(course["before"]["score"])
    report = _report_row(exported["report"], STUDENT)
    assert float(report["manual"]) == SCORE
    assert float(report["total"]) == pytest.approx(total, abs=1e-3)
