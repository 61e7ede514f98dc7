"""Hybrid AutoRec: side information concatenated to the rating input.

The input of AutoRec (Sedhain et al., WWW 2015) is extended with the row
entity's attributes, as in Strub, Gaudel and Mary, "Hybrid Recommender System
based on Autoencoders", DLRS 2016: item attributes for item rows, user
attributes for user rows. The output is the ratings only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aerec.errors import AerecError
from aerec.models.autorec import AutoRec, AutoRecConfig
from aerec.models.base import Batch, Corrupt, RatingData


@dataclass(frozen=True)
class HybridConfig(AutoRecConfig):
    """AutoRec's fields; `side_weight` scales the side columns against the ratings."""

    side_weight: float = 1.0


class Hybrid(AutoRec):
    """AutoRec whose input row is [ratings | side attributes]."""

    Config = HybridConfig

    def n_side(self) -> int:
        """Side columns of this model's row entity."""
        return self.spec.n_user_side if self.orientation == "user" else self.spec.n_item_side

    def n_inputs(self) -> int:
        return self.n_cols + self.n_side()

    def make_batch(self, data: RatingData, rows: Tensor, corrupt: Corrupt | None = None) -> Batch:
        batch = super().make_batch(data, rows, corrupt)
        side = data.user_side if self.orientation == "user" else data.item_side
        if side.n_cols != self.n_side():
            raise AerecError(
                f"{self.orientation} side info has {side.n_cols} columns, the model was built "
                f"with {self.n_side()}; pass the side matrices the model was trained with"
            )
        side_rows = side.select(rows)
        side_rows = side_rows.with_values(side_rows.values * self.config.side_weight)
        batch.inputs = batch.inputs.hstack(side_rows)
        if batch.fill is not None:
            pad = batch.fill.cols.new_zeros(side.n_cols)
            batch.fill.cols = torch.cat([batch.fill.cols, pad])
        return batch
