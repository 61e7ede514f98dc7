"""A hand-made processed directory (build's output) for evaluate and recommend tests.

Three users, four items, ratings 1-5:

    train  u0: i0=5 i1=3   u1: i0=4 i2=2   u2: (none: a cold user)
    val    u0: i2=1
    test   u0: i3=4 (i3 has no train rating: a cold item)   u1: i1=5 i3=1   u2: i0=3

`FixedScorer` predicts from a dense matrix, so every metric is known by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from aerec import schema as s
from aerec.baselines import fit_baselines, save_baselines
from aerec.config import BaselineConfig
from aerec.io import write_json
from aerec.matrix import save_csr

TRAIN = [[5, 3, 0, 0], [4, 0, 2, 0], [0, 0, 0, 0]]
VAL = [[0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
TEST = [[0, 0, 0, 4], [0, 5, 0, 1], [3, 0, 0, 0]]
# Test pairs (0,3) 4 vs 4.5; (1,1) 5 vs 4; (1,3) 1 vs 0 -> clipped 1; (2,0) 3 vs 3.
PREDICTED = [[9.0, 9.0, 9.0, 4.5], [2.0, 4.0, 3.0, 0.0], [3.0, 2.0, 1.0, 0.5]]
USERS = ["u0", "u1", "u2"]
ITEMS = ["i0", "i1", "i2", "i3"]


@dataclass(frozen=True)
class FixedScorer:
    """Predictions read from a dense matrix."""

    matrix: np.ndarray
    predicts_ratings: bool = True

    def pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.matrix[users, items]

    def rows(self, users: np.ndarray) -> np.ndarray:
        return self.matrix[users]


def write_processed(out: Path) -> Path:
    """Write the fixture as build would: maps, matrices, stats, fitted baselines."""
    out.mkdir(parents=True, exist_ok=True)
    matrices = {
        name: sp.csr_matrix(np.array(dense, dtype=np.float32))
        for name, dense in (("train", TRAIN), ("val", VAL), ("test", TEST))
    }
    for name, matrix in matrices.items():
        save_csr(matrix, out / f"{name}.npz")
    for ids, id_col, idx_col, file in (
        (USERS, s.USER_ID, s.USER_IDX, s.USER_MAP_FILE),
        (ITEMS, s.ITEM_ID, s.ITEM_IDX, s.ITEM_MAP_FILE),
    ):
        frame = pl.DataFrame({id_col: ids, idx_col: np.arange(len(ids), dtype=np.int32)})
        frame.write_parquet(out / file)
    write_json(
        {"dataset": "fixture", "scale": {"min": 1.0, "max": 5.0, "step": 1.0}, "transform": "raw"},
        out / s.BUILD_STATS_FILE,
    )
    save_baselines(
        fit_baselines(matrices["train"], BaselineConfig(mf_factors=2, mf_iterations=2), (1.0, 5.0)),
        out / s.BASELINE_PARAMS_FILE,
    )
    return out


def write_items(out: Path) -> Path:
    """items.parquet with titles (i3 has none: the join leaves it null)."""
    pl.DataFrame({s.ITEM_ID: ["i0", "i1", "i2"], "title": ["Zero", "One", "Two"]}).write_parquet(
        out
    )
    return out
