"""How Moodle and Canvas name the files of a "download all submissions" zip, both ways.

Reading: ``parse_moodle(path)`` and ``parse_canvas(path)`` turn the path of one file inside
the extracted download into an :class:`LmsFile` (who handed it in, under which LMS id, the
file's own name), or None when the path is not in that LMS's naming.

Writing: ``moodle_folder`` and ``canvas_feedback_name`` build the names each LMS's bulk
feedback upload maps back to a participant.

The rules follow the LMSs' own source code (docs/lms.md cites the files):

* Moodle (mod/assign/classes/downloader.php, 4.1+): one folder per participant,
  ``<Full name>_<participant id>_assignsubmission_file/<the student's path>``; Moodle 3.1-4.0
  end the folder with one more ``_``; "download as folders" off gives flat files
  ``<Full name>_<participant id>_assignsubmission_file_<file name>``. Underscores in the full
  name are replaced by spaces, so the first ``_<digits>_`` is the participant id. Moodle's own
  feedback importer (mod/assign/feedback/file/importziplib.php) reads the names the same way.
* Canvas (lib/content_zipper.rb): flat files
  ``<sortable name, lower case, non-word characters removed>[_LATE]_<user id>_<attachment id>_<file name>``,
  text and URL entries end in ``_text.html`` / ``_link.html``, anonymous grading puts
  ``anon_<anonymous id>`` in place of name and user id. Canvas's re-upload
  (Assignment#infer_comment_context_from_filename) takes the first two all-digit ``_`` tokens
  as user id and attachment id; so does this parser.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

MOODLE, CANVAS = "moodle", "canvas"
LMS_NAMES = (MOODLE, CANVAS)

# "<name>_<participant id>_assignsubmission_<plugin>" + "" (4.1+) or "_" (3.1-4.0) or "_<file>" (flat).
_MOODLE_PART = re.compile(r"^(?P<name>[^_]*)_(?P<id>\d+)_(?P<subtype>assign(?:submission|feedback))_"
                          r"(?P<plugin>[a-z0-9]+)(?P<rest>_.*)?$")
_DIGITS = re.compile(r"^\d+$")


@dataclass(frozen=True)
class LmsFile:
    """One file of an LMS download, attributed to the LMS identity that handed it in."""

    lms: str                  # "moodle" or "canvas"
    lms_id: str               # Moodle participant id, Canvas user id (or "anon_<id>")
    name: str                 # the name the LMS put in the path (Moodle full name, Canvas sortable slug)
    filename: str             # the student's own path inside their submission ("lab06 (1).ipynb", "a/b.py")
    prefix: str               # the LMS's per-entry prefix, reused for feedback names
    late: bool = False        # Canvas's LATE marker
    attachment_id: str = ""   # Canvas attachment id (the re-upload matches on it)
    plugin: str = "file"      # Moodle submission plugin ("file", "onlinetext", ...)
    folders: bool = True      # Moodle: downloaded "in folders"


def _parts(path: str) -> list[str]:
    return [p for p in PurePosixPath(str(path).replace("\\", "/")).parts if p not in ("", "/", ".")]


def parse_moodle(path: str) -> LmsFile | None:
    """A file of Moodle's download, from its path relative to the extracted zip (any leading
    folders, such as the zip's own name, are skipped, as Moodle's importer does)."""
    parts = _parts(path)
    for i, part in enumerate(parts):
        m = _MOODLE_PART.match(part)
        if not m or m["subtype"] != "assignsubmission":
            continue
        rest = m["rest"] or ""
        inner = parts[i + 1:]
        if inner:                                   # folder mode: rest is "" (4.1+) or "_" (3.1-4.0)
            if rest not in ("", "_"):
                continue
            filename, folders = "/".join(inner), True
        elif len(rest) > 1:                          # flat mode: "_<file name>"
            filename, folders = rest[1:], False
        else:
            continue
        prefix = part if folders else part[: len(part) - len(rest)]
        return LmsFile(lms=MOODLE, lms_id=m["id"], name=m["name"], filename=filename, prefix=prefix,
                       plugin=m["plugin"], folders=folders)
    return None


def parse_canvas(path: str) -> LmsFile | None:
    """A file of Canvas's download, from its base name (Canvas's zip is flat)."""
    base = _parts(path)[-1] if _parts(path) else ""
    tokens = base.split("_")
    late = tokens[0] == "LATE"             # names are lower-cased, so "LATE" is only ever the marker
    rest = tokens[1:] if late else tokens
    if len(rest) >= 3 and rest[0] == "anon":  # anonymous grading: [LATE_]anon_<anonymous id>_...
        prefix = "_".join(tokens[: len(tokens) - len(rest) + 2])
        if len(rest) >= 4 and _DIGITS.match(rest[2]):
            return LmsFile(lms=CANVAS, lms_id=f"anon_{rest[1]}", name="", filename="_".join(rest[3:]),
                           prefix=prefix, late=late, attachment_id=rest[2])
        return LmsFile(lms=CANVAS, lms_id=f"anon_{rest[1]}", name="", filename="_".join(rest[2:]),
                       prefix=prefix, late=late)
    digit = [i for i, t in enumerate(tokens) if _DIGITS.match(t)]
    if not digit or digit[0] + 1 >= len(tokens):
        return None
    u = digit[0]
    head = tokens[:u]
    late = bool(head) and head[-1] == "LATE"
    name = "_".join(head[:-1] if late else head)
    if u + 1 < len(tokens) and _DIGITS.match(tokens[u + 1]) and u + 2 < len(tokens):
        return LmsFile(lms=CANVAS, lms_id=tokens[u], name=name, filename="_".join(tokens[u + 2:]),
                       prefix="_".join(tokens[:u + 1]), late=late, attachment_id=tokens[u + 1])
    # "<name>_<user id>_text.html" / "_link.html": a text or URL entry, no attachment
    return LmsFile(lms=CANVAS, lms_id=tokens[u], name=name, filename="_".join(tokens[u + 1:]),
                   prefix="_".join(tokens[:u + 1]), late=late)


def parse(lms: str, path: str) -> LmsFile | None:
    """``parse_moodle`` or ``parse_canvas``."""
    if lms == MOODLE:
        return parse_moodle(path)
    if lms == CANVAS:
        return parse_canvas(path)
    raise ValueError(f"unknown LMS {lms!r}: expected one of {', '.join(LMS_NAMES)}")


def detect(paths: list[str]) -> str:
    """The LMS whose naming matches most of ``paths`` (Moodle first on a tie: its names are
    unambiguous, Canvas's pattern also matches many ordinary names)."""
    moodle = sum(1 for p in paths if parse_moodle(p))
    canvas = sum(1 for p in paths if parse_canvas(p))
    return MOODLE if moodle >= canvas and moodle else CANVAS


# --------------------------------------------------------------------------- writing names


def moodle_folder(full_name: str, participant_id: str, *, trailing_underscore: bool = False) -> str:
    """The per-participant folder of Moodle's download, which its feedback-zip import maps back
    to the participant (only the id after the first ``_`` counts; the name is for people)."""
    name = full_name.replace("_", " ").replace("/", " ").strip() or "Participant"
    return f"{name}_{participant_id}_assignsubmission_file" + ("_" if trailing_underscore else "")


def canvas_slug(sortable_name: str) -> str:
    """Canvas's name part: the sortable name ("Żółć, Łukasz") lower-cased with every non-word
    character removed ("żółćłukasz"); Ruby's [[:word:]] keeps Unicode letters, digits and "_".
    Canvas also joins ``_<digits>_`` so that a name never looks like an id."""
    slug = re.sub(r"_(\d+)_", r"\1", sortable_name)
    slug = "".join(ch for ch in slug if ch == "_" or unicodedata.category(ch)[0] in "LN" or ch.isdigit())
    return slug.lower()


def canvas_feedback_name(file: LmsFile, suffix: str) -> str:
    """A name Canvas's "Re-Upload Submissions" attaches to the student's submission as a
    comment file: the download's ``<name>_<user id>_<attachment id>_`` then ``suffix``."""
    if not file.attachment_id:
        raise ValueError(f"{file.prefix}: no attachment id, Canvas cannot match a re-upload to it")
    return f"{file.prefix}_{file.attachment_id}_{suffix}"


def safe_component(text: str, limit: int = 120) -> str:
    """A file-name component without path separators or control characters."""
    text = "".join(ch if ch.isprintable() and ch not in '/\\:*?"<>|' else "_" for ch in text).strip(" .")
    return text[:limit] or "_"
