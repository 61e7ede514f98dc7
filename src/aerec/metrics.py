"""Pure metric functions: rating error, ranking quality, coverage and popularity bias.

Everything works on numpy arrays and scipy CSR matrices, vectorized; nothing
here knows about models, files or params. Conventions:

- rating errors are global over the held-out ratings (never a mean of per-user
  errors) and the predictions are clipped to the rating scale first;
- ranking metrics compare each user's top-K list (item indices, best first,
  -1 for an empty slot) with the user's relevant held-out items, and average
  over the users that have at least one relevant item;
- an empty group has no value: functions return None, not NaN, so the results
  stay valid JSON.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp


def clip(pred: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Predictions clipped to the rating scale [lo, hi], as float64."""
    return np.clip(np.asarray(pred, dtype=np.float64), lo, hi)


def rmse(true: np.ndarray, pred: np.ndarray) -> float | None:
    """Root mean squared error over all pairs; None when there are none."""
    diff = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.sqrt(np.mean(diff * diff))) if diff.size else None


def mae(true: np.ndarray, pred: np.ndarray) -> float | None:
    """Mean absolute error over all pairs; None when there are none."""
    diff = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.mean(np.abs(diff))) if diff.size else None


def rating_errors(
    true: np.ndarray, pred: np.ndarray, lo: float, hi: float
) -> dict[str, float | int | None]:
    """Count, RMSE and MAE of `pred` against `true`, predictions clipped to [lo, hi]."""
    clipped = clip(pred, lo, hi)
    return {"n": int(clipped.size), "rmse": rmse(true, clipped), "mae": mae(true, clipped)}


def bucket_labels(edges: Sequence[int]) -> list[str]:
    """Readable labels for the buckets `edges` defines: [0, e0), [e0, e1), ..., [e_last, inf).

    Counts are integers, so [a, b) reads "a-(b-1)"; a one-value bucket reads "a".
    """
    bounds = [0, *edges]
    pairs = itertools.pairwise(bounds)
    labels = [str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}" for lo, hi in pairs]
    labels.append(f"{bounds[-1]}+")
    return labels


def bucketed_errors(
    true: np.ndarray,
    pred: np.ndarray,
    counts: np.ndarray,
    edges: Sequence[int],
    lo: float,
    hi: float,
) -> dict[str, dict[str, float | int | None]]:
    """Rating errors per bucket of `counts` (one count per pair, e.g. the user's train ratings).

    `edges` are the increasing lower bounds of the buckets after the first, which
    starts at 0 (see bucket_labels). Each bucket's RMSE is global over its pairs.
    """
    if list(edges) != sorted(set(edges)) or (len(edges) and edges[0] <= 0):
        raise ValueError(f"bucket edges must be positive and strictly increasing: {edges}")
    which = np.digitize(np.asarray(counts), np.asarray(edges, dtype=np.int64), right=False)
    true, pred = np.asarray(true), np.asarray(pred)
    return {
        label: rating_errors(true[which == b], pred[which == b], lo, hi)
        for b, label in enumerate(bucket_labels(edges))
    }


