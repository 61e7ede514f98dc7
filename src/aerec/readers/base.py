"""What every reader shares: raw records in, canonical ratings and rejects out.

A format reader's only job is to turn its files into *raw records*: a polars
LazyFrame with one row per input record and these string columns

    source (file name), line (1-based record number), raw (the record's text),
    user_id, item_id, rating, timestamp (null when the format has none),
    fields_ok (bool: the record had the format's field count)

plus any optional canonical columns the format really carries (for example
`is_recommended`), and optionally `reason`: a reject reason the reader already
knows (for example invalid_json), null for other records. `canonicalize`
then types, checks and de-duplicates them in one place, so every format
rejects bad rows for the same reasons and the counts always add up:
rows read = accepted + rejected.

A reader may leave `raw` null where it can rebuild the text from the other
columns (pass `raw_text` to `canonicalize`): the text is then built only for
the records that are rejected, which keeps a fast path free of it.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from aerec import schema as s
from aerec.config import RatingScale
from aerec.errors import AerecError

FIELDS_OK = "fields_ok"
RAW_COLUMNS = (s.SOURCE, s.LINE, s.RAW, s.USER_ID, s.ITEM_ID, s.RATING, s.TIMESTAMP, FIELDS_OK)
# Where the record sits in the input, across files: duplicates keep the latest
# timestamp, and the later record when timestamps tie or are unknown.
_FILE_INDEX = "_file_index"
_POSITION = "_position"
# Rows per streamed batch: large enough to amortise per-batch overhead,
# small enough that a batch's temporary columns stay a few MB.
_BATCH_ROWS = 250_000
# Polars' lossy UTF-8 decoding turns invalid bytes into U+FFFD.
_REPLACEMENT_CHAR = "\ufffd"
# Exact float step checks would reject 3.5 stored as 3.4999999.
_STEP_TOLERANCE = 1e-6


@dataclass(frozen=True)
class TableCount:
    """One table's records: read = accepted + rejected, its rejects being those of `sources`.

    `windows_1252` counts the records that were not valid UTF-8 and were
    read as Windows-1252 instead (Sephora's files), kept rather than rejected.
    """

    sources: tuple[str, ...]
    rows_read: int
    accepted: int
    rejected: int
    windows_1252: int = 0


@dataclass(frozen=True)
class ReadResult:
    """A reader's output: canonical ratings, rejects, and side tables if any."""

    ratings: pl.DataFrame
    rejects: pl.DataFrame
    rows_read: int
    users: pl.DataFrame | None = None
    items: pl.DataFrame | None = None
    # Records read per input file (rating and side files), so that per file
    # read = accepted + rejected, its rejects being those with that source.
    rows_by_source: dict[str, int] = field(default_factory=dict)
    # Counts per table read (the rating table first: "ratings", or "reviews"
    # for Sephora; then side tables such as "users", "items", "products").
    # Empty means one rating table holding every record.
    tables: dict[str, TableCount] = field(default_factory=dict)


def rating_count(result: ReadResult) -> TableCount:
    """The counts of a result that holds rating records only."""
    return TableCount(
        tuple(result.rows_by_source), result.rows_read, result.ratings.height, result.rejects.height
    )


@contextmanager
def plain_files(paths: list[Path]) -> Iterator[list[Path]]:
    """Yield paths with every `.gz` input decompressed to a temporary file.

    Decompressing to disk (not memory) keeps peak memory independent of the
    input size, and lets polars scan the result lazily.
    """
    with tempfile.TemporaryDirectory(prefix="aerec-gunzip-") as tmp:
        out: list[Path] = []
        for path in paths:
            if path.suffix != ".gz":
                out.append(path)
                continue
            target = Path(tmp) / f"{len(out)}-{path.stem}"
            try:
                with gzip.open(path, "rb") as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, length=1 << 22)
            except (OSError, EOFError) as exc:
                raise AerecError(
                    f"{path}: not a readable gzip file ({exc}); re-download it"
                ) from exc
            out.append(target)
        yield out


