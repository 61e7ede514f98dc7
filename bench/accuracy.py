"""Test RMSE of a model, mean and std over training seeds, with selection on validation only.

Datasets (the protocols of the literature):
- `ml-100k-u1`: MovieLens 100K u1.base / u1.test, rebuilt from the RecBole
  atomic file (its first 20,000 lines are u1.test); target RMSE <= 0.890.
- `ml-1m`: ml-1m users 1-2999 (../shared/data), seeded random 90/10 split;
  target RMSE <= 0.845.

10% of the training ratings (fixed seed) are the validation split that picks
the epoch (early stopping); the test split is read once, at the end. The
split stays fixed across seeds, so the std is the training noise.

    .venv/bin/python bench/accuracy.py --dataset ml-100k-u1 --seeds 5 \\
        --model autorec --set hidden=500 --set l2=... --train lr=0.001
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from aerec.config import TrainConfig  # noqa: E402
from aerec.inference import Predictor  # noqa: E402
from aerec.metrics import rmse  # noqa: E402
from aerec.processed import TrainingData  # noqa: E402
from aerec.training.checkpoint import MODEL_FILE, load_model  # noqa: E402
from aerec.training.loop import fit  # noqa: E402
from train import RATINGS, load_split  # noqa: E402  (bench/train.py, beside this file)

ML100K = ROOT / "data" / "raw" / "ml-100k" / "ml-100k.inter"
U1_TEST_LINES = 20_000


def load_ml100k_u1(path: Path) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """u1.base and u1.test as users x items CSR over the ids of the whole file."""
    frame = pl.read_csv(path, separator="\t", has_header=True)
    frame.columns = ["user", "item", "rating", "ts"]
    users = frame["user"].rank("dense").cast(pl.Int64).to_numpy() - 1
    items = frame["item"].rank("dense").cast(pl.Int64).to_numpy() - 1
    ratings = frame["rating"].cast(pl.Float32).to_numpy()
    shape = (int(users.max()) + 1, int(items.max()) + 1)
    test = np.arange(len(ratings)) < U1_TEST_LINES
    return tuple(
        sp.csr_matrix((ratings[m], (users[m], items[m])), shape=shape) for m in (~test, test)
    )


def split_validation(train: sp.csr_matrix, fraction: float, seed: int):
    """Move a seeded random `fraction` of the training ratings to a validation matrix."""
    coo = train.tocoo()
    val = np.random.default_rng(seed).random(coo.nnz) < fraction
    parts = [
        sp.csr_matrix((coo.data[m], (coo.row[m], coo.col[m])), shape=train.shape)
        for m in (~val, val)
    ]
    return parts[0], parts[1]


def picked_on_test(
    key: str, block: dict, cfg: Any, train_full: sp.csr_matrix, test: sp.csr_matrix
) -> dict[str, Any]:
    """The papers' protocol, for comparison only: all of train, the epoch picked on test.

    GLocal-K and AutoRec report the best test RMSE over the epochs of a model
    trained on the whole training split. Here test plays validation's part, so
    the best validation score is that number. Not the target's protocol.
    """
    with tempfile.TemporaryDirectory() as out:
        data = TrainingData.of(train_full, test, 1.0, 5.0)
        return fit(key, block, cfg, data, Path(out), log=False)


def test_predictions(model: Any, inputs: sp.csr_matrix, test: sp.coo_matrix) -> np.ndarray:
    """The model's predictions at the test pairs, reading `inputs`."""
    return Predictor(model, inputs).pairs(test.row, test.col)


def _value(text: str) -> Any:
    return yaml.safe_load(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=["ml-100k-u1", "ml-1m"], default="ml-100k-u1")
    parser.add_argument("--model", default="autorec")
    parser.add_argument("--set", action="append", default=[], help="model field=value")
    parser.add_argument("--train", action="append", default=[], help="train field=value")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--ratings", type=Path, default=RATINGS, help="ml-1m ratings (.dat.gz)")
    parser.add_argument("--ml100k", type=Path, default=ML100K, help="RecBole ml-100k.inter")
    parser.add_argument(
        "--refit",
        action="store_true",
        help="then train again on train + validation for the epochs validation chose",
    )
    parser.add_argument(
        "--picked-on-test",
        action="store_true",
        help="the papers' protocol instead (all of train, epoch picked on test): comparison only",
    )
    args = parser.parse_args()

    if args.dataset == "ml-1m":
        train_full, test = load_split(args.ratings, 0)
    else:
        if not args.ml100k.is_file():
            sys.exit(f"{args.ml100k}: not found; run `aerec fetch` (dataset ml-100k) first")
        train_full, test = load_ml100k_u1(args.ml100k)
    train, val = split_validation(train_full, args.val_fraction, 0)
    block = {k: _value(v) for k, v in (item.split("=", 1) for item in args.set)}
    overrides = {k: _value(v) for k, v in (item.split("=", 1) for item in args.train)}
    header = {
        "dataset": args.dataset,
        "model": args.model,
        "model_params": block,
        "train_params": overrides,
    }
    if args.picked_on_test:
        result = seeds_picked_on_test(args, block, overrides, train_full, test)
    else:
        result = seeds_picked_on_validation(args, block, overrides, train_full, train, val, test)
    print(json.dumps({**header, **result}))


