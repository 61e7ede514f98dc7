"""aerec.validation: each broken export is caught by the right expectation and severity.

Every test writes a small ingest directory (ratings.parquet, rejects.parquet,
summary.json, optional side tables) and runs the real GX suites on it. The
clean dataset passes everything; each broken variant must fail exactly the
expected expectations, with GX's observed values.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from aerec import schema as s
from aerec.config import DatasetConfig, RatingScale, ValidateConfig, ValidateSeverity
from aerec.errors import AerecError
from aerec.validation import Outcome, Validation, step_values, validate

# 2026-11-23 00:00 UTC: the "time of validation" in these tests.
NOW = 1_795_392_000
T0 = 946_684_800  # 2000-01-01
# Small thresholds so that a 30-rating fixture is "enough data".
CFG = ValidateConfig(min_ratings=20, min_users=5, min_items=5, min_ratings_per_user=3)
STARS = DatasetConfig()


def clean_ratings() -> pl.DataFrame:
    """6 users x 5 items each (30 ratings), every star used, one day apart."""
    rows = [
        (f"u{u}", f"i{(u + k) % 8}", float(1 + (u * 5 + k) % 5), T0 + 86_400 * (u * 5 + k))
        for u in range(6)
        for k in range(5)
    ]
    return pl.DataFrame(rows, schema=s.RATINGS_SCHEMA, orient="row")


def write_ingest(
    directory: Path,
    ratings: pl.DataFrame,
    *,
    rows_read: int | None = None,
    rejected: int = 0,
    users: pl.DataFrame | None = None,
    items: pl.DataFrame | None = None,
) -> Path:
    """An ingest directory as the ingest stage leaves it."""
    directory.mkdir(parents=True, exist_ok=True)
    ratings.write_parquet(directory / s.RATINGS_FILE)
    s.empty_rejects().write_parquet(directory / s.REJECTS_FILE)
    read = ratings.height + rejected if rows_read is None else rows_read
    summary = {"rows_read": read, "accepted": ratings.height, "rejected": rejected}
    (directory / s.INGEST_SUMMARY_FILE).write_text(json.dumps(summary))
    if users is not None:
        users.write_parquet(directory / s.USERS_FILE)
    if items is not None:
        items.write_parquet(directory / s.ITEMS_FILE)
    return directory


def run(
    tmp_path: Path,
    ratings: pl.DataFrame,
    cfg: ValidateConfig = CFG,
    dataset: DatasetConfig = STARS,
    **ingest: Any,
) -> Validation:
    return validate(write_ingest(tmp_path / "interim", ratings, **ingest), dataset, cfg, now=NOW)


def failed(result: Validation) -> dict[str, str]:
    """label -> severity of every failed expectation."""
    return {o.label: o.severity for o in result.outcomes if not o.success}


def outcome(result: Validation, label: str) -> Outcome:
    (found,) = [o for o in result.outcomes if o.label == label]
    return found


def test_clean_dataset_passes_every_expectation(tmp_path: Path) -> None:
    result = run(tmp_path, clean_ratings())
    assert failed(result) == {}
    assert [o.label for o in result.outcomes] == [
        "columns[schema]",
        "types[schema.user_id]",
        "types[schema.item_id]",
        "types[schema.rating]",
        "types[schema.timestamp]",
        "not_null[ratings.user_id]",
        "not_null[ratings.item_id]",
        "not_null[ratings.rating]",
        "rating_in_scale[ratings.rating]",
        "rating_on_step[ratings.rating]",
        "unique_pairs[ratings.user_id, item_id]",
        "timestamp_plausible[ratings.timestamp]",
        "min_users[per_user]",
        "min_ratings_per_user[per_user.n_ratings]",
        "min_items[per_item]",
        "min_ratings[profile.n_ratings]",
        "rating_mean[profile.rating_mean]",
        "rating_stdev[profile.rating_stdev]",
        "reject_share[profile.reject_share]",
        "top_rating_share[rating_values.share]",
    ]
    assert outcome(result, "min_ratings[profile.n_ratings]").observed == 30
    assert outcome(result, "min_users[per_user]").observed == 6
    assert outcome(result, "min_items[per_item]").observed == 8
    assert outcome(result, "rating_mean[profile.rating_mean]").observed == pytest.approx(3.0)
    assert outcome(result, "top_rating_share[rating_values.share]").observed == pytest.approx(0.2)
    assert outcome(result, "types[schema.rating]").observed == "float32"
    assert result.errors == [] and result.warnings == []


def test_duplicates_fail_unique_pairs_as_error(tmp_path: Path) -> None:
    ratings = clean_ratings()
    result = run(tmp_path, pl.concat([ratings, ratings.head(2)]))
    assert failed(result) == {"unique_pairs[ratings.user_id, item_id]": "error"}
    o = outcome(result, "unique_pairs[ratings.user_id, item_id]")
    assert (o.unexpected_count, o.element_count) == (4, 32)
    pairs = {(r[s.USER_ID], r[s.ITEM_ID]) for r in o.failing_rows}
    assert pairs == {("u0", "i0"), ("u0", "i1")}
    assert len(o.failing_rows) == 4


def test_out_of_range_ratings_fail_scale_and_step_as_errors(tmp_path: Path) -> None:
    ratings = clean_ratings().with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(0.0)
        .when(pl.int_range(pl.len()) == 1)
        .then(6.0)
        .otherwise(pl.col(s.RATING))
        .cast(pl.Float32)
        .alias(s.RATING)
    )
    result = run(tmp_path, ratings)
    assert failed(result) == {
        "rating_in_scale[ratings.rating]": "error",
        "rating_on_step[ratings.rating]": "error",
    }
    o = outcome(result, "rating_in_scale[ratings.rating]")
    assert (o.unexpected_count, o.element_count) == (2, 30)
    assert sorted(r[s.RATING] for r in o.failing_rows) == [0.0, 6.0]


def test_half_star_on_a_whole_star_scale_fails_only_the_step(tmp_path: Path) -> None:
    ratings = clean_ratings().with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(3.5)
        .otherwise(pl.col(s.RATING))
        .cast(pl.Float32)
        .alias(s.RATING)
    )
    result = run(tmp_path, ratings)
    assert failed(result) == {"rating_on_step[ratings.rating]": "error"}
    assert [
        r[s.RATING] for r in outcome(result, "rating_on_step[ratings.rating]").failing_rows
    ] == [3.5]
    half_stars = DatasetConfig(scale=RatingScale(min=0.5, max=5, step=0.5))
    assert failed(run(tmp_path / "half", ratings, dataset=half_stars)) == {}


def test_nulls_fail_not_null_as_errors(tmp_path: Path) -> None:
    ratings = clean_ratings().with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(None)
        .otherwise(pl.col(s.USER_ID))
        .alias(s.USER_ID),
        pl.when(pl.int_range(pl.len()).is_in([7, 8]))
        .then(None)
        .otherwise(pl.col(s.RATING))
        .alias(s.RATING),
    )
    result = run(tmp_path, ratings)
    assert failed(result) == {
        "not_null[ratings.user_id]": "error",
        "not_null[ratings.rating]": "error",
    }
    assert outcome(result, "not_null[ratings.user_id]").unexpected_count == 1
    assert outcome(result, "not_null[ratings.rating]").unexpected_count == 2
    assert outcome(result, "not_null[ratings.user_id]").failing_rows == [
        {s.USER_ID: None, s.ITEM_ID: "i1", s.RATING: 1.0, s.TIMESTAMP: float(T0 + 86_400 * 5)}
    ]


def test_shifted_column_export_fails_scale_step_timestamps_and_mean(tmp_path: Path) -> None:
    # An export shifted by one column: the timestamp landed in `rating` and the
    # star in `timestamp`.
    good = clean_ratings()
    shifted = good.with_columns(
        pl.col(s.TIMESTAMP).cast(pl.Float32).alias(s.RATING),
        pl.col(s.RATING).cast(pl.Int64).alias(s.TIMESTAMP),
    )
    result = run(tmp_path, shifted)
    assert failed(result) == {
        "rating_in_scale[ratings.rating]": "error",
        "rating_on_step[ratings.rating]": "error",
        "timestamp_plausible[ratings.timestamp]": "error",
        "rating_mean[profile.rating_mean]": "warn",
    }
    for label in ("rating_in_scale[ratings.rating]", "timestamp_plausible[ratings.timestamp]"):
        assert outcome(result, label).unexpected_count == 30
    assert outcome(result, "rating_mean[profile.rating_mean]").observed == pytest.approx(
        good[s.TIMESTAMP].cast(pl.Float32).mean(), rel=1e-6
    )


def test_empty_table_fails_the_size_checks_as_errors(tmp_path: Path) -> None:
    result = run(tmp_path, pl.DataFrame(schema=s.RATINGS_SCHEMA))
    assert failed(result) == {
        "min_ratings[profile.n_ratings]": "error",
        "min_users[per_user]": "error",
        "min_items[per_item]": "error",
        "rating_mean[profile.rating_mean]": "warn",
        "rating_stdev[profile.rating_stdev]": "error",
        "top_rating_share[rating_values.share]": "error",
    }
    assert outcome(result, "min_ratings[profile.n_ratings]").observed == 0
    assert outcome(result, "min_users[per_user]").observed == 0
    assert outcome(result, "rating_mean[profile.rating_mean]").observed is None


def test_single_rating_value_dump_fails_spread_and_dominance_as_errors(tmp_path: Path) -> None:
    result = run(tmp_path, clean_ratings().with_columns(pl.lit(4.0, pl.Float32).alias(s.RATING)))
    assert failed(result) == {
        "rating_stdev[profile.rating_stdev]": "error",
        "top_rating_share[rating_values.share]": "error",
    }
    assert outcome(result, "rating_stdev[profile.rating_stdev]").observed == 0.0
    assert outcome(result, "top_rating_share[rating_values.share]").observed == 1.0
    assert outcome(result, "rating_mean[profile.rating_mean]").observed == 4.0


def test_reject_share_from_the_ingest_summary(tmp_path: Path) -> None:
    result = run(tmp_path, clean_ratings(), rejected=10)
    assert failed(result) == {"reject_share[profile.reject_share]": "error"}
    assert outcome(result, "reject_share[profile.reject_share]").observed == 0.25


def test_timestamps_before_the_earliest_date_or_in_the_future(tmp_path: Path) -> None:
    ratings = clean_ratings().with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(NOW + 1)
        .when(pl.int_range(pl.len()) == 1)
        .then(None)
        .otherwise(pl.col(s.TIMESTAMP))
        .alias(s.TIMESTAMP)
    )
    result = run(tmp_path, ratings)
    assert failed(result) == {"timestamp_plausible[ratings.timestamp]": "error"}
    o = outcome(result, "timestamp_plausible[ratings.timestamp]")
    # The null timestamp is allowed (unknown), the future one is not; a later
    # earliest date also rejects 2000-01-03.
    assert (o.unexpected_count, o.element_count) == (1, 30)
    later = CFG.model_copy(update={"earliest_timestamp": date(2000, 1, 4)})
    assert outcome(run(tmp_path / "later", ratings, later), o.label).unexpected_count == 2


def test_too_few_ratings_per_user_is_a_warning(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        clean_ratings().filter(~((pl.col(s.USER_ID) == "u2") & (pl.col(s.ITEM_ID) != "i2"))),
    )
    assert failed(result) == {"min_ratings_per_user[per_user.n_ratings]": "warn"}
    rows = outcome(result, "min_ratings_per_user[per_user.n_ratings]").failing_rows
    assert rows == [{s.USER_ID: "u2", "n_ratings": 1}]
    assert result.errors == []


def test_side_tables_duplicate_ids_and_missing_coverage(tmp_path: Path) -> None:
    users = pl.DataFrame({s.USER_ID: ["u0", "u1", "u2", "u3", "u4", "u5", "u5"], "age": range(7)})
    items = pl.DataFrame({s.ITEM_ID: [f"i{k}" for k in range(6)]})  # i6, i7 missing
    result = run(tmp_path, clean_ratings(), users=users, items=items)
    assert failed(result) == {
        "side_ids_unique[users.user_id]": "error",
        "side_coverage[per_item.in_items_table]": "warn",
    }
    coverage = outcome(result, "side_coverage[per_item.in_items_table]")
    assert (coverage.unexpected_count, coverage.element_count) == (2, 8)
    assert {r[s.ITEM_ID] for r in coverage.failing_rows} == {"i6", "i7"}
    assert outcome(result, "side_ids_unique[users.user_id]").unexpected_count == 2


def test_severity_comes_from_params(tmp_path: Path) -> None:
    ratings = clean_ratings()
    cfg = CFG.model_copy(update={"severity": ValidateSeverity(unique_pairs="warn")})
    result = run(tmp_path, pl.concat([ratings, ratings.head(1)]), cfg)
    assert failed(result) == {"unique_pairs[ratings.user_id, item_id]": "warn"}
    assert result.errors == []


def test_wrong_type_fails_types_and_skips_derived_checks(tmp_path: Path) -> None:
    ratings = clean_ratings().with_columns(pl.col(s.RATING).cast(pl.String))
    result = run(tmp_path, ratings)
    assert outcome(result, "types[schema.rating]").observed == "str"
    assert failed(result) == {
        "types[schema.rating]": "error",
        "rating_in_scale[ratings.rating]": "error",
        "rating_on_step[ratings.rating]": "error",
    }
    assert not outcome(result, "rating_in_scale[ratings.rating]").evaluated
    assert "per_user" not in result.tables


def test_missing_column_fails_columns(tmp_path: Path) -> None:
    result = run(tmp_path, clean_ratings().drop(s.TIMESTAMP))
    assert failed(result) == {
        "columns[schema]": "error",
        "types[schema.timestamp]": "error",
        "timestamp_plausible[ratings.timestamp]": "error",
    }
    assert outcome(result, "columns[schema]").observed == [s.ITEM_ID, s.RATING, s.USER_ID]


def broken_in_every_row_level_way() -> pl.DataFrame:
    """The clean ratings plus 2 duplicated pairs, a null user, a null rating,
    a rating out of range, one off the step and a timestamp in the future."""
    ratings = clean_ratings()
    row = pl.int_range(pl.len())
    broken = ratings.with_columns(
        pl.when(row == 5).then(None).otherwise(pl.col(s.USER_ID)).alias(s.USER_ID),
        pl.when(row == 7)
        .then(None)
        .when(row == 8)
        .then(7.0)
        .when(row == 9)
        .then(2.5)
        .otherwise(pl.col(s.RATING))
        .cast(pl.Float32)
        .alias(s.RATING),
        pl.when(row == 11).then(NOW + 1).otherwise(pl.col(s.TIMESTAMP)).alias(s.TIMESTAMP),
    )
    return pl.concat([broken, ratings.slice(20, 2)])


def comparable(result: Validation) -> list[tuple[Any, ...]]:
    """Each outcome's verdict, counts and failing rows (as a sorted list)."""
    return [
        (
            o.label,
            o.success,
            o.evaluated,
            o.observed,
            o.element_count,
            o.unexpected_count,
            o.unexpected_percent,
            sorted(json.dumps(r, sort_keys=True) for r in o.failing_rows),
        )
        for o in result.outcomes
    ]


