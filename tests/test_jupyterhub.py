"""The grading service under a real JupyterHub, with real Unix users (docs/instant-feedback.md).

JupyterHub from PyPI and configurable-http-proxy from npm (both installed by ./kit) start the
kit's service as a hub-managed service (``c.JupyterHub.services``). The test creates Unix users;
each runs the real ``nbgrader fetch_assignment``, ``submit`` and ``fetch_feedback`` as themselves,
on an exchange with nbgrader's documented permissions. A student submits a mistake, reads the
feedback that names it, fixes it and fetches full marks, with no instructor command in between.
Another student's forged submission under the first one's name is refused and moved aside
(nbgrader's collect would only have warned).

Only root can create users: elsewhere the test is skipped and says so.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from browser import _free_port, _wait   # _wait: a readiness wait, never a measurement
from labkit.core.settings import REPO_ROOT
from labkit.service.service import ready_path
from labkit.term.submissions import build_submission
from minimal import describe, minimal_course

VENV_BIN = Path(sys.executable).parent
CHP = REPO_ROOT / ".venv" / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"
COURSE_ID = "sieci-neuronowe"
STUDENTS = ("lkala", "lkbartek")
WRONG = '''def weighted_mean(values, weights):
    return float(sum(values) / len(values))   # forgets the weights
'''
RIGHT = '''def weighted_mean(values, weights):
    return sum(v * w for v, w in zip(values, weights)) / sum(weights)
'''


def _why_skip() -> str:
    if os.geteuid() != 0:
        return "creates Unix users, so it runs as root only"
    if shutil.which("jupyterhub", path=str(VENV_BIN)) is None:
        return "jupyterhub is not installed in .venv (./kit installs it)"
    if not CHP.exists():
        return f"configurable-http-proxy is not installed at {CHP} (./kit installs it with npm)"
    if not (shutil.which("unshare") and shutil.which("setpriv") and shutil.which("useradd")):
        return "needs util-linux's unshare and setpriv, and useradd"
    return ""


pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(_why_skip()), reason=_why_skip() or "-")]


def _hidden_ancestor(path: Path) -> Path | None:
    """The highest folder above ``path`` that other users cannot enter (root's home, where
    pyenv keeps this interpreter), or None."""
    found = None
    for folder in reversed(path.parents):
        if folder != Path("/") and not os.stat(folder).st_mode & 0o001:
            found = found or folder
    return found


class Hub:
    def __init__(self, base: Path):
        self.base, self.root, self.exchange = base, base / "course", base / "exchange"
        self.log = base / "hub.log"
        self.proc: subprocess.Popen | None = None

    def instructor(self, *argv: str) -> None:
        done = subprocess.run([str(VENV_BIN / "nbgrader"), *argv, f"--Exchange.root={self.exchange}"], cwd=self.root,
                              env={**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"},
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]

    def student(self, user: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        """``nbgrader *argv`` as the Unix user, in their home, in a mount namespace where this
        interpreter's prefix is readable (and nothing else of the folder that hides it)."""
        info = pwd.getpwnam(user)
        prefix = Path(sys.base_prefix).resolve()
        hidden = _hidden_ancestor(prefix)
        shown = ""
        if hidden is not None:
            stage = self.base / "stage"
            stage.mkdir(exist_ok=True)
            shown = (f"mount --bind {prefix} {stage} && mount -t tmpfs -o mode=755 tmpfs {hidden} && "
                     f"mkdir -p {prefix} && mount --bind {stage} {prefix} && ")
        env = (f"env -i HOME={info.pw_dir} USER={user} LOGNAME={user} PATH={VENV_BIN}:/usr/bin:/bin "
               f"LANG=C.UTF-8")
        command = " ".join(f"'{a}'" for a in [str(VENV_BIN / "nbgrader"), *argv, f"--Exchange.root={self.exchange}",
                                               f"--course={COURSE_ID}"])
        script = (f"{shown}cd {info.pw_dir} && exec setpriv --reuid={info.pw_uid} --regid={info.pw_gid} "
                  f"--init-groups {env} {command}")
        done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                              capture_output=True, text=True)
        if check:
            assert done.returncode == 0, f"{user}: nbgrader {' '.join(argv)}\n{done.stderr[-3000:]}"
        return done

    def as_user(self, user: str, path: Path, text: str) -> None:
        """Write a file as the user would (their own file, their own owner)."""
        path.write_text(text, encoding="utf-8")
        info = pwd.getpwnam(user)
        os.chown(path, info.pw_uid, info.pw_gid)


