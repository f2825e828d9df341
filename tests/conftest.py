"""Collection rules for the kit's own tests, and their torch threads."""
import os

# One torch thread in every test process, as in every grading worker (labkit/worker/server.py): the
# suite runs its modules on one pytest-xdist worker per CPU, and torch's default of one
# thread per core made two in-process trainings fight over both cores (the in-kernel
# module's reference namespace took 70 CPU s on two threads, 34 on one). nbgrader's
# subprocesses and stock-mode kernels inherit the variable.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def pytest_configure(config):
    import torch   # imported by nearly every module anyway; a plug-in may have imported it already
    torch.set_num_threads(1)
    _share_the_reference_memo(config)


def _share_the_reference_memo(config) -> None:
    """One reference memo (labkit/grading/memo.py) for every course the session builds.

    Each test course is a fresh temporary root, and a memo in ``<course>/.labkit-cache`` made
    every course's first gradings recompute the reference (about 4 grader CPU s each, dozens
    of courses). Entries are keyed by the grader's fingerprint, so courses whose checks or
    settings differ never share one. Set by the controller before pytest-xdist starts its
    workers, which inherit it; tests of the memo itself set their own.
    """
    from labkit.grading import memo
    if hasattr(config, "workerinput") or memo.ENV in os.environ:
        return
    import shutil
    import tempfile
    folder = tempfile.mkdtemp(prefix="labkit-test-memo-")
    os.environ[memo.ENV] = folder
    config.add_cleanup(lambda: (os.environ.pop(memo.ENV, None), shutil.rmtree(folder, ignore_errors=True)))


# The minimal course's hidden checks are a fixture: they run only inside a grading run of that
# course (tests/test_new_assignment.py), which names its assignment. Collected here, they would
# ask for an assignment that the kit's suite has no reason to pick.
collect_ignore = ["minimal_course"]


# Modules by the time they took in the last serial run (seconds, most first). ./kit test runs
# whole modules on pytest-xdist workers in collection order; longest-first keeps two long
# batches from meeting at the end of the run, while the short modules fill the gaps.
LONGEST_FIRST = [
    "test_grader_corpus.py",    # 531
    "test_hostile.py",          # 457
    "test_roundtrip.py",        # 317 + the stock comparison
    "test_exchange.py",         # 103
    "test_overrides.py",        # 97
    "test_formgrader.py",       # 76
    "test_lms_e2e.py",          # 75
    "test_inkernel.py",         # 52
    "test_parallel.py",         # 52
    "test_new_assignment.py",   # 50
    "test_sandbox.py",
    "test_zygote.py",
    "test_report.py",
]


def pytest_collection_modifyitems(config, items):
    """Longest modules first (LONGEST_FIRST), then the rest, each module's tests in their own order."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_collection_finish(session):
    """Freeze what collection imported (torch, nbgrader, hypothesis...): the test process's full
    garbage collections then walk only what the tests make. Without it each full collection
    walked about half a million objects (0.2-0.3 CPU s), some twenty times per module set;
    the graders and workers do the same (labkit/worker/heap_freeze.py)."""
    import gc
    gc.collect()
    gc.freeze()
