"""The trusted client and the worker: notebook execution, calls, failures, restarts."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import nbformat
import numpy as np
import pytest

from labkit.core.assignment import load
from labkit.grading.client import Missing, StudentError, Submission, WorkerCrashed, WorkerTimeout
from labkit.protocol.codec import Handle
from labkit.core.settings import REPO_ROOT, Limits

LAB06 = load("lab06", REPO_ROOT)   # the worker loads its helpers, as for every graded notebook

FAST = dataclasses.replace(Limits(), cell_seconds=8, notebook_seconds=60, call_seconds=6, worker_restarts=6)


def notebook(tmp_path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def run(tmp_path):
    subs = []

    def start(*cells: str) -> Submission:
        sub = Submission(assignment=LAB06, notebook=notebook(tmp_path, *cells), limits=FAST)
        subs.append(sub)
        sub.start()
        return sub

    yield start
    for sub in subs:
        sub.close()


def test_cells_leave_the_outputs_a_kernel_would(run):
    sub = run("print('hej')\n41 + 1",
              "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()",
              "%matplotlib inline\nx = 1",
              "1/0",
              "y = x + 1")
    runs = sub.cell_runs
    assert runs[0].outputs[0]["text"] == "hej\n"
    assert runs[0].outputs[1]["data"]["text/plain"] == "42"
    assert "image/png" in runs[1].outputs[0]["data"]
    assert runs[2].status == "ok"
    assert runs[3].status == "error" and runs[3].outputs[-1]["ename"] == "ZeroDivisionError"
    assert any("<komórka 3>" in line for line in runs[3].outputs[-1]["traceback"])
    assert sub.get("y") == 2


def test_calls_return_data_and_student_errors_carry_their_traceback(run):
    sub = run("import numpy as np\ndef f(n):\n    return np.random.rand(n)\n"
              "def bad():\n    raise ValueError('zły')")
    a, b = sub.call("f", 3, _seed=1).value, sub.call("f", 3, _seed=1).value
    assert np.array_equal(a, b) and not np.array_equal(a, sub.call("f", 3, _seed=2).value)
    with pytest.raises(StudentError) as err:
        sub.call("bad")
    assert err.value.type == "ValueError" and "zły" in err.value.message
    with pytest.raises(Missing):
        sub.call("nie_ma")


def test_a_hanging_call_times_out_once_and_the_rest_still_works(run):
    sub = run("def hang():\n    while True:\n        pass\n", "def ok():\n    return 7")
    with pytest.raises(WorkerTimeout) as hung:
        sub.call("hang", _timeout=2)
    assert hung.value.kind == "cpu" and sub.last_cpu_seconds >= 2
    assert sub.call("ok").value == 7          # a fresh worker replayed the notebook
    with pytest.raises(WorkerTimeout) as again:
        sub.call("hang")
    assert again.value.earlier                 # fails fast the second time


def test_a_sleeping_call_is_stopped_as_idle_not_charged_as_cpu(tmp_path):
    limits = dataclasses.replace(FAST, idle_seconds=1.0)
    with Submission(assignment=LAB06, notebook=notebook(tmp_path, "import time\ndef nap():\n    time.sleep(10**6)\n"
                                                            "def ok():\n    return 3"), limits=limits) as sub:
        with pytest.raises(WorkerTimeout) as slept:
            sub.call("nap")
        assert slept.value.kind == "idle" and slept.value.seconds == 1.0
        assert sub.last_cpu_seconds < 1.0
        assert sub.call("ok").value == 3


def test_cpu_spent_in_a_forked_child_is_charged_to_the_call(run):
    """The parent only waits (asleep) while its child computes: still the student's CPU time."""
    sub = run("import os\ndef spin_in_child():\n    pid = os.fork()\n    if pid == 0:\n"
              "        while True:\n            pass\n    os.waitpid(pid, 0)\n")
    with pytest.raises(WorkerTimeout) as spun:
        sub.call("spin_in_child", _timeout=1.5)
    assert spun.value.kind == "cpu"
    assert sub.last_cpu_seconds >= 1.5


def test_a_call_that_kills_the_worker_is_reported_and_handles_go_stale(run):
    sub = run("import os, torch\nmodel = torch.nn.Linear(2, 1)\ndef die():\n    os._exit(3)\n"
              "def ok():\n    return 1")
    model = sub.get("model")
    assert isinstance(model, Handle)
    with pytest.raises(WorkerCrashed):
        sub.call("die")
    assert sub.call("ok").value == 1
    with pytest.raises(WorkerCrashed):
        sub.op("describe", model)


def test_cells_that_hang_or_kill_the_worker_are_skipped_on_replay(run):
    sub = run("a = 1", "while True:\n    pass", "import os\nos._exit(1)", "b = a + 1")
    status = {i: r.status for i, r in sub.cell_runs.items()}
    assert status == {0: "ok", 1: "timeout", 2: "crashed", 3: "ok"}
    assert sub.get("b") == 2 and {"cell_timeout", "cell_crash"} <= sub.flags


def test_exit_calls_are_cell_errors_not_worker_deaths(run):
    sub = run("import sys\nsys.exit(0)", "z = 5")
    assert sub.cell_runs[0].status == "error" and sub.get("z") == 5


def test_rebinding_a_library_function_is_flagged(run):
    sub = run("import torch\ntorch.allclose = lambda *a, **k: True")
    assert "torch.allclose" in sub.tamper and "tamper" in sub.flags


def test_output_flood_is_truncated(run):
    sub = run("for i in range(200000):\n    print('x' * 50)")
    text = sub.cell_runs[0].outputs[0]["text"]
    assert len(text) < FAST.output_bytes + 200 and "pominięto" in text


def test_names_lists_the_public_globals_and_can_ask_for_one(run):
    sub = run("import numpy as np\nLIMIT = 3\n_hidden = 1\n"
              "def f(x, y=2):\n    return x\nclass Model:\n    pass\n")
    everything = sub.names()
    assert everything["f"] == {"kind": "function", "type": "function", "signature": "(x, y=2)"}
    assert everything["Model"]["kind"] == "class" and everything["LIMIT"]["kind"] == "value"
    assert "_hidden" not in everything
    assert sub.names(only="f") == {"f": everything["f"]}
    assert sub.names(only="missing") == {} and sub.names(only="_hidden") == {}
