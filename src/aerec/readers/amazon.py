"""Amazon "ratings only" CSVs (McAuley et al.): the 2014, 2018 and 2023 releases.

2014: `user,item,rating,ts`, no header. 2018: `item,user,rating,ts` (item
first), no header, CRLF. 2023: header `user_id,parent_asin,rating,timestamp`
(`asin` in some copies), timestamps in milliseconds. Ids are strings: item ids
(ASINs) are 10 characters with leading zeros or a trailing X.

Excel-touched copies add a BOM and CRLF (`scan_lines` strips both), write
`5` for `5.0` (the same number once parsed) and drop the leading zeros of
all-digit item ids. An ASIN is always exactly 10 characters, and an id made
only of digits is an ISBN-10 whose check digit was not X (Excel leaves ids
with letters alone), so padding an all-digit item id with zeros to 10
characters gives back exactly the original id. User ids are not fixed-length
and are never all digits in these releases, so they are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from aerec import schema as s
from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.base import (
    FIELDS_OK,
    ReadResult,
    canonicalize,
    check_head,
    plain_files,
    scan_lines,
    split_fields,
)

_ASIN_LENGTH = 10
_LAYOUT_2014 = [s.USER_ID, s.ITEM_ID, s.RATING, s.TIMESTAMP]
_LAYOUT_2018 = [s.ITEM_ID, s.USER_ID, s.RATING, s.TIMESTAMP]
# 2023 header names -> canonical columns; either item column is accepted.
_HEADER_2023 = {
    "user_id": s.USER_ID,
    "parent_asin": s.ITEM_ID,
    "asin": s.ITEM_ID,
    "rating": s.RATING,
    "timestamp": s.TIMESTAMP,
}
# 1e11 seconds is the year 5138, 1e11 milliseconds is 1973: real timestamps
# fall on one side or the other, which tells seconds from milliseconds.
_MS_THRESHOLD = 10**11
# Header names in a headerless layout's column order (the tribo2003 copy of
# the 2014 file has `UserId,ItemId,rating,timestamp`).
_USER_WORDS = ("user", "reviewer")
_ITEM_WORDS = ("item", "asin", "product")

# Given a file and its first line (number, text): the field names, and the
# line number of a header to skip (0 for none).
Layout = Callable[[Path, tuple[int, str]], tuple[list[str | None], int]]


def read_2014(paths: list[Path], scale: RatingScale) -> ReadResult:
    """Read 2014 ratings-only CSVs: `user,item,rating,ts`, no header, seconds."""
    return _read(paths, scale, "amazon-2014", lambda p, first: _headerless(p, first, _LAYOUT_2014))


def read_2018(paths: list[Path], scale: RatingScale) -> ReadResult:
    """Read 2018 ratings-only CSVs: `item,user,rating,ts` (item first), no header."""
    return _read(paths, scale, "amazon-2018", lambda p, first: _headerless(p, first, _LAYOUT_2018))


def read_2023(paths: list[Path], scale: RatingScale) -> ReadResult:
    """Read 2023 ratings CSVs with header `user_id,parent_asin,rating,timestamp` (ms)."""
    return _read(paths, scale, "amazon-2023", _with_header, timestamp_divisor=1000)


def _read(
    paths: list[Path],
    scale: RatingScale,
    fmt: str,
    layout_of: Layout,
    timestamp_divisor: int = 1,
) -> ReadResult:
    """Scan each file, check its first records, then canonicalize all of them."""
    records = []
    with plain_files(paths) as plain:
        for path, local in zip(paths, plain, strict=True):
            lines = scan_lines(local, path.name)
            names, header_line = layout_of(path, _first_line(lines, path, fmt))
            if header_line:
                lines = lines.filter(pl.col(s.LINE) != header_line)
            frame = _restore_item_zeros(split_fields(lines, ",", names))
            expected = f"{fmt} ({','.join(n or '-' for n in names)})"
            check_head(frame, path, expected, scale)
            _check_columns(frame, path, fmt, names, timestamp_divisor)
            records.append(frame)
        return canonicalize(records, scale, timestamp_divisor=timestamp_divisor)


def _first_line(lines: pl.LazyFrame, path: Path, fmt: str) -> tuple[int, str]:
    """The first non-blank line and its number; an empty file is an error."""
    head = lines.head(1).collect()
    if head.height == 0:
        raise AerecError(f"{path}: no records found; expected an {fmt} ratings CSV")
    return head[s.LINE][0], head[s.RAW][0]


def _headerless(
    path: Path, first: tuple[int, str], layout: list[str]
) -> tuple[list[str | None], int]:
    """The layout, and the line of a header to skip (0 for none).

    A first line whose rating and timestamp fields are not numbers is a header.
    It is skipped when its names follow the layout's user/item order, and an
    error otherwise: a header naming other columns means another format.
    """
    line, text = first
    fields = [f.strip().lower() for f in text.split(",")]
    if len(fields) != len(layout) or _is_number(fields[2]) or _is_number(fields[3]):
        return list(layout), 0
    user, item = fields[layout.index(s.USER_ID)], fields[layout.index(s.ITEM_ID)]
    if any(w in user for w in _USER_WORDS) and any(w in item for w in _ITEM_WORDS):
        if "parent_asin" in fields:
            raise _header_error(path, first, layout, "it looks like amazon-2023 (ms)")
        return list(layout), line
    raise _header_error(path, first, layout, "its user and item columns are not in this order")


def _header_error(path: Path, first: tuple[int, str], layout: list[str], why: str) -> AerecError:
    return AerecError(
        f"{path}: line {first[0]} '{first[1][:80]}' looks like a header (its rating and "
        f"timestamp are not numbers), which the headerless layout {','.join(layout)} does not "
        f"have: {why}; check --format"
    )


def _with_header(path: Path, first: tuple[int, str]) -> tuple[list[str | None], int]:
    """Map a 2023 header to canonical columns; a missing column is an error."""
    line, text = first
    fields = [f.strip().lower() for f in text.split(",")]
    # Files with both item columns use parent_asin, as the 2023 benchmark does.
    names = [
        None if f == "asin" and "parent_asin" in fields else _HEADER_2023.get(f) for f in fields
    ]
    if sorted(n for n in names if n) != sorted(s.RATINGS_SCHEMA):
        raise AerecError(
            f"{path}: line {line} is '{text[:80]}', expected the header "
            "user_id,parent_asin,rating,timestamp (or asin for parent_asin); check --format"
        )
    return names, line


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _restore_item_zeros(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Pad all-digit item ids to the 10 characters of an ASIN (see module doc)."""
    item = pl.col(s.ITEM_ID)
    short_digits = item.str.contains(r"^[0-9]+$") & (item.str.len_chars() < _ASIN_LENGTH)
    return frame.with_columns(
        pl.when(short_digits).then(item.str.zfill(_ASIN_LENGTH)).otherwise(item).alias(s.ITEM_ID)
    )


