"""Any CSV or Parquet file, with a user-given column mapping (`--format csv`).

`columns` maps the canonical names user, item, rating and optionally timestamp
to the file's column names, e.g. {"user": "userId", "item": "movieId",
"rating": "rating", "timestamp": "timestamp"}. A mapped column that a file
lacks is an error naming the file and the column.

CSV: a header line, UTF-8 (BOM tolerated), quoted fields allowed, the
separator guessed from the header (',', tab, ';' or '|'). `line` is the line
number (the header is line 1; exact while no quoted field spans lines) and
`raw` the record's fields joined with the separator. A record with more
fields than the header is a wrong field count; one with fewer has nulls in the
missing columns. Parquet: columns of any type (ids become strings; a
datetime timestamp becomes epoch seconds); `line` is the row number from 1.
Timestamps are integer seconds; a float such as `978300760.0` is truncated.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from aerec import schema as s
from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.base import FIELDS_OK, ReadResult, canonicalize, check_head, plain_files
from aerec.readers.side import decode

KEYS = {"user": s.USER_ID, "item": s.ITEM_ID, "rating": s.RATING, "timestamp": s.TIMESTAMP}
REQUIRED = ("user", "item", "rating")
_SEPARATORS = (",", "\t", ";", "|")
_EXTRA = "_extra_field"
_PARQUET = (".parquet", ".pq")


def read(paths: list[Path], scale: RatingScale, columns: dict[str, str]) -> ReadResult:
    """Read CSV / Parquet files whose columns `columns` maps to the canonical ones."""
    mapping = check_columns(columns)
    with plain_files(paths) as plain:
        records = []
        for path, local in zip(paths, plain, strict=True):
            if path.is_dir():
                raise AerecError(f"{path}: is a folder; give the CSV or Parquet files themselves")
            if path.name.removesuffix(".gz").lower().endswith(_PARQUET):
                frame = _parquet_records(path, local, mapping)
            else:
                frame = _csv_records(path, local, mapping)
            layout = f"a table with columns {', '.join(mapping.values())}"
            check_head(frame, path, layout, scale)
            records.append(frame)
        return canonicalize(records, scale)


def check_columns(columns: dict[str, str]) -> dict[str, str]:
    """The mapping as canonical column -> file column; unknown or missing keys are errors."""
    unknown = sorted(set(columns) - set(KEYS))
    if unknown:
        raise AerecError(f"--columns: unknown key(s) {', '.join(unknown)}; use {', '.join(KEYS)}")
    missing = [k for k in REQUIRED if not columns.get(k)]
    if missing:
        raise AerecError(
            f"--columns: no column given for {', '.join(missing)}; "
            "give --columns user=<col>,item=<col>,rating=<col>[,timestamp=<col>]"
        )
    return {KEYS[key]: name for key, name in columns.items()}


def _missing_error(path: Path, found: list[str], mapping: dict[str, str]) -> AerecError | None:
    absent = [name for name in mapping.values() if name not in found]
    if not absent:
        return None
    return AerecError(
        f"{path}: no column {', '.join(repr(a) for a in absent)} (found "
        f"{', '.join(found)[:200]}); fix --columns"
    )


def _csv_records(path: Path, local: Path, mapping: dict[str, str]) -> pl.LazyFrame:
    """Raw rating records of a CSV file with a header."""
    with local.open("rb") as fh:
        first = decode(fh.readline()).rstrip("\r\n")
    if not first.strip():
        raise AerecError(f"{path}: empty file or blank first line; expected a CSV header line")
    separator = max(_SEPARATORS, key=first.count)
    found = [name.strip().strip('"') for name in first.split(separator)]
    error = _missing_error(path, found, mapping)
    if error:
        raise error
    internal = [f"_c{i}" for i in range(len(found))]
    frame = pl.scan_csv(
        local,
        has_header=False,
        skip_rows=1,
        separator=separator,
        schema=dict.fromkeys([*internal, _EXTRA], pl.String),
        encoding="utf8-lossy",
        row_index_name=s.LINE,
        row_index_offset=2,
        truncate_ragged_lines=True,
        missing_columns="insert",
    )
    column = {name: internal[found.index(name)] for name in mapping.values()}
    present = pl.any_horizontal(pl.col(c).is_not_null() for c in internal)
    return frame.filter(present | pl.col(_EXTRA).is_not_null()).select(
        pl.lit(path.name).alias(s.SOURCE),
        pl.col(s.LINE).cast(pl.Int64),
        pl.concat_str([pl.col(c).fill_null("") for c in internal], separator=separator).alias(
            s.RAW
        ),
        *_canonical(column, mapping),
        pl.col(_EXTRA).is_null().alias(FIELDS_OK),
    )


def _parquet_records(path: Path, local: Path, mapping: dict[str, str]) -> pl.LazyFrame:
    """Raw rating records of a Parquet file: every mapped column as text."""
    try:
        frame = pl.scan_parquet(local)
        schema = frame.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise AerecError(f"{path}: not a readable Parquet file ({exc}); check the file") from exc
    error = _missing_error(path, schema.names(), mapping)
    if error:
        raise error
    for name in mapping.values():
        if isinstance(schema[name], pl.List | pl.Array | pl.Struct | pl.Object):
            raise AerecError(
                f"{path}: column '{name}' holds {schema[name]} values, not single ids, "
                "ratings or times; map a column of text or numbers (--columns)"
            )
    as_text = {canonical: _as_text(name, schema[name]) for canonical, name in mapping.items()}
    return frame.with_row_index(s.LINE, offset=1).select(
        pl.lit(path.name).alias(s.SOURCE),
        pl.col(s.LINE).cast(pl.Int64),
        pl.concat_str([e.fill_null("") for e in as_text.values()], separator=",").alias(s.RAW),
        *_canonical({}, mapping, as_text),
        pl.lit(True).alias(FIELDS_OK),
    )


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A Parquet column as text; datetimes and dates as epoch seconds."""
    if isinstance(dtype, pl.Datetime | pl.Date):
        return pl.col(name).dt.epoch("s").cast(pl.String)
    return pl.col(name).cast(pl.String)


def _canonical(
    column: dict[str, str], mapping: dict[str, str], exprs: dict[str, pl.Expr] | None = None
) -> list[pl.Expr]:
    """user_id, item_id, rating, timestamp from the mapped columns (timestamp null if unmapped)."""
    out = []
    for canonical in (s.USER_ID, s.ITEM_ID, s.RATING, s.TIMESTAMP):
        if canonical not in mapping:
            out.append(pl.lit(None, dtype=pl.String).alias(canonical))
            continue
        expr = exprs[canonical] if exprs else pl.col(column[mapping[canonical]])
        if canonical == s.TIMESTAMP:
            # Whole seconds written as floats ('978300760.0') are common.
            expr = expr.str.replace(r"^\s*(-?\d+)\.\d*\s*$", "$1")
        out.append(expr.alias(canonical))
    return out
