"""labkit/grading/forkserver.py: what every trusted grader child starts from."""
from __future__ import annotations

import gc

from labkit.grading import forkserver


def _report_frozen(queue) -> None:
    queue.put((gc.get_freeze_count(), gc.isenabled()))


def test_grader_children_start_with_the_preloaded_heap_frozen():
    """torch, scikit-learn, hypothesis and pytest are out of the collector's reach in every grader
    (labkit/worker/heap_freeze.py): a full collection there walks only what the grading made."""
    context = forkserver.context()
    queue = context.SimpleQueue()
    with forkserver.hidden_main():
        child = context.Process(target=_report_frozen, args=(queue,))
        child.start()
    child.join(120)
    assert child.exitcode == 0
    frozen, enabled = queue.get()
    assert frozen > 100_000, frozen
    assert enabled, "the collector still runs for the objects a grading creates"


def test_heap_freeze_comes_last_in_the_preload():
    """Whatever is imported after the freeze would be walked again by every collection."""
    assert forkserver.PRELOAD[-1] == "labkit.worker.heap_freeze"
