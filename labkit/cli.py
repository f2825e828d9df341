"""Command line: ``labkit demo``, ``labkit grade ASSIGNMENT NOTEBOOK``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="demo class: generate, autograde, feedback, export, report, table")
    demo.add_argument("--course", type=Path, default=None, help="course root (default: the repository)")
    demo.add_argument("--assignment", action="append", default=None,
                      help="only this assignment (repeatable; default: every one the course describes)")
    grade = sub.add_parser("grade", help="grade one notebook and print its SubmissionResult as JSON")
    grade.add_argument("assignment", help="the assignment's id (grader_tests/<id>/assignment.toml)")
    grade.add_argument("notebook", help="path to a notebook, or 'reference'")
    grade.add_argument("--course", type=Path, default=None, help="course root (default: the repository)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from labkit.demo import run_demo
        from labkit.settings import REPO_ROOT
        run_demo(course=args.course or REPO_ROOT, assignments=args.assignment)
        return 0
    if args.command == "grade":
        from labkit.assignment import load
        from labkit.grade import grade_notebook
        from labkit.settings import REPO_ROOT
        result = grade_notebook(args.notebook, assignment=load(args.assignment, args.course or REPO_ROOT))
        print(json.dumps({"total": result.total, "parts": {p: r.score for p, r in result.parts.items()},
                          "flags": result.flags}, indent=1))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