def _config(hub: Hub) -> Path:
    service = [str(VENV_BIN / "labkit"), "serve", "--course", str(hub.root), "--exchange", str(hub.exchange),
               "--rescan", "1"]
    config = hub.base / "jupyterhub_config.py"
    config.write_text(f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {_free_port()}
c.JupyterHub.hub_port = {_free_port()}
c.ConfigurableHTTPProxy.command = [{str(CHP)!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{_free_port()}"
c.JupyterHub.db_url = "sqlite:///{hub.base / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = "{hub.base / 'jupyterhub_cookie_secret'}"
c.JupyterHub.pid_file = "{hub.base / 'jupyterhub.pid'}"
# The kit's grading service, started, watched and stopped by the hub (docs/instant-feedback.md).
c.JupyterHub.services = [{{
    "name": "labkit-grader",
    "command": {json.dumps(service)},
    "cwd": {str(hub.root)!r},
    "environment": {{"OMP_NUM_THREADS": "1", "PATH": "{VENV_BIN}:/usr/bin:/bin"}},
}}]
""", encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def hub():
    base = Path(tempfile.mkdtemp(prefix="labkit-hub-", dir="/tmp"))
    base.chmod(0o755)
    h = Hub(base)
    try:
        for user in STUDENTS:
            subprocess.run(["userdel", "-r", user], capture_output=True)
            subprocess.run(["useradd", "--create-home", "--home-dir", str(base / "home" / user), "--shell", "/bin/sh",
                            user], check=True, capture_output=True)
        (base / "home").chmod(0o755)
        minimal_course(h.root, config=True)
        due = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7)).replace(microsecond=0)
        describe(h.root, f"\n[term]\ndue = {due.isoformat()}\n")
        h.exchange.mkdir()
        h.exchange.chmod(0o777)          # nbgrader's docs: the exchange is writable by everyone
        h.instructor("generate_assignment", "mini")
        h.instructor("release_assignment", "mini")
        h.proc = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(_config(h))], cwd=base,
                                  stdout=open(h.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
                                  env={**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"})
        ready = ready_path(h.root)
        _wait("the hub to start the grading service", lambda: ready.exists() or h.proc.poll() is not None, 300, every=0.2)
        assert h.proc.poll() is None, h.log.read_text()[-3000:]
        yield h
    finally:
        if h.proc is not None and h.proc.poll() is None:
            os.killpg(h.proc.pid, signal.SIGTERM)
            try:
                h.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(h.proc.pid, signal.SIGKILL)
        for user in STUDENTS:
            subprocess.run(["userdel", "-r", user], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _released(hub: Hub) -> int:
    return len(list((hub.exchange / COURSE_ID / "feedback").glob("*.html")))


def _submit(hub: Hub, user: str, answer: str) -> None:
    fetched = Path(pwd.getpwnam(user).pw_dir) / "mini" / "mini.ipynb"
    if not fetched.exists():
        hub.student(user, "fetch_assignment", "mini")
    build_submission(fetched, {"mean_solution": answer}, filled=False, release=fetched,
                     source=hub.root / "source" / "mini" / "mini.ipynb")
    os.chown(fetched, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    hub.student(user, "submit", "mini")


def _pages(hub: Hub, user: str) -> list[str]:
    hub.student(user, "fetch_feedback", "mini")
    folder = Path(pwd.getpwnam(user).pw_dir) / "mini" / "feedback"
    return [html.unescape(re.sub(r"<[^>]+>", "", p.read_text(encoding="utf-8")))
            for p in sorted(folder.glob("*/mini.html"))]


def test_a_student_fixes_a_mistake_with_instant_feedback_under_the_hub(hub):
    _submit(hub, "lkala", WRONG)
    _wait("the first feedback", lambda: _released(hub) >= 1, 300, every=0.2)
    first = _pages(hub, "lkala")
    assert len(first) == 1 and "Attempt 1" in first[0] and "Part mean: 0.00 / 2.00" in first[0]
    assert "test_weighted_mean_equals_the_weighted_sum_over_the_weights" in first[0]   # names the mistake
    _submit(hub, "lkala", RIGHT)
    _wait("the second feedback", lambda: _released(hub) >= 2, 300, every=0.2)
    pages = _pages(hub, "lkala")
    assert len(pages) == 2 and "Attempt 2" in pages[1] and "Part mean: 2.00 / 2.00" in pages[1]
    inbound = hub.exchange / COURSE_ID / "inbound"
    assert {pwd.getpwuid(p.stat().st_uid).pw_name for p in inbound.iterdir()} == {"lkala"}   # real owners


def test_a_submission_forged_under_another_students_name_is_moved_aside(hub):
    inbound = hub.exchange / COURSE_ID / "inbound"
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    forged = f"lkala+mini+{stamp}+forged"
    # lkbartek writes into inbound as himself, under lkala's name, with a wrong answer
    script = (f"mkdir '{inbound / forged}' && cp '{pwd.getpwnam('lkala').pw_dir}/mini/mini.ipynb' '{inbound / forged}/' "
              f"&& printf '%s' '{stamp}' > '{inbound / forged}/timestamp.txt'")
    info = pwd.getpwnam("lkbartek")
    subprocess.run(["setpriv", f"--reuid={info.pw_uid}", f"--regid={info.pw_gid}", "--init-groups", "sh", "-c", script],
                   check=True, capture_output=True)
    aside = inbound / f".labkit-refused-{forged}"
    _wait("the forged entry moved aside", aside.exists, 300, every=0.2)
    assert not (inbound / forged).exists()
    journal = hub.root / ".labkit-service" / "journal.sqlite"
    import sqlite3
    with sqlite3.connect(journal) as db:
        state, note = db.execute("SELECT state, note FROM entries WHERE name = ?", (forged,)).fetchone()
    assert state == "refused" and note == "written by lkbartek, not by lkala"
    # The batch after the deadline collects lkala's own last submission, not the forged one.
    hub.instructor("collect", "mini")
    kept = (hub.root / "submitted" / "lkala" / "mini" / "timestamp.txt").read_text()
    assert kept != stamp
    assert hub.proc.poll() is None                                  # the hub and its service go on
