"""The LMS commands of ``labkit`` (docs/lms.md): ``lms-roster`` before ``nbgrader zip_collect``,
``lms-export`` after ``nbgrader autograde`` and ``generate_feedback``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

COMMANDS = ("lms-roster", "lms-export")


def _column(text: str) -> tuple[str, str]:
    key, sep, header = text.partition("=")
    if not sep or not key or not header:
        raise argparse.ArgumentTypeError(f"expected KEY=HEADER, got {text!r}")
    return key.strip(), header


def add_parsers(sub) -> None:
    """The two subcommands on ``labkit``'s parser."""
    roster = sub.add_parser("lms-roster", help="map LMS identities to nbgrader student ids: downloaded/<id>/roster.csv")
    roster.add_argument("assignment")
    src = roster.add_mutually_exclusive_group(required=True)
    src.add_argument("--moodle-worksheet", type=Path, help="the assignment's offline grading worksheet (CSV)")
    src.add_argument("--canvas-gradebook", type=Path, help="Canvas's gradebook export (CSV)")
    roster.add_argument("--moodle-participants", type=Path, help="Moodle's participants export (CSV), for the ID number")
    roster.add_argument("--timestamps", type=Path, help="Canvas: CSV of ID,submitted_at (Canvas's zip has no times)")
    roster.add_argument("--timezone", default=None,
                        help="the zone of the file's times: Moodle's worksheet shows the downloading teacher's "
                             "(default Europe/Warsaw); Canvas's timestamps without an offset (default UTC)")
    roster.add_argument("--column", type=_column, action="append", default=[], metavar="KEY=HEADER",
                        help="a column's header when the site renamed it (English and Polish are read as they "
                             "are; keys in labkit/lms/headers.py)")
    roster.add_argument("--course", type=Path, default=None, help="course root (default: the repository)")

    export = sub.add_parser("lms-export", help="grades, comments and feedback files for the LMS, into reports/")
    export.add_argument("assignment")
    dest = export.add_mutually_exclusive_group(required=True)
    dest.add_argument("--moodle-worksheet", type=Path, help="the downloaded grading worksheet to fill in")
    dest.add_argument("--canvas-gradebook", type=Path, help="Canvas's gradebook export")
    export.add_argument("--max-grade", type=float, default=None,
                        help="Moodle: the grade's maximum, when the worksheet has no 'Maximum Grade'")
    export.add_argument("--canvas-column", default=None,
                        help="Canvas: the assignment's column ('Lab 6 (12345)', its id, or a new name)")
    export.add_argument("--points", type=float, default=None, help="Canvas: points possible, if not in the export")
    export.add_argument("--timezone", default=None,
                        help="Moodle: the zone of the worksheet's times, the downloading teacher's "
                             "(default Europe/Warsaw)")
    export.add_argument("--column", type=_column, action="append", default=[], metavar="KEY=HEADER")
    export.add_argument("--course", type=Path, default=None, help="course root (default: the repository)")


def run(args) -> int:
    from labkit.core.settings import REPO_ROOT
    course = Path(args.course or REPO_ROOT)
    columns = dict(args.column)
    try:
        if args.command == "lms-roster":
            return _roster(args, course, columns)
        return _export(args, course, columns)
    except (KeyError, ValueError, OSError) as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 2


def _roster(args, course: Path, columns: dict[str, str]) -> int:
    from labkit.lms import roster
    from labkit.term.handin import HandinStatus
    if args.moodle_worksheet:
        built = roster.from_moodle(worksheet=args.moodle_worksheet, participants=args.moodle_participants,
                                   timezone=args.timezone or roster.DEFAULT_TIMEZONE, columns=columns)
    else:
        built = roster.from_canvas(gradebook=args.canvas_gradebook, timestamps=args.timestamps,
                                   timezone=args.timezone or "UTC", columns=columns)
    path = roster.write(built, roster.roster_path(course, args.assignment))
    by_source: dict[str, int] = {}
    students = [e for e in built.entries if e.status != HandinStatus.LEFT_OUT]
    for e in students:
        by_source[e.source] = by_source.get(e.source, 0) + 1
    print(f"{len(students)} {built.lms} entries ({built.language or 'en'} headers) -> {path} (student ids from: "
          + ", ".join(f"{s} {n}" for s, n in sorted(by_source.items())) + ")")
    drafts = [e.lms_id for e in students if e.status == HandinStatus.DRAFT]
    if drafts:
        print(f"  drafts, not submitted (not graded unless c.LmsSettings.grade_drafts = True): {', '.join(drafts)}")
    for text in built.left_out:
        print(f"  left out: {text}")
    for text in built.warnings:
        print(f"  warning: {text}")
    print(f"next: put the LMS download in downloaded/{args.assignment}/archive/ and run "
          f"nbgrader zip_collect {args.assignment} --force")
    return 0


def _export(args, course: Path, columns: dict[str, str]) -> int:
    from labkit.lms import canvas_export, moodle_export
    from labkit.lms import export as lms_export
    try:
        if args.moodle_worksheet:
            result = moodle_export.export_moodle(course=course, assignment_id=args.assignment,
                                              worksheet=args.moodle_worksheet, max_grade=args.max_grade,
                                              columns=columns, timezone=args.timezone or "Europe/Warsaw")
        else:
            result = canvas_export.export_canvas(course=course, assignment_id=args.assignment,
                                              gradebook_csv=args.canvas_gradebook, column=args.canvas_column,
                                              points=args.points, columns=columns)
    except lms_export.ExportError as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 2
    print(lms_export.summary(result))
    return 0
