"""Scorers: one interface over a trained model and the fitted baselines, for evaluate and recommend.

A scorer predicts ratings for (user, item) index pairs and for whole user
rows (a dense block of users x items, asked for in batches, never the whole
matrix). A model scorer hands the ratings of users or items its input never
saw (cold ones) to the fallback baseline, as build does for its reports, so
every pair gets a prediction and no index is ever looked up that a model
cannot know.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from aerec import schema as s
from aerec.baselines import Predictor, load_baselines
from aerec.errors import AerecError
from aerec.matrix import load_csr

# Dense score blocks stay near this many entries (users x items) per batch.
BLOCK_ENTRIES = 1 << 22


class Scorer(Protocol):
    """Predicted ratings for index pairs and for whole user rows.

    `predicts_ratings` is False for a scorer whose scores are not ratings
    (Mult-VAE's log-probabilities): only its ranking metrics mean something.
    """

    predicts_ratings: bool

    def pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray: ...

    def rows(self, users: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class BaselineScorer:
    """A fitted baseline (aerec.baselines.Predictor) as a scorer."""

    predictor: Predictor
    n_items: int
    predicts_ratings: bool = True

    def pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.predictor.predict(users, items)

    def rows(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users)
        pred = self.predictor.predict(
            np.repeat(users, self.n_items), np.tile(np.arange(self.n_items), users.size)
        )
        return pred.reshape(users.size, self.n_items)


@dataclass(frozen=True)
class Processed:
    """What evaluate and recommend read from build's output directory.

    `inputs` is every rating known before the test, what a model reads when
    the test is predicted and what is never recommended again: train,
    validation (it picked the epoch; the weights never fitted it) and, for a
    user-holdout split, the test fold-in rows. `train` is what the weights
    were fitted on.
    """

    dir: Path
    inputs: sp.csr_matrix
    train: sp.csr_matrix
    test: sp.csr_matrix
    scale: tuple[float, float]
    stats: dict[str, Any]

    @property
    def shape(self) -> tuple[int, int]:
        return self.inputs.shape

    def user_counts(self) -> np.ndarray:
        """Input ratings per user (0: a cold user)."""
        return _user_counts(self.inputs)

    def item_counts(self) -> np.ndarray:
        """Input ratings per item (0: a cold item); the popularity of the top-N metrics."""
        return _item_counts(self.inputs)


def _user_counts(matrix: sp.csr_matrix) -> np.ndarray:
    return np.diff(matrix.indptr)


def _item_counts(matrix: sp.csr_matrix) -> np.ndarray:
    return np.bincount(matrix.indices, minlength=matrix.shape[1])


def load_processed(processed_dir: Path) -> Processed:
    """Read the matrices and stats build wrote; a missing file is an AerecError."""
    import json

    processed_dir = Path(processed_dir)
    stats_path = processed_dir / s.BUILD_STATS_FILE
    if not stats_path.is_file():
        raise AerecError(f"{stats_path}: not found; run `aerec build` first")
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    parts = {
        name: load_csr(processed_dir / f"{name}.npz")
        for name in ("train", "val", "test", "test_foldin")
        if name in ("train", "val", "test") or (processed_dir / f"{name}.npz").is_file()
    }
    inputs = parts["train"] + parts["val"]
    if "test_foldin" in parts:
        inputs = inputs + parts["test_foldin"]
    inputs = inputs.tocsr()
    scale = (float(stats["scale"]["min"]), float(stats["scale"]["max"]))
    return Processed(processed_dir, inputs, parts["train"], parts["test"], scale, stats)


def load_baseline_scorers(processed: Processed) -> dict[str, BaselineScorer]:
    """Every baseline build fitted, as scorers, in build's order."""
    fitted = load_baselines(processed.dir / s.BASELINE_PARAMS_FILE)
    return {name: BaselineScorer(p, processed.shape[1]) for name, p in fitted.items()}


def entries(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stored entries of a CSR matrix as (rows, cols, values) arrays, in storage order."""
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int32), np.diff(matrix.indptr))
    return rows, matrix.indices.astype(np.int32), matrix.data


def user_batches(users: np.ndarray, n_items: int) -> list[np.ndarray]:
    """Split `users` into batches whose dense score blocks stay near BLOCK_ENTRIES."""
    size = max(1, BLOCK_ENTRIES // max(n_items, 1))
    return [users[i : i + size] for i in range(0, len(users), size)]


@dataclass(frozen=True)
class ModelScorer:
    """A trained autoencoder as a scorer; cold users and items go to the fallback baseline.

    `inputs` is the matrix the model reads (Processed.inputs), `train` the
    one its weights were fitted on. Cold are the users and items without
    inputs, and those whose output unit never had a training rating (users
    for an item-based model, items for a user-based one). A model with a
    multinomial likelihood (Mult-VAE) scores log-probabilities, not ratings:
    `predicts_ratings` is then False, its cold items keep the model's scores
    (mixing in the baseline's ratings would put them first) and only cold
    users, whose rows are wholly the fallback's, are handed over.
    """

    model: Any
    inputs: sp.csr_matrix
    train: sp.csr_matrix
    user_side: sp.csr_matrix | None
    item_side: sp.csr_matrix | None
    fallback: Scorer

    @property
    def predicts_ratings(self) -> bool:
        return getattr(self.model, "likelihood", "gaussian") != "multinomial"

    def _sides(self) -> dict[str, sp.csr_matrix | None]:
        return {"user_side": self.user_side, "item_side": self.item_side}

    def pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        from aerec.train import predict_pairs

        users, items = np.asarray(users), np.asarray(items)
        pred = predict_pairs(self.model, self.inputs, users, items, **self._sides())
        cold = self.cold_users[users]
        if self.predicts_ratings:
            cold |= self.cold_items[items]
        if cold.any():
            pred[cold] = self.fallback.pairs(users[cold], items[cold])
        return pred

    def rows(self, users: np.ndarray) -> np.ndarray:
        from aerec.train import predict

        users = np.asarray(users)
        block = predict(self.model, self.inputs, users, **self._sides())
        cold_users = self.cold_users[users]
        if cold_users.any():
            block[cold_users] = self.fallback.rows(users[cold_users])
        cold_items = np.flatnonzero(self.cold_items)
        if self.predicts_ratings and cold_items.size and users.size:
            block[:, cold_items] = self.fallback.pairs(
                np.repeat(users, cold_items.size), np.tile(cold_items, users.size)
            ).reshape(users.size, cold_items.size)
        return block

    @cached_property
    def cold_users(self) -> np.ndarray:
        """Users without input ratings, or without training ratings when they are outputs."""
        cold = _user_counts(self.inputs) == 0
        if self.model.orientation == "item":
            cold |= _user_counts(self.train) == 0
        return cold

    @cached_property
    def cold_items(self) -> np.ndarray:
        """Items without input ratings, or without training ratings when they are outputs."""
        cold = _item_counts(self.inputs) == 0
        if self.model.orientation == "user":
            cold |= _item_counts(self.train) == 0
        return cold

    def codes(self) -> tuple[str, np.ndarray]:
        """(orientation, codes): the code of every user or item, in the model's orientation."""
        from aerec.train import encode

        orientation = self.model.orientation
        n = self.inputs.shape[0 if orientation == "user" else 1]
        return orientation, encode(self.model, self.inputs, np.arange(n), **self._sides())


def load_model_scorer(model_dir: Path, processed: Processed, fallback: Scorer) -> ModelScorer:
    """The best model of model_dir/checkpoint.pt as a scorer over `processed`'s inputs.

    A checkpoint built for other matrix sizes is an AerecError (rebuild or retrain).
    """
    from aerec.train import CHECKPOINT_FILE, load_checkpoint

    path = Path(model_dir) / CHECKPOINT_FILE
    model, _info = load_checkpoint(path)
    if (model.spec.n_users, model.spec.n_items) != processed.shape:
        raise AerecError(
            f"{path}: trained on a {model.spec.n_users} x {model.spec.n_items} matrix, but "
            f"{processed.dir} holds {processed.shape[0]} x {processed.shape[1]}; "
            "train again on this build (aerec train)"
        )
    sides = [
        load_csr(processed.dir / name) if (processed.dir / name).is_file() else None
        for name in (s.USER_SIDE_FILE, s.ITEM_SIDE_FILE)
    ]
    return ModelScorer(model, processed.inputs, processed.train, sides[0], sides[1], fallback)
