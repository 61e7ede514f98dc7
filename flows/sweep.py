"""A parameter sweep as DVC experiments, compared in one Prefect table artifact.

Each grid point is `dvc exp run -S key=value ...`, so the params every
experiment used are recorded by DVC and `dvc exp show` lists them all. The
grid is checked whole before the first experiment (tasks/overrides.py): a
value reaches DVC only as a plain scalar of its param's type.

`mode="search"` runs `aerec tune`'s Optuna study instead of a grid (the same
module, journal and trial code: aerec.tune), `trials` in all over `jobs`
worker processes, on train and validation only; then the best trial runs as
one DVC experiment, so its test metrics are recorded beside its params, and
the trials are published as the `aerec-search` table artifact.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, Literal

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from aerec import tune
from aerec.config import load_params
from flows.pipeline import params_for_run
from flows.workspace import workspace_slot
from tasks.dvc import run_dvc
from tasks.overrides import grid_overrides, run_params
from tasks.record import flatten, search_rows, sweep_rows


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


@task(task_run_name="aerec tune --model {model} --trials {trials} --jobs {jobs}")
def run_search(workspace: Path, model: str, trials: int, jobs: int, study: str) -> dict:
    """Bring the build up to date, then run the study; its summary and trial rows."""
    run_dvc(["repro", "build"], workspace)
    search = tune.Search(
        params_path=workspace / "params.yaml",
        data_dir=workspace / "data" / "processed",
        model=model,
        trials=trials,
        storage=workspace / "reports" / "tune" / f"{study}.journal",
        study=study,
    )
    summary = tune.run(search, jobs, workspace / "reports" / "tune")
    summary["rows"] = tune.trial_rows(search)
    return summary


def best_overrides(command: str) -> list[str]:
    """The `-S key=value` overrides of the `dvc exp run -S ...` line tune printed."""
    words = shlex.split(command)
    if words[:3] != ["dvc", "exp", "run"] or words[3::2] != ["-S"] * len(words[3::2]):
        raise ValueError(f"not a `dvc exp run -S ...` line: {command!r}")
    return words[4::2]


@flow(name="aerec-sweep", log_prints=True)
def sweep(
    grid: dict[str, list[str | int | float | bool]] | None = None,
    workspace: str = ".",
    overrides: dict[str, Any] | None = None,
    mode: Literal["grid", "search"] = "grid",
    model: str | None = None,
    trials: int = 20,
    jobs: int = 1,
    study: str | None = None,
) -> list[dict]:
    """Run every grid point as a DVC experiment and publish the comparison table.

    With `mode="search"`, `grid` is not used: an Optuna study of `trials`
    trials over params' `tune:` space for `model` (default train.model) with
    `jobs` workers, in reports/tune/STUDY.journal (default study tune-MODEL,
    the one `aerec tune` uses: a later run continues it); the best trial is
    then one DVC experiment.

    A grid with a key that is not a scalar param, or a value that is not a
    plain scalar of its type, is refused (GridError) before anything runs.
    `overrides` (the dataset, say) hold for every point: checked whole
    (OverrideError), written into params.yaml while the sweep runs, so each
    experiment records them with its grid point, then put back.
    """
    root = Path(workspace).resolve()
    params_path = root / "params.yaml"
    changed = run_params(overrides, params_path) if overrides else None
    if mode == "search":
        return _search(root, changed, model, trials, jobs, study)
    if grid is None:
        raise ValueError("sweep: mode grid needs a grid of params keys to value lists")
    points = grid_overrides(grid, params_path)
    with workspace_slot(root), params_for_run(params_path, changed):
        for overrides in points:
            run_experiment(overrides, root)
        rows = experiment_table(root)
    table = sweep_rows(rows, list(grid))
    create_table_artifact(key="aerec-sweep", table=table, description=f"grid: {grid}, best first")
    return rows


def _search(
    root: Path,
    changed: dict[str, Any] | None,
    model: str | None,
    trials: int,
    jobs: int,
    study: str | None,
) -> list[dict]:
    """The search mode: the study, the best trial as a DVC experiment, the trials table."""
    params_path = root / "params.yaml"
    with workspace_slot(root), params_for_run(params_path, changed):
        key = model or load_params(params_path).train.model
        summary = run_search(root, key, trials, jobs, study or f"tune-{key}")
        if summary["command"] is None:
            raise RuntimeError(f"search {summary['study']}: no trial completed")
        run_experiment(best_overrides(summary["command"]), root)
    table = search_rows(summary["rows"])
    best = f"best trial {summary['best_trial']}: {summary['metric']} {abs(summary['best_value'])}"
    description = f"study {summary['study']} of {key}, {summary['trials']} trials; {best}"
    create_table_artifact(key="aerec-search", table=table, description=description + ", best first")
    return table
