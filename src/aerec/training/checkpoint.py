"""What a training run leaves on disk, and how it is read back.

Two files, one meaning each (as pytorch/examples keeps checkpoint and best
model apart):

- `checkpoint.pt`: the resume state of the selection run: model, optimizer,
  scheduler, RNG states, best score, early-stop counter, history, and the
  validation-best weights. Only training reads it.
- `model.pt`: what is served. The validation-best epoch's weights, or with
  `train.refit` the refit's last weights; written once training is done.
  Evaluate and recommend read only this.

Both carry the run's identity (model key and config, the results-relevant
training settings, the device type, the data fingerprint and the sizes the
model was built for) and a SHA-256 of their weights, checked on every load,
so a damaged file is refused instead of scored.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import math
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from aerec.config import TrainConfig
from aerec.errors import AerecError
from aerec.io import atomic_path, write_text
from aerec.models import config_dict, model_class, model_config
from aerec.models.base import Autoencoder, DataSpec
from aerec.processed import TrainingData

CHECKPOINT_FILE = "checkpoint.pt"
MODEL_FILE = "model.pt"
HISTORY_FILE = "history.csv"
# Where a refit runs (resumably) before its weights become model.pt.
REFIT_DIR = "refit"
HISTORY_COLUMNS = ("epoch", "train_loss", "val_rmse", "val_recall20", "seconds", "ratings_per_s")
_CHECKPOINT_FORMAT = "aerec-checkpoint"
_MODEL_FORMAT = "aerec-model"
_VERSION = 2
# Not part of a run's identity: which models the pipeline trains, autocast
# (recorded as applied, below), and refit (it follows the finished selection
# run, which it does not change; model.pt records whether it was refitted).
_NOT_IDENTITY = {"model", "models", "amp", "refit"}


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


def identity(
    key: str,
    block: dict[str, Any],
    cfg: TrainConfig,
    data: TrainingData,
    spec: DataSpec,
    device: torch.device,
    world: int = 1,
) -> dict[str, Any]:
    """What makes two runs the same run: everything that changes the result, nothing else.

    The thread settings (runtime) are not in it; the device type is (CPU and
    CUDA kernels sum differently), and so are autocast where it applies (CUDA)
    and the number of data-parallel processes (their gradients sum in another
    order, their noise is drawn per process).
    """
    return {
        "model_key": key,
        "model_config": config_dict(model_config(key, block)),
        "train_config": cfg.model_dump(mode="json", exclude=_NOT_IDENTITY),
        "device": device.type,
        "amp": cfg.amp if device.type == "cuda" else "off",
        "world": world,
        "data": data.fingerprint(),
        "spec": vars(spec).copy(),
    }


def changed(saved: dict[str, Any], ident: dict[str, Any]) -> str | None:
    """What differs between a saved run and this one ("model config", ...), or None."""
    for name in ident:
        if saved.get(name) != ident[name]:
            return name.replace("_", " ")
    return None


def weights_hash(state: dict[str, Tensor] | None) -> str | None:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    if state is None:
        return None
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def clone_state(model: Autoencoder) -> dict[str, Tensor]:
    """A CPU copy of the model's weights and buffers."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def save_checkpoint(
    path: Path, ident: dict[str, Any], state: RunState, resume: dict[str, Any]
) -> None:
    """Write the resume state atomically (temp file, then rename)."""
    ckpt = {
        "format": _CHECKPOINT_FORMAT,
        "version": _VERSION,
        **ident,
        "best_state": state.best_model,
        "best_state_sha256": weights_hash(state.best_model),
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "best_score": state.best_score,
        "bad_epochs": state.bad_epochs,
        "done": state.done,
        "history": state.history,
        "resume": resume,
        "resume_sha256": weights_hash(resume["model"]),
    }
    _save(ckpt, path)


