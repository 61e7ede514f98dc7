"""Tasks that record what a run produced: git commit on a runs branch, artifacts."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

# Files that, committed together, say exactly what a run used and produced.
RECORDED = ("dvc.yaml", "dvc.lock", "params.yaml")
_IDENTITY = {
    "GIT_AUTHOR_NAME": "aerec pipeline",
    "GIT_AUTHOR_EMAIL": "aerec@localhost",
    "GIT_COMMITTER_NAME": "aerec pipeline",
    "GIT_COMMITTER_EMAIL": "aerec@localhost",
}


def _git(args: list[str], workspace: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=workspace, capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"`git {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


@task
def record_run(workspace: Path, metrics_files: list[str], branch: str = "runs") -> str | None:
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
    files = [f for f in (*RECORDED, *metrics_files) if (workspace / f).is_file()]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        for key, value in _IDENTITY.items():
            env.setdefault(key, value)
        _git(["read-tree", head], workspace, env)
        _git(["add", "--force", "--", *files], workspace, env)
        tree = _git(["write-tree"], workspace, env)
        parents = ["-p", tip] if tip else []
        if tip != head:
            parents += ["-p", head]
        message = f"aerec run on {head[:10]}: " + ", ".join(files)
        commit = _git(["commit-tree", tree, *parents, "-m", message], workspace, env)
    _git(["update-ref", ref, commit], workspace)
    logger.info(f"recorded run as {branch} {commit[:10]}")
    return commit


@task
def publish_metrics(metrics: dict[str, dict]) -> None:
    """Publish every metrics file as one Prefect table artifact."""
    rows = [{"file": path, **flatten(data)} for path, data in metrics.items()]
    if rows:
        create_table_artifact(key="aerec-metrics", table=rows, description="Metrics of this run")


@task
def publish_validation(summary: dict, report: Path) -> None:
    """Publish the validation verdict, its failed checks and the report's path."""
    counts = summary["expectations"]
    lines = [
        f"# Validation of {summary['dataset']}: {'passed' if summary['passed'] else 'FAILED'}",
        f"{counts['passed']} of {counts['total']} expectations passed. "
        f"Report: [{report}](file://{report})",
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
