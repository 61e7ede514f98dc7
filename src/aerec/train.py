"""The training loop, checkpoints and the prediction API, in one readable file.

`fit` is one explicit loop (nanoGPT-like): build the model from its registry
key and params block, then per epoch shuffle the rows, cut mini-batches from
the CSR matrix on the device, take optimizer steps on the masked loss,
validate, and write a checkpoint and history.csv atomically. Everything a
resume needs (model, optimizer, scheduler, RNG states, best score, early-stop
counter, anneal step, history) is in the checkpoint, so a run killed at any
moment and resumed ends with exactly the result of an uninterrupted run on the
CPU. Selection and early stopping look at validation only, never at test.

The evaluate stage uses `load_checkpoint`, `predict`, `predict_pairs` and
`encode`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import random
import shutil
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from aerec.config import TrainConfig
from aerec.errors import AerecError
from aerec.io import atomic_path, write_text
from aerec.models import build_model, config_dict, model_class, model_config
from aerec.models.base import (
    Autoencoder,
    Batch,
    DataSpec,
    RatingData,
    SparseRows,
    Targets,
    set_cpu_threads,
)

CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "history.csv"
# Where a refit runs (resumably) before its weights replace the model.
REFIT_DIR = "refit"
HISTORY_COLUMNS = ("epoch", "train_loss", "val_rmse", "val_recall20", "seconds", "ratings_per_s")
_FORMAT = "aerec-checkpoint"
_VERSION = 1
# Rows per evaluation batch: sampled outputs keep memory small, so it is large.
_EVAL_ROWS = 4096
_RECALL_AT = 20
# Masked BCE clamps probabilities away from 0 and 1 so log stays finite.
_BCE_EPS = 1e-6


@dataclass
class TrainingData:
    """The build stage's outputs that training reads (never the test split)."""

    train: sp.csr_matrix
    val: sp.csr_matrix
    user_side: sp.csr_matrix
    item_side: sp.csr_matrix
    rating_min: float
    rating_max: float

    @classmethod
    def without_sides(
        cls, train: sp.csr_matrix, val: sp.csr_matrix, rating_min: float, rating_max: float
    ) -> TrainingData:
        """Training data with no side information (zero-column side matrices)."""
        n_users, n_items = train.shape
        no_side = [sp.csr_matrix((n, 0), dtype=np.float32) for n in (n_users, n_items)]
        return cls(train, val, no_side[0], no_side[1], rating_min, rating_max)

    def spec(self) -> DataSpec:
        """Sizes and rating range a model is built for."""
        n_users, n_items = self.train.shape
        return DataSpec(
            n_users,
            n_items,
            self.user_side.shape[1],
            self.item_side.shape[1],
            self.rating_min,
            self.rating_max,
        )

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the data a checkpoint was trained on."""
        return {
            "shape": list(self.train.shape),
            "train_nnz": int(self.train.nnz),
            "train_sum": float(self.train.data.sum(dtype=np.float64)),
            "val_nnz": int(self.val.nnz),
            "val_sum": float(self.val.data.sum(dtype=np.float64)),
            "side": [self.user_side.shape[1], self.item_side.shape[1]],
        }


def _read_csr(path: Path, shape: tuple[int, int] | None = None) -> sp.csr_matrix:
    if not path.is_file():
        raise AerecError(f"{path}: not found; run the build stage first (aerec build)")
    try:
        matrix = sp.load_npz(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise AerecError(f"{path}: not a scipy sparse .npz ({exc}); rebuild it") from exc
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    if shape is not None and matrix.shape[0] != shape[0]:
        raise AerecError(f"{path}: {matrix.shape[0]} rows, expected {shape[0]}; rebuild it")
    return matrix


def load_training_data(data_dir: Path) -> TrainingData:
    """Read train/val matrices, optional side info and stats.json from a build directory."""
    data_dir = Path(data_dir)
    train = _read_csr(data_dir / "train.npz")
    val = _read_csr(data_dir / "val.npz", train.shape)
    if val.shape != train.shape:
        raise AerecError(f"{data_dir / 'val.npz'}: shape {val.shape} != train {train.shape}")
    n_users, n_items = train.shape
    sides = []
    for name, n in (("user_side.npz", n_users), ("item_side.npz", n_items)):
        path = data_dir / name
        sides.append(_read_csr(path, (n, 0)) if path.is_file() else sp.csr_matrix((n, 0)))
    stats_path = data_dir / "stats.json"
    try:
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
        scale = stats["scale"]
        lo, hi = float(scale["min"]), float(scale["max"])
    except FileNotFoundError as exc:
        raise AerecError(f"{stats_path}: not found; run the build stage first") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise AerecError(f"{stats_path}: needs scale.min and scale.max ({exc})") from exc
    return TrainingData(train, val, sides[0], sides[1], lo, hi)


# -- device, optimizer, noise ------------------------------------------------


def pick_device(name: str) -> torch.device:
    """The torch device for `train.device` (auto: CUDA when present)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise AerecError("train.device: 'cuda' asked for but no CUDA device; use auto or cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _decay_groups(model: Autoencoder, cfg: TrainConfig, norm_total: float) -> list[dict[str, Any]]:
    """Parameter groups with the weight decay each one's L2 terms amount to.

    The objective divides the data term by the number of observed ratings
    (rows for multinomial models), so lambda/2 ||W||^2 contributes lambda/N * W
    to the gradient: weight decay lambda/N on the model's `l2_weights`, plus
    `train.weight_decay` on every parameter.
    """
    lam = float(getattr(model.config, "l2", 0.0))
    decayed = {id(p) for p in model.l2_weights()} if lam else set()
    groups = [
        {"params": [p for p in model.parameters() if id(p) in decayed], "weight_decay": lam},
        {"params": [p for p in model.parameters() if id(p) not in decayed], "weight_decay": 0.0},
    ]
    for group in groups:
        group["weight_decay"] = cfg.weight_decay + group["weight_decay"] / norm_total
    return [g for g in groups if g["params"]]


def _optimizer(model: Autoencoder, cfg: TrainConfig, norm_total: float) -> torch.optim.Optimizer:
    """Adam or momentum SGD with the L2 terms as weight decay (fused into the step), or L-BFGS."""
    if cfg.optimizer == "lbfgs":
        # One parameter group: the same L2 terms join the loss instead (_lbfgs_epoch).
        return torch.optim.LBFGS(
            model.parameters(),
            lr=cfg.lr,
            max_iter=cfg.lbfgs_iters,
            history_size=10,
            line_search_fn="strong_wolfe",
        )
    groups = _decay_groups(model, cfg, norm_total)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    # The fused kernel makes one pass per tensor (CPU and CUDA), the loop several.
    return torch.optim.Adam(groups, lr=cfg.lr, fused=True)


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.StepLR:
    # step_size 10**9 keeps the rate constant while keeping one state layout.
    return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step or 10**9, gamma=cfg.lr_gamma)


