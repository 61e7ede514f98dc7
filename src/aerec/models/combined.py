"""Combined user and item autoencoders with an MLP rating head.

A user AutoRec and an item AutoRec (Sedhain et al., WWW 2015) encode the
user's rating row and the item's rating column; an MLP on the two codes
predicts the rating. The joint training of a user and an item autoencoder
with a rating model follows Li, Kawale and Fu, "Deep Collaborative Filtering
via Marginalized Denoising Auto-encoder", CIKM 2015; the MLP head on the two
embeddings follows He et al., "Neural Collaborative Filtering", WWW 2017. The
loss is joint: the head's masked squared error plus `recon_weight` times both
autoencoders' reconstruction errors.
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
    Targets,
    choice,
    linear_in,
    linear_out,
)
from aerec.models.sparse import SparseRows

# Dense predictions evaluate the head on rows x columns pairs; chunks keep memory flat.
_PAIR_CHUNK = 1 << 20


@dataclass(frozen=True)
class CombinedConfig(ModelConfig):
    """Code sizes of both autoencoders, the head's hidden widths, the joint-loss weight."""

    user_hidden: int = 500
    item_hidden: int = 500
    head_layers: tuple[int, ...] = (128,)
    activation: str = "sigmoid"
    head_activation: str = "relu"
    recon_weight: float = 1.0
    l2: float = 1.0
    fill: Fill = "zero"

    def __post_init__(self) -> None:
        object.__setattr__(self, "head_layers", tuple(int(n) for n in self.head_layers))
        super().__post_init__()
        if self.orientation != "user":
            raise ValueError("orientation must be 'user': the combined model reads user rows")
        choice(self.activation, ACTIVATIONS, "activation")
        choice(self.head_activation, ACTIVATIONS, "head_activation")
        if not self.head_layers or min(self.user_hidden, self.item_hidden, *self.head_layers) < 1:
            raise ValueError("user_hidden, item_hidden and head_layers (non-empty) must be >= 1")
        if not self.recon_weight >= 0:
            raise ValueError("recon_weight must be >= 0")


class _Side(nn.Module):
    """One AutoRec half: (columns x hidden) encoder and decoder weights."""

    def __init__(self, n: int, k: int) -> None:
        super().__init__()
        self.enc_weight = nn.Parameter(uniform_(torch.empty(n, k), n, k))
        self.enc_bias = nn.Parameter(torch.zeros(k))
        self.dec_weight = nn.Parameter(uniform_(torch.empty(n, k), k, n))
        self.dec_bias = nn.Parameter(torch.zeros(n))


class Combined(Autoencoder):
    """Rows are users; item codes come from the item-oriented training matrix."""

    Config = CombinedConfig

    def __init__(self, config: CombinedConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.user_ae = _Side(spec.n_items, config.user_hidden)
        self.item_ae = _Side(spec.n_users, config.item_hidden)
        self.user_proj = nn.Linear(config.user_hidden, config.head_layers[0])
        self.item_proj = nn.Linear(config.item_hidden, config.head_layers[0], bias=False)
        widths = [*config.head_layers, 1]
        self.head = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.act = ACTIVATIONS[config.activation]()
        self.head_act = ACTIVATIONS[config.head_activation]()
        self._aux: Tensor | None = None

    def encode(self, batch: Batch) -> Tensor:
        ae = self.user_ae
        return self.act(linear_in(batch.inputs, ae.enc_weight, ae.enc_bias, batch.fill))

    def _item_codes(self, batch: Batch, items: Tensor) -> tuple[Tensor, SparseRows]:
        observed = batch.data.by_item.select(items)
        inputs, fill = observed, None
        if self.config.fill == "user_mean":
            fill = batch.data.fill("item", items)
            inputs = batch.data.deviations("item", observed, items)
        ae = self.item_ae
        return self.act(linear_in(inputs, ae.enc_weight, ae.enc_bias, fill)), observed

    def _head(self, user_part: Tensor, item_part: Tensor) -> Tensor:
        x = self.head_act(user_part + item_part)
        for i, layer in enumerate(self.head):
            x = layer(x)
            if i < len(self.head) - 1:
                x = self.head_act(x)
        return x.squeeze(-1)

    def forward(self, batch: Batch, targets: Targets) -> Tensor:
        users = self.encode(batch)
        if targets.pattern is not None:
            items, where = torch.unique(targets.pattern.indices, return_inverse=True)
        else:
            items = targets.columns
            if items is None:
                items = torch.arange(self.spec.n_items, device=users.device)
            where = None
        item_codes, item_observed = self._item_codes(batch, items)
        u_proj, i_proj = self.user_proj(users), self.item_proj(item_codes)
        self._aux = self._reconstruction(batch, users, item_codes, item_observed, targets)
        if where is not None:
            return self._head(u_proj[targets.pattern.row_ids()], i_proj[where])
        rows = max(1, _PAIR_CHUNK // max(1, items.numel()))
        parts = [
            self._head(u_proj[s : s + rows, None, :], i_proj[None, :, :])
            for s in range(0, users.shape[0], rows)
        ]
        return torch.cat(parts)

    def _reconstruction(
        self,
        batch: Batch,
        users: Tensor,
        items: Tensor,
        item_observed: SparseRows,
        targets: Targets,
    ) -> Tensor | None:
        """Both autoencoders' squared errors, scaled to the head's number of targets."""
        if not self.training or targets.pattern is None or self.config.recon_weight == 0:
            return None
        n = max(1, targets.pattern.nnz)
        total = users.new_zeros(())
        for ae, code, observed in (
            (self.user_ae, users, batch.observed),
            (self.item_ae, items, item_observed),
        ):
            out = linear_out(code, ae.dec_weight, ae.dec_bias, Targets(pattern=observed))
            sse = (out - observed.values).pow(2).sum()
            total = total + sse * n / max(1, observed.nnz)
        return self.config.recon_weight * total

    def aux_loss(self) -> Tensor | None:
        return self._aux

    def l2_weights(self) -> list[Tensor]:
        ae_u, ae_i = self.user_ae, self.item_ae
        return [ae_u.enc_weight, ae_u.dec_weight, ae_i.enc_weight, ae_i.dec_weight]
