"""The training loop: resume equals an uninterrupted run, determinism, divergence, refit, noise."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from tests.train_fixture import TINY_BLOCKS, write_tiny
from tests.training.common import (
    _assert_same_run,
    _cfg,
    _csr,
    _served,
    _spec,
    _StopAfter,
    load_training_data,
)

from aerec.config import RuntimeConfig
from aerec.errors import AerecError
from aerec.inference import Predictor
from aerec.models import build_model
from aerec.models.sparse import SparseRows
from aerec.processed import TrainingData
from aerec.training import checkpoint as ck
from aerec.training import epochs, loop
from aerec.training.checkpoint import load_model, read_checkpoint
from aerec.training.loop import fit
from aerec.training.optim import corrupter
from aerec.training.progress import Progress


@pytest.mark.parametrize(
    ("key", "overrides"),
    [
        ("autorec", {"noise": "masking", "noise_level": 0.3}),
        ("vae", {}),  # dropout, sampling and the anneal step must all resume
        ("deep_ae", {"optimizer": "sgd", "lr_step": 2, "lr_gamma": 0.5, "patience": 2}),
        ("kernel_ae", {"optimizer": "lbfgs", "lr": 1.0, "lbfgs_iters": 3}),
    ],
)
def test_interrupted_then_resumed_equals_uninterrupted(
    key: str, overrides: dict[str, Any], data_dir: Path, tmp_path: Path
) -> None:
    data = load_training_data(data_dir)
    cfg = _cfg(model=key, **overrides)
    block = TINY_BLOCKS[key]
    fit(key, block, cfg, data, tmp_path / "straight", log=False)
    with pytest.raises(KeyboardInterrupt):
        fit(key, block, cfg, data, tmp_path / "resumed", log=False, on_epoch=_StopAfter(3))
    assert not (tmp_path / "resumed" / "model.pt").exists()  # nothing served mid-training
    assert read_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["epoch"] == 3
    summary = fit(key, block, cfg, data, tmp_path / "resumed", log=False)
    assert summary["resumed_from_epoch"] == 3
    _assert_same_run(tmp_path / "straight", tmp_path / "resumed")
    if key == "vae":
        model, _ = load_model(tmp_path / "resumed" / "model.pt")
        assert int(model.anneal_step) > 0


CUDA = RuntimeConfig(device="cuda")


def _params_file(path: Path, epochs: int) -> Path:
    path.write_text(
        "train:\n"
        f"  model: autorec\n  epochs: {epochs}\n  batch_size: 16\n  lr: 0.003\n"
        "  patience: 0\n"
        "runtime:\n  device: cpu\n  threads: 1\n"
        "models:\n  autorec:\n    hidden: 48\n"
    )
    return path


def _wait_for_epoch(ckpt: Path, proc: subprocess.Popen, epoch: int) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "training ended before it could be interrupted"
        if ckpt.exists():
            done = read_checkpoint(ckpt)["epoch"]
            if done >= epoch:
                return done
        time.sleep(0.02)
    raise AssertionError("no checkpoint in time")


@pytest.mark.slow
def test_cli_survives_sigint_and_kill_9_with_the_uninterrupted_result(tmp_path: Path) -> None:
    data = write_tiny(tmp_path / "data", n_users=120, n_items=80)
    params = _params_file(tmp_path / "params.yaml", epochs=60)
    out = tmp_path / "model"
    cmd = [sys.executable, "-m", "aerec.cli", "train", "--data", str(data), "--out", str(out)]
    cmd += ["--params", str(params)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    at_sigint = _wait_for_epoch(out / "checkpoint.pt", first, 2)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err

    second = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_epoch(out / "checkpoint.pt", second, at_sigint + 2)
    second.kill()  # SIGKILL: no handler runs, the last atomic checkpoint must hold
    second.communicate(timeout=60)

    third = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr
    assert "resumed after epoch" in " ".join(third.stdout.split())

    from aerec.config import load_params

    cfg = load_params(params)
    fit(
        "autorec",
        cfg.models["autorec"],
        cfg.train,
        load_training_data(data),
        tmp_path / "ref",
        log=False,
    )
    _assert_same_run(out, tmp_path / "ref")
    with (out / "history.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 61))


def test_same_seed_gives_identical_runs_and_another_seed_does_not(
    data_dir: Path, tmp_path: Path
) -> None:
    data = load_training_data(data_dir)
    block = TINY_BLOCKS["deep_ae"]
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        fit("deep_ae", block, _cfg(model="deep_ae", seed=seed), data, tmp_path / name, log=False)
    _assert_same_run(tmp_path / "a", tmp_path / "b")
    ca, cc = (read_checkpoint(tmp_path / n / "checkpoint.pt") for n in ("a", "c"))
    assert ca["history"][-1]["val_rmse"] != cc["history"][-1]["val_rmse"]


def test_early_stopping_keeps_the_best_validation_epoch(data_dir: Path, tmp_path: Path) -> None:
    data = load_training_data(data_dir)
    # A large learning rate overfits fast, so validation RMSE turns up early.
    cfg = _cfg(epochs=60, lr=0.05, patience=3)
    summary = fit("autorec", {"hidden": 32, "l2": 0.0}, cfg, data, tmp_path, log=False)
    ckpt = read_checkpoint(tmp_path / "checkpoint.pt")
    scores = [row["val_rmse"] for row in ckpt["history"]]
    assert summary["epochs"] < 60 and summary["epochs"] == ckpt["best_epoch"] + 3
    assert ckpt["best_score"] == min(scores) == scores[ckpt["best_epoch"] - 1]
    assert ckpt["done"] is True


def test_history_csv_has_one_row_per_epoch(data_dir: Path, tmp_path: Path) -> None:
    fit("autorec", TINY_BLOCKS["autorec"], _cfg(epochs=3), load_training_data(data_dir), tmp_path)
    with (tmp_path / "history.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(ck.HISTORY_COLUMNS)
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert all(float(r["val_rmse"]) > 0 and r["val_recall20"] == "" for r in rows)


def test_a_finished_run_is_not_trained_again(data_dir: Path, tmp_path: Path) -> None:
    data = load_training_data(data_dir)
    fit("autorec", TINY_BLOCKS["autorec"], _cfg(epochs=2), data, tmp_path, log=False)
    again = fit("autorec", TINY_BLOCKS["autorec"], _cfg(epochs=2), data, tmp_path, log=False)
    assert again["resumed_from_epoch"] == 2 and again["epochs"] == 2


def test_checkpoint_of_another_config_is_an_error_unless_restart(
    data_dir: Path, tmp_path: Path
) -> None:
    data = load_training_data(data_dir)
    fit("autorec", TINY_BLOCKS["autorec"], _cfg(epochs=2), data, tmp_path, log=False)
    with pytest.raises(AerecError, match="different model config; pass --restart to start over"):
        fit("autorec", {"hidden": 5}, _cfg(epochs=2), data, tmp_path, log=False)
    with pytest.raises(AerecError, match="different train config"):
        fit("autorec", TINY_BLOCKS["autorec"], _cfg(epochs=3), data, tmp_path, log=False)
    summary = fit("autorec", {"hidden": 5}, _cfg(epochs=2), data, tmp_path, restart=True)
    assert summary["resumed_from_epoch"] is None
    assert read_checkpoint(tmp_path / "checkpoint.pt")["model_config"]["hidden"] == 5
    # A pipeline re-run: same config resumes, another config starts over.
    again = fit("autorec", {"hidden": 5}, _cfg(epochs=2), data, tmp_path, restart_if_changed=True)
    assert again["resumed_from_epoch"] == 2 and again["trained_epochs"] == 0
    other = fit("autorec", {"hidden": 6}, _cfg(epochs=2), data, tmp_path, restart_if_changed=True)
    assert other["resumed_from_epoch"] is None and other["trained_epochs"] == 2
    assert read_checkpoint(tmp_path / "checkpoint.pt")["model_config"]["hidden"] == 6


def test_corrupt_or_foreign_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(AerecError, match=r"not a readable aerec-checkpoint file .* --restart"):
        read_checkpoint(path)
    torch.save({"state_dict": {}}, path)
    with pytest.raises(AerecError, match="not an aerec-checkpoint file"):
        read_checkpoint(path)
    with pytest.raises(AerecError, match="no checkpoint"):
        read_checkpoint(tmp_path / "absent.pt")
    with pytest.raises(AerecError, match="no model; train a model first"):
        load_model(tmp_path / "absent.pt")


def test_cli_reports_bad_input_in_one_line(data_dir: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  model: autorec\nmodels:\n  autorec:\n    hiden: 3\n")
    cmd = [sys.executable, "-m", "aerec.cli", "train", "--data", str(data_dir)]
    cmd += ["--out", str(tmp_path / "m"), "--params", str(params)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "aerec: error: models.autorec.hiden: unknown key; the keys are fill, hidden, "
        "hidden_activation, l2, orientation, output_activation"
    ]
    missing = tmp_path / "nothing"
    with pytest.raises(AerecError) as err:
        load_training_data(missing)
    assert str(err.value) == (
        f"{missing / 'train.npz'}: not found; run the build stage first (aerec build)"
    )


def test_bad_build_outputs_are_one_line_errors(tmp_path: Path) -> None:
    data = write_tiny(tmp_path / "data")
    (data / "stats.json").write_text('{"global_mean": 3.5}')
    with pytest.raises(AerecError, match=r"stats.json: needs scale.min and scale.max"):
        load_training_data(data)
    write_tiny(data)
    for garbage in (b"garbage", b"PK\x03\x04 cut short"):
        (data / "val.npz").write_bytes(garbage)
        with pytest.raises(AerecError, match=r"val.npz: not a scipy sparse .npz"):
            load_training_data(data)
    write_tiny(data)
    sp.save_npz(data / "item_side.npz", sp.csr_matrix(np.ones((3, 2), np.float32)))
    with pytest.raises(AerecError, match=r"item_side.npz: shape 3 x 2, expected 20 x 2 like"):
        load_training_data(data)
    write_tiny(data)
    (data / "item_side.npz").unlink()  # absent side info is side info with 0 columns
    assert load_training_data(data).item_side.shape == (20, 0)


def test_masking_noise_drops_and_rescales_observed_inputs_only() -> None:
    rows = SparseRows.from_scipy(_csr([[1, 0, 2, 3], [0, 4, 0, 5]]))
    torch.manual_seed(0)
    keep = torch.rand(5) >= 0.4
    torch.manual_seed(0)
    noisy = corrupter("masking", 0.4)(rows)
    assert noisy.nnz == int(keep.sum())
    expected = rows.to_dense() * 0
    expected[rows.row_ids()[keep], rows.indices[keep]] = rows.values[keep] / 0.6
    torch.testing.assert_close(noisy.to_dense(), expected)


def test_gaussian_noise_changes_observed_values_and_keeps_the_pattern() -> None:
    rows = SparseRows.from_scipy(_csr([[1, 0, 2, 3], [0, 4, 0, 5]]))
    torch.manual_seed(0)
    eps = torch.randn(5)
    torch.manual_seed(0)
    noisy = corrupter("gaussian", 0.5)(rows)
    assert torch.equal(noisy.indices, rows.indices) and torch.equal(noisy.indptr, rows.indptr)
    torch.testing.assert_close(noisy.values, rows.values + 0.5 * eps)
    assert corrupter("none", 0.5) is None and corrupter("masking", 0.0) is None


def test_dense_refeeding_feeds_the_dense_output_back_as_input(data_dir: Path) -> None:
    data = load_training_data(data_dir)
    block = {**TINY_BLOCKS["deep_ae"], "refeed_steps": 2, "refeed_start_epoch": 1}
    cfg = _cfg(model="deep_ae", batch_size=64)
    run = loop._setup("deep_ae", block, cfg, data, _spec(data), torch.device("cpu"))
    calls: list[tuple[Any, torch.Tensor]] = []
    run.model.register_forward_hook(lambda m, a, out: calls.append((a[0].inputs, out.detach())))
    progress = Progress(False, 2)

    epochs.train_epoch(run, cfg, 0, 64, progress)
    assert len(calls) == 1 and isinstance(calls[0][0], SparseRows)  # before the start epoch
    calls.clear()
    epochs.train_epoch(run, cfg, 1, 64, progress)
    assert len(calls) == 3
    (first_in, first_out), (second_in, second_out), (third_in, _) = calls
    assert isinstance(first_in, SparseRows) and first_out.shape == (30, 20)
    assert torch.equal(second_in, first_out) and torch.equal(third_in, second_out)


def test_predict_is_user_by_item_for_item_based_models(data_dir: Path, tmp_path: Path) -> None:
    data = load_training_data(data_dir)
    fit("autorec", TINY_BLOCKS["autorec"], _cfg(epochs=2), data, tmp_path, log=False)
    model, info = load_model(tmp_path / "model.pt")
    assert model.orientation == "item" and info["model_key"] == "autorec"
    full = Predictor(model, data.train).rows(np.arange(30))
    assert full.shape == (30, 20)
    # Fewer output columns change the matmul's blocking: equal to float rounding.
    subset = Predictor(model, data.train).rows(np.array([4, 2]))
    np.testing.assert_allclose(subset, full[[4, 2]], rtol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", ["bf16", "fp16", "off"])
def test_cuda_training_matches_the_cpu_kernels_and_learns(
    amp: str, data_dir: Path, tmp_path: Path
) -> None:
    data = load_training_data(data_dir)
    for key in ("autorec", "deep_ae", "vae", "combined"):
        cfg = _cfg(model=key, amp=amp, epochs=8)
        fit(key, TINY_BLOCKS[key], cfg, data, tmp_path / key, log=False, runtime=CUDA)
        load_model(tmp_path / key / "model.pt", device="cuda")
        history = read_checkpoint(tmp_path / key / "checkpoint.pt")["history"]
        losses = [row["train_loss"] for row in history]
        assert max(losses[-2:]) < losses[0], key
    torch.manual_seed(0)
    cpu_model = build_model("autorec", TINY_BLOCKS["autorec"], _spec(data)).eval()
    gpu_model = build_model("autorec", TINY_BLOCKS["autorec"], _spec(data)).eval()
    gpu_model.load_state_dict(cpu_model.state_dict())
    gpu_model.cuda()
    users, items = np.array([0, 3, 9, 9]), np.array([1, 1, 4, 7])
    gpu, cpu = Predictor(gpu_model, data.train), Predictor(cpu_model, data.train)
    np.testing.assert_allclose(
        gpu.pairs(users, items), cpu.pairs(users, items), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(
        gpu.rows(np.arange(5)),
        cpu.rows(np.arange(5)),
        rtol=1e-4,
        atol=1e-4,
    )


def _holdout_dir(directory: Path) -> Path:
    """The tiny fixture as a user-holdout build: users 24-29 are validation users.

    Their ratings are split into fold-in (input only) and held-out (to predict)
    parts, as build's user_holdout split writes them.
    """
    write_tiny(directory)
    full = (sp.load_npz(directory / "train.npz") + sp.load_npz(directory / "val.npz")).tocsr()
    val_users = np.zeros(full.shape[0], bool)
    val_users[24:] = True
    coo = full.tocoo()
    heldout = (coo.col % 3 == 0) & val_users[coo.row]
    foldin = ~heldout & val_users[coo.row]
    train = ~val_users[coo.row]
    for name, mask in (("train", train), ("val", heldout), ("val_foldin", foldin)):
        part = sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=full.shape)
        sp.save_npz(directory / f"{name}.npz", part)
    return directory


def test_user_holdout_validation_reads_the_validation_users_fold_in_ratings(
    tmp_path: Path,
) -> None:
    data = load_training_data(_holdout_dir(tmp_path / "d"))
    assert data.train[24:].nnz == 0 and data.val_inputs[24:].nnz > 0
    block = {"hidden": 12, "orientation": "user", "l2": 0.0}
    fit("autorec", block, _cfg(epochs=12, lr=0.05), data, tmp_path / "m", log=False)
    model, info = load_model(tmp_path / "m" / "model.pt")
    history = read_checkpoint(tmp_path / "m" / "checkpoint.pt")["history"]
    logged = history[info["selected_epoch"] - 1]["val_rmse"]
    val = data.val.tocoo()

    def rmse(inputs: sp.csr_matrix) -> float:
        pred = Predictor(model, inputs).pairs(val.row, val.col).astype(np.float64)
        return float(np.sqrt(np.mean((pred - val.data) ** 2)))

    # Scored reading train + fold-in, not the validation users' empty training rows.
    assert logged == pytest.approx(rmse(data.val_inputs), rel=1e-6)
    assert abs(rmse(data.train) - logged) > 0.05


def test_changing_the_threads_resumes_instead_of_restarting(data_dir: Path, tmp_path: Path) -> None:
    data = load_training_data(data_dir)
    one = RuntimeConfig(device="cpu", threads=1)
    fit("autorec", TINY_BLOCKS["autorec"], _cfg(epochs=3), data, tmp_path, log=False, runtime=one)
    again = fit(
        "autorec",
        TINY_BLOCKS["autorec"],
        _cfg(epochs=3),
        data,
        tmp_path,
        log=False,
        runtime=RuntimeConfig(device="cpu", threads=2, torch_threads=2),
        restart_if_changed=True,
    )
    assert again["resumed_from_epoch"] == 3 and again["trained_epochs"] == 0


def test_a_diverging_run_stops_with_one_line_and_keeps_the_last_good_checkpoint(
    data_dir: Path, tmp_path: Path
) -> None:
    data = load_training_data(data_dir)
    cfg = _cfg(optimizer="sgd", lr=50.0, epochs=10)  # explodes to inf within a few epochs
    with pytest.raises(AerecError) as err:
        fit("autorec", TINY_BLOCKS["autorec"], cfg, data, tmp_path, log=False)
    ckpt = read_checkpoint(tmp_path / "checkpoint.pt")
    good = ckpt["epoch"]
    assert 1 <= good < 10 and ckpt["done"] is False
    assert str(err.value) == (
        f"epoch {good + 1}: the training loss is inf (training diverged); no model was saved "
        f"and the checkpoint keeps epoch {good}; lower train.lr (now 50) and train again "
        "with --restart"
    )
    assert all(np.isfinite(row["train_loss"]) for row in ckpt["history"])
    assert not (tmp_path / "model.pt").exists()


def test_a_diverging_refit_is_refused_and_leaves_no_model(data_dir: Path, tmp_path: Path) -> None:
    data = load_training_data(data_dir)
    val = data.val.copy()
    val.data[0] = 1e20  # finite in float32, but its squared error is not
    wild = TrainingData.of(data.train, val, 1.0, 5.0)
    cfg = _cfg(optimizer="sgd", lr=0.01, epochs=3, refit=True)
    with pytest.raises(AerecError, match=r"^refit epoch 1: the training loss is inf"):
        loop.refit("autorec", TINY_BLOCKS["autorec"], cfg, wild, tmp_path, 3)
    assert not (tmp_path / "model.pt").exists()


def test_a_refit_replaces_the_model_of_the_run_without_one(data_dir: Path, tmp_path: Path) -> None:
    """Turning refit on resumes the finished selection run; the old model.pt never survives."""
    data = load_training_data(data_dir)
    fit("autorec", TINY_BLOCKS["autorec"], _cfg(epochs=4), data, tmp_path, log=False)
    assert _served(tmp_path)["refit"] is None
    with pytest.raises(KeyboardInterrupt):  # in the refit's first epoch
        fit("autorec", TINY_BLOCKS["autorec"], _cfg(epochs=4, refit=True), data, tmp_path,
            log=False, on_epoch=_StopAfter(1))  # fmt: skip
    assert not (tmp_path / "model.pt").exists()
    summary = fit("autorec", TINY_BLOCKS["autorec"], _cfg(epochs=4, refit=True), data, tmp_path)
    assert summary["trained_epochs"] == 0 and _served(tmp_path)["refit"]["epochs"] == 4


def test_a_damaged_model_file_is_refused(data_dir: Path, tmp_path: Path) -> None:
    """A flipped bit inside the weights fails their SHA-256; bad shapes are one line too."""
    import zipfile

    fit("autorec", TINY_BLOCKS["autorec"], _cfg(epochs=1), load_training_data(data_dir), tmp_path)
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path) as archive:
        entries = {info: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(tmp_path / "flipped.pt", "w") as out:
        for info, payload in entries.items():
            if "/data/" in info.filename and len(payload) > 64:
                payload = payload[:40] + bytes([payload[40] ^ 0x10]) + payload[41:]
            out.writestr(info, payload)
    with pytest.raises(AerecError, match=r"flipped.pt: the weights do not match their SHA-256"):
        load_model(tmp_path / "flipped.pt")
    saved = _served(tmp_path)
    saved["weights"]["enc_weight"] = saved["weights"]["enc_weight"][:3]
    saved["weights_sha256"] = ck.weights_hash(saved["weights"])
    torch.save(saved, tmp_path / "cut.pt")
    with pytest.raises(AerecError, match=r"cut.pt: weights do not fit model 'autorec' \(size"):
        load_model(tmp_path / "cut.pt")
