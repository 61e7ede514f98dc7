"""The training loop: one explicit loop, read top to bottom (nanoGPT-like).

`fit` builds the model from its registry key and params block, then per
epoch shuffles the rows, cuts mini-batches from the CSR matrix on the device,
takes optimizer steps on the model's own objective, validates, and writes
checkpoint.pt and history.csv atomically. Everything a resume needs is in the
checkpoint, so a run killed at any moment and resumed ends with exactly the
result of an uninterrupted run on the CPU. Selection and early stopping look
at validation only, never at test. A loss or validation score that is not
finite stops the run with one line and keeps the last good checkpoint. When
training is done, model.pt receives the weights that are served: the
validation-best epoch's, or with `train.refit` those of a second run on
train + validation for the epoch count validation chose.
"""

from __future__ import annotations

import dataclasses
import math
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn.parallel import DistributedDataParallel

from aerec.config import RuntimeConfig, TrainConfig
from aerec.errors import AerecError
from aerec.inference import oriented, validation_scores
from aerec.models import build_model
from aerec.models.base import Autoencoder, DataSpec, RatingData
from aerec.models.sparse import SparseRows
from aerec.processed import TrainingData
from aerec.runtime import configure
from aerec.training import checkpoint as ck
from aerec.training import distributed
from aerec.training.distributed import Group
from aerec.training.epochs import lbfgs_epoch, train_epoch
from aerec.training.optim import Stepper, optimizer, scheduler
from aerec.training.progress import Progress

EpochCallback = Callable[[dict[str, Any]], None]


@dataclasses.dataclass
class _Run:
    """What one run of the loop works with, built once by `_setup`."""

    model: Autoencoder
    rating: RatingData
    val_data: RatingData
    val: SparseRows  # the validation entries, in the model's orientation
    rows: np.ndarray
    norm_total: float
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.StepLR
    stepper: Stepper
    device: torch.device
    # The model as the batches call it: DDP's wrapper in a group (it averages
    # the gradients), the model itself otherwise.
    forward: torch.nn.Module
    group: Group | None


def fit(
    key: str,
    block: dict[str, Any],
    cfg: TrainConfig,
    data: TrainingData,
    out_dir: Path,
    *,
    runtime: RuntimeConfig | None = None,
    restart: bool = False,
    restart_if_changed: bool = False,
    log: bool = True,
    on_epoch: EpochCallback | None = None,
) -> dict[str, Any]:
    """Train model `key` (params block `block`); write checkpoint.pt, history.csv, model.pt.

    Resumes from `out_dir/checkpoint.pt` when it was written for the same run
    (identity: model, results-relevant settings, device type, data); one for
    anything else is an AerecError, or is replaced when `restart_if_changed`
    is set (what a pipeline that re-runs on changes wants). `restart` always
    starts over. `on_epoch` is called with each epoch's history row after the
    checkpoint is written. Returns a small summary.
    """
    out_dir = Path(out_dir)
    started = time.perf_counter()
    state, run, ident, resumed_from = _train(
        key, block, cfg, data, out_dir, runtime, restart, restart_if_changed, log, on_epoch
    )
    model_path = out_dir / ck.MODEL_FILE
    refit_epochs = state.best_epoch if cfg.refit else None
    main = run.group is None or run.group.is_main
    # Every rank decides alike (rank 0's answer), so all of them refit or none.
    current = distributed.from_main(_model_is_current(model_path, ident, cfg.refit), run.group)
    if restart or not current:
        # A served model of another run must not outlive a failed refit.
        if main:
            model_path.unlink(missing_ok=True)
        weights = state.best_model
        if cfg.refit:
            weights = refit(
                key, block, cfg, data, out_dir, state.best_epoch, runtime, restart, log, on_epoch
            )
        if main:
            ck.save_model(model_path, ident, weights, _model_info(state, run, data, refit_epochs))
    distributed.barrier(run.group)
    return {
        "model": key,
        "device": str(run.device),
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "best_val_rmse": state.best_score if run.model.predicts_ratings else None,
        "best_val_recall20": None if run.model.predicts_ratings else -state.best_score,
        "resumed_from_epoch": resumed_from,
        "trained_epochs": state.epoch - (resumed_from or 0),
        "seconds": round(time.perf_counter() - started, 3),
        "checkpoint": str(out_dir / ck.CHECKPOINT_FILE),
        "model_file": str(model_path),
        "refit_epochs": refit_epochs,
    }


