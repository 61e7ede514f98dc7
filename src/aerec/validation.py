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
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from aerec import schema as s
from aerec.config import DatasetConfig, RatingScale, Severity, ValidateConfig, ValidateSeverity
from aerec.errors import AerecError

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.expectations import Expectation

# Derived table and column names (they appear in the report and result.json).
SCHEMA = "schema"
RATINGS = "ratings"
PER_USER = "per_user"
PER_ITEM = "per_item"
RATING_VALUES = "rating_values"
PROFILE = "profile"
USERS = "users"
ITEMS = "items"
N_RATINGS = "n_ratings"
COUNT = "count"
SHARE = "share"
RATING_MEAN = "rating_mean"
RATING_STDEV = "rating_stdev"
REJECT_SHARE = "reject_share"
IN_USERS = "in_users_table"
IN_ITEMS = "in_items_table"

_GX_SEVERITY = {"error": "critical", "warn": "warning"}
# Rows of the ratings table GX validates at a time (about 1 GiB of working memory).
CHUNK_ROWS = 5_000_000
_SEVERITY = {gx: ours for ours, gx in _GX_SEVERITY.items()}


@dataclass(frozen=True)
class Ingest:
    """What the ingest stage left in its directory."""

    ratings: pl.DataFrame
    rejects: pl.DataFrame
    summary: dict[str, Any]
    users: pl.DataFrame | None = None
    items: pl.DataFrame | None = None


@dataclass(frozen=True)
class Outcome:
    """One expectation's verdict, in the terms the report and the gate use."""

    check: str
    severity: Severity
    table: str
    expectation: str
    column: str | None
    description: str
    success: bool
    evaluated: bool
    observed: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    failing_rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str:
        """`check[table.column]`: how the gate's one-line error names it."""
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{self.check}[{where}]"


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


def step_values(scale: RatingScale) -> list[float]:
    """The ratings a stepped scale allows, as float32 values widened to float64.

    Ratings are stored as float32, so the allowed set holds the float32 nearest
    each step (3.5 is exact; 0.1 is not), compared after an exact widening.
    """
    n = math.floor((scale.max - scale.min) / scale.step + 1e-9)
    return [float(np.float32(scale.min + k * scale.step)) for k in range(n + 1)]


class _Suites:
    """Collects expectations per table, tagging each with its check and severity."""

    def __init__(self, tables: dict[str, pl.DataFrame], severity: ValidateSeverity) -> None:
        self.tables = tables
        self.severity = severity
        self.by_table: dict[str, list[Expectation]] = {}

    def add(self, table: str, check: str, description: str, kind: type, **kwargs: Any) -> None:
        """Add a `kind` expectation on `table` for `check`, described in plain words."""
        expectations = self.by_table.setdefault(table, [])
        expectations.append(
            kind(
                **kwargs,
                severity=_GX_SEVERITY[getattr(self.severity, check)],
                meta={"check": check, "description": description, "id": len(expectations)},
            )
        )


def build_suites(
    tables: dict[str, pl.DataFrame], dataset: DatasetConfig, cfg: ValidateConfig, now: int
) -> dict[str, list[Expectation]]:
    """One list of GX expectations per table, from the schema, the scale and params.

    Every expectation carries its check's name, a plain-words description and
    its position in `meta`, and its check's severity (error -> critical, warn
    -> warning). `now` (seconds since the epoch) is the latest plausible timestamp.
    """
    suites = _Suites(tables, cfg.severity)
    _add_ratings_checks(suites, dataset.scale, cfg, now)
    if PER_USER in tables:
        _add_count_checks(suites, cfg)
        _add_distribution_checks(suites, dataset.scale, cfg)
    for table, key in ((USERS, s.USER_ID), (ITEMS, s.ITEM_ID)):
        if table in tables:
            _add_side_checks(suites, table, key)
    order = [SCHEMA, RATINGS, PER_USER, PER_ITEM, PROFILE, RATING_VALUES, USERS, ITEMS]
    return {table: suites.by_table[table] for table in order if table in suites.by_table}


