"""ETH CIL collaborative-filtering files: `Id,Prediction` with `r<row>_c<col>` ids.

The id names the matrix cell, 1-based: the row is the user, the column the
item. Both are kept as the digits written (strings, as every reader's ids);
an id that is not `r<n>_c<m>` with n, m >= 1 has no user or item and is
rejected as a missing id. Ratings are integers 1-5; there are no timestamps.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from aerec import schema as s
from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.base import (
    ReadResult,
    canonicalize,
    check_head,
    on_scale,
    plain_files,
    scan_lines,
    split_fields,
)

_HEADER = "id,prediction"
_CELL = r"^r([1-9][0-9]*)_c([1-9][0-9]*)$"
_ID = "_id"
_LAYOUT = "CIL 'Id,Prediction' with r<row>_c<col> ids"


def read(paths: list[Path], scale: RatingScale) -> ReadResult:
    """Read CIL `Id,Prediction` files (plain or gzip) into the canonical table.

    A clean file (see `fast_read`) takes polars' CSV parser; any other goes
    the exact line-by-line way, which finds and explains every bad line.
    """
    with plain_files(paths) as plain:
        fast = fast_read(paths, plain, scale)
        return fast if fast is not None else exact_read(paths, plain, scale)


def exact_read(paths: list[Path], plain: list[Path], scale: RatingScale) -> ReadResult:
    """Line by line: every line a rating or a reject with its reason."""
    records = []
    for path, local in zip(paths, plain, strict=True):
        lines = scan_lines(local, path.name)
        header_line = _header_line(lines, path)
        if header_line:
            lines = lines.filter(pl.col(s.LINE) != header_line)
        frame = _cells(split_fields(lines, ",", [_ID, s.RATING]))
        check_head(frame, path, _LAYOUT, scale)
        records.append(frame)
    return canonicalize(records, scale)


def _header_line(lines: pl.LazyFrame, path: Path) -> int:
    """The line of the `Id,Prediction` header, 0 when the file starts with data.

    Any other first line means the file is something else.
    """
    head = lines.head(1).collect()
    if head.height == 0:
        raise AerecError(f"{path}: no records found; expected a {_LAYOUT}")
    line, text = head[s.LINE][0], head[s.RAW][0]
    if text.replace(" ", "").lower() == _HEADER:
        return line
    if re.match(_CELL, text.split(",")[0].strip()):
        return 0
    raise AerecError(f"{path}: line {line} is '{text[:80]}'; expected a {_LAYOUT}")


def _cells(fields: pl.LazyFrame) -> pl.LazyFrame:
    """User and item from the cell id; null (a missing id) when it is malformed."""
    cell = pl.col(_ID)
    return fields.with_columns(
        cell.str.extract(_CELL, 1).alias(s.USER_ID),
        cell.str.extract(_CELL, 2).alias(s.ITEM_ID),
    )


def fast_read(paths: list[Path], plain: list[Path], scale: RatingScale) -> ReadResult | None:
    """The canonical table of clean files, or None when any line needs the exact path.

    Clean: every record is `r<n>_c<m>,<rating>` exactly (no blank line,
    space, quote, BOM or bare CR; ids without leading zeros; ratings on the
    scale), one comma per line, and no cell twice. Then polars' parser and
    the line-by-line path give the same table, with no rejects; the comma
    count (records + a header's one) proves no line has a third field.
    """
    frames, rows = [], {}
    for path, local in zip(paths, plain, strict=True):
        header = _fast_header(local)
        frame = None if header is None else _fast_cells(local, header, scale)
        if frame is None or not frame.height or _commas(local) != frame.height + (header > 0):
            return None
        frames.append(frame)
        rows[path.name] = rows.get(path.name, 0) + frame.height
    cells = pl.concat(frames)
    if cells.get_column(_KEY).unique().len() != cells.height:  # ~3x faster than is_duplicated
        return None
    ratings = cells.select(*s.RATINGS_SCHEMA)
    return ReadResult(ratings, s.empty_rejects(), ratings.height, rows_by_source=rows)


_KEY = "_cell"
_CLEAN = "_clean"
_CHUNK_BYTES = 1 << 24


def _fast_header(local: Path) -> int | None:
    """1 for an exact `Id,Prediction` first line, 0 for a clean cell; None for anything else."""
    with local.open("rb") as fh:
        first = fh.readline(256).rstrip(b"\n").removesuffix(b"\r")
    if first.lower() == _HEADER.encode():
        return 1
    cell = first.split(b",")[0].decode("ascii", errors="replace")
    return 0 if re.match(_CELL, cell) else None


def _fast_cells(local: Path, header: int, scale: RatingScale) -> pl.DataFrame | None:
    """Canonical columns plus `_cell`, a hash of the id, or None when a record is not clean.

    A matched id is the cell written one way only (no leading zeros), so
    equal cells have equal ids; a repeated hash sends the file to the exact
    path, so a collision costs time, never a wrong drop.
    """
    user, rating = pl.col(s.USER_ID), pl.col("_rating64")
    frame = (
        pl.scan_csv(
            local,
            has_header=False,
            quote_char=None,
            schema={_ID: pl.String, s.RATING: pl.String},
            skip_rows=1 if header else 0,
            truncate_ragged_lines=True,
            encoding="utf8-lossy",
        )
        # Each expression once, on the columns of the step before.
        .select(
            pl.col(_ID).str.extract_groups(_CELL).alias("_cells"),
            pl.col(s.RATING).cast(pl.Float64, strict=False).alias("_rating64"),
            pl.col(_ID).hash(seed=0).alias(_KEY),
        )
        .select(
            pl.col("_cells").struct.field("1").alias(s.USER_ID),
            pl.col("_cells").struct.field("2").alias(s.ITEM_ID),
            "_rating64",
            _KEY,
        )
        .select(
            user,
            s.ITEM_ID,
            rating.cast(pl.Float32).alias(s.RATING),
            pl.lit(None, dtype=pl.Int64).alias(s.TIMESTAMP),
            _KEY,
            (user.is_not_null() & on_scale(rating, scale).fill_null(False)).alias(_CLEAN),
        )
        .collect()
    )
    if not frame.get_column(_CLEAN).all():
        return None
    return frame.drop(_CLEAN)


def _commas(local: Path) -> int:
    """Commas in the file; -1 when it holds a byte the fast path leaves to the exact one.

    Those bytes: a BOM at the start, a quote, or a CR that does not end a line.
    """
    commas, crs, crlfs, previous = 0, 0, 0, b""
    with local.open("rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            if (not previous and chunk.startswith(b"\xef\xbb\xbf")) or b'"' in chunk:
                return -1
            joined = previous[-1:] + chunk
            commas += chunk.count(b",")
            crs += chunk.count(b"\r")
            crlfs += joined.count(b"\r\n")
            previous = chunk
    if crs != crlfs:
        return -1
    return commas
