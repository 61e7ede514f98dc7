"""Tasks that record what a run produced: git commit on a runs branch, artifacts."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import yaml
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

# Files that, committed together, say exactly what a run used and produced.
# .dvc/config carries the remote, so a run pushed (by the flow, or `dvc push --all-commits`)
# is pulled back from any clone.
RECORDED = ("dvc.yaml", "dvc.lock", "params.yaml", ".dvc/config")
# Folders of the `cache: false` outputs (reports, plots, histories): committed
# with the run, so checking a run out restores its reports, not only what the
# DVC cache holds. DVC's own .gitignore files keep its cached outputs out.
REPORT_DIRS = ("reports", "models")
_IDENTITY = {
    "GIT_AUTHOR_NAME": "aerec pipeline",
    "GIT_AUTHOR_EMAIL": "aerec@localhost",
    "GIT_COMMITTER_NAME": "aerec pipeline",
    "GIT_COMMITTER_EMAIL": "aerec@localhost",
}


BLEND_SUFFIX = " (weights fitted on validation)"  # the blend row's label, after "blend"


def _git(args: list[str], workspace: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=workspace, capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"`git {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


@task(name="record run on the runs branch", task_run_name="record run on the runs branch")
def record_run(workspace: Path, metrics: dict[str, dict], branch: str = "runs") -> str | None:
    """Commit dvc.lock, params and metrics on `branch` without touching the checkout.

    A private index builds the commit from HEAD's tree plus this run's files,
    so the user's branch, index and working tree stay as they were, and
    `dvc metrics diff <branch>~1 <branch>` compares consecutive runs.
    """
    logger = get_run_logger()
    if (
        subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD"],
            cwd=workspace,
            capture_output=True,
            check=False,
        ).returncode
        != 0
    ):
        logger.warning("workspace is not a git repository with a commit: run not recorded")
        return None
    head = _git(["rev-parse", "HEAD"], workspace)
    ref = f"refs/heads/{branch}"
    tip = subprocess.run(
        ["git", "rev-parse", "--verify", "-q", ref],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    files = [f for f in (*RECORDED, *sorted(metrics)) if (workspace / f).is_file()]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        for key, value in _IDENTITY.items():
            env.setdefault(key, value)
        _git(["read-tree", head], workspace, env)
        _git(["add", "--force", "--", *files], workspace, env)
        reports = [d for d in REPORT_DIRS if (workspace / d).is_dir()]
        if reports:
            _git(["add", "--", *reports], workspace, env)
        tree = _git(["write-tree"], workspace, env)
        parents = ["-p", tip] if tip else []
        if tip != head:
            parents += ["-p", head]
        message = run_message(head, metric_rows(metrics), _changed_params(workspace, tip), files)
        commit = _git(["commit-tree", tree, *parents, "-m", message], workspace, env)
    _git(["update-ref", ref, commit], workspace)
    logger.info(f"recorded run as {branch} {commit[:10]}")
    return commit


# The headline columns of the metrics table: (column, path in a metrics.json method).
HEADLINE = (
    ("RMSE", ("rating", "rmse")),
    ("MAE", ("rating", "mae")),
    ("NDCG@10", ("ranking", "ndcg@10")),
    ("Recall@10", ("ranking", "recall@10")),
    ("Recall@20", ("ranking", "recall@20")),
    ("test ratings", ("rating", "n")),
)


@task(name="publish metrics table", task_run_name="publish metrics table")
def publish_metrics(metrics: dict[str, dict]) -> None:
    """Publish one table artifact: a row per model and baseline, headline metrics first."""
    rows = metric_rows(metrics)
    if rows:
        create_table_artifact(
            key="aerec-metrics", table=rows, description="Test metrics of this run, best RMSE first"
        )


def metric_rows(metrics: dict[str, dict]) -> list[dict[str, object]]:
    """A row per evaluated model, each baseline once and the blend, by RMSE; floats to 4 places."""
    rows: dict[str, dict[str, object]] = {}
    for path, data in sorted(metrics.items()):
        if isinstance((data.get("blend") or {}).get("test"), dict):  # the blend stage's
            rows["blend"] = _headline("blend" + BLEND_SUFFIX, {"rating": data["blend"]["test"]})
            continue
        if not isinstance(data.get("model"), dict):
            continue  # the validation summary, not a model's metrics
        rows[Path(path).parent.name] = _headline(Path(path).parent.name, data["model"])
        for name, method in (data.get("baselines") or {}).items():
            rows.setdefault(name, _headline(f"{name} (baseline)", method))
    return sorted(rows.values(), key=lambda r: (r["RMSE"] is None, r["RMSE"]))


def _headline(name: str, method: dict) -> dict[str, object]:
    row: dict[str, object] = {"model": name}
    for column, (section, key) in HEADLINE:
        value = (method.get(section) or {}).get(key)
        row[column] = round(value, 4) if isinstance(value, float) else value
    return row


@task(name="publish validation report", task_run_name="publish validation report")
def publish_validation(summary: dict, report: Path) -> None:
    """Publish the validation verdict, its failed checks and the report's path."""
    counts = summary["expectations"]
    lines = [
        f"# Validation of {summary['dataset']}: {'passed' if summary['passed'] else 'FAILED'}",
        f"{counts['passed']} of {counts['total']} expectations passed. "
        f"Report (open it from the workspace): `{report}`",
        "",
        "| check | table | column | severity | passed | observed |",
        "|---|---|---|---|---|---|",
    ]
    for check in summary["checks"]:
        lines.append(
            f"| {check['check']} | {check['table']} | {check['column'] or ''} "
            f"| {check['severity']} | {check['success']} | {str(check['observed'])[:60]} |"
        )
    create_markdown_artifact(key="aerec-validation", markdown="\n".join(lines))


