"""Build's outputs, read in one place: the split matrices, side info, stats and id maps.

Every stage after build (train, evaluate, recommend) reads data/processed
through `load_processed`, so they all see the same parts (fold-in rows of a
user-holdout split included) and a missing, truncated or garbled file gives
every one of them the same one-line AerecError. Training takes
`Processed.training()`, a view that holds no test ratings at all.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from aerec import schema as s
from aerec.errors import AerecError


@dataclass(frozen=True)
class TrainingData:
    """What training reads: never the test split.

    `train` is what the weights are fitted on. `val` holds the validation
    ratings to predict, and `val_inputs` what the model reads when it predicts
    them: train plus, for a user-holdout split, the validation users'
    fold-in ratings (they are input only, never a target).
    """

    train: sp.csr_matrix
    val: sp.csr_matrix
    val_inputs: sp.csr_matrix
    user_side: sp.csr_matrix
    item_side: sp.csr_matrix
    rating_min: float
    rating_max: float

    @classmethod
    def of(
        cls, train: sp.csr_matrix, val: sp.csr_matrix, rating_min: float, rating_max: float
    ) -> TrainingData:
        """Training data from two matrices alone: no side info, no fold-in rows."""
        n_users, n_items = train.shape
        return cls(train, val, train, _no_side(n_users), _no_side(n_items), rating_min, rating_max)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the data a model was trained on (sizes and sums of every part)."""
        return {
            "shape": list(self.train.shape),
            "train_nnz": int(self.train.nnz),
            "train_sum": float(self.train.data.sum(dtype=np.float64)),
            "val_nnz": int(self.val.nnz),
            "val_sum": float(self.val.data.sum(dtype=np.float64)),
            "side": [self.user_side.shape[1], self.item_side.shape[1]],
        }


@dataclass(frozen=True)
class Processed:
    """Everything build wrote to one folder.

    `inputs` is every rating known before the test: what a model reads when
    the test is predicted and what is never recommended again (train,
    validation and every fold-in part).
    """

    dir: Path
    train: sp.csr_matrix
    val: sp.csr_matrix
    test: sp.csr_matrix
    val_foldin: sp.csr_matrix | None
    test_foldin: sp.csr_matrix | None
    user_side: sp.csr_matrix
    item_side: sp.csr_matrix
    scale: tuple[float, float]
    stats: dict[str, Any]
    dropped: sp.csr_matrix | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.train.shape

    @cached_property
    def inputs(self) -> sp.csr_matrix:
        parts = [self.train, self.val, self.val_foldin, self.test_foldin]
        return _sum([p for p in parts if p is not None])

    @cached_property
    def known(self) -> sp.csr_matrix:
        """Every kept rating of every part, test included."""
        return _sum([self.inputs, self.test])

    @cached_property
    def seen(self) -> sp.csr_matrix:
        """Everything a user rated, test and the transform's dropped ratings included.

        What recommend never shows again (values mean nothing, only the pattern).
        """
        return self.known if self.dropped is None else _sum([self.known, self.dropped])

    @cached_property
    def seen_before_test(self) -> sp.csr_matrix:
        """What test ranking excludes: the inputs and the dropped ratings of the parts before test.

        A dropped rating whose part is test stays rankable: the test period is unknown.
        """
        if self.dropped is None:
            return self.inputs
        before = self.dropped.copy()
        before.data = (before.data != s.PART_CODES["test"] + 1).astype(np.float32)
        before.eliminate_zeros()
        return _sum([self.inputs, before])

    def training(self) -> TrainingData:
        """The training view: train, validation and its inputs; no test ratings."""
        val_inputs = self.train if self.val_foldin is None else _sum([self.train, self.val_foldin])
        lo, hi = self.scale
        return TrainingData(
            self.train, self.val, val_inputs, self.user_side, self.item_side, lo, hi
        )

    def user_counts(self) -> np.ndarray:
        """Input ratings per user (0: a cold user)."""
        return np.diff(self.inputs.indptr)

    def item_counts(self) -> np.ndarray:
        """Input ratings per item (0: a cold item); the popularity of the top-N metrics."""
        return np.bincount(self.inputs.indices, minlength=self.shape[1])


def load_processed(processed_dir: Path) -> Processed:
    """Read build's folder; any missing, truncated or garbled part is one AerecError."""
    processed_dir = Path(processed_dir)
    train = read_csr(processed_dir / "train.npz")
    stats = read_stats(processed_dir)
    parts = {name: read_csr(processed_dir / f"{name}.npz", train.shape) for name in ("val", "test")}
    foldin = {
        name: read_csr(processed_dir / f"{name}.npz", train.shape)
        if (processed_dir / f"{name}.npz").is_file()
        else None
        for name in ("val_foldin", "test_foldin")
    }
    n_users, n_items = train.shape
    user_side = _optional_side(processed_dir / s.USER_SIDE_FILE, n_users)
    item_side = _optional_side(processed_dir / s.ITEM_SIDE_FILE, n_items)
    return Processed(
        processed_dir,
        train,
        parts["val"],
        parts["test"],
        foldin["val_foldin"],
        foldin["test_foldin"],
        user_side,
        item_side,
        _scale(stats, processed_dir / s.BUILD_STATS_FILE),
        stats,
        _optional_csr(processed_dir / s.SEEN_FILE, train.shape),
    )


