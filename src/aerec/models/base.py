"""The model interface: config, batches, targets, the training matrix, and objectives.

Every registered model is an `Autoencoder`: it reads one batch of rows (users
or items, its orientation), returns outputs only where `Targets` asks (the
sparse products of `aerec.models.sparse`), and owns its objective: the loss
over a batch, whether it predicts ratings (and so is selected on validation
RMSE) or scores for ranking (selected on validation recall@20), and which
weights its L2 term covers. The training loop only calls these hooks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from aerec.errors import AerecError
from aerec.models.sparse import SparseRows, sampled_mm, sparse_mm

Orientation = Literal["user", "item"]
Fill = Literal["zero", "user_mean"]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "selu": nn.SELU,
    "elu": nn.ELU,
    "relu": nn.ReLU,
    "lrelu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "swish": nn.SiLU,
    "identity": nn.Identity,
}


@dataclass
class FillTerm:
    """The rank-one fill of unobserved inputs: fill[r, c] = rows[r] * cols[c].

    Item rows filled with user means: rows = 1, cols = user means. User rows:
    rows = the user's mean, cols = 1. Inputs then store only deviations from
    the fill at observed entries, so the input stays sparse.
    """

    rows: Tensor
    cols: Tensor


@dataclass
class Targets:
    """Which outputs a forward pass computes.

    `pattern`: only these entries (values in storage order; the pattern's own
    values are the true ratings for the loss). `columns`: dense outputs for
    these columns. Neither: every column, dense.
    """

    pattern: SparseRows | None = None
    columns: Tensor | None = None


@dataclass
class Batch:
    """One batch of rows as a model sees it: input, fill, and the observed ratings."""

    rows: Tensor
    inputs: SparseRows | Tensor
    fill: FillTerm | None
    observed: SparseRows
    data: RatingData


def linear_in(
    x: SparseRows | Tensor, weight: Tensor, bias: Tensor, fill: FillTerm | None
) -> Tensor:
    """x @ weight + bias for a sparse or dense input, adding the fill's rank-one term.

    `weight` is (inputs x width): the layout whose rows a sparse input picks.
    """
    if isinstance(x, Tensor):
        return x @ weight + bias
    out = sparse_mm(x, weight) + bias
    if fill is not None:
        out = out + fill.rows[:, None] * (fill.cols @ weight)[None, :]
    return out


def linear_out(h: Tensor, weight: Tensor, bias: Tensor, targets: Targets) -> Tensor:
    """h @ weight.T + bias, computed only where `targets` asks.

    `weight` is (outputs x width). A pattern gives a vector of its entries; a
    column subset picks those decoder rows before the product (index_select),
    so predicting a few columns costs a few columns.
    """
    if targets.pattern is not None:
        return sampled_mm(h, weight, targets.pattern) + bias[targets.pattern.indices]
    if targets.columns is not None:
        weight, bias = weight[targets.columns], bias[targets.columns]
    return h @ weight.t() + bias


@dataclass(frozen=True)
class DataSpec:
    """What a model is built for: matrix and side-info sizes and the rating range."""

    n_users: int
    n_items: int
    n_user_side: int = 0
    n_item_side: int = 0
    rating_min: float = 1.0
    rating_max: float = 5.0


class RatingData:
    """The training matrix on a device in both orientations, plus the fill statistics.

    Built once per run (and once per `predict` call): the per-item CSR is the
    transpose computed once, never a dense copy.
    """

    def __init__(
        self,
        train: sp.csr_matrix,
        device: torch.device | str = "cpu",
        user_side: sp.csr_matrix | None = None,
        item_side: sp.csr_matrix | None = None,
    ) -> None:
        train = sp.csr_matrix(train, dtype=np.float32)
        self.device = torch.device(device)
        self.n_users, self.n_items = train.shape
        self.by_user = SparseRows.from_scipy(train, self.device)
        self.by_item = SparseRows.from_scipy(train.T.tocsr(), self.device)
        counts = np.diff(train.indptr)
        sums = np.asarray(train.sum(axis=1)).ravel()
        global_mean = float(train.data.mean()) if train.nnz else 0.0
        means = np.where(counts > 0, sums / np.maximum(counts, 1), global_mean)
        self.user_mean = torch.from_numpy(means.astype(np.float32)).to(self.device)
        self.user_side = _side(user_side, self.n_users, self.device)
        self.item_side = _side(item_side, self.n_items, self.device)

    def matrix(self, orientation: Orientation) -> SparseRows:
        """All rows of the training matrix in `orientation`."""
        return self.by_user if orientation == "user" else self.by_item

    def fill(self, orientation: Orientation, rows: Tensor) -> FillTerm:
        """The user-mean fill term for these rows."""
        if orientation == "user":
            ones = torch.ones(self.n_items, device=self.device)
            return FillTerm(self.user_mean[rows], ones)
        return FillTerm(torch.ones(rows.numel(), device=self.device), self.user_mean)

    def deviations(
        self, orientation: Orientation, observed: SparseRows, rows: Tensor
    ) -> SparseRows:
        """Observed ratings minus the user-mean fill at the same entries."""
        users = rows[observed.row_ids()] if orientation == "user" else observed.indices
        return observed.with_values(observed.values - self.user_mean[users])


def _side(side: sp.csr_matrix | None, n: int, device: torch.device) -> SparseRows:
    """Side-info rows on the device; an absent matrix is one with 0 columns."""
    if side is None:
        side = sp.csr_matrix((n, 0), dtype=np.float32)
    return SparseRows.from_scipy(side, device)


Corrupt = Callable[[SparseRows], SparseRows]


# Masked BCE clamps probabilities away from 0 and 1 so log stays finite.
_BCE_EPS = 1e-6
LossKind = Literal["mse", "bce"]


@dataclass(frozen=True)
class ModelConfig:
    """Fields every model config has; a model's own dataclass adds its architecture.

    `orientation`: the rows a model reads (user-based or item-based); `fill`:
    what unobserved inputs stand for (zero, or the user's mean rating); `l2`:
    lambda of the model's L2 term lambda/2 ||W||^2 over `Autoencoder.l2_weights`.
    """

    orientation: Orientation = "user"
    fill: Fill = "zero"
    l2: float = 0.0

    def __post_init__(self) -> None:
        choice(self.orientation, {"user", "item"}, "orientation")
        choice(self.fill, {"zero", "user_mean"}, "fill")
        if not self.l2 >= 0:  # also refuses NaN
            raise ValueError("l2 must be >= 0")


@dataclass(frozen=True)
class Objective:
    """One batch's loss: what the optimizer minimises, the data term to report, its weight.

    `weight` is what the data term is an average over (observed ratings, or
    rows), so an epoch's reported loss is the weighted mean of its batches.
    """

    loss: Tensor
    data_term: Tensor
    weight: int


class Autoencoder(nn.Module):
    """Base of every registered model.

    Subclasses set `Config` (a ModelConfig dataclass whose fields are the
    params.yaml block) and implement `forward` and `encode`; `decode` where the
    output is a function of the code alone (then inference caches codes).
    The objective hooks (`objective`, `predicts_ratings`, `norm_total`,
    `relevant`, `check_loss`) default to the masked squared error over the
    observed ratings; Mult-VAE overrides them with its multinomial likelihood.
    """

    Config: ClassVar[type[ModelConfig]]
    config: ModelConfig

    def __init__(self, config: ModelConfig, spec: DataSpec) -> None:
        super().__init__()
        self.config = config
        self.spec = spec

    @property
    def orientation(self) -> Orientation:
        return self.config.orientation

    @property
    def n_rows(self) -> int:
        return self.spec.n_users if self.orientation == "user" else self.spec.n_items

    @property
    def n_cols(self) -> int:
        return self.spec.n_items if self.orientation == "user" else self.spec.n_users

    def make_batch(self, data: RatingData, rows: Tensor, corrupt: Corrupt | None = None) -> Batch:
        """Cut `rows` from the training matrix and shape them into this model's input.

        `corrupt` (denoising training) changes the input only; the observed
        ratings stay the loss targets.
        """
        observed = data.matrix(self.orientation).select(rows)
        fill = None
        inputs = observed
        if self.config.fill == "user_mean":
            fill = data.fill(self.orientation, rows)
            inputs = data.deviations(self.orientation, observed, rows)
        if corrupt is not None:
            inputs = corrupt(inputs)
        return Batch(rows, inputs, fill, observed, data)

    def forward(self, batch: Batch, targets: Targets) -> Tensor:
        raise NotImplementedError

    def encode(self, batch: Batch) -> Tensor:
        """The code (embedding) of each row of the batch."""
        raise NotImplementedError

    def decode(self, code: Tensor, targets: Targets) -> Tensor:
        """The outputs `targets` asks for from codes alone, or NotImplementedError.

        Where a model has it, `forward(batch, t)` equals `decode(encode(batch), t)`
        in eval mode, and inference encodes each row once and reuses the codes.
        """
        raise NotImplementedError

    # -- the objective -------------------------------------------------------

    @property
    def predicts_ratings(self) -> bool:
        """True: outputs are ratings (RMSE picks the epoch); False: ranking scores (recall@20)."""
        return True

    def objective(self, batch: Batch, pred: Tensor, loss: LossKind) -> Objective:
        """Masked SSE (or BCE) over the batch's observed ratings, divided by their count.

        With the L2 weight decay of the loop (lambda / norm_total), this is an
        unbiased mini-batch estimate of the paper's objective divided by the
        number of ratings, so `l2` keeps the paper's meaning.
        """
        target = batch.observed.values
        if loss == "bce":
            p = pred.clamp(_BCE_EPS, 1.0 - _BCE_EPS)
            data_term = -(target * p.log() + (1.0 - target) * (1.0 - p).log()).sum()
        else:
            data_term = (pred - target).pow(2).sum()
        return self._objective(data_term, max(1, batch.observed.nnz))

    def _objective(self, data_term: Tensor, norm: int) -> Objective:
        aux = self.aux_loss()
        total = data_term if aux is None else data_term + aux
        # The data term stays a device tensor: reading it per batch would sync the GPU.
        return Objective(total / norm, data_term.detach() / norm, norm)

    def norm_total(self, train: sp.csr_matrix) -> float:
        """What the whole objective is divided by: the training ratings."""
        return float(train.nnz)

    def relevant(self, truth: SparseRows) -> SparseRows:
        """The validation entries that count as relevant for recall (all, by default)."""
        return truth

    def check_loss(self, loss: LossKind, key: str, train: sp.csr_matrix) -> None:
        """Refuse a loss this model or these training values cannot mean (one clear line)."""
        if loss == "bce":
            self._check_bce(key, train)
            return
        values = train.data
        if values.size and values.min() == values.max():
            raise AerecError(
                f"train.loss: mse over observed entries that are all {values.max():g} "
                f"(build.transform binarize keeps positives only) fits a constant, so model "
                f"'{key}' would rank nothing; use the vae (multinomial likelihood), or loss bce "
                "with build.transform thumbs"
            )

    def _check_bce(self, key: str, train: sp.csr_matrix) -> None:
        """BCE needs probability outputs, targets in [0, 1] and negatives among them."""
        if not self.outputs_probabilities():
            raise AerecError(
                f"train.loss: bce needs outputs in [0, 1]; give model '{key}' a sigmoid output "
                "(autorec output_activation: sigmoid; deep_ae activation: sigmoid with "
                "last_layer_activation: true)"
            )
        values = train.data
        if values.size and (values.min() < 0 or values.max() > 1):
            raise AerecError(
                f"train.loss: bce needs ratings in [0, 1] but the training ratings span "
                f"{values.min():g}..{values.max():g}; set build.transform to thumbs or binarize"
            )
        if values.size and values.min() == 1:
            raise AerecError(
                "train.loss: bce over observed entries needs negatives among them, but every "
                "training value is 1 (binarize keeps positives only); use build.transform "
                "thumbs, or the vae with its multinomial likelihood"
            )

    def l2_weights(self) -> list[Tensor]:
        """Weights under the model's own L2 term, lambda/2 * ||W||^2 with lambda = config.l2.

        The training loop applies it as the optimizer's weight decay on these
        weights (the same gradient, lambda * W, without a pass through autograd).
        """
        return []

    def outputs_probabilities(self) -> bool:
        """Whether every output lies in [0, 1] (a sigmoid last layer): what masked BCE needs."""
        return False

    def aux_loss(self) -> Tensor | None:
        """An extra loss from the last forward pass (KL, joint terms), if any."""
        return None

    def refeed_steps(self, epoch: int) -> int:
        """Dense re-feeding steps per batch in `epoch` (0: none)."""
        return 0

    def after_step(self) -> None:
        """Called after each optimizer step (annealing schedules live in buffers)."""


def check_config(cls: type, block: dict[str, Any], where: str) -> Any:
    """Build a model config dataclass from a params.yaml block, rejecting unknown keys."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(block) - names)
    if unknown:
        raise AerecError(
            f"{where}.{unknown[0]}: unknown key; the keys are {', '.join(sorted(names))}"
        )
    for field in dataclasses.fields(cls):
        if field.name in block:
            _check_kind(block[field.name], _default(field), f"{where}.{field.name}")
    try:
        config = cls(**block)
    except (TypeError, ValueError) as exc:
        raise AerecError(f"{where}: {exc}") from exc
    return config


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


# A field's kind is its default's: what a params value of it must be, and its name in errors.
_KINDS: tuple[tuple[type, tuple[type, ...], str], ...] = (
    (bool, (bool,), "true or false"),
    (int, (int,), "a whole number"),
    (float, (int, float), "a number"),
    (str, (str,), "a word"),
    (tuple, (list, tuple), "a list"),
    (list, (list, tuple), "a list"),
)


def _check_kind(value: Any, default: Any, key: str) -> None:
    """Raise AerecError when `value` is not of the kind of the field's default."""
    for kind, accepted, name in _KINDS:
        if isinstance(default, kind):
            wrong_bool = isinstance(value, bool) and bool not in accepted
            if wrong_bool or not isinstance(value, accepted):
                raise AerecError(f"{key}: expected {name}, got {value!r}")
            return


def choice(value: str, allowed: Any, key: str) -> None:
    """Raise ValueError when a config string is not one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"{key} '{value}' is not one of {', '.join(sorted(allowed))}")