def raw_lines(path: Path) -> pl.LazyFrame:
    """Scan a text file as it is: one string column `raw` per line, `line` numbered from 1.

    Nothing is stripped or dropped; undecodable bytes become U+FFFD.
    """
    return pl.scan_csv(
        path,
        has_header=False,
        separator="\x1f",  # a byte no rating file contains: one column per line
        quote_char=None,
        schema={s.RAW: pl.String},
        encoding="utf8-lossy",
        row_index_name=s.LINE,
        row_index_offset=1,
        truncate_ragged_lines=True,
    )


def scan_lines(path: Path, source: str, skip_header: bool = False) -> pl.LazyFrame:
    """Scan a text file as one string column `raw` per line, numbered from 1.

    Blank lines are not records and are dropped; a BOM and a trailing CR are
    removed. Undecodable bytes become U+FFFD, which `canonicalize` rejects.
    """
    lines = raw_lines(path)
    if skip_header:
        lines = lines.filter(pl.col(s.LINE) > 1)
    raw = pl.col(s.RAW).str.strip_chars_end("\r").str.strip_chars_start("\ufeff")
    return (
        lines.with_columns(raw.alias(s.RAW), pl.col(s.LINE).cast(pl.Int64))
        .filter(pl.col(s.RAW).is_not_null() & (pl.col(s.RAW).str.len_bytes() > 0))
        .with_columns(pl.lit(source).alias(s.SOURCE))
    )


def split_fields(lines: pl.LazyFrame, separator: str, names: list[str | None]) -> pl.LazyFrame:
    """Split `raw` on a literal separator into named fields (None skips one).

    `fields_ok` is true when the line has exactly len(names) fields. Absent
    canonical fields (for example no timestamp) are added as nulls.
    """
    n = len(names)
    parts = pl.col(s.RAW).str.split_exact(separator, n - 1)
    fields = [
        parts.struct.field(f"field_{i}").str.strip_chars().alias(name)
        for i, name in enumerate(names)
        if name is not None
    ]
    count_ok = pl.col(s.RAW).str.count_matches(separator, literal=True) == (n - 1)
    out = lines.with_columns(*fields, count_ok.alias(FIELDS_OK))
    missing = [c for c in (s.USER_ID, s.ITEM_ID, s.RATING, s.TIMESTAMP) if c not in names]
    return out.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in missing)


