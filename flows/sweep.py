"""A parameter sweep as DVC experiments, compared in one Prefect table artifact.

Each grid point is `dvc exp run -S key=value ...`, so the params every
experiment used are recorded by DVC and `dvc exp show` lists them all. The
grid is checked whole before the first experiment (tasks/overrides.py): a
value reaches DVC only as a plain scalar of its param's type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from flows.pipeline import params_for_run
from flows.workspace import workspace_slot
from tasks.dvc import run_dvc
from tasks.overrides import grid_overrides, run_params
from tasks.record import flatten, sweep_rows


@task(task_run_name="dvc exp run {overrides}")
def run_experiment(overrides: list[str], workspace: Path) -> None:
    """Run the pipeline as one DVC experiment with these param overrides."""
    args = ["exp", "run", "--temp"]
    for override in overrides:
        args += ["-S", override]
    run_dvc(args, workspace)


def experiment_table(workspace: Path, metric_keys: list[str] | None = None) -> list[dict]:
    """One row per experiment of `dvc exp show --json`: name, params, metrics."""
    shown = json.loads(run_dvc(["exp", "show", "--json"], workspace))
    rows: list[dict] = []
    for baseline in shown:
        for exp in [baseline, *(e for r in baseline.get("experiments") or [] for e in r["revs"])]:
            data = exp.get("data") or {}
            row: dict = {"experiment": exp.get("name") or exp.get("rev", "")[:7]}
            for kind in ("params", "metrics"):
                for entry in (data.get(kind) or {}).values():
                    row.update(flatten(entry.get("data") or {}))
            if metric_keys:
                row = {k: v for k, v in row.items() if k == "experiment" or k in metric_keys}
            rows.append(row)
    return rows


@flow(name="aerec-sweep", log_prints=True)
def sweep(
    grid: dict[str, list[str | int | float | bool]],
    workspace: str = ".",
    overrides: dict[str, Any] | None = None,
) -> list[dict]:
    """Run every grid point as a DVC experiment and publish the comparison table.

    A grid with a key that is not a scalar param, or a value that is not a
    plain scalar of its type, is refused (GridError) before anything runs.
    `overrides` (the dataset, say) hold for every point: checked whole
    (OverrideError), written into params.yaml while the sweep runs, so each
    experiment records them with its grid point, then put back.
    """
    root = Path(workspace).resolve()
    params_path = root / "params.yaml"
    changed = run_params(overrides, params_path) if overrides else None
    points = grid_overrides(grid, params_path)
    with workspace_slot(root), params_for_run(params_path, changed):
        for overrides in points:
            run_experiment(overrides, root)
        rows = experiment_table(root)
    table = sweep_rows(rows, list(grid))
    create_table_artifact(key="aerec-sweep", table=table, description=f"grid: {grid}, best first")
    return rows