def _seed_config(overrides: dict[str, Any], seed: int) -> TrainConfig:
    return TrainConfig(**{"epochs": 500, "patience": 20, **overrides, "seed": seed})


def _mean_std(values: list[float]) -> tuple[float, float]:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return round(statistics.mean(values), 4), round(std, 4)


def seeds_picked_on_test(
    args: argparse.Namespace,
    block: dict[str, Any],
    overrides: dict[str, Any],
    train_full: sp.csr_matrix,
    test: sp.csr_matrix,
) -> dict[str, Any]:
    """The papers' protocol over the seeds (comparison only)."""
    scores = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        summary = picked_on_test(args.model, block, _seed_config(overrides, seed), train_full, test)
        scores.append(summary["best_val_rmse"])
        print(f"seed {seed}: best test RMSE {scores[-1]:.4f} at epoch {summary['best_epoch']}")
    mean, std = _mean_std(scores)
    return {
        "protocol": "epoch picked on test",
        "test_rmse_mean": mean,
        "test_rmse_std": std,
        "seeds": len(scores),
    }


def seeds_picked_on_validation(
    args: argparse.Namespace,
    block: dict[str, Any],
    overrides: dict[str, Any],
    train_full: sp.csr_matrix,
    train: sp.csr_matrix,
    val: sp.csr_matrix,
    test: sp.csr_matrix,
) -> dict[str, Any]:
    """The target's protocol over the seeds, with the refit and seed-average extras."""
    data = TrainingData.of(train, val, 1.0, 5.0)
    test_coo = test.tocoo()
    results, results_full, preds_full, results_refit = [], [], [], []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        cfg = _seed_config(overrides, seed)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            summary = fit(args.model, block, cfg, data, Path(out), log=False)
            model, info = load_model(Path(out) / MODEL_FILE, summary["device"])
            if args.refit:
                # The same run with train.refit: it resumes the finished selection
                # run and writes the refit's weights as the model.
                with_refit = cfg.model_copy(update={"refit": True})
                fit(args.model, block, with_refit, data, Path(out), log=False)
                again, _ = load_model(Path(out) / MODEL_FILE, summary["device"])
        results.append(rmse(test_coo.data, test_predictions(model, train, test_coo)))
        # The validation ratings are known at test time: as input (never as weights' data).
        preds_full.append(test_predictions(model, train_full, test_coo))
        results_full.append(rmse(test_coo.data, preds_full[-1]))
        if args.refit:
            results_refit.append(rmse(test_coo.data, test_predictions(again, train_full, test_coo)))
        refit_note = f", refit on train+val {results_refit[-1]:.4f}" if args.refit else ""
        print(
            f"seed {seed}: test RMSE {results[-1]:.4f} (train+val as input "
            f"{results_full[-1]:.4f}{refit_note})  (best epoch {info['selected_epoch']}, "
            f"val RMSE {info['selection_score']:.4f}, {time.perf_counter() - t0:.0f} s, "
            f"{summary['device']})",
            flush=True,
        )
    # Not the target's protocol (that is one model per seed): what averaging the seeds gives.
    ensemble = np.mean(preds_full, axis=0)
    mean, std = _mean_std(results)
    result = {
        "train": int(train.nnz),
        "val": int(val.nnz),
        "test": int(test.nnz),
        "test_rmse_mean": mean,
        "test_rmse_std": std,
        "test_rmse_mean_train_val_input": _mean_std(results_full)[0],
        "seeds": len(results),
        "test_rmse_mean_of_seeds_predictions": round(rmse(test_coo.data, ensemble), 4),
    }
    if results_refit:
        result["test_rmse_mean_refit"], result["test_rmse_std_refit"] = _mean_std(results_refit)
    return result


if __name__ == "__main__":
    main()
