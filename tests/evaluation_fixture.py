"""A hand-made processed directory (build's output) for evaluate and recommend tests.

Three users, four items, ratings 1-5:

    train  u0: i0=5 i1=3   u1: i0=4 i2=2   u2: (none: a cold user)
    val    u0: i2=1
    test   u0: i3=4 (i3 has no train rating: a cold item)   u1: i1=5 i3=1   u2: i0=3

`FixedScorer` predicts from a dense matrix, so every metric is known by hand.
The fitted baselines are build's: global mean, biases, biased MF, pop and
EASE (lambda 1).
`write_processed(out, extra_items=2)` adds items i4, i5 that nobody rated (so a
recommendation list has unseen items left for every user).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from aerec import schema as s
from aerec.baselines import fit_baselines, save_baselines
from aerec.baselines_topn import fit_topn, save_topn
from aerec.config import BaselineConfig
from aerec.io import write_json
from aerec.matrix import save_csr
from aerec.schema import PART_CODES

TRAIN = [[5, 3, 0, 0], [4, 0, 2, 0], [0, 0, 0, 0]]
VAL = [[0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
TEST = [[0, 0, 0, 4], [0, 5, 0, 1], [3, 0, 0, 0]]
# Test pairs (0,3) 4 vs 4.5; (1,1) 5 vs 4; (1,3) 1 vs 0 -> clipped 1; (2,0) 3 vs 3.
PREDICTED = [[9.0, 9.0, 9.0, 4.5], [2.0, 4.0, 3.0, 0.0], [3.0, 2.0, 1.0, 0.5]]
USERS = ["u0", "u1", "u2"]
ITEMS = ["i0", "i1", "i2", "i3", "i4", "i5"]


@dataclass(frozen=True)
class FixedScorer:
    """Predictions read from a dense matrix."""

    matrix: np.ndarray
    predicts_ratings: bool = True

    def pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.matrix[users, items]

    def rows(self, users: np.ndarray) -> np.ndarray:
        return self.matrix[users]


def write_processed(out: Path, extra_items: int = 0) -> Path:
    """Write the fixture as build would: maps, matrices, stats, fitted baselines."""
    out.mkdir(parents=True, exist_ok=True)
    pad = ((0, 0), (0, extra_items))
    matrices = {
        name: sp.csr_matrix(np.pad(np.array(dense, dtype=np.float32), pad))
        for name, dense in (("train", TRAIN), ("val", VAL), ("test", TEST))
    }
    n_items = matrices["train"].shape[1]
    for name, matrix in matrices.items():
        save_csr(matrix, out / f"{name}.npz")
    for ids, id_col, idx_col, file in (
        (USERS, s.USER_ID, s.USER_IDX, s.USER_MAP_FILE),
        (ITEMS[:n_items], s.ITEM_ID, s.ITEM_IDX, s.ITEM_MAP_FILE),
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
    train = matrices["train"]
    topn, _ = fit_topn(train, matrices["val"], train, train, BaselineConfig(ease_lambdas=(1.0,)))
    save_topn(topn, out / s.TOPN_PARAMS_FILE)
    return out


def write_seen(out: Path, dropped: dict[tuple[int, int], str]) -> Path:
    """seen.npz as build writes it: {(user, item): part} of ratings the transform dropped."""
    n_items = sp.load_npz(out / "train.npz").shape[1]
    users, items = (np.array(side, dtype=np.int32) for side in zip(*dropped, strict=True))
    codes = np.array([PART_CODES[part] + 1 for part in dropped.values()], np.float32)
    save_csr(sp.csr_matrix((codes, (users, items)), shape=(len(USERS), n_items)), out / s.SEEN_FILE)
    return out


def write_items(out: Path) -> Path:
    """items.parquet with titles (i3 and i5 have none: the join leaves them null)."""
    titles = {s.ITEM_ID: ["i0", "i1", "i2", "i4"], "movie_title": ["Zero", "One", "Two", "Four"]}
    pl.DataFrame(titles).write_parquet(out)
    return out
