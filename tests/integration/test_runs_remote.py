"""Recorded runs travel: pushed with `--all-commits`, an older one is pulled into a fresh clone.

Real git, real dvc, a local DVC remote: two pipeline runs with different
params are recorded on the `runs` branch by the flow's own `record_run`, the
workspace pushes every branch's outputs, and a fresh `git clone` checks the
older run out and pulls it back: model, checkpoint and reports byte for byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from prefect.logging import disable_run_logger
from tests.integration.workspace import BIN, make_workspace, run, set_params

from tasks.dvc import read_metrics
from tasks.record import record_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DVC = str(BIN / "dvc")
# DVC-cached outputs (restored by `dvc pull`) and reports (restored by git).
CACHED = (
    "models/autorec/checkpoint.pt",
    "models/autorec/model.pt",
    "reports/evaluation/models/autorec/predictions.parquet",
    "reports/evaluation/models/autorec/embeddings.parquet",
    "data/processed/train.npz",
)
REPORTS = (
    "models/autorec/history.csv",
    "reports/evaluation/index.html",
    "reports/evaluation/models/autorec/metrics.json",
    "reports/evaluation/models/autorec/index.html",
    "reports/evaluation/models/autorec/plots/training_curves.png",
)


def _run_and_record(workspace: Path) -> dict[str, bytes]:
    """`dvc repro`, then record the run as the flow does; the bytes it produced."""
    run([DVC, "repro"], workspace)
    with disable_run_logger():
        assert record_run.fn(workspace, read_metrics(workspace))
    return {name: (workspace / name).read_bytes() for name in (*CACHED, *REPORTS)}


def test_an_older_run_is_pulled_into_a_fresh_clone(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")
    remote = tmp_path / "dvc-store"
    run([DVC, "remote", "add", "-d", "local", str(remote)], workspace)
    first = _run_and_record(workspace)
    set_params(workspace, {"models": {"autorec": {"hidden": 8}}})
    second = _run_and_record(workspace)
    assert first["models/autorec/model.pt"] != second["models/autorec/model.pt"]
    assert first[REPORTS[2]] != second[REPORTS[2]]
    subjects = run(["git", "log", "--format=%s", "runs"], workspace).stdout.splitlines()
    assert subjects[0].endswith("; params: models.autorec.hidden 16 -> 8"), subjects

    # --all-branches would push only each branch tip: runs~1 needs every commit.
    pushed = run([DVC, "push", "-r", "local", "--all-commits"], workspace).stdout
    assert "pushed" in pushed, pushed
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(workspace), str(clone)], tmp_path)
    # A clone has the branch as origin/runs; `git checkout runs` makes it local.
    run(["git", "checkout", "-q", "runs"], clone)
    run(["git", "checkout", "-q", "runs~1"], clone)
    assert not (clone / ".dvc" / "cache").exists()
    run([DVC, "pull", "-r", "local"], clone)
    restored = {name: (clone / name).read_bytes() for name in (*CACHED, *REPORTS)}
    assert restored == first
    status = run([DVC, "status"], clone).stdout
    assert "Data and pipelines are up to date" in status, status

    # The default remote is recorded with the run: a plain `dvc pull` works too.
    shutil.rmtree(clone / ".dvc" / "cache")
    for name in CACHED:
        (clone / name).unlink()
    run(["git", "checkout", "-q", "runs"], clone)
    run([DVC, "pull"], clone)
    assert {name: (clone / name).read_bytes() for name in (*CACHED, *REPORTS)} == second
