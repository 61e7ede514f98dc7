"""Deep autoencoder for ratings (NVIDIA DeepRecommender).

Kuchaiev and Ginsburg, "Training Deep AutoEncoders for Collaborative
Filtering", arXiv:1708.01715, 2017: several layers with SELU-like activations,
heavy dropout on the code, an optional constrained (tied) decoder, and dense
re-feeding: the dense output f(x) is fed back as a new input whose target is
f(x) itself, which needs dense outputs (every column) for those steps.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aerec.models.autorec import uniform_
from aerec.models.base import (
    ACTIVATIONS,
    Autoencoder,
    Batch,
    DataSpec,
    Fill,
    ModelConfig,
    Orientation,
    Targets,
    choice,
    linear_in,
    linear_out,
)


@dataclass(frozen=True)
class DeepAEConfig(ModelConfig):
    """`layers`: encoder widths, the last one is the code; the decoder mirrors them."""

    layers: tuple[int, ...] = (512, 512, 1024)
    activation: str = "selu"
    last_layer_activation: bool = True
    dropout: float = 0.0
    tied: bool = False
    batch_norm: bool = False
    refeed_steps: int = 0
    refeed_start_epoch: int = 0
    orientation: Orientation = "user"
    fill: Fill = "zero"
    l2: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(n) for n in self.layers))
        super().__post_init__()
        choice(self.activation, ACTIVATIONS, "activation")
        if not self.layers or min(self.layers) < 1:
            raise ValueError("layers must list at least one width >= 1")
        if not 0 <= self.dropout < 1 or self.refeed_steps < 0 or self.refeed_start_epoch < 0:
            raise ValueError("dropout must lie in [0, 1); refeed values must be >= 0")


class DeepAE(Autoencoder):
    """Encoder widths n -> l0 -> ... -> code, decoder code -> ... -> l0 -> n."""

    Config = DeepAEConfig

    def __init__(self, config: DeepAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        n, widths = self.n_cols, config.layers
        # The first weight is (columns x l0) so a sparse row can pick its rows;
        # inner weights are (out x in) as in nn.Linear.
        self.in_weight = nn.Parameter(uniform_(torch.empty(n, widths[0]), n, widths[0]))
        self.in_bias = nn.Parameter(torch.zeros(widths[0]))
        pairs = list(itertools.pairwise(widths))
        self.enc_weights = nn.ParameterList(
            nn.Parameter(uniform_(torch.empty(b, a), a, b)) for a, b in pairs
        )
        self.enc_biases = nn.ParameterList(nn.Parameter(torch.zeros(b)) for _, b in pairs)
        untied = [] if config.tied else pairs
        self.dec_weights = nn.ParameterList(
            nn.Parameter(uniform_(torch.empty(a, b), b, a)) for a, b in untied
        )
        self.dec_biases = nn.ParameterList(nn.Parameter(torch.zeros(a)) for a, _ in pairs)
        self.out_weight = (
            None if config.tied else nn.Parameter(uniform_(torch.empty(n, widths[0]), widths[0], n))
        )
        self.out_bias = nn.Parameter(torch.zeros(n))
        hidden = list(widths) + list(reversed(widths[:-1]))
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(w) if config.batch_norm else nn.Identity() for w in hidden
        )
        self.act = ACTIVATIONS[config.activation]()
        self.drop = nn.Dropout(config.dropout)

    def _hidden(self, i: int, x: Tensor) -> Tensor:
        return self.act(self.norms[i](x))

    def encode(self, batch: Batch) -> Tensor:
        x = self._hidden(0, linear_in(batch.inputs, self.in_weight, self.in_bias, batch.fill))
        for i, (w, b) in enumerate(zip(self.enc_weights, self.enc_biases, strict=True)):
            x = self._hidden(i + 1, x @ w.t() + b)
        return x

    def forward(self, batch: Batch, targets: Targets) -> Tensor:
        return self.decode(self.drop(self.encode(batch)), targets)

    def decode(self, code: Tensor, targets: Targets) -> Tensor:
        x = code
        depth = len(self.config.layers)
        for j in reversed(range(depth - 1)):
            w = self.enc_weights[j].t() if self.config.tied else self.dec_weights[j]
            x = self._hidden(depth + (depth - 2 - j), x @ w.t() + self.dec_biases[j])
        weight = self.in_weight if self.out_weight is None else self.out_weight
        out = linear_out(x, weight, self.out_bias, targets)
        return self.act(out) if self.config.last_layer_activation else out

    def l2_weights(self) -> list[Tensor]:
        weights = [self.in_weight, *self.enc_weights, *self.dec_weights]
        return weights if self.out_weight is None else [*weights, self.out_weight]

    def outputs_probabilities(self) -> bool:
        return self.config.activation == "sigmoid" and self.config.last_layer_activation

    def refeed_steps(self, epoch: int) -> int:
        return self.config.refeed_steps if epoch >= self.config.refeed_start_epoch else 0
