"""tests/nbgrader_cli.py: a forked nbgrader command behaves like the executable started afresh."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from nbgrader_cli import EXECUTABLE, nbgrader

# The course's configuration runs in every command: it shows the command's directory and
# environment, and can make the command hang.
PROBE_CONFIG = """import os, time
print("probe", os.getcwd(), os.environ.get("PROBE"), flush=True)
if os.environ.get("PROBE") == "hang":
    time.sleep(600)
c = get_config()
"""


@pytest.fixture
def course(tmp_path) -> Path:
    (tmp_path / "nbgrader_config.py").write_text(PROBE_CONFIG)
    return tmp_path


def _env(**extra: str) -> dict[str, str]:
    # nbgrader runs alembic from PATH when it creates a gradebook, as the course's users have it.
    return {**os.environ, "PATH": f"{EXECUTABLE.parent}{os.pathsep}{os.environ['PATH']}", **extra}


def _real(args: list[str], course: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXECUTABLE), *args], cwd=course, env=env, capture_output=True, text=True)


def test_a_command_sees_its_directory_and_environment_and_prints_what_the_executable_prints(course):
    args = ["db", "student", "add", "ala", "--last-name=Nowak"]
    forked = nbgrader(args, cwd=course, env=_env(PROBE="first"))
    assert forked.returncode == 0, forked.stderr
    assert f"probe {course} first" in forked.stdout
    listed = nbgrader(["db", "student", "list"], cwd=course, env=_env(PROBE="second"))
    real = _real(["db", "student", "list"], course, _env(PROBE="second"))
    assert (listed.returncode, listed.stdout) == (real.returncode, real.stdout)
    assert "ala (Nowak" in listed.stdout


def test_a_failing_command_returns_its_status_and_log(course):
    args = ["autograde", "no_such_assignment"]
    forked = nbgrader(args, cwd=course, env=_env())
    assert forked.returncode == 1 and "No notebooks were matched" in forked.stderr
    with pytest.raises(subprocess.CalledProcessError):
        nbgrader(args, cwd=course, env=_env(), check=True)


def test_a_hanging_command_is_killed_at_its_timeout_and_the_next_one_runs(course):
    with pytest.raises(subprocess.TimeoutExpired):
        nbgrader(["db", "student", "list"], cwd=course, env=_env(PROBE="hang"), timeout=3)
    assert nbgrader(["db", "student", "list"], cwd=course, env=_env()).returncode == 0


def test_another_pythonpath_gets_a_fresh_interpreter_so_its_site_hooks_run(course, tmp_path_factory):
    hooks = tmp_path_factory.mktemp("hooks")
    (hooks / "sitecustomize.py").write_text("print('site hook ran', flush=True)\n")
    done = nbgrader(["db", "student", "list"], cwd=course, env=_env(PYTHONPATH=str(hooks)))
    assert done.returncode == 0 and "site hook ran" in done.stdout
