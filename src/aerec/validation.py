"""Great Expectations suites built in code from the canonical schema and the rating scale.

`validate` reads an ingest directory, derives the small tables the checks need
(per-user and per-item counts, the rating value counts, a one-row profile of
aggregates), runs one GX suite per table in an ephemeral, offline context, and
returns every expectation's outcome with the severity params.yaml gives its
check. Row-level checks (nulls, range, step, unique pairs, timestamps) run in
GX on the full table, so the failing rows come from GX itself. Aggregates
(mean, spread) are computed with polars and only compared in GX: GX's pandas
mean and standard deviation scan every value in Python (a Decimal test) and
cost ~0.75 s per million ratings each.

A ratings table above `CHUNK_ROWS` is validated in parts (see `parts`), so
that memory is that of one part: GX works on a pandas copy of its batch
and its unique-pairs check hashes every row several times over.

This module reads the ingest folder and derives the tables; the suites are
built in aerec.validation_suites and run, merged and read back in
aerec.validation_results. Every public name stays importable from here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from aerec import schema as s
from aerec.config import DatasetConfig, ValidateConfig, scale_of
from aerec.errors import AerecError
from aerec.validation_results import (
    CHUNK_ROWS,
    Outcome,
    merge_results,
    outcomes,
    parts,
    run_suites,
    to_pandas,
)
from aerec.validation_suites import (
    COUNT,
    IN_ITEMS,
    IN_USERS,
    ITEMS,
    N_RATINGS,
    PER_ITEM,
    PER_USER,
    PROFILE,
    RATING_MEAN,
    RATING_STDEV,
    RATING_VALUES,
    RATINGS,
    REJECT_SHARE,
    SCHEMA,
    SHARE,
    USERS,
    build_suites,
    step_values,
)

# Callers import these from here, whichever module holds them.
__all__ = [
    "CHUNK_ROWS",
    "COUNT",
    "IN_ITEMS",
    "IN_USERS",
    "ITEMS",
    "N_RATINGS",
    "PER_ITEM",
    "PER_USER",
    "PROFILE",
    "RATINGS",
    "RATING_MEAN",
    "RATING_STDEV",
    "RATING_VALUES",
    "REJECT_SHARE",
    "SCHEMA",
    "SHARE",
    "USERS",
    "Ingest",
    "Outcome",
    "Validation",
    "build_suites",
    "derive_tables",
    "has_canonical_schema",
    "load_ingest",
    "merge_results",
    "outcomes",
    "parts",
    "run_suites",
    "step_values",
    "to_pandas",
    "validate",
]


@dataclass(frozen=True)
class Ingest:
    """What the ingest stage left in its directory."""

    ratings: pl.DataFrame
    rejects: pl.DataFrame
    summary: dict[str, Any]
    users: pl.DataFrame | None = None
    items: pl.DataFrame | None = None


@dataclass(frozen=True)
class Validation:
    """The outcomes, GX's own results, the derived tables and where time went."""

    outcomes: list[Outcome]
    gx_results: dict[str, dict[str, Any]]
    tables: dict[str, pl.DataFrame]
    ingest: Ingest
    seconds: dict[str, float]

    @property
    def errors(self) -> list[Outcome]:
        """Failed expectations whose check has severity `error`: these stop the pipeline."""
        return [o for o in self.outcomes if not o.success and o.severity == "error"]

    @property
    def warnings(self) -> list[Outcome]:
        """Failed expectations whose check has severity `warn`: reported, they pass."""
        return [o for o in self.outcomes if not o.success and o.severity == "warn"]


def load_ingest(ingest_dir: Path) -> Ingest:
    """Read an ingest directory; a missing or unreadable file is a user error."""
    ingest_dir = Path(ingest_dir)
    summary_path = ingest_dir / s.INGEST_SUMMARY_FILE
    for path in (ingest_dir / s.RATINGS_FILE, summary_path):
        if not path.is_file():
            raise AerecError(f"{path}: not found; run `aerec ingest` into {ingest_dir} first")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AerecError(f"{summary_path}: not valid JSON ({exc}); re-run `aerec ingest`") from exc
    if not isinstance(summary, dict):
        raise AerecError(f"{summary_path}: expected a JSON object; re-run `aerec ingest`")
    for key in ("rows_read", "rejected"):
        value = summary.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise AerecError(
                f"{summary_path}: key '{key}' must be a count (a whole number >= 0), "
                f"got {value!r}; re-run `aerec ingest`"
            )
    rejects_path = ingest_dir / s.REJECTS_FILE
    return Ingest(
        ratings=_read_parquet(ingest_dir / s.RATINGS_FILE),
        rejects=_read_parquet(rejects_path) if rejects_path.is_file() else s.empty_rejects(),
        summary=summary,
        users=_read_optional(ingest_dir / s.USERS_FILE),
        items=_read_optional(ingest_dir / s.ITEMS_FILE),
    )


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.ComputeError) as exc:
        raise AerecError(f"{path}: not a readable Parquet file ({exc}); re-run ingest") from exc


