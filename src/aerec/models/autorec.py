"""AutoRec: U-AutoRec and I-AutoRec.

Sedhain, Menon, Sanner and Xie, "AutoRec: Autoencoders Meet Collaborative
Filtering", WWW 2015. One hidden layer (sigmoid), identity output, L2 on both
weight matrices; item-based (I-AutoRec) is the better of the two and the default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

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
class AutoRecConfig(ModelConfig):
    """One hidden layer; `l2` is the paper's lambda (objective: SSE + lambda/2 ||W||^2)."""

    hidden: int = 500
    orientation: Orientation = "item"
    hidden_activation: str = "sigmoid"
    output_activation: str = "identity"
    l2: float = 1.0
    fill: Fill = "zero"

    def __post_init__(self) -> None:
        super().__post_init__()
        choice(self.hidden_activation, ACTIVATIONS, "hidden_activation")
        choice(self.output_activation, ACTIVATIONS, "output_activation")
        if self.hidden < 1:
            raise ValueError("hidden must be >= 1")


def uniform_(weight: Tensor, fan_in: int, fan_out: int) -> Tensor:
    """Glorot-uniform initialisation in place."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return nn.init.uniform_(weight, -bound, bound)


class AutoRec(Autoencoder):
    """r -> f(V g(W r + b) + c) over one row; outputs only where asked (see base)."""

    Config = AutoRecConfig

    def __init__(self, config: AutoRecConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        n_in, n_out, k = self.n_inputs(), self.n_cols, config.hidden
        # Both weights are (columns x hidden): the layout a sparse row picks rows of.
        self.enc_weight = nn.Parameter(uniform_(torch.empty(n_in, k), n_in, k))
        self.enc_bias = nn.Parameter(torch.zeros(k))
        self.dec_weight = nn.Parameter(uniform_(torch.empty(n_out, k), k, n_out))
        self.dec_bias = nn.Parameter(torch.zeros(n_out))
        self.hidden_act = ACTIVATIONS[config.hidden_activation]()
        self.output_act = ACTIVATIONS[config.output_activation]()

    def n_inputs(self) -> int:
        """Input width: the rating columns (side-info models add theirs)."""
        return self.n_cols

    def encode(self, batch: Batch) -> Tensor:
        return self.hidden_act(linear_in(batch.inputs, self.enc_weight, self.enc_bias, batch.fill))

    def decode(self, code: Tensor, targets: Targets) -> Tensor:
        return self.output_act(linear_out(code, self.dec_weight, self.dec_bias, targets))

    def forward(self, batch: Batch, targets: Targets) -> Tensor:
        return self.decode(self.encode(batch), targets)

    def l2_weights(self) -> list[Tensor]:
        return [self.enc_weight, self.dec_weight]

    def outputs_probabilities(self) -> bool:
        return self.config.output_activation == "sigmoid"
