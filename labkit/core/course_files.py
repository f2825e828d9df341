"""The course root's TA-edited TOML files (overrides.toml, extensions.toml): each is a list of
``[[<table>]]`` entries and nothing else, read with the same errors."""
from __future__ import annotations

import tomllib


def toml_entries(text: str, *, table: str, where: str, error: type[Exception]) -> list:
    """The ``[[table]]`` entries of a file's ``text``; ``error(f"{where}: ...")`` for anything else."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{where}: not valid TOML: {exc}") from None
    other = set(data) - {table}
    if other:
        raise error(f"{where}: only [[{table}]] tables belong here, found {', '.join(sorted(other))}")
    entries = data.get(table, [])
    if not isinstance(entries, list):
        raise error(f"{where}: write each {table} as an [[{table}]] table")
    return entries
