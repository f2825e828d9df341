"""Command line: ``labkit demo``, ``labkit grade ASSIGNMENT NOTEBOOK``,
``labkit override ASSIGNMENT STUDENT PART ...``, ``labkit decisions``, the LMS steps
``labkit lms-roster`` / ``labkit lms-export`` and the grading service ``labkit serve`` /
``labkit serve-status``."""
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
    override = sub.add_parser("override", help="record a TA decision in overrides.toml (it survives regrades)")
    override.add_argument("assignment")
    override.add_argument("student")
    override.add_argument("part")
    change = override.add_mutually_exclusive_group(required=True)
    change.add_argument("--points", type=float, help="the part's new score (0..its points)")
    change.add_argument("--credit", type=float, help="with --check: the check's new credit (0..1)")
    change.add_argument("--reject", action="store_true", help="answer a regrade request without a change")
    override.add_argument("--check", default="", help="one hidden check of the part (with --credit)")
    override.add_argument("--reason", required=True, help="why; the student reads it in the feedback")
    override.add_argument("--by", required=True, help="the TA's name")
    override.add_argument("--request", default="", help="the student's regrade request, if this answers one")
    override.add_argument("--course", type=Path, default=None, help="course root (default: the repository)")
    listing = sub.add_parser("decisions", help="list the TA decisions of overrides.toml")
    listing.add_argument("--course", type=Path, default=None, help="course root (default: the repository)")
    from labkit.cli import lms as lms_cli   # Moodle/Canvas: lms-roster, lms-export (docs/lms.md)
    lms_cli.add_parsers(sub)
    from labkit.cli import serve as serve_cli   # the grading service (docs/instant-feedback.md)
    serve_cli.add_parsers(sub)
    args = parser.parse_args(argv)

    if args.command == "demo":
        from labkit.cli.demo import run_demo
        from labkit.core.settings import REPO_ROOT
        run_demo(course=args.course or REPO_ROOT, assignments=args.assignment)
        return 0
    if args.command == "grade":
        from labkit.core.assignment import load
        from labkit.grading.grade import grade_notebook
        from labkit.core.settings import REPO_ROOT
        result = grade_notebook(args.notebook, assignment=load(args.assignment, args.course or REPO_ROOT))
        print(json.dumps({"total": result.total, "parts": {p: r.score for p, r in result.parts.items()},
                          "flags": result.flags}, indent=1))
        return 0
    if args.command in ("override", "decisions"):
        return _decisions(args)
    if args.command in lms_cli.COMMANDS:
        return lms_cli.run(args)
    if args.command in serve_cli.COMMANDS:
        return serve_cli.run(args)
    return 2


def _decisions(args) -> int:
    from labkit.term import overrides
    from labkit.core.assignment import load
    from labkit.core.settings import REPO_ROOT
    course = args.course or REPO_ROOT
    try:
        if args.command == "override":
            decision = overrides.Decision(
                assignment=args.assignment, student=args.student, part=args.part, reason=args.reason,
                by=args.by, date="", check=args.check, request=args.request,
                decision=overrides.REJECTED if args.reject else overrides.ACCEPTED,
                points=args.points, credit=args.credit)
            path = overrides.add(course, decision, load(args.assignment, course))
            print(f"recorded in {path}. Apply it and give the student new feedback:\n"
                  f"  nbgrader autograde {args.assignment} --force --student {args.student}\n"
                  f"  nbgrader generate_feedback {args.assignment} --force --student {args.student}")
        else:
            for d in overrides.load(course):
                target = f"{d.part}/{d.check}" if d.check else d.part
                change = "rejected" if not d.changes_score else (
                    f"credit {d.credit:g}" if d.check else f"points {d.points:g}")
                print(f"{d.date}  {d.assignment}  {d.student}  {target}  {change}  by {d.by}: {d.reason}")
    except (overrides.OverrideError, ValueError) as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
