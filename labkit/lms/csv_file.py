"""CSV files exported by an LMS, read so that they can be written back byte for byte.

Moodle's offline grading worksheet must go back with the columns, encoding and layout it
came with: Moodle finds its columns by their header text and refuses a row whose
"Last modified (grade)" is older than the grade it holds. ``CsvTable`` keeps every field's raw
text (quotes included), the byte-order mark, the encoding and each row's line ending, so
``dumps()`` of an untouched table reproduces the file exactly; ``set()`` re-quotes only the
fields it changes, in the style the file already uses.
"""
from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path

ENCODINGS = ("utf-8", "cp1250")   # UTF-8 is what Moodle and Canvas write; cp1250 is Polish Excel's "save as CSV"


@dataclass
class Field:
    raw: str      # as in the file, quotes and doubled quotes included
    value: str    # the parsed text


@dataclass
class Row:
    fields: list[Field]
    end: str      # "\r\n", "\n", "\r" or "" (the last line without a newline)


@dataclass
class CsvTable:
    """A parsed CSV with everything needed to write it back unchanged."""

    encoding: str
    bom: bool
    delimiter: str
    header: Row
    rows: list[Row] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [f.value for f in self.header.fields]

    def column(self, *names: str, required: bool = True) -> int | None:
        """Index of the first header equal to one of ``names`` (case and surrounding spaces
        ignored); an error naming the columns the file has when ``required``."""
        wanted = [n.strip().casefold() for n in names]
        for want in wanted:
            for i, col in enumerate(self.columns):
                if col.strip().casefold() == want:
                    return i
        if required:
            raise KeyError(f"no column {' / '.join(repr(n) for n in names)}; the file has {self.columns}")
        return None

    def get(self, row: Row, index: int | None) -> str:
        if index is None or index >= len(row.fields):
            return ""
        return row.fields[index].value

    def set(self, row: Row, index: int, value: str) -> None:
        """Replace one field, quoted like the file quotes that field (or when it must be)."""
        while len(row.fields) <= index:
            row.fields.append(Field("", ""))
        old = row.fields[index]
        quote = old.raw.startswith('"') or _needs_quotes(value, self.delimiter)
        row.fields[index] = Field(_quote(value) if quote else value, value)

    def records(self) -> list[dict[str, str]]:
        """The rows as dicts by header (for reading; writing goes through ``set``)."""
        cols = self.columns
        return [{c: self.get(r, i) for i, c in enumerate(cols)} for r in self.rows]

    def dumps(self) -> bytes:
        text = "".join(self.delimiter.join(f.raw for f in row.fields) + row.end
                       for row in [self.header, *self.rows])
        data = text.encode(self.encoding)
        return (codecs.BOM_UTF8 if self.bom else b"") + data

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.dumps())
        return path


def _needs_quotes(value: str, delimiter: str) -> bool:
    return any(ch in value for ch in (delimiter, '"', "\n", "\r")) or value != value.strip(" ")


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def decode(data: bytes) -> tuple[str, str, bool]:
    """(text, encoding, had a UTF-8 BOM)."""
    bom = data.startswith(codecs.BOM_UTF8)
    if bom:
        data = data[len(codecs.BOM_UTF8):]
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding, bom
        except UnicodeDecodeError:
            continue
    raise ValueError("the CSV is neither UTF-8 nor cp1250")


def _rows(text: str, delimiter: str) -> list[Row]:
    """RFC 4180 with the raw text of every field kept (quoted fields may span lines)."""
    rows: list[Row] = []
    fields: list[Field] = []
    i, n = 0, len(text)
    while i < n or fields:
        start = i
        value_chars: list[str] = []
        if i < n and text[i] == '"':
            i += 1
            while i < n:
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        value_chars.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                value_chars.append(text[i])
                i += 1
            while i < n and text[i] not in (delimiter, "\r", "\n"):   # junk after a closing quote
                value_chars.append(text[i])
                i += 1
        else:
            while i < n and text[i] not in (delimiter, "\r", "\n"):
                value_chars.append(text[i])
                i += 1
        fields.append(Field(text[start:i], "".join(value_chars)))
        if i < n and text[i] == delimiter:
            i += 1
            continue
        end = ""
        if text.startswith("\r\n", i):
            end, i = "\r\n", i + 2
        elif i < n and text[i] in "\r\n":
            end, i = text[i], i + 1
        rows.append(Row(fields, end))
        fields = []
        if i >= n:
            break
    return rows


def loads(data: bytes, delimiter: str | None = None) -> CsvTable:
    """Parse CSV bytes; the delimiter is the header line's most frequent of ``,`` ``;`` tab."""
    text, encoding, bom = decode(data)
    if delimiter is None:
        first = text.split("\n", 1)[0]
        delimiter = max((",", ";", "\t"), key=first.count)
    rows = _rows(text, delimiter)
    if not rows:
        raise ValueError("the CSV is empty")
    return CsvTable(encoding=encoding, bom=bom, delimiter=delimiter, header=rows[0], rows=rows[1:])


def load(path: Path) -> CsvTable:
    return loads(Path(path).read_bytes())