def corrupter(kind: str, level: float) -> Any:
    """The input corruption of denoising training, or None.

    `masking` drops each observed input with probability `level` and scales
    the kept ones by 1/(1-level) (CDAE, Wu et al. WSDM 2016), so the expected
    input is unchanged; `gaussian` adds N(0, level^2) to each observed input.
    Unobserved inputs stay the fill: they are not data. Uses torch's RNG.
    """
    if kind == "none" or level == 0:
        return None

    def corrupt(rows: SparseRows) -> SparseRows:
        if kind == "gaussian":
            return rows.with_values(rows.values + level * torch.randn_like(rows.values))
        keep = torch.rand_like(rows.values) >= level
        kept = rows.keep(keep)
        return kept.with_values(kept.values / (1.0 - level))

    return corrupt


# -- state and checkpoints -----------------------------------------------------


@dataclass
class RunState:
    """Loop state that a checkpoint must carry besides model and optimizer."""

    epoch: int = 0  # epochs completed
    best_score: float = math.inf  # lower is better (RMSE, or -recall)
    best_epoch: int = 0
    bad_epochs: int = 0
    done: bool = False
    best_model: dict[str, Tensor] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def _rng_state(device: torch.device) -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _identity(key: str, block: dict[str, Any], cfg: TrainConfig, data: TrainingData) -> dict:
    return {
        "model_key": key,
        "model_config": config_dict(model_config(key, block)),
        # Which models the pipeline trains (model, models) is not this run's config:
        # adding a model to the list must not make existing checkpoints foreign.
        "train_config": cfg.model_dump(mode="json", exclude={"model", "models"}),
        "data": data.fingerprint(),
    }


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint's dict (weights_only); a corrupt or foreign file is an AerecError."""
    path = Path(path)
    if not path.is_file():
        raise AerecError(f"{path}: no checkpoint; train a model first (aerec train)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise AerecError(
            f"{path}: not a readable checkpoint ({exc.__class__.__name__}); "
            "delete it or train again with --restart"
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != _FORMAT:
        raise AerecError(f"{path}: not an aerec checkpoint; delete it or pass --restart")
    if ckpt.get("version") != _VERSION:
        raise AerecError(f"{path}: checkpoint version {ckpt.get('version')} is not {_VERSION}")
    return ckpt


def _save(path: Path, identity: dict, state: RunState, resume: dict[str, Any]) -> None:
    ckpt = {
        "format": _FORMAT,
        "version": _VERSION,
        **identity,
        "model_state": state.best_model,
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "best_score": state.best_score,
        "bad_epochs": state.bad_epochs,
        "done": state.done,
        "history": state.history,
        "resume": resume,
    }
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: "" if row[k] is None else row[k] for k in HISTORY_COLUMNS})
    write_text(buf.getvalue(), path)


