"""Print the uv options that reproduce this host's pip configuration, one per line.

``./kit`` installs the venv with uv when it can (about 45 s here against pip's 104 s, both
cold), and uv reads neither pip.conf nor ``PIP_*`` variables. The host decides where
packages come from (here: local wheel folders and file:// indexes, and a constraints file
that keeps torch to the wheel on disk), so its settings are carried over, not guessed:
``pip config list`` gives the files' and the environment's values, the environment winning
as it does for pip.

Usage: ``python tools/uv_args.py`` (asks pip) or ``... --stdin`` (reads ``pip config list`` output); stdlib only, since it
runs before the venv has anything in it.
"""
from __future__ import annotations

import ast
import shlex
import subprocess
import sys

# pip option -> uv option; values of these options are whitespace-separated lists in pip.
LIST_OPTIONS = {"find-links": "--find-links", "extra-index-url": "--extra-index-url",
                "constraint": "--constraint"}
SINGLE_OPTIONS = {"index-url": "--index-url"}
FLAG_OPTIONS = {"no-index": "--no-index"}
# Sections pip reads for ``pip install``, lowest precedence first; ":env:" is PIP_* variables.
SECTIONS = ("global", "install", ":env:")


def effective(listing: str) -> dict[str, str]:
    """option -> value from ``pip config list`` output, later sections overriding earlier ones."""
    found: dict[tuple[str, str], str] = {}
    for line in listing.splitlines():
        key, sep, raw = line.partition("=")
        section, dot, option = key.rpartition(".")
        if not sep or not dot or section not in SECTIONS:
            continue
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        found[(section, option)] = str(value)
    options: dict[str, str] = {}
    for section in SECTIONS:
        for (where, option), value in found.items():
            if where == section:
                options[option] = value
    return options


def uv_args(options: dict[str, str]) -> list[str]:
    """The uv ``pip install`` options equivalent to pip's ``options``."""
    args: list[str] = []
    for option, flag in LIST_OPTIONS.items():
        for value in shlex.split(options.get(option, "")):
            args += [flag, value]
    for option, flag in SINGLE_OPTIONS.items():
        if options.get(option):
            args += [flag, options[option]]
    for option, flag in FLAG_OPTIONS.items():
        if options.get(option, "").lower() in ("1", "true", "yes", "on"):
            args.append(flag)
    return args


def main() -> None:
    if sys.argv[1:] == ["--stdin"]:
        listing = sys.stdin.read()
    else:
        listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                                 text=True, check=False).stdout
    print("\n".join(uv_args(effective(listing))))


if __name__ == "__main__":
    main()
