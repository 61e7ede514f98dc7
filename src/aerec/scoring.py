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
import torch

from aerec import schema as s
from aerec.baselines import Predictor as BaselinePredictor
from aerec.baselines import load_baselines
from aerec.baselines_topn import TopN, load_topn
from aerec.errors import AerecError
from aerec.inference import Predictor
from aerec.models.base import Autoencoder
from aerec.processed import Processed
from aerec.training.checkpoint import MODEL_FILE, load_model

# Dense score blocks stay near this many entries (users x items) per batch.
BLOCK_ENTRIES = 1 << 22


class Scorer(Protocol):
    """Predicted ratings for index pairs and ranking scores for whole user rows.

    `pairs` may clip to the rating scale; `rows` never does (ranking reads
    it, and a clip would tie every item above the top of the scale): clip
    what is shown as a rating. `predicts_ratings` is False for a scorer whose
    scores are not ratings (Mult-VAE's log-probabilities, pop, EASE): only its
    ranking metrics mean something.
    """

    predicts_ratings: bool

    def pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray: ...

    def rows(self, users: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class BaselineScorer:
    """A fitted baseline (aerec.baselines.Predictor) as a scorer."""

    predictor: BaselinePredictor
    n_items: int
    predicts_ratings: bool = True

    def pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.predictor.predict(users, items)

    def rows(self, users: np.ndarray) -> np.ndarray:
        return self.predictor.rows(users)


@dataclass(frozen=True)
class TopNScorer:
    """A top-N baseline (pop, EASE) ranking from each user's history, `inputs`.

    Its scores are not ratings (`predicts_ratings` False): only ranking
    metrics are reported for it.
    """

    model: TopN
    inputs: sp.csr_matrix
    predicts_ratings: bool = False

    def rows(self, users: np.ndarray) -> np.ndarray:
        return self.model.scores(self.inputs[np.asarray(users)])

    def pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        users, items = np.asarray(users), np.asarray(items)
        out = np.empty(len(users), dtype=np.float32)
        distinct, where = np.unique(users, return_inverse=True)
        where = where.ravel()
        for batch in user_batches(np.arange(len(distinct)), self.inputs.shape[1]):
            block = self.rows(distinct[batch])
            asked = np.flatnonzero((where >= batch[0]) & (where <= batch[-1]))
            out[asked] = block[where[asked] - batch[0], items[asked]]
        return out


def load_baseline_scorers(processed: Processed, topn: bool = True) -> dict[str, Scorer]:
    """Every baseline build fitted, as scorers, in build's order: rating ones, then top-N.

    The top-N ones rank from the inputs (every rating known before the test);
    `topn` False leaves them unread (a fallback is always a rating baseline).
    """
    fitted = load_baselines(processed.dir / s.BASELINE_PARAMS_FILE)
    out: dict[str, Scorer] = {
        name: BaselineScorer(p, processed.shape[1]) for name, p in fitted.items()
    }
    topn_models = load_topn(processed.dir / s.TOPN_PARAMS_FILE) if topn else {}
    for name, model in topn_models.items():
        out[name] = TopNScorer(model, processed.inputs)
    return out


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

    `predictor` reads Processed.inputs (every rating known before the test);
    `train` is the matrix the weights were fitted on. Cold are the users and
    items without inputs, and those whose output unit never had a training
    rating (users for an item-based model, items for a user-based one). A
    model that scores for ranking (Mult-VAE's log-probabilities) has
    `predicts_ratings` False: its cold items keep the model's scores (mixing
    in the baseline's ratings would put them first) and only cold users,
    whose rows are wholly the fallback's, are handed over.
    """

    predictor: Predictor
    train: sp.csr_matrix
    fallback: Scorer

    @property
    def model(self) -> Autoencoder:
        return self.predictor.model

    @property
    def inputs(self) -> sp.csr_matrix:
        return self.predictor.inputs

    @property
    def predicts_ratings(self) -> bool:
        return self.model.predicts_ratings

    def pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        users, items = np.asarray(users), np.asarray(items)
        pred = self.predictor.pairs(users, items)
        cold = self.cold_users[users]
        if self.predicts_ratings:
            cold |= self.cold_items[items]
        if cold.any():
            pred[cold] = self.fallback.pairs(users[cold], items[cold])
        return pred

    def rows(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users)
        block = self.predictor.rows(users)
        cold_users = self.cold_users[users]
        if cold_users.any():
            block[cold_users] = self.fallback.rows(users[cold_users])
        cold_items = np.flatnonzero(self.cold_items)
        if self.predicts_ratings and cold_items.size and users.size:
            block[:, cold_items] = self.fallback.rows(users)[:, cold_items]
        return block

    @cached_property
    def cold_users(self) -> np.ndarray:
        """Users without input ratings, or without training ratings when they are outputs."""
        cold = np.diff(self.inputs.indptr) == 0
        if self.model.orientation == "item":
            cold |= np.diff(self.train.indptr) == 0
        return cold

    @cached_property
    def cold_items(self) -> np.ndarray:
        """Items without input ratings, or without training ratings when they are outputs."""
        n_items = self.inputs.shape[1]
        cold = np.bincount(self.inputs.indices, minlength=n_items) == 0
        if self.model.orientation == "user":
            cold |= np.bincount(self.train.indices, minlength=n_items) == 0
        return cold

    def codes(self) -> tuple[str, np.ndarray]:
        """(orientation, codes): the code of every user or item, in the model's orientation."""
        return self.model.orientation, self.predictor.codes()


def load_model_scorer(
    model_dir: Path, processed: Processed, fallback: Scorer, device: torch.device | str = "cpu"
) -> ModelScorer:
    """The served model of model_dir/model.pt as a scorer over `processed`'s inputs.

    A model trained on another build (other sizes, another split, other
    ratings: its data fingerprint differs) is refused with one AerecError:
    scoring it here could score it on its own training ratings.
    """
    path = Path(model_dir) / MODEL_FILE
    model, info = load_model(path, device)
    check_trained_on(path, info, processed)
    predictor = Predictor(model, processed.inputs, processed.user_side, processed.item_side)
    return ModelScorer(predictor, processed.train, fallback)


def check_trained_on(path: Path, info: dict[str, Any], processed: Processed) -> None:
    """Refuse a model whose data fingerprint is not this build's training data."""
    trained, here = info.get("data"), processed.training().fingerprint()
    if trained == here:
        return
    if not isinstance(trained, dict):
        raise AerecError(f"{path}: records no training data; train it again (aerec train)")
    raise AerecError(
        f"{path}: trained on another build ({_describe(trained)}), but {processed.dir} holds "
        f"{_describe(here)}; train again on this build (aerec train) or evaluate the build it "
        "was trained on"
    )


def _describe(fingerprint: dict[str, Any]) -> str:
    rows, cols = fingerprint.get("shape", ["?", "?"])
    return (
        f"{rows} x {cols}, train {fingerprint.get('train_nnz', '?'):,} ratings summing to "
        f"{fingerprint.get('train_sum', 0):.1f}, validation {fingerprint.get('val_nnz', '?'):,}"
    )
