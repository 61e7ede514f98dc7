"""Is a CSV file regular enough for polars' parser to read it as Python's csv module does?

Python's csv module is the exact reader (it keeps CR and LF inside quoted
fields and lets every record say its own field count), but it is slow. A
file is *regular* when every record has the header's field count and its
quoting is plain RFC 4180: a quoted field starts with a quote and ends with
one followed by a comma or the end of the line, a quote inside it is doubled,
an unquoted field holds no quote and no CR that does not end a line, and no
line is blank; the bytes are valid UTF-8, without a BOM. On a regular file
polars and the csv module split the same records into the same fields, so a
reader can take polars' parser and keep the csv module for the files that
are not. One compiled pass over the bytes
decides (numba; compiled code is cached beside this file).
"""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
from numba import njit

from aerec import schema as s

_QUOTE, _COMMA, _LF, _CR = 34, 44, 10, 13
_PLAIN = _QUOTE  # bytes above the quote, but the comma, need no look in an unquoted field
_BOM = b"\xef\xbb\xbf"


def fast_records(
    local: Path, source: str, header: list[str], names: list[str]
) -> pl.DataFrame | None:
    """The records of a regular UTF-8 file as the exact reader gives them, or None.

    Columns: line (record number, the header being 1), raw (null: see
    `fill_raw`), the `names` columns as strings, and source. None when the
    file is not regular (`regular_records`: that includes invalid UTF-8 and a
    BOM): those take the exact reader.
    """
    # The check (compiled, without the GIL) runs beside polars' parse; an
    # irregular file may make polars fail, and then goes the exact way anyway.
    with ThreadPoolExecutor(max_workers=1) as pool:
        counting = pool.submit(regular_records, local, len(header))
        try:
            frame = _parse(local, source, header, names)
        except pl.exceptions.PolarsError:
            frame = None
        count = counting.result()
    return frame if count > 0 and frame is not None and frame.height == count else None


def _parse(local: Path, source: str, header: list[str], names: list[str]) -> pl.DataFrame:
    columns = [f"_f{i}" for i in range(len(header))]
    return (
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


def regular_records(path: Path, n_fields: int) -> int:
    """Records after the header of a regular UTF-8 file without a BOM; -1 for any other file."""
    data = np.fromfile(path, dtype=np.uint8)
    if data[:3].tobytes() == _BOM:
        return -1
    return int(_scan(data, n_fields))


@njit(nogil=True, cache=True)
def _utf8_length(data: np.ndarray, i: int) -> int:
    """Bytes of the UTF-8 sequence starting at data[i] (>= 0x80), or 0 when it is invalid.

    Exactly what Python's strict decoder accepts: no overlong forms, no
    surrogates, nothing past U+10FFFF.
    """
    c, n = data[i], data.shape[0]
    if 0xC2 <= c <= 0xDF:
        length, low, high = 2, 0x80, 0xBF
    elif c == 0xE0:
        length, low, high = 3, 0xA0, 0xBF
    elif 0xE1 <= c <= 0xEC or 0xEE <= c <= 0xEF:
        length, low, high = 3, 0x80, 0xBF
    elif c == 0xED:
        length, low, high = 3, 0x80, 0x9F
    elif c == 0xF0:
        length, low, high = 4, 0x90, 0xBF
    elif 0xF1 <= c <= 0xF3:
        length, low, high = 4, 0x80, 0xBF
    elif c == 0xF4:
        length, low, high = 4, 0x80, 0x8F
    else:
        return 0
    if i + length > n or not low <= data[i + 1] <= high:
        return 0
    for k in range(i + 2, i + length):
        if not 0x80 <= data[k] <= 0xBF:
            return 0
    return length


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
                while i < n and data[i] != _QUOTE and data[i] < 0x80:
                    i += 1  # plain ASCII text: the hot loop
                if i >= n:
                    return -1  # the quote never closes
                d = data[i]
                if d == _QUOTE:
                    if i + 1 < n and data[i + 1] == _QUOTE:
                        i += 2
                        continue
                    i += 1
                    break
                if d >= 0x80:
                    step = _utf8_length(data, i)
                    if step == 0:
                        return -1  # not UTF-8
                    i += step
                    continue
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
        if _PLAIN < c < 0x80 and c != _COMMA:
            i += 1  # plain ASCII (no quote, comma, CR or LF): skip the run
            while i < n and _PLAIN < data[i] < 0x80 and data[i] != _COMMA:
                i += 1
            continue
        if c >= 0x80:
            step = _utf8_length(data, i)
            if step == 0:
                return -1  # not UTF-8
            i += step
            continue
        i += 1
    if not line_start:  # the last record has no line end
        if fields != n_fields:
            return -1
        records += 1
    return records - 1  # the header is no record
