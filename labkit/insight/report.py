"""TA report: one self-contained HTML page per assignment, plus a per-part CSV.

``build_report(course=..., assignment="<id>")`` reads the graded submissions' result JSONs
(``<course>/reports/results/<id>/<student>.json``) and, when present, the per-part scores
of nbgrader's gradebook (which include the manually graded cells), and writes

* ``<course>/reports/<id>_report.html``: class overview (score histogram, per-part
  averages), a sortable per-student table, flagged submissions, and one section per student
  (failed checks with their messages, timings, grader log). Images are inline PNG data
  URIs; the page loads nothing from anywhere.
* ``<course>/reports/<id>_parts.csv``: per-student, per-part scores (labkit/term/scores.py).
* ``<course>/reports/<id>_items.csv``: item analysis, one row per part and per hidden check
  (fail rate with its interval, mean, discrimination, frequent messages; labkit/insight/item_analysis.py).
* ``<course>/reports/<id>_diagnoses.csv``: each mistake the diagnoses named, with its students.
* ``<course>/reports/<id>_similarity.csv``: pairs of students whose own code is shared, and
  students close to the instructor's solution (labkit/insight/similarity.py; never a grade).
* a "Hand-in" section when the assignment was collected from an LMS: every LMS entry, its
  student id, graded file, kept files and flags (``reports/<id>_handin.json``, labkit/term/handin.py).
* ``<course>/reports/<id>_scores.json``: this run's per-part scores, which the next run
  compares against to flag submissions whose scores changed.

The page is the Jinja2 template ``labkit/templates/report.html.j2``. An assignment adds its
own content through its description (labkit/core/assignment.py): ``report_sections``, a Python
file whose ``student_context(result, helpers) -> dict`` (and optionally
``overview_context(entries, helpers) -> dict``) computes it, and ``report_template``, a
template that extends ``report.html.j2`` and overrides its blocks (``student_extra``,
``overview_extra``, ...).

Everything that comes from a student (messages, artifacts, student ids) is untrusted: the
templates autoescape it, and it never reaches matplotlib's mathtext unescaped (``plain``).
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import importlib.util
import json
import statistics
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import jinja2
from markupsafe import Markup

from labkit.core import flags
from labkit.insight import item_analysis
from labkit.term import scores
from labkit.core.assignment import Assignment
from labkit.core.assignment import load as load_assignment
from labkit.insight.item_analysis import ItemAnalysis
from labkit.core.results import CheckStatus, SubmissionResult

from labkit.insight.class_data import CHANGE_TOLERANCE, FLAG_ORDER, StudentEntry, collect, load_results  # noqa: F401  (the report's API)
from labkit.insight.figures import (Figure, _fraction, figure, histogram_png, item_fail_rates_png,  # noqa: F401
                                    part_averages_png, plain, plt, png)
TEMPLATES = Path(__file__).parent / "templates"
PAGE = "report.html.j2"
ASSIGNMENT_PREFIX = "assignment"   # the assignment's own page template: "assignment/<name>"



def fmt(value, digits: int = 2) -> str:
    """A score for the page: fixed decimals, "—" when unknown (the templates' ``fmt``)."""
    if value is None:
        return "—"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def class_items(entries: list[StudentEntry], assignment: Assignment) -> ItemAnalysis:
    """Item analysis over the class's result JSONs (labkit/insight/item_analysis.py)."""
    return item_analysis.analyse({s.student: s.result for s in entries},
                                 assignment=assignment.id, parts=list(assignment.part_ids))


def _items(analysis: ItemAnalysis) -> dict:
    """The page's item section: the analysis and the figure of its fail rates."""
    figures = ([figure("Fail rate per check", item_fail_rates_png, analysis, css="items")]
               if analysis.checks else [])
    return {"analysis": analysis, "figures": figures, "flag_help": item_analysis.FLAG_HELP}


def class_similarity(course: Path, assignment: Assignment):
    """Similarity across the class's submitted notebooks (labkit/insight/similarity.py), or why not.

    Returns (SimilarityReport | None, reason). It reads ``submitted/<student>/<id>/<id>.ipynb``
    against the release (boilerplate) and the instructor's notebook; it never grades."""
    from labkit.insight import similarity
    release = course / "release" / assignment.id / f"{assignment.id}.ipynb"
    notebooks = {path.parent.parent.name: path for path in
                 sorted((course / "submitted").glob(f"*/{assignment.id}/{assignment.id}.ipynb"))}
    if not release.is_file() or not assignment.notebook.is_file():
        return None, "no release or source notebook to tell students' own code from the given code"
    if len(notebooks) < 2:
        return None, "fewer than two submitted notebooks"
    try:
        return similarity.compare_class(notebooks, release=release, reference=assignment.notebook), ""
    except Exception as exc:   # the report's other sections must survive it
        return None, f"similarity could not be computed: {type(exc).__name__}: {str(exc)[:300]}"


class Helpers:
    """The engine's utilities, handed to an assignment's report sections so that they draw
    like the engine does without copying it."""

    plt = staticmethod(plt)
    png = staticmethod(png)
    plain = staticmethod(plain)
    fmt = staticmethod(fmt)

    def __init__(self, assignment: Assignment):
        self.assignment = assignment
        self._drawn: dict[str, str] = {}   # content key -> PNG data URI, for this page only

    def figure(self, label: str, make: Callable[..., str], *args: Any, css: str = "") -> Figure:
        """``figure``, drawn once per distinct content on this page. Students who ran the
        same seeded code submit identical artifacts (most of a class, for a lab with fixed
        seeds), and each drawing costs about a CPU second or two."""
        key = self._content_key(make, args)
        if key is None:
            return figure(label, make, *args, css=css)
        if key not in self._drawn:
            drawn = figure(label, make, *args, css=css)
            if drawn.error:
                return drawn
            self._drawn[key] = drawn.uri
        return Figure(label, css, uri=self._drawn[key])

    def _content_key(self, make: Callable[..., str], args: tuple) -> str | None:
        """A hash of what ``make(*args)`` draws, or None when that is not known from plain data
        (then the figure is drawn every time rather than risk showing another's)."""
        if "<" in getattr(make, "__qualname__", "<") or getattr(make, "__closure__", None):
            return None   # a lambda or closure draws what it captured, not only its arguments
        def only_self(value):
            if value is self:
                return "helpers"
            raise TypeError(type(value).__name__)
        try:
            blob = json.dumps([make.__module__, make.__qualname__, args], sort_keys=True, default=only_self)
        except (TypeError, ValueError):
            return None
        return hashlib.sha256(blob.encode()).hexdigest()


# --------------------------------------------------------------------------- views


def _score_class(value: float, top: float) -> str:
    if value >= top - CHANGE_TOLERANCE:
        return "full"
    return "zero" if value <= 0 else ""


def _summary_keys(assignment: Assignment) -> tuple[str, ...]:
    """The parts, and ``manual`` only if the assignment has manually graded cells."""
    return (*assignment.part_ids, *((scores.MANUAL,) if assignment.manual else ()))


def _late_column(entries: list[StudentEntry]) -> bool:
    """Lateness is shown once the gradebook has a deadline for some submission."""
    return any(s.late is not None and s.late.deadline is not None for s in entries)


def _machine(entries: list[StudentEntry]) -> dict | None:
    """The measured speed of the host(s) that graded: budgets are CPU seconds times cpu_factor."""
    machines = [s.result.machine for s in entries if s.result is not None and s.result.machine]
    if not machines:
        return None

    def span(key: str) -> str:
        values = sorted(float(m.get(key, 1.0)) for m in machines)
        return f"{values[0]:.2f}" if values[-1] - values[0] < 0.005 else f"{values[0]:.2f}–{values[-1]:.2f}"
    return {"cpu": span("cpu_factor"), "wall": span("wall_factor"), "budget": span("budget_scale"),
            "unmeasured": sum(1 for m in machines if not m.get("measured", True))}


def _overview(entries: list[StudentEntry], assignment: Assignment) -> dict:
    maxima = scores.max_points(assignment)
    totals = [s.scores["total"] for s in entries if s.scores.get("total") is not None]
    averages: dict[str, float | None] = {}
    for key in _summary_keys(assignment):
        values = [s.scores[key] for s in entries if s.scores.get(key) is not None]
        averages[key] = statistics.fmean(values) if values else None

    def stat(f) -> str:
        return fmt(f(totals)) if totals else "—"
    stats = [("students", str(len(entries))), ("mean", stat(statistics.fmean)),
             ("median", stat(statistics.median)), ("min", stat(min)), ("max", stat(max)),
             ("max points", f"{maxima[scores.TOTAL]:g}"), ("flagged", str(sum(1 for s in entries if s.flags))),
             ("TA decisions", str(sum(len(s.result.decisions) for s in entries if s.result is not None)))]
    if _late_column(entries):
        stats.append(("late", str(sum(1 for s in entries if s.late is not None and s.late.late))))
    parts = [{"key": k, "average": avg, "max": maxima[k],
              "percent": "—" if avg is None or not maxima[k] else f"{100 * avg / maxima[k]:.0f}%",
              "full": sum(1 for s in entries if s.scores.get(k) is not None
                          and _score_class(s.scores[k], maxima[k]) == "full")}
             for k, avg in averages.items()]
    figures = [figure("Histogram of total scores", histogram_png, totals, maxima[scores.TOTAL], css="histogram"),
               figure("Per-part averages", part_averages_png, averages, maxima, css="part-averages")] if totals else []
    return {"stats": stats, "machine": _machine(entries), "figures": figures, "parts": parts, "extra": {}}


def _check_groups(result: SubmissionResult) -> tuple[int, list[dict]]:
    """(number of failed checks, their groups): checks of one part failing with the very same
    message (an untouched stub) share a row."""
    failed = [c for p in result.parts.values() for c in p.checks if c.status != CheckStatus.PASSED or c.credit < 1.0]
    groups: dict[tuple[str, str, str], list] = {}
    for c in failed:
        groups.setdefault((c.part, c.status, c.message), []).append(c)
    rows = []
    for (part, status, message), checks in groups.items():
        credits = [c.credit for c in checks]
        credit = ", ".join(fmt(c) for c in credits) if len(set(credits)) > 1 else fmt(credits[0])
        rows.append({"part": part, "status": status, "message": message, "credit": credit,
                     "names": [c.name for c in checks]})
    return len(failed), rows


def _student_view(s: StudentEntry, sections: ModuleType | None, helpers: Helpers) -> dict:
    view: dict[str, Any] = {"entry": s, "failed": 0, "groups": [], "timings": [], "bad_cells": [],
                            "extra": {}, "extra_error": ""}
    r = s.result
    if r is None:
        return view
    view["failed"], view["groups"] = _check_groups(r)
    view["timings"] = list(r.timings.items()) if isinstance(r.timings, dict) else []
    view["bad_cells"] = [(k, v) for k, v in (r.cell_status or {}).items() if v != "ok"][:40]
    if sections is not None and hasattr(sections, "student_context"):
        try:
            view["extra"] = dict(sections.student_context(r, helpers) or {})
        except Exception as exc:  # one odd submission must not sink everyone's report
            view["extra_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return view


# --------------------------------------------------------------------------- assignment hooks


def load_sections(assignment: Assignment) -> ModuleType | None:
    """The assignment's ``report_sections`` file as a module (loaded by path, fresh each run)."""
    path = assignment.report_sections
    if path is None:
        return None
    name = f"_labkit_report_sections_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module   # dataclasses and pickling look their module up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _check_hooks(module, path)
    return module


# The hooks an assignment's report_sections file may define (docs/new-assignment.md):
# student_context(result, helpers) -> dict, for that student's section of the page;
# overview_context(entries, helpers) -> dict, for the class overview.
REPORT_HOOKS = ("student_context", "overview_context")


def _check_hooks(module: ModuleType, path: Path) -> None:
    """A report_sections file defines at least one hook, and nothing that looks like a misspelt one."""
    public = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
              and getattr(v, "__module__", None) == module.__name__]
    odd = [n for n in public if n not in REPORT_HOOKS and (n.endswith("_context") or n.startswith(("student", "overview")))]
    if odd or not any(hasattr(module, h) for h in REPORT_HOOKS):
        raise ValueError(f"{path}: {'unknown report hook(s) ' + ', '.join(odd) if odd else 'no report hook'}; "
                         f"the hooks are {', '.join(REPORT_HOOKS)} (helpers of your own: name them with a leading _)")


def environment(assignment: Assignment) -> jinja2.Environment:
    """Templates: the engine's first (so ``report.html.j2`` is always the engine's page),
    then the assignment's folder, also as ``assignment/<name>`` for its own page."""
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(TEMPLATES)]
    if assignment.report_template is not None:
        own = jinja2.FileSystemLoader(assignment.report_template.parent)
        loaders += [own, jinja2.PrefixLoader({ASSIGNMENT_PREFIX: own})]
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=fmt, points=lambda v: f"{float(v):g}", score_class=_score_class)
    env.globals.update(flag_info=flags.info)
    return env