def _read_optional(path: Path) -> pl.DataFrame | None:
    return _read_parquet(path) if path.is_file() else None


def has_canonical_schema(ratings: pl.DataFrame) -> bool:
    """True when every canonical column is present with its canonical dtype."""
    return all(ratings.schema.get(name) == dtype for name, dtype in s.RATINGS_SCHEMA.items())


def derive_tables(ingest: Ingest) -> dict[str, pl.DataFrame]:
    """The tables the suites run on, keyed by table name.

    `schema` is the ratings table with no rows (GX checks its dtypes),
    `ratings` the full table and `profile` one row of aggregates: the number
    of ratings and, with the canonical columns, the rating mean and spread and
    the reject share. The counts and rating values need the canonical columns:
    when the ratings table lacks them, the checks on them are not run.
    """
    ratings = ingest.ratings
    tables = {SCHEMA: ratings.head(0), RATINGS: ratings}
    for name, side in ((USERS, ingest.users), (ITEMS, ingest.items)):
        if side is not None:
            tables[name] = side
    if not has_canonical_schema(ratings):
        tables[PROFILE] = pl.DataFrame({N_RATINGS: [ratings.height]}, schema={N_RATINGS: pl.Int64})
        return tables
    tables[PER_USER] = _counts(ratings, s.USER_ID, ingest.users, IN_USERS)
    tables[PER_ITEM] = _counts(ratings, s.ITEM_ID, ingest.items, IN_ITEMS)
    tables[RATING_VALUES] = (
        ratings.group_by(s.RATING)
        .agg(pl.len().cast(pl.Int64).alias(COUNT))
        .with_columns((pl.col(COUNT) / ratings.height).alias(SHARE))
        .sort(s.RATING)
    )
    read = ingest.summary.get("rows_read", 0)
    rejected = ingest.summary.get("rejected", 0)
    tables[PROFILE] = pl.DataFrame(
        {
            N_RATINGS: [ratings.height],
            RATING_MEAN: [ratings[s.RATING].mean()],
            RATING_STDEV: [ratings[s.RATING].std()],
            REJECT_SHARE: [rejected / read if read else 0.0],
        },
        schema={
            N_RATINGS: pl.Int64,
            RATING_MEAN: pl.Float64,
            RATING_STDEV: pl.Float64,
            REJECT_SHARE: pl.Float64,
        },
    )
    return tables


def _counts(ratings: pl.DataFrame, key: str, side: pl.DataFrame | None, flag: str) -> pl.DataFrame:
    """Ratings per non-null id; with a side table holding `key`, whether it lists the id."""
    # Null ids are the not_null check's business: they are nobody's ratings.
    counts = (
        ratings.filter(pl.col(key).is_not_null())
        .group_by(key)
        .agg(pl.len().cast(pl.Int64).alias(N_RATINGS))
        .sort(key)
    )
    if side is None or key not in side.columns:
        return counts
    return counts.with_columns(pl.col(key).is_in(side[key].implode()).alias(flag))


def validate(
    ingest_dir: Path,
    dataset: DatasetConfig,
    cfg: ValidateConfig,
    now: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Validation:
    """Validate an ingest directory against the suites built from params.

    `now` (seconds since the epoch, default: the current time) bounds the
    timestamps. Failed expectations raise nothing (the stage decides); only
    unreadable input raises AerecError. `seconds` splits the time into
    reading and deriving, converting to pandas, and GX itself. `chunk_rows`
    bounds the rows of the ratings table GX holds at a time.
    """
    started = time.perf_counter()
    ingest = load_ingest(ingest_dir)
    tables = derive_tables(ingest)
    if dataset.scale is None:  # the scale ingest used; suites read only the scale
        dataset = DatasetConfig(name=dataset.name, scale=scale_of(dataset, ingest.summary))
    seconds = {"read_and_derive": time.perf_counter() - started, "to_pandas": 0.0, "gx": 0.0}
    suites = build_suites(tables, dataset, cfg, int(time.time()) if now is None else now)
    results = run_suites(tables, suites, cfg.failing_rows, chunk_rows, seconds)
    return Validation(
        outcomes=outcomes(results),
        gx_results=results,
        tables=tables,
        ingest=ingest,
        seconds=seconds,
    )
