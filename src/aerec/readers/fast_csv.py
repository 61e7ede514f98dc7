"""Is a CSV file regular enough for polars' parser to read it as Python's csv module does?

Python's csv module is the exact reader (it keeps CR and LF inside quoted
fields and lets every record say its own field count), but it is slow. A
file is *regular* when every record has the header's field count and its
quoting is plain RFC 4180: a quoted field starts with a quote and ends with
one followed by a comma or the end of the line, a quote inside it is doubled,
an unquoted field holds no quote and no CR that does not end a line, and no
line is blank. On a regular file polars and the csv module split the same
records into the same fields, so a reader can take polars' parser and keep
the csv module for the files that are not. One compiled pass over the bytes
decides (numba; compiled code is cached beside this file).
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import numpy as np
import polars as pl
from numba import njit

from aerec import schema as s

_QUOTE, _COMMA, _LF, _CR = 34, 44, 10, 13
_CHUNK_BYTES = 1 << 24
_BOM = b"\xef\xbb\xbf"


def fast_records(
    local: Path, source: str, header: list[str], names: list[str]
) -> pl.DataFrame | None:
    """The records of a regular UTF-8 file as the exact reader gives them, or None.

    Columns: line (record number, the header being 1), raw (null: see
    `fill_raw`), the `names` columns as strings, and source. None when the
    file is not regular (`regular_records`), not valid UTF-8, or starts with
    a BOM: those take the exact reader.
    """
    count = regular_records(local, len(header))
    if count <= 0 or not _plain_utf8(local):
        return None
    columns = [f"_f{i}" for i in range(len(header))]
    frame = (
        pl.scan_csv(
            local,
            has_header=False,
            skip_rows=1,
            schema=dict.fromkeys(columns, pl.String),
            quote_char='"',
            empty_string_is_null=False,
            row_index_name=s.LINE,
            row_index_offset=2,
        )
        .select(
            pl.col(s.LINE).cast(pl.Int64),
            pl.lit(None, dtype=pl.String).alias(s.RAW),
            *(pl.col(columns[header.index(name)]).alias(name) for name in names),
            pl.lit(source).alias(s.SOURCE),
        )
        .collect()
    )
    return frame if frame.height == count else None


def fill_raw(rejects: pl.DataFrame, locals_by_source: dict[str, Path]) -> pl.DataFrame:
    """Rejects with the raw text of those read fast: the record's fields re-joined as CSV.

    The text is what the exact reader writes (Python's csv.writer), built for
    the rejected records only.
    """
    missing = rejects.filter(
        pl.col(s.RAW).is_null() & pl.col(s.SOURCE).is_in(list(locals_by_source))
    )
    if missing.is_empty():
        return rejects
    texts = []
    for source, lines in missing.group_by(s.SOURCE, maintain_order=True).agg(s.LINE).iter_rows():
        fields = (
            pl.scan_csv(
                locals_by_source[source],
                has_header=False,
                skip_rows=1,
                infer_schema=False,
                quote_char='"',
                empty_string_is_null=False,
                row_index_name=s.LINE,
                row_index_offset=2,
            )
            .filter(pl.col(s.LINE).is_in(lines))
            .collect()
        )
        for row in fields.iter_rows():
            texts.append((source, int(row[0]), _joined(row[1:])))
    raw = pl.DataFrame(
        texts, schema={s.SOURCE: pl.String, s.LINE: pl.Int64, "_raw": pl.String}, orient="row"
    )
    return (
        rejects.join(raw, on=[s.SOURCE, s.LINE], how="left", maintain_order="left")
        .with_columns(pl.coalesce(s.RAW, "_raw").alias(s.RAW))
        .drop("_raw")
    )


def _joined(fields: tuple) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()


def _plain_utf8(local: Path) -> bool:
    """True when the file is valid UTF-8 without a BOM."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with local.open("rb") as fh:
        first = True
        while chunk := fh.read(_CHUNK_BYTES):
            if first and chunk.startswith(_BOM):
                return False
            first = False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def regular_records(path: Path, n_fields: int) -> int:
    """The number of records after the header of a regular file, or -1 when it is not one."""
    data = np.fromfile(path, dtype=np.uint8)
    return int(_scan(data, n_fields))


@njit(nogil=True, cache=True)
def _scan(data: np.ndarray, n_fields: int) -> int:
    n = data.shape[0]
    i, records, fields = 0, 0, 1
    at_start = True  # at the start of a field
    line_start = True  # at the start of a record
    while i < n:
        c = data[i]
        if at_start and c == _QUOTE:
            i += 1
            while True:  # inside a quoted field
                if i >= n:
                    return -1  # the quote never closes
                if data[i] == _QUOTE:
                    if i + 1 < n and data[i + 1] == _QUOTE:
                        i += 2
                        continue
                    i += 1
                    break
                i += 1
            if i < n and data[i] != _COMMA and data[i] != _LF and data[i] != _CR:
                return -1  # text after the closing quote
            at_start, line_start = False, False
            continue
        if c == _COMMA:
            fields += 1
            at_start, line_start = True, False
            i += 1
            continue
        if c == _CR:
            if i + 1 >= n or data[i + 1] != _LF:
                return -1  # a bare CR outside quotes
            i += 1
            c = _LF
        if c == _LF:
            if line_start:
                return -1  # a blank line
            if fields != n_fields:
                return -1
            records += 1
            fields, at_start, line_start = 1, True, True
            i += 1
            continue
        if c == _QUOTE:
            return -1  # a quote inside an unquoted field
        at_start, line_start = False, False
        i += 1
    if not line_start:  # the last record has no line end
        if fields != n_fields:
            return -1
        records += 1
    return records - 1  # the header is no record
