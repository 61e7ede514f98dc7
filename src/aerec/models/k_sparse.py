"""k-sparse AutoRec: only the k largest code units of each row stay active.

Makhzani and Frey, "k-Sparse Autoencoders", ICLR 2014, applied to the AutoRec
architecture (Sedhain et al., WWW 2015): the code keeps its top-k units and
zeroes the rest, in training and in prediction alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aerec.models.autorec import AutoRec, AutoRecConfig
from aerec.models.base import Batch


@dataclass(frozen=True)
class KSparseConfig(AutoRecConfig):
    """AutoRec's fields plus `k`, the active code units per row."""

    k: int = 50

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.k <= self.hidden:
            raise ValueError(f"k ({self.k}) must lie in 1..hidden ({self.hidden})")


class KSparse(AutoRec):
    """AutoRec with a top-k mask on the code."""

    Config = KSparseConfig

    def encode(self, batch: Batch) -> Tensor:
        code = super().encode(batch)
        top = torch.topk(code, self.config.k, dim=1).indices
        mask = torch.zeros_like(code).scatter_(1, top, 1.0)
        return code * mask
