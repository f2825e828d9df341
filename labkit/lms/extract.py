"""Unpacking an LMS download and the zips students handed in, entry by entry.

Every entry that cannot be written safely is skipped with its reason; nothing a zip holds
raises. What was unpacked (each file's zip entry time, as the zip holds it) and what was not
is recorded in ``downloaded/<id>/extraction.json`` for the hand-in plan (labkit/lms/plan.py).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

CONTENTS = ".contents"          # "x.zip" is unpacked into "x.zip.contents/"

@dataclass
class Extraction:
    """What unpacking wrote and what it refused, for the collector (``extraction.json`` beside
    extracted/): each unpacked file's zip entry time as the zip holds it (a naive local time,
    whose zone depends on who wrote the zip: docs/lms.md), and each entry not unpacked."""

    times: dict[str, str] = field(default_factory=dict)        # path under extracted/ -> naive ISO time
    problems: list[dict] = field(default_factory=list)         # {"zip", "entry", "why"}

    def add(self, other: "Extraction") -> None:
        self.times.update(other.times)
        self.problems.extend(other.problems)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps({"times": self.times, "problems": self.problems}, indent=1, ensure_ascii=False),
                        encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> "Extraction":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        return cls(times=dict(data.get("times", {})), problems=list(data.get("problems", [])))


def extraction_log(extracted: Path) -> Path:
    """``downloaded/<id>/extraction.json``: next to extracted/, never inside it (zip_collect
    would take it for a hand-in)."""
    return Path(extracted).parent / "extraction.json"


def entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as its writer meant it. Without the UTF-8 flag (bit 11) Python reads
    names as cp437; Canvas (rubyzip) and macOS write UTF-8 without the flag, so UTF-8 is tried
    first, which a real cp437 name of non-ASCII bytes almost never is."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _entry_parts(info: zipfile.ZipInfo) -> list[str]:
    return [p for p in entry_name(info).replace("\\", "/").split("/") if p not in ("", ".")]


def _refusal(info: zipfile.ZipInfo, parts: list[str], n: int, max_files: int) -> str:
    """Why an entry must not be unpacked, or ""."""
    if n >= max_files:
        return f"more than {max_files} entries"
    if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        return "unsafe path (absolute, drive or ..)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    return ""


def safe_extract(archive: Path, dest: Path, *, root: Path | None = None, max_bytes: int = 500 * 2**20,
                 max_files: int = 20000) -> Extraction:
    """Unpack ``archive`` into ``dest``, entry by entry; what was refused is recorded, never raised.

    A zip handed in by a student is untrusted and may be odd in any way: entries with absolute
    paths or ``..``, links, anything past ``max_files`` entries or ``max_bytes`` unpacked, an
    encrypted or unsupported entry, a name the file system refuses, a file where a folder of the
    same name is needed. Each is skipped with its reason; the other entries are unpacked.
    Times are recorded as the zip holds them (naive); paths are relative to ``root``
    (default ``dest``). Each file's mtime is its entry time read as UTC (only the record is
    authoritative: the zone is the collector's to decide)."""
    dest = Path(dest)
    root = Path(root) if root is not None else dest
    out = Extraction()
    total = 0
    where = archive.relative_to(root).as_posix() if archive.is_relative_to(root) else archive.name
    with zipfile.ZipFile(archive) as zf:
        for n, info in enumerate(zf.infolist()):
            parts = _entry_parts(info)
            if info.is_dir() or not parts:
                continue
            why = _refusal(info, parts, n, max_files)
            if not why and total + info.file_size > max_bytes:
                why = f"over {max_bytes} bytes unpacked"
            if why:
                out.problems.append({"zip": where, "entry": entry_name(info), "why": why})
                continue
            total += info.file_size
            if parts[-1].lower().endswith(".ipynb") and not parts[-1].endswith(".ipynb"):
                parts[-1] = parts[-1][:-6] + ".ipynb"   # nbgrader only finds "*.ipynb"
            target = dest.joinpath(*parts)
            created = False
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src:
                    with open(target, "xb") as fh:
                        created = True
                        shutil.copyfileobj(src, fh)
            except (OSError, RuntimeError, NotImplementedError, zipfile.BadZipFile, EOFError) as exc:
                out.problems.append({"zip": where, "entry": entry_name(info), "why": _why(exc)})
                if created:                       # half written (a bad CRC, a full disk): not a hand-in
                    target.unlink(missing_ok=True)
                continue
            try:
                naive = dt.datetime(*info.date_time)
            except ValueError:
                naive = dt.datetime(1980, 1, 1)
            stamp = naive.replace(tzinfo=dt.timezone.utc).timestamp()
            os.utime(target, (stamp, stamp))
            out.times[target.relative_to(root).as_posix()] = naive.isoformat()
    return out


def _why(exc: BaseException) -> str:
    if isinstance(exc, (FileExistsError, IsADirectoryError)):
        return "another entry of the zip has this name, or a folder of this name"
    if isinstance(exc, NotADirectoryError):
        return "a folder of this path is a file in the same zip"
    if isinstance(exc, RuntimeError) and "encrypted" in str(exc):
        return "encrypted (password-protected) entry"
    if isinstance(exc, NotImplementedError):
        return f"compression the kit cannot read ({exc})"
    if getattr(exc, "errno", None) == 36:
        return "name too long for the file system"
    return f"{type(exc).__name__}: {exc}"