def canonicalize(
    records: list[pl.LazyFrame],
    scale: RatingScale,
    timestamp_divisor: int = 1,
    extra: dict[str, pl.DataType] | None = None,
    raw_text: pl.Expr | None = None,
    stripped: bool = False,
) -> ReadResult:
    """Type, check and de-duplicate raw records into the canonical table.

    `records` holds one LazyFrame per input file, in input order, each with
    RAW_COLUMNS plus the `extra` columns (cast to the given dtypes; a value
    that does not cast is an unparsable number). Timestamps are divided by
    `timestamp_divisor` (1000 for milliseconds). `raw_text`, an expression
    over RAW_COLUMNS, gives the text of a rejected record whose `raw` is null.
    `stripped` says the reader guarantees fields without surrounding
    whitespace, which saves stripping every string once more.
    Every record ends up in exactly one of ratings and rejects; ratings keep
    the input order.

    The records are read once, in streamed batches: a batch's rejects are kept
    whole, its good rows without their text, so memory holds the accepted
    table and little else.
    """
    extra = extra or {}
    tagged = [
        _with_reader_reason(frame)
        .select(*RAW_COLUMNS, s.REASON, *extra)
        .with_columns(pl.lit(i, dtype=pl.Int32).alias(_FILE_INDEX))
        for i, frame in enumerate(records)
    ]
    typed = _typed(pl.concat(tagged, how="vertical"), scale, timestamp_divisor, extra, stripped)
    bad = pl.col(s.REASON).is_not_null()
    # Text columns only where a reject needs them: good rows carry nulls.
    text = [s.SOURCE, s.RAW] + (
        [s.USER_ID, s.ITEM_ID, s.RATING, s.TIMESTAMP] if raw_text is not None else []
    )
    batches = typed.select(
        *_typed_columns(extra),
        _FILE_INDEX,
        s.LINE,
        s.REASON,
        *(pl.when(bad).then(pl.col(c)).alias(f"_text_{c}") for c in text),
    ).collect_batches(chunk_size=_BATCH_ROWS)
    valid_parts, reject_parts, key_parts = [], [], []
    rows = Counter[int]()
    for batch in batches:
        rows.update(dict(batch.get_column(_FILE_INDEX).value_counts().iter_rows()))
        keep = batch.get_column(s.REASON).is_null()
        if not keep.all():
            reject_parts.append(_batch_rejects(batch.filter(~keep), text, raw_text))
            batch = batch.filter(keep)
        valid_parts.append(batch.select(*s.RATINGS_SCHEMA, *extra, _FILE_INDEX, s.LINE))
        key_parts.append(batch.select(_pair_hash()).to_series())
    if not valid_parts:  # no records at all
        empty = typed.select(*_typed_columns(extra), _FILE_INDEX, s.LINE).clear()
        valid_parts.append(empty.collect())
    valid = pl.concat(valid_parts, rechunk=False)
    rejects = pl.concat(reject_parts) if reject_parts else _empty_rejects_with_index()
    ratings, losers = _drop_duplicates(valid, key_parts)
    if losers.height:
        rejects = pl.concat([rejects, _duplicate_rejects(tagged, losers, raw_text)])
    return ReadResult(
        ratings=ratings.select(*s.RATINGS_SCHEMA, *extra),
        rejects=rejects.sort(_FILE_INDEX, s.LINE).select(*s.REJECTS_SCHEMA).cast(s.REJECTS_SCHEMA),
        rows_read=valid.height + sum(len(part) for part in reject_parts),
        rows_by_source=_rows_by_source(tagged, rows),
    )


def _batch_rejects(bad: pl.DataFrame, text: list[str], raw_text: pl.Expr | None) -> pl.DataFrame:
    """A batch's rejected rows as (file index, source, line, reason, raw)."""
    originals = bad.select(
        _FILE_INDEX, s.LINE, s.REASON, *(pl.col(f"_text_{c}").alias(c) for c in text)
    )
    raw = pl.col(s.RAW) if raw_text is None else pl.coalesce(s.RAW, raw_text)
    return originals.select(_FILE_INDEX, s.SOURCE, s.LINE, s.REASON, raw.alias(s.RAW))


def _rows_by_source(tagged: list[pl.LazyFrame], rows: Counter[int]) -> dict[str, int]:
    """Records read per file, keyed by the files' source names."""
    out: dict[str, int] = {}
    for i, frame in enumerate(tagged):
        source = frame.select(s.SOURCE).head(1).collect().get_column(s.SOURCE)
        if len(source):
            out[source[0]] = out.get(source[0], 0) + rows[i]
    return out


def check_head(
    records: pl.LazyFrame, path: Path, layout: str, scale: RatingScale, n: int = 100
) -> None:
    """Raise when `path` is clearly not its format: no record among its first n reads.

    A file given under the wrong format (JSON as CSV, a header where none
    belongs, the wrong rating scale) would otherwise end as a file's worth of
    rejects; one error line naming the file and the expected `layout` says more.
    A file without any record is an error too.
    """
    head = canonicalize([records.head(n)], scale)
    if head.rows_read == 0:
        raise AerecError(f"{path}: no records found; expected {layout}")
    if head.ratings.height == 0:
        first = head.rejects.row(0, named=True)
        text = first[s.RAW] if first[s.RAW] is not None else _fields_text(records, first[s.LINE])
        raise AerecError(
            f"{path}: none of the first {head.rows_read} records reads as {layout} "
            f"(line {first[s.LINE]}: {first[s.REASON]}: {text[:80]!r}); "
            "check the file, --format and the rating scale"
        )


