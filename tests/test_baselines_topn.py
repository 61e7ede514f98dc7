"""pop and EASE against hand-computed values on a tiny matrix; lambda picked on validation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from aerec.baselines_topn import (
    fit_ease,
    fit_pop,
    fit_topn,
    gram,
    load_topn,
    ranked_ndcg,
    save_topn,
)
from aerec.config import BaselineConfig

# u0 {i0, i1}, u1 {i1, i2}, u2 {i0, i1, i2}; values are ratings, only the pattern counts.
TRAIN = sp.csr_matrix(np.array([[5, 3, 0], [0, 4, 1], [2, 5, 4]], np.float32))


def exact(values: list[float]) -> object:
    return pytest.approx(values, rel=1e-6, abs=1e-7)


def test_pop_counts_training_interactions_and_ties_go_to_the_lower_index() -> None:
    pop = fit_pop(TRAIN)
    assert pop.item_scores.tolist() == [2.0, 3.0, 2.0]
    history = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, 0]], np.float32))
    assert pop.scores(history).tolist() == [[2.0, 3.0, 2.0]] * 2
    # u1 ranked from nothing but i1 excluded: the tie i0 = i2 goes to i0.
    val = sp.csr_matrix(np.array([[0, 0, 1], [0, 0, 0]], np.float32))
    assert ranked_ndcg(pop, history, history, val, 10) == pytest.approx(1 / math.log2(3))


def test_ease_weights_by_hand() -> None:
    # G = X^T X = [[2, 2, 1], [2, 3, 2], [1, 2, 2]]; lambda 2: G + 2I has determinant 51 and
    # P = [[16, -6, -1], [-6, 15, -6], [-1, -6, 16]] / 51; B_ij = -P_ij / P_jj, diag 0.
    assert gram(TRAIN).tolist() == [[2, 2, 1], [2, 3, 2], [1, 2, 2]]
    ease = fit_ease(gram(TRAIN), 2.0)
    assert ease.lam == 2.0
    expected = [[0, 6 / 15, 1 / 16], [6 / 16, 0, 6 / 16], [1 / 16, 6 / 15, 0]]
    for row, want in zip(ease.weights.tolist(), expected, strict=True):
        assert row == exact(want)
    # u0's history {i0, i1}: rows 0 + 1 of B.
    got = ease.scores(TRAIN[[0]])[0].tolist()
    assert got == exact([6 / 16, 6 / 15, 1 / 16 + 6 / 16])


def test_ease_ranks_validation_from_the_history_without_it() -> None:
    ease = fit_ease(gram(TRAIN), 2.0)
    history = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 1]], np.float32))
    val = sp.csr_matrix(np.array([[0, 0, 1], [0, 1, 0]], np.float32))
    # {i0}: scores [0, 0.4, 0.0625] -> list [i1, i2], the positive i2 second;
    # {i2}: [0.0625, 0.4, 0] -> [i1, i0], the positive i1 first.
    got = ranked_ndcg(ease, history, history, val, 10)
    assert got == pytest.approx((1 / math.log2(3) + 1) / 2)


def synthetic(seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    rng = np.random.default_rng(seed)
    taste = rng.random((40, 2)) @ rng.random((2, 25))
    full = (rng.random((40, 25)) < taste / taste.max()).astype(np.float32)
    val = full * (rng.random(full.shape) < 0.2)
    return sp.csr_matrix(full - val), sp.csr_matrix(val)


def test_lambda_is_the_validation_best_of_the_grid() -> None:
    train, val = synthetic(0)
    cfg = BaselineConfig(ease_lambdas=(0.5, 5.0, 50.0))
    models, report = fit_topn(train, val, train, train, cfg)
    scores = {
        f"{lam:g}": ranked_ndcg(fit_ease(gram(train), lam), train, train, val, 10)
        for lam in cfg.ease_lambdas
    }
    assert report["ease"]["val_ndcg@10"] == scores
    assert len(set(scores.values())) == 3  # the grid matters here
    best = max(scores, key=lambda lam: scores[lam])
    assert report["ease"]["lambda"] == models["ease"].lam == float(best)
    assert report["pop"]["val_ndcg@10"] == ranked_ndcg(fit_pop(train), train, train, val, 10)


def test_ease_is_skipped_above_the_item_cap_with_a_note() -> None:
    models, report = fit_topn(TRAIN, TRAIN, TRAIN, TRAIN, BaselineConfig(ease_max_items=2))
    assert list(models) == ["pop"]
    assert report["ease"] == {
        "skipped": "3 items > build.baselines.ease_max_items 2 (EASE inverts a dense item x "
        "item matrix)"
    }


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    models = {"pop": fit_pop(TRAIN), "ease": fit_ease(gram(TRAIN), 2.0)}
    save_topn(models, tmp_path / "topn.npz")
    back = load_topn(tmp_path / "topn.npz")
    assert list(back) == ["pop", "ease"]
    assert back["ease"].lam == 2.0 and back["pop"].weights is None
    assert np.array_equal(back["ease"].weights, models["ease"].weights)
    assert load_topn(tmp_path / "absent.npz") == {}