def sweep_rows(rows: list[dict], swept: list[str]) -> list[dict[str, object]]:
    """The sweep table people read: experiment, the swept params, headline metrics; best first."""
    table = []
    for row in rows:
        name = str(row.get("experiment", ""))
        out: dict[str, object] = {"experiment": "workspace" if name == "workspa" else name}
        out.update({key: row.get(key) for key in swept})
        for column, (section, key) in HEADLINE:
            value = row.get(f"model.{section}.{key}")
            out[column] = round(value, 4) if isinstance(value, float) else value
        table.append(out)
    return sorted(table, key=lambda r: (not isinstance(r["RMSE"], float), r["RMSE"] or 0.0))


def search_rows(rows: list[dict]) -> list[dict[str, object]]:
    """The search table people read: trial, state, its params, validation score; floats rounded.

    `rows` come best first from aerec.tune.trial_rows; the order is kept.
    """
    return [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in rows]


def run_message(
    head: str, rows: list[dict[str, object]], changed: list[str] | None, files: list[str]
) -> str:
    """Subject: the best model's headline metrics, the blend's RMSE, the params changed."""
    models = [r for r in rows if not str(r["model"]).endswith(("(baseline)", BLEND_SUFFIX))]
    blend = next((r for r in rows if str(r["model"]).endswith(BLEND_SUFFIX)), None)
    best = models[0] if models else None
    score = f"{best['model']} RMSE {best['RMSE']} NDCG@10 {best['NDCG@10']}" if best else "no model"
    if blend:
        score += f", blend RMSE {blend['RMSE']}"
    if changed is None:
        params = "first recorded run"
    else:
        params = "params: " + (", ".join(changed) if changed else "unchanged")
    return f"aerec run on {head[:10]}: {score}; {params}\n\nfiles: {', '.join(files)}"


def _changed_params(workspace: Path, tip: str) -> list[str] | None:
    """`key old -> new` for every params.yaml value that differs from the last run's."""
    if not tip:
        return None
    try:
        before = yaml.safe_load(_git(["show", f"{tip}:params.yaml"], workspace)) or {}
    except RuntimeError:
        return None
    now = yaml.safe_load((workspace / "params.yaml").read_text(encoding="utf-8")) or {}
    old, new = flatten(before), flatten(now)
    return [
        f"{key} {old.get(key)} -> {new.get(key)}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def flatten(data: dict, prefix: str = "") -> dict[str, object]:
    """Nested metrics to one level of dotted keys, the form a table shows."""
    flat: dict[str, object] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
