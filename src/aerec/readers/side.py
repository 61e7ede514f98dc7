"""Side files (users, items) of the MovieLens-family and RecBole formats.

Side files are small (thousands to tens of thousands of lines), so they are
read eagerly, line by line, in Python. They follow the ratings' rules: a line
that cannot be read is a reject with its source, line number, reason and text,
an id seen twice keeps its last line (the earlier ones are duplicates), and
per file lines read = rows kept + lines rejected.

The text is UTF-8 when it decodes as UTF-8 and Windows-1252 (else Latin-1)
otherwise: MovieLens item files are Latin-1, whose accents Windows-1252 reads
the same, and their 0x80-0x9F bytes are Windows-1252 punctuation, never the
C1 control codes Latin-1 would make of them; Latin-1 text with accents is
practically never valid UTF-8, so one rule reads them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from aerec import schema as s
from aerec.errors import AerecError
from aerec.readers.base import ReadResult, TableCount, rating_count

# Parses a line's fields (the id taken out) into the table's values; raises
# ValueError for a value that does not parse.
RowParser = Callable[[list[str]], tuple[Any, ...]]
_YEAR = re.compile(r"\((\d{4})\)\s*$")
_UTF8_BOM = "\ufeff"


@dataclass(frozen=True)
class SideFile:
    """A side file to read: the path to open (maybe a gunzipped copy) and the input's path."""

    local: Path
    path: Path

    @property
    def source(self) -> str:
        """The name rejects give as their source, as for rating files."""
        return self.path.name


@dataclass(frozen=True)
class Layout:
    """How a side file is laid out: field `key` is the id, `parse` types the others."""

    name: str  # what the file should look like, for error messages
    separator: str
    n_fields: int
    parse: RowParser
    schema: dict[str, pl.DataType]  # output columns, the id column first
    skip_header: bool = False
    key: int = 0


@dataclass(frozen=True)
class SideTable:
    """One side table read from one or more files: rows by id, rejects, lines per file."""

    table: pl.DataFrame
    rejects: pl.DataFrame
    rows_by_source: dict[str, int]


def decode(data: bytes) -> str:
    """File bytes as text: UTF-8 (a BOM dropped) when valid, else Windows-1252, else Latin-1.

    Windows-1252 is Latin-1 with printable characters where Latin-1 has C1
    control codes (0x80-0x9F: a 0x92 apostrophe, a 0x99 trade mark), which is
    what such bytes in these files are; a byte Windows-1252 leaves undefined
    (0x81, 0x8D, 0x8F, 0x90, 0x9D) makes the file Latin-1.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    return text.removeprefix(_UTF8_BOM)


def read_side(files: Sequence[SideFile], layout: Layout) -> SideTable:
    """Read side files of one layout into one table keyed by id.

    An id seen twice, in one file or across files, keeps its last line; the
    earlier ones are duplicates. Blank lines are not records. A file with no
    record, or none that reads, is an error naming the expected layout.
    """
    good: dict[str, tuple[SideFile, int, str, tuple[Any, ...]]] = {}
    rejects: list[tuple[str, int, str, str]] = []
    rows_by_source: dict[str, int] = {}
    for file in files:
        rows_read, kept = 0, 0
        # Only LF ends a line: str.splitlines would also split on U+0085,
        # the Latin-1 reading of byte 0x85 (an ellipsis in cp1252 titles).
        lines = decode(file.local.read_bytes()).split("\n")
        for number, text in enumerate(lines, start=1):
            line = text.removesuffix("\r")
            if (layout.skip_header and number == 1) or not line.strip():
                continue
            rows_read += 1
            values, reason = _parse_line(line, layout)
            if reason is not None:
                rejects.append((file.source, number, reason, line))
                continue
            kept += 1
            key = values[0]
            earlier = good.pop(key, None)
            if earlier is not None:
                rejects.append((earlier[0].source, earlier[1], s.REASON_DUPLICATE, earlier[2]))
            good[key] = (file, number, line, values)
        _check_file(file, layout, rows_read, kept)
        rows_by_source[file.source] = rows_by_source.get(file.source, 0) + rows_read
    table = pl.DataFrame([v[3] for v in good.values()], schema=layout.schema, orient="row")
    reject_frame = pl.DataFrame(rejects, schema=s.REJECTS_SCHEMA, orient="row")
    return SideTable(
        table, reject_frame.sort(s.SOURCE, s.LINE, maintain_order=True), rows_by_source
    )


def _parse_line(line: str, layout: Layout) -> tuple[tuple[Any, ...], str | None]:
    """A line's typed values (id first), or the reason it cannot be read."""
    fields = [f.strip() for f in line.split(layout.separator)]
    if len(fields) != layout.n_fields:
        return (), s.REASON_FIELD_COUNT
    key = fields.pop(layout.key)
    if not key:
        return (), s.REASON_MISSING_ID
    try:
        return (key, *layout.parse(fields)), None
    except ValueError:
        return (), s.REASON_BAD_NUMBER


def _check_file(file: SideFile, layout: Layout, rows_read: int, kept: int) -> None:
    if rows_read == 0:
        raise AerecError(f"{file.path}: empty file; expected {layout.name}")
    if kept == 0:
        raise AerecError(
            f"{file.path}: no line reads as {layout.name}; check the file and --format"
        )


def optional_int(text: str) -> int | None:
    """An integer field; blank means unknown; anything else raises ValueError."""
    return int(text) if text else None


def title_year(title: str) -> int | None:
    """The year in a MovieLens title's trailing '(1995)', if any."""
    match = _YEAR.search(title)
    return int(match.group(1)) if match else None


def with_side(result: ReadResult, users: SideTable | None, items: SideTable | None) -> ReadResult:
    """The ratings result with side tables, their rejects and their line counts added.

    rows_read grows by the side files' rejected lines only, so that for every
    reader rows_read = accepted ratings + all rejects.
    """
    side = [t for t in (users, items) if t is not None]
    if not side:
        return result
    tables = {"ratings": rating_count(result)}
    for name, table in (("users", users), ("items", items)):
        if table is not None:
            read = sum(table.rows_by_source.values())
            tables[name] = TableCount(
                tuple(table.rows_by_source), read, read - table.rejects.height, table.rejects.height
            )
    return ReadResult(
        ratings=result.ratings,
        rejects=pl.concat([result.rejects, *(t.rejects for t in side)]),
        rows_read=result.rows_read + sum(t.rejects.height for t in side),
        users=users.table if users else None,
        items=items.table if items else None,
        rows_by_source=result.rows_by_source
        | {k: v for t in side for k, v in t.rows_by_source.items()},
        tables=tables,
    )
