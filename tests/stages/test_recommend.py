"""Recommendation lists: unseen items only, titles, unknown users, batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.evaluation_fixture import FixedScorer, write_items, write_processed, write_seen

from aerec import scoring
from aerec.processed import load_processed
from aerec.stages.recommend import Recommender, run_all

# Known items (train, val or test): u0 and u1 {i0..i3}, u2 {i0}; i4 and i5 nobody rated.
SCORES = np.array(
    [
        [9.0, 9.0, 9.0, 4.5, 2.0, 3.0],
        [2.0, 4.0, 3.0, 0.0, 3.5, 1.0],
        [3.0, 2.0, 1.0, 0.5, 4.0, 0.0],
    ]
)


@pytest.fixture
def recommender(tmp_path: Path) -> Recommender:
    processed = load_processed(write_processed(tmp_path / "processed", extra_items=2))
    return Recommender.build(FixedScorer(SCORES), processed, write_items(tmp_path / "items.pq"))


def test_a_user_gets_unseen_items_best_first_with_titles(recommender: Recommender) -> None:
    frame, note = recommender.for_user("u0", 3)
    assert note is None
    assert frame.rows() == [("u0", 1, "i5", 3.0, None), ("u0", 2, "i4", 2.0, "Four")]
    assert frame.columns == ["user_id", "rank", "item_id", "prediction", "title"]
    frame, _ = recommender.for_user("u2", 3)
    assert frame.select("item_id", "prediction").rows() == [("i4", 4.0), ("i1", 2.0), ("i2", 1.0)]


def test_an_unknown_user_gets_the_most_rated_items_and_a_note(recommender: Recommender) -> None:
    frame, note = recommender.for_user("nobody", 3)
    assert note == (
        "user 'nobody' is not in the training data: showing the 3 most rated items and their "
        "mean rating instead of personal predictions"
    )
    # Input (train + validation) counts [2, 1, 2, 0, 0, 0]; mean ratings 4.5, 3, 1.5.
    assert frame.rows() == [
        ("nobody", 1, "i0", 4.5, "Zero"),
        ("nobody", 2, "i2", 1.5, "Two"),
        ("nobody", 3, "i1", 3.0, "One"),
    ]


def test_all_users_in_batches_equal_one_block(
    recommender: Recommender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = [
        ("u0", 1, "i5", 3.0),
        ("u0", 2, "i4", 2.0),
        ("u1", 1, "i4", 3.5),
        ("u1", 2, "i5", 1.0),
        ("u2", 1, "i4", 4.0),
        ("u2", 2, "i1", 2.0),
    ]
    monkeypatch.setattr(scoring, "BLOCK_ENTRIES", 6)  # one user (6 items) per batch
    summary = run_all(recommender, 2, tmp_path / "recs.parquet")
    assert summary == {"users": 3, "rows": 6, "out": str(tmp_path / "recs.parquet")}
    written = pl.read_parquet(tmp_path / "recs.parquet")
    assert written.drop("title").rows() == expected
    assert written.schema["rank"] == pl.Int32
    monkeypatch.setattr(scoring, "BLOCK_ENTRIES", 1 << 22)
    run_all(recommender, 2, tmp_path / "one_block.parquet")
    assert pl.read_parquet(tmp_path / "one_block.parquet").equals(written)


def test_titles_are_optional(tmp_path: Path) -> None:
    processed = load_processed(write_processed(tmp_path / "processed", extra_items=2))
    recommender = Recommender.build(FixedScorer(SCORES), processed, tmp_path / "absent.parquet")
    frame, _ = recommender.for_user("u1", 1)
    assert frame.rows() == [("u1", 1, "i4", 3.5)]


def test_ratings_are_ranked_unclipped_and_shown_clipped(tmp_path: Path) -> None:
    processed = load_processed(write_processed(tmp_path / "processed", extra_items=2))
    # u2 knows i0 only; clipped to 5, i1, i2 and i4 would tie and come in index order.
    scores = SCORES.copy()
    scores[2] = [3.0, 5.5, 7.0, 0.5, 6.0, 0.0]
    recommender = Recommender.build(FixedScorer(scores), processed, None)
    frame, _ = recommender.for_user("u2", 4)
    assert frame.select("item_id", "prediction").rows() == [
        ("i2", 5.0),
        ("i4", 5.0),
        ("i1", 5.0),
        ("i3", 1.0),
    ]
    batch = recommender.for_users(np.array([2]), 4)
    assert (
        batch.select("item_id", "prediction").rows() == frame.select("item_id", "prediction").rows()
    )


def test_ratings_the_transform_dropped_are_never_recommended(tmp_path: Path) -> None:
    out = write_seen(
        write_processed(tmp_path / "processed", extra_items=2), {(2, 1): "train", (2, 4): "test"}
    )
    recommender = Recommender.build(FixedScorer(SCORES), load_processed(out), None)
    frame, _ = recommender.for_user("u2", 3)
    # u2 rated i0 (test) and, dropped by the transform, i1 and i4: i2, i3, i5 are left.
    assert frame.select("item_id", "prediction").rows() == [("i2", 1.0), ("i3", 1.0), ("i5", 1.0)]
