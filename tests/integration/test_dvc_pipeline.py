"""The real `dvc repro` of the project's dvc.yaml: full run, no-op rerun, partial rerun."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from tests.integration.workspace import BIN, make_workspace, run, set_params

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DVC = str(BIN / "dvc")


def ran_stages(output: str) -> list[str]:
    """Stage names `dvc repro` says it ran, in order."""
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_workspace(tmp_path_factory.mktemp("dvc") / "ws")
    run([DVC, "repro"], path)
    return path


def test_full_run_produces_every_output(workspace: Path) -> None:
    status = run([DVC, "status"], workspace).stdout
    assert "Data and pipelines are up to date." in status
    metrics = json.loads(run([DVC, "metrics", "show", "--json"], workspace).stdout)
    files = metrics[""]["data"]  # "" is the workspace
    assert "reports/evaluation/models/autorec/metrics.json" in files
    assert "reports/validation/synthetic/summary.json" in files
    assert "reports/blend/metrics.json" in files
    assert (workspace / "reports" / "validation" / "synthetic" / "index.html").is_file()
    assert (workspace / "dvc.lock").is_file()


def test_dvc_plots_render_offline(workspace: Path, tmp_path: Path) -> None:
    run([DVC, "plots", "show", "-o", str(tmp_path / "plots")], workspace)
    page = (tmp_path / "plots" / "index.html").read_text()
    assert re.findall(r"https?://", page) == []
    images = sorted(
        p.name.rsplit("_plots_", 1)[1] for p in (tmp_path / "plots" / "static").iterdir()
    )
    assert images == [
        "predictions.png",
        "rmse_item_popularity.png",
        "rmse_user_activity.png",
        "training_curves.png",
    ]


def test_second_repro_runs_nothing(workspace: Path) -> None:
    out = run([DVC, "repro"], workspace).stdout
    assert ran_stages(out) == []


def test_changing_a_train_param_reruns_only_train_and_what_follows(workspace: Path) -> None:
    set_params(workspace, {"train": {"epochs": 3}})
    out = run([DVC, "repro"], workspace).stdout
    assert ran_stages(out) == ["train@autorec", "evaluate@autorec", "compare", "blend"], out


def test_changing_a_model_param_reruns_only_that_model(workspace: Path) -> None:
    set_params(workspace, {"models": {"autorec": {"hidden": 12}}})
    out = run([DVC, "repro", "train@autorec"], workspace).stdout
    assert ran_stages(out) == ["train@autorec"], out


def test_push_to_a_local_remote_and_pull_back(workspace: Path, tmp_path: Path) -> None:
    run([DVC, "remote", "add", "-d", "local", str(tmp_path / "remote")], workspace)
    run([DVC, "push"], workspace)
    checkpoint = workspace / "models" / "autorec" / "checkpoint.pt"
    before = checkpoint.read_bytes()
    checkpoint.unlink()
    shutil.rmtree(workspace / ".dvc" / "cache")  # only the remote has it now
    run([DVC, "pull"], workspace)
    assert checkpoint.read_bytes() == before
