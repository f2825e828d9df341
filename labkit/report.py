"""TA report: one self-contained HTML page per assignment, plus a per-part CSV.

``build_report(course=..., assignment="lab06")`` reads the graded submissions' result JSONs
(``<course>/reports/results/<assignment>/<student>.json``) and, when present, the per-part
scores of nbgrader's gradebook (which include the manually graded conclusions), and writes

* ``<course>/reports/<assignment>_report.html``: class overview (score histogram, per-part
  averages), a sortable per-student table, flagged submissions, and one section per student
  (failed checks with their messages, decision boundary of BEST_CONFIG, loss curve, RESULTS
  per factor). Images are inline PNG data URIs; the page loads nothing from anywhere.
* ``<course>/reports/<assignment>_parts.csv``: per-student, per-part scores.
* ``<course>/reports/<assignment>_scores.json``: this run's per-part scores, which the next
  run compares against to flag submissions whose scores changed.

Everything that comes from a student (messages, RESULTS, config values, student ids) is
untrusted: it is escaped with ``html.escape`` and never reaches matplotlib's mathtext.
"""
from __future__ import annotations

import base64
import csv
import datetime as _dt
import hashlib
import html
import io
import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from labkit.results import SubmissionResult
from labkit.settings import (
    ASSIGNMENT_ID, CONCLUSIONS_GRADE_ID, CONCLUSIONS_POINTS, FACTORS, PART_POINTS, PARTS,
)

DPI = 64
SCORE_KEYS: tuple[str, ...] = (*PARTS, "manual", "total")
MAX_POINTS: dict[str, float] = {**PART_POINTS, "manual": CONCLUSIONS_POINTS,
                                "total": sum(PART_POINTS.values()) + CONCLUSIONS_POINTS}
CHANGE_TOLERANCE = 5e-5   # scores are rounded to 4 decimals by the grader

# Grader flag -> (kind shown as a badge colour, TA-facing explanation).
FLAG_INFO: dict[str, tuple[str, str]] = {
    "call_timeout": ("timeout", "a call into student code ran out of time"),
    "cell_timeout": ("timeout", "a notebook cell ran out of time"),
    "notebook_timeout": ("timeout", "the whole notebook ran out of time"),
    "grader_timeout": ("timeout", "the grader itself ran out of time"),
    "grader_overloaded": ("crash", "the host gave student code too little CPU to decide a budget: "
                                   "not a verdict, regrade (it is not cached)"),
    "slow_host": ("changed", "the host was slow or busy (wall time far above CPU time); budgets are "
                             "CPU time, so the grade is unaffected"),
    "retried": ("changed", "graded a second time after a grader failure or an overloaded host"),
    "interrupted": ("timeout", "grading stopped before every check ran; unfinished checks scored 0"),
    "in_kernel": ("sandbox", "graded in the student's kernel (stock nbgrader mode), not the worker"),
    "no_process_limit": ("sandbox", "root without a pids cgroup: nothing bounded the process count"),
    "cell_crash": ("crash", "the worker crashed while running a cell"),
    "grader_error": ("crash", "the grader failed internally"),
    "invalid_notebook": ("crash", "the notebook could not be graded"),
    "result_unreadable": ("crash", "the result JSON could not be read"),
    "no_result": ("crash", "in the gradebook, but no result JSON"),
    "sandbox_fallback": ("sandbox", "student code ran without the bwrap sandbox"),
    "tamper": ("tamper", "student code modified grader-visible libraries"),
    "changed": ("changed", "scores differ from the previous report run"),
}
FLAG_ORDER = list(FLAG_INFO)


# --------------------------------------------------------------------------- data


@dataclass
class StudentEntry:
    """What the report knows about one student."""

    student: str
    anchor: str
    result: SubmissionResult | None = None
    load_error: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)
    source: str = "results"                                   # "gradebook" or "results"
    flags: list[str] = field(default_factory=list)
    changes: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)


