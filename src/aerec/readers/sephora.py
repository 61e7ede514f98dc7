"""Sephora (Kaggle nadyinky): reviews_*.csv ratings and product_info.csv side information.

Files are told apart by their headers, not their names: a reviews file has
author_id, rating, product_id and submission_time; product_info has
product_id, product_name and brand_name but no author_id. The raw Kaggle files
start with an unnamed index column (an empty first header field, `Unnamed: 0`
once re-saved by pandas); columns are looked up by name, so either works.

Quoted fields hold embedded newlines and bare CRs, so records are read with
Python's csv module (which keeps them inside the field) rather than by line:
`line` is the record number, the header being record 1 (equal to the line
number while no field spans lines; blank lines are not records), and `raw` is
the record's fields re-joined as CSV. A record with the wrong field count is
rejected, never guessed at.

Reviews become ratings: user_id = author_id (a string; the `.0` a pandas
float re-save appends to an all-digit id is removed), item_id = product_id,
timestamp = submission_time (a date, as seconds at UTC midnight; blank means
unknown), plus `is_recommended` (Float32, null when blank). product_info
becomes the items table: item_id = product_id and every other column under
its own name, typed. A product record that cannot be read is a reject like a
review's, and is counted in rows_read so that read = accepted + rejected.
"""

from __future__ import annotations

import ast
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from aerec import schema as s
from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.base import FIELDS_OK, ReadResult, canonicalize, check_head, plain_files

_REVIEW_KEYS = {"author_id", "rating", "product_id", "submission_time"}
_REVIEW_COLUMNS = (*sorted(_REVIEW_KEYS), "is_recommended")
_PRODUCT_KEYS = {"product_id", "product_name", "brand_name"}
_LAYOUT = "Sephora reviews CSV (author_id, rating, product_id, submission_time)"
# product_info columns by type; any other column is kept as a string.
_INT_COLUMNS = ("loves_count", "reviews", "child_count")
_FLOAT_COLUMNS = (
    "rating",
    "price_usd",
    "value_price_usd",
    "sale_price_usd",
    "child_max_price",
    "child_min_price",
)
_BOOL_COLUMNS = ("limited_edition", "new", "online_only", "out_of_stock", "sephora_exclusive")
_LIST_COLUMNS = ("ingredients", "highlights")  # Python list literals in quotes
_BOOL_TEXT = {"0": False, "1": True, "0.0": False, "1.0": True, "false": False, "true": True}
_CHUNK = 50_000  # records per polars chunk: bounds the Python objects alive at once


def read(paths: list[Path], scale: RatingScale) -> ReadResult:
    """Read Sephora reviews files and product_info (plain or gzip), by their headers."""
    with plain_files(paths) as plain:
        reviews, products = [], []
        for path, local in zip(paths, plain, strict=True):
            header = _header(local, path)
            if set(header) >= _REVIEW_KEYS:
                columns = [c for c in _REVIEW_COLUMNS if c in header]
                frame = _review_records(_records(local, path, header, columns)).lazy()
                check_head(frame, path, _LAYOUT, scale)
                reviews.append(frame)
            elif set(header) >= _PRODUCT_KEYS:
                products.append(_records(local, path, header, _named(header)))
                if products[-1].height == 0:
                    raise AerecError(f"{path}: no records found after the product_info header")
            else:
                raise AerecError(
                    f"{path}: header starts '{','.join(header)[:80]}', neither a "
                    f"{_LAYOUT} nor product_info.csv (product_id, product_name, brand_name)"
                )
        if not reviews:
            raise AerecError(
                f"{', '.join(map(str, paths))}: no Sephora reviews file among the inputs; "
                f"expected at least one {_LAYOUT}"
            )
        result = canonicalize(reviews, scale, extra={s.IS_RECOMMENDED: pl.Float32})
    if not products:
        return result
    items, item_rejects = _items(pl.concat(products, how="diagonal"))
    read_by_source = dict(result.rows_by_source)
    for frame in products:
        source = frame[s.SOURCE][0]
        read_by_source[source] = read_by_source.get(source, 0) + frame.height
    return ReadResult(
        ratings=result.ratings,
        rejects=pl.concat([result.rejects, item_rejects]),
        rows_read=result.rows_read + item_rejects.height,
        items=items,
        rows_by_source=read_by_source,
    )


def _open(local: Path) -> io.TextIOWrapper:
    # newline="" lets csv keep CR/LF inside quoted fields; utf-8-sig drops a
    # BOM; bad bytes become U+FFFD, which canonicalize rejects.
    return local.open(encoding="utf-8-sig", errors="replace", newline="")


def _header(local: Path, path: Path) -> list[str]:
    """The first record's field names, stripped; an empty file is an error."""
    with _open(local) as fh:
        for row in _rows(csv.reader(fh), path):
            return [name.strip() for name in row]
    raise AerecError(f"{path}: no records found; expected a {_LAYOUT} or product_info.csv")


def _rows(reader: Iterator[list[str]], path: Path) -> Iterator[list[str]]:
    """Non-blank records; broken quoting (a field running to the end) is an error."""
    try:
        for row in reader:
            if row:
                yield row
    except csv.Error as exc:
        raise AerecError(
            f"{path}: CSV record after line {reader.line_num}: {exc}; the quoting is broken"
        ) from exc


def _named(header: list[str]) -> list[str]:
    """The header's columns without the unnamed index column."""
    return [name for name in header if name not in ("", "Unnamed: 0")]


