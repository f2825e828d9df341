"""The report's pictures: matplotlib on the Agg backend, rendered to inline PNG."""
from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any, Callable

from labkit.insight.item_analysis import ItemAnalysis

DPI = 64


def plain(text, limit: int = 24) -> str:
    """A student-derived string made safe for matplotlib text (no mathtext, bounded)."""
    text = str(text).replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _fraction(value: float | None, top: float) -> float:
    return (value or 0.0) / top if top else 0.0

def plt():
    """matplotlib.pyplot on the Agg backend (the report runs without a display)."""
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as pyplot
    return pyplot


def png(fig) -> str:
    """``fig`` as a small PNG data URI; the figure is closed."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt().close(fig)
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


@dataclass(frozen=True)
class Figure:
    """A drawn figure (``uri``) or why it could not be drawn (``error``); the templates'
    ``m.figure`` macro shows either."""

    label: str
    css: str = ""
    uri: str = ""
    error: str = ""


def figure(label: str, make: Callable[..., str], *args: Any, css: str = "") -> Figure:
    """``make(*args)`` (a PNG data URI) as a Figure; a failure (e.g. malformed student
    artifacts) becomes the figure's error, never the report's."""
    try:
        return Figure(label, css, uri=make(*args))
    except Exception as exc:
        return Figure(label, css, error=f"{type(exc).__name__}: {str(exc)[:200]}")


def histogram_png(totals: list[float], top: float) -> str:
    fig, ax = plt().subplots(figsize=(6.4, 2.8))
    bins = list(range(int(math.ceil(top)) + 2))
    ax.hist([min(max(t, 0.0), top) for t in totals], bins=bins, color="#4c72b0", edgecolor="white")
    ax.set_xlim(0, top + 1)
    ax.set_xlabel(f"total points (max {top:g})")
    ax.set_ylabel("students")
    ax.set_title("Score distribution")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return png(fig)


def part_averages_png(averages: dict[str, float | None], maxima: dict[str, float]) -> str:
    keys = list(averages)[::-1]   # barh draws bottom-up; the first part goes on top
    fig, ax = plt().subplots(figsize=(6.4, 2.8))
    bars = ax.barh(keys, [100 * _fraction(averages[k], maxima[k]) for k in keys], color="#55a868")
    for bar, k in zip(bars, keys):
        label = "n/a" if averages[k] is None else f"{averages[k]:.2f} / {maxima[k]:g}"
        ax.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, label, va="center", fontsize=8)
    ax.set_xlim(0, 125)
    ax.set_xlabel("average, % of the part's points")
    ax.set_title("Per-part averages")
    return png(fig)


def item_fail_rates_png(analysis: ItemAnalysis) -> str:
    """Each check's fail rate with its 95% interval; flagged checks in red."""
    checks = analysis.checks[::-1]   # barh draws bottom-up; the notebook's first check goes on top
    fig, ax = plt().subplots(figsize=(7.2, max(2.4, 0.22 * len(checks) + 0.8)))
    rates = [100 * c.fail_rate for c in checks]
    low = [100 * (c.fail_rate - c.interval[0]) for c in checks]
    high = [100 * (c.interval[1] - c.fail_rate) for c in checks]
    colours = ["#c44e52" if c.flags else "#4c72b0" for c in checks]
    ax.barh(range(len(checks)), rates, xerr=[low, high], color=colours, ecolor="#555", capsize=2)
    ax.set_yticks(range(len(checks)), [plain(c.label, 60) for c in checks], fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("students failing the check, % (bars: 95% Wilson interval; red: flagged)")
    ax.set_title(f"Which checks the class fails ({analysis.students} submissions)")
    return png(fig)