def top_k(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    """The k best item indices per row of `scores`, best first; -1 fills slots with no item.

    `exclude` (same shape, CSR) marks items that may not be recommended (already
    seen); they never appear. The order is total and deterministic: higher
    score first, equal scores by the lower item index (at the cut-off too), NaN
    scores last (with -inf). Only the k chosen items per row are sorted.
    """
    key = _rank_keys(scores, exclude)
    n_rows, n_items = key.shape
    k = min(k, n_items)
    if k == 0:
        return np.zeros((n_rows, 0), dtype=np.int64)
    cand = _first_k(key, k) if k < n_items else np.broadcast_to(np.arange(n_items), key.shape)
    # Candidates are in index order, so the stable sort breaks ties by the lower index.
    order = np.argsort(np.take_along_axis(key, cand, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(cand, order, axis=1).astype(np.int64)
    top[np.isnan(np.take_along_axis(key, top, axis=1))] = -1
    return top


def _rank_keys(scores: np.ndarray, exclude: sp.csr_matrix | None) -> np.ndarray:
    """Ascending sort keys, best first: -score, +inf for NaN scores, NaN for excluded items."""
    scores = np.asarray(scores)
    # One negated copy (float32 stays float32).
    key = np.negative(scores, dtype=np.result_type(scores.dtype, np.float32))
    key[np.isnan(key)] = np.inf
    if exclude is not None:
        coo = exclude.tocoo()
        key[coo.row, coo.col] = np.nan
    return key


def _first_k(key: np.ndarray, k: int) -> np.ndarray:
    """Per row, the k items with the smallest keys (NaN largest), ties by index; index order.

    The k-th smallest key is the cut: every item below it is in, and of the
    items at it, the lowest indices until k are taken. Rows without a tie
    across the cut take the fast path (everything at or below it).
    """
    cut = np.partition(key, k - 1, axis=1)[:, k - 1 : k]
    chosen = key <= cut  # NaN never compares: a NaN cut or ties leave a count != k
    odd = np.flatnonzero(chosen.sum(axis=1) != k)
    if odd.size:
        chosen[odd] = _first_k_ties(key[odd], cut[odd], k)
    return np.nonzero(chosen)[1].reshape(key.shape[0], k)


def _first_k_ties(key: np.ndarray, cut: np.ndarray, k: int) -> np.ndarray:
    """`_first_k`'s choice mask for rows with ties at the cut, or NaN at it."""
    cut_nan = np.isnan(cut)
    below = np.where(cut_nan, ~np.isnan(key), key < cut)
    at = np.where(cut_nan, np.isnan(key), key == cut)
    need = k - below.sum(axis=1, keepdims=True)
    return below | (at & (np.cumsum(at, axis=1) <= need))


def relevant_items(held_out: sp.csr_matrix, threshold: float) -> sp.csr_matrix:
    """Boolean CSR of the held-out entries rated at or above `threshold` (the positives)."""
    held_out = sp.csr_matrix(held_out)
    rel = sp.csr_matrix(
        (held_out.data >= threshold, held_out.indices, held_out.indptr), shape=held_out.shape
    )
    rel.eliminate_zeros()
    return rel


def hit_matrix(top: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean array shaped like `top`: True where the listed item is relevant for that row."""
    relevant = sp.csr_matrix(relevant)
    n_items = relevant.shape[1]
    rows = np.repeat(np.arange(relevant.shape[0], dtype=np.int64), np.diff(relevant.indptr))
    rel_keys = np.sort(rows * n_items + relevant.indices)
    top_keys = np.arange(top.shape[0], dtype=np.int64)[:, None] * n_items + top
    return np.isin(top_keys, rel_keys) & (top >= 0)


def ranking_metrics(
    top: np.ndarray, relevant: sp.csr_matrix, ks: Sequence[int]
) -> dict[str, float | int | None]:
    """Precision, Recall, Mult-VAE Recall, NDCG and HitRate at each K, averaged over users.

    Row u of `top` is user u's list, row u of `relevant` the user's positives.
    Users without positives are left out. Recall divides the hits by |I_u|;
    `recall_mvae` divides by min(K, |I_u|) as Liang et al. (2018) do, so a
    perfect list scores 1. NDCG uses binary gains and log2(rank + 1) discounts.
    """
    n_rel = np.diff(sp.csr_matrix(relevant).indptr)
    users = n_rel > 0
    hits = hit_matrix(top, relevant)[users]
    n_rel = n_rel[users]
    out: dict[str, float | int | None] = {"users": int(users.sum())}
    for k in ks:
        h = hits[:, :k]
        n_hit = h.sum(axis=1)
        discount = 1.0 / np.log2(np.arange(2, k + 2))
        ideal = np.cumsum(discount)[np.minimum(k, n_rel) - 1] if n_rel.size else n_rel
        per_user = {
            f"precision@{k}": n_hit / k,
            f"recall@{k}": n_hit / n_rel,
            f"recall_mvae@{k}": n_hit / np.minimum(k, n_rel),
            f"ndcg@{k}": (h * discount[: h.shape[1]]).sum(axis=1) / ideal,
            f"hit_rate@{k}": n_hit > 0,
        }
        out.update({name: _mean(values) for name, values in per_user.items()})
    return out


def catalogue_coverage(top: np.ndarray, n_items: int) -> float:
    """Share of the catalogue's items that appear in at least one list."""
    return float(np.unique(top[top >= 0]).size / n_items)


def popularity_percentile(item_counts: np.ndarray) -> np.ndarray:
    """Each item's popularity percentile in [0, 1]: 0 least, 1 most rated (ties averaged)."""
    n = item_counts.size
    if n < 2:
        return np.ones(n)
    return (average_ranks(item_counts) - 1.0) / (n - 1.0)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`; ties get the mean of their ranks (rankdata "average")."""
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]  # one past each run of equal values
    mean_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def popularity_bias(top: np.ndarray, item_counts: np.ndarray) -> dict[str, float | None]:
    """How popular the recommended items are: ARP and the mean popularity percentile.

    ARP (average recommendation popularity, Abdollahpouri et al. 2019) is the
    mean over users of the mean train count of their listed items; the
    percentile form is comparable across datasets. Empty slots (-1) are skipped.
    """
    filled = top >= 0
    safe = np.where(filled, top, 0)
    per_user_n = filled.sum(axis=1)
    keep = per_user_n > 0

    def per_user_mean(values: np.ndarray) -> np.ndarray:
        return (np.where(filled, values[safe], 0.0).sum(axis=1)[keep]) / per_user_n[keep]

    return {
        "arp": _mean(per_user_mean(np.asarray(item_counts, dtype=np.float64))),
        "popularity_percentile": _mean(per_user_mean(popularity_percentile(item_counts))),
    }


def _mean(values: np.ndarray) -> float | None:
    """Mean as a float, None for an empty array (valid JSON, unlike NaN)."""
    return float(np.mean(values)) if np.size(values) else None