def load_results(results_dir: Path) -> dict[str, tuple[SubmissionResult | None, str]]:
    """student -> (result, error message); an unreadable JSON keeps the student with its error."""
    out: dict[str, tuple[SubmissionResult | None, str]] = {}
    if not results_dir.is_dir():
        return out
    for path in sorted(results_dir.glob("*.json")):
        try:
            out[path.stem] = (SubmissionResult.load(path), "")
        except Exception as exc:  # a truncated or foreign file must not sink the whole report
            out[path.stem] = (None, f"{type(exc).__name__}: {exc}")
    return out


def gradebook_part_scores(gradebook, assignment: str) -> dict[str, dict[str, float | None]]:
    """student -> per-part scores (+ ``manual``, ``total``) of each submission in the gradebook.

    A grade's ``name`` (grade_id) starts with its part id; the conclusions cell is ``manual``
    and is ``None`` while it still waits for a TA.
    """
    from nbgrader.api import MissingEntry
    try:
        gradebook.find_assignment(assignment)
    except MissingEntry:
        return {}
    rows: dict[str, dict[str, float | None]] = {}
    for student in gradebook.students:
        try:
            submission = gradebook.find_submission(assignment, student.id)
        except MissingEntry:
            continue
        row: dict[str, float | None] = {p: 0.0 for p in PARTS}
        row["manual"] = None
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name == CONCLUSIONS_GRADE_ID:
                    pending = grade.needs_manual_grade and grade.manual_score is None
                    row["manual"] = None if pending else float(grade.score or 0.0)
                    continue
                part = next((p for p in PARTS if grade.name.startswith(p)), None)
                if part is not None:
                    row[part] = float(row[part] or 0.0) + float(grade.score or 0.0)
        row = {k: (round(v, 4) if v is not None else None) for k, v in row.items()}
        row["total"] = round(sum(row[p] or 0.0 for p in PARTS) + (row["manual"] or 0.0), 4)
        rows[student.id] = row
    return rows


def _scores_from_result(result: SubmissionResult) -> dict[str, float | None]:
    row: dict[str, float | None] = {}
    for p in PARTS:
        part = result.parts.get(p)
        row[p] = round(part.score, 4) if part is not None else 0.0
    row["manual"] = None
    row["total"] = round(sum(row[p] or 0.0 for p in PARTS), 4)
    return row


def _gradebook_scores(course: Path, assignment: str, gradebook) -> dict[str, dict]:
    if gradebook is not None:
        return gradebook_part_scores(gradebook, assignment)
    db = course / "gradebook.db"
    if not db.is_file():
        return {}
    from nbgrader.api import Gradebook
    try:
        with Gradebook(f"sqlite:///{db}") as gb:
            return gradebook_part_scores(gb, assignment)
    except Exception:
        return {}


def _anchor(student: str, used: set[str]) -> str:
    base = "student-" + (re.sub(r"[^A-Za-z0-9_-]", "_", student)[:60] or "x")
    anchor, i = base, 1
    while anchor in used:
        i += 1
        anchor = f"{base}-{i}"
    used.add(anchor)
    return anchor


def _differs(old, new) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    try:
        return abs(float(old) - float(new)) > CHANGE_TOLERANCE
    except (TypeError, ValueError):
        return True


def collect(course: Path, assignment: str, gradebook=None,
            previous: dict[str, dict] | None = None) -> list[StudentEntry]:
    """Every student with a result JSON or a gradebook submission, with scores and flags."""
    results = load_results(course / "reports" / "results" / assignment)
    book = _gradebook_scores(course, assignment, gradebook)
    used: set[str] = set()
    entries = []
    for student in sorted(set(results) | set(book)):
        entry = StudentEntry(student=student, anchor=_anchor(student, used))
        result, error = results.get(student, (None, ""))
        entry.result, entry.load_error = result, error
        if student in book:
            entry.scores, entry.source = dict(book[student]), "gradebook"
        elif result is not None:
            entry.scores, entry.source = _scores_from_result(result), "results"
        else:
            entry.scores, entry.source = {k: None for k in SCORE_KEYS}, "none"
        flags = []
        if result is not None:
            flags += [str(f) for f in result.flags]
            if result.tamper and "tamper" not in flags:
                flags.append("tamper")
            if result.invalid and "invalid_notebook" not in flags:
                flags.append("invalid_notebook")
        elif error:
            flags.append("result_unreadable")
        else:
            flags.append("no_result")
        old = (previous or {}).get(student)
        if old is not None:
            entry.changes = {k: (old.get(k), entry.scores.get(k)) for k in SCORE_KEYS
                             if _differs(old.get(k), entry.scores.get(k))}
            if entry.changes:
                flags.append("changed")
        known = [f for f in FLAG_ORDER if f in flags]
        entry.flags = known + sorted(set(flags) - set(known))
        entries.append(entry)
    return entries


