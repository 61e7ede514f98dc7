"""Predictions of a model: at index pairs, for whole user rows, and its codes.

`Predictor` holds a trained model with its input matrix on the device, built
once; for a model whose outputs are a function of its code (`decode`) and
whose rows are items, it encodes every item once and reuses those codes, so
one user's row costs one small product instead of a pass over every item.
The training loop's validation scores (`validation_scores`) use the same
sampled and dense prediction paths on a model still being trained, so never
a cache.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from aerec.models.base import Autoencoder, RatingData, Targets
from aerec.models.sparse import SparseRows

# Rows per prediction batch: sampled outputs keep memory small, so it is large.
EVAL_ROWS = 4096
RECALL_AT = 20


def row_chunks(rows: Tensor, size: int = EVAL_ROWS) -> Iterator[Tensor]:
    """Consecutive slices of `rows` of at most `size`."""
    for start in range(0, rows.numel(), size):
        yield rows[start : start + size]


def has_decode(model: Autoencoder) -> bool:
    """Whether the model's outputs can be computed from its codes alone."""
    return type(model).decode is not Autoencoder.decode


def clip(model: Autoencoder, values: Tensor) -> Tensor:
    """Ratings clipped to the scale; ranking scores (Mult-VAE) as they are."""
    if not model.predicts_ratings:
        return values
    return values.clamp(model.spec.rating_min, model.spec.rating_max)


def oriented(model: Autoencoder, matrix: sp.csr_matrix) -> sp.csr_matrix:
    """A users x items matrix in the model's row orientation."""
    return matrix if model.orientation == "user" else matrix.T.tocsr()


@torch.no_grad()
def sampled(
    model: Autoencoder, data: RatingData, pattern: SparseRows, codes: Tensor | None = None
) -> Tensor:
    """Model outputs at every entry of `pattern` (rows in the model's orientation).

    `codes` (every row's code, from a Predictor) skips the encoder.
    """
    out = torch.empty(pattern.nnz, device=data.device)
    rows = torch.nonzero(pattern.counts()).squeeze(1)
    for chunk in row_chunks(rows):
        part = pattern.select(chunk)
        targets = Targets(pattern=part)
        if codes is None:
            values = model(model.make_batch(data, chunk), targets)
        else:
            values = model.decode(codes[chunk], targets)
        starts, counts = pattern.indptr[chunk], part.counts()
        pos = torch.repeat_interleave(starts - part.indptr[:-1], counts) + torch.arange(
            part.nnz, device=data.device
        )
        out[pos] = values.float()
    return out


@torch.no_grad()
def validation_scores(
    model: Autoencoder, data: RatingData, val: SparseRows
) -> tuple[float | None, float | None]:
    """(RMSE, recall@20) on the validation entries; the one the model is not selected on is None.

    `val` is in the model's orientation; `data` holds what the model reads
    (train, plus fold-in rows of held-out users).
    """
    model.eval()
    if model.predicts_ratings:
        if val.nnz == 0:
            return None, None
        pred = clip(model, sampled(model, data, val))
        return float(torch.sqrt(((pred - val.values) ** 2).mean())), None
    return None, _recall(model, data, model.relevant(val))


def _recall(model: Autoencoder, data: RatingData, truth: SparseRows) -> float | None:
    """Recall@20 over the rows with relevant entries, input entries excluded (Liang et al.)."""
    rows = torch.nonzero(truth.counts()).squeeze(1)
    if rows.numel() == 0:
        return None
    total = 0.0
    for chunk in row_chunks(rows):
        scores = model(model.make_batch(data, chunk), Targets()).float()
        seen = data.matrix(model.orientation).select(chunk)
        scores[seen.row_ids(), seen.indices] = -math.inf
        top = torch.topk(scores, min(RECALL_AT, scores.shape[1]), dim=1).indices
        part = truth.select(chunk)
        hits = part.to_dense().gather(1, top).gt(0).sum(1).float()
        total += float((hits / part.counts().clamp(max=RECALL_AT).float()).sum())
    return total / rows.numel()


