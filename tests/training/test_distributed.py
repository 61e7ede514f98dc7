"""Data-parallel training: real torchrun, real gloo processes, on this machine's CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.train_fixture import write_tiny

from aerec.training.checkpoint import read_checkpoint

pytestmark = pytest.mark.slow
TIMING = ("seconds", "ratings_per_s")


def _params(path: Path, processes: int, epochs: int, noise: str) -> Path:
    path.write_text(
        "train:\n  model: autorec\n"
        f"  epochs: {epochs}\n  batch_size: 16\n  lr: 0.003\n  patience: 0\n"
        f"  noise: {noise}\n  noise_level: 0.2\n"
        f"runtime:\n  device: cpu\n  threads: 1\n  processes: {processes}\n  max_restarts: 2\n"
        "models:\n  autorec:\n    hidden: 24\n    orientation: user\n"
    )
    return path


def _train(data: Path, out: Path, params: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "aerec.cli", "train", "--data", str(data), "--out", str(out)]
    cmd += ["--params", str(params)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return out


def _history(out: Path) -> list[dict]:
    rows = read_checkpoint(out / "checkpoint.pt")["history"]
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def test_two_gloo_processes_train_as_one_process_with_the_same_global_batch(
    tmp_path: Path,
) -> None:
    """Each rank's loss is scaled so DDP's mean gradient is the global batch's exactly.

    The two runs then differ only in float summation order (two partial
    gradients summed by all-reduce instead of one sum), which moves the
    weights by ~1e-7 per step: 1e-4 on the validation RMSE after 8 epochs is
    three orders of magnitude above that and far below any real difference
    (one epoch changes it by ~0.05 here).
    """
    data = write_tiny(tmp_path / "data", n_users=60, n_items=40)
    one = _train(data, tmp_path / "one", _params(tmp_path / "p1.yaml", 1, 8, "none"))
    _finish(one)
    two = _train(data, tmp_path / "two", _params(tmp_path / "p2.yaml", 2, 8, "none"))
    out = _finish(two)
    assert "train autorec on cpu: 8 epochs" in out
    a, b = _history(tmp_path / "one"), _history(tmp_path / "two")
    assert len(a) == len(b) == 8
    np.testing.assert_allclose(
        [r["val_rmse"] for r in b], [r["val_rmse"] for r in a], rtol=0, atol=1e-4
    )
    np.testing.assert_allclose(
        [r["train_loss"] for r in b], [r["train_loss"] for r in a], rtol=1e-4
    )
    # One rank wrote the files, and the served model is the same.
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "checkpoint.pt",
        "history.csv",
        "model.pt",
    ]
    wa = torch.load(tmp_path / "one" / "model.pt", weights_only=True)["weights"]
    wb = torch.load(tmp_path / "two" / "model.pt", weights_only=True)["weights"]
    for key in wa:
        torch.testing.assert_close(wb[key], wa[key], rtol=0, atol=1e-4)
    assert torch.load(tmp_path / "two" / "model.pt", weights_only=True)["world"] == 2


def _ranks(launcher: subprocess.Popen) -> list[int]:
    """The pids of the worker processes torchrun (exec'd by `aerec train`) started."""
    out = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def test_kill_9_of_one_rank_restarts_the_group_and_ends_as_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    data = write_tiny(tmp_path / "data", n_users=60, n_items=40)
    whole = _train(data, tmp_path / "whole", _params(tmp_path / "w.yaml", 2, 12, "none"))
    _finish(whole)
    killed = _train(data, tmp_path / "killed", _params(tmp_path / "k.yaml", 2, 12, "none"))
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and killed.poll() is None:
        if checkpoint.is_file() and len(read_checkpoint(checkpoint)["history"]) >= 3:
            break
        time.sleep(0.2)
    ranks = _ranks(killed)
    assert len(ranks) == 2, ranks
    os.kill(ranks[1], signal.SIGKILL)
    _finish(killed)
    assert _history(tmp_path / "killed") == _history(tmp_path / "whole")
