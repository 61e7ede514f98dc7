"""Split properties: u1..u5 construction, disjoint and complete parts, per-user counts, seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aerec.config import SplitConfig
from aerec.errors import AerecError
from aerec.matrix import Interactions, load_interactions
from aerec.split import (
    TEST,
    TEST_FOLDIN,
    TRAIN,
    VAL,
    VAL_FOLDIN,
    assign_dropped_parts,
    assign_parts,
    kfold_test_mask,
    per_user_rank,
    take_counts,
)

ROOT = Path(__file__).resolve().parents[1]
# The pipeline's own fetch output (the RecBole ml-100k.inter, in u.data line order).
ML100K_INTER = ROOT / "data" / "fetched" / "ml-100k" / "ml-100k.inter"


def synthetic(counts: list[int], seed: int = 0, timestamps: bool = False) -> Interactions:
    """Users 0..len(counts)-1 with counts[u] ratings on distinct items, rows shuffled."""
    rng = np.random.default_rng(seed)
    user = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    item = np.concatenate([rng.permutation(max(counts))[:n] for n in counts]).astype(np.int32)
    order = rng.permutation(len(user))
    n = len(user)
    ts = rng.integers(0, 10**9, n) if timestamps else None
    return Interactions(
        user[order],
        item[order],
        rng.integers(1, 6, n).astype(np.float32),
        np.arange(n, dtype=np.int32),
        ts,
    )


def per_user(parts: np.ndarray, user: np.ndarray, code: int, n_users: int) -> list[int]:
    return np.bincount(user[parts == code], minlength=n_users).tolist()


def test_take_counts_rounds_half_up_and_leaves_one_in_train() -> None:
    counts = np.array([0, 1, 2, 4, 5, 10, 14, 15, 100])
    assert take_counts(counts, 0.1).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 10]
    assert take_counts(counts, 0.9).tolist() == [0, 0, 1, 3, 4, 9, 13, 14, 90]


def test_per_user_rank_orders_each_users_ratings_by_key() -> None:
    user = np.array([1, 0, 1, 0, 1], np.int32)
    order = np.array([4, 2, 0, 7, 3])
    rank, counts = per_user_rank(user, 3, order)
    assert rank.tolist() == [2, 0, 0, 1, 1]
    assert counts.tolist() == [2, 3, 0]
    empty, none = per_user_rank(np.zeros(0, np.int32), 2, np.zeros(0, np.int64))
    assert empty.tolist() == [] and none.tolist() == [0, 0]


def ml100k_like(n_rows: int) -> Interactions:
    """A u.data-like table: n_rows ratings of 7 users, in a fixed 'line' order."""
    rng = np.random.default_rng(3)
    pairs = rng.permutation(7 * 40)[:n_rows]
    return Interactions(
        (pairs // 40).astype(np.int32),
        (pairs % 40).astype(np.int32),
        np.ones(n_rows, np.float32),
        np.arange(n_rows, dtype=np.int32),
    )


@pytest.mark.parametrize("fold", [1, 2, 3, 4, 5])
def test_ml100k_fold_is_the_mku_block_of_lines(fold: int) -> None:
    """u<i>.test = lines (i-1)*N/5+1 .. i*N/5 of u.data, u<i>.base the rest (mku.sh)."""
    inter = ml100k_like(100)
    cfg = SplitConfig(method="ml100k", fold=fold, val_fraction=0.0)
    parts = assign_parts(inter, 7, cfg, n_input_rows=100)
    expected = np.full(100, TRAIN)
    expected[(fold - 1) * 20 : fold * 20] = TEST
    assert parts.tolist() == expected.tolist()


def test_ml100k_folds_partition_the_data_and_validation_comes_from_base_only() -> None:
    inter = ml100k_like(200)
    tests = []
    for fold in range(1, 6):
        parts = assign_parts(inter, 7, SplitConfig(method="ml100k", fold=fold), 200)
        block = (inter.row >= (fold - 1) * 40) & (inter.row < fold * 40)
        assert (parts[block] == TEST).all()
        assert set(parts[~block].tolist()) == {TRAIN, VAL}
        tests.append(np.flatnonzero(parts == TEST))
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(200))


def test_ml100k_split_needs_whole_blocks_of_lines() -> None:
    with pytest.raises(AerecError, match="multiple of 5"):
        assign_parts(ml100k_like(99), 7, SplitConfig(method="ml100k"), 99)


@pytest.mark.skipif(not ML100K_INTER.is_file(), reason="needs data/fetched/ml-100k (aerec fetch)")
def test_real_ml100k_u1_matches_the_classic_u1_files(tmp_path: Path) -> None:
    import polars as pl

    frame = pl.read_csv(ML100K_INTER, separator="\t", infer_schema=False)
    frame.columns = ["user_id", "item_id", "rating", "timestamp"]
    frame = frame.with_columns(
        pl.col("rating").cast(pl.Float32), pl.col("timestamp").cast(pl.Float64).cast(pl.Int64)
    )
    frame.write_parquet(tmp_path / "ratings.parquet")
    inter, users, items = load_interactions(tmp_path / "ratings.parquet")
    parts = assign_parts(inter, users.height, SplitConfig(method="ml100k", val_fraction=0), 100000)
    test = inter.select(parts == TEST)
    # The classic u1.test: 20,000 ratings of 459 users; user 1 has 137 of them,
    # items 6, 10, 12, 14, 17 first and 272 last (sorted as mku.sh does).
    assert len(test) == 20000
    assert np.unique(test.user).size == 459
    user1 = np.sort(items.get_column("item_id").to_numpy()[test.item[test.user == 0]].astype(int))
    assert len(user1) == 137
    assert user1[:5].tolist() == [6, 10, 12, 14, 17]
    assert user1[-1] == 272
    assert (parts == TRAIN).sum() == 80000


@pytest.mark.parametrize("method", ["random", "temporal", "kfold", "user_holdout"])
def test_parts_are_disjoint_complete_and_seeded(method: str) -> None:
    counts = [1, 2, 3, 5, 10, 15, 40, 7, 1, 2] * 5
    inter = synthetic(counts, timestamps=True)
    cfg = SplitConfig(method=method, seed=7)
    parts = assign_parts(inter, len(counts), cfg, len(inter))
    # one part per rating (disjoint), every rating in one (complete)
    assert parts.shape == (len(inter),)
    assert set(np.unique(parts).tolist()) <= {TRAIN, VAL, TEST, VAL_FOLDIN, TEST_FOLDIN}
    assert (parts == TEST).any() and (parts == VAL).any()
    again = assign_parts(inter, len(counts), cfg, len(inter))
    assert np.array_equal(parts, again)
    if method != "temporal":
        other = assign_parts(inter, len(counts), SplitConfig(method=method, seed=8), len(inter))
        assert not np.array_equal(parts, other)


@pytest.mark.parametrize("method", ["random", "temporal", "kfold"])
def test_every_user_with_two_ratings_keeps_one_in_train(method: str) -> None:
    counts = [1, 2, 3, 4, 5, 6, 9, 10, 11, 25]
    inter = synthetic(counts, timestamps=True)
    for fold in (1, 2, 5):
        cfg = SplitConfig(method=method, fold=fold, test_fraction=0.5, val_fraction=0.5)
        parts = assign_parts(inter, len(counts), cfg, len(inter))
        train = per_user(parts, inter.user, TRAIN, len(counts))
        assert all(t >= 1 for t in train)
        assert train[0] == 1  # the one-rating user stays whole in train


def test_random_holdout_takes_ten_percent_then_ten_percent_of_train_per_user() -> None:
    counts = [1, 2, 5, 10, 15, 20, 100]
    inter = synthetic(counts)
    parts = assign_parts(inter, len(counts), SplitConfig(method="random"), len(inter))
    assert per_user(parts, inter.user, TEST, 7) == [0, 0, 1, 1, 2, 2, 10]
    # validation: round(0.1 * remaining train): 1, 2, 4, 9, 13, 18, 90 -> 0 0 0 1 1 2 9
    assert per_user(parts, inter.user, VAL, 7) == [0, 0, 0, 1, 1, 2, 9]
    assert per_user(parts, inter.user, TRAIN, 7) == [1, 2, 4, 8, 12, 16, 81]


def test_temporal_split_sends_each_users_latest_ratings_to_test_then_val() -> None:
    # user 0: 10 ratings at times 0..9 in shuffled rows; user 1: 2 ratings
    ts = np.array([5, 100, 9, 0, 8, 7, 200, 1, 2, 3, 4, 6], np.int64)
    user = np.array([0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0], np.int32)
    n = len(ts)
    inter = Interactions(
        user, np.arange(n, dtype=np.int32), np.ones(n, np.float32), np.arange(n, dtype=np.int32), ts
    )
    cfg = SplitConfig(method="temporal", test_fraction=0.2, val_fraction=0.25)
    parts = assign_parts(inter, 2, cfg, n)
    # user 0: test = times 9, 8 (2 of 10); val = round(0.25 * 8) = 2 latest left: 7, 6
    assert sorted(ts[(parts == TEST) & (user == 0)].tolist()) == [8, 9]
    assert sorted(ts[(parts == VAL) & (user == 0)].tolist()) == [6, 7]
    # user 1: round(0.4) = 0 to test, round(0.5) = 1 (its latest, 200) to validation
    assert ts[(parts == VAL) & (user == 1)].tolist() == [200]
    assert ts[(parts == TRAIN) & (user == 1)].tolist() == [100]


def test_kfold_puts_each_rating_in_exactly_one_test_fold() -> None:
    counts = [1, 2, 3, 4, 5, 7, 13, 30]
    inter = synthetic(counts)
    times_in_test = np.zeros(len(inter), int)
    for fold in range(1, 6):
        cfg = SplitConfig(method="kfold", fold=fold, n_folds=5)
        parts = assign_parts(inter, len(counts), cfg, len(inter))
        times_in_test += parts == TEST
    single = inter.user == 0
    assert (times_in_test[single] == 0).all()
    assert (times_in_test[~single] == 1).all()


def test_kfold_blocks_are_near_equal() -> None:
    counts = np.array([13])
    rank = np.arange(13, dtype=np.int32)
    user = np.zeros(13, np.int32)
    sizes = [int(kfold_test_mask(rank, counts.copy(), user, 5, f).sum()) for f in range(1, 6)]
    assert sizes == [3, 3, 2, 3, 2]


def test_user_holdout_holds_out_whole_users_with_fold_in_and_held_out_parts() -> None:
    counts = [1] + [10] * 19 + [2]
    inter = synthetic(counts)
    cfg = SplitConfig(method="user_holdout", holdout_users=0.1, heldout_fraction=0.2)
    parts = assign_parts(inter, len(counts), cfg, len(inter))
    role = {code: set(inter.user[parts == code].tolist()) for code in range(5)}
    assert len(role[VAL]) == len(role[TEST]) == 2  # round(0.1 * 20 eligible users)
    assert role[VAL] == role[VAL_FOLDIN] and role[TEST] == role[TEST_FOLDIN]
    assert role[VAL].isdisjoint(role[TEST])
    assert role[TRAIN].isdisjoint(role[VAL] | role[TEST])
    assert 0 in role[TRAIN]  # a one-rating user is never held out
    for u in role[VAL] | role[TEST]:
        predicted = int(((parts == VAL) | (parts == TEST))[inter.user == u].sum())
        assert predicted == (2 if counts[u] == 10 else 1)


def test_dropped_ratings_of_a_user_holdout_split_follow_their_user() -> None:
    user = np.array([0, 0, 1, 1, 2, 2], dtype=np.int32)
    kept = Interactions(user, user % 2, np.ones(6, np.float32), np.arange(6, dtype=np.int32))
    kept_parts = np.array([TRAIN, TRAIN, VAL_FOLDIN, VAL, TEST, TEST_FOLDIN], dtype=np.int8)
    dropped = synthetic([2, 5, 1], seed=3)
    cfg = SplitConfig(method="user_holdout", heldout_fraction=0.2)
    parts = assign_dropped_parts(dropped, kept, kept_parts, 3, cfg, 14)
    got = {u: sorted(parts[dropped.user == u].tolist()) for u in range(3)}
    # user 0 trains; user 1 (validation): round(0.2 * 5) = 1 predicted, 4 fold-in;
    # user 2 (test): round(0.2 * 1) = 0 predicted, its one rating is fold-in.
    assert got == {0: [TRAIN] * 2, 1: [VAL] + [VAL_FOLDIN] * 4, 2: [TEST_FOLDIN]}
    again = assign_dropped_parts(dropped, kept, kept_parts, 3, cfg, 14)
    assert np.array_equal(parts, again)
