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
    plain_files,
    scan_lines,
    split_fields,
)

_HEADER = "id,prediction"
_CELL = r"^r([1-9][0-9]*)_c([1-9][0-9]*)$"
_ID = "_id"
_LAYOUT = "CIL 'Id,Prediction' with r<row>_c<col> ids"


def read(paths: list[Path], scale: RatingScale) -> ReadResult:
    """Read CIL `Id,Prediction` files (plain or gzip) into the canonical table."""
    with plain_files(paths) as plain:
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