def _add_ratings_checks(suites: _Suites, scale: RatingScale, cfg: ValidateConfig, now: int) -> None:
    import great_expectations.expectations as gxe

    canonical = list(s.RATINGS_SCHEMA)
    suites.add(
        SCHEMA,
        "columns",
        f"{s.RATINGS_FILE} has the columns {', '.join(canonical)}",
        gxe.ExpectTableColumnsToMatchSet,
        column_set=canonical,
        exact_match=False,
    )
    for column, type_name in _pandas_type_names().items():
        suites.add(
            SCHEMA,
            "types",
            f"{column} has the canonical type {type_name}",
            gxe.ExpectColumnValuesToBeOfType,
            column=column,
            type_=type_name,
        )
    for column in (s.USER_ID, s.ITEM_ID, s.RATING):
        suites.add(
            RATINGS,
            "not_null",
            f"{column} is never null",
            gxe.ExpectColumnValuesToNotBeNull,
            column=column,
        )
    suites.add(
        RATINGS,
        "rating_in_scale",
        f"ratings lie within the scale [{_num(scale.min)}, {_num(scale.max)}]",
        gxe.ExpectColumnValuesToBeBetween,
        column=s.RATING,
        min_value=scale.min,
        max_value=scale.max,
    )
    if scale.step > 0:
        allowed = step_values(scale)
        suites.add(
            RATINGS,
            "rating_on_step",
            f"ratings lie on the scale's step of {_num(scale.step)} "
            f"({', '.join(_num(v) for v in allowed)})",
            gxe.ExpectColumnValuesToBeInSet,
            column=s.RATING,
            value_set=allowed,
        )
    suites.add(
        RATINGS,
        "unique_pairs",
        "each (user, item) pair is rated once",
        gxe.ExpectCompoundColumnsToBeUnique,
        column_list=[s.USER_ID, s.ITEM_ID],
    )
    earliest = datetime.combine(cfg.earliest_timestamp, datetime.min.time(), tzinfo=UTC)
    suites.add(
        RATINGS,
        "timestamp_plausible",
        f"timestamps lie between {cfg.earliest_timestamp.isoformat()} and the time of "
        "validation (null ones are allowed)",
        gxe.ExpectColumnValuesToBeBetween,
        column=s.TIMESTAMP,
        min_value=int(earliest.timestamp()),
        max_value=now,
    )
    suites.add(
        PROFILE,
        "min_ratings",
        f"at least {cfg.min_ratings:,} ratings",
        gxe.ExpectColumnMaxToBeBetween,
        column=N_RATINGS,
        min_value=cfg.min_ratings,
    )


def _add_count_checks(suites: _Suites, cfg: ValidateConfig) -> None:
    import great_expectations.expectations as gxe

    suites.add(
        PER_USER,
        "min_users",
        f"at least {cfg.min_users:,} users",
        gxe.ExpectTableRowCountToBeBetween,
        min_value=cfg.min_users,
    )
    suites.add(
        PER_ITEM,
        "min_items",
        f"at least {cfg.min_items:,} items",
        gxe.ExpectTableRowCountToBeBetween,
        min_value=cfg.min_items,
    )
    suites.add(
        PER_USER,
        "min_ratings_per_user",
        f"every user has at least {cfg.min_ratings_per_user} ratings",
        gxe.ExpectColumnValuesToBeBetween,
        column=N_RATINGS,
        min_value=cfg.min_ratings_per_user,
    )
    for table, flag, side in ((PER_USER, IN_USERS, USERS), (PER_ITEM, IN_ITEMS, ITEMS)):
        if flag in suites.tables[table].columns:
            suites.add(
                table,
                "side_coverage",
                f"at most {cfg.max_missing_side_share:.0%} of the rated {side} are missing "
                f"from {side}.parquet",
                gxe.ExpectColumnValuesToBeInSet,
                column=flag,
                value_set=[True],
                mostly=1.0 - cfg.max_missing_side_share,
            )


def _add_distribution_checks(suites: _Suites, scale: RatingScale, cfg: ValidateConfig) -> None:
    import great_expectations.expectations as gxe

    span = scale.max - scale.min
    low, high = (scale.min + f * span for f in cfg.rating_mean_range)
    suites.add(
        PROFILE,
        "rating_mean",
        f"the mean rating lies within [{low:.2f}, {high:.2f}]",
        gxe.ExpectColumnMaxToBeBetween,
        column=RATING_MEAN,
        min_value=low,
        max_value=high,
    )
    suites.add(
        PROFILE,
        "rating_stdev",
        f"the ratings' standard deviation is at least {cfg.min_rating_stdev * span:.2f}",
        gxe.ExpectColumnMaxToBeBetween,
        column=RATING_STDEV,
        min_value=cfg.min_rating_stdev * span,
    )
    suites.add(
        RATING_VALUES,
        "top_rating_share",
        f"no single rating value makes up more than {cfg.max_top_rating_share:.0%} of ratings",
        gxe.ExpectColumnMaxToBeBetween,
        column=SHARE,
        max_value=cfg.max_top_rating_share,
    )
    suites.add(
        PROFILE,
        "reject_share",
        f"ingest rejected at most {cfg.max_reject_share:.1%} of the rows it read",
        gxe.ExpectColumnMaxToBeBetween,
        column=REJECT_SHARE,
        max_value=cfg.max_reject_share,
    )


