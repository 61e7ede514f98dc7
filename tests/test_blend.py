"""Blend weights against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from aerec.blend import fit_blend


def test_an_exact_combination_is_recovered() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0, 2.0])
    b = np.array([4.0, 1.0, 2.0, 2.0, 5.0])
    true = 2.0 * a + 0.5 * b + 1.0
    blend = fit_blend(("a", "b"), np.column_stack([a, b]), true)
    np.testing.assert_allclose(blend.weights, [2.0, 0.5], atol=1e-12)
    assert blend.intercept == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(blend.apply(np.array([[1.0, 2.0]])), [4.0], atol=1e-12)


# Centred columns a - 1 = (1, -1, 0, 0) and b - 2 = (0, 0, 1, -1) are orthogonal, so
# each weight is (column . y) / (|column|^2 + ridge n), clamped at 0.
A = np.array([2.0, 0.0, 1.0, 1.0])
B = np.array([2.0, 2.0, 3.0, 1.0])
TRUE = 3.0 + (A - 1.0) * 1.0 - (B - 2.0) * 2.0  # least squares: a 1, b -2


def test_a_negative_weight_is_clamped_to_zero() -> None:
    blend = fit_blend(("a", "b"), np.column_stack([A, B]), TRUE)
    np.testing.assert_allclose(blend.weights, [1.0, 0.0], atol=1e-12)
    assert blend.intercept == pytest.approx(3.0 - 1.0, abs=1e-12)  # mean y - mean a * 1


def test_the_ridge_shrinks_by_its_hand_computed_factor() -> None:
    blend = fit_blend(("a", "b"), np.column_stack([A, B]), TRUE, ridge=0.5)
    # a . y = 2; |a|^2 = 2; ridge n = 0.5 * 4 = 2: weight 2 / 4
    np.testing.assert_allclose(blend.weights, [0.5, 0.0], atol=1e-12)
    assert blend.intercept == pytest.approx(3.0 - 0.5, abs=1e-12)


def test_mismatched_predictions_are_refused() -> None:
    with pytest.raises(ValueError, match="do not match"):
        fit_blend(("a", "b"), np.ones((3, 1)), np.ones(3))
    with pytest.raises(ValueError, match="negative"):
        fit_blend(("a",), np.ones((3, 1)), np.ones(3), ridge=-1.0)