def _page_name(assignment: Assignment) -> str:
    template = assignment.report_template
    return f"{ASSIGNMENT_PREFIX}/{template.name}" if template is not None else PAGE


# --------------------------------------------------------------------------- HTML


def _script() -> tuple[str, str]:
    """The sort script and the page's Content-Security-Policy, which lets only it run."""
    script = (TEMPLATES / "sort.js").read_text(encoding="utf-8").strip()
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    # Nothing may load from anywhere; only this exact script runs, even if escaping ever failed.
    csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'")
    return script, csp


def render_html(entries: list[StudentEntry], *, assignment: Assignment, had_previous: bool,
                gradebook_used: bool, items: ItemAnalysis | None = None, similar=None,
                similarity_note: str = "", handin: dict | None = None) -> str:
    """The page. An assignment's sections or template that fail fall back to the engine's
    page with a notice: the TA still gets every student's grades and checks."""
    notices: list[str] = []
    helpers = Helpers(assignment)
    try:
        sections = load_sections(assignment)
    except Exception as exc:
        sections = None
        notices.append(f"The assignment's report sections could not be loaded: {type(exc).__name__}: {exc}")
    overview = _overview(entries, assignment)
    if sections is not None and hasattr(sections, "overview_context"):
        try:
            overview["extra"] = dict(sections.overview_context(entries, helpers) or {})
        except Exception as exc:
            notices.append(f"The assignment's overview section failed: {type(exc).__name__}: {exc}")
    script, csp = _script()
    keys = scores.score_keys(assignment)
    context = {
        "assignment": assignment, "entries": entries, "overview": overview, "csp": csp,
        "style": Markup((TEMPLATES / "report.css").read_text(encoding="utf-8")), "script": Markup(script),
        "now": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "source": "gradebook + result JSONs" if gradebook_used else "result JSONs (no gradebook)",
        "had_previous": had_previous, "maxima": scores.max_points(assignment),
        "columns": [k for k in keys if k != scores.MANUAL or assignment.manual],
        "part_line": _summary_keys(assignment), "flagged": [s for s in entries if s.flags],
        "flag_counts": [(f, n) for f in FLAG_ORDER if (n := sum(1 for s in entries if f in s.flags))],
        "students": [_student_view(s, sections, helpers) for s in entries], "notices": notices,
        "items": _items(items if items is not None else class_items(entries, assignment)),
        "similarity": similar, "similarity_note": similarity_note, "late_column": _late_column(entries),
        "handin": handin,   # the LMS collector's manifest (labkit/term/handin.py), if collected from an LMS
    }
    env = environment(assignment)
    try:
        return env.get_template(_page_name(assignment)).render(context)
    except Exception as exc:
        if _page_name(assignment) == PAGE:
            raise   # the engine's own page is broken: a bug to see, not to hide
        context["notices"] = [*notices, f"The assignment's report template failed ({type(exc).__name__}: "
                                        f"{exc}); this is the engine's page without its sections."]
        return env.get_template(PAGE).render(context)