def _add_side_checks(suites: _Suites, table: str, key: str) -> None:
    import great_expectations.expectations as gxe

    suites.add(
        table,
        "columns",
        f"{table}.parquet has the column {key}",
        gxe.ExpectTableColumnsToMatchSet,
        column_set=[key],
        exact_match=False,
    )
    suites.add(
        table,
        "side_ids_unique",
        f"{table}.parquet lists each {key} once",
        gxe.ExpectColumnValuesToBeUnique,
        column=key,
    )


def _pandas_type_names() -> dict[str, str]:
    """The pandas dtype name each canonical column has when it has its polars dtype."""
    empty = pl.DataFrame(schema=s.RATINGS_SCHEMA).to_pandas()
    return {name: str(dtype) for name, dtype in empty.dtypes.items()}


def _num(value: float) -> str:
    return f"{value:g}"


def to_pandas(table: str, frame: pl.DataFrame) -> pd.DataFrame:
    """The pandas frame GX validates for `table`.

    Numeric rating and timestamp columns are widened to float64 (exact for
    float32 and for seconds below 2**53): GX's pandas range check is vectorised
    only for float64/int64 columns and loops in Python otherwise, and an int64
    column cannot hold the nulls a timestamp may have. Other dtypes are left
    as they are, so a wrongly typed column fails its checks instead of being
    coerced. The `schema` table keeps the file's dtypes, which is what it checks.
    """
    if table == RATINGS:
        widen = [c for c in (s.RATING, s.TIMESTAMP) if frame.schema.get(c, pl.String).is_numeric()]
        frame = frame.with_columns(pl.col(widen).cast(pl.Float64))
    return frame.to_pandas()


def run_suites(
    tables: dict[str, pl.DataFrame],
    suites: dict[str, list[Expectation]],
    failing_rows: int,
    chunk_rows: int,
    seconds: dict[str, float],
) -> dict[str, dict[str, Any]]:
    """Run each table's suite in one ephemeral GX context; GX's results as JSON dicts.

    Each table goes to GX as pandas (see `to_pandas`), the ratings table in
    parts of at most `chunk_rows` rows whose results are merged (see `parts`
    and `merge_results`). The result format keeps up to `failing_rows` failing
    rows per expectation. All tables share one dataframe asset: each added
    asset re-serialises the context's config. Validation definitions load each
    batch once (`Batch.validate` loads it again and re-hashes the whole frame).
    `seconds["to_pandas"]` and `seconds["gx"]` gain the time spent in each.
    """
    import great_expectations as gx

    context = _offline_context()
    whole = (
        context.data_sources.add_pandas("aerec")
        .add_dataframe_asset("tables")
        .add_batch_definition_whole_dataframe("whole")
    )
    result_format = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": failing_rows,
        "include_unexpected_rows": failing_rows > 0,
    }
    results: dict[str, dict[str, Any]] = {}
    for table, expectations in suites.items():
        name = f"aerec.{table}"
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=whole, suite=suite)
        )
        part_results = []
        for part in parts(table, tables[table], chunk_rows):
            started = time.perf_counter()
            frame = to_pandas(table, part)
            converted = time.perf_counter()
            result = definition.run(
                batch_parameters={"dataframe": frame}, result_format=result_format
            )
            part_results.append(result.to_json_dict())
            del frame
            seconds["to_pandas"] += converted - started
            seconds["gx"] += time.perf_counter() - converted
        results[table] = merge_results(part_results, failing_rows)
    return results


