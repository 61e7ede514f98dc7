"""Train / validation / test splits, seeded and deterministic.

`assign_parts` gives every rating a part code (PART_CODES); the build stage
turns each part into a CSR matrix. All splits are vectorised over the rating
arrays (no per-user Python loop), so they run at Netflix scale.

Counting rule shared by the per-user splits: a user with n ratings sends
round(fraction * n) of them to a part, but never the last one, so every user
with at least 2 ratings keeps at least one rating in train.
"""

from __future__ import annotations

import numpy as np

from aerec.config import SplitConfig
from aerec.errors import AerecError
from aerec.matrix import Interactions
from aerec.schema import PART_CODES as PART_CODES  # re-exported: build and tests read it here

TRAIN, VAL, TEST, VAL_FOLDIN, TEST_FOLDIN = range(5)
ML100K_FOLDS = 5


def assign_parts(
    inter: Interactions, n_users: int, cfg: SplitConfig, n_input_rows: int
) -> np.ndarray:
    """Part code (int8) of each rating under the configured split method.

    `n_input_rows` is the row count of ratings.parquet before any filter: the
    predefined MovieLens 100K folds are blocks of the original lines.
    """
    rng = np.random.default_rng(cfg.seed)
    if cfg.method == "user_holdout":
        return user_holdout(inter.user, n_users, cfg.holdout_users, cfg.heldout_fraction, rng)
    parts = np.zeros(len(inter), dtype=np.int8)
    if cfg.method == "ml100k":
        parts[ml100k_test_mask(inter.row, n_input_rows, cfg.fold)] = TEST
    elif cfg.method == "temporal":
        rank, counts = per_user_rank(inter.user, n_users, _latest_first(inter))
        parts[rank < take_counts(counts, cfg.test_fraction)[inter.user]] = TEST
    elif cfg.method == "random":
        rank, counts = per_user_rank(inter.user, n_users, rng.permutation(len(inter)))
        parts[rank < take_counts(counts, cfg.test_fraction)[inter.user]] = TEST
    elif cfg.method == "kfold":
        rank, counts = per_user_rank(inter.user, n_users, rng.permutation(len(inter)))
        parts[kfold_test_mask(rank, counts, inter.user, cfg.n_folds, cfg.fold)] = TEST
    else:
        raise ValueError(f"unknown split method {cfg.method!r}")
    carve_validation(parts, inter, n_users, cfg, rng)
    return parts


