"""The process context of training and inference: the device and the CPU threads.

One function, `configure`, used by train, evaluate and recommend alike, so a
model is scored with the same thread settings it was trained with.
"""

from __future__ import annotations

import os

import torch

from aerec.config import RuntimeConfig
from aerec.errors import AerecError
from aerec.models.sparse import set_cpu_threads


def cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pick_device(name: str) -> torch.device:
    """The torch device for `runtime.device` (auto: CUDA when present)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise AerecError("runtime.device: 'cuda' asked for but no CUDA device; use auto or cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def configure(cfg: RuntimeConfig) -> torch.device:
    """Pick the device and, on the CPU, set torch's and the sparse products' threads.

    Under torchrun each process of a machine takes the GPU of its local rank.
    """
    device = pick_device(cfg.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.torch_threads or cores())
        set_cpu_threads(cfg.threads or cores())
    return device