def _clone_state(model: Autoencoder) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def load_checkpoint(
    path: Path | str, device: torch.device | str = "cpu"
) -> tuple[Autoencoder, dict[str, Any]]:
    """The model of a checkpoint (eval mode) and its info dict.

    The model is the validation-best epoch's, or with `train.refit` the
    refit's last. `info` holds the model key and config, the train config,
    the data fingerprint, the best epoch and score, the epochs run, the
    history and, after a refit, `refit` (its epochs and training ratings).
    """
    ckpt = read_checkpoint(Path(path))
    key = ckpt["model_key"]
    spec = DataSpec(**ckpt["spec"])
    model = model_class(key)(model_config(key, ckpt["model_config"]), spec)
    if ckpt["model_state"] is None:
        raise AerecError(f"{path}: no completed epoch yet; let training run one epoch")
    model.load_state_dict(ckpt["model_state"])
    model.to(device).eval()
    info = {k: v for k, v in ckpt.items() if k not in ("model_state", "resume")}
    return model, info


# -- one epoch -------------------------------------------------------------------


def _loss(model: Autoencoder, batch: Batch, pred: Tensor, loss: str) -> tuple[Tensor, Tensor]:
    """The training objective of one batch, and its data term for reporting.

    Ratings: masked SSE / observed ratings in the batch (with the L2 weight
    decay of `_optimizer`, an unbiased mini-batch estimate of the paper's
    objective divided by the number of ratings, so `l2` keeps the paper's
    meaning). `bce`: the same with binary cross-entropy in place of the
    squared error. Multinomial: negative log-likelihood per row.
    """
    aux = model.aux_loss()
    target = batch.observed.values
    if model.likelihood == "multinomial":
        data_term, norm = -pred.sum(), batch.rows.numel()
    elif loss == "bce":
        p = pred.clamp(_BCE_EPS, 1.0 - _BCE_EPS)
        data_term = -(target * p.log() + (1.0 - target) * (1.0 - p).log()).sum()
        norm = max(1, batch.observed.nnz)
    else:
        data_term, norm = (pred - target).pow(2).sum(), max(1, batch.observed.nnz)
    total = data_term if aux is None else data_term + aux
    # The data term stays a device tensor: reading it per batch would sync the GPU.
    return total / norm, data_term.detach() / norm


