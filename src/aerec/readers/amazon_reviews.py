"""Amazon review JSON lines (McAuley et al.): 2014 5-core, 2018 and 2023 releases.

One review object per line. 2014 and 2018 name the fields `reviewerID, asin,
overall, unixReviewTime` (seconds); 2023 names them `user_id, parent_asin
(and asin), rating, timestamp` (milliseconds). Each line is read by whichever
names it carries, so files of any release (or a mix) read alike; 2023 items
are their `parent_asin`, as in the amazon-2023 ratings CSV and its benchmark.

Old raw 2014 dumps are Python dict literals (single quotes), not JSON: a batch
of lines that polars cannot decode is re-read line by line with `json`, then
`ast.literal_eval`; a line that is neither is rejected as invalid_json. A
record without a rating or a time has the wrong fields; one without a user or
item has a missing id.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import polars as pl

from aerec import schema as s
from aerec.config import RatingScale
from aerec.readers.base import (
    FIELDS_OK,
    ReadResult,
    canonicalize,
    check_head,
    plain_files,
    scan_lines,
)

_USER_KEYS = ("reviewerID", "user_id")
_ITEM_KEYS = ("parent_asin", "asin")
_RATING_KEYS = ("overall", "rating")
_SECONDS_KEY = "unixReviewTime"
_MILLIS_KEY = "timestamp"
_KEYS = (*_USER_KEYS, *_ITEM_KEYS, *_RATING_KEYS, _SECONDS_KEY, _MILLIS_KEY)
_JSON_DTYPE = pl.Struct({key: pl.String for key in _KEYS})
_DECODED_SCHEMA = {**{key: pl.String for key in _KEYS}, s.REASON: pl.String}
_DECODED = "_decoded"
_LAYOUT = "Amazon review JSON lines (reviewerID/user_id, asin/parent_asin, overall/rating, time)"


def read(paths: list[Path], scale: RatingScale) -> ReadResult:
    """Read Amazon review JSON lines (plain or gzip) into the canonical table."""
    with plain_files(paths) as plain:
        records = []
        for path, local in zip(paths, plain, strict=True):
            frame = _records(scan_lines(local, path.name))
            check_head(frame, path, _LAYOUT, scale)
            records.append(frame)
        return canonicalize(records, scale)


def _records(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Raw records from review lines: the canonical fields as strings, plus reason."""
    decoded = pl.col(s.RAW).map_batches(
        _decode, return_dtype=pl.Struct(_DECODED_SCHEMA), is_elementwise=True
    )
    millis = pl.col(_MILLIS_KEY).str.strip_chars()
    millis_int = millis.cast(pl.Int64, strict=False)
    # A millisecond value that is not a number stays as it is, so that
    # canonicalize rejects it instead of taking it for an unknown time.
    seconds = pl.when(millis_int.is_not_null()).then((millis_int // 1000).cast(pl.String))
    timestamp = pl.coalesce(pl.col(_SECONDS_KEY), seconds.otherwise(millis))
    return (
        lines.with_columns(decoded.alias(_DECODED))
        .unnest(_DECODED)
        .with_columns(
            pl.coalesce(*_USER_KEYS).alias(s.USER_ID),
            pl.coalesce(*_ITEM_KEYS).alias(s.ITEM_ID),
            pl.coalesce(*_RATING_KEYS).alias(s.RATING),
            timestamp.alias(s.TIMESTAMP),
        )
        .with_columns(
            (pl.col(s.RATING).is_not_null() & pl.col(s.TIMESTAMP).is_not_null()).alias(FIELDS_OK)
        )
    )


def _decode(raw: pl.Series) -> pl.Series:
    """Decode a batch of lines into the wanted keys (strings) and a reason.

    The fast path decodes the whole batch in polars; it fails as a whole on
    one bad line (or a nested value under a wanted key), and then the batch is
    read line by line in Python.
    """
    try:
        fields = raw.str.json_decode(_JSON_DTYPE)
    except pl.exceptions.PolarsError:
        return _decode_each(raw)
    reason = pl.when(pl.col(_DECODED).is_null()).then(pl.lit(s.REASON_BAD_JSON))
    return (
        fields.alias(_DECODED)
        .to_frame()
        .select(pl.col(_DECODED).struct.unnest(), reason.alias(s.REASON))
        .to_struct(raw.name)
    )


def _decode_each(raw: pl.Series) -> pl.Series:
    """The slow path of `_decode`: json, then Python literals, per line."""
    rows = [_parse(line) for line in raw.to_list()]
    return pl.DataFrame(rows, schema=_DECODED_SCHEMA, orient="row").to_struct(raw.name)


def _parse(line: str | None) -> tuple[str | None, ...]:
    """One line's wanted keys as strings and a reason (null when it parsed)."""
    record = _load(line or "")
    if not isinstance(record, dict):
        return (*(None for _ in _KEYS), s.REASON_BAD_JSON)
    return (*(_text(record.get(key)) for key in _KEYS), None)


def _load(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        pass
    try:
        return ast.literal_eval(line)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _text(value: Any) -> str | None:
    """A scalar as text the way polars' decoder writes it; lists and dicts are absent."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value)
    return None
