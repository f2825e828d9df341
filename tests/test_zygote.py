"""Workers forked from the zygote (labkit/sandbox/zygote.py): fresh, confined and independent.

The sandbox attacks of tests/test_sandbox.py run on this path too (``bwrap-zygote``); here
are the properties only a shared parent could break: what one worker does must never reach
the next one or a concurrent one, and the zygote must outlive every kind of worker death.
"""
from __future__ import annotations

import json
import os
import socket
import dataclasses
import time
from pathlib import Path

import nbformat
import pytest

from labkit.sandbox import launch as sandbox
from labkit.sandbox import zygote
from labkit.core.assignment import load
from labkit.grading.client import Submission, WorkerCrashed
from labkit.sandbox.worker_process import _running as _alive
from labkit.core.settings import REPO_ROOT, Settings, load_settings

pytestmark = pytest.mark.skipif(not (sandbox.bwrap_path() and sandbox._bwrap_works()),
                                reason="the zygote needs bubblewrap")
SETTINGS = Settings(sandbox="required", zygote=True)
LAB06 = load("lab06", REPO_ROOT)   # each forked worker takes on lab06's helpers, as when grading

SPY = (
    "import ctypes, json, os, socket, torch\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "def state():\n"
    "    seen = {'pid': os.getpid(), 'uid': os.getuid(), 'proc': sorted(os.listdir('/proc')),\n"
    "            'tmp': sorted(os.listdir('/tmp')), 'home': sorted(os.listdir('.')),\n"
    "            'dumpable': libc.prctl(3, 0, 0, 0, 0),\n"
    "            'umount_tmp': libc.umount2(b'/tmp', 2), 'sethostname': libc.sethostname(b'x', 1),\n"
    "            'add_is_pristine': torch.Tensor.add.__name__ == 'add',\n"
    "            'seed_is_pristine': torch.manual_seed.__module__ == 'torch.random',\n"
    "            'frozen_objects': __import__('gc').get_freeze_count()}\n"
    "    try:\n"
    "        socket.socket(socket.AF_UNIX).connect('\\0labkit-test-peer')\n"
    "        seen['peer_socket'] = 'connected'\n"
    "    except OSError as exc:\n"
    "        seen['peer_socket'] = type(exc).__name__\n"
    "    return seen\n"
)
# What a hostile student leaves behind for whoever comes next.
LITTER = (
    "open('/tmp/left-by-a', 'w').write('x')\n"
    "open('left-in-home', 'w').write('x')\n"
    "torch.Tensor.add = lambda *a, **k: 'patched'\n"
    "torch.manual_seed = lambda *a, **k: None\n"
    "listener = socket.socket(socket.AF_UNIX)\n"
    "listener.bind('\\0labkit-test-peer')\n"
    "listener.listen(1)\n"
)


def bound_below_tmp() -> set[str]:
    """What a worker's fresh /tmp may list: the first component of binds that live below /tmp
    (the venv and the kit, when the checkout itself is under /tmp, as in a CI clone)."""
    binds = [*sandbox._readable_roots(), REPO_ROOT / "labkit"]
    return {Path(b).parts[2] for b in binds if str(b).startswith("/tmp/")}


def notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(path))
    return path


def test_workers_come_from_the_zygote_and_are_pid_1_without_privileges(tmp_path):
    with Submission(assignment=LAB06, notebook=notebook(tmp_path / "a.ipynb", SPY), settings=SETTINGS) as sub:
        assert isinstance(sub.proc, zygote.ZygoteChild)
        seen = sub.call("state").value
    assert seen["pid"] == 1 and seen["uid"] == 65534
    assert seen["proc"] == [], "peers are not even listed"
    assert seen["dumpable"] == 0
    assert seen["umount_tmp"] == -1 and seen["sethostname"] == -1, "no capabilities left"
    # The zygote's imports (torch, scikit-learn, matplotlib) are frozen before it forks, so the
    # student's garbage collections do not walk them (labkit/worker/heap_freeze.py).
    assert seen["frozen_objects"] > 100_000, seen["frozen_objects"]


def test_nothing_a_worker_leaves_behind_reaches_a_concurrent_or_a_later_one(tmp_path):
    hostile = Submission(assignment=LAB06, notebook=notebook(tmp_path / "a.ipynb", SPY, LITTER), settings=SETTINGS)
    hostile.start()
    try:
        assert hostile.cell_runs[1].status == "ok", hostile.cell_runs[1]
        assert "left-by-a" in hostile.call("state").value["tmp"]
        with Submission(assignment=LAB06, notebook=notebook(tmp_path / "b.ipynb", SPY),
                        settings=SETTINGS) as concurrent:
            seen_meanwhile = concurrent.call("state").value
    finally:
        hostile.close()
    with Submission(assignment=LAB06, notebook=notebook(tmp_path / "c.ipynb", SPY), settings=SETTINGS) as later:
        seen_later = later.call("state").value
    for seen in (seen_meanwhile, seen_later):
        assert set(seen["tmp"]) <= bound_below_tmp() and "left-in-home" not in seen["home"]
        assert seen["add_is_pristine"] and seen["seed_is_pristine"]
        assert seen["peer_socket"] != "connected", "each worker has its own network namespace"


