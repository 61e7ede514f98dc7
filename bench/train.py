"""Epoch time of aerec's I-AutoRec training against two peers, measured in one run.

Matrix: ml-1m users 1-2999 (../shared/data), a seeded random 90/10 split of
the ratings. Model everywhere: I-AutoRec, 500 sigmoid hidden units, identity
output, batch 256 items, Adam lr 1e-3, the same L2 objective. Peers:

- `deeprec`: a faithful re-creation of NVIDIA DeepRecommender's approach
  (reco_encoder/data/input_layer.py + run.py): ratings kept as Python lists
  per item, each mini-batch built as a torch sparse tensor from Python lists,
  then densified; a dense model and DeepRecommender's masked MSE (MSEloss),
  L2 through Adam's weight decay; the last partial batch is dropped as there.
- `dense`: a bare dense PyTorch loop: the whole matrix densified once on the
  device, dense batch slices, dense matmuls, masked MSE.
- `aerec`: aerec.training.loop.fit, sparse input product and outputs only at observed
  ratings; its epoch time is the training part of each epoch, as for the peers.

All three report the test RMSE after the same number of epochs and the
training time until it first reaches `--target` (the test split is watched
here only to time convergence; bench/accuracy.py selects on validation). Runs
unchanged on CUDA (`--device cuda` or auto).

    .venv/bin/python bench/train.py --epochs 10
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
RATINGS = ROOT.parent / "shared" / "data" / "ml-1m" / "ratings_users_1-2999.dat.gz"
HIDDEN, BATCH, LR, L2 = 500, 256, 1e-3, 1.0


def load_split(path: Path, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """users x items train (90%) and test (10%) CSR matrices, ids mapped densely."""
    frame = pl.read_csv(
        path,
        separator=":",
        has_header=False,
        new_columns=["user", "a", "item", "b", "rating", "c", "ts"],
        schema_overrides={"user": pl.Int64, "item": pl.Int64, "rating": pl.Float32},
    ).select("user", "item", "rating")
    users = frame["user"].rank("dense").cast(pl.Int64).to_numpy() - 1
    items = frame["item"].rank("dense").cast(pl.Int64).to_numpy() - 1
    ratings = frame["rating"].to_numpy()
    shape = (int(users.max()) + 1, int(items.max()) + 1)
    test = np.random.default_rng(seed).random(len(ratings)) < 0.1
    pick = [~test, test]
    train, held = (sp.csr_matrix((ratings[m], (users[m], items[m])), shape=shape) for m in pick)
    return train, held


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.clip(pred, 1, 5) - true) ** 2)))


class DenseAutoRec(nn.Module):
    """DeepRecommender's AutoEncoder at layer_sizes [n, 500], sigmoid, linear last layer."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.enc = nn.Linear(n, HIDDEN)
        self.dec = nn.Linear(HIDDEN, n)
        for layer in (self.enc, self.dec):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec(torch.sigmoid(self.enc(x)))


