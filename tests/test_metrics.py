"""Metric functions against values computed by hand on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from aerec import metrics


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-12, abs=1e-12)


def test_clip_to_scale() -> None:
    assert metrics.clip(np.array([0.5, 3.2, 6.0]), 1.0, 5.0).tolist() == [1.0, 3.2, 5.0]


def test_rating_errors_clip_predictions_before_scoring() -> None:
    true = np.array([1.0, 2.0, 5.0, 4.0])
    pred = np.array([-1.0, 4.0, 7.0, 4.0])
    # Clipped: [1, 4, 5, 4] -> errors [0, 2, 0, 0]; unclipped errors would be [-2, 2, 2, 0].
    assert metrics.rating_errors(true, pred, 1.0, 5.0) == {"n": 4, "rmse": 1.0, "mae": 0.5}
    assert metrics.rmse(true, pred) == approx(math.sqrt(3.0))


def test_rmse_is_global_over_ratings_not_a_mean_of_per_user_rmse() -> None:
    # User A: one rating off by 2; user B: three exact ratings.
    true = np.array([3.0, 3.0, 3.0, 3.0])
    pred = np.array([5.0, 3.0, 3.0, 3.0])
    assert metrics.rating_errors(true, pred, 1.0, 5.0)["rmse"] == 1.0  # sqrt(4 / 4), not 2 / 2


def test_rating_errors_of_nothing_are_none() -> None:
    assert metrics.rating_errors(np.array([]), np.array([]), 1.0, 5.0) == {
        "n": 0,
        "rmse": None,
        "mae": None,
    }


def test_bucket_labels() -> None:
    assert metrics.bucket_labels([1, 10, 50]) == ["0", "1-9", "10-49", "50+"]
    assert metrics.bucket_labels([]) == ["0+"]


def test_bucketed_errors() -> None:
    counts = np.array([0, 1, 9, 10, 60])
    true = np.full(5, 3.0)
    pred = np.array([4.0, 3.0, 5.0, 3.0, 1.0])
    got = metrics.bucketed_errors(true, pred, counts, [1, 10, 50, 100], 1.0, 5.0)
    assert got == {
        "0": {"n": 1, "rmse": 1.0, "mae": 1.0},
        "1-9": {"n": 2, "rmse": approx(math.sqrt(2.0)), "mae": 1.0},
        "10-49": {"n": 1, "rmse": 0.0, "mae": 0.0},
        "50-99": {"n": 1, "rmse": 2.0, "mae": 2.0},
        "100+": {"n": 0, "rmse": None, "mae": None},
    }


def test_bucket_edges_must_increase() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        metrics.bucketed_errors(np.ones(1), np.ones(1), np.ones(1), [10, 5], 1.0, 5.0)


def test_top_k_orders_excludes_and_breaks_ties_by_index() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [1.0, 2.0, 3.0, 4.0]])
    exclude = sp.csr_matrix(np.array([[0, 0, 0, 0], [0, 0, 0, 1]]))
    assert metrics.top_k(scores, 3, exclude).tolist() == [[1, 3, 2], [2, 1, 0]]


def test_top_k_pads_with_minus_one_when_too_few_items_remain() -> None:
    exclude = sp.csr_matrix(np.array([[1, 0, 1]]))
    assert metrics.top_k(np.array([[3.0, 2.0, 1.0]]), 2, exclude).tolist() == [[1, -1]]
    assert metrics.top_k(np.array([[3.0, 2.0, 1.0]]), 5).tolist() == [[0, 1, 2]]


def test_relevant_items_applies_the_threshold() -> None:
    held_out = sp.csr_matrix(np.array([[5.0, 0.0, 3.0], [4.0, 1.0, 0.0]], dtype=np.float32))
    rel = metrics.relevant_items(held_out, 4.0)
    assert rel.toarray().tolist() == [[True, False, False], [True, False, False]]
    assert rel.nnz == 2


def test_ranking_metrics_by_hand() -> None:
    top = np.array([[2, 0, 5], [1, 3, 4], [0, 1, 2]])
    relevant = np.zeros((3, 6), dtype=bool)
    relevant[0, [0, 4]] = True  # user 0: one hit, at rank 2
    relevant[2, [0, 1, 2, 3]] = True  # user 2: hits at ranks 1-3; user 1 has no positives
    got = metrics.ranking_metrics(top, sp.csr_matrix(relevant), [1, 3])
    ndcg_u0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert got == {
        "users": 2,
        "precision@1": 0.5,
        "recall@1": approx(0.125),
        "recall_mvae@1": 0.5,
        "ndcg@1": 0.5,
        "hit_rate@1": 0.5,
        "precision@3": approx(2 / 3),
        "recall@3": approx(0.625),
        "recall_mvae@3": approx(0.75),
        "ndcg@3": approx((ndcg_u0 + 1) / 2),
        "hit_rate@3": 1.0,
    }


def test_ranking_metrics_ignore_empty_slots_and_handle_no_users() -> None:
    top = np.array([[-1, 1]])
    relevant = sp.csr_matrix(np.array([[True, True]]))
    got = metrics.ranking_metrics(top, relevant, [2])
    assert got["precision@2"] == 0.5
    assert got["recall_mvae@2"] == 0.5
    assert got["ndcg@2"] == approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    none = metrics.ranking_metrics(top, sp.csr_matrix((1, 2), dtype=bool), [2])
    assert none == {
        "users": 0,
        "precision@2": None,
        "recall@2": None,
        "recall_mvae@2": None,
        "ndcg@2": None,
        "hit_rate@2": None,
    }


def test_catalogue_coverage() -> None:
    assert metrics.catalogue_coverage(np.array([[0, 1], [1, -1]]), 4) == 0.5


def test_popularity_percentile_and_bias() -> None:
    counts = np.array([5, 3, 3, 0])
    assert metrics.popularity_percentile(counts).tolist() == [1.0, 0.5, 0.5, 0.0]
    got = metrics.popularity_bias(np.array([[0, 1], [2, -1]]), counts)
    # User 0 lists counts 5 and 3 (mean 4), user 1 count 3: ARP = 3.5.
    assert got == {"arp": 3.5, "popularity_percentile": 0.625}


def test_top_k_breaks_ties_at_the_cut_off_by_the_lower_index() -> None:
    scores = np.array([[1.0, 2.0, 2.0, 2.0, 2.0, 0.0], [5.0, 5.0, 5.0, 5.0, 5.0, 5.0]])
    exclude = sp.csr_matrix(np.array([[0, 0, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]]))
    assert metrics.top_k(scores, 2, exclude).tolist() == [[1, 3], [1, 2]]
    assert metrics.top_k(scores, 4, exclude).tolist() == [[1, 3, 4, 0], [1, 2, 3, 4]]
    assert metrics.top_k(scores, 6, exclude).tolist() == [[1, 3, 4, 0, 5, -1], [1, 2, 3, 4, 5, -1]]


def test_top_k_puts_nan_scores_last_and_excluded_items_never() -> None:
    scores = np.array([[np.nan, 0.5, np.nan, 0.2, -np.inf], [np.nan, np.nan, 1.0, np.nan, 3.0]])
    exclude = sp.csr_matrix(np.array([[0, 0, 0, 0, 0], [0, 1, 0, 0, 1]]))
    assert metrics.top_k(scores, 5).tolist() == [[1, 3, 0, 2, 4], [4, 2, 0, 1, 3]]
    assert metrics.top_k(scores, 3).tolist() == [[1, 3, 0], [4, 2, 0]]
    assert metrics.top_k(scores, 4, exclude).tolist() == [[1, 3, 0, 2], [2, 0, 3, -1]]
    assert metrics.top_k(scores.astype(np.float32), 2, exclude).tolist() == [[1, 3], [2, 0]]


def test_average_ranks_give_ties_the_mean_of_their_ranks() -> None:
    values = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0])
    assert metrics.average_ranks(values).tolist() == [5.0, 1.5, 5.0, 3.0, 5.0, 1.5]
    assert metrics.average_ranks(np.array([], dtype=np.int64)).tolist() == []
