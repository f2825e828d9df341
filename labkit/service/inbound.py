"""The exchange's inbound folder, read the way nbgrader's collect reads it.

``nbgrader submit`` copies a submission to ``<exchange>/<course>/inbound/
<student>+<assignment>+<timestamp>[+<random>]/`` and writes ``timestamp.txt`` last
(nbgrader/exchange/default/submit.py, ``ExchangeSubmit.copy_files``); collect splits the name
with ``rsplit('+', 3)`` (nbgrader/exchange/default/collect.py, ``_path_to_record``). An entry
without its timestamp.txt is still being copied and waits for the next scan.
"""
from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from nbgrader.utils import parse_utc

__all__ = ["MAX_ENTRY_BYTES", "MAX_ENTRY_FILES", "InboundEntry", "parse_name", "scan"]


@dataclass(frozen=True)
class InboundEntry:
    name: str            # the folder's name: the entry's identity in the journal
    student: str
    assignment: str
    timestamp: str       # nbgrader's own timestamp string, as in the name
    path: Path


def parse_name(name: str, folder: Path) -> InboundEntry | None:
    """The entry a folder name stands for, or None when nbgrader would not read it as one."""
    parts = name.rsplit("+", 3)
    if len(parts) < 3 or not all(parts[:3]):
        return None
    if len(parts) == 4 and "+" in parts[0] and not parts[3]:
        return None
    student, assignment, timestamp = parts[:3]
    try:
        parse_utc(timestamp)
    except (ValueError, OverflowError, TypeError):
        return None
    return InboundEntry(name, student, assignment, timestamp, folder / name)


# What one submission may hold before nbgrader copies it: a notebook and a few files, not a disk.
MAX_ENTRY_BYTES = 50 * 1024 * 1024
MAX_ENTRY_FILES = 500


def _too_big(path: Path) -> str:
    """Why an entry is too big to collect, or "" (walked without following links)."""
    files = size = 0
    for folder, dirs, names in os.walk(path, followlinks=False):
        files += len(names) + len(dirs)
        if files > MAX_ENTRY_FILES:
            return f"more than {MAX_ENTRY_FILES} files"
        for name in names:
            try:
                size += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
            if size > MAX_ENTRY_BYTES:
                return f"more than {MAX_ENTRY_BYTES // 2**20} MiB"
    return ""


def owner_of(path: Path) -> str:
    try:
        return pwd.getpwuid(os.lstat(path).st_uid).pw_name
    except KeyError:
        return f"uid {os.lstat(path).st_uid}"


def scan(inbound: Path, assignments: set[str] | None = None, *,
         check_owner: bool = True) -> tuple[list[InboundEntry], list[tuple[str, str]]]:
    """(complete entries, refused (name, reason)). Names starting with a dot are not entries
    (nbgrader's collect does not glob them; the service moves refused entries there). Students write inbound/: a symlink,
    a file, a name nbgrader cannot read, an entry too big to copy, or (``check_owner``, as
    nbgrader's ``ExchangeCollect.check_owner``) one that another Unix user wrote under this
    student's name is refused, and nothing in it is opened. nbgrader's collect only warns about
    the last, and would grade it as the named student's."""
    found, refused = [], []
    try:
        names = sorted(os.listdir(inbound))
    except FileNotFoundError:
        return found, refused
    for name in names:
        if name.startswith("."):
            continue
        path = inbound / name
        if path.is_symlink() or not path.is_dir():
            refused.append((name, "not a folder"))
            continue
        entry = parse_name(name, inbound)
        if entry is None:
            refused.append((name, "not an nbgrader submission name"))
            continue
        if assignments is not None and entry.assignment not in assignments:
            continue   # another assignment of the course: not this service's
        stamp = path / "timestamp.txt"
        if stamp.is_symlink():
            refused.append((name, "timestamp.txt is a link"))
            continue
        if not stamp.is_file():
            continue
        if check_owner and owner_of(path) != entry.student:
            refused.append((name, f"written by {owner_of(path)}, not by {entry.student}"))
            continue
        too_big = _too_big(path)
        if too_big:
            refused.append((name, too_big))
            continue
        found.append(entry)
    return found, refused