def load_training(processed_dir: Path) -> TrainingData:
    """The training view of build's folder without opening test.npz (nor the test fold-in)."""
    processed_dir = Path(processed_dir)
    train = read_csr(processed_dir / "train.npz")
    stats = read_stats(processed_dir)
    val = read_csr(processed_dir / "val.npz", train.shape)
    foldin = _optional_csr(processed_dir / "val_foldin.npz", train.shape)
    n_users, n_items = train.shape
    user_side = _optional_side(processed_dir / s.USER_SIDE_FILE, n_users)
    item_side = _optional_side(processed_dir / s.ITEM_SIDE_FILE, n_items)
    lo, hi = _scale(stats, processed_dir / s.BUILD_STATS_FILE)
    val_inputs = train if foldin is None else _sum([train, foldin])
    return TrainingData(train, val, val_inputs, user_side, item_side, lo, hi)


def read_csr(path: Path, shape: tuple[int, int] | None = None) -> sp.csr_matrix:
    """One sparse matrix build wrote, as float32 CSR with finite values.

    `shape` checks the full shape of a split part; a side matrix checks rows
    only (pass (rows, -1)).
    """
    if not path.is_file():
        raise AerecError(f"{path}: not found; run the build stage first (aerec build)")
    try:
        matrix = sp.csr_matrix(sp.load_npz(path), dtype=np.float32)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise AerecError(
            f"{path}: not a scipy sparse .npz ({exc.__class__.__name__}); rebuild it (aerec build)"
        ) from exc
    if shape is not None:
        expected = (shape[0], matrix.shape[1] if shape[1] < 0 else shape[1])
        if matrix.shape != expected:
            raise AerecError(
                f"{path}: shape {matrix.shape[0]} x {matrix.shape[1]}, expected "
                f"{expected[0]} x {expected[1]} like train.npz; rebuild it (aerec build)"
            )
    if matrix.nnz and not np.isfinite(matrix.data).all():
        bad = int((~np.isfinite(matrix.data)).sum())
        raise AerecError(f"{path}: {bad} values are NaN or infinite; rebuild it (aerec build)")
    return matrix


def read_stats(processed_dir: Path) -> dict[str, Any]:
    """build's stats.json as a dict."""
    return read_build_json(Path(processed_dir) / s.BUILD_STATS_FILE)


def read_build_json(path: Path) -> dict[str, Any]:
    """One of build's JSON files as a dict; a missing or damaged one is one AerecError."""
    if not path.is_file():
        raise AerecError(f"{path}: not found; run the build stage first (aerec build)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AerecError(f"{path}: not valid JSON ({exc}); rebuild it (aerec build)") from exc
    if not isinstance(data, dict):
        raise AerecError(f"{path}: expected a JSON object; rebuild it (aerec build)")
    return data


def load_maps(processed_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The user and item id maps build wrote (original id as str, contiguous idx)."""
    maps = []
    for name, id_col, idx_col in (
        (s.USER_MAP_FILE, s.USER_ID, s.USER_IDX),
        (s.ITEM_MAP_FILE, s.ITEM_ID, s.ITEM_IDX),
    ):
        path = Path(processed_dir) / name
        if not path.is_file():
            raise AerecError(f"{path}: id map not found; run the build stage first (aerec build)")
        try:
            table = pl.read_parquet(path, columns=[id_col, idx_col])
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise AerecError(
                f"{path}: not an id map ({exc.__class__.__name__}); rebuild it (aerec build)"
            ) from exc
        maps.append(table.with_columns(pl.col(id_col).cast(pl.String)))
    return maps[0], maps[1]


def id_arrays(processed_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Original user and item ids as arrays indexed by the contiguous indices."""
    user_map, item_map = load_maps(processed_dir)
    return (
        user_map.sort(s.USER_IDX).get_column(s.USER_ID).to_numpy(),
        item_map.sort(s.ITEM_IDX).get_column(s.ITEM_ID).to_numpy(),
    )


def _scale(stats: dict[str, Any], path: Path) -> tuple[float, float]:
    try:
        scale = stats["scale"]
        lo, hi = float(scale["min"]), float(scale["max"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AerecError(
            f"{path}: needs scale.min and scale.max; rebuild it (aerec build)"
        ) from exc
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise AerecError(f"{path}: scale {lo:g}..{hi:g} is not a range; rebuild it (aerec build)")
    return lo, hi


def _optional_csr(path: Path, shape: tuple[int, int]) -> sp.csr_matrix | None:
    """A matrix build may not have written (older builds have no seen.npz)."""
    return read_csr(path, shape) if path.is_file() else None


def _optional_side(path: Path, n_rows: int) -> sp.csr_matrix:
    return read_csr(path, (n_rows, -1)) if path.is_file() else _no_side(n_rows)


def _no_side(n_rows: int) -> sp.csr_matrix:
    return sp.csr_matrix((n_rows, 0), dtype=np.float32)


def _sum(parts: list[sp.csr_matrix]) -> sp.csr_matrix:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return sp.csr_matrix(total, dtype=np.float32)