@pytest.mark.parametrize("chunk_rows", [1, 7, 31])
def test_ratings_validated_in_parts_give_the_whole_tables_outcomes(
    tmp_path: Path, chunk_rows: int
) -> None:
    ingest_dir = write_ingest(tmp_path / "interim", broken_in_every_row_level_way())
    cfg = CFG.model_copy(update={"failing_rows": 50})
    whole = validate(ingest_dir, STARS, cfg, now=NOW)
    in_parts = validate(ingest_dir, STARS, cfg, now=NOW, chunk_rows=chunk_rows)
    assert failed(whole) == {
        "not_null[ratings.user_id]": "error",
        "not_null[ratings.rating]": "error",
        "rating_in_scale[ratings.rating]": "error",
        "rating_on_step[ratings.rating]": "error",
        "unique_pairs[ratings.user_id, item_id]": "error",
        "timestamp_plausible[ratings.timestamp]": "error",
    }
    assert outcome(whole, "unique_pairs[ratings.user_id, item_id]").unexpected_count == 4
    assert comparable(in_parts) == comparable(whole)
    assert in_parts.gx_results["ratings"]["meta"]["parts"] == -(-32 // chunk_rows)
    assert in_parts.gx_results["ratings"]["statistics"]["unsuccessful_expectations"] == 6


def test_parts_keep_at_most_failing_rows_per_expectation(tmp_path: Path) -> None:
    ratings = clean_ratings().with_columns(pl.lit(9.0, pl.Float32).alias(s.RATING))
    ingest_dir = write_ingest(tmp_path / "interim", ratings)
    cfg = CFG.model_copy(update={"failing_rows": 4})
    result = validate(ingest_dir, STARS, cfg, now=NOW, chunk_rows=3)
    o = outcome(result, "rating_in_scale[ratings.rating]")
    assert (o.unexpected_count, o.element_count, o.unexpected_percent) == (30, 30, 100.0)
    assert len(o.failing_rows) == 4


def test_parts_without_a_user_column_are_row_slices(tmp_path: Path) -> None:
    result = validate(
        write_ingest(tmp_path / "interim", clean_ratings().drop(s.USER_ID)),
        STARS,
        CFG,
        now=NOW,
        chunk_rows=8,
    )
    assert result.gx_results["ratings"]["meta"]["parts"] == 4
    assert outcome(result, "rating_in_scale[ratings.rating]").element_count == 30
    assert not outcome(result, "not_null[ratings.user_id]").evaluated


def test_continuous_scale_checks_the_range_but_no_step(tmp_path: Path) -> None:
    continuous = DatasetConfig(scale=RatingScale(min=1, max=5, step=0))
    ratings = clean_ratings().with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(3.7)
        .when(pl.int_range(pl.len()) == 1)
        .then(5.5)
        .otherwise(pl.col(s.RATING))
        .cast(pl.Float32)
        .alias(s.RATING)
    )
    result = run(tmp_path, ratings, dataset=continuous)
    assert failed(result) == {"rating_in_scale[ratings.rating]": "error"}
    assert [
        r[s.RATING] for r in outcome(result, "rating_in_scale[ratings.rating]").failing_rows
    ] == [5.5]
    assert "rating_on_step" not in {o.check for o in result.outcomes}