def _check_columns(
    frame: pl.LazyFrame, path: Path, fmt: str, names: list[str | None], divisor: int
) -> None:
    """Catch files of a sibling release: swapped user/item, seconds vs. milliseconds.

    Both would otherwise read without a single reject and silently mean
    something else. Judged on the first well-formed records only.
    """
    head = (
        frame.filter(pl.col(FIELDS_OK))
        .head(100)
        .select(
            (pl.col(s.USER_ID).str.len_chars() == _ASIN_LENGTH).mean().alias("user_asin"),
            (pl.col(s.ITEM_ID).str.len_chars() == _ASIN_LENGTH).mean().alias("item_asin"),
            pl.col(s.TIMESTAMP).cast(pl.Int64, strict=False).median().alias("ts"),
        )
        .collect()
        .row(0, named=True)
    )
    layout = ",".join(n or "-" for n in names)
    if head["user_asin"] is not None and head["user_asin"] > 0.9 and head["item_asin"] < 0.1:
        raise AerecError(
            f"{path}: the user column holds 10-character ASINs and the item column does not: "
            f"user and item look swapped for {fmt} ({layout}); check --format "
            "(amazon-2014 is user first, amazon-2018 item first)"
        )
    ts = head["ts"]
    if ts is not None and divisor == 1 and ts >= _MS_THRESHOLD:
        raise AerecError(
            f"{path}: timestamps are in milliseconds, {fmt} has seconds; "
            "use --format amazon-2023 for millisecond files"
        )
    if ts is not None and divisor > 1 and ts < _MS_THRESHOLD:
        raise AerecError(
            f"{path}: timestamps are in seconds, {fmt} has milliseconds; "
            "use --format amazon-2014 or amazon-2018"
        )
