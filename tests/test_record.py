"""What a recorded run says: the metrics table artifact and the runs-branch commit message."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tasks.record import _changed_params, metric_rows, run_message, sweep_rows


def _method(rmse: float, ndcg: float) -> dict:
    return {
        "rating": {"n": 100, "rmse": rmse, "mae": rmse - 0.2},
        "ranking": {"ndcg@10": ndcg, "recall@10": 0.5, "recall@20": 0.75},
    }


METRICS = {
    "reports/validation/ml-100k/summary.json": {"passed": True, "counts": {"ratings": 3}},
    "reports/evaluation/models/vae/metrics.json": {
        "model": _method(0.95, 0.2),
        "baselines": {"biases": _method(0.94123456, 0.01)},
    },
    "reports/evaluation/models/autorec/metrics.json": {
        "model": _method(0.90367, 0.05),
        "baselines": {"biases": _method(0.94123456, 0.01)},
    },
}


def test_the_blend_is_a_row_of_rating_errors_only() -> None:
    blend = {"blend": {"val": {"n": 7, "rmse": 0.8, "mae": 0.6},
                       "test": {"n": 100, "rmse": 0.89991, "mae": 0.70396}}}  # fmt: skip
    rows = metric_rows({**METRICS, "reports/blend/metrics.json": blend})
    assert rows[0] == {"model": "blend (weights fitted on validation)", "RMSE": 0.8999,
                       "MAE": 0.704, "NDCG@10": None, "Recall@10": None, "Recall@20": None,
                       "test ratings": 100}  # fmt: skip
    assert [r["model"] for r in rows[1:]] == ["autorec", "biases (baseline)", "vae"]


def test_one_row_per_model_and_baseline_headline_first_sorted_and_rounded() -> None:
    rows = metric_rows(METRICS)
    assert rows == [
        {"model": "autorec", "RMSE": 0.9037, "MAE": 0.7037, "NDCG@10": 0.05,
         "Recall@10": 0.5, "Recall@20": 0.75, "test ratings": 100},
        {"model": "biases (baseline)", "RMSE": 0.9412, "MAE": 0.7412, "NDCG@10": 0.01,
         "Recall@10": 0.5, "Recall@20": 0.75, "test ratings": 100},
        {"model": "vae", "RMSE": 0.95, "MAE": 0.75, "NDCG@10": 0.2,
         "Recall@10": 0.5, "Recall@20": 0.75, "test ratings": 100},
    ]  # fmt: skip
    assert list(rows[0]) == ["model", "RMSE", "MAE", "NDCG@10", "Recall@10", "Recall@20",
                             "test ratings"]  # fmt: skip


def test_message_names_the_best_model_and_the_changed_params() -> None:
    rows = metric_rows(METRICS)
    files = ["dvc.lock", "params.yaml"]
    assert run_message("a" * 40, rows, ["train.epochs 2 -> 3"], files) == (
        "aerec run on aaaaaaaaaa: autorec RMSE 0.9037 NDCG@10 0.05; "
        "params: train.epochs 2 -> 3\n\nfiles: dvc.lock, params.yaml"
    )
    assert run_message("b" * 40, [], None, files).startswith(
        "aerec run on bbbbbbbbbb: no model; first recorded run\n"
    )
    assert "; params: unchanged\n" in run_message("c" * 40, rows, [], files)
    # The blend (its RMSE below every model's) is named beside the best model, not as it.
    blend = {"model": "blend (weights fitted on validation)", "RMSE": 0.62, "NDCG@10": None}
    assert run_message("d" * 40, [blend, *rows], [], files).startswith(
        "aerec run on dddddddddd: autorec RMSE 0.9037 NDCG@10 0.05, blend RMSE 0.62; "
    )


def test_changed_params_against_the_last_run(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        identity = ["-c", "user.name=t", "-c", "user.email=t@localhost"]
        out = subprocess.run(["git", *identity, *args], cwd=tmp_path, check=True,
                             capture_output=True, text=True)  # fmt: skip
        return out.stdout.strip()

    git("init", "-q")
    (tmp_path / "params.yaml").write_text("train:\n  epochs: 2\n  lr: 0.001\nmodels: {a: {h: 5}}\n")
    git("add", "params.yaml")
    git("commit", "-qm", "run")
    tip = git("rev-parse", "HEAD")
    (tmp_path / "params.yaml").write_text("train:\n  epochs: 3\n  lr: 0.001\nmodels: {b: {h: 5}}\n")
    assert _changed_params(tmp_path, tip) == [
        "models.a.h 5 -> None",
        "models.b.h None -> 5",
        "train.epochs 2 -> 3",
    ]
    assert _changed_params(tmp_path, "") is None


def test_sweep_table_puts_swept_params_and_metrics_first_best_first() -> None:
    rows = [
        {"experiment": "workspa", "train.lr": 0.001, "train.seed": 0, "model.rating.rmse": 0.95},
        {"experiment": "exp-a", "train.lr": 0.01, "model.rating.rmse": 0.912345,
         "model.ranking.ndcg@10": 0.1, "other.key": 1},
        {"experiment": "exp-b", "train.lr": 0.1, "model.rating.rmse": None},
    ]  # fmt: skip
    table = sweep_rows(rows, ["train.lr"])
    assert [(r["experiment"], r["train.lr"], r["RMSE"]) for r in table] == [
        ("exp-a", 0.01, 0.9123),
        ("workspace", 0.001, 0.95),
        ("exp-b", 0.1, None),
    ]
    assert list(table[0]) == ["experiment", "train.lr", "RMSE", "MAE", "NDCG@10", "Recall@10",
                              "Recall@20", "test ratings"]  # fmt: skip
