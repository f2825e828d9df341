"""The trusted graders' forkserver: one per grading process, with the heavy imports paid once.

Every trusted grader (labkit/grading/grade.py) and the machine-speed workload
(labkit/grading/speed.py) is forked from it, so none of them pays for importing torch,
scikit-learn, hypothesis or pytest again.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
from pathlib import Path

from labkit.core.assignment import Assignment
from labkit.core.settings import HEAVY_IMPORTS, THREADS

_KIT_PARENT = str(Path(__file__).resolve().parent.parent.parent)


def grader_env(assignment: Assignment | None = None) -> dict[str, str]:
    """The trusted grader's environment: one thread, no user site, the kit importable, and
    the assignment's checks and reference importable."""
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS), "MPLBACKEND": "Agg",
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", **GRADER_PYTEST_ENV})
    paths = assignment.import_paths() if assignment is not None else []
    env["PYTHONPATH"] = os.pathsep.join([_KIT_PARENT, *paths])
    if assignment is not None:
        env.update(assignment.env())
    return env


# The grader loads only the plug-ins its command line names (-p labkit.grading.pytest_plugin): no
# plug-in that happens to be installed (anyio, xdist, hypothesis's reporter) runs beside the
# hidden checks, and loading them cost about 1 CPU s per grading.
GRADER_PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

# The heavy libraries (core.settings.HEAVY_IMPORTS, shared with the zygote) and the grader's own,
# shared by every assignment's graders (each fork imports its own assignment's checks and
# reference, which are cheap once torch is in). heap_freeze comes last: the graders' garbage
# collections skip the preloaded heap.
PRELOAD = [*HEAVY_IMPORTS, "hypothesis", "hypothesis.strategies", "pytest", "nbformat",
           "labkit.grading.pytest_plugin", "labkit.grading.client", "labkit.worker.heap_freeze"]
_CONTEXT = None
_CONTEXT_LOCK = threading.Lock()


def context():
    """The forkserver context, created once per grading process with the heavy imports preloaded."""
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            # The forkserver inherits this environment: one thread for every grader child.
            for key, value in grader_env().items():
                if key.endswith("_THREADS") or key in ("MPLBACKEND", "PYTHONHASHSEED"):
                    os.environ[key] = value
            forkserver = multiprocessing.get_context("forkserver")
            forkserver.set_forkserver_preload(PRELOAD)
            _CONTEXT = forkserver
    return _CONTEXT



@contextlib.contextmanager
def hidden_main():
    """Start a grader child without re-running the caller's ``__main__`` in it.

    multiprocessing re-imports the parent's main script in every child; the grader's
    target lives in this module, and a caller without an ``if __name__ == "__main__"``
    guard (or reading from stdin) would otherwise break or re-run itself per submission.
    """
    main = sys.modules["__main__"]
    with _CONTEXT_LOCK:  # one start at a time: threads must not restore each other's main
        saved = {k: main.__dict__.pop(k) for k in ("__file__", "__spec__") if k in main.__dict__}
        main.__spec__ = None  # multiprocessing reads it; None and no __file__: nothing to re-run
        try:
            yield
        finally:
            del main.__spec__
            main.__dict__.update(saved)
