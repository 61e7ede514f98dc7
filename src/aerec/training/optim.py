"""What one optimisation step needs: parameter groups, optimizer, schedule, step, noise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from aerec.config import TrainConfig
from aerec.models.base import Autoencoder
from aerec.models.sparse import SparseRows


def decay_groups(model: Autoencoder, cfg: TrainConfig, norm_total: float) -> list[dict[str, Any]]:
    """Parameter groups with the weight decay each one's L2 terms amount to.

    The objective divides the data term by `norm_total` (observed ratings, or
    rows for multinomial models), so lambda/2 ||W||^2 contributes lambda/N * W
    to the gradient: weight decay lambda/N on the model's `l2_weights`, plus
    `train.weight_decay` on every parameter.
    """
    lam = model.config.l2
    decayed = {id(p) for p in model.l2_weights()} if lam else set()
    groups = [
        {"params": [p for p in model.parameters() if id(p) in decayed], "weight_decay": lam},
        {"params": [p for p in model.parameters() if id(p) not in decayed], "weight_decay": 0.0},
    ]
    for group in groups:
        group["weight_decay"] = cfg.weight_decay + group["weight_decay"] / norm_total
    return [g for g in groups if g["params"]]


def optimizer(model: Autoencoder, cfg: TrainConfig, norm_total: float) -> torch.optim.Optimizer:
    """Adam or momentum SGD with the L2 terms as weight decay (fused into the step), or L-BFGS."""
    if cfg.optimizer == "lbfgs":
        # One parameter group: the same L2 terms join the loss instead (loop.lbfgs_epoch).
        return torch.optim.LBFGS(
            model.parameters(),
            lr=cfg.lr,
            max_iter=cfg.lbfgs_iters,
            history_size=10,
            line_search_fn="strong_wolfe",
        )
    groups = decay_groups(model, cfg, norm_total)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    # The fused kernel makes one pass per tensor (CPU and CUDA), the loop several.
    return torch.optim.Adam(groups, lr=cfg.lr, fused=True)


def scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.StepLR:
    """Step decay of the learning rate (a constant rate when `lr_step` is 0)."""
    # step_size 10**9 keeps the rate constant while keeping one state layout.
    return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step or 10**9, gamma=cfg.lr_gamma)


class Stepper:
    """Backward, optional fp16 loss scaling, optimizer step, annealing hook."""

    def __init__(self, model: Autoencoder, opt: torch.optim.Optimizer, amp: str, dev: torch.device):
        self.model, self.opt = model, opt
        self.enabled = dev.type == "cuda" and amp != "off"
        self.dtype = torch.bfloat16 if amp == "bf16" else torch.float16
        self.device_type = dev.type
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.enabled and amp == "fp16")

    def autocast(self) -> Any:
        """The autocast context of the forward pass (a no-op off CUDA or with amp off)."""
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.enabled)

    def step(self, loss: Tensor) -> None:
        """One optimizer step on `loss`, then the model's after-step hook."""
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.model.after_step()


Corrupter = Callable[[SparseRows], SparseRows]


def corrupter(kind: str, level: float) -> Corrupter | None:
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