def masked_mse(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepRecommender's MSEloss: summed squared error on nonzero targets, and their count."""
    mask = (targets != 0).float()
    return nn.functional.mse_loss(outputs * mask, targets, reduction="sum"), mask.sum()


def test_rmse_dense(model: DenseAutoRec, train_items: torch.Tensor, test: sp.csr_matrix) -> float:
    """Test RMSE of an item-based dense model whose input is the item's train column."""
    test_t = test.T.tocoo()
    with torch.no_grad():
        out = torch.cat(
            [model(train_items[s : s + 1024]) for s in range(0, len(train_items), 1024)]
        )
    pred = out[torch.from_numpy(test_t.row), torch.from_numpy(test_t.col)].float().cpu().numpy()
    return rmse(pred, test_t.data)


def run_deeprec(train: sp.csr_matrix, test: sp.csr_matrix, epochs: int, device: torch.device):
    """DeepRecommender's data layer and training loop (item vectors over users)."""
    item_major = train.T.tocsr()
    n_users = train.shape[0]
    data = {
        i: list(zip(item_major.indices[a:b].tolist(), item_major.data[a:b].tolist(), strict=True))
        for i, (a, b) in enumerate(zip(item_major.indptr[:-1], item_major.indptr[1:], strict=True))
        if b > a
    }
    torch.manual_seed(0)
    model = DenseAutoRec(n_users).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=L2 / train.nnz)
    dense = torch.from_numpy(item_major.toarray()).to(device)  # for evaluation only
    times, errors = [], []
    for _ in range(epochs):
        _sync(device)
        t0 = time.perf_counter()
        keys = list(data.keys())
        random.shuffle(keys)
        s_ind, e_ind = 0, BATCH
        while e_ind < len(keys):
            inds1, inds2, vals = [], [], []
            for local, ind in enumerate(range(s_ind, e_ind)):
                inds2 += [v[0] for v in data[keys[ind]]]
                inds1 += [local] * len([v[0] for v in data[keys[ind]]])
                vals += [v[1] for v in data[keys[ind]]]
            i_torch = torch.LongTensor([inds1, inds2])
            v_torch = torch.FloatTensor(vals)
            mb = torch.sparse_coo_tensor(i_torch, v_torch, torch.Size([BATCH, n_users]))
            inputs = mb.to(device).to_dense()
            opt.zero_grad()
            loss, num = masked_mse(model(inputs), inputs)
            (loss / num).backward()
            opt.step()
            s_ind += BATCH
            e_ind += BATCH
        _sync(device)
        times.append(time.perf_counter() - t0)
        errors.append(test_rmse_dense(model, dense, test))
    return times, errors


def run_dense(train: sp.csr_matrix, test: sp.csr_matrix, epochs: int, device: torch.device):
    """A bare dense loop: the item x user matrix densified once on the device."""
    dense = torch.from_numpy(train.T.toarray()).to(device)
    torch.manual_seed(0)
    model = DenseAutoRec(dense.shape[1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=L2 / train.nnz)
    gen = torch.Generator().manual_seed(0)
    times, errors = [], []
    for _ in range(epochs):
        _sync(device)
        t0 = time.perf_counter()
        for idx in torch.randperm(dense.shape[0], generator=gen).split(BATCH):
            x = dense[idx.to(device)]
            opt.zero_grad()
            loss, num = masked_mse(model(x), x)
            (loss / num).backward()
            opt.step()
        _sync(device)
        times.append(time.perf_counter() - t0)
        errors.append(test_rmse_dense(model, dense, test))
    return times, errors


def run_aerec(
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    epochs: int,
    device: str,
    threads: int,
    amp: str,
    key: str = "autorec",
    block: dict | None = None,
):
    """aerec's own loop (fit), with the test split as its per-epoch evaluation split."""
    from aerec.config import RuntimeConfig, TrainConfig
    from aerec.processed import TrainingData
    from aerec.training.checkpoint import read_checkpoint
    from aerec.training.loop import fit

    data = TrainingData.of(train, test, 1.0, 5.0)
    cfg = TrainConfig(epochs=epochs, batch_size=BATCH, lr=LR, patience=0, amp=amp)
    runtime = RuntimeConfig(device=device, threads=threads)
    block = block or {"hidden": HIDDEN, "orientation": "item", "l2": L2}
    with tempfile.TemporaryDirectory() as out:
        fit(key, block, cfg, data, Path(out), log=False, runtime=runtime)
        history = read_checkpoint(Path(out) / "checkpoint.pt")["history"]
    return [row["seconds"] for row in history], [row["val_rmse"] for row in history]


# Variants that need every output (dense re-feeding, the multinomial softmax)
# against their sampled-output counterparts, all in aerec's loop.
VARIANTS = {
    "deep_ae [500] sampled outputs": ("deep_ae", {"orientation": "item", "layers": [HIDDEN]}),
    "deep_ae [500] + dense re-feeding": (
        "deep_ae",
        {"orientation": "item", "layers": [HIDDEN], "refeed_steps": 1},
    ),
    "vae gaussian [600, 200] sampled": ("vae", {"likelihood": "gaussian"}),
    "vae multinomial [600, 200] dense softmax": ("vae", {"likelihood": "multinomial"}),
}


def run_variants(train: sp.csr_matrix, test: sp.csr_matrix, args: argparse.Namespace, device):
    """Epoch time of each variant in VARIANTS (the median of epochs 2..n)."""
    for name, (key, block) in VARIANTS.items():
        times, _ = run_aerec(
            train, test, args.epochs, device.type, args.threads, args.amp, key, block
        )
        print(f"{name:42s} epoch {statistics.median(times[1:] or times):.3f} s", flush=True)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--ratings", type=Path, default=RATINGS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--amp", default="off", choices=["off", "bf16", "fp16"], help="aerec on CUDA (peers: fp32)"
    )
    parser.add_argument("--variants", action="store_true", help="time dense-output variants")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat the three loops; prints the median ratio"
    )
    parser.add_argument("--target", type=float, default=0.845, help="RMSE for time-to-target")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads (0: all cores): the peers' torch threads, aerec's runtime.threads",
    )
    args = parser.parse_args()
    if not args.ratings.is_file():
        sys.exit(f"{args.ratings}: not found (needs ../shared/data/ml-1m)")
    name = args.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    random.seed(args.seed)
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    train, test = load_split(args.ratings, args.seed)
    print(
        f"ml-1m users 1-2999: {train.shape[0]} users x {train.shape[1]} items, "
        f"train {train.nnz:,}, test {test.nnz:,}; device {device}, "
        f"CPU threads {threads} (aerec: runtime.threads {threads}, torch_threads 1); "
        f"{args.epochs} epochs, aerec amp {args.amp}"
    )
    if args.variants:
        run_variants(train, test, args, device)
        return
    ratios = [one_round(train, test, args, device, threads) for _ in range(args.rounds)]
    if args.rounds > 1:
        # The machine is shared: rounds back to back, the median ratio is the figure.
        per_round = ", ".join(f"{r['deeprec']:.3f}" for r in ratios)
        print(
            f"median over {args.rounds} rounds: aerec/deeprec "
            f"{statistics.median(r['deeprec'] for r in ratios):.3f}, aerec/dense "
            f"{statistics.median(r['dense'] for r in ratios):.3f} (per round aerec/deeprec: "
            f"{per_round})"
        )


