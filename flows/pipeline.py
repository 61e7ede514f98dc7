"""The aerec pipeline as a Prefect flow: one task per DVC stage, then push and record.

Every stage runs through `dvc repro --single-item`, so dvc.lock and the DVC
cache always describe what was produced; the flow adds scheduling, a
validation gate with a readable failure, artifacts, the push to the DVC
remote, and a commit of the run's versions on a `runs` branch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from prefect import flow, get_run_logger

from flows.workspace import PipelineError, workspace_slot
from tasks.dvc import pipeline_stages, push_outputs, read_metrics, repro_stage
from tasks.overrides import run_params
from tasks.record import publish_metrics, publish_validation, record_run


@flow(name="aerec-pipeline", log_prints=True)
def pipeline(
    workspace: str = ".",
    push: bool = True,
    record_branch: str = "runs",
    overrides: dict[str, Any] | None = None,
) -> dict:
    """Run every stage of dvc.yaml in order, publish reports, push, record the run.

    `overrides` (dotted params key -> value, e.g. {"dataset.name": "my-amazon",
    "dataset.path": "/data/amazon.json.gz", "dataset.format": "amazon-reviews"})
    are checked whole first (tasks/overrides.py; OverrideError before anything
    runs), then written into the workspace's params.yaml for this run, so
    dvc.lock and the commit on `record_branch` record the params it used; the
    workspace's own params.yaml is put back afterwards.
    """
    root = Path(workspace).resolve()
    params_path = root / "params.yaml"
    changed = run_params(overrides, params_path) if overrides else None
    with workspace_slot(root), params_for_run(params_path, changed):
        return _run(root, push, record_branch)


@contextmanager
def params_for_run(params_path: Path, changed: dict[str, Any] | None) -> Iterator[None]:
    """params.yaml holds `changed` while the run lasts (when given), then its old text."""
    if changed is None:
        yield
        return
    original = params_path.read_bytes()
    params_path.write_text(yaml.safe_dump(changed, sort_keys=False), encoding="utf-8")
    try:
        yield
    finally:
        params_path.write_bytes(original)


def _run(root: Path, push: bool, record_branch: str) -> dict:
    """Every stage through `dvc repro --single-item`, then publish, push, record."""
    stages = pipeline_stages(root)
    for stage in stages:
        try:
            repro_stage(stage, root)
        except RuntimeError as exc:
            if stage == "validate":
                _publish_validation(root)  # the report is what the user needs now
            raise PipelineError(_stage_failure(stage, exc, root)) from None
    _publish_validation(root)
    metrics = read_metrics(root)
    publish_metrics(metrics)
    pushed = push_outputs(root) if push else False
    commit = record_run(root, metrics, record_branch)
    return {"stages": stages, "metrics": metrics, "pushed": pushed, "recorded": commit}


def _stage_failure(stage: str, exc: Exception, root: Path) -> str:
    """One clear message: the stage, aerec's own error line, and the report to read."""
    lines = str(exc).splitlines()
    reason = next((ln for ln in lines if "aerec: error:" in ln), lines[-1] if lines else "")
    if stage == "validate":
        return f"validation gate failed, nothing downstream ran: {reason}"
    return f"stage {stage} failed: {reason}"


def _publish_validation(root: Path) -> None:
    """Publish every validation summary the validate stage wrote."""
    for summary_path in sorted((root / "reports" / "validation").glob("*/summary.json")):
        summary = json.loads(summary_path.read_text())
        publish_validation(summary, summary_path.with_name("index.html"))
    if not (root / "reports" / "validation").exists():
        get_run_logger().warning("no validation report found")
