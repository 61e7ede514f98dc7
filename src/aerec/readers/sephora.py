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
unknown), plus `is_recommended` (Float32, null when blank). The reviewer's
attributes each review repeats (skin_tone, skin_type, eye_color, hair_color)
become the users table: per author of an accepted review, the latest
non-blank value of each. product_info becomes the items table: item_id =
product_id and every other column under its own name, typed, plus
`categories` (the category path as a list) and `price_bucket` (price_usd in
ranges), ready for `build.side`. A product record that cannot be read is a
reject like a review's, and is counted in rows_read so that read = accepted
+ rejected; `tables` counts reviews and products apart.

A line that is not valid UTF-8 is read as Windows-1252, which is what these
files are (the real product_info writes `™` as byte 0x99): its record is
kept, and counted per table (`TableCount.windows_1252`).
"""

from __future__ import annotations

import ast
import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import polars as pl

from aerec import schema as s
from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.base import (
    FIELDS_OK,
    ReadResult,
    TableCount,
    canonicalize,
    check_head,
    plain_files,
    rating_count,
)
from aerec.readers.fast_csv import fast_records, fill_raw

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
_CP1252 = "_cp1252"  # the record was read as Windows-1252
# The reviewer's attributes each review repeats: users.parquet.
USER_COLUMNS = ("skin_tone", "skin_type", "eye_color", "hair_color")
# Derived item columns: the category path as a list, and the price in ranges (USD).
CATEGORIES = "categories"
PRICE_BUCKET = "price_bucket"
_CATEGORY_COLUMNS = ("primary_category", "secondary_category", "tertiary_category")
_PRICE_BUCKETS = ((10, "<10"), (25, "10-25"), (50, "25-50"), (100, "50-100"))
_TOP_BUCKET = ">=100"
_CHUNK = 50_000  # records per polars chunk: bounds the Python objects alive at once


def read_recommended(paths: list[Path], scale: RatingScale) -> ReadResult:
    """Sephora with `is_recommended` as the rating: 1 becomes 5 stars, 0 becomes 1 star.

    `build.transform: thumbs` then turns them into liked (1.0) and disliked
    (0.1): the seed project's target. A blank or unreadable is_recommended is
    a reject (unparsable_number) like a blank rating; the star rating is not kept.
    """
    return read(paths, scale, recommended=True)


def read(paths: list[Path], scale: RatingScale, recommended: bool = False) -> ReadResult:
    """Read Sephora reviews files and product_info (plain or gzip), by their headers."""
    with plain_files(paths) as plain:
        reviews, review_records, products = [], [], []
        fast_files: dict[str, Path] = {}  # reviews read by polars (fast_csv): source -> file
        for path, local in zip(paths, plain, strict=True):
            header = _header(local, path)
            if set(header) >= _REVIEW_KEYS:
                columns = [c for c in (*_REVIEW_COLUMNS, *USER_COLUMNS) if c in header]
                fast = fast_records(local, path.name, header, columns)
                if fast is not None:
                    fast_files[path.name] = local
                raw = _records(local, path, header, columns) if fast is None else _fast(fast)
                records = _review_records(raw, recommended)
                check_head(records.lazy(), path, _LAYOUT, scale)
                reviews.append(records.lazy())
                review_records.append(records)
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
        if fast_files:
            result = replace(result, rejects=fill_raw(result.rejects, fast_files))
    tables = {"reviews": _count(rating_count(result), review_records)}
    users = _users(review_records, result.rejects)
    if not products:
        return replace(result, users=users, tables=tables)
    items, item_rejects = _items(pl.concat(products, how="diagonal"))
    read_by_source = dict(result.rows_by_source)
    for frame in products:
        source = frame[s.SOURCE][0]
        read_by_source[source] = read_by_source.get(source, 0) + frame.height
    read = sum(frame.height for frame in products)
    sources = tuple(dict.fromkeys(frame[s.SOURCE][0] for frame in products))
    tables["products"] = _count(
        TableCount(sources, read, items.height, item_rejects.height), products
    )
    return ReadResult(
        ratings=result.ratings,
        rejects=pl.concat([result.rejects, item_rejects]),
        rows_read=result.rows_read + item_rejects.height,
        users=users,
        items=items,
        rows_by_source=read_by_source,
        tables=tables,
    )


def _count(count: TableCount, records: list[pl.DataFrame]) -> TableCount:
    """`count` with the number of its records that were read as Windows-1252."""
    return replace(count, windows_1252=sum(int(r[_CP1252].sum()) for r in records))


def _users(records: list[pl.DataFrame], rejects: pl.DataFrame) -> pl.DataFrame | None:
    """The reviewers' attributes: per author of an accepted review, the latest non-blank value.

    Only accepted reviews count (a rejected one is no rating, so it describes
    no one); latest by submission date (unknown dates first), then by position
    in the input (the later file, the later record). None without the columns.
    """
    frames = [frame for frame in records if frame.height]
    columns = [c for c in USER_COLUMNS if all(c in f.columns for f in frames)]
    if not columns:
        return None
    # Concatenated in input order (file, then line): a stable sort by author
    # and date leaves each author's latest record last, and the authors in order.
    stacked = pl.concat([f.select(s.SOURCE, s.LINE, s.USER_ID, "_days", *columns) for f in frames])
    if rejects.height:
        stacked = stacked.join(
            rejects.select(s.SOURCE, s.LINE),
            on=[s.SOURCE, s.LINE],
            how="anti",
            maintain_order="left",
        )
    return (
        stacked.with_columns(*(_blank_to_null(c) for c in columns))
        .sort(s.USER_ID, "_days", nulls_last=False, maintain_order=True)
        .group_by(s.USER_ID, maintain_order=True)
        .agg(*(pl.col(c).drop_nulls().last() for c in columns))
    )


def _lines(local: Path, recoded: set[int]) -> Iterator[str]:
    """The file's physical lines as text, endings kept; a BOM on the first is dropped.

    A line that is not valid UTF-8 is read as Windows-1252 (what these files
    are: product_info writes a `™` as byte 0x99) and its number (from 1) is
    added to `recoded`; bytes Windows-1252 leaves undefined become U+FFFD,
    which rejects the record as undecodable. Only LF ends a line here, so CR
    and CRLF inside quoted fields reach the csv module untouched.
    """
    with local.open("rb") as fh:
        for number, data in enumerate(fh, start=1):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("cp1252", errors="replace")
                recoded.add(number)
            yield text.removeprefix("\ufeff") if number == 1 else text


def _header(local: Path, path: Path) -> list[str]:
    """The first record's field names, stripped; an empty file is an error."""
    for row in _rows(csv.reader(_lines(local, set())), path):
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
    `_cp1252` is true for a record one of whose lines was read as Windows-1252.
    """
    index = [header.index(name) for name in names]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="")
    chunks, rows = [], []
    recoded: set[int] = set()
    reader = csv.reader(_lines(local, recoded))
    records = _rows(reader, path)
    next(records)
    last_line = reader.line_num
    for number, row in enumerate(records, start=2):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        ok = len(row) == len(header)
        cp1252 = bool(recoded) and any(
            n in recoded for n in range(last_line + 1, reader.line_num + 1)
        )
        last_line = reader.line_num
        rows.append(
            (number, buffer.getvalue(), ok, cp1252, *(row[i] if ok else None for i in index))
        )
        if len(rows) == _CHUNK:
            chunks.append(_chunk(rows, names))
            rows = []
    chunks.append(_chunk(rows, names))
    return pl.concat(chunks).with_columns(pl.lit(path.name).alias(s.SOURCE))


def _fast(records: pl.DataFrame) -> pl.DataFrame:
    """Fast records (fast_csv) with the columns `_records` adds: all fit, none recoded."""
    return records.with_columns(pl.lit(True).alias(FIELDS_OK), pl.lit(False).alias(_CP1252))


def _chunk(rows: list[tuple[object, ...]], names: list[str]) -> pl.DataFrame:
    schema = {s.LINE: pl.Int64, s.RAW: pl.String, FIELDS_OK: pl.Boolean, _CP1252: pl.Boolean}
    schema |= {name: pl.String for name in names}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _blank_to_null(column: str) -> pl.Expr:
    value = pl.col(column).str.strip_chars()
    return pl.when(value == "").then(None).otherwise(value).alias(column)


def _review_records(records: pl.DataFrame, thumbs: bool = False) -> pl.DataFrame:
    """Raw rating records from a reviews file's records (`recommended`: see read_recommended)."""
    date = _blank_to_null("submission_time")
    days = date.str.strptime(pl.Date, "%Y-%m-%d", strict=False).cast(pl.Int64)
    # An unparsable date stays as text so that canonicalize rejects it.
    seconds = pl.when(days.is_not_null()).then((days * 86_400).cast(pl.String)).otherwise(date)
    recommended = (
        _blank_to_null("is_recommended") if "is_recommended" in records.columns else pl.lit(None)
    )
    return records.with_columns(
        days.alias("_days"),
        pl.col("author_id").str.strip_chars().str.replace(r"^([0-9]+)\.0$", "$1").alias(s.USER_ID),
        pl.col("product_id").alias(s.ITEM_ID),
        (_thumb(recommended) if thumbs else pl.col("rating")).alias(s.RATING),
        seconds.alias(s.TIMESTAMP),
        recommended.cast(pl.String).alias(s.IS_RECOMMENDED),
    )


