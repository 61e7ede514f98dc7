"""The blend stage on a small low-rank build with a tiny I-AutoRec trained by fit."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from aerec import schema as s
from aerec.baselines import fit_baselines, save_baselines
from aerec.cli import main
from aerec.config import BaselineConfig, Params, RuntimeConfig, TrainConfig
from aerec.io import write_json
from aerec.matrix import save_csr
from aerec.processed import load_processed, read_csr
from aerec.stages import blend, evaluate
from aerec.training.checkpoint import read_checkpoint

CPU = RuntimeConfig(device="cpu", threads=1)
PARAMS = Params.model_validate({"dataset": {"name": "fixture"}})
MEMBERS = ["autorec", "biased_mf", "biases", "global_mean"]


def write_low_rank(out: Path, n_users: int = 40, n_items: int = 25) -> Path:
    """Build's output for a low-rank 1..5 matrix split 70/15/15 into train/val/test."""
    rng = np.random.default_rng(0)
    users, items = rng.normal(size=(n_users, 3)), rng.normal(size=(n_items, 3))
    ratings = np.clip(np.round(3 + users @ items.T), 1, 5).astype(np.float32)
    part = rng.choice(4, size=ratings.shape, p=[0.35, 0.35, 0.15, 0.15])  # 0: unrated
    out.mkdir(parents=True)
    matrices = {
        name: sp.csr_matrix(ratings * (part == k))
        for k, name in ((1, "train"), (2, "val"), (3, "test"))
    }
    for name, matrix in matrices.items():
        save_csr(matrix, out / f"{name}.npz")
    for n, id_col, idx_col, file in (
        (n_users, s.USER_ID, s.USER_IDX, s.USER_MAP_FILE),
        (n_items, s.ITEM_ID, s.ITEM_IDX, s.ITEM_MAP_FILE),
    ):
        ids = [f"{id_col[0]}{j}" for j in range(n)]
        pl.DataFrame({id_col: ids, idx_col: np.arange(n, dtype=np.int32)}).write_parquet(out / file)
    stats = {
        "dataset": "fixture",
        "scale": {"min": 1.0, "max": 5.0, "step": 1.0},
        "transform": "raw",
    }
    write_json(stats, out / s.BUILD_STATS_FILE)
    fitted = fit_baselines(
        matrices["train"], BaselineConfig(mf_factors=2, mf_iterations=5), (1.0, 5.0)
    )
    save_baselines(fitted, out / s.BASELINE_PARAMS_FILE)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with processed/ and models/autorec/ (4 hidden units, 3 epochs)."""
    from aerec.training.loop import fit

    root = tmp_path_factory.mktemp("blend")
    processed = write_low_rank(root / "processed")
    cfg = TrainConfig(epochs=3, batch_size=2, amp="off")
    data = load_processed(processed).training()
    fit("autorec", {"hidden": 4}, cfg, data, root / "models" / "autorec", log=False, runtime=CPU)
    return root


def test_metrics_hold_each_member_and_the_blend(trained: Path) -> None:
    out = trained / "reports" / "blend"
    result = blend.run(trained / "processed", trained / "models", out, PARAMS)
    assert json.loads((out / blend.METRICS_FILE).read_text()) == result
    assert list(result["members"]) == MEMBERS
    # The member's test errors are evaluate's, from the same served model.pt.
    scored = evaluate.run(
        trained / "processed",
        trained / "models" / "autorec",
        trained / "reports" / "evaluation" / "autorec",
        PARAMS,
    )
    assert result["members"]["autorec"]["test"]["rmse"] == pytest.approx(scored["rmse"]["autorec"])
    assert result["members"]["biases"]["test"]["rmse"] == pytest.approx(scored["rmse"]["biases"])
    # Its validation errors are the selection run's best epoch's, scored from train alone.
    best = read_checkpoint(trained / "models" / "autorec" / "checkpoint.pt")["best_score"]
    assert result["members"]["autorec"]["val"]["rmse"] == pytest.approx(best, rel=1e-5)
    n_val, n_test = (
        load_processed(trained / "processed").val.nnz,
        load_processed(trained / "processed").test.nnz,
    )
    assert result["blend"]["val"]["n"] == n_val and result["blend"]["test"]["n"] == n_test
    assert all(r["weight"] >= 0 for r in result["members"].values())
    # Any one member (weight 1, intercept 0) is a candidate: the fit is never worse on validation.
    best_val = min(r["val"]["rmse"] for r in result["members"].values())
    assert result["blend"]["val"]["rmse"] <= best_val + 1e-12


def test_weights_are_fitted_on_validation_only(trained: Path, tmp_path: Path) -> None:
    """Shuffling the test ratings changes the test errors, never the weights."""
    shuffled = tmp_path / "processed"
    shutil.copytree(trained / "processed", shuffled)
    test = read_csr(shuffled / "test.npz")
    test.data = np.random.default_rng(0).permutation(test.data[::-1])
    save_csr(test, shuffled / "test.npz")
    before = blend.run(trained / "processed", trained / "models", tmp_path / "a", PARAMS)
    after = blend.run(shuffled, trained / "models", tmp_path / "b", PARAMS)
    weights = [[r["weight"] for r in res["members"].values()] for res in (before, after)]
    assert weights[0] == weights[1]
    assert before["intercept"] == after["intercept"]
    assert before["blend"]["val"] == after["blend"]["val"]
    assert before["blend"]["test"]["rmse"] != after["blend"]["test"]["rmse"]


def test_the_command_prints_the_blend_and_a_bad_folder_is_one_line(
    trained: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(trained)
    out = trained / "reports" / "cli"
    args = ["--data", "processed", "--model-root", "models", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", ["aerec", "blend", *args, "--params", "missing.yaml"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("aerec: error: ") and len(err.strip().splitlines()) == 1
    (trained / "params.yaml").write_text("dataset: {name: fixture}\nblend: {ridge: 0.1}\n")
    monkeypatch.setattr(sys, "argv", ["aerec", "blend", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert (exited.value.code or 0) == 0
    assert "blend test RMSE" in capsys.readouterr().out
    assert json.loads((out / blend.METRICS_FILE).read_text())["ridge"] == 0.1


def test_a_refitted_model_is_fitted_by_its_selection_run_and_tested_as_served(
    tmp_path: Path,
) -> None:
    from aerec.training.loop import fit

    processed = write_low_rank(tmp_path / "processed")
    cfg = TrainConfig(epochs=3, batch_size=2, amp="off", refit=True)
    data = load_processed(processed).training()
    fit("autorec", {"hidden": 4}, cfg, data, tmp_path / "models" / "autorec", log=False,
        runtime=CPU)  # fmt: skip
    result = blend.run(processed, tmp_path / "models", tmp_path / "out", PARAMS)
    best = read_checkpoint(tmp_path / "models" / "autorec" / "checkpoint.pt")["best_score"]
    scored = evaluate.run(processed, tmp_path / "models" / "autorec", tmp_path / "ev", PARAMS)
    member = result["members"]["autorec"]
    assert member["val"]["rmse"] == pytest.approx(best, rel=1e-5)
    assert member["test"]["rmse"] == pytest.approx(scored["rmse"]["autorec"])