def refit(
    key: str,
    block: dict[str, Any],
    cfg: TrainConfig,
    data: TrainingData,
    out_dir: Path,
    epochs: int,
    runtime: RuntimeConfig | None = None,
    restart: bool = False,
    log: bool = True,
    on_epoch: EpochCallback | None = None,
) -> dict[str, torch.Tensor]:
    """Train again from scratch on train + validation for `epochs`; return the last weights.

    Validation picked only the epoch count, never these weights. The run
    lives in `out_dir/refit` and resumes from there after an interruption
    (`restart` discards that); it is removed once done. A refit that
    diverges raises, so no model is saved from it.
    """
    merged_train = sp.csr_matrix(data.train + data.val, dtype=np.float32)
    no_val = sp.csr_matrix(data.val.shape, dtype=np.float32)
    merged = dataclasses.replace(data, train=merged_train, val=no_val, val_inputs=merged_train)
    again = cfg.model_copy(update={"epochs": epochs, "patience": 0, "refit": False})
    work = out_dir / ck.REFIT_DIR
    state, run, _, _ = _train(
        key, block, again, merged, work, runtime, restart, True, log, on_epoch, "refit "
    )
    weights = state.best_model
    distributed.barrier(run.group)
    if run.group is None or run.group.is_main:
        shutil.rmtree(work)
    assert weights is not None  # at least one epoch ran
    return weights


def _model_is_current(path: Path, ident: dict[str, Any], refitted: bool) -> bool:
    """Whether model.pt exists and was written by this very run, refitted or not as asked."""
    if not path.is_file():
        return False
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a damaged file is simply not current
        return False
    if not isinstance(saved, dict) or ck.changed(saved, ident) is not None:
        return False
    return (saved.get("refit") is not None) == refitted


def _model_info(
    state: ck.RunState, run: _Run, data: TrainingData, refit_epochs: int | None
) -> dict[str, Any]:
    return {
        "selected_epoch": state.best_epoch,
        "selection_score": state.best_score,
        "selection_metric": "val_rmse" if run.model.predicts_ratings else "val_recall20",
        "epochs_run": state.epoch,
        "refit": None
        if refit_epochs is None
        else {"epochs": refit_epochs, "train_nnz": int(data.train.nnz + data.val.nnz)},
    }


def _train(
    key: str,
    block: dict[str, Any],
    cfg: TrainConfig,
    data: TrainingData,
    out_dir: Path,
    runtime: RuntimeConfig | None,
    restart: bool,
    restart_if_changed: bool,
    log: bool,
    on_epoch: EpochCallback | None,
    label: str = "",
) -> tuple[ck.RunState, _Run, dict[str, Any], int | None]:
    """The epoch loop of one run in `out_dir`: its final state, setup, identity, resume epoch."""
    ckpt_path, history_path = out_dir / ck.CHECKPOINT_FILE, out_dir / ck.HISTORY_FILE
    device = configure(runtime or RuntimeConfig())
    group = distributed.from_env()
    if group is not None:
        distributed.start(group, device)
    spec = DataSpec(
        *data.train.shape,
        data.user_side.shape[1],
        data.item_side.shape[1],
        data.rating_min,
        data.rating_max,
    )
    ident = ck.identity(key, block, cfg, data, spec, device, group.world if group else 1)
    _seed_everything(cfg.seed)
    run = _setup(key, block, cfg, data, spec, device, group)
    if group is not None:
        # Same initial weights on every rank (above); each rank its own noise stream.
        _seed_everything(cfg.seed + group.rank)
    state = ck.RunState()
    resumed_from = None
    if ckpt_path.exists() and not restart:
        saved = ck.read_checkpoint(ckpt_path)
        what = ck.changed(saved, ident)
        if what and not restart_if_changed:
            raise AerecError(
                f"{ckpt_path}: written for a different {what}; pass --restart to start "
                "over (or --restart-if-changed, or another --out)"
            )
        if not what:
            state = _restore(saved, run)
            resumed_from = state.epoch
    full = cfg.optimizer == "lbfgs" or _full_batch(cfg, device, run.model)
    batch_rows = len(run.rows) if full else cfg.batch_size
    main = group is None or group.is_main
    with Progress(log and main, cfg.epochs) as progress:
        while not state.done:
            epoch = state.epoch
            progress.start_epoch(epoch, math.ceil(len(run.rows) / batch_rows))
            t0 = time.perf_counter()
            if cfg.optimizer == "lbfgs":
                train_loss = lbfgs_epoch(run, cfg, progress)
            else:
                train_loss = train_epoch(run, cfg, epoch, batch_rows, progress)
            seconds = time.perf_counter() - t0
            run.sched.step()
            # Rank 0 validates; every rank takes its scores, so all stop at the same epoch.
            scores = validation_scores(run.model, run.val_data, run.val) if main else None
            rmse, recall = distributed.from_main(scores, group)
            _check_finite(f"{label}epoch {epoch + 1}", train_loss, rmse, cfg, state)
            score = _selection_score(run.model, rmse, recall)
            state.epoch = epoch + 1
            # Without validation ratings (a refit) every epoch's weights are the model.
            if score < state.best_score or state.best_model is None or run.val.nnz == 0:
                state.best_score, state.best_epoch, state.bad_epochs = score, state.epoch, 0
                state.best_model = ck.clone_state(run.model)
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
            resume = _resume_state(run)
            if main:
                ck.save_checkpoint(ckpt_path, ident, state, resume)
                ck.write_history(history_path, state.history)
            distributed.barrier(group)
            progress.end_epoch(row)
            if on_epoch is not None:
                on_epoch(row)
    if main and not history_path.exists():
        ck.write_history(history_path, state.history)
    return state, run, ident, resumed_from