def ml100k_test_mask(row: np.ndarray, n_input_rows: int, fold: int) -> np.ndarray:
    """Test mask of MovieLens 100K fold u<fold>: the fold-th fifth of u.data's lines.

    GroupLens' mku.sh builds u<i>.test from lines (i-1)*20000+1 .. i*20000 of
    u.data and u<i>.base from the rest; RecBole's ml-100k.inter keeps u.data's
    line order, so the same blocks of its rows give the same splits.
    """
    if n_input_rows == 0 or n_input_rows % ML100K_FOLDS:
        raise AerecError(
            f"ratings.parquet: the ml100k split needs the complete u.data in its original "
            f"line order (a multiple of 5 rows, 100,000 for ML-100K), got {n_input_rows} rows; "
            "use build.split.method random for other data"
        )
    block = n_input_rows // ML100K_FOLDS
    return (row // block) == (fold - 1)


def take_counts(counts: np.ndarray, fraction: float) -> np.ndarray:
    """Per user, round(fraction * n) (half up), but at most n - 1 and at least 0."""
    wanted = np.floor(fraction * counts + 0.5).astype(np.int64)
    return np.clip(np.minimum(wanted, counts - 1), 0, None)


def per_user_rank(
    user: np.ndarray, n_users: int, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each rating's rank (0-based) among its user's ratings, by ascending `order`.

    `order` must hold distinct values in [0, 2**32), for example a permutation
    of the ratings: (user, order) is packed into one int64 and sorted by value,
    which numpy does several times faster than an argsort or a lexsort at 100M
    ratings. Returns the ranks and the per-user rating counts.
    """
    n = len(user)
    order = order.astype(np.int64, copy=False)
    packed = (user.astype(np.int64) << 32) | order
    packed.sort()
    # int32 temporaries, freed as soon as used: at 100M ratings each int64 is 800 MB.
    position = np.zeros(int(order.max()) + 1 if n else 0, dtype=np.int32)
    position[order] = np.arange(n, dtype=np.int32)
    counts = np.bincount(user, minlength=n_users)
    starts = (np.cumsum(counts) - counts).astype(np.int32)
    sorted_rank = np.arange(n, dtype=np.int32)
    sorted_rank -= starts[(packed >> 32).astype(np.int32)]
    packed &= 0xFFFFFFFF
    rank = np.empty(n, dtype=np.int32)
    rank[position[packed]] = sorted_rank
    return rank, counts


def _latest_first(inter: Interactions) -> np.ndarray:
    """Each rating's position in a global latest-first order (the later line wins a tie)."""
    if inter.timestamp is None:
        raise ValueError("temporal split needs timestamps loaded")
    ordered = np.lexsort((-inter.row.astype(np.int64), -inter.timestamp))
    position = np.empty(len(ordered), dtype=np.int64)
    position[ordered] = np.arange(len(ordered))
    return position


def kfold_test_mask(
    rank: np.ndarray, counts: np.ndarray, user: np.ndarray, n_folds: int, fold: int
) -> np.ndarray:
    """Ratings in fold `fold` (1-based) of `n_folds` near-equal blocks of each user's ranks.

    Over the folds every rating is in test exactly once, except the single
    rating of a one-rating user, which always stays in train.
    """
    f = fold - 1
    lo = (f * counts + n_folds - 1) // n_folds
    hi = ((f + 1) * counts + n_folds - 1) // n_folds
    lo[counts < 2] = hi[counts < 2] = 0
    return (rank >= lo[user]) & (rank < hi[user])


def carve_validation(
    parts: np.ndarray,
    inter: Interactions,
    n_users: int,
    cfg: SplitConfig,
    rng: np.random.Generator,
) -> None:
    """Move `val_fraction` of each user's training ratings to validation, in place.

    Random for every method but temporal, where the latest training ratings
    go (validation then lies just before test in time, as Kuchaiev and Ginsburg
    did). Only training ratings are touched: for ml100k, validation comes from
    u<fold>.base only.
    """
    if cfg.val_fraction == 0:
        return
    train = np.flatnonzero(parts == TRAIN)
    user = inter.user[train]
    if cfg.method == "temporal":
        order = _latest_first(inter.select(train))
    else:
        order = rng.permutation(len(train))
    rank, counts = per_user_rank(user, n_users, order)
    val = rank < take_counts(counts, cfg.val_fraction)[user]
    parts[train[val]] = VAL


def user_holdout(
    user: np.ndarray,
    n_users: int,
    holdout_users: float,
    heldout_fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Strong generalisation (Mult-VAE): whole users held out for validation and test.

    Among users with at least 2 ratings, round(holdout_users * n) go to
    validation and as many to test. Of each held-out user's ratings,
    `heldout_fraction` (at least 1, at most n - 1, chosen at random) are to be
    predicted (`val` / `test`); the rest are the fold-in input (`val_foldin` /
    `test_foldin`). Everybody else's ratings are train.
    """
    counts = np.bincount(user, minlength=n_users)
    eligible = np.flatnonzero(counts >= 2)
    n_held = int(np.floor(holdout_users * len(eligible) + 0.5))
    chosen = rng.permutation(eligible)
    role = np.zeros(n_users, dtype=np.int8)
    role[chosen[:n_held]] = VAL
    role[chosen[n_held : 2 * n_held]] = TEST
    rank, _ = per_user_rank(user, n_users, rng.permutation(len(user)))
    n_predict = np.clip(np.floor(heldout_fraction * counts + 0.5), 1, np.maximum(counts - 1, 1))
    predicted = rank < n_predict[user]
    user_role = role[user]
    parts = np.full(len(user), TRAIN, dtype=np.int8)
    parts[(user_role == VAL) & predicted] = VAL
    parts[(user_role == VAL) & ~predicted] = VAL_FOLDIN
    parts[(user_role == TEST) & predicted] = TEST
    parts[(user_role == TEST) & ~predicted] = TEST_FOLDIN
    return parts


def assign_dropped_parts(
    dropped: Interactions,
    kept: Interactions,
    kept_parts: np.ndarray,
    n_users: int,
    cfg: SplitConfig,
    n_input_rows: int,
) -> np.ndarray:
    """Part codes of the ratings the transform dropped, so they are seen where they belong.

    The kept ratings' split is left exactly as it is; the dropped ones are
    split by the same method and fractions on their own (the same rows for
    ml100k, the latest for temporal). For a user holdout split a dropped
    rating follows its user's role: train users' go to train, a held-out
    user's are `heldout_fraction` predicted (val / test), the rest fold-in.
    Then a dropped rating of train, validation or a fold-in part is excluded
    from test ranking, and one of test is not (the test period is not known).
    """
    if len(dropped) == 0:
        return np.zeros(0, dtype=np.int8)
    if cfg.method != "user_holdout":
        return assign_parts(dropped, n_users, cfg, n_input_rows)
    role = np.zeros(n_users, dtype=np.int8)
    role[kept.user[(kept_parts == VAL) | (kept_parts == VAL_FOLDIN)]] = VAL
    role[kept.user[(kept_parts == TEST) | (kept_parts == TEST_FOLDIN)]] = TEST
    rng = np.random.default_rng(cfg.seed)
    rank, counts = per_user_rank(dropped.user, n_users, rng.permutation(len(dropped)))
    predicted = rank < take_counts(counts, cfg.heldout_fraction)[dropped.user]
    user_role = role[dropped.user]
    parts = np.full(len(dropped), TRAIN, dtype=np.int8)
    for held, foldin in ((VAL, VAL_FOLDIN), (TEST, TEST_FOLDIN)):
        parts[(user_role == held) & predicted] = held
        parts[(user_role == held) & ~predicted] = foldin
    return parts
