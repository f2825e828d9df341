"""``nbgrader <args>`` for the tests, without paying nbgrader's import for every command.

Importing ``nbgrader.apps`` costs about 2 CPU s (sqlalchemy, nbconvert, the server
extensions), more than many of the tests' commands then take. Here one launcher process per
test process imports it once and forks a child per command; each child is what a fresh
``nbgrader`` process would be from then on: nbgrader's own ``main`` with the command's argv,
working directory and environment, its stdout and stderr in files, its exit status returned.
The fork gives every command fresh application singletons and configuration, as a new
process has.

What a fork cannot reproduce falls back to a real subprocess: an environment whose
``PYTHON*`` variables differ from the launcher's (``PYTHONPATH`` and its site hooks, the hash
seed and the other interpreter flags take effect only at start-up).
The demo (labkit/cli/demo.py) and the hostile batch run the real executable throughout.

    done = nbgrader(["autograde", "mini", "--force"], cwd=course, env=env)   # CompletedProcess
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

EXECUTABLE = Path(sys.executable).parent / "nbgrader"
_LOCK = threading.Lock()
_LAUNCHER: subprocess.Popen | None = None
_LAUNCHER_PYTHON_ENV: dict[str, str] = {}   # the PYTHON* variables its interpreter started with


def nbgrader(args: list[str], *, cwd: Path | str, env: dict[str, str], timeout: float = 3600,
             check: bool = False) -> subprocess.CompletedProcess:
    """Run ``nbgrader *args`` in ``cwd`` with exactly ``env``; like subprocess.run(capture_output,
    text) on the nbgrader executable."""
    argv = [str(EXECUTABLE), *args]
    # A launcher not started yet would start with this process's environment.
    alive = _LAUNCHER is not None and _LAUNCHER.poll() is None
    launcher_env = _LAUNCHER_PYTHON_ENV if alive else _interpreter_env(os.environ)
    if _interpreter_env(env) != launcher_env:
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=check)
    with _LOCK, tempfile.TemporaryDirectory(prefix="nbgrader-cli-") as tmp:
        launcher = _launcher()
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        launcher.stdin.write(json.dumps({"args": list(args), "cwd": str(cwd), "env": env,
                                         "stdout": str(out), "stderr": str(err)}) + "\n")
        launcher.stdin.flush()
        started = launcher.stdout.readline()
        if not started:
            raise RuntimeError("the nbgrader launcher exited")
        code = _wait_for_status(launcher, int(started), timeout)
        done = subprocess.CompletedProcess(argv, code, out.read_text(errors="replace"), err.read_text(errors="replace"))
    if check:
        done.check_returncode()
    return done


def _interpreter_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}


def _wait_for_status(launcher: subprocess.Popen, pid: int, timeout: float) -> int:
    reply: list[str] = []
    reader = threading.Thread(target=lambda: reply.append(launcher.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not reply:   # the command hangs: stop it; its status line then arrives
        os.kill(pid, signal.SIGKILL)
        reader.join()
        raise subprocess.TimeoutExpired([str(EXECUTABLE)], timeout)
    if not reply[0]:
        raise RuntimeError("the nbgrader launcher exited")
    return int(reply[0])


def _launcher() -> subprocess.Popen:
    global _LAUNCHER, _LAUNCHER_PYTHON_ENV
    if _LAUNCHER is None or _LAUNCHER.poll() is not None:
        env = dict(os.environ)
        _LAUNCHER = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1, env=env)
        _LAUNCHER_PYTHON_ENV = _interpreter_env(env)
        atexit.register(_LAUNCHER.stdin.close)   # the launcher exits at end of input
    return _LAUNCHER


# ------------------------------------------------------------------- the launcher process
def _serve() -> None:
    # The executable's interpreter has its own folder first on sys.path, not tests/.
    sys.path[0] = str(EXECUTABLE.parent)
    from nbgrader.apps.nbgraderapp import main   # the import every command would pay
    requests, replies = sys.stdin, sys.stdout
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(main, request)
        replies.write(f"{pid}\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(f"{os.waitstatus_to_exitcode(status)}\n")
        replies.flush()


def _child(main, request: dict) -> None:
    """Become ``nbgrader <args>`` as started in the request's directory and environment."""
    code = 1
    try:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [str(EXECUTABLE), *request["args"]]
        main()
        code = 0
    except SystemExit as exc:   # how nbgrader's apps finish, with or without an error
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":
    _serve()
