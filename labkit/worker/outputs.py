"""What a cell shows, as a kernel would leave it: bounded streams, results, displays, figures."""
from __future__ import annotations

import base64
import io
from typing import Any

_MAX_REPR = 4000
# The note that replaces output beyond the limit, in the assignment's language.
TRUNCATED = {"pl": "\n[... pominięto {n} znaków wyjścia ...]\n",
             "en": "\n[... {n} characters of output left out ...]\n"}


class BoundedText(io.TextIOBase):
    """A stdout/stderr stand-in that keeps at most ``limit`` characters."""

    def __init__(self, limit: int, note: str = TRUNCATED["pl"]):
        self.limit = limit
        self.note = note
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(len(text), room)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def getvalue(self) -> str:
        value = "".join(self.parts)
        if self.dropped:
            value += self.note.format(n=self.dropped)
        return value


class CellOutputs:
    """The current cell's rich outputs (results, ``display()``, figures)."""

    def __init__(self, images_per_cell: int):
        self.images_per_cell = images_per_cell
        self.items: list[dict] = []

    def install(self, namespace: dict) -> None:
        """``plt.show()`` and ``display()`` in ``namespace`` record into this cell's outputs."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        outputs = self

        def show(*_args, **_kwargs):
            outputs.flush_figures()

        plt.show = show

        def display(*objs, **_kwargs):
            for obj in objs:
                outputs.add_result(obj, "display_data")

        namespace["display"] = display

    def flush_figures(self) -> None:
        """Every open matplotlib figure as a PNG output (at most ``images_per_cell``), then closed."""
        import matplotlib.pyplot as plt
        for number in plt.get_fignums():
            figure = plt.figure(number)
            if sum(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
                   for o in self.items) < self.images_per_cell:
                buffer = io.BytesIO()
                try:
                    figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
                    self.items.append({
                        "output_type": "display_data", "metadata": {},
                        "data": {"image/png": base64.b64encode(buffer.getvalue()).decode(),
                                 "text/plain": f"<Figure {number}>"}})
                except Exception:  # a broken figure must not break the cell's other outputs
                    pass
        plt.close("all")

    def add_result(self, value: Any, kind: str, count: int | None = None) -> None:
        """A value's repr as an ``execute_result`` or ``display_data`` output."""
        try:
            text = repr(value)
        except Exception as exc:
            text = f"<repr failed: {type(exc).__name__}>"
        output = {"output_type": kind, "metadata": {}, "data": {"text/plain": text[:_MAX_REPR]}}
        if kind == "execute_result":
            output["execution_count"] = count
        self.items.append(output)