# --------------------------------------------------------------------------- images


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _png(fig) -> str:
    plt = _plt()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    data = buf.getvalue()
    try:  # a 128-colour palette keeps these plots legible at a third of the size
        from PIL import Image
        small = io.BytesIO()
        with Image.open(io.BytesIO(data)) as im:
            im.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(
                small, format="PNG", optimize=True)
        data = min(data, small.getvalue(), key=len)
    except Exception:
        pass
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _plain(text, limit: int = 24) -> str:
    """A student-derived string made safe for matplotlib text (no mathtext, bounded)."""
    text = str(text).replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def histogram_png(totals: list[float]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    top = MAX_POINTS["total"]
    bins = [i for i in range(int(math.ceil(top)) + 2)]
    ax.hist([min(max(t, 0.0), top) for t in totals], bins=bins, color="#4c72b0", edgecolor="white")
    ax.set_xlim(0, top + 1)
    ax.set_xlabel(f"total points (max {top:g})")
    ax.set_ylabel("students")
    ax.set_title("Score distribution")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return _png(fig)


def part_averages_png(averages: dict[str, float | None]) -> str:
    plt = _plt()
    keys = list(averages)
    fractions = [(averages[k] or 0.0) / MAX_POINTS[k] if MAX_POINTS[k] else 0.0 for k in keys]
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    bars = ax.barh(keys[::-1], [100 * f for f in fractions[::-1]], color="#55a868")
    for bar, k in zip(bars, keys[::-1]):
        avg = averages[k]
        label = "n/a" if avg is None else f"{avg:.2f} / {MAX_POINTS[k]:g}"
        ax.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, label, va="center", fontsize=8)
    ax.set_xlim(0, 125)
    ax.set_xlabel("average, % of the part's points")
    ax.set_title("Per-part averages")
    return _png(fig)


def boundary_png(boundary, best_config: dict | None) -> str:
    import numpy as np
    from reference.data import make_rings
    from reference.plots import plot_boundary
    plt = _plt()
    grid = np.asarray(boundary, dtype=float).ravel()
    steps = int(round(math.sqrt(grid.size)))
    if steps < 2 or steps * steps != grid.size or not np.all(np.isfinite(grid)):
        raise ValueError(f"boundary has {grid.size} values, not a finite square grid")
    sd = 0.2
    if isinstance(best_config, dict):
        try:
            sd = min(max(float(best_config.get("sd", 0.2)), 0.0), 1.0)
        except (TypeError, ValueError):
            pass
    X, y = make_rings(n=600, sd=sd, seed=0)   # the reference rings, never the student's
    fig, ax = plt.subplots(figsize=(3.4, 3.4))
    plot_boundary(np.clip(grid, 0.0, 1.0), X, y, ax=ax, title="BEST_CONFIG: P(class 1)")
    return _png(fig)


def losses_png(losses) -> str:
    from reference.plots import plot_losses
    plt = _plt()
    values = [float(v) for v in losses]
    if not values:
        raise ValueError("no losses")
    fig, ax = plt.subplots(figsize=(3.8, 3.0))
    plot_losses(values, ax=ax, title="BEST_CONFIG training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean BCE")
    if all(v > 0 and math.isfinite(v) for v in values) and max(values) / min(values) > 30:
        ax.set_yscale("log")
    return _png(fig)