def save_model(
    path: Path, ident: dict[str, Any], weights: dict[str, Tensor], info: dict[str, Any]
) -> None:
    """Write the served model atomically: identity, weights, their hash, and `info`."""
    model = {
        "format": _MODEL_FORMAT,
        "version": _VERSION,
        **ident,
        **info,
        "weights": weights,
        "weights_sha256": weights_hash(weights),
    }
    _save(model, path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's dict, its hashes checked; a damaged or foreign file is an AerecError."""
    ckpt = _read(Path(path), _CHECKPOINT_FORMAT, "delete it or train again with --restart")
    _check_hash(path, ckpt["best_state"], ckpt.get("best_state_sha256"))
    _check_hash(path, ckpt["resume"]["model"], ckpt.get("resume_sha256"))
    return ckpt


def load_model(path: Path | str, device: torch.device | str = "cpu") -> tuple[Autoencoder, dict]:
    """The served model of `path` (model.pt) in eval mode, and its info dict.

    `info` holds the identity (model key and config, train config, device,
    data fingerprint, spec), the selected epoch and score, the epochs run and,
    after a refit, `refit` (its epochs and training ratings).
    """
    path = Path(path)
    saved = _read(path, _MODEL_FORMAT, "train the model again (aerec train)")
    _check_hash(path, saved["weights"], saved.get("weights_sha256"))
    model = model_from(path, saved)
    try:
        model.load_state_dict(saved["weights"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1].strip()
        key = saved["model_key"]
        raise AerecError(f"{path}: weights do not fit model '{key}' ({first})") from exc
    model.to(device).eval()
    return model, {k: v for k, v in saved.items() if k != "weights"}


def model_from(path: Path, saved: dict[str, Any]) -> Autoencoder:
    """An untrained model of the architecture a saved file describes."""
    try:
        key = saved["model_key"]
        spec = DataSpec(**saved["spec"])
        return model_class(key)(model_config(key, saved["model_config"]), spec)
    except (KeyError, TypeError) as exc:
        raise AerecError(f"{path}: incomplete ({exc}); train the model again") from exc


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    """history.csv: one row per epoch (HISTORY_COLUMNS), written atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: "" if row[k] is None else row[k] for k in HISTORY_COLUMNS})
    write_text(buf.getvalue(), path)


def rng_state(device: torch.device) -> dict[str, Any]:
    """Every RNG a run draws from (torch, numpy, python, CUDA), as checkpointable values."""
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


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what `rng_state` saved."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def _save(obj: dict[str, Any], path: Path) -> None:
    """torch.save atomically; a full disk is one line, and the file on disk stays as it was."""
    try:
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
    except (OSError, RuntimeError) as exc:
        # torch reports a failed write as a RuntimeError whose text varies
        # ("file write failed", "iostream error", "unexpected pos"): ask the disk.
        full = getattr(exc, "errno", None) == errno.ENOSPC
        if not full and shutil.disk_usage(path.parent).free >= _tensor_bytes(obj) + 2**20:
            raise
        raise AerecError(
            f"{path}: no space left on its device (needed about {_megabytes(obj)} MB); "
            "the previous version is kept: free some space and run again"
        ) from None


def _megabytes(obj: Any) -> int:
    """The bytes of every tensor in `obj`, in MB rounded up."""
    return -(-_tensor_bytes(obj) // 2**20)


def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def _read(path: Path, fmt: str, hint: str) -> dict[str, Any]:
    if not path.is_file():
        what = "checkpoint" if fmt == _CHECKPOINT_FORMAT else "model"
        raise AerecError(f"{path}: no {what}; train a model first (aerec train)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise AerecError(
            f"{path}: not a readable {fmt} file ({exc.__class__.__name__}); {hint}"
        ) from exc
    if not isinstance(saved, dict) or saved.get("format") != fmt:
        raise AerecError(f"{path}: not an {fmt} file; {hint}")
    if saved.get("version") != _VERSION:
        raise AerecError(f"{path}: {fmt} version {saved.get('version')} is not {_VERSION}; {hint}")
    return saved


def _check_hash(path: Path, state: dict[str, Tensor] | None, expected: str | None) -> None:
    try:
        actual = weights_hash(state)
    except (AttributeError, TypeError, RuntimeError):  # not a dict of tensors
        actual = None
    if actual != expected or (state is not None and actual is None):
        raise AerecError(
            f"{path}: the weights do not match their SHA-256 (the file is damaged); "
            "delete it and train again (aerec train --restart)"
        )