class _Stepper:
    """Backward, optional fp16 loss scaling, optimizer step, annealing hook."""

    def __init__(self, model: Autoencoder, opt: torch.optim.Optimizer, amp: str, dev: torch.device):
        self.model, self.opt = model, opt
        self.enabled = dev.type == "cuda" and amp != "off"
        self.dtype = torch.bfloat16 if amp == "bf16" else torch.float16
        self.device_type = dev.type
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.enabled and amp == "fp16")

    def autocast(self) -> Any:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.enabled)

    def step(self, loss: Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.model.after_step()


def _batches(rows: np.ndarray, size: int, seed: int, epoch: int) -> Iterator[np.ndarray]:
    # The order depends only on (seed, epoch): a resumed epoch sees the same batches.
    order = np.random.default_rng([seed, epoch]).permutation(rows)
    for start in range(0, len(order), size):
        yield order[start : start + size]


def _train_epoch(
    model: Autoencoder,
    data: RatingData,
    rows: np.ndarray,
    cfg: TrainConfig,
    epoch: int,
    stepper: _Stepper,
    batch_rows: int,
    progress: _Progress,
) -> float:
    model.train()
    corrupt = corrupter(cfg.noise, cfg.noise_level)
    refeeds = model.refeed_steps(epoch)
    total, count = torch.zeros((), device=data.device), 0
    for chunk in _batches(rows, batch_rows, cfg.seed, epoch):
        batch = model.make_batch(data, torch.from_numpy(chunk).to(data.device), corrupt)
        with stepper.autocast():
            if refeeds:
                # Re-feeding needs f(x) for every column: dense output, then gather.
                dense = model(batch, Targets())
                obs = batch.observed
                pred = dense[obs.row_ids(), obs.indices]
            else:
                pred = model(batch, Targets(pattern=batch.observed))
            loss, data_loss = _loss(model, batch, pred.float(), cfg.loss)
        stepper.step(loss)
        if refeeds:
            _refeed(model, batch, dense.detach().float(), refeeds, stepper)
        weight = batch.rows.numel() if model.likelihood == "multinomial" else batch.observed.nnz
        total, count = total + data_loss * weight, count + weight
        progress.advance()
    return float(total) / max(1, count)


def _lbfgs_epoch(
    model: Autoencoder,
    data: RatingData,
    rows: np.ndarray,
    cfg: TrainConfig,
    opt: torch.optim.Optimizer,
    norm_total: float,
    progress: _Progress,
) -> float:
    """One L-BFGS step over every row: the exact objective, L2 terms included, in fp32.

    Noise (if any) is drawn once per epoch, so the objective holds still
    during the step's line searches.
    """
    model.train()
    corrupt = corrupter(cfg.noise, cfg.noise_level)
    batch = model.make_batch(data, torch.from_numpy(rows).to(data.device), corrupt)
    groups = [g for g in _decay_groups(model, cfg, norm_total) if g["weight_decay"]]
    reported: list[Tensor] = []

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        pred = model(batch, Targets(pattern=batch.observed))
        loss, data_loss = _loss(model, batch, pred.float(), cfg.loss)
        for group in groups:  # weight decay wd is the gradient of wd/2 ||p||^2
            for param in group["params"]:
                loss = loss + group["weight_decay"] / 2 * param.pow(2).sum()
        loss.backward()
        reported.append(data_loss)
        return loss

    opt.step(closure)  # type: ignore[arg-type]
    model.after_step()
    progress.advance()
    return float(reported[-1])


def _refeed(
    model: Autoencoder, batch: Batch, output: Tensor, steps: int, stepper: _Stepper
) -> None:
    """Dense re-feeding (Kuchaiev and Ginsburg): f(x) is a new input with target f(x)."""
    for _ in range(steps):
        refed = Batch(batch.rows, output, None, batch.observed, batch.data)
        with stepper.autocast():
            out = model(refed, Targets()).float()
            loss = (out - output).pow(2).mean()
        stepper.step(loss)
        output = out.detach()


# -- validation and prediction ------------------------------------------------


def _row_chunks(rows: Tensor, size: int = _EVAL_ROWS) -> Iterator[Tensor]:
    for start in range(0, rows.numel(), size):
        yield rows[start : start + size]


@torch.no_grad()
def _sampled(model: Autoencoder, data: RatingData, pattern: SparseRows) -> Tensor:
    """Model outputs at every entry of `pattern` (rows in the model's orientation)."""
    out = torch.empty(pattern.nnz, device=data.device)
    rows = torch.nonzero(pattern.counts()).squeeze(1)
    for chunk in _row_chunks(rows):
        part = pattern.select(chunk)
        values = model(model.make_batch(data, chunk), Targets(pattern=part)).float()
        starts, counts = pattern.indptr[chunk], part.counts()
        pos = torch.repeat_interleave(starts - part.indptr[:-1], counts) + torch.arange(
            part.nnz, device=data.device
        )
        out[pos] = values
    return out


def _clip(model: Autoencoder, values: Tensor) -> Tensor:
    if model.likelihood == "multinomial":
        return values
    return values.clamp(model.spec.rating_min, model.spec.rating_max)


def _oriented(model: Autoencoder, matrix: sp.csr_matrix) -> sp.csr_matrix:
    return matrix if model.orientation == "user" else matrix.T.tocsr()


def _val_rmse(model: Autoencoder, data: RatingData, val: SparseRows) -> float | None:
    if val.nnz == 0:
        return None
    model.eval()
    pred = _clip(model, _sampled(model, data, val))
    return float(torch.sqrt(((pred - val.values) ** 2).mean()))


@torch.no_grad()
def _val_recall(model: Autoencoder, data: RatingData, val: SparseRows) -> float | None:
    """Recall@20 over the users with validation items, train items excluded (Liang et al.)."""
    model.eval()
    positive_at = getattr(model.config, "positive_at", 0.0)
    val = val.keep(val.values >= positive_at)
    rows = torch.nonzero(val.counts()).squeeze(1)
    if rows.numel() == 0:
        return None
    total = 0.0
    for chunk in _row_chunks(rows):
        batch = model.make_batch(data, chunk)
        scores = model(batch, Targets()).float()
        seen = data.matrix(model.orientation).select(chunk)
        scores[seen.row_ids(), seen.indices] = -math.inf
        top = torch.topk(scores, min(_RECALL_AT, scores.shape[1]), dim=1).indices
        truth = val.select(chunk)
        hits = truth.to_dense().gather(1, top).gt(0).sum(1).float()
        total += float((hits / truth.counts().clamp(max=_RECALL_AT).float()).sum())
    return total / rows.numel()


def _eval_model(model: Autoencoder, data: RatingData, val: SparseRows) -> tuple[Any, Any, float]:
    """(val RMSE, val recall@20, selection score: lower is better)."""
    if model.likelihood == "multinomial":
        recall = _val_recall(model, data, val)
        return None, recall, math.inf if recall is None else -recall
    rmse = _val_rmse(model, data, val)
    return rmse, None, math.inf if rmse is None else rmse


def _rating_data(
    model: Autoencoder,
    train_csr: sp.csr_matrix,
    user_side: sp.csr_matrix | None,
    item_side: sp.csr_matrix | None,
) -> RatingData:
    device = next(model.parameters()).device
    return RatingData(train_csr, device, user_side, item_side)


def predict(
    model: Autoencoder,
    train_csr: sp.csr_matrix,
    user_rows: np.ndarray,
    *,
    user_side: sp.csr_matrix | None = None,
    item_side: sp.csr_matrix | None = None,
) -> np.ndarray:
    """Dense predictions (len(user_rows) x n_items) in user x item orientation.

    The model reads its input from `train_csr` (users x items, the training
    matrix). User-based models predict the asked user rows; item-based models
    run over all items and compute only the asked users' output columns (the
    decoder rows of those users), then transpose. Ratings are clipped to the
    scale; Mult-VAE returns log-probabilities. Hybrid models need the side
    matrices they were trained with.
    """
    data = _rating_data(model, train_csr, user_side, item_side)
    users = torch.as_tensor(np.asarray(user_rows, dtype=np.int64), device=data.device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        if model.orientation == "user":
            parts = [model(model.make_batch(data, c), Targets()) for c in _row_chunks(users)]
            out = torch.cat(parts) if parts else torch.empty(0, data.n_items)
        else:
            items = torch.arange(data.n_items, device=data.device)
            parts = [
                model(model.make_batch(data, c), Targets(columns=users)) for c in _row_chunks(items)
            ]
            out = torch.cat(parts).t()
    model.train(was_training)
    return _clip(model, out.float()).cpu().numpy()


def predict_pairs(
    model: Autoencoder,
    train_csr: sp.csr_matrix,
    users: np.ndarray,
    items: np.ndarray,
    *,
    user_side: sp.csr_matrix | None = None,
    item_side: sp.csr_matrix | None = None,
) -> np.ndarray:
    """Predictions at the (users[k], items[k]) pairs, in the given order.

    Only the asked outputs are computed (sampled decoder), batched over the
    model's rows, so scoring a test split costs about as much as one epoch.
    """
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    n_users, n_items = train_csr.shape
    rows, cols, n_rows, n_cols = (
        (users, items, n_users, n_items)
        if model.orientation == "user"
        else (items, users, n_items, n_users)
    )
    # One entry per distinct pair; `inverse` maps the answers back to the asked order.
    keys, inverse = np.unique(rows * n_cols + cols, return_inverse=True)
    pattern = sp.csr_matrix(
        (np.ones(len(keys), np.float32), (keys // n_cols, keys % n_cols)), shape=(n_rows, n_cols)
    )
    data = _rating_data(model, train_csr, user_side, item_side)
    was_training = model.training
    model.eval()
    values = _clip(model, _sampled(model, data, SparseRows.from_scipy(pattern, data.device)))
    model.train(was_training)
    return values.cpu().numpy()[inverse.ravel()]


def encode(
    model: Autoencoder,
    train_csr: sp.csr_matrix,
    rows: np.ndarray,
    *,
    user_side: sp.csr_matrix | None = None,
    item_side: sp.csr_matrix | None = None,
) -> np.ndarray:
    """The code (embedding) of `rows` in the model's orientation (users or items)."""
    data = _rating_data(model, train_csr, user_side, item_side)
    idx = torch.as_tensor(np.asarray(rows, dtype=np.int64), device=data.device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        parts = [model.encode(model.make_batch(data, c)).float() for c in _row_chunks(idx)]
    model.train(was_training)
    return torch.cat(parts).cpu().numpy() if parts else np.zeros((0, 0), np.float32)


# -- progress -------------------------------------------------------------------


class _Progress:
    """A rich progress bar on a terminal, one plain log line per epoch otherwise."""

    def __init__(self, enabled: bool, total_epochs: int) -> None:
        self.tty = enabled and sys.stderr.isatty()
        self.enabled = enabled
        self.total_epochs = total_epochs
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=True
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def start_epoch(self, epoch: int, n_batches: int) -> None:
        if self._bar is not None:
            if self._task is not None:
                self._bar.remove_task(self._task)
            desc = f"epoch {epoch + 1}/{self.total_epochs}"
            self._task = self._bar.add_task(desc, total=n_batches)

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1)

    def end_epoch(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        val = row["val_rmse"] if row["val_rmse"] is not None else row["val_recall20"]
        name = "val_rmse" if row["val_rmse"] is not None else "val_recall20"
        line = (
            f"epoch {row['epoch']}/{self.total_epochs} train_loss {row['train_loss']:.4f} "
            f"{name} {'-' if val is None else f'{val:.4f}'} {row['seconds']:.2f}s "
            f"{row['ratings_per_s']:,.0f} ratings/s"
        )
        if self._bar is not None:
            self._bar.console.print(line)
        else:
            print(line, file=sys.stderr, flush=True)


# -- the loop --------------------------------------------------------------------


def _full_batch(cfg: TrainConfig, device: torch.device, n_rows: int, n_cols: int) -> bool:
    if cfg.full_batch != "auto":
        return cfg.full_batch == "on"
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return n_rows * n_cols * 4 <= free // 8


def fit(
    key: str,
    block: dict[str, Any],
    cfg: TrainConfig,
    data: TrainingData,
    out_dir: Path,
    *,
    restart: bool = False,
    restart_if_changed: bool = False,
    log: bool = True,
) -> dict[str, Any]:
    """Train model `key` (params block `block`) and write checkpoint.pt and history.csv.

    Resumes from `out_dir/checkpoint.pt` when it was written for the same
    model, params and data; a checkpoint for anything else is an AerecError,
    or is replaced when `restart_if_changed` is set (what a pipeline that
    re-runs on changes wants). `restart` always starts over. Returns a small
    summary.
    """
    out_dir = Path(out_dir)
    ckpt_path, history_path = out_dir / CHECKPOINT_FILE, out_dir / HISTORY_FILE
    device = pick_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.torch_threads or _cores())
        set_cpu_threads(cfg.threads or _cores())
    identity = _identity(key, block, cfg, data)
    spec = data.spec()
    identity["spec"] = vars(spec).copy()
    _seed_everything(cfg.seed)
    model = build_model(key, block, spec).to(device)
    _check_loss(cfg.loss, key, model, data.train)
    if cfg.optimizer == "lbfgs" and model.refeed_steps(10**9):
        raise AerecError(
            f"train.optimizer: lbfgs does not do dense re-feeding; set models.{key}.refeed_steps "
            "to 0 or use adam or sgd"
        )
    rating = RatingData(data.train, device, data.user_side, data.item_side)
    val = SparseRows.from_scipy(_oriented(model, data.val), device)
    rows = np.flatnonzero(rating.matrix(model.orientation).counts().cpu().numpy() > 0)
    norm_total = float(len(rows) if model.likelihood == "multinomial" else data.train.nnz)
    opt = _optimizer(model, cfg, norm_total)
    sched = _scheduler(opt, cfg)
    stepper = _Stepper(model, opt, cfg.amp, device)
    state = RunState()
    resumed_from = None
    if ckpt_path.exists() and not restart:
        ckpt = read_checkpoint(ckpt_path)
        changed = _changed(ckpt, identity)
        if changed and not restart_if_changed:
            raise AerecError(
                f"{ckpt_path}: written for a different {changed}; pass --restart to start "
                "over (or --restart-if-changed, or another --out)"
            )
        if not changed:
            state = _restore(ckpt, model, opt, sched, stepper, device)
            resumed_from = state.epoch
    full = cfg.optimizer == "lbfgs" or _full_batch(cfg, device, model.n_rows, model.n_cols)
    batch_rows = len(rows) if full else cfg.batch_size
    started = time.perf_counter()
    with _Progress(log, cfg.epochs) as progress:
        while not state.done:
            epoch = state.epoch
            progress.start_epoch(epoch, math.ceil(len(rows) / batch_rows))
            t0 = time.perf_counter()
            if cfg.optimizer == "lbfgs":
                train_loss = _lbfgs_epoch(model, rating, rows, cfg, opt, norm_total, progress)
            else:
                train_loss = _train_epoch(
                    model, rating, rows, cfg, epoch, stepper, batch_rows, progress
                )
            seconds = time.perf_counter() - t0
            sched.step()
            rmse, recall, score = _eval_model(model, rating, val)
            state.epoch = epoch + 1
            # Without validation ratings (a refit) every epoch's weights are the model.
            if score < state.best_score or state.best_model is None or val.nnz == 0:
                state.best_score, state.best_epoch, state.bad_epochs = score, state.epoch, 0
                state.best_model = _clone_state(model)
            else:
                state.bad_epochs += 1
            stop = cfg.patience and state.bad_epochs >= cfg.patience
            state.done = bool(stop) or state.epoch >= cfg.epochs
            row = {
                "epoch": state.epoch,
                "train_loss": train_loss,
                "val_rmse": rmse,
                "val_recall20": recall,
                "seconds": seconds,
                "ratings_per_s": data.train.nnz / max(seconds, 1e-9),
            }
            state.history.append(row)
            resume = _resume_state(model, opt, sched, stepper, device)
            _save(ckpt_path, identity, state, resume)
            _write_history(history_path, state.history)
            progress.end_epoch(row)
    if not history_path.exists():
        _write_history(history_path, state.history)
    refit_epochs = None
    if cfg.refit:
        done = read_checkpoint(ckpt_path).get("refit")
        refit_epochs = (
            done["epochs"]
            if done
            else refit(key, block, cfg, data, out_dir, restart=restart, log=log)
        )
    return {
        "model": key,
        "device": str(device),
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "best_val_rmse": None if model.likelihood == "multinomial" else state.best_score,
        "best_val_recall20": -state.best_score if model.likelihood == "multinomial" else None,
        "resumed_from_epoch": resumed_from,
        "trained_epochs": state.epoch - (resumed_from or 0),
        "seconds": round(time.perf_counter() - started, 3),
        "checkpoint": str(ckpt_path),
        "refit_epochs": refit_epochs,
    }


def refit(
    key: str,
    block: dict[str, Any],
    cfg: TrainConfig,
    data: TrainingData,
    out_dir: Path,
    *,
    restart: bool = False,
    log: bool = True,
) -> int:
    """Train again from scratch on train + validation; its last weights become the model.

    It runs for the epoch count validation chose in `out_dir/checkpoint.pt`
    (a finished run), whose model it then replaces, marking the checkpoint
    `refit`. The run lives in `out_dir/refit` and resumes from there after an
    interruption (`restart` discards that). Returns the epoch count.
    """
    out_dir = Path(out_dir)
    ckpt = read_checkpoint(out_dir / CHECKPOINT_FILE)
    epochs = ckpt["best_epoch"]
    no_val = sp.csr_matrix(data.val.shape, dtype=np.float32)
    merged = dataclasses.replace(data, train=data.train + data.val, val=no_val)
    again = cfg.model_copy(update={"epochs": epochs, "patience": 0, "refit": False})
    work = out_dir / REFIT_DIR
    fit(key, block, again, merged, work, restart=restart, restart_if_changed=True, log=log)
    ckpt["model_state"] = read_checkpoint(work / CHECKPOINT_FILE)["model_state"]
    ckpt["refit"] = {"epochs": epochs, "train_nnz": int(merged.train.nnz)}
    with atomic_path(out_dir / CHECKPOINT_FILE) as tmp:
        torch.save(ckpt, tmp)
    shutil.rmtree(work)
    return epochs


def _check_loss(loss: str, key: str, model: Autoencoder, train: sp.csr_matrix) -> None:
    """Masked BCE needs probabilities out and targets in [0, 1] with negatives among them."""
    if loss != "bce":
        return
    if model.likelihood == "multinomial":
        raise AerecError(
            f"train.loss: bce does not apply to model '{key}', which has a multinomial "
            "likelihood; use loss mse"
        )
    if not model.outputs_probabilities():
        raise AerecError(
            f"train.loss: bce needs outputs in [0, 1]; give model '{key}' a sigmoid output "
            "(autorec output_activation: sigmoid; deep_ae activation: sigmoid with "
            "last_layer_activation: true)"
        )
    values = train.data
    if values.size and (values.min() < 0 or values.max() > 1):
        raise AerecError(
            f"train.loss: bce needs ratings in [0, 1] but the training ratings span "
            f"{values.min():g}..{values.max():g}; set build.transform to thumbs or binarize"
        )
    if values.size and values.min() == 1:
        raise AerecError(
            "train.loss: bce over observed entries needs negatives among them, but every "
            "training value is 1 (binarize keeps positives only); use build.transform thumbs, "
            "or the vae with its multinomial likelihood"
        )


def _changed(ckpt: dict[str, Any], identity: dict[str, Any]) -> str | None:
    """What differs between a checkpoint and this run ("model config", ...), or None."""
    for name in ("model_key", "model_config", "train_config", "data", "spec"):
        if ckpt.get(name) != identity[name]:
            return name.replace("_", " ")
    return None


def _resume_state(
    model: Autoencoder,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.StepLR,
    stepper: _Stepper,
    device: torch.device,
) -> dict[str, Any]:
    return {
        "model": _clone_state(model),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "scaler": stepper.scaler.state_dict(),
        "rng": _rng_state(device),
    }


def _restore(
    ckpt: dict[str, Any],
    model: Autoencoder,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.StepLR,
    stepper: _Stepper,
    device: torch.device,
) -> RunState:
    resume = ckpt["resume"]
    model.load_state_dict(resume["model"])
    opt.load_state_dict(resume["optimizer"])
    sched.load_state_dict(resume["scheduler"])
    if resume["scaler"]:
        stepper.scaler.load_state_dict(resume["scaler"])
    _set_rng_state(resume["rng"], device)
    return RunState(
        epoch=ckpt["epoch"],
        best_score=ckpt["best_score"],
        best_epoch=ckpt["best_epoch"],
        bad_epochs=ckpt["bad_epochs"],
        done=ckpt["done"],
        best_model=ckpt["model_state"],
        history=list(ckpt["history"]),
    )