def _thumb(recommended: pl.Expr) -> pl.Expr:
    """is_recommended as a star rating: 1 -> '5', 0 -> '1', anything else as it is."""
    flag = recommended.cast(pl.Float64, strict=False)
    return (
        pl.when(flag == 1)
        .then(pl.lit("5"))
        .when(flag == 0)
        .then(pl.lit("1"))
        .otherwise(recommended)
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
    columns = [c for c in records.columns if c not in (s.SOURCE, s.LINE, s.RAW, FIELDS_OK, _CP1252)]
    items = good.select(
        *(_item_column(c, present) for c in columns),
    ).rename({"product_id": s.ITEM_ID})
    return _derived_item_columns(items), rejects.select(*s.REJECTS_SCHEMA).cast(s.REJECTS_SCHEMA)


def _derived_item_columns(items: pl.DataFrame) -> pl.DataFrame:
    """Add `categories` (the non-blank primary, secondary, tertiary category) and `price_bucket`.

    Both are categorical side columns for build (`build.side.item_columns`):
    a list gives one feature per category, the bucket one feature per range
    of `price_usd` (null when the price is unknown).
    """
    levels = [c for c in _CATEGORY_COLUMNS if c in items.columns]
    if levels:
        items = items.with_columns(pl.concat_list(levels).list.drop_nulls().alias(CATEGORIES))
    if "price_usd" in items.columns:
        price = pl.col("price_usd")
        bucket = pl.when(price.is_null()).then(None)
        for upper, label in _PRICE_BUCKETS:
            bucket = bucket.when(price < upper).then(pl.lit(label))
        items = items.with_columns(bucket.otherwise(pl.lit(_TOP_BUCKET)).alias(PRICE_BUCKET))
    return items


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
