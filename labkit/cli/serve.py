"""``labkit serve``: the grading service of a course; ``labkit serve-status``: what it is doing."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from pathlib import Path

COMMANDS = ("serve", "serve-status")


def add_parsers(sub) -> None:
    serve = sub.add_parser("serve", help="grade each submission as it arrives and release its feedback "
                                         "(docs/instant-feedback.md)")
    serve.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: the current directory)")
    serve.add_argument("--exchange", type=Path, default=None, help="the exchange root (default: the course config's)")
    serve.add_argument("--assignment", action="append", default=[], help="only this assignment (repeatable)")
    serve.add_argument("--rescan", type=float, default=30.0, help="seconds between backstop scans (default 30)")
    serve.add_argument("--jobs", type=int, default=0, help="students graded side by side (default: one per usable CPU)")
    serve.add_argument("--once", action="store_true", help="grade what is waiting, then exit")
    status = sub.add_parser("serve-status", help="what the grading service has queued, is grading and has done")
    status.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: the current directory)")
    status.add_argument("--json", action="store_true", help="machine-readable")


def run(args: argparse.Namespace) -> int:
    if args.command == "serve-status":
        from labkit.service.journal import Journal
        from labkit.service.service import journal_path
        from labkit.service.status import status_of
        journal = Journal(journal_path(args.course))
        status = status_of(journal.rows())
        journal.close()
        print(json.dumps(status.__dict__, indent=1) if args.json else "\n".join(status.lines()))
        return 0
    from labkit.service.service import Service, ServiceSettings
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    service = Service(ServiceSettings(root=args.course, exchange=args.exchange, assignments=tuple(args.assignment),
                                      rescan_seconds=args.rescan, jobs=args.jobs))
    if args.once:
        service.recover()
        service.scan()
        service.drain()
        return 0
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service.run(stop)
    return 0
