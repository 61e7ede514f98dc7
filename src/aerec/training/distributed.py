"""Data-parallel training on torch.distributed: the group, the shards and the few collectives.

`aerec train` run under `torchrun` (or with `runtime.processes` above 1, which
re-launches it under torchrun) trains with DistributedDataParallel: NCCL on
GPUs, gloo on CPUs. Every rank holds the whole training matrix (the rows a
batch needs are cut from it on the device) and takes its share of each global
batch, so the batch order is the single process's. Each rank's loss is scaled
so that DDP's averaged gradient is exactly the gradient of the global batch's
objective; only rank 0 validates (and broadcasts the scores, so every rank
stops at the same epoch) and writes checkpoint.pt, history.csv and model.pt.
The checkpoint carries every rank's RNG state, so after any rank dies torchrun
restarts the group (`--max-restarts`) and each rank resumes exactly.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Group:
    """This process's place in the training group."""

    rank: int
    world: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> Group | None:
    """The group torchrun describes in the environment, or None outside a group of two or more."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world < 2:
        return None
    return Group(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def start(group: Group, device: torch.device) -> None:
    """Join the process group (NCCL for CUDA, gloo otherwise) once per process.

    The group's keys live under a prefix of torchrun's restart count: after a
    restart the store still holds the dead round's addresses under the plain
    keys, and a rank that read one connected to a closed port ("Connection
    refused") instead of its restarted peer.
    """
    if dist.is_initialized():
        return
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        group.world,
        is_master=not agent_store and group.is_main,
    )
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    dist.init_process_group(
        "nccl" if device.type == "cuda" else "gloo",
        store=dist.PrefixStore(f"aerec/restart-{restart}/", store),
        rank=group.rank,
        world_size=group.world,
    )


def shard(rows: np.ndarray, group: Group | None) -> np.ndarray:
    """This rank's share of a global batch: every world-th row, from its rank on."""
    return rows if group is None else rows[group.rank :: group.world]


def total(value: float | int, group: Group | None, device: torch.device) -> float:
    """The sum of `value` over the ranks (the value itself outside a group)."""
    if group is None:
        return float(value)
    tensor = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item())


def from_main(value: Any, group: Group | None) -> Any:
    """Rank 0's `value` on every rank (an object broadcast)."""
    if group is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any, group: Group | None) -> list[Any]:
    """Every rank's `value`, in rank order (a one-element list outside a group)."""
    if group is None:
        return [value]
    out: list[Any] = [None] * group.world
    dist.all_gather_object(out, value)
    return out


def barrier(group: Group | None) -> None:
    """Wait for every rank (a no-op outside a group)."""
    if group is not None:
        dist.barrier()


def relaunch(processes: int, max_restarts: int) -> NoReturn:
    """Run this very command again under torchrun with `processes` local processes.

    The process is replaced (exec), so signals and the exit code are
    torchrun's; its workers see WORLD_SIZE and train as one group.
    """
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    argv += [f"--nproc-per-node={processes}", f"--max-restarts={max_restarts}"]
    argv += ["-m", "aerec.cli", *sys.argv[1:]]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)
