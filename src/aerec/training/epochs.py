"""One epoch of training: mini-batches (sharded by rank in a group), L-BFGS, dense re-feeding."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch

from aerec.config import TrainConfig
from aerec.models.base import Batch, Targets
from aerec.training import distributed
from aerec.training.optim import Stepper, corrupter, decay_groups
from aerec.training.progress import Progress

if TYPE_CHECKING:
    from aerec.training.loop import _Run


def batches(rows: np.ndarray, size: int, seed: int, epoch: int) -> Iterator[np.ndarray]:
    """The global batches of one epoch; the order depends only on (seed, epoch).

    So a resumed epoch sees the same batches, and so does every rank of a group.
    """
    order = np.random.default_rng([seed, epoch]).permutation(rows)
    for start in range(0, len(order), size):
        yield order[start : start + size]


def train_epoch(
    run: _Run, cfg: TrainConfig, epoch: int, batch_rows: int, progress: Progress
) -> float:
    """One pass of mini-batch steps; returns the epoch's mean data loss (over every rank)."""
    model, data, stepper, group = run.model, run.rating, run.stepper, run.group
    model.train()
    corrupt = corrupter(cfg.noise, cfg.noise_level)
    refeeds = model.refeed_steps(epoch)
    total, count = torch.zeros((), device=data.device), 0
    for chunk in batches(run.rows, batch_rows, cfg.seed, epoch):
        local = distributed.shard(chunk, group)
        if local.size == 0:  # in a group, a last batch shorter than the world
            _idle_steps(run, 1 + refeeds)
            progress.advance()
            continue
        batch = model.make_batch(data, torch.from_numpy(local).to(data.device), corrupt)
        with stepper.autocast():
            if refeeds:
                # Re-feeding needs f(x) for every column: dense output, then gather.
                dense = run.forward(batch, Targets())
                obs = batch.observed
                pred = dense[obs.row_ids(), obs.indices]
            else:
                pred = run.forward(batch, Targets(pattern=batch.observed))
            objective = model.objective(batch, pred.float(), cfg.loss)
        stepper.step(_global_loss(objective.loss, objective.weight, run))
        if refeeds:
            _refeed(run, batch, dense.detach().float(), refeeds)
        total = total + objective.data_term * objective.weight
        count += objective.weight
        progress.advance()
    return distributed.total(float(total), group, data.device) / max(
        1.0, distributed.total(count, group, data.device)
    )


def _global_loss(loss: torch.Tensor, weight: int, run: _Run) -> torch.Tensor:
    """In a group: this rank's loss scaled so that DDP's mean gradient is the global batch's.

    A rank's loss is its data term over its own weight (ratings or rows); DDP
    averages the world's gradients. Scaling by world * weight / global weight
    makes that average the gradient of the sum over ranks divided by the
    global weight: exactly the single process's objective on the whole batch.
    """
    if run.group is None:
        return loss
    weight_total = distributed.total(weight, run.group, run.device)
    return loss * (run.group.world * weight / weight_total)


def _idle_steps(run: _Run, steps: int) -> None:
    """A rank with no rows in a batch joins its weight count and gradient exchanges with zeros."""
    distributed.total(0, run.group, run.device)
    for _ in range(steps):
        run.stepper.step(sum(p.sum() * 0.0 for p in run.model.parameters()))  # type: ignore[arg-type]


def lbfgs_epoch(run: _Run, cfg: TrainConfig, progress: Progress) -> float:
    """One L-BFGS step over every row: the exact objective, L2 terms included, in fp32.

    Noise (if any) is drawn once per epoch, so the objective holds still
    during the step's line searches. One process only (the loop refuses a group).
    """
    model, data = run.model, run.rating
    model.train()
    corrupt = corrupter(cfg.noise, cfg.noise_level)
    batch = model.make_batch(data, torch.from_numpy(run.rows).to(data.device), corrupt)
    groups = [g for g in decay_groups(model, cfg, run.norm_total) if g["weight_decay"]]
    reported: list[torch.Tensor] = []

    def closure() -> torch.Tensor:
        run.opt.zero_grad(set_to_none=True)
        pred = model(batch, Targets(pattern=batch.observed))
        objective = model.objective(batch, pred.float(), cfg.loss)
        loss = objective.loss
        for group in groups:  # weight decay wd is the gradient of wd/2 ||p||^2
            for param in group["params"]:
                loss = loss + group["weight_decay"] / 2 * param.pow(2).sum()
        loss.backward()
        reported.append(objective.data_term)
        return loss

    run.opt.step(closure)  # type: ignore[arg-type]
    model.after_step()
    progress.advance()
    return float(reported[-1])


def _refeed(run: _Run, batch: Batch, output: torch.Tensor, steps: int) -> None:
    """Dense re-feeding (Kuchaiev and Ginsburg): f(x) is a new input with target f(x).

    In a group each rank's mean over its own rows is averaged: equal to the
    global mean when the shares are equal in size (all but a last short batch).
    """
    stepper: Stepper = run.stepper
    for _ in range(steps):
        refed = Batch(batch.rows, output, None, batch.observed, batch.data)
        with stepper.autocast():
            out = run.forward(refed, Targets()).float()
            loss = (out - output).pow(2).mean()
        stepper.step(loss)
        output = out.detach()
