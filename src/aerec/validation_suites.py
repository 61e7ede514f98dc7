"""The Great Expectations suites, built in code from the canonical schema and the scale.

One list of expectations per derived table (see aerec.validation for the
tables); each carries its check's name, a plain-words description, its
position, and its check's severity from params.yaml.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from aerec import schema as s
from aerec.config import DatasetConfig, RatingScale, ValidateConfig, ValidateSeverity

if TYPE_CHECKING:
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

# Our severities as GX's; a result's GX severity is read back through it.
GX_SEVERITY = {"error": "critical", "warn": "warning"}


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
                severity=GX_SEVERITY[getattr(self.severity, check)],
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
