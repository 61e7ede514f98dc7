"""Canonical column names and dtypes, defined once for the whole package.

Every reader produces the canonical rating table; every later stage reads it.
Original ids stay strings: `build` maps them to contiguous integers.
"""

from __future__ import annotations

import polars as pl

USER_ID = "user_id"
ITEM_ID = "item_id"
RATING = "rating"
TIMESTAMP = "timestamp"

RATINGS_SCHEMA: dict[str, pl.DataType] = {
    USER_ID: pl.String(),
    ITEM_ID: pl.String(),
    RATING: pl.Float32(),
    TIMESTAMP: pl.Int64(),  # seconds since the epoch, null when unknown
}
# Optional rating columns, for the formats that carry them.
IS_RECOMMENDED = "is_recommended"  # Sephora: 1.0 / 0.0, Float32, null when unknown

# One row per input record a reader could not accept. Counts add up:
# rows read = accepted + rejected.
SOURCE = "source"
LINE = "line"
REASON = "reason"
RAW = "raw"
REJECTS_SCHEMA: dict[str, pl.DataType] = {
    SOURCE: pl.String(),
    LINE: pl.Int64(),
    REASON: pl.String(),
    RAW: pl.String(),
}

# Reject reasons, the only values REASON takes.
REASON_DUPLICATE = "duplicate"
REASON_RATING_OUT_OF_SCALE = "rating_out_of_scale"
REASON_BAD_NUMBER = "unparsable_number"
REASON_MISSING_ID = "missing_id"
REASON_FIELD_COUNT = "wrong_field_count"
REASON_UNDECODABLE = "undecodable_text"
REASON_BAD_JSON = "invalid_json"
REJECT_REASONS = (
    REASON_DUPLICATE,
    REASON_RATING_OUT_OF_SCALE,
    REASON_BAD_NUMBER,
    REASON_MISSING_ID,
    REASON_FIELD_COUNT,
    REASON_UNDECODABLE,
    REASON_BAD_JSON,
)

# Output file names inside an ingest directory.
RATINGS_FILE = "ratings.parquet"
REJECTS_FILE = "rejects.parquet"
USERS_FILE = "users.parquet"
ITEMS_FILE = "items.parquet"
INGEST_SUMMARY_FILE = "summary.json"

# Build output: id maps (original id -> contiguous int32 index) and matrices.
USER_IDX = "user_idx"
ITEM_IDX = "item_idx"
USER_MAP_FILE = "user_map.parquet"
ITEM_MAP_FILE = "item_map.parquet"
USER_SIDE_FILE = "user_side.npz"
ITEM_SIDE_FILE = "item_side.npz"
BUILD_STATS_FILE = "stats.json"
BASELINES_FILE = "baselines.json"
BASELINE_PARAMS_FILE = "baselines.npz"
TOPN_PARAMS_FILE = "topn.npz"  # pop's counts, EASE's item x item weights
TOPN_FILE = "topn.json"  # their validation scores, EASE's picked lambda
# Split parts and their codes (split.py assigns them; seen.npz stores code + 1).
PART_CODES = {"train": 0, "val": 1, "test": 2, "val_foldin": 3, "test_foldin": 4}
# Ratings the transform dropped (binarize's low ones), value = part code + 1: seen, never a target.
SEEN_FILE = "seen.npz"
# Split parts; `<part>.npz` holds each. The *_foldin parts exist only for a
# user holdout split (the input a model sees for a held-out user).
SPLIT_PARTS = ("train", "val", "test", "val_foldin", "test_foldin")

# Evaluate and recommend output: predictions.parquet (user_id, item_id, rating,
# prediction, cold_user, cold_item), recommendation lists (user_id, rank,
# item_id, prediction[, title]).
PREDICTION = "prediction"
COLD_USER = "cold_user"
COLD_ITEM = "cold_item"
RANK = "rank"
TITLE = "title"


def empty_rejects() -> pl.DataFrame:
    """An empty rejects table with the canonical schema."""
    return pl.DataFrame(schema=REJECTS_SCHEMA)
