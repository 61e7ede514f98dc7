"""The sweep flow refuses a grid whose keys or values could be more than scalar params.

Its `grid` goes to `dvc exp run -S`, that is to DVC's override parser and then
into params.yaml and the stage commands. The flow's own logic runs through
`sweep.fn` (no Prefect server); a refused grid must stop before the
workspace lock, so nothing is created in the workspace.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.integration.workspace import ROOT

from aerec.config import load_params
from aerec.tune_space import dvc_command
from flows.sweep import best_overrides, sweep
from tasks.overrides import GridError, grid_overrides

pytestmark = [pytest.mark.integration]
WORD = "is not a plain word (1-64 of A-Z a-z 0-9 . _ -)"


@pytest.fixture
def params(tmp_path: Path) -> Path:
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    return tmp_path / "params.yaml"


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (
            {"dataset.name": ["synthetic;touch pwned;echo"]},
            f"grid key 'dataset.name': value 'synthetic;touch pwned;echo' {WORD}",
        ),
        ({"dataset.name": ["x' y"]}, f"grid key 'dataset.name': value \"x' y\" {WORD}"),
        (
            {"dataset.name": ["${train.lr}"]},
            f"grid key 'dataset.name': value '${{train.lr}}' {WORD}",
        ),
        (
            {"train.lr;touch pwned": ["0.1"]},
            "grid key 'train.lr;touch pwned': not a dotted params key such as train.lr",
        ),
        (
            {"+train.extra": ["1"]},
            "grid key '+train.extra': not a dotted params key such as train.lr",
        ),
        ({"train.nope": ["1"]}, "grid key 'train.nope': not a key of params.yaml"),
        (
            {"train.models": ["autorec"]},
            "grid key 'train.models': a list in params.yaml, not a scalar; sweep its keys",
        ),
        (
            {"train": ["autorec"]},
            "grid key 'train': a section in params.yaml, not a scalar; sweep its keys",
        ),
        (
            {"train.lr": ["[0.1, 0.2]"]},
            "grid key 'train.lr': value '[0.1, 0.2]' is not a finite number",
        ),
        ({"train.lr": [".inf"]}, "grid key 'train.lr': value '.inf' is not a finite number"),
        ({"train.lr": [float("nan")]}, "grid key 'train.lr': value nan is not a finite number"),
        ({"train.epochs": ["2,3"]}, "grid key 'train.epochs': value '2,3' is not a whole number"),
        ({"train.epochs": [2.5]}, "grid key 'train.epochs': value 2.5 is not a whole number"),
        (
            {"train.refit": ["yes"]},
            "grid key 'train.refit': value 'yes' is not a boolean (true or false)",
        ),
        ({"train.epochs": []}, "grid key 'train.epochs': expected a non-empty list of values"),
        ({"train.epochs": "2"}, "grid key 'train.epochs': expected a non-empty list of values"),
        (
            {"dataset.name": ["Synthetic"]},
            "grid point dataset.name='Synthetic': key 'dataset.name': 'Synthetic' is not a "
            "dataset name: use 1-64 of a-z 0-9 . _ - starting with a letter or digit",
        ),
        (
            {"train.optimizer": ["adamw"]},
            "grid point train.optimizer='adamw': key 'train.optimizer': "
            "Input should be 'adam', 'sgd' or 'lbfgs'",
        ),
        ({}, "grid: expected a non-empty mapping of params keys to lists of values"),
    ],
)
def test_a_hostile_or_wrong_grid_is_refused(params: Path, grid: dict, message: str) -> None:
    with pytest.raises(GridError) as err:
        grid_overrides(grid, params)
    assert str(err.value) == message


def test_the_sweep_flow_refuses_before_touching_the_workspace(params: Path) -> None:
    workspace = params.parent
    with pytest.raises(GridError, match="value 'x;touch pwned' is not a plain word"):
        sweep.fn(
            grid={"train.lr": ["0.001"], "dataset.name": ["x;touch pwned"]},
            workspace=str(workspace),
        )
    assert sorted(p.name for p in workspace.iterdir()) == ["params.yaml"]


def test_a_good_grid_becomes_typed_quoted_overrides(params: Path) -> None:
    grid = {
        "train.lr": ["0.001", 5e-4, "1e-3"],
        "train.full_batch": ["on"],
        "dataset.name": ["ml-1m"],
        "train.epochs": ["3"],
        "train.refit": [True],
        "models.autorec.hidden": [64],
    }
    points = grid_overrides(grid, params)
    assert points[0] == [
        "dataset.name='ml-1m'",
        "models.autorec.hidden=64",
        "train.epochs=3",
        "train.full_batch='on'",
        "train.lr=0.001",
        "train.refit=true",
    ]
    assert [p[4] for p in points] == ["train.lr=0.001", "train.lr=0.0005", "train.lr=0.001"]


def test_the_search_mode_runs_the_best_trial_with_the_overrides_tune_printed(
    params: Path,
) -> None:
    values = {"train.lr": 0.0012, "models.autorec.hidden": 300, "models.autorec.l2": 55.5}
    command = dvc_command(values, "autorec", load_params(params))
    assert best_overrides(command) == [
        "train.model=autorec",
        "models.autorec.hidden=300",
        "models.autorec.l2=55.5",
        "train.lr=0.0012",
    ]
    with pytest.raises(ValueError, match=r"not a `dvc exp run -S \.\.\.` line"):
        best_overrides("dvc exp run --temp -S train.lr=1")


def test_the_grid_mode_needs_a_grid(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sweep: mode grid needs a grid"):
        sweep.fn(workspace=str(tmp_path))