def _setup(
    key: str,
    block: dict[str, Any],
    cfg: TrainConfig,
    data: TrainingData,
    spec: DataSpec,
    device: torch.device,
    group: Group | None = None,
) -> _Run:
    """Model, data on the device, optimizer and schedule of one run (in a group: DDP)."""
    model = build_model(key, block, spec).to(device)
    model.check_loss(cfg.loss, key, data.train)
    if cfg.optimizer == "lbfgs" and model.refeed_steps(10**9):
        raise AerecError(
            f"train.optimizer: lbfgs does not do dense re-feeding; set models.{key}.refeed_steps "
            "to 0 or use adam or sgd"
        )
    rating = RatingData(data.train, device, data.user_side, data.item_side)
    val_data = (
        rating
        if data.val_inputs is data.train
        else RatingData(data.val_inputs, device, data.user_side, data.item_side)
    )
    val = SparseRows.from_scipy(oriented(model, data.val), device)
    rows = np.flatnonzero(rating.matrix(model.orientation).counts().cpu().numpy() > 0)
    norm_total = model.norm_total(data.train)
    opt = optimizer(model, cfg, norm_total)
    sched = scheduler(opt, cfg)
    stepper = Stepper(model, opt, cfg.amp, device)
    forward: torch.nn.Module = model
    if group is not None:
        if cfg.optimizer == "lbfgs":
            raise AerecError(
                "train.optimizer: lbfgs takes full-batch steps with line searches and does not "
                "run data-parallel; use adam or sgd, or train in one process"
            )
        forward = DistributedDataParallel(model, device_ids=_device_ids(device))
    return _Run(
        model, rating, val_data, val, rows, norm_total, opt, sched, stepper, device, forward, group
    )


def _check_finite(
    where: str, train_loss: float, rmse: float | None, cfg: TrainConfig, state: ck.RunState
) -> None:
    """Stop a diverging run with one line; the checkpoint of the last good epoch stays.

    Recall is a ratio of counts, finite whenever it is defined, so the loss and
    the RMSE are what can go non-finite.
    """
    for name, value in (("training loss", train_loss), ("validation RMSE", rmse)):
        if value is not None and not math.isfinite(value):
            kept = f"epoch {state.epoch}" if state.epoch else "no epoch (none finished)"
            raise AerecError(
                f"{where}: the {name} is {value} (training diverged); no model was saved and "
                f"the checkpoint keeps {kept}; lower train.lr (now {cfg.lr:g}) and train "
                "again with --restart"
            )


def _selection_score(model: Autoencoder, rmse: float | None, recall: float | None) -> float:
    """Lower is better: validation RMSE, or minus recall@20 for a ranking model."""
    if model.predicts_ratings:
        return math.inf if rmse is None else rmse
    return math.inf if recall is None else -recall


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _full_batch(cfg: TrainConfig, device: torch.device, model: Autoencoder) -> bool:
    if cfg.full_batch != "auto":
        return cfg.full_batch == "on"
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return model.n_rows * model.n_cols * 4 <= free // 8


def _resume_state(run: _Run) -> dict[str, Any]:
    return {
        "model": ck.clone_state(run.model),
        "optimizer": run.opt.state_dict(),
        "scheduler": run.sched.state_dict(),
        "scaler": run.stepper.scaler.state_dict(),
        # Every rank's RNG (one entry outside a group), so each resumes its own stream.
        "rng": distributed.gather(ck.rng_state(run.device), run.group),
    }


def _restore(saved: dict[str, Any], run: _Run) -> ck.RunState:
    resume = saved["resume"]
    run.model.load_state_dict(resume["model"])
    run.opt.load_state_dict(resume["optimizer"])
    run.sched.load_state_dict(resume["scheduler"])
    if resume["scaler"]:
        run.stepper.scaler.load_state_dict(resume["scaler"])
    rank = run.group.rank if run.group else 0
    ck.set_rng_state(resume["rng"][rank], run.device)
    return ck.RunState(
        epoch=saved["epoch"],
        best_score=saved["best_score"],
        best_epoch=saved["best_epoch"],
        bad_epochs=saved["bad_epochs"],
        done=saved["done"],
        best_model=saved["best_state"],
        history=list(saved["history"]),
    )


def _device_ids(device: torch.device) -> list[int] | None:
    return [device.index or 0] if device.type == "cuda" else None