def _factor_value(factor: str, config) -> str:
    if not isinstance(config, dict):
        return "?"
    if factor in ("hidden_size", "n_layers"):
        hidden = config.get("hidden")
        if isinstance(hidden, (list, tuple)):
            return "-".join(str(h) for h in hidden) or "()"
        return str(hidden)
    return str(config.get(factor, "?"))


def results_png(rows) -> str:
    plt = _plt()
    by_factor: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        try:
            acc = float(row.get("test_accuracy"))
        except (TypeError, ValueError):
            continue
        if not math.isfinite(acc):
            continue
        factor = str(row.get("factor", "?"))
        value = _factor_value(factor, row.get("config"))
        by_factor.setdefault(factor, {}).setdefault(value, []).append(acc)
    if not by_factor:
        raise ValueError("no usable RESULTS rows")
    order = [f for f in FACTORS if f in by_factor] + sorted(f for f in by_factor if f not in FACTORS)
    order = order[:12]
    cols = 4
    nrows = int(math.ceil(len(order) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(9.6, 2.2 * nrows), squeeze=False, sharey=True)
    for ax in axes.ravel()[len(order):]:
        ax.set_visible(False)
    for ax, factor in zip(axes.ravel(), order):
        values = list(by_factor[factor])[:8]
        xs = range(len(values))
        means = [statistics.fmean(by_factor[factor][v]) for v in values]
        for x, v in zip(xs, values):
            ax.plot([x] * len(by_factor[factor][v]), by_factor[factor][v], "o", color="#4c72b0", ms=4)
        ax.plot(list(xs), means, "-", color="#4c72b0", alpha=0.6)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([_plain(v, 10) for v in values], fontsize=8)
        ax.set_title(_plain(factor), fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy")
    fig.suptitle("RESULTS: test accuracy per factor", fontsize=10)
    fig.tight_layout()
    return _png(fig)


# --------------------------------------------------------------------------- HTML


def e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "—"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return e(value)


def _badge(flag: str) -> str:
    kind, help_text = FLAG_INFO.get(flag, ("other", "grader flag"))
    return f'<span class="flag flag-{e(kind)}" title="{e(help_text)}">{e(flag)}</span>'


def _figure(label: str, make, *args, css: str = "") -> str:
    try:
        uri = make(*args)
    except Exception as exc:
        return f'<p class="missing">{e(label)}: could not be drawn ({e(type(exc).__name__)}: {e(str(exc)[:200])}).</p>'
    return f'<figure class="{e(css)}"><img alt="{e(label)}" src="{uri}"><figcaption>{e(label)}</figcaption></figure>'


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#cfd8dc}
nav{padding:8px 24px;background:#eceff1;position:sticky;top:0;z-index:2;border-bottom:1px solid #cfd8dc}nav a{margin-right:14px}
main{padding:0 24px 40px}section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 18px;margin:16px 0}
h2{margin:4px 0 10px;font-size:19px}h3{margin:2px 0 8px;font-size:17px}
.stats{display:flex;gap:22px;flex-wrap:wrap;margin-bottom:8px}.stat b{display:block;font-size:20px}
.figs{display:flex;gap:14px;flex-wrap:wrap;align-items:flex-start}figure{margin:0}figcaption{font-size:12px;color:#666}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#eceff1}td.name,th.name,td.text{text-align:left}
table.sortable th{cursor:pointer;user-select:none;white-space:nowrap}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
tr.flagged td.name{border-left:4px solid #e07b39}
.flag{display:inline-block;border-radius:9px;padding:0 7px;margin:1px 2px;font-size:11px;color:#fff;background:#777;white-space:nowrap}
.flag-timeout{background:#d4860b}.flag-crash{background:#c0392b}.flag-sandbox{background:#8e44ad}
.flag-tamper{background:#000}.flag-changed{background:#2471a3}
.full{color:#1e8449}.zero{color:#c0392b}.missing{color:#888;font-style:italic}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;border:1px solid #e3e3e3;padding:4px 6px;margin:2px 0;max-height:14em;overflow:auto;font-size:12px}
table.checks td,table.checks th{text-align:left}.status-failed,.status-error,.status-crashed,.status-timeout{color:#c0392b;font-weight:600}
.status-partial{color:#d4860b;font-weight:600}.change{color:#2471a3;font-weight:600}
details{margin-top:6px}
"""

SORT_JS = """
(function(){
  function key(row, col, num){
    var cell = row.cells[col]; if (!cell) return num ? -Infinity : "";
    var v = cell.getAttribute("data-sort"); if (v === null) v = cell.textContent.trim();
    if (!num) return v.toLowerCase();
    var f = parseFloat(v); return isNaN(f) ? -Infinity : f;
  }
  document.querySelectorAll("table.sortable").forEach(function(table){
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function(th, col){
      th.title = "click to sort";
      th.addEventListener("click", function(){
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function(h){ h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var num = th.getAttribute("data-type") === "num", body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function(a, b){
          var x = key(a, col, num), y = key(b, col, num);
          var c = x < y ? -1 : (x > y ? 1 : 0);
          return asc ? c : -c;
        });
        rows.forEach(function(r){ body.appendChild(r); });
      });
    });
    table.setAttribute("data-sortable", "ready");
  });
})();
"""


def _overview(entries: list[StudentEntry]) -> str:
    totals = [s.scores["total"] for s in entries if s.scores.get("total") is not None]
    averages: dict[str, float | None] = {}
    for key in (*PARTS, "manual"):
        values = [s.scores[key] for s in entries if s.scores.get(key) is not None]
        averages[key] = statistics.fmean(values) if values else None
    stats = [("students", str(len(entries))),
             ("mean", _fmt(statistics.fmean(totals)) if totals else "—"),
             ("median", _fmt(statistics.median(totals)) if totals else "—"),
             ("min", _fmt(min(totals)) if totals else "—"),
             ("max", _fmt(max(totals)) if totals else "—"),
             ("max points", f"{MAX_POINTS['total']:g}"),
             ("flagged", str(sum(1 for s in entries if s.flags)))]
    out = ['<section id="overview"><h2>Class overview</h2><div class="stats">']
    out += [f'<div class="stat"><b>{e(v)}</b>{e(k)}</div>' for k, v in stats]
    out.append(f'</div>{_machine_note(entries)}<div class="figs">')
    if totals:
        out.append(_figure("Histogram of total scores", histogram_png, totals, css="histogram"))
        out.append(_figure("Per-part averages", part_averages_png, averages, css="part-averages"))
    else:
        out.append('<p class="missing">No scores yet.</p>')
    out.append('</div><table class="part-averages"><thead><tr><th class="name">part</th>'
               '<th>average</th><th>max</th><th>%</th><th>full marks</th></tr></thead><tbody>')
    for key, avg in averages.items():
        full = sum(1 for s in entries if s.scores.get(key) is not None
                   and s.scores[key] >= MAX_POINTS[key] - CHANGE_TOLERANCE)
        pct = "—" if avg is None else f"{100 * avg / MAX_POINTS[key]:.0f}%"
        out.append(f'<tr><td class="name">{e(key)}</td><td>{_fmt(avg)}</td><td>{MAX_POINTS[key]:g}</td>'
                   f'<td>{pct}</td><td>{full}</td></tr>')
    out.append("</tbody></table></section>")
    return "".join(out)


def _machine_note(entries: list[StudentEntry]) -> str:
    """The measured speed of the host(s) that graded: budgets are CPU seconds times cpu_factor."""
    machines = [s.result.machine for s in entries if s.result is not None and s.result.machine]
    if not machines:
        return '<p class="machine missing">Machine speed: not recorded.</p>'
    def span(key: str) -> str:
        values = sorted(float(m.get(key, 1.0)) for m in machines)
        return f"{values[0]:.2f}" if values[-1] - values[0] < 0.005 else f"{values[0]:.2f}–{values[-1]:.2f}"
    unmeasured = sum(1 for m in machines if not m.get("measured", True))
    return ('<p class="machine">Machine speed against the kit\'s baseline (&gt;1 is slower): '
            f'CPU ×<span class="cpu-factor">{span("cpu_factor")}</span>, '
            f'wall ×<span class="wall-factor">{span("wall_factor")}</span>; CPU budgets scaled by '
            f'×{span("budget_scale")}. A wall factor far above the CPU factor means a busy or '
            'CPU-limited host: grades do not depend on it.'
            + (f" {unmeasured} result(s) graded without a measurement." if unmeasured else "") + "</p>")


def _score_cell(value, key: str) -> str:
    if value is None:
        return '<td data-sort="" class="missing">—</td>'
    css = "full" if value >= MAX_POINTS[key] - CHANGE_TOLERANCE else ("zero" if value <= 0 else "")
    return f'<td data-sort="{float(value):.4f}" class="{css}">{_fmt(value)}</td>'


def _table(entries: list[StudentEntry]) -> str:
    head = ['<th class="name" data-type="text">student</th>']
    head += [f'<th data-type="num" title="max {MAX_POINTS[k]:g}">{e(k)}</th>' for k in SCORE_KEYS]
    head.append('<th class="name" data-type="text">flags</th>')
    out = ['<section id="students"><h2>Students</h2><p>Click a column header to sort. ',
           'Scores come from the gradebook when it has the submission (manual grade included), ',
           'otherwise from the result JSON.</p>',
           f'<table id="scores" class="sortable"><thead><tr>{"".join(head)}</tr></thead><tbody>']
    for s in entries:
        cls = ' class="flagged"' if s.flags else ""
        cells = [f'<td class="name" data-sort="{e(s.student.lower())}"><a href="#{e(s.anchor)}">{e(s.student)}</a></td>']
        cells += [_score_cell(s.scores.get(k), k) for k in SCORE_KEYS]
        cells.append(f'<td class="text" data-sort="{len(s.flags)}">{"".join(_badge(f) for f in s.flags)}</td>')
        out.append(f'<tr data-student="{e(s.student)}"{cls}>{"".join(cells)}</tr>')
    out.append("</tbody></table></section>")
    return "".join(out)


def _changes_html(changes: dict) -> str:
    return ", ".join(f'<span class="change">{e(k)}: {_fmt(old)} → {_fmt(new)}</span>'
                     for k, (old, new) in changes.items())


def _flag_details(s: StudentEntry) -> str:
    bits = []
    if s.changes:
        bits.append("changed: " + _changes_html(s.changes))
    if s.result is not None and s.result.tamper:
        bits.append("tamper: " + ", ".join(f"<code>{e(t)}</code>" for t in s.result.tamper[:20]))
    if s.result is not None and s.result.invalid:
        bits.append("invalid: " + e(s.result.invalid[:300]))
    if s.load_error:
        bits.append("unreadable: " + e(s.load_error[:300]))
    for f in s.flags:
        if f not in ("changed", "tamper"):
            bits.append(f"{e(f)}: {e(FLAG_INFO.get(f, ('', 'grader flag'))[1])}")
    return "<br>".join(bits)


def _flags_section(entries: list[StudentEntry], had_previous: bool) -> str:
    flagged = [s for s in entries if s.flags]
    counts = {f: sum(1 for s in entries if f in s.flags) for f in FLAG_ORDER}
    summary = " ".join(f"{_badge(f)}&nbsp;{n}" for f, n in counts.items() if n)
    out = ['<section id="flags"><h2>Flags</h2>']
    if not had_previous:
        out.append('<p class="missing">No previous run to compare scores with; '
                   'changes are flagged from the next run on.</p>')
    if not flagged:
        out.append("<p>No flagged submissions.</p></section>")
        return "".join(out)
    out.append(f"<p>{summary}</p>")
    out.append('<table id="flag-table" class="sortable"><thead><tr><th class="name" data-type="text">student</th>'
               '<th class="name" data-type="text">flags</th><th class="name" data-type="text">details</th>'
               '</tr></thead><tbody>')
    for s in flagged:
        out.append(f'<tr data-student="{e(s.student)}"><td class="name"><a href="#{e(s.anchor)}">{e(s.student)}</a></td>'
                   f'<td class="text">{"".join(_badge(f) for f in s.flags)}</td>'
                   f'<td class="text">{_flag_details(s)}</td></tr>')
    out.append("</tbody></table></section>")
    return "".join(out)


def _student_section(s: StudentEntry) -> str:
    r = s.result
    total = s.scores.get("total")
    out = [f'<section class="student" id="{e(s.anchor)}" data-student="{e(s.student)}">',
           f'<h3>{e(s.student)} — {_fmt(total)} / {MAX_POINTS["total"]:g}</h3>']
    if s.flags:
        out.append(f'<p class="flags">{"".join(_badge(f) for f in s.flags)}</p>')
    if s.changes:
        out.append(f"<p>Changed since the last run: {_changes_html(s.changes)}</p>")
    # per-part line
    parts = " · ".join(f"{e(k)} {_fmt(s.scores.get(k))}/{MAX_POINTS[k]:g}" for k in (*PARTS, "manual"))
    out.append(f'<p class="parts">{parts} <span class="missing">(scores from {e(s.source)})</span></p>')
    if r is None:
        why = s.load_error or "no result JSON for this submission"
        out.append(f'<p class="missing">No grader result: {e(why)}</p></section>')
        return "".join(out)
    if r.invalid:
        out.append(f"<p><b>Not gradable:</b> {e(r.invalid)}</p>")
    if r.tamper:
        out.append("<p><b>Tamper suspicion:</b> " + ", ".join(f"<code>{e(t)}</code>" for t in r.tamper[:50]) + "</p>")

    failed = [c for p in r.parts.values() for c in p.checks if c.status != "passed" or c.credit < 1.0]
    if failed:
        # Checks of one part failing with the very same message (an untouched stub) share a row.
        groups: dict[tuple[str, str, str], list] = {}
        for c in failed:
            groups.setdefault((c.part, c.status, c.message), []).append(c)
        out.append(f'<h4>Failed checks ({len(failed)})</h4><table class="checks"><thead><tr><th>part</th>'
                   '<th>check</th><th>status</th><th>credit</th><th>message (expected / got)</th></tr></thead><tbody>')
        for (part, status, message), checks in groups.items():
            names = "<br>".join(f'<code class="check-name">{e(c.name)}</code>' for c in checks)
            credit = ", ".join(_fmt(c.credit) for c in checks) if len({c.credit for c in checks}) > 1 \
                else _fmt(checks[0].credit)
            out.append(f'<tr class="failed-check"><td>{e(part)}</td><td>{names}</td>'
                       f'<td class="status-{e(status)}">{e(status)}</td><td>{credit}</td>'
                       f'<td><pre>{e(message[:4000])}</pre></td></tr>')
        out.append("</tbody></table>")
    else:
        out.append('<p class="full">All checks passed.</p>')

    a = r.artifacts if isinstance(r.artifacts, dict) else {}
    figs = []
    if a.get("boundary") is not None:
        figs.append(_figure("Decision boundary of BEST_CONFIG over the rings", boundary_png,
                            a["boundary"], a.get("best_config"), css="boundary"))
    if a.get("best_losses"):
        figs.append(_figure("Loss per epoch of the student's train on BEST_CONFIG", losses_png,
                            a["best_losses"], css="losses"))
    if a.get("results"):
        figs.append(_figure("RESULTS per factor", results_png, a["results"], css="results-chart"))
    missing = [name for name, key in (("decision boundary", "boundary"), ("loss curve", "best_losses"),
                                      ("RESULTS", "results")) if not a.get(key)]
    if figs:
        out.append(f'<div class="figs">{"".join(figs)}</div>')
    if missing:
        out.append(f'<p class="missing">Not available: {e(", ".join(missing))}.</p>')

    info = []
    if a.get("best_config") is not None:
        info.append(f"<b>BEST_CONFIG</b>: <code>{e(json.dumps(a['best_config'], ensure_ascii=False)[:500])}</code>")
    if a.get("best_accuracies") is not None:
        accs = a["best_accuracies"]
        text = ", ".join(_fmt(v, 4) for v in accs) if isinstance(accs, list) else e(accs)
        info.append(f"held-out accuracies (seeds): {text}")
    if a.get("best_reference_accuracy") is not None:
        info.append(f"reference accuracy: {_fmt(a['best_reference_accuracy'], 4)}")
    timings = r.timings if isinstance(r.timings, dict) else {}
    if timings:
        info.append("timings: " + ", ".join(f"{e(k)}={e(v)}" for k, v in timings.items()))
    if r.sandbox:
        info.append(f"sandbox: {e(r.sandbox)}")
    bad_cells = {k: v for k, v in (r.cell_status or {}).items() if v != "ok"}
    if bad_cells:
        info.append("cells not ok: " + ", ".join(f"{e(k)}={e(v)}" for k, v in list(bad_cells.items())[:40]))
    if info:
        out.append('<p class="info">' + "<br>".join(info) + "</p>")
    if r.grader_log:
        out.append(f"<details><summary>grader log (TA only)</summary><pre>{e(r.grader_log[-20000:])}</pre></details>")
    out.append("</section>")
    return "".join(out)


def render_html(entries: list[StudentEntry], *, assignment: str, had_previous: bool,
                gradebook_used: bool) -> str:
    script = SORT_JS.strip()
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    # Nothing may load from anywhere; only this exact script runs, even if escaping ever failed.
    csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'")
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    source = "gradebook + result JSONs" if gradebook_used else "result JSONs (no gradebook)"
    nav = ['<a href="#overview">Overview</a>', '<a href="#students">Students</a>', '<a href="#flags">Flags</a>']
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(assignment)} grading report</title><style>{STYLE}</style></head><body>",
        f"<header><h1>{e(assignment)}: grading report</h1>"
        f"<p>Generated {e(now)} · {len(entries)} submissions · scores from {e(source)} · TA only</p></header>",
        f'<nav>{"".join(nav)}</nav><main>',
        _overview(entries),
        _table(entries),
        _flags_section(entries, had_previous),
        '<h2 id="per-student">Per student</h2>',
        *(_student_section(s) for s in entries),
        f"</main><script>{script}</script></body></html>",
    ]
    return "\n".join(body)


# --------------------------------------------------------------------------- files


def write_parts_csv(entries: list[StudentEntry], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *SCORE_KEYS])
        for s in entries:
            writer.writerow([s.student, *("" if s.scores.get(k) is None else round(float(s.scores[k]), 4)
                                          for k in SCORE_KEYS)])
    return path


def _load_previous(path: Path) -> dict[str, dict] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        scores = data.get("scores")
        return scores if isinstance(scores, dict) else None
    except (OSError, ValueError, AttributeError):
        return None


def build_report(*, course: Path, assignment: str = ASSIGNMENT_ID, out: Path | None = None,
                 gradebook=None) -> Path:
    """Write the assignment's HTML report, per-part CSV and score snapshot; return the HTML path.

    ``gradebook``: an open ``nbgrader.api.Gradebook`` to read scores from (the export plugin
    passes its own); by default ``<course>/gradebook.db`` is opened if it exists.
    """
    course = Path(course)
    reports = course / "reports"
    out = Path(out) if out is not None else reports / f"{assignment}_report.html"
    snapshot = reports / f"{assignment}_scores.json"
    previous = _load_previous(snapshot)
    entries = collect(course, assignment, gradebook, previous)
    gradebook_used = any(s.source == "gradebook" for s in entries)
    page = render_html(entries, assignment=assignment, had_previous=previous is not None,
                       gradebook_used=gradebook_used)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    write_parts_csv(entries, reports / f"{assignment}_parts.csv")
    snapshot.write_text(json.dumps({
        "assignment": assignment,
        "generated": _dt.datetime.now().isoformat(timespec="seconds"),
        "scores": {s.student: s.scores for s in entries},
    }, indent=1, ensure_ascii=False), encoding="utf-8")
    return out
