"""The aerec pipeline as a Prefect flow: one task per DVC stage, then push and record.

Every stage runs through `dvc repro --single-item`, so dvc.lock and the DVC
cache always describe what was produced; the flow adds scheduling, a
validation gate with a readable failure, artifacts, the push to the DVC
remote, and a commit of the run's versions on a `runs` branch.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, get_run_logger

from flows.workspace import PipelineError, workspace_slot
from tasks.dvc import pipeline_stages, push_outputs, read_metrics, repro_stage
from tasks.record import publish_metrics, publish_validation, record_run


@flow(name="aerec-pipeline", log_prints=True)
def pipeline(workspace: str = ".", push: bool = True, record_branch: str = "runs") -> dict:
    """Run every stage of dvc.yaml in order, publish reports, push, record the run."""
    root = Path(workspace).resolve()
    with workspace_slot(root):
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