class Predictor:
    """A trained model over a fixed input matrix (users x items), ready to predict.

    The input matrix goes to the model's device once. For an item-based model
    with `decode`, every item's code is computed once, on first use.
    `pairs` gives ratings clipped to the scale (or Mult-VAE's
    log-probabilities); `rows` gives unclipped scores, for ranking. Hybrid
    models need the side matrices they were trained with.
    """

    def __init__(
        self,
        model: Autoencoder,
        inputs: sp.csr_matrix,
        user_side: sp.csr_matrix | None = None,
        item_side: sp.csr_matrix | None = None,
    ) -> None:
        self.model = model.eval()
        self.inputs = inputs
        device = next(model.parameters()).device
        self.data = RatingData(inputs, device, user_side, item_side)
        self._codes: Tensor | None = None

    @property
    def device(self) -> torch.device:
        return self.data.device

    def _all_codes(self) -> Tensor | None:
        """Every row's code, cached, when reusing codes pays (item rows, decode known)."""
        if self.model.orientation != "item" or not has_decode(self.model):
            return None
        if self._codes is None:
            self._codes = self._encode(torch.arange(self.model.n_rows, device=self.device))
        return self._codes

    @torch.no_grad()
    def _encode(self, rows: Tensor) -> Tensor:
        parts = [self.model.encode(self.model.make_batch(self.data, c)) for c in row_chunks(rows)]
        if not parts:
            return torch.zeros(0, 0, device=self.device)
        return torch.cat(parts)

    def codes(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The codes (embeddings) of `rows` (default: every row) in the model's orientation."""
        idx = torch.arange(self.model.n_rows) if rows is None else torch.as_tensor(rows)
        idx = idx.to(self.device, torch.int64)
        cached = self._all_codes()
        codes = cached[idx] if cached is not None else self._encode(idx)
        return codes.float().cpu().numpy()

    @torch.no_grad()
    def rows(self, users: np.ndarray) -> np.ndarray:
        """Dense ranking scores, len(users) x n_items, in user x item orientation.

        Never clipped: a rating model's order above the scale's maximum is kept
        (clipping would tie every such item); clip what is shown as a rating.
        A user-based model runs the asked user rows; an item-based model
        computes only the asked users' output columns for every item (from
        the cached item codes when it can), then transposes.
        """
        model = self.model
        idx = torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.device)
        if model.orientation == "user":
            parts = [model(model.make_batch(self.data, c), Targets()) for c in row_chunks(idx)]
            out = torch.cat(parts) if parts else torch.empty(0, self.data.n_items)
        else:
            targets = Targets(columns=idx)
            codes = self._all_codes()
            if codes is not None:
                out = model.decode(codes, targets).t()
            else:
                items = torch.arange(self.data.n_items, device=self.device)
                parts = [model(model.make_batch(self.data, c), targets) for c in row_chunks(items)]
                out = torch.cat(parts).t()
        return out.float().cpu().numpy()

    def pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predictions at the (users[k], items[k]) pairs, in the given order.

        Only the asked outputs are computed (sampled decoder), batched over the
        model's rows, so scoring a test split costs about as much as one epoch.
        """
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        n_users, n_items = self.data.n_users, self.data.n_items
        rows, cols, n_rows, n_cols = (
            (users, items, n_users, n_items)
            if self.model.orientation == "user"
            else (items, users, n_items, n_users)
        )
        # One entry per distinct pair; `inverse` maps the answers back to the asked order.
        keys, inverse = np.unique(rows * n_cols + cols, return_inverse=True)
        pattern = sp.csr_matrix(
            (np.ones(len(keys), np.float32), (keys // n_cols, keys % n_cols)),
            shape=(n_rows, n_cols),
        )
        values = sampled(
            self.model, self.data, SparseRows.from_scipy(pattern, self.device), self._all_codes()
        )
        return clip(self.model, values).cpu().numpy()[inverse.ravel()]