def one_round(
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    args: argparse.Namespace,
    device: torch.device,
    threads: int,
) -> dict[str, float]:
    """The three loops one after the other; prints them, returns aerec's epoch time ratios."""
    results = {"aerec": run_aerec(train, test, args.epochs, device.type, threads, args.amp)}
    torch.set_num_threads(threads)  # fit() set aerec's own thread count
    results["dense"] = run_dense(train, test, args.epochs, device)
    results["deeprec"] = run_deeprec(train, test, args.epochs, device)
    # The first epoch includes one-off warm-up (allocations, kernel selection).
    epoch = {k: statistics.median(t[1:] or t) for k, (t, _) in results.items()}
    to_target = {}
    for name, (times, errors) in results.items():
        hit = next((i for i, e in enumerate(errors) if e <= args.target), None)
        if hit is not None:
            to_target[name] = sum(times[: hit + 1])
        reach = (
            f"RMSE <= {args.target} after {hit + 1} epochs, {to_target[name]:.2f} s"
            if hit is not None
            else f"RMSE {args.target} not reached (best {min(errors):.4f})"
        )
        print(
            f"{name:8s} epoch {epoch[name]:.3f} s (median of epochs 2..{len(times)}; "
            f"first {times[0]:.3f} s)  test RMSE after {len(times)} epochs {errors[-1]:.4f}; "
            f"{reach}"
        )
    print(
        f"ratio aerec/deeprec {epoch['aerec'] / epoch['deeprec']:.3f}  "
        f"aerec/dense {epoch['aerec'] / epoch['dense']:.3f}  "
        f"(target: aerec/deeprec <= 0.333 at RMSE <= deeprec's)",
        flush=True,
    )
    if {"aerec", "deeprec"} <= to_target.keys():
        # Equal accuracy: training time until each loop first reaches the target RMSE.
        print(
            f"time to RMSE <= {args.target}: aerec/deeprec "
            f"{to_target['aerec'] / to_target['deeprec']:.3f}",
            flush=True,
        )
    return {peer: epoch["aerec"] / epoch[peer] for peer in ("dense", "deeprec")}


if __name__ == "__main__":
    main()
