"""Baselines against hand-computed values; MF fits, is deterministic and round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from aerec.baselines import (
    fit_baselines,
    fit_biased_mf,
    fit_biases,
    fit_global_mean,
    load_baselines,
    save_baselines,
    score,
)
from aerec.config import BaselineConfig
from aerec.errors import AerecError

CLIP = (1.0, 5.0)


def hand_matrix() -> sp.csr_matrix:
    """3 users x 3 items: user 2 and item 2 have no ratings."""
    dense = np.array([[5, 3, 0], [4, 0, 0], [0, 0, 0]], np.float32)
    return sp.csr_matrix(dense)


def test_global_mean_is_the_mean_training_rating() -> None:
    model = fit_global_mean(hand_matrix(), CLIP)
    assert model.mu == 4.0
    assert model.predict(np.array([0, 2]), np.array([2, 0])).tolist() == [4.0, 4.0]


def test_biases_match_the_hand_computed_two_step_values() -> None:
    # mu = 4; b_i = sum(r - mu) / (1 + n_i): item 0 (1 + 0) / 3 = 1/3, item 1 -1 / 2
    # b_u = sum(r - mu - b_i) / (1 + n_u): user 0 (2/3 - 1/2) / 3 = 1/18, user 1 (-1/3) / 2
    model = fit_biases(hand_matrix(), reg_user=1.0, reg_item=1.0, clip=CLIP)
    assert model.item_bias.tolist() == pytest.approx([1 / 3, -1 / 2, 0.0])
    assert model.user_bias.tolist() == pytest.approx([1 / 18, -1 / 6, 0.0])
    pred = model.predict(np.array([0, 1, 2, 2]), np.array([0, 1, 0, 2]))
    assert pred.tolist() == pytest.approx([4 + 1 / 18 + 1 / 3, 4 - 1 / 6 - 1 / 2, 4 + 1 / 3, 4.0])
    assert pred.dtype == np.float32


def test_predictions_are_clipped_to_the_scale() -> None:
    model = fit_biases(hand_matrix(), reg_user=0.0, reg_item=0.0, clip=(3.5, 4.2))
    assert model.predict(np.array([0, 1]), np.array([0, 1])).tolist() == pytest.approx([4.2, 3.5])


def test_score_gives_exact_rmse_and_mae() -> None:
    model = fit_global_mean(hand_matrix(), CLIP)
    truth = sp.csr_matrix(np.array([[2, 0, 0], [0, 0, 0], [0, 5, 5]], np.float32))
    # errors 2, -1, -1 -> rmse sqrt(6 / 3), mae 4 / 3
    assert score(model, truth) == pytest.approx({"rmse": np.sqrt(2), "mae": 4 / 3, "n": 3})
    empty = score(model, sp.csr_matrix((3, 3), dtype=np.float32))
    assert empty["n"] == 0 and np.isnan(empty["rmse"])


def low_rank(seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Ratings from a rank-2 model plus noise, 60 % observed; split in train and test."""
    rng = np.random.default_rng(seed)
    p, q = rng.normal(0, 0.8, (60, 2)), rng.normal(0, 0.8, (40, 2))
    full = np.clip(3.5 + p @ q.T + rng.normal(0, 0.1, (60, 40)), 1, 5).astype(np.float32)
    observed = rng.random((60, 40)) < 0.6
    held = observed & (rng.random((60, 40)) < 0.2)
    return sp.csr_matrix(full * (observed & ~held)), sp.csr_matrix(full * held)


def test_biased_mf_beats_the_biases_on_low_rank_data() -> None:
    train, test = low_rank()
    cfg = BaselineConfig(mf_factors=2, mf_reg=0.05, mf_iterations=10)
    biases = score(fit_biases(train, 3.0, 5.0, CLIP), test)["rmse"]
    mf = score(fit_biased_mf(train, cfg, CLIP), test)["rmse"]
    assert mf < 0.5 * biases


def test_biased_mf_training_error_falls_with_iterations() -> None:
    train, _ = low_rank()
    errors = [
        score(fit_biased_mf(train, BaselineConfig(mf_factors=2, mf_iterations=n), CLIP), train)
        for n in (1, 3, 10)
    ]
    assert errors[0]["rmse"] > errors[1]["rmse"] > errors[2]["rmse"]


def test_biased_mf_is_deterministic_and_cold_rows_fall_back_to_biases() -> None:
    cfg = BaselineConfig(mf_factors=3, mf_iterations=4, seed=5)
    a = fit_biased_mf(hand_matrix(), cfg, CLIP)
    b = fit_biased_mf(hand_matrix(), cfg, CLIP)
    assert np.array_equal(a.user_factors, b.user_factors)
    assert np.array_equal(a.item_factors, b.item_factors)
    # user 2 and item 2 have no ratings: zero factors and bias, so mu + the other bias
    assert a.user_factors[2].tolist() == [0, 0, 0] and a.user_bias[2] == 0
    assert a.item_factors[2].tolist() == [0, 0, 0] and a.item_bias[2] == 0
    pred = a.predict(np.array([2, 0]), np.array([0, 2]))
    assert pred.tolist() == pytest.approx([4 + a.item_bias[0], 4 + a.user_bias[0]])


def test_save_and_load_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    train, test = low_rank()
    models = fit_baselines(train, BaselineConfig(mf_iterations=3), CLIP)
    save_baselines(models, tmp_path / "baselines.npz")
    back = load_baselines(tmp_path / "baselines.npz")
    assert sorted(back) == ["biased_mf", "biases", "global_mean"]
    users, items = test.nonzero()
    for name, model in models.items():
        assert np.array_equal(back[name].predict(users, items), model.predict(users, items))
        assert back[name].clip == CLIP
    with pytest.raises(AerecError, match="baselines not found"):
        load_baselines(tmp_path / "absent.npz")


def test_rows_rank_unclipped_while_predict_clips() -> None:
    model = fit_biases(hand_matrix(), reg_user=0.0, reg_item=0.0, clip=(3.5, 4.2))
    # mu 4, item biases [1/2, -1, 0], user biases [1/4, -1/2]: exact in float32.
    rows = model.rows(np.array([0, 1]))
    assert rows.tolist() == [[4.75, 3.25, 4.25], [4.0, 2.5, 3.5]]
    pairs = model.predict(np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 2, 0, 1, 2]))
    assert pairs.tolist() == pytest.approx([4.2, 3.5, 4.2, 4.0, 3.5, 3.5])
