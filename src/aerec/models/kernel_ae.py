"""Autoencoder with local kernelised weights (the pre-training network of GLocal-K).

Muller, Martel and Indiveri, "Kernelized Synaptic Weight Matrices" (Sparse
FC), ICML 2018, and Han, Lim, Long, Burgstaller and Poon, "GLocal-K: Global and
Local Kernels for Recommender Systems", CIKM 2021. Every layer's weight is
W * K, where K[i, j] = max(0, 1 - ||u_i - v_j||^2) is a finite-support
kernel between a learned vector u_i per input and v_j per output unit: pairs
that drift apart get exactly zero weight, so the layers learn their own
sparsity. The objective is SSE + lambda/2 ||W||^2 (`l2`) + lambda_s/2 ||K||^2
(`kernel_l2`); GLocal-K writes SSE/2, so its lambdas are half of these.
GLocal-K trains it full-batch with L-BFGS (`train.optimizer: lbfgs`); its
second stage (a global convolution kernel) is not included.
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
class KernelAEConfig(ModelConfig):
    """`layers`: hidden widths (GLocal-K: 500, 500); `kernel_dim`: length of u and v."""

    layers: tuple[int, ...] = (500, 500)
    kernel_dim: int = 5
    activation: str = "sigmoid"
    orientation: Orientation = "item"
    fill: Fill = "zero"
    l2: float = 40.0
    kernel_l2: float = 0.012

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(n) for n in self.layers))
        super().__post_init__()
        choice(self.activation, ACTIVATIONS, "activation")
        if not self.layers or min(self.layers) < 1 or self.kernel_dim < 1:
            raise ValueError("layers must list widths >= 1 and kernel_dim must be >= 1")
        if not self.kernel_l2 >= 0:
            raise ValueError("kernel_l2 must be >= 0")


class KernelLayer(nn.Module):
    """x @ (W * K) + b with K the local kernel between input and output vectors."""

    def __init__(self, n_in: int, n_out: int, dim: int) -> None:
        super().__init__()
        # (inputs x outputs): the layout a sparse input row picks rows of.
        self.weight = nn.Parameter(uniform_(torch.empty(n_in, n_out), n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.u = nn.Parameter(nn.init.trunc_normal_(torch.empty(n_in, dim), 0, 1e-3, -2e-3, 2e-3))
        self.v = nn.Parameter(nn.init.trunc_normal_(torch.empty(n_out, dim), 0, 1e-3, -2e-3, 2e-3))

    def kernel(self) -> Tensor:
        sq = (self.u**2).sum(1)[:, None] + (self.v**2).sum(1)[None, :] - 2 * self.u @ self.v.t()
        return (1.0 - sq).clamp(min=0.0)


class KernelAE(Autoencoder):
    """Kernel layers n -> l0 -> ... -> n, sigmoid hidden, identity output."""

    Config = KernelAEConfig

    def __init__(self, config: KernelAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        widths = [self.n_cols, *config.layers, self.n_cols]
        self.kernel_layers = nn.ModuleList(
            KernelLayer(a, b, config.kernel_dim) for a, b in itertools.pairwise(widths)
        )
        self.act = ACTIVATIONS[config.activation]()
        self._aux: Tensor | None = None

    def _weights(self, batch: Batch) -> list[Tensor]:
        """Each layer's W * K; records lambda_s/2 ||K||^2, scaled to the batch's share."""
        kernels = [layer.kernel() for layer in self.kernel_layers]
        if self.training:
            total = batch.data.matrix(self.orientation).nnz
            share = batch.observed.nnz / max(1, total)
            reg = sum(k.pow(2).sum() for k in kernels)
            self._aux = 0.5 * self.config.kernel_l2 * share * reg
        return [layer.weight * k for layer, k in zip(self.kernel_layers, kernels, strict=True)]

    def _hidden(self, batch: Batch, weights: list[Tensor]) -> Tensor:
        first = self.kernel_layers[0]
        x = self.act(linear_in(batch.inputs, weights[0], first.bias, batch.fill))
        for layer, w in zip(self.kernel_layers[1:-1], weights[1:-1], strict=True):
            x = self.act(x @ w + layer.bias)
        return x

    def encode(self, batch: Batch) -> Tensor:
        return self._hidden(batch, self._weights(batch))

    def forward(self, batch: Batch, targets: Targets) -> Tensor:
        self._aux = None
        weights = self._weights(batch)
        last = self.kernel_layers[-1]
        return linear_out(self._hidden(batch, weights), weights[-1].t(), last.bias, targets)

    def decode(self, code: Tensor, targets: Targets) -> Tensor:
        last = self.kernel_layers[-1]
        return linear_out(code, (last.weight * last.kernel()).t(), last.bias, targets)

    def l2_weights(self) -> list[Tensor]:
        return [layer.weight for layer in self.kernel_layers]

    def aux_loss(self) -> Tensor | None:
        return self._aux
