"""Blends: non-negative weights (and an intercept) for members' predictions.

The weights are fitted on the validation predictions only, by non-negative
least squares on a ridge-augmented system, and then applied, unchanged, to
the members' test predictions. Pure functions on numpy arrays; no file is read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls


@dataclass(frozen=True)
class Blend:
    """Fitted blend: one non-negative weight per member, and a free intercept."""

    members: tuple[str, ...]
    weights: np.ndarray
    intercept: float

    def apply(self, preds: np.ndarray) -> np.ndarray:
        """The blended prediction of each row of `preds` (n x members, in `members` order)."""
        preds = np.asarray(preds, dtype=np.float64)
        if preds.shape[1] != len(self.members):
            raise ValueError(f"{preds.shape[1]} columns for {len(self.members)} members")
        return preds @ self.weights + self.intercept


def fit_blend(
    members: tuple[str, ...], preds: np.ndarray, true: np.ndarray, ridge: float = 0.0
) -> Blend:
    """Weights w >= 0 and intercept b minimising |preds w + b - true|^2 + ridge n |w|^2.

    The intercept is free (not penalised, not bounded): it is fitted as the
    mean residual, by centring columns and target before the NNLS; the ridge
    is scaled by the number of rows so its meaning does not depend on size.
    """
    preds = np.asarray(preds, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if preds.ndim != 2 or preds.shape != (len(true), len(members)) or len(true) == 0:
        raise ValueError(f"predictions {preds.shape} do not match {len(true)} ratings, {members}")
    if ridge < 0:
        raise ValueError(f"ridge {ridge} is negative")
    col_mean, y_mean = preds.mean(axis=0), true.mean()
    a, y = preds - col_mean, true - y_mean
    if ridge > 0:
        k = len(members)
        a = np.vstack([a, np.sqrt(ridge * len(true)) * np.eye(k)])
        y = np.concatenate([y, np.zeros(k)])
    weights, _ = nnls(a, y)
    return Blend(tuple(members), weights, float(y_mean - col_mean @ weights))
