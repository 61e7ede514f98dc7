"""Tasks that drive DVC: the pipeline's stages run through `dvc repro` only.

Running each stage through DVC (never in-process) keeps one declared DAG and a
`dvc.lock` that is true after every Prefect run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from prefect import get_run_logger, task

# The dvc of the environment running the flow, not whatever is first on PATH.
DVC = str(Path(sys.executable).with_name("dvc"))


def run_dvc(args: list[str], workspace: Path) -> str:
    """Run one dvc command in `workspace`; raise with its last output lines on failure."""
    proc = subprocess.run([DVC, *args], cwd=workspace, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"`dvc {' '.join(args)}` failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def pipeline_stages(workspace: Path) -> list[str]:
    """Stage names of dvc.yaml in file order, `foreach` stages expanded (train@autorec)."""
    listed = run_dvc(["stage", "list", "--name-only"], workspace).split()
    declared = list(yaml.safe_load((workspace / "dvc.yaml").read_text())["stages"])
    return sorted(listed, key=lambda name: declared.index(name.split("@")[0]))


@task(task_run_name="dvc repro {stage}")
def repro_stage(stage: str, workspace: Path) -> str:
    """Bring one stage up to date with `dvc repro --single-item` (a no-op when unchanged)."""
    out = run_dvc(["repro", "--single-item", stage], workspace)
    get_run_logger().info(out.strip() or f"{stage}: done")
    return stage


@task(
    name="push outputs to the DVC remote",
    task_run_name="push outputs to the DVC remote",
    retries=3,
    retry_delay_seconds=10,
)
def push_outputs(workspace: Path) -> bool:
    """Push DVC-tracked outputs to the default remote, when one is configured."""
    remotes = run_dvc(["remote", "list"], workspace).strip()
    if not remotes:
        get_run_logger().warning("no DVC remote configured: outputs stay in the local cache")
        return False
    run_dvc(["push"], workspace)
    return True


def read_metrics(workspace: Path) -> dict[str, dict]:
    """`dvc metrics show --json` for the workspace, keyed by metrics file."""
    shown = json.loads(run_dvc(["metrics", "show", "--json"], workspace) or "{}")
    return {
        path: entry.get("data", {})
        for rev in shown.values()
        for path, entry in rev.get("data", {}).items()
    }