# --------------------------------------------------------------------------- files


def write_parts_csv(entries: list[StudentEntry], path: Path, assignment: Assignment) -> Path:
    return scores.write_csv(path, ((assignment.id, s.student, s.scores) for s in entries),
                            scores.score_keys(assignment))


def _load_previous(path: Path) -> dict[str, dict] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        previous = data.get("scores")
        return previous if isinstance(previous, dict) else None
    except (OSError, ValueError, AttributeError):
        return None


def build_report(*, course: Path, assignment: str, out: Path | None = None, gradebook=None) -> Path:
    """Write the assignment's HTML report, per-part CSV and score snapshot; return the HTML path.

    ``assignment`` is an id described under ``<course>/grader_tests/``. ``gradebook``: an open
    ``nbgrader.api.Gradebook`` to read scores from (the export plugin passes its own); by
    default ``<course>/gradebook.db`` is opened if it exists.
    """
    course = Path(course)
    spec = load_assignment(assignment, course)
    reports = course / "reports"
    out = Path(out) if out is not None else reports / f"{spec.id}_report.html"
    snapshot = reports / f"{spec.id}_scores.json"
    previous = _load_previous(snapshot)
    entries = collect(course, spec, gradebook, previous)
    items = class_items(entries, spec)
    similar, note = class_similarity(course, spec)
    from labkit.term.handin import load_manifest
    page = render_html(entries, assignment=spec, had_previous=previous is not None,
                       gradebook_used=any(s.source == "gradebook" for s in entries), items=items,
                       similar=similar, similarity_note=note, handin=load_manifest(course, spec.id))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    write_parts_csv(entries, reports / f"{spec.id}_parts.csv", spec)
    item_analysis.write_csv(items, reports / f"{spec.id}_items.csv")
    item_analysis.write_diagnoses_csv(items, reports / f"{spec.id}_diagnoses.csv")
    if similar is not None:
        from labkit.insight import similarity
        similarity.write_csv(similar, reports / f"{spec.id}_similarity.csv")
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    snapshot.write_text(json.dumps({
        "assignment": spec.id,
        "generated": _dt.datetime.now().isoformat(timespec="seconds"),
        "scores": {s.student: s.scores for s in entries},
    }, indent=1, ensure_ascii=False), encoding="utf-8")
    return out
