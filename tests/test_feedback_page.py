"""The feedback page as a student reads it, in headless Chromium (labkit/nbgrader_ext/
feedback_summary.py and templates/labkit_feedback): it starts with the parts and their verdicts,
every row is a link that lands on its cell, and a written answer nobody graded yet awaits a TA
instead of showing "Score: 0.0 / 1.0"."""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from browser import Browser
from labkit.core.assignment import load
from labkit.term.submissions import build_submission, release_notebook
from minimal import minimal_course
from nbgrader_cli import nbgrader

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")]
# A written answer, graded by a TA: mini gets one for this test.
WRITTEN = {"cell_type": "markdown", "source": "Why do the weights have to be positive? YOUR ANSWER HERE",
           "metadata": {"nbgrader": {"schema_version": 3, "grade_id": "why_positive", "locked": False,
                                     "solution": True, "grade": True, "task": False, "points": 1.0}}}
ANSWER = "Negative weights could make the sum of weights zero, and the mean undefined."


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    root = minimal_course(tmp_path_factory.mktemp("course"), config=True)
    source = root / "source" / "mini" / "mini.ipynb"
    nb = json.loads(source.read_text(encoding="utf-8"))
    nb["cells"].append(WRITTEN)
    source.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("LABKIT_ASSIGNMENT", None)
    assert nbgrader(["generate_assignment", "mini", "--force"], cwd=root, env=env).returncode == 0
    release, filled = release_notebook(root, "mini"), load("mini", root).notebook
    build_submission(root / "submitted" / "answered" / "mini" / "mini.ipynb", {"why_positive": ANSWER},
                     release=release, source=filled)
    build_submission(root / "submitted" / "silent" / "mini" / "mini.ipynb", {}, filled=False,
                     release=release, source=filled)
    for step in (["autograde", "mini", "--force"], ["generate_feedback", "mini", "--force"]):
        done = nbgrader(step, cwd=root, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
    return {s: root / "feedback" / s / "mini" / "mini.html" for s in ("answered", "silent")}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium") / "profile")
    yield b
    b.close()


def _rows(browser: Browser) -> list[dict]:
    return browser.js("""Array.from(document.querySelectorAll('ol.labkit-summary li a')).map(a => (
        {href: a.getAttribute('href'), row: a.parentElement.textContent.trim(),
         state: a.parentElement.className}))""")


def test_the_page_starts_with_every_graded_cell_and_its_verdict(pages, browser):
    browser.goto(pages["answered"].as_uri())
    rows = _rows(browser)
    assert [r["href"] for r in rows] == ["#mean_tests", "#why_positive"]
    assert rows[0]["row"] == "Part mean: 2.00 / 2.00" and rows[0]["state"] == "labkit-full"
    assert browser.js("document.querySelector('ol.labkit-summary').getBoundingClientRect().top") < 300


def test_every_summary_link_lands_on_its_cell(pages, browser):
    for student, page in pages.items():
        browser.goto(page.as_uri())
        for row in _rows(browser):
            browser.js("window.scrollTo(0, 0)")
            browser.js(f"document.querySelector('ol.labkit-summary a[href=\"{row['href']}\"]').click()")
            # The target's top is at the top of the window, or the page could not scroll further.
            landed = browser.js(f"""(() => {{
                // The HTML spec's indicated element: the element with that id, else the <a name>.
                const t = document.getElementById({json.dumps(row['href'][1:])})
                          || document.getElementsByName({json.dumps(row['href'][1:])})[0];
                if (!t) return 'no element with that id or name';
                const top = t.getBoundingClientRect().top;
                const bottom = window.scrollY + window.innerHeight >= document.body.scrollHeight - 2;
                return Math.abs(top) < 2 || (bottom && top > 0 && top < window.innerHeight) ? 'landed' : top; }})()""")
            assert landed == "landed", (student, row)


def test_a_written_answer_nobody_graded_awaits_a_ta(pages, browser):
    browser.goto(pages["answered"].as_uri())
    row = _rows(browser)[1]
    assert row["row"] == "Written answer: awaits a TA" and row["state"] == "labkit-awaiting"
    heading = browser.js("document.getElementById('why_positive').parentElement.querySelector('.pull-right').textContent")
    assert "awaits a TA" in heading and "0.0" not in heading
    notes = browser.js("Array.from(document.querySelectorAll('.labkit-note')).map(p => p.textContent)")
    assert any("may still go up" in n for n in notes)


def test_an_answer_left_as_released_says_so(pages, browser):
    browser.goto(pages["silent"].as_uri())
    assert _rows(browser)[1]["row"] == "Written answer: 0.00 / 1.00 (not answered)"