def _records(local: Path, path: Path, header: list[str], names: list[str]) -> pl.DataFrame:
    """Every record after the header: source, line, raw, fields_ok and the `names` columns.

    Columns are strings; a record with the wrong field count has nulls in them.
    Only the columns asked for are kept: the review text is already in `raw`.
    """
    index = [header.index(name) for name in names]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="")
    chunks, rows = [], []
    with _open(local) as fh:
        records = _rows(csv.reader(fh), path)
        next(records)
        for number, row in enumerate(records, start=2):
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(row)
            ok = len(row) == len(header)
            rows.append((number, buffer.getvalue(), ok, *(row[i] if ok else None for i in index)))
            if len(rows) == _CHUNK:
                chunks.append(_chunk(rows, names))
                rows = []
    chunks.append(_chunk(rows, names))
    return pl.concat(chunks).with_columns(pl.lit(path.name).alias(s.SOURCE))


def _chunk(rows: list[tuple[object, ...]], names: list[str]) -> pl.DataFrame:
    schema = {s.LINE: pl.Int64, s.RAW: pl.String, FIELDS_OK: pl.Boolean}
    schema |= {name: pl.String for name in names}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _blank_to_null(column: str) -> pl.Expr:
    value = pl.col(column).str.strip_chars()
    return pl.when(value == "").then(None).otherwise(value).alias(column)


def _review_records(records: pl.DataFrame) -> pl.DataFrame:
    """Raw rating records from a reviews file's records."""
    date = _blank_to_null("submission_time")
    days = date.str.strptime(pl.Date, "%Y-%m-%d", strict=False).cast(pl.Int64)
    # An unparsable date stays as text so that canonicalize rejects it.
    seconds = pl.when(days.is_not_null()).then((days * 86_400).cast(pl.String)).otherwise(date)
    recommended = (
        _blank_to_null("is_recommended") if "is_recommended" in records.columns else pl.lit(None)
    )
    return records.with_columns(
        pl.col("author_id").str.replace(r"^([0-9]+)\.0$", "$1").alias(s.USER_ID),
        pl.col("product_id").alias(s.ITEM_ID),
        pl.col("rating").alias(s.RATING),
        seconds.alias(s.TIMESTAMP),
        recommended.cast(pl.String).alias(s.IS_RECOMMENDED),
    )


def _items(records: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed product_info rows keyed by item_id, and the records rejected.

    A product is rejected for undecodable text, a wrong field count, a missing
    product_id, or a number or flag that does not parse; of two records for
    the same product the later one is kept, the other is a duplicate.
    """
    present = [c for c in (*_INT_COLUMNS, *_FLOAT_COLUMNS, *_BOOL_COLUMNS) if c in records.columns]
    typed = records.with_columns(
        *(_blank_to_null(c).cast(pl.Float64, strict=False).alias(f"_{c}") for c in present)
    )
    typed = typed.with_columns(
        *(pl.col(f"_{c}").cast(pl.Int64).alias(f"_{c}") for c in present if c in _INT_COLUMNS),
        *(
            _blank_to_null(c)
            .str.to_lowercase()
            .replace_strict(_BOOL_TEXT, default=None)
            .alias(f"_{c}")
            for c in present
            if c in _BOOL_COLUMNS
        ),
    )
    bad_number = pl.any_horizontal(
        _blank_to_null(c).is_not_null() & pl.col(f"_{c}").is_null() for c in present
    )
    reason = (
        pl.when(pl.col(s.RAW).str.contains("\ufffd", literal=True))
        .then(pl.lit(s.REASON_UNDECODABLE))
        .when(~pl.col(FIELDS_OK))
        .then(pl.lit(s.REASON_FIELD_COUNT))
        .when(_blank_to_null("product_id").is_null())
        .then(pl.lit(s.REASON_MISSING_ID))
        .when(bad_number)
        .then(pl.lit(s.REASON_BAD_NUMBER))
    )
    typed = typed.with_columns(reason.alias(s.REASON))
    good = typed.filter(pl.col(s.REASON).is_null())
    earlier = ~pl.col("product_id").str.strip_chars().is_last_distinct()
    duplicates = good.filter(earlier).with_columns(pl.lit(s.REASON_DUPLICATE).alias(s.REASON))
    good = good.filter(~earlier)
    rejects = pl.concat(
        [typed.filter(pl.col(s.REASON).is_not_null()), duplicates], how="diagonal"
    ).sort(s.SOURCE, s.LINE, maintain_order=True)
    columns = [c for c in records.columns if c not in (s.SOURCE, s.LINE, s.RAW, FIELDS_OK)]
    items = good.select(
        *(_item_column(c, present) for c in columns),
    ).rename({"product_id": s.ITEM_ID})
    return items, rejects.select(*s.REJECTS_SCHEMA).cast(s.REJECTS_SCHEMA)


def _item_column(column: str, typed: list[str]) -> pl.Expr:
    if column == "product_id":
        return pl.col(column).str.strip_chars()
    if column in typed:
        return pl.col(f"_{column}").alias(column)
    if column in _LIST_COLUMNS:
        return _blank_to_null(column).map_elements(_parse_list, return_dtype=pl.List(pl.String))
    return _blank_to_null(column)


def _parse_list(text: str) -> list[str] | None:
    """A quoted Python list literal as a list of strings; anything else is null.

    A raw line break inside one of its strings (product_info has one) is not
    valid Python, so it is retried with the breaks written as escapes.
    """
    for literal in (text, text.replace("\r", "\\r").replace("\n", "\\n")):
        try:
            value = ast.literal_eval(literal)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        return [str(v) for v in value] if isinstance(value, list) else None
    return None
