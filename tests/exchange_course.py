"""A course on a local exchange, and how to run nbgrader as its instructor or as one of its
students (each with their own HOME and working folder, as on a JupyterHub): used by the
exchange round trip (tests/test_exchange.py) and the grading service (tests/test_service.py).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbgrader_cli

COURSE_ID = "sieci-neuronowe"          # nbgrader_config.py's CourseDirectory.course_id


class Course:
    """The instructor's course root, the exchange and the students' homes, and how to run
    nbgrader as either of them."""

    def __init__(self, base: Path):
        self.root, self.exchange, self.homes = base / "course", base / "exchange", base / "home"
        self.exchange.mkdir(mode=0o777)   # the hub admin's job: an existing, world-writable folder
        bin_dir = str(Path(sys.executable).parent)
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("JUPYTER", "LABKIT_", "NBGRADER", "PYTHONPATH"))}
        self.env = {**clean, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
        self.log = ""

    def instructor(self, *argv: str) -> None:
        """A command in the course root (nbgrader_config.py there), on the local exchange."""
        self._run([*argv, f"--Exchange.root={self.exchange}"], cwd=self.root,
                  env={**self.env, "HOME": str(self.root.parent)})

    def student(self, student: str, *argv: str) -> None:
        """A command in the student's home, as their JupyterHub server runs it: no course
        config, so the exchange and the course id come on the command line."""
        home = self.home(student)
        self._run([*argv, f"--Exchange.root={self.exchange}", f"--course={COURSE_ID}",
                   f"--CourseDirectory.student_id={student}"], cwd=home, env={**self.env, "HOME": str(home)})

    def home(self, student: str) -> Path:
        home = self.homes / student
        home.mkdir(parents=True, exist_ok=True)
        return home

    def _run(self, argv: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        """One nbgrader command, at once (forked from tests/nbgrader_cli.py's launcher, or its
        own process with LABKIT_TEST_EXCHANGE_PROCESSES set); a failure stops the term."""
        if os.environ.get("LABKIT_TEST_EXCHANGE_PROCESSES"):
            done = subprocess.run([str(nbgrader_cli.EXECUTABLE), *argv], cwd=cwd, env=env,
                                  capture_output=True, text=True)
        else:
            done = nbgrader_cli.nbgrader(argv, cwd=cwd, env=env)
        self.log += f"$ nbgrader {' '.join(argv)}   (in {cwd})\n{done.stderr}"
        (self.root.parent / "nbgrader.log").write_text(self.log, encoding="utf-8")   # for a reader of a failure
        assert done.returncode == 0, done.stderr[-4000:]