def parts(table: str, frame: pl.DataFrame, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """The frame in the parts GX validates one at a time.

    Only the ratings table is split, and only above `chunk_rows` rows: into
    parts by a hash of user_id, so that every copy of a (user, item) pair lands
    in the same part and the unique-pairs check stays exact. The suite on it
    holds row-level checks only (table-level ones are on `profile`), whose
    verdict over the table is the conjunction of the parts' verdicts.
    """
    if table != RATINGS or frame.height <= chunk_rows:
        yield frame
        return
    n_parts = -(-frame.height // chunk_rows)
    if s.USER_ID not in frame.columns:
        for offset in range(0, frame.height, chunk_rows):
            yield frame.slice(offset, chunk_rows)
        return
    part = frame[s.USER_ID].hash(seed=0) % n_parts
    for k in range(n_parts):
        yield frame.filter(part == k)


def merge_results(results: list[dict[str, Any]], failing_rows: int) -> dict[str, Any]:
    """One GX suite result from the results of the same suite on the parts of a table.

    Per expectation: successful when every part is; counts add up and the
    percentages are recomputed from the sums as GX computes them; failing rows
    and values are the first `failing_rows` over the parts in order; the first
    part's exception, if any part raised, is kept. Expectations with `mostly`
    do not run on parts (no ratings-table check has one).
    """
    if len(results) == 1:
        return results[0]
    by_id = [{r["expectation_config"]["meta"]["id"]: r for r in res["results"]} for res in results]
    merged: list[dict[str, Any]] = []
    for key, first in by_id[0].items():
        same = [part[key] for part in by_id]
        raised = [r for r in same if _exception(r.get("exception_info") or {}) is not None]
        merged.append(
            {
                **first,
                "success": all(r["success"] for r in same),
                "result": _merge_details([r.get("result") or {} for r in same], failing_rows),
                "exception_info": (raised or [first])[0].get("exception_info"),
            }
        )
    passed = sum(r["success"] for r in merged)
    return {
        **results[0],
        "results": merged,
        "success": passed == len(merged),
        "statistics": {
            "evaluated_expectations": len(merged),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(merged) - passed,
            "success_percent": 100 * passed / len(merged) if merged else None,
        },
        "meta": {**results[0].get("meta", {}), "parts": len(results)},
    }


def _merge_details(details: list[dict[str, Any]], failing_rows: int) -> dict[str, Any]:
    """GX's map-expectation `result` fields over parts (see GX's `_format_map_output`)."""
    out = dict(details[0])
    for key in ("element_count", "unexpected_count", "missing_count"):
        if key in out:
            out[key] = sum(d.get(key) or 0 for d in details)
    for key in ("partial_unexpected_list", "unexpected_rows"):
        if key in out:
            out[key] = [row for d in details for row in d.get(key) or []][:failing_rows]
    if "partial_unexpected_counts" in out:
        counts: Counter[Any] = Counter()
        for d in details:
            for entry in d.get("partial_unexpected_counts") or []:
                value = entry["value"]
                counts[tuple(value) if isinstance(value, list) else value] += entry["count"]
        top = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:failing_rows]
        out["partial_unexpected_counts"] = [{"value": v, "count": c} for v, c in top]
    element, unexpected = out.get("element_count") or 0, out.get("unexpected_count")
    if unexpected is None or "unexpected_percent" not in out:
        return out
    total = unexpected / element * 100 if element else None
    if "missing_count" not in out:
        out["unexpected_percent"] = total
        return out
    nonmissing = element - out["missing_count"]
    out["unexpected_percent"] = unexpected / nonmissing * 100 if nonmissing else None
    out["unexpected_percent_nonmissing"] = out["unexpected_percent"]
    out["unexpected_percent_total"] = total
    out["missing_percent"] = out["missing_count"] / element * 100 if element else None
    return out


def _offline_context() -> Any:
    """An ephemeral GX context (nothing written to disk) that never goes online.

    GX 1.24 no longer ships a usage-statistics client; GX_ANALYTICS_ENABLED is
    the variable its docs name for the switch, set in case an upgrade within
    the pinned major brings it back. No Data Docs site is created.
    """
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def outcomes(results: dict[str, dict[str, Any]]) -> list[Outcome]:
    """Every expectation's outcome, table by table in suite order (GX reorders them)."""
    out: list[Outcome] = []
    for table, result in results.items():
        ordered = sorted(result["results"], key=lambda r: r["expectation_config"]["meta"]["id"])
        out.extend(_outcome(table, r) for r in ordered)
    return out


def _outcome(table: str, result: dict[str, Any]) -> Outcome:
    config = result["expectation_config"]
    kwargs = config["kwargs"]
    column = kwargs.get("column") or ", ".join(kwargs.get("column_list", [])) or None
    details = result.get("result") or {}
    exception = _exception(result.get("exception_info") or {})
    raised = exception is not None
    percent = details.get("unexpected_percent")
    return Outcome(
        check=config["meta"]["check"],
        severity=_SEVERITY[config["severity"]],
        table=table,
        expectation=config["type"],
        column=column,
        description=config["meta"]["description"],
        success=bool(result["success"]),
        evaluated=not raised,
        observed=_finite(details.get("observed_value")),
        element_count=details.get("element_count"),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=_finite(percent),
        failing_rows=list(details.get("unexpected_rows") or []),
        error=exception,
    )


def _exception(info: dict[str, Any]) -> str | None:
    """The message of the exception GX caught, if any.

    GX gives either one flat record or one record per failed metric.
    """
    records = [info] if "raised_exception" in info else list(info.values())
    messages = [r.get("exception_message") for r in records if r.get("raised_exception")]
    return str(messages[0]) if messages else None


def _finite(value: Any) -> Any:
    """NaN becomes None, so that summaries stay valid JSON."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


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
