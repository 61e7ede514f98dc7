"""A real Prefect server and worker run the nightly deployment on a tiny dataset.

Everything runs for real: `scripts/prefect-local start` (server on 127.0.0.1,
process work pool, `prefect deploy --all`, worker), `prefect deployment run
--watch`, then `scripts/prefect-local stop`, which stops them by pid.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import optuna
import pytest
import yaml
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState
from tests.browser import FLAGS, chromium, distinct_colours
from tests.integration.own_data import write_amazon_reviews
from tests.integration.workspace import BIN, make_workspace, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Inbox(http.server.BaseHTTPRequestHandler):
    """A webhook endpoint that keeps every JSON body POSTed to it."""

    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.received.append(json.loads(self.rfile.read(length) or b"{}"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def inbox() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Inbox)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, inbox: str
) -> Iterator[tuple[Path, dict[str, str]]]:
    workspace = make_workspace(tmp_path_factory.mktemp("prefect") / "ws")
    port = free_port()
    env = {
        "AEREC_NOTIFY_URL": inbox,
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
    assert log[0].startswith("aerec run on ") and " autorec RMSE " in log[0], log
    assert log[0].endswith("; first recorded run"), log
    changed = run(["git", "show", "--name-only", "--format=", "runs"], workspace).stdout.split()
    model_reports = "reports/evaluation/models/autorec"
    reports = [
        "models/autorec/history.csv",
        "reports/evaluation/index.html",
        f"{model_reports}/buckets.json",
        f"{model_reports}/index.html",
        f"{model_reports}/metrics.json",
        f"{model_reports}/plots/training_curves.png",
        "reports/validation/synthetic/index.html",
        "reports/validation/synthetic/summary.json",
    ]
    assert {"dvc.lock", *reports} <= set(changed), changed
    assert not {"models/autorec/model.pt", f"{model_reports}/predictions.parquet"} & set(changed)
    # Checking the run out restores its reports (cache: false outputs), byte for byte.
    recorded = {name: (workspace / name).read_bytes() for name in reports}
    for name in reports:
        (workspace / name).write_bytes(b"a later run's version")
    run(["git", "checkout", "runs", "--", *reports], workspace)
    assert {name: (workspace / name).read_bytes() for name in reports} == recorded
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


def _chromium(url: str, window: str, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a page of the local Prefect UI, after 20 s of virtual time."""
    with tempfile.TemporaryDirectory(prefix="aerec-chromium-") as profile:
        command = [chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={window}"]
        return subprocess.run(
            [*command, "--virtual-time-budget=20000", *args, url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _page_text(dom: str) -> str:
    body = dom[dom.find("<body") :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_run_and_metrics_pages_render_the_headline_metrics(
    served: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The Prefect UI (the SPA of the test's server) shows the run and the metrics table."""
    _, env = served
    found = _api(env, "/artifacts/filter", {"artifacts": {"key": {"any_": ["aerec-metrics"]}}})
    assert found, "no aerec-metrics artifact: run test_nightly_deployment_runs_and_records first"
    artifact = max(found, key=lambda a: a["created"])
    rows = json.loads(artifact["data"]) if isinstance(artifact["data"], str) else artifact["data"]
    best = rows[0]
    run_filter = {"flow_runs": {"id": {"any_": [artifact["flow_run_id"]]}}}
    names = {t["name"] for t in _api(env, "/task_runs/filter", run_filter)}
    helpers = {"publish validation report", "publish metrics table",
               "push outputs to the DVC remote", "record run on the runs branch"}  # fmt: skip
    assert helpers <= names and "dvc repro train@autorec" in names, names
    ui = env["PREFECT_API_URL"].removesuffix("/api")
    pages = {
        "flow-run": f"{ui}/runs/flow-run/{artifact['flow_run_id']}",
        "metrics": f"{ui}/artifacts/artifact/{artifact['id']}",
    }
    shots = tmp_path_factory.mktemp("screenshots")
    texts = {}
    for name, url in pages.items():
        png = shots / f"{name}.png"
        shot = _chromium(url, "1280,900", f"--screenshot={png}")
        assert png.is_file(), shot.stderr[-2000:]
        assert distinct_colours(png) > 50, png
        texts[name] = _page_text(_chromium(url, "1280,900", "--dump-dom").stdout)
    print(f"screenshots of the Prefect UI: {shots}")
    assert "Can't connect to Server API" not in texts["flow-run"], texts["flow-run"][:500]
    assert " Completed " in texts["flow-run"] and "aerec-pipeline" in texts["flow-run"]
    # The artifact page's table: the best RMSE first (the blend: no NDCG), as published.
    table = texts["metrics"]
    headline = f" {best['model']} {best['RMSE']} {best['MAE']} "
    assert headline in table, table[:2000]
    model = next(r for r in rows if r["model"] == "autorec")
    assert f" autorec {model['RMSE']} {model['MAE']} {model['NDCG@10']} " in table, table[:2000]
    assert " model RMSE MAE NDCG@10 Recall@10 Recall@20 test ratings " in table, table[:2000]


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


def _experiments(workspace: Path) -> dict[str, dict]:
    """Every DVC experiment of the workspace: its rev -> params.yaml's data."""
    shown = json.loads(run([str(BIN / "dvc"), "exp", "show", "--json"], workspace).stdout)
    return {
        rev["rev"]: rev["data"]["params"]["params.yaml"]["data"]
        for baseline in shown
        for exp in baseline.get("experiments") or []
        for rev in exp["revs"]
    }


def test_sweep_deployment_searches_and_runs_the_best_trial_as_an_experiment(
    served: tuple[Path, dict[str, str]],
) -> None:
    """mode=search: aerec tune's study, 3 trials over 2 workers, the best one as an experiment."""
    workspace, env = served
    before, params = _experiments(workspace), (workspace / "params.yaml").read_bytes()
    args = ["mode=search", "model=autorec", "trials=3", "jobs=2", "study=flow-search"]
    args.append(f"overrides={json.dumps({'train.epochs': 2})}")
    out = run(
        [
            str(BIN / "prefect"),
            "deployment",
            "run",
            "aerec-sweep/sweep",
            *(word for arg in args for word in ("--param", arg)),
            "--watch",
            "--watch-timeout",
            "600",
        ],
        workspace,
        **env,
    )
    assert "Completed" in out.stdout, out.stdout[-3000:]
    journal = workspace / "reports" / "tune" / "flow-search.journal"
    storage = JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name="flow-search", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    new = {rev: p for rev, p in _experiments(workspace).items() if rev not in before}
    assert len(new) == 1, new
    recorded = next(iter(new.values()))
    best = study.best_trial
    assert recorded["train"]["model"] == "autorec" and recorded["train"]["epochs"] == 2
    assert recorded["train"]["lr"] == best.params["train.lr"]
    autorec = recorded["models"]["autorec"]
    assert (autorec["hidden"], autorec["l2"]) == (
        best.params["models.autorec.hidden"],
        best.params["models.autorec.l2"],
    )
    assert (workspace / "params.yaml").read_bytes() == params
    tables = [a for a in _api(env, "/artifacts/filter") if a["key"] == "aerec-search"]
    assert len(tables) == 1
    data = tables[0]["data"]
    rows = json.loads(data) if isinstance(data, str) else data
    assert [r["trial"] for r in rows] == [t.number for t in sorted(study.trials, key=_value)]
    assert rows[0]["value"] == round(best.value, 4) and rows[0]["metric"] == "val_rmse"
    assert rows[0]["train.lr"] == round(best.params["train.lr"], 4)


def _value(trial: optuna.trial.FrozenTrial) -> float:
    return trial.value


def test_overlapping_runs_of_two_deployments_queue_and_both_complete(
    served: tuple[Path, dict[str, str]],
) -> None:
    """A nightly run started during a sweep waits for the workspace's slot, then runs."""
    workspace, env = served
    prefect = str(BIN / "prefect")
    watch = ["--watch", "--watch-timeout", "600"]
    grid = json.dumps({"train.epochs": ["4"]})
    commands = [
        [prefect, "deployment", "run", "aerec-sweep/sweep", "--param", f"grid={grid}", *watch],
        [prefect, "deployment", "run", "aerec-pipeline/nightly", *watch],
    ]
    full_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env}
    procs = [
        subprocess.Popen(c, cwd=workspace, env=full_env, stdout=subprocess.PIPE, text=True)
        for c in commands
    ]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0 and "Completed" in out, out[-3000:]
    inspect = [prefect, "gcl", "inspect", "aerec-workspace", "--output", "json"]
    limit = run(inspect, workspace, **env)
    assert json.loads(limit.stdout)["limit"] == 1


def _api(env: dict[str, str], path: str, body: dict | None = None) -> list[dict]:
    request = urllib.request.Request(
        env["PREFECT_API_URL"] + path,
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_dead_runs_crash_and_failed_runs_notify(served: tuple[Path, dict[str, str]]) -> None:
    """The automations exist; a run that fails is POSTed to $AEREC_NOTIFY_URL."""
    workspace, env = served
    names = {a["name"] for a in _api(env, "/automations/filter")}
    assert {"aerec: crash runs whose heartbeats stopped", "aerec: notify on Failed or Crashed"} <= (
        names
    )
    bad = json.dumps({"train.no_such_key": ["1"]})
    args = ["deployment", "run", "aerec-sweep/sweep", "--param", f"grid={bad}", "--watch"]
    failed = run([str(BIN / "prefect"), *args], workspace, check=False, **env)
    assert failed.returncode == 1 and "Failed" in failed.stdout, failed.stdout[-2000:]
    deadline = time.monotonic() + 60
    while not _Inbox.received and time.monotonic() < deadline:
        time.sleep(1)
    assert _Inbox.received, "no notification arrived within 60 s"
    message = _Inbox.received[0]
    assert message["subject"].startswith("aerec run ") and message["subject"].endswith(": Failed")
    assert "aerec-sweep/" in message["body"]


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