def test_step_values_are_the_float32_ratings() -> None:
    assert step_values(RatingScale(min=0.5, max=5, step=0.5)) == [k / 2 for k in range(1, 11)]
    tenths = step_values(RatingScale(min=0, max=1, step=0.1))
    assert len(tenths) == 11
    assert tenths[3] == float(pl.Series([0.3], dtype=pl.Float32)[0])


def test_missing_input_is_one_user_error(tmp_path: Path) -> None:
    with pytest.raises(AerecError, match=r"ratings\.parquet: not found; run `aerec ingest`"):
        validate(tmp_path, STARS, CFG, now=NOW)
    write_ingest(tmp_path, clean_ratings())
    (tmp_path / s.INGEST_SUMMARY_FILE).write_text("{not json")
    with pytest.raises(AerecError, match=r"summary\.json: not valid JSON"):
        validate(tmp_path, STARS, CFG, now=NOW)
    (tmp_path / s.INGEST_SUMMARY_FILE).write_text('{"rows_read": "30", "rejected": 0}')
    with pytest.raises(AerecError, match=r"summary\.json: key 'rows_read' must be a count"):
        validate(tmp_path, STARS, CFG, now=NOW)


def test_runs_offline_and_writes_nothing_outside_its_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.delenv("GX_ANALYTICS_ENABLED", raising=False)
    ingest = write_ingest(tmp_path / "interim", clean_ratings())
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert failed(validate(ingest, STARS, CFG, now=NOW)) == {}
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert os.environ["GX_ANALYTICS_ENABLED"] == "False"
