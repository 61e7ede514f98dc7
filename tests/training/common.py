"""What the training tests share: a tiny build, short configs, run comparisons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from aerec.config import TrainConfig
from aerec.models.base import DataSpec
from aerec.processed import TrainingData, load_processed
from aerec.training.checkpoint import read_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("seconds", "ratings_per_s")


def _cfg(**overrides: Any) -> TrainConfig:
    base = {"epochs": 6, "batch_size": 8, "lr": 1e-2, "patience": 0}
    return TrainConfig(**{**base, **overrides})


def load_training_data(directory: Path) -> TrainingData:
    return load_processed(directory).training()


def _spec(data: TrainingData) -> DataSpec:
    n_users, n_items = data.train.shape
    return DataSpec(n_users, n_items, data.user_side.shape[1], data.item_side.shape[1], 1.0, 5.0)


class _StopAfter:
    """An on_epoch callback that interrupts training after `n` epochs (as Ctrl-C would)."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def __call__(self, row: dict[str, Any]) -> None:
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt


def _without_timing(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


def _assert_same_run(a: Path, b: Path) -> None:
    """Two checkpoints hold the same result: history, best and last weights, optimizer."""
    ca, cb = read_checkpoint(a / "checkpoint.pt"), read_checkpoint(b / "checkpoint.pt")
    assert _without_timing(ca["history"]) == _without_timing(cb["history"])
    for name in ("epoch", "best_epoch", "best_score", "bad_epochs", "done"):
        assert ca[name] == cb[name], name
    for state in ("best_state",):
        assert ca[state].keys() == cb[state].keys()
        for key in ca[state]:
            assert torch.equal(ca[state][key], cb[state][key]), key
    for key, value in ca["resume"]["model"].items():
        assert torch.equal(value, cb["resume"]["model"][key]), key
    opt_a, opt_b = ca["resume"]["optimizer"]["state"], cb["resume"]["optimizer"]["state"]
    for idx, slots in opt_a.items():
        for slot, value in slots.items():
            assert _same(value, opt_b[idx][slot]), (idx, slot)


def _same(a: Any, b: Any) -> bool:
    """Equal optimizer state: tensors bit for bit, lists item by item (L-BFGS history)."""
    if isinstance(a, Tensor):
        return isinstance(b, Tensor) and torch.equal(a, b)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return a == b


def _csr(rows: list[list[float]]) -> sp.csr_matrix:
    return sp.csr_matrix(np.array(rows, dtype=np.float32))


def _served(model_dir: Path) -> dict[str, Any]:
    """model.pt as saved: identity, info and weights."""
    return torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)
