"""Predictor: pairs are ratings clipped to the scale, rows are unclipped ranking scores."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from aerec.inference import Predictor
from aerec.models import build_model
from aerec.models.base import DataSpec


def test_rows_are_unclipped_scores_and_pairs_clipped_ratings() -> None:
    inputs = sp.csr_matrix(np.array([[5, 0, 0, 3], [0, 4, 0, 0]], dtype=np.float32))
    block = {"hidden": 3, "orientation": "user", "output_activation": "identity"}
    model = build_model("autorec", block, DataSpec(n_users=2, n_items=4))
    with torch.no_grad():  # outputs = the decoder bias: 7, 6, 2 and 9 for every user
        model.dec_weight.zero_()
        model.dec_bias.copy_(torch.tensor([7.0, 6.0, 2.0, 9.0]))
    predictor = Predictor(model, inputs)
    assert predictor.rows(np.array([1, 0])).tolist() == [[7.0, 6.0, 2.0, 9.0]] * 2
    got = predictor.pairs(np.array([0, 1, 1]), np.array([3, 2, 0]))
    assert got.tolist() == [5.0, 2.0, 5.0]
