"""Top-N baselines fitted on train, ranked beside every model: pop and EASE.

- pop: every user gets the items with the most training interactions
  (RecBole's Pop);
- EASE (H. Steck, "Embarrassingly shallow autoencoders for sparse data",
  WWW 2019): item-item weights in closed form, B = I - P / diag(P) with
  P = (X^T X + lambda I)^-1, so diag(B) = 0; a user's scores are x_u B.
  X is the 0/1 pattern of the observed entries (every rating an interaction).
  lambda is picked on validation from a grid (`ease_lambdas`), by NDCG@10 of
  the validation entries ranked from the training history with the training
  items excluded; test is never read. P is a dense item x item inverse, so
  EASE is skipped, with a note, above `ease_max_items` items.

Neither predicts ratings: their scores only rank.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from aerec import metrics as m
from aerec.config import BaselineConfig
from aerec.errors import AerecError
from aerec.io import atomic_path

PICK_K = 10  # EASE's lambda maximises validation NDCG@PICK_K
# Dense score blocks stay near this many entries (users x items) while picking.
_BLOCK = 1 << 22


@dataclass(frozen=True)
class TopN:
    """Scores x_u W for a user's 0/1 history x_u, plus a per-item constant (pop's counts).

    pop has no `weights` (None) and `item_scores` = training counts; EASE has
    `weights` = B and zero `item_scores`.
    """

    item_scores: np.ndarray
    weights: np.ndarray | None = None
    lam: float | None = None

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        """Ranking scores (float32), one row per row of `history` (users x items)."""
        out = np.broadcast_to(self.item_scores, history.shape).astype(np.float32)
        if self.weights is not None:
            out += np.asarray(pattern(history) @ self.weights, dtype=np.float32)
        return out


def pattern(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The 0/1 pattern (float32) of a matrix's stored entries."""
    matrix = sp.csr_matrix(matrix)
    ones = np.ones(matrix.nnz, dtype=np.float32)
    return sp.csr_matrix((ones, matrix.indices, matrix.indptr), shape=matrix.shape)


def fit_pop(train: sp.csr_matrix) -> TopN:
    """Training interactions per item."""
    counts = np.bincount(train.indices, minlength=train.shape[1]).astype(np.float32)
    return TopN(counts)


def gram(train: sp.csr_matrix) -> np.ndarray:
    """X^T X of the 0/1 training pattern, dense float64 (items x items)."""
    x = pattern(train)
    return np.asarray((x.T @ x).toarray(), dtype=np.float64)


def fit_ease(g: np.ndarray, lam: float) -> TopN:
    """EASE's B from the Gram matrix: B = I - P / diag(P), P = (G + lam I)^-1, diag(B) = 0."""
    p = np.linalg.inv(g + lam * np.eye(g.shape[0]))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return TopN(np.zeros(g.shape[0], np.float32), b.astype(np.float32), float(lam))


def ranked_ndcg(
    model: TopN, history: sp.csr_matrix, exclude: sp.csr_matrix, truth: sp.csr_matrix, k: int
) -> float | None:
    """NDCG@k of `truth`'s entries (all relevant) ranked from `history`, `exclude` left out."""
    users = np.flatnonzero(np.diff(truth.indptr))
    size = max(1, _BLOCK // max(truth.shape[1], 1))
    tops = [
        m.top_k(model.scores(history[batch]), k, exclude[batch])
        for batch in (users[i : i + size] for i in range(0, len(users), size))
    ]
    if not tops:
        return None
    relevant = pattern(truth[users])
    return m.ranking_metrics(np.vstack(tops), relevant, [k])[f"ndcg@{k}"]


def fit_topn(
    train: sp.csr_matrix,
    val: sp.csr_matrix,
    history: sp.csr_matrix,
    exclude: sp.csr_matrix,
    cfg: BaselineConfig,
) -> tuple[dict[str, TopN], dict[str, Any]]:
    """Fit pop and EASE on train, EASE's lambda picked on `val`; and what validation said.

    `history` is what a validation user is ranked from (train, plus fold-in
    rows for a user holdout split); `exclude` what may not be ranked (the
    history and the ratings the transform dropped from those parts).
    """
    pop = fit_pop(train)
    key = f"val_ndcg@{PICK_K}"
    report: dict[str, Any] = {"pop": {key: ranked_ndcg(pop, history, exclude, val, PICK_K)}}
    models = {"pop": pop}
    n_items = train.shape[1]
    if n_items > cfg.ease_max_items:
        report["ease"] = {
            "skipped": f"{n_items:,} items > build.baselines.ease_max_items "
            f"{cfg.ease_max_items:,} (EASE inverts a dense item x item matrix)"
        }
        return models, report
    g = gram(train)
    by_lambda: dict[str, float | None] = {}
    best: TopN | None = None
    best_score = -np.inf
    for lam in cfg.ease_lambdas:
        ease = fit_ease(g, lam)
        score = ranked_ndcg(ease, history, exclude, val, PICK_K)
        by_lambda[f"{lam:g}"] = score
        if best is None or (score is not None and score > best_score):
            best, best_score = ease, (score if score is not None else -np.inf)
    assert best is not None  # ease_lambdas is never empty (config)
    models["ease"] = best
    report["ease"] = {"lambda": best.lam, key: by_lambda}
    return models, report


def save_topn(models: dict[str, TopN], path: Path) -> None:
    """Write the fitted top-N baselines to one .npz atomically."""
    arrays: dict[str, np.ndarray] = {}
    for name, model in models.items():
        arrays[f"{name}.item_scores"] = model.item_scores
        if model.weights is not None:
            arrays[f"{name}.weights"] = model.weights
            arrays[f"{name}.lam"] = np.asarray(model.lam)
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez(handle, **arrays)


def load_topn(path: Path) -> dict[str, TopN]:
    """Read what `save_topn` wrote; an absent file (an older build) holds none."""
    if not Path(path).is_file():
        return {}
    try:
        with np.load(path) as data:
            names = sorted({key.split(".")[0] for key in data.files}, key=_order)
            return {name: _read(data, name) for name in names}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise AerecError(
            f"{path}: not a top-N baselines file ({exc.__class__.__name__}); rebuild it "
            "(aerec build)"
        ) from exc


def _read(data: Any, name: str) -> TopN:
    weights = data[f"{name}.weights"] if f"{name}.weights" in data.files else None
    lam = float(data[f"{name}.lam"]) if weights is not None else None
    return TopN(data[f"{name}.item_scores"], weights, lam)


def _order(name: str) -> tuple[int, str]:
    return (("pop", "ease").index(name) if name in ("pop", "ease") else 2, name)
