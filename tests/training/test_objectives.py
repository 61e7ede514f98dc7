"""Objectives and optimizers of training: masked BCE, refused MSE, L-BFGS, refit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from tests.train_fixture import TINY_BLOCKS, write_tiny
from tests.training.common import (
    _cfg,
    _served,
    _StopAfter,
    load_training_data,
)

from aerec.errors import AerecError
from aerec.inference import Predictor
from aerec.models import build_model
from aerec.models.base import Batch, DataSpec, RatingData, Targets
from aerec.models.sparse import SparseRows
from aerec.processed import TrainingData
from aerec.training.checkpoint import load_model, read_checkpoint
from aerec.training.loop import fit


def _thumbs(data: Any) -> Any:
    """The tiny data under the thumbs transform: 4-5 -> 1.0, 1-3 -> 0.1."""

    def thumbs(m: sp.csr_matrix) -> sp.csr_matrix:
        out = m.copy()
        out.data = np.where(out.data >= 4, 1.0, 0.1).astype(np.float32)
        return out

    return TrainingData.of(thumbs(data.train), thumbs(data.val), 0.1, 1.0)


def test_masked_bce_is_the_cross_entropy_of_the_observed_entries_only() -> None:
    observed = SparseRows.from_scipy(sp.csr_matrix(np.array([[1.0, 0.0, 0.1], [0.0, 1.0, 0.0]])))
    batch = Batch(torch.arange(2), observed, None, observed, None)  # type: ignore[arg-type]
    model = build_model("autorec", {"hidden": 2, "output_activation": "sigmoid"}, DataSpec(2, 3))
    pred = torch.tensor([0.8, 0.3, 0.6])  # at (0,0), (0,2), (1,1): the observed entries
    objective = model.objective(batch, pred, "bce")
    expected = -(np.log(0.8) + 0.1 * np.log(0.3) + 0.9 * np.log(0.7) + np.log(0.6)) / 3
    assert float(objective.loss) == pytest.approx(expected, rel=1e-6)
    assert float(objective.data_term) == pytest.approx(expected, rel=1e-6)
    assert objective.weight == 3
    mse = model.objective(batch, pred, "mse").loss
    assert float(mse) == pytest.approx((0.2**2 + 0.2**2 + 0.4**2) / 3, rel=1e-6)


def test_bce_training_learns_thumbs_data(tmp_path: Path) -> None:
    data = _thumbs(load_training_data(write_tiny(tmp_path / "d", 200, 60, density=0.4)))
    block = {"hidden": 12, "output_activation": "sigmoid", "l2": 1.0}
    fit("autorec", block, _cfg(epochs=20, batch_size=16, loss="bce"), data, tmp_path, log=False)
    history = read_checkpoint(tmp_path / "checkpoint.pt")["history"]
    assert history[-1]["train_loss"] < 0.75 * history[0]["train_loss"]
    # Better than predicting the training mean everywhere (RMSE 0.431 on this fixture).
    mean_rmse = float(np.sqrt(((data.val.data - data.train.data.mean()) ** 2).mean()))
    assert history[-1]["val_rmse"] < 0.85 * mean_rmse
    model, _ = load_model(tmp_path / "model.pt")
    scores = Predictor(model, data.train).rows(np.arange(data.train.shape[0]))
    assert scores.min() >= 0.0 and scores.max() <= 1.0  # a sigmoid's scores, never clipped


@pytest.mark.parametrize(
    ("key", "block", "thumbs", "message"),
    [
        ("autorec", {"hidden": 4}, True, "bce needs outputs in \\[0, 1\\]; give model 'autorec'"),
        ("autorec", {"hidden": 4, "output_activation": "sigmoid"}, False, "span 1..5; set build"),
        ("vae", TINY_BLOCKS["vae"], True, "model 'vae', which has a multinomial likelihood"),
    ],
)
def test_bce_on_the_wrong_model_or_data_is_one_clear_error(
    data_dir: Path, tmp_path: Path, key: str, block: dict[str, Any], thumbs: bool, message: str
) -> None:
    data = load_training_data(data_dir)
    data = _thumbs(data) if thumbs else data
    with pytest.raises(AerecError, match=message):
        fit(key, block, _cfg(loss="bce"), data, tmp_path, log=False)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_bce_on_positives_only_is_refused(data_dir: Path, tmp_path: Path) -> None:
    data = load_training_data(data_dir)
    train, val = data.train.copy(), data.val.copy()
    train.data[:], val.data[:] = 1.0, 1.0  # the binarize transform keeps positives only
    ones = TrainingData.of(train, val, 0.0, 1.0)
    block = {"hidden": 4, "output_activation": "sigmoid"}
    with pytest.raises(AerecError, match="needs negatives among them, but every training value"):
        fit("autorec", block, _cfg(loss="bce"), ones, tmp_path, log=False)


@pytest.mark.parametrize("key", ["autorec", "deep_ae"])
def test_mse_on_positives_only_is_refused_with_what_to_use(
    data_dir: Path, tmp_path: Path, key: str
) -> None:
    data = load_training_data(data_dir)
    train, val = data.train.copy(), data.val.copy()
    train.data[:], val.data[:] = 1.0, 1.0
    ones = TrainingData.of(train, val, 0.0, 1.0)
    with pytest.raises(AerecError) as error:
        fit(key, TINY_BLOCKS[key], _cfg(loss="mse"), ones, tmp_path, log=False)
    assert str(error.value) == (
        "train.loss: mse over observed entries that are all 1 (build.transform binarize keeps "
        f"positives only) fits a constant, so model '{key}' would rank nothing; use the vae "
        "(multinomial likelihood), or loss bce with build.transform thumbs"
    )
    assert not (tmp_path / "checkpoint.pt").exists()
    fit("vae", TINY_BLOCKS["vae"], _cfg(epochs=1), ones, tmp_path / "vae", log=False)
    assert (tmp_path / "vae" / "model.pt").is_file()


def test_lbfgs_reaches_a_stationary_point_of_the_stated_objective(
    data_dir: Path, tmp_path: Path
) -> None:
    """Full batch, L2 included: the gradient of SSE/N + lambda/(2N) ||W||^2 ends near zero."""
    data = load_training_data(data_dir)
    block = {"hidden": 6, "l2": 2.0}
    cfg = _cfg(optimizer="lbfgs", lr=1.0, lbfgs_iters=50, epochs=8)
    fit("autorec", block, cfg, data, tmp_path, log=False)
    model, _ = load_model(tmp_path / "model.pt")  # the best epoch's weights
    model.load_state_dict(read_checkpoint(tmp_path / "checkpoint.pt")["resume"]["model"])
    rating = RatingData(data.train, torch.device("cpu"), None, None)
    rows = torch.arange(model.n_rows)

    def grad_norm(m: torch.nn.Module, lam: float = 2.0) -> float:
        m.zero_grad()
        batch = m.make_batch(rating, rows)
        pred = m(batch, Targets(pattern=batch.observed))
        n = data.train.nnz
        loss = (pred - batch.observed.values).pow(2).sum() / n
        loss = loss + lam / (2 * n) * sum(w.pow(2).sum() for w in m.l2_weights())
        loss.backward()
        return float(torch.sqrt(sum(p.grad.pow(2).sum() for p in m.parameters())))

    start = build_model("autorec", block, model.spec)
    # 6e-5 against 2.5 at the start; without its L2 term the gradient is 0.07, not zero.
    assert grad_norm(model) < 1e-4 * grad_norm(start)
    assert grad_norm(model, lam=0.0) > 100 * grad_norm(model)
    history = read_checkpoint(tmp_path / "checkpoint.pt")["history"]
    assert len(history) == 8 and history[-1]["train_loss"] < history[0]["train_loss"]


def test_lbfgs_refuses_dense_refeeding(data_dir: Path, tmp_path: Path) -> None:
    block = {**TINY_BLOCKS["deep_ae"], "refeed_steps": 1}
    message = r"lbfgs does not do dense re-feeding; set models\.deep_ae"
    with pytest.raises(AerecError, match=message):
        fit("deep_ae", block, _cfg(optimizer="lbfgs"), load_training_data(data_dir), tmp_path)


def _merged(data: TrainingData) -> TrainingData:
    """Train + validation as training data, no validation ratings."""
    empty = sp.csr_matrix(data.val.shape, dtype=np.float32)
    merged = sp.csr_matrix(data.train + data.val)
    return TrainingData(merged, empty, merged, data.user_side, data.item_side, 1.0, 5.0)


def test_refit_trains_on_train_and_validation_for_the_epochs_validation_chose(
    data_dir: Path, tmp_path: Path
) -> None:
    data = load_training_data(data_dir)
    # A large learning rate overfits fast: validation stops the run well before 60.
    cfg = _cfg(epochs=60, lr=0.05, patience=3, refit=True)
    summary = fit("autorec", TINY_BLOCKS["autorec"], cfg, data, tmp_path / "run", log=False)
    ckpt = read_checkpoint(tmp_path / "run" / "checkpoint.pt")
    served = _served(tmp_path / "run")
    best = ckpt["best_epoch"]
    assert 1 <= best < 57 and summary["refit_epochs"] == best
    assert served["refit"] == {"epochs": best, "train_nnz": data.train.nnz + data.val.nnz}
    assert served["selected_epoch"] == best and served["data"] == data.fingerprint()
    assert len(ckpt["history"]) == best + 3  # the selection run's history is kept
    assert not (tmp_path / "run" / "refit").exists()
    # The model is what a plain run on train + validation for `best` epochs ends with.
    plain = _cfg(epochs=best, lr=0.05, patience=3)
    fit("autorec", TINY_BLOCKS["autorec"], plain, _merged(data), tmp_path / "ref", log=False)
    ref = read_checkpoint(tmp_path / "ref" / "checkpoint.pt")
    assert ref["epoch"] == best and ref["best_epoch"] == best  # no validation: the last epoch
    for key, value in ref["resume"]["model"].items():
        assert torch.equal(served["weights"][key], value), key
    # The checkpoint keeps the selection run's own best weights: one meaning per file.
    assert not torch.equal(served["weights"]["enc_weight"], ckpt["best_state"]["enc_weight"])
    again = fit("autorec", TINY_BLOCKS["autorec"], cfg, data, tmp_path / "run", log=False)
    assert again["refit_epochs"] == best and again["trained_epochs"] == 0


def test_an_interrupted_refit_resumes_to_the_uninterrupted_model(
    data_dir: Path, tmp_path: Path
) -> None:
    data = load_training_data(data_dir)
    cfg = _cfg(epochs=5, refit=True)
    fit("autorec", TINY_BLOCKS["autorec"], cfg, data, tmp_path / "straight", log=False)
    stop = _StopAfter(5 + 2)  # five epochs of selection, then two of the refit
    with pytest.raises(KeyboardInterrupt):
        fit("autorec", TINY_BLOCKS["autorec"], cfg, data, tmp_path / "resumed", log=False,
            on_epoch=stop)  # fmt: skip
    assert read_checkpoint(tmp_path / "resumed" / "refit" / "checkpoint.pt")["epoch"] == 2
    assert not (tmp_path / "resumed" / "model.pt").exists()
    fit("autorec", TINY_BLOCKS["autorec"], cfg, data, tmp_path / "resumed", log=False)
    a, b = (_served(tmp_path / n) for n in ("straight", "resumed"))
    best = read_checkpoint(tmp_path / "straight" / "checkpoint.pt")["best_epoch"]
    expected = {"epochs": best, "train_nnz": data.train.nnz + data.val.nnz}
    assert a["refit"] == b["refit"] == expected
    for key, value in a["weights"].items():
        assert torch.equal(value, b["weights"][key]), key


def test_cli_train_with_refit_says_so_and_leaves_checkpoint_history_and_model(
    data_dir: Path, tmp_path: Path
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "train:\n  model: autorec\n  epochs: 4\n  batch_size: 8\n  lr: 0.01\n  patience: 0\n"
        "  refit: true\nruntime:\n  device: cpu\n  threads: 1\n"
        "models:\n  autorec:\n    hidden: 12\n"
    )
    cmd = [sys.executable, "-m", "aerec.cli", "train", "--data", str(data_dir)]
    cmd += ["--out", str(tmp_path / "m"), "--params", str(params)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    epochs = _served(tmp_path / "m")["refit"]["epochs"]
    assert epochs == read_checkpoint(tmp_path / "m" / "checkpoint.pt")["best_epoch"]
    assert f"refit on train + validation for {epochs} epochs" in " ".join(result.stdout.split())
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert names == ["checkpoint.pt", "history.csv", "model.pt"]
