"""A real Prefect server and worker run the nightly deployment on a tiny dataset.

Everything runs for real: `scripts/prefect-local start` (server on 127.0.0.1,
process work pool, `prefect deploy --all`, worker), `prefect deployment run
--watch`, then `scripts/prefect-local stop`, which stops them by pid.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.integration.own_data import write_amazon_reviews
from tests.integration.workspace import BIN, make_workspace, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    workspace = make_workspace(tmp_path_factory.mktemp("prefect") / "ws")
    port = free_port()
    env = {
        "AEREC_BIN": str(BIN),
        "AEREC_PREFECT_PORT": str(port),
        "PREFECT_HOME": str(workspace.parent / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    try:
        run(["scripts/prefect-local", "start"], workspace, **env)
        yield workspace, env
    finally:
        run(["scripts/prefect-local", "stop"], workspace, check=False, **env)
        for name in ("server", "worker"):
            assert not (Path(env["PREFECT_HOME"]) / f"{name}.pid").exists()


def test_nightly_deployment_runs_and_records(served: tuple[Path, dict[str, str]]) -> None:
    workspace, env = served
    prefect = str(BIN / "prefect")
    out = run(
        [
            prefect,
            "deployment",
            "run",
            "aerec-pipeline/nightly",
            "--watch",
            "--watch-timeout",
            "600",
        ],
        workspace,
        **env,
    )
    assert "Completed" in out.stdout, out.stdout[-3000:]
    assert (workspace / "dvc.lock").is_file()
    assert list((workspace / "reports" / "evaluation" / "models").glob("*/metrics.json"))
    log = run(["git", "log", "--format=%s", "runs"], workspace).stdout.splitlines()
    assert log[0].startswith("aerec run on ") and "dvc.lock" in log[0]
    changed = run(["git", "show", "--name-only", "--format=", "runs"], workspace).stdout.split()
    assert changed == [
        "dvc.lock",
        "reports/evaluation/models/autorec/metrics.json",
        "reports/validation/synthetic/summary.json",
    ]
    tree = run(["git", "ls-tree", "-r", "--name-only", "runs"], workspace).stdout.split()
    assert {"dvc.yaml", "params.yaml", "dvc.lock"} <= set(tree)
    head = run(["git", "rev-parse", "HEAD"], workspace).stdout.strip()
    assert run(["git", "rev-parse", "main"], workspace).stdout.strip() == head
    # `prefect artifact ls -o json` crashes on our markdown (rich reads the link's
    # [path] as markup), so the test asks the server's REST API directly.
    request = urllib.request.Request(
        env["PREFECT_API_URL"] + "/artifacts/filter",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        keys = {artifact["key"] for artifact in json.loads(response.read())}
    assert {"aerec-metrics", "aerec-validation"} <= keys


def test_nightly_schedule_is_registered(served: tuple[Path, dict[str, str]]) -> None:
    workspace, env = served
    out = run(
        [
            str(BIN / "prefect"),
            "deployment",
            "inspect",
            "aerec-pipeline/nightly",
            "--output",
            "json",
        ],
        workspace,
        **env,
    )
    deployment = json.loads(out.stdout)
    crons = [s["schedule"].get("cron") for s in deployment["schedules"]]
    assert crons == ["0 3 * * *"]
    assert deployment["work_pool_name"] == "aerec-process"
    assert os.path.isdir(workspace / ".dvc" / "cache")


def test_sweep_deployment_runs_each_grid_point_as_an_experiment(
    served: tuple[Path, dict[str, str]],
) -> None:
    workspace, env = served
    prefect = str(BIN / "prefect")
    grid = json.dumps({"train.epochs": ["2", "3"]})
    before = (workspace / "params.yaml").read_bytes()
    overrides = json.dumps({"models.autorec.hidden": 8})
    out = run(
        [
            prefect,
            "deployment",
            "run",
            "aerec-sweep/sweep",
            "--param",
            f"grid={grid}",
            "--param",
            f"overrides={overrides}",
            "--watch",
            "--watch-timeout",
            "600",
        ],
        workspace,
        **env,
    )
    assert "Completed" in out.stdout, out.stdout[-3000:]
    shown = json.loads(run([str(BIN / "dvc"), "exp", "show", "--json"], workspace).stdout)
    epochs = sorted(
        rev["data"]["params"]["params.yaml"]["data"]["train"]["epochs"]
        for baseline in shown
        for exp in baseline.get("experiments") or []
        for rev in exp["revs"]
    )
    assert epochs == [2, 3]
    hidden = [
        rev["data"]["params"]["params.yaml"]["data"]["models"]["autorec"]["hidden"]
        for baseline in shown
        for exp in baseline.get("experiments") or []
        for rev in exp["revs"]
    ]
    assert hidden == [8, 8]
    assert (workspace / "params.yaml").read_bytes() == before


def test_nightly_deployment_takes_a_local_dataset_as_overrides(
    served: tuple[Path, dict[str, str]],
) -> None:
    workspace, env = served
    write_amazon_reviews(workspace / "data" / "raw" / "my-amazon" / "reviews.json")
    before = (workspace / "params.yaml").read_bytes()
    overrides = {
        "dataset.name": "my-amazon",
        "dataset.path": "data/raw/my-amazon/reviews.json",
        "dataset.format": "amazon-reviews",
        "validate.min_ratings": 100,
    }
    out = run(
        [
            str(BIN / "prefect"),
            "deployment",
            "run",
            "aerec-pipeline/nightly",
            "--param",
            f"overrides={json.dumps(overrides)}",
            "--watch",
            "--watch-timeout",
            "600",
        ],
        workspace,
        **env,
    )
    assert "Completed" in out.stdout, out.stdout[-3000:]
    stats = json.loads((workspace / "data" / "processed" / "stats.json").read_text())
    counts = stats["counts"]
    assert (stats["dataset"], counts["users"], counts["items"]) == ("my-amazon", 20, 30)
    assert (workspace / "params.yaml").read_bytes() == before
    recorded = yaml.safe_load(run(["git", "show", "runs:params.yaml"], workspace).stdout)
    assert recorded["dataset"]["path"] == "data/raw/my-amazon/reviews.json"
    assert recorded["validate"]["min_ratings"] == 100
    changed = run(["git", "show", "--name-only", "--format=", "runs"], workspace).stdout.split()
    assert "reports/validation/my-amazon/summary.json" in changed
    assert "params.yaml" in changed