def _fields_text(records: pl.LazyFrame, line: int) -> str:
    """A record's rating fields as text, for a reader that left `raw` to be built later."""
    fields = [s.USER_ID, s.ITEM_ID, s.RATING, s.TIMESTAMP]
    row = records.filter(pl.col(s.LINE) == line).select(fields).head(1).collect().row(0)
    return ", ".join(f"{name}={value}" for name, value in zip(fields, row, strict=True))


def _with_reader_reason(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Add a null `reason` column unless the reader set one."""
    if s.REASON in frame.collect_schema().names():
        return frame
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias(s.REASON))


def _typed(
    frame: pl.LazyFrame,
    scale: RatingScale,
    divisor: int,
    extra: dict[str, pl.DataType],
    stripped: bool = False,
) -> pl.LazyFrame:
    """Add typed columns (`_typed_<name>`) and the reject reason (null for a good record).

    The string columns stay as they were, for the text of rejects; each
    string is stripped once (this is the hot path of every reader).
    """

    def text(column: str) -> pl.Expr:
        return pl.col(column) if stripped else pl.col(column).str.strip_chars()

    timestamp = text(s.TIMESTAMP)
    ts_int = timestamp.cast(pl.Int64, strict=False)
    frame = frame.with_columns(
        text(s.USER_ID).alias(_typed_name(s.USER_ID)),
        text(s.ITEM_ID).alias(_typed_name(s.ITEM_ID)),
        text(s.RATING).cast(pl.Float64, strict=False).alias("_rating64"),
        timestamp.alias("_ts_text"),
        (ts_int if divisor == 1 else ts_int.floordiv(divisor)).alias(_typed_name(s.TIMESTAMP)),
        *(
            pl.col(name).cast(dtype, strict=False).alias(_typed_name(name))
            for name, dtype in extra.items()
        ),
    )
    missing_id = pl.any_horizontal(
        pl.col(_typed_name(c)).is_null() | (pl.col(_typed_name(c)).str.len_bytes() == 0)
        for c in (s.USER_ID, s.ITEM_ID)
    )
    bad_number = pl.col("_rating64").is_null() | (
        pl.col("_ts_text").is_not_null() & pl.col(_typed_name(s.TIMESTAMP)).is_null()
    )
    for name in extra:
        bad_number = bad_number | (pl.col(name).is_not_null() & pl.col(_typed_name(name)).is_null())
    # Bytes that are not text reject a record only in a field aerec uses: a
    # review's free text may hold anything (issue 16: Windows-1252 bytes).
    undecodable = pl.any_horizontal(
        pl.col(c).cast(pl.String).str.contains(_REPLACEMENT_CHAR, literal=True).fill_null(False)
        for c in (s.USER_ID, s.ITEM_ID, s.RATING, s.TIMESTAMP, *extra)
    )
    reason = (
        pl.when(undecodable)
        .then(pl.lit(s.REASON_UNDECODABLE))
        .when(pl.col(s.REASON).is_not_null())
        .then(pl.col(s.REASON))
        .when(~pl.col(FIELDS_OK))
        .then(pl.lit(s.REASON_FIELD_COUNT))
        .when(missing_id)
        .then(pl.lit(s.REASON_MISSING_ID))
        .when(bad_number)
        .then(pl.lit(s.REASON_BAD_NUMBER))
        .when(~on_scale(pl.col("_rating64"), scale))
        .then(pl.lit(s.REASON_RATING_OUT_OF_SCALE))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return frame.with_columns(
        reason.alias(s.REASON),
        pl.col("_rating64").cast(pl.Float32).alias(_typed_name(s.RATING)),
    )


def _typed_name(column: str) -> str:
    return f"_typed_{column}"


def _typed_columns(extra: dict[str, pl.DataType]) -> list[pl.Expr]:
    """The typed columns of `_typed` under their canonical names."""
    return [pl.col(_typed_name(c)).alias(c) for c in (*s.RATINGS_SCHEMA, *extra)]


def on_scale(rating: pl.Expr, scale: RatingScale) -> pl.Expr:
    """True where the rating lies in the scale's range and on its step."""
    in_range = rating.is_between(scale.min - _STEP_TOLERANCE, scale.max + _STEP_TOLERANCE)
    if scale.step == 0:
        return in_range
    steps = (rating - scale.min) / scale.step
    return in_range & ((steps - steps.round(0)).abs() < _STEP_TOLERANCE)


def _pair_hash() -> pl.Expr:
    """A 64-bit hash of (user_id, item_id): equal pairs hash equal."""
    return pl.col(s.USER_ID).hash(seed=1) ^ pl.col(s.ITEM_ID).hash(seed=2)


def _drop_duplicates(
    valid: pl.DataFrame, key_parts: list[pl.Series]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep one rating per (user, item): the latest by timestamp, then by position.

    Returns the kept ratings (in input order) and the (file index, line) keys
    of the dropped ones. Sorting the 64-bit pair hashes finds the few rows
    whose hash repeats without a hash table over every pair; only those
    candidates are compared on their real ids, so a hash collision costs a
    comparison, never a wrong drop.
    """
    no_losers = pl.DataFrame(schema={_FILE_INDEX: pl.Int32, s.LINE: pl.Int64})
    if valid.height < 2:
        return valid, no_losers
    keys = pl.concat(key_parts)
    ordered = keys.sort()
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    if repeated.is_empty():
        return valid, no_losers
    positions = keys.is_in(repeated.implode()).arg_true()
    pair = [s.USER_ID, s.ITEM_ID]
    candidates = (
        valid[positions]
        .with_columns(positions.alias(_POSITION))
        .sort([s.TIMESTAMP, _FILE_INDEX, s.LINE], nulls_last=False, maintain_order=True)
    )
    losers = candidates.filter(~pl.struct(pair).is_last_distinct())
    if losers.is_empty():
        return valid, no_losers
    keep = pl.repeat(True, valid.height, eager=True).scatter(losers[_POSITION], False)
    return valid.filter(keep), losers.select(_FILE_INDEX, s.LINE)


def _duplicate_rejects(
    tagged: list[pl.LazyFrame], losers: pl.DataFrame, raw_text: pl.Expr | None
) -> pl.DataFrame:
    """Reject rows (with their text) for the dropped duplicates: one more pass over the input."""
    raw = pl.col(s.RAW) if raw_text is None else pl.coalesce(s.RAW, raw_text)
    return (
        pl.concat(tagged, how="vertical")
        .join(losers.lazy(), on=[_FILE_INDEX, s.LINE], how="semi")
        .select(
            _FILE_INDEX,
            s.SOURCE,
            s.LINE,
            pl.lit(s.REASON_DUPLICATE).alias(s.REASON),
            raw.alias(s.RAW),
        )
        .collect(engine="streaming")
    )


def _empty_rejects_with_index() -> pl.DataFrame:
    return pl.DataFrame(schema={_FILE_INDEX: pl.Int32, **s.REJECTS_SCHEMA})


def expand_folder(paths: list[Path], names: tuple[str, ...], what: str) -> list[Path]:
    """Input paths with each folder replaced by its files `names` (plain or .gz).

    The first name is required in a folder; a folder without it is a user
    error that says `what` was expected there.
    """
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        found = [_in_folder(path, name) for name in names]
        if found[0] is None:
            raise AerecError(
                f"{path}: folder without {names[0]} (or {names[0]}.gz); expected {what} "
                f"with {names[0]} [{' '.join(names[1:])}]"
            )
        out.extend(f for f in found if f is not None)
    return out


def _in_folder(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None
