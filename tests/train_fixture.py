"""A tiny build-stage output for training tests: train/val CSR, side info, stats.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

# One small params block per registered model; tests/models checks it covers REGISTRY.
TINY_BLOCKS: dict[str, dict[str, Any]] = {
    "autorec": {"hidden": 12},
    "deep_ae": {"layers": [12, 6], "activation": "selu", "dropout": 0.1},
    "hybrid": {"hidden": 12},
    "k_sparse": {"hidden": 12, "k": 4},
    "vae": {"layers": [12, 4], "dropout": 0.0, "anneal_steps": 10},
    "combined": {"user_hidden": 8, "item_hidden": 8, "head_layers": [8]},
    "kernel_ae": {"layers": [12, 6], "l2": 0.1, "kernel_l2": 0.01},
}


def write_tiny(
    directory: Path, n_users: int = 30, n_items: int = 20, density: float = 0.5, seed: int = 0
) -> Path:
    """Write a low-rank 1..5 rating matrix split 80/20 into train/val (empty test), side info."""
    rng = np.random.default_rng(seed)
    users, items = rng.normal(size=(n_users, 3)), rng.normal(size=(n_items, 3))
    ratings = np.clip(np.round(3 + users @ items.T), 1, 5).astype(np.float32)
    observed = rng.random((n_users, n_items)) < density
    to_val = rng.random((n_users, n_items)) < 0.2
    directory.mkdir(parents=True, exist_ok=True)
    sp.save_npz(directory / "train.npz", sp.csr_matrix(ratings * (observed & ~to_val)))
    sp.save_npz(directory / "val.npz", sp.csr_matrix(ratings * (observed & to_val)))
    # Training never reads it; build always writes one, and the one reader of build's
    # folder (aerec.processed) expects it.
    sp.save_npz(directory / "test.npz", sp.csr_matrix((n_users, n_items), dtype=np.float32))
    user_side = (rng.random((n_users, 3)) < 0.4).astype(np.float32)
    item_side = (rng.random((n_items, 5)) < 0.3).astype(np.float32)
    sp.save_npz(directory / "user_side.npz", sp.csr_matrix(user_side))
    sp.save_npz(directory / "item_side.npz", sp.csr_matrix(item_side))
    stats = {"scale": {"min": 1, "max": 5, "step": 1}, "global_mean": float(ratings.mean())}
    (directory / "stats.json").write_text(json.dumps(stats))
    return directory
