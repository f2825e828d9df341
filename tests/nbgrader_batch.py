"""Run nbgrader commands one after another in one Python process, as nbgrader's own test suite
runs them (``nbgrader.tests.run_nbgrader``): each step is nbgrader's real application with its
command-line arguments, in its own working directory and environment (a student's HOME, the
course root). Only the interpreter's start-up and nbgrader's import, several seconds of CPU per
command, are paid once per batch.

    python tests/nbgrader_batch.py STEPS.json

STEPS.json is a list of ``{"cwd": ..., "env": {...}, "argv": ["collect", "lab06", ...]}``.
The batch stops at the first command that fails (exit status 1) after printing its log; every
command's log goes to stderr, headed by the command.
"""
from __future__ import annotations

import json
import os
import sys
import time


def run(step: dict) -> int:
    """One nbgrader command, like ``nbgrader <argv>`` typed in ``cwd`` with ``env``."""
    from jupyter_core.application import NoStart
    from nbgrader.apps import NbGraderApp
    os.chdir(step["cwd"])
    os.environ.clear()
    os.environ.update(step["env"])
    print(f"$ nbgrader {' '.join(step['argv'])}   (in {step['cwd']})", file=sys.stderr, flush=True)
    app = NbGraderApp.instance()
    try:
        app.initialize(step["argv"])
        app.start()
        return 0
    except NoStart:             # the subcommand ran; the parent app has nothing of its own to start
        return 0
    except SystemExit as exc:   # how the apps report a failure (and --help)
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        app.reset()   # a fresh app (and config) for the next command, as nbgrader's tests do


def main(path: str) -> int:
    with open(path, encoding="utf-8") as fh:
        steps = json.load(fh)
    for step in steps:
        start = time.perf_counter()
        status = run(step)
        print(f"({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
        if status:
            print(f"FAILED ({status}): nbgrader {' '.join(step['argv'])}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
