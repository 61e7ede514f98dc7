"""Baselines fitted on train, reported next to every model: how much does a model add?

- global mean: the mean training rating;
- biases: mu + b_u + b_i, regularised, fitted in Koren's two steps
  (Y. Koren, "Factor in the neighbors", TKDD 2010, eq. 2-3): first
  b_i = sum(r - mu) / (reg_item + n_i), then b_u = sum(r - mu - b_i) / (reg_user + n_u);
- biased MF: mu + b_u + c_i + p_u . q_i, fitted by alternating least squares
  with weighted-lambda regularisation (Zhou et al., "Large-scale parallel
  collaborative filtering for the Netflix Prize", 2008). Each half step solves
  every user's (or item's) small normal equations at once: the Gram matrices
  come from one sparse-dense product, so a 100M-rating fit stays in numpy and
  scipy, deterministic for a given seed.

All three are one `Predictor` (zero biases or zero factors where a baseline has
none). A user or item without training ratings has zero bias and factors, so
it falls back to the item, user or global term: never a KeyError.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from aerec.config import BaselineConfig
from aerec.errors import AerecError
from aerec.io import atomic_path

_FIELDS = ("mu", "user_bias", "item_bias", "user_factors", "item_factors", "clip")
_PREDICT_CHUNK = 1 << 20


@dataclass(frozen=True)
class Predictor:
    """mu + user_bias[u] + item_bias[i] + user_factors[u] . item_factors[i].

    `predict` clips to the scale (ratings); `rows` does not (ranking scores).
    """

    mu: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    clip: tuple[float, float]

    def predict(self, users_idx: np.ndarray, items_idx: np.ndarray) -> np.ndarray:
        """Predicted ratings (float32) for parallel arrays of user and item indices."""
        users_idx = np.asarray(users_idx)
        items_idx = np.asarray(items_idx)
        out = np.empty(len(users_idx), dtype=np.float32)
        for start in range(0, len(users_idx), _PREDICT_CHUNK):
            u = users_idx[start : start + _PREDICT_CHUNK]
            i = items_idx[start : start + _PREDICT_CHUNK]
            dot = np.einsum("ij,ij->i", self.user_factors[u], self.item_factors[i])
            out[start : start + len(u)] = self.mu + self.user_bias[u] + self.item_bias[i] + dot
        return np.clip(out, *self.clip, out=out)

    def rows(self, users_idx: np.ndarray) -> np.ndarray:
        """Unclipped scores (float32) of every item for each user: len(users) x n_items.

        Ranking reads these: clipping would tie every item above the scale's top.
        """
        users_idx = np.asarray(users_idx)
        # The terms in `predict`'s order, so both give the same float32 ratings.
        out = (self.mu + self.user_bias[users_idx])[:, None] + self.item_bias[None, :]
        out += self.user_factors[users_idx] @ self.item_factors.T
        return out.astype(np.float32, copy=False)


def _zeros(n: int, k: int = 0) -> np.ndarray:
    return np.zeros((n, k) if k else n, dtype=np.float32)


def fit_global_mean(train: sp.csr_matrix, clip: tuple[float, float]) -> Predictor:
    """The mean training rating for everybody."""
    n_users, n_items = train.shape
    mu = float(train.data.mean(dtype=np.float64)) if train.nnz else float(np.mean(clip))
    return Predictor(
        mu, _zeros(n_users), _zeros(n_items), _zeros(n_users, 1), _zeros(n_items, 1), clip
    )


def fit_biases(
    train: sp.csr_matrix, reg_user: float, reg_item: float, clip: tuple[float, float]
) -> Predictor:
    """Regularised user and item biases around the global mean (Koren's two steps)."""
    base = fit_global_mean(train, clip)
    users = _row_of_entries(train)
    residual = train.data.astype(np.float64) - base.mu
    item_bias = _shrunk_mean(train.indices, residual, train.shape[1], reg_item)
    residual -= item_bias[train.indices]
    user_bias = _shrunk_mean(users, residual, train.shape[0], reg_user)
    return Predictor(
        base.mu,
        user_bias.astype(np.float32),
        item_bias.astype(np.float32),
        base.user_factors,
        base.item_factors,
        clip,
    )


def _row_of_entries(matrix: sp.csr_matrix) -> np.ndarray:
    """The row index of every stored entry of a CSR matrix (int32)."""
    rows = np.arange(matrix.shape[0], dtype=np.int32)
    return np.repeat(rows, np.diff(matrix.indptr))


def _shrunk_mean(index: np.ndarray, values: np.ndarray, n: int, reg: float) -> np.ndarray:
    """sum(values) / (reg + count) per index; 0 where an index has no values."""
    sums = np.bincount(index, weights=values, minlength=n)
    counts = np.bincount(index, minlength=n)
    denom = reg + counts
    return np.divide(sums, denom, out=np.zeros(n), where=denom > 0)


def fit_biased_mf(
    train: sp.csr_matrix, cfg: BaselineConfig, clip: tuple[float, float]
) -> Predictor:
    """Biased matrix factorisation by ALS-WR (see the module docstring)."""
    mu = fit_global_mean(train, clip).mu
    n_users, n_items = train.shape
    k = cfg.mf_factors
    rng = np.random.default_rng(cfg.seed)
    # [factors, bias] per user and per item; the item's partner column is 1.
    user_w = np.zeros((n_users, k + 1), dtype=np.float32)
    item_w = np.zeros((n_items, k + 1), dtype=np.float32)
    item_w[:, :k] = rng.normal(0.0, 0.1, size=(n_items, k))
    pattern = sp.csr_matrix(
        (np.ones(train.nnz, np.float32), train.indices, train.indptr), shape=train.shape
    )
    users = _row_of_entries(train)
    for _ in range(cfg.mf_iterations):
        target = train.data - mu - item_w[train.indices, k]
        user_w = _solve_side(pattern, target, train, item_w[:, :k], cfg.mf_reg)
        target = train.data - mu - user_w[users, k]
        item_w = _solve_side(pattern.T, target, train.T, user_w[:, :k], cfg.mf_reg)
    return Predictor(
        mu,
        user_w[:, k].copy(),
        item_w[:, k].copy(),
        np.ascontiguousarray(user_w[:, :k]),
        np.ascontiguousarray(item_w[:, :k]),
        clip,
    )


def _solve_side(
    pattern: sp.spmatrix,
    target: np.ndarray,
    like: sp.spmatrix,
    other_factors: np.ndarray,
    reg: float,
) -> np.ndarray:
    """Solve every row's ridge problem for [factors, bias] against fixed partners.

    Row u minimises sum_i (t_ui - x_i . w_u)^2 + reg * n_u * |w_u|^2 with
    x_i = [q_i, 1]. `pattern` is the 0/1 matrix, `like` a matrix with the same
    structure whose data is replaced by the targets `target`.
    """
    n_other, k = other_factors.shape
    x = np.hstack([other_factors, np.ones((n_other, 1), np.float32)])
    iu, ju = np.triu_indices(k + 1)
    packed = pattern @ (x[:, iu] * x[:, ju])  # Gram matrices, upper triangle
    targets = _with_data(like, target.astype(np.float32))
    rhs = np.asarray(targets @ x, dtype=np.float64)
    counts = np.asarray(pattern.sum(axis=1)).ravel()
    out = np.zeros((pattern.shape[0], k + 1), dtype=np.float32)
    rows = np.flatnonzero(counts > 0)
    for chunk in np.array_split(rows, max(1, len(rows) // 65536)):
        gram = np.zeros((len(chunk), k + 1, k + 1))
        gram[:, iu, ju] = packed[chunk]
        gram[:, ju, iu] = packed[chunk]
        gram[:, np.arange(k + 1), np.arange(k + 1)] += reg * counts[chunk, None]
        out[chunk] = np.linalg.solve(gram, rhs[chunk, :, None])[:, :, 0]
    return out


def _with_data(like: sp.spmatrix, data: np.ndarray) -> sp.spmatrix:
    """A matrix with `like`'s sparsity structure (CSR or its CSC transpose) and new data."""
    if isinstance(like, sp.csc_matrix | sp.csc_array):
        return sp.csc_matrix((data, like.indices, like.indptr), shape=like.shape)
    return sp.csr_matrix((data, like.indices, like.indptr), shape=like.shape)


def fit_baselines(
    train: sp.csr_matrix, cfg: BaselineConfig, clip: tuple[float, float]
) -> dict[str, Predictor]:
    """Fit the three baselines on the training matrix."""
    return {
        "global_mean": fit_global_mean(train, clip),
        "biases": fit_biases(train, cfg.reg_user, cfg.reg_item, clip),
        "biased_mf": fit_biased_mf(train, cfg, clip),
    }


def score(predictor: Predictor, matrix: sp.csr_matrix) -> dict[str, float]:
    """RMSE and MAE of a predictor on the stored entries of a matrix."""
    if matrix.nnz == 0:
        return {"rmse": float("nan"), "mae": float("nan"), "n": 0}
    error = predictor.predict(_row_of_entries(matrix), matrix.indices) - matrix.data
    error = error.astype(np.float64)
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "n": int(matrix.nnz),
    }


def save_baselines(models: dict[str, Predictor], path: Path) -> None:
    """Write the fitted baselines' parameters to one .npz atomically."""
    arrays = {}
    for name, model in models.items():
        for field in _FIELDS:
            arrays[f"{name}.{field}"] = np.asarray(getattr(model, field))
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez(handle, **arrays)


def load_baselines(path: Path) -> dict[str, Predictor]:
    """Read baselines written by `save_baselines`: {name: Predictor}."""
    if not Path(path).is_file():
        raise AerecError(f"{path}: baselines not found; run `aerec build` first")
    try:
        with np.load(path) as data:
            names = sorted({key.split(".")[0] for key in data.files})
            return {
                name: Predictor(
                    mu=float(data[f"{name}.mu"]),
                    user_bias=data[f"{name}.user_bias"],
                    item_bias=data[f"{name}.item_bias"],
                    user_factors=data[f"{name}.user_factors"],
                    item_factors=data[f"{name}.item_factors"],
                    clip=tuple(float(v) for v in data[f"{name}.clip"]),
                )
                for name in names
            }
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise AerecError(
            f"{path}: not a baselines file ({exc.__class__.__name__}); rebuild it (aerec build)"
        ) from exc
