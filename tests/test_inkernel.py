"""labkit/inkernel.py: the kit's checks inside the notebook's own process (stock-nbgrader mode).

The nbgrader round trip of this mode is in tests/test_roundtrip.py
(``test_stock_nbgrader_running_the_checks_in_kernel_agrees_with_the_kit``).
"""
from __future__ import annotations

import pytest

from labkit.inkernel import grade_part
from labkit.notebook import reference_cells
from labkit.settings import PART_POINTS, PARTS


@pytest.fixture(scope="module")
def reference_namespace() -> dict:
    namespace = {"__name__": "__main__"}
    for cell in reference_cells():
        exec(compile(cell.source, f"<cell {cell.index}>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("part", PARTS)
def test_reference_earns_every_point_in_kernel(reference_namespace, part, capsys):
    score = grade_part(part, reference_namespace, cells=reference_cells())
    assert score == pytest.approx(PART_POINTS[part])
    # The score is published as the cell's value (sys.displayhook): nbgrader's partial credit.
    assert capsys.readouterr().out.strip().splitlines()[-1] == repr(score)


def test_an_empty_notebook_earns_nothing_and_says_what_is_missing(capsys):
    assert grade_part("data", {"__name__": "__main__"}, cells=[]) == 0
    out = capsys.readouterr().out
    assert "make_rings" in out and "Traceback" not in out