def test_the_zygote_outlives_crashes_kills_and_hangs(tmp_path):
    address = zygote.shared_address(load_settings().limits)
    cells = ("import ctypes, os\n"
             "def die(code):\n    os._exit(code)\n"
             "def segfault():\n    ctypes.string_at(0)\n"
             "def hang():\n    while True:\n        pass\n")
    with Submission(assignment=LAB06, notebook=notebook(tmp_path / "a.ipynb", cells), settings=SETTINGS) as sub:
        with pytest.raises(WorkerCrashed) as died:
            sub.call("die", 3)
        assert "exit code 3" in died.value.detail
        with pytest.raises(WorkerCrashed) as segv:
            sub.call("segfault")
        assert "SIGSEGV" in segv.value.detail
        with pytest.raises(Exception):
            sub.call("hang", _timeout=2)
        assert isinstance(sub.proc, zygote.ZygoteChild) or sub.proc is None
    assert zygote.shared_address(load_settings().limits) == address, "the same zygote serves on"
    with Submission(assignment=LAB06, notebook=notebook(tmp_path / "b.ipynb", "x = 1"), settings=SETTINGS) as sub:
        assert sub.get("x") == 1


def test_larger_limits_after_smaller_ones_get_their_own_zygote(tmp_path):
    # A zygote's hard rlimits bound every worker it forks, so one started for a smaller set
    # (another module of the same test process, a shrunk batch) must not serve a larger one.
    larger = load_settings().limits
    smaller = dataclasses.replace(larger, memory_bytes=larger.memory_bytes // 2,
                                  cpu_seconds=larger.cpu_seconds // 2)
    small_address = zygote.shared_address(smaller)
    large_address = zygote.shared_address(larger)
    assert small_address and large_address and small_address != large_address
    assert zygote.shared_address(smaller) == small_address, "each set keeps its zygote"
    probe = ("import resource\n"
             "def hard_limits():\n"
             "    return [resource.getrlimit(r)[1] for r in (resource.RLIMIT_AS, resource.RLIMIT_CPU)]\n")
    for limits in (smaller, larger):
        with Submission(assignment=LAB06, notebook=notebook(tmp_path / "a.ipynb", probe),
                        settings=SETTINGS, limits=limits) as sub:
            assert isinstance(sub.proc, zygote.ZygoteChild), "forked, not a cold fallback"
            assert sub.restarts == 0
            assert sub.call("hard_limits").value == [limits.memory_bytes, limits.cpu_seconds + 5]


def test_a_client_that_hangs_up_takes_its_worker_along():
    limits = load_settings().limits
    child = zygote.ZygoteChild(zygote.shared_address(limits), limits=limits, cgroup=None,
                               env=sandbox.worker_env(limits, 1, zygote.HOME))
    assert os.path.exists(f"/proc/{child.pid}")
    child.close()
    child.stdin.close()
    child.stdout.close()
    for _ in range(200):
        if not _alive(child.pid):
            break
        time.sleep(0.01)
    assert not _alive(child.pid)


def test_an_unreachable_zygote_falls_back_to_a_cold_worker(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LABKIT_ZYGOTE_ADDRESS", str(tmp_path / "nobody-listens.sock"))
    with Submission(assignment=LAB06, notebook=notebook(tmp_path / "a.ipynb", "x = 2"), settings=SETTINGS) as sub:
        assert not isinstance(sub.proc, zygote.ZygoteChild)
        assert sub.get("x") == 2
    assert "starting one directly" in caplog.text


def test_only_the_trusted_side_can_reach_the_zygote():
    address = Path(zygote.shared_address(load_settings().limits))
    assert address.parent.stat().st_mode & 0o777 == 0o700
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    probe.connect(str(address))
    probe.send(json.dumps({"env": {}, "limits": {}}).encode())   # no descriptors: refused
    probe.settimeout(5)
    assert probe.recv(64) == b"", "a request without its two pipe ends is hung up on"
    probe.close()



def test_read_only_binds_below_tmp_survive_the_workers_fresh_tmp(tmp_path, monkeypatch):
    """A checkout under /tmp (a CI clone) has its venv and kit bound below /tmp: the worker's
    own tmpfs on /tmp must keep them (they were hidden once, and every import broke)."""
    shared = tmp_path / "checkout-like"
    shared.mkdir()
    (shared / "marker.txt").write_text("still here")
    assert str(shared).startswith("/tmp/")
    roots = sandbox._readable_roots()
    monkeypatch.setattr(sandbox, "_readable_roots", lambda: [*roots, shared])
    own = zygote.Zygote(limits=load_settings().limits)
    try:
        monkeypatch.setenv("LABKIT_ZYGOTE_ADDRESS", own.address)
        cells = (f"seen = open({str(shared / 'marker.txt')!r}).read()\n"
                 "import os\n"
                 "tmp = sorted(os.listdir('/tmp'))\n")
        with Submission(assignment=LAB06, notebook=notebook(tmp_path / "a.ipynb", cells), settings=SETTINGS) as sub:
            assert isinstance(sub.proc, zygote.ZygoteChild)
            assert sub.get("seen") == "still here"
            assert set(sub.get("tmp")) == bound_below_tmp() | {shared.parts[2]}, "only paths down to binds"
    finally:
        own.close()
