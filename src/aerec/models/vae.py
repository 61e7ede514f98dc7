"""Variational autoencoders: Mult-VAE for implicit data, Gaussian VAE for ratings.

Liang, Krishnan, Hoffman and Jebara, "Variational Autoencoders for
Collaborative Filtering", WWW 2018 (Mult-VAE: normalised binary input with
dropout, tanh layers, multinomial likelihood, KL weight annealed linearly to a
cap). The softmax of the multinomial likelihood normalises over every item,
so Mult-VAE needs dense outputs. The Gaussian variant (Kingma and Welling,
ICLR 2014, on rating rows) uses the masked squared error instead and keeps the
sampled-output path. The anneal step is a buffer, so checkpoints carry it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aerec.errors import AerecError
from aerec.models.autorec import uniform_
from aerec.models.base import (
    ACTIVATIONS,
    Autoencoder,
    Batch,
    Corrupt,
    DataSpec,
    Fill,
    LossKind,
    ModelConfig,
    Objective,
    Orientation,
    RatingData,
    Targets,
    choice,
    linear_in,
    linear_out,
)
from aerec.models.sparse import SparseRows


@dataclass(frozen=True)
class VAEConfig(ModelConfig):
    """`layers`: encoder widths, the last one is the latent size; the decoder mirrors them.

    `positive_at`: with the multinomial likelihood, ratings >= this count as
    interactions (0 keeps every observed entry). The KL weight grows by
    1/`anneal_steps` per update up to `beta_cap` (anneal_steps 0: the cap at once).
    `noise_std` scales the reparameterisation noise in training, z = mu +
    noise_std * eps * sigma: 1 is the paper's (and the default); RecBole's
    MultiVAE samples eps with std 0.01, which issue 19 traced most of a
    recall gap to; 0 trains a deterministic autoencoder with a KL penalty.
    """

    likelihood: str = "multinomial"
    layers: tuple[int, ...] = (600, 200)
    activation: str = "tanh"
    dropout: float = 0.5
    beta_cap: float = 0.2
    anneal_steps: int = 20000
    positive_at: float = 0.0
    orientation: Orientation = "user"
    fill: Fill = "zero"
    l2: float = 0.0
    noise_std: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(n) for n in self.layers))
        super().__post_init__()
        choice(self.likelihood, {"multinomial", "gaussian"}, "likelihood")
        choice(self.activation, ACTIVATIONS, "activation")
        if not self.layers or min(self.layers) < 1:
            raise ValueError("layers must list at least one width >= 1")
        if not 0 <= self.dropout < 1 or self.beta_cap < 0 or self.anneal_steps < 0:
            raise ValueError("dropout must lie in [0, 1); beta_cap, anneal_steps >= 0")
        if not self.noise_std >= 0:
            raise ValueError("noise_std must be >= 0")


class VAE(Autoencoder):
    """Encoder to (mu, log variance), reparameterised sample, mirrored decoder."""

    Config = VAEConfig

    def __init__(self, config: VAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.likelihood = config.likelihood
        n, widths = self.n_cols, config.layers
        self.in_weight = nn.Parameter(uniform_(torch.empty(n, widths[0]), n, widths[0]))
        self.in_bias = nn.Parameter(torch.zeros(widths[0]))
        inner = list(itertools.pairwise(widths[:-1]))
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in inner)
        last_in = widths[-2] if len(widths) > 1 else widths[0]
        latent = widths[-1]
        self.to_stats = nn.Linear(last_in, 2 * latent) if len(widths) > 1 else None
        if self.to_stats is None:
            # One width: the first layer itself yields mu and log variance.
            self.in_weight = nn.Parameter(uniform_(torch.empty(n, 2 * latent), n, 2 * latent))
            self.in_bias = nn.Parameter(torch.zeros(2 * latent))
        back = list(reversed(widths))
        self.decoder = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(back))
        self.out_weight = nn.Parameter(uniform_(torch.empty(n, widths[0]), widths[0], n))
        self.out_bias = nn.Parameter(torch.zeros(n))
        self.act = ACTIVATIONS[config.activation]()
        self.register_buffer("anneal_step", torch.zeros((), dtype=torch.int64))
        self._kl: Tensor | None = None

    def beta(self) -> float:
        """The KL weight at the current anneal step."""
        cap, steps = self.config.beta_cap, self.config.anneal_steps
        return cap if steps == 0 else min(cap, float(self.anneal_step) / steps)

    def make_batch(self, data: RatingData, rows: Tensor, corrupt: Corrupt | None = None) -> Batch:
        if self.likelihood == "gaussian":
            return super().make_batch(data, rows, corrupt)
        observed = data.matrix(self.orientation).select(rows)
        observed = observed.keep(observed.values >= self.config.positive_at)
        ones = torch.ones_like(observed.values)
        # Liang et al.: the binary row, L2-normalised.
        norms = torch.sqrt(observed.counts().clamp(min=1).float())
        inputs = observed.with_values(ones / norms[observed.row_ids()])
        if corrupt is not None:
            inputs = corrupt(inputs)
        return Batch(rows, inputs, None, observed.with_values(ones), data)

    def _stats(self, batch: Batch) -> tuple[Tensor, Tensor]:
        inputs = batch.inputs
        if self.training and self.config.dropout > 0 and not isinstance(inputs, Tensor):
            inputs = inputs.with_values(F.dropout(inputs.values, self.config.dropout))
        x = linear_in(inputs, self.in_weight, self.in_bias, batch.fill)
        if self.to_stats is None:
            return x.chunk(2, dim=1)
        x = self.act(x)
        for layer in self.encoder:
            x = self.act(layer(x))
        return self.to_stats(x).chunk(2, dim=1)

    def encode(self, batch: Batch) -> Tensor:
        return self._stats(batch)[0]

    def forward(self, batch: Batch, targets: Targets) -> Tensor:
        mu, logvar = self._stats(batch)
        z = mu
        if self.training and self.config.noise_std > 0:
            z = mu + self.config.noise_std * torch.randn_like(mu) * torch.exp(0.5 * logvar)
        self._kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return self.decode(z, targets)

    def decode(self, code: Tensor, targets: Targets) -> Tensor:
        x = code
        for layer in self.decoder:
            x = self.act(layer(x))
        if self.likelihood == "gaussian":
            return linear_out(x, self.out_weight, self.out_bias, targets)
        log_probs = F.log_softmax(linear_out(x, self.out_weight, self.out_bias, Targets()), dim=1)
        if targets.pattern is not None:
            return log_probs[targets.pattern.row_ids(), targets.pattern.indices]
        return log_probs if targets.columns is None else log_probs[:, targets.columns]

    @property
    def predicts_ratings(self) -> bool:
        return self.likelihood == "gaussian"

    def objective(self, batch: Batch, pred: Tensor, loss: LossKind) -> Objective:
        """Multinomial: the negative log-likelihood of the interactions, per row."""
        if self.likelihood == "gaussian":
            return super().objective(batch, pred, loss)
        return self._objective(-pred.sum(), batch.rows.numel())

    def norm_total(self, train: sp.csr_matrix) -> float:
        """Multinomial: rows with training entries (the objective is per row)."""
        if self.likelihood == "gaussian":
            return super().norm_total(train)
        by_row = train if self.orientation == "user" else train.T.tocsr()
        return float(np.count_nonzero(np.diff(by_row.indptr)))

    def relevant(self, truth: SparseRows) -> SparseRows:
        return truth.keep(truth.values >= self.config.positive_at)

    def check_loss(self, loss: LossKind, key: str, train: sp.csr_matrix) -> None:
        """Multinomial: any loss but bce (its objective is its own); Gaussian: as the base."""
        if self.likelihood == "gaussian":
            super().check_loss(loss, key, train)
        elif loss == "bce":
            raise AerecError(
                f"train.loss: bce does not apply to model '{key}', which has a multinomial "
                "likelihood; use loss mse"
            )

    def aux_loss(self) -> Tensor | None:
        return None if self._kl is None else self.beta() * self._kl

    def l2_weights(self) -> list[Tensor]:
        return [self.in_weight, self.out_weight]

    def after_step(self) -> None:
        self.anneal_step += 1
