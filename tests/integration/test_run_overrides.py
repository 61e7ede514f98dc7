"""The nightly flow's `overrides`: checked whole, applied for one run, then put back.

The flow's own logic runs through `pipeline.fn` (no Prefect server): a
refused override must stop before the workspace lock and leave params.yaml
as it was. The deployment run with overrides is in test_prefect_deployment.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from tests.integration.workspace import ROOT

from flows.pipeline import params_for_run, pipeline
from tasks.overrides import OverrideError, run_params

pytestmark = [pytest.mark.integration]
AMAZON = {
    "dataset.name": "my-amazon",
    "dataset.path": "/data/amazon.json.gz",
    "dataset.format": "amazon-reviews",
}


@pytest.fixture
def params(tmp_path: Path) -> Path:
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    return tmp_path / "params.yaml"


def test_dataset_and_model_overrides_are_applied_as_typed_values(params: Path) -> None:
    changed = run_params(
        {
            **AMAZON,
            "dataset.columns": None,
            "dataset.scale": {"min": 1, "max": 5, "step": 1},
            "train.models": ["autorec", "vae"],
            "train.epochs": "3",
            "models.autorec.hidden": 64,
        },
        params,
    )
    assert changed["dataset"] == {
        "name": "my-amazon",
        "path": "/data/amazon.json.gz",
        "files": [],
        "format": "amazon-reviews",
        "columns": None,
        "scale": {"min": 1.0, "max": 5.0, "step": 1.0},
    }
    assert changed["train"]["models"] == ["autorec", "vae"]
    assert (changed["train"]["epochs"], changed["models"]["autorec"]["hidden"]) == (3, 64)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"dataset.path": "/data/x.json; touch pwned"},
            "overrides: key 'dataset.path': '/data/x.json; touch pwned' is not a usable path: "
            "use / and names of A-Z a-z 0-9 . _ + - (no spaces, globs or ..)",
        ),
        (
            {"dataset.format": "csv --columns $(id)"},
            "override key 'dataset.format': value 'csv --columns $(id)' is not a plain word "
            "(1-64 of A-Z a-z 0-9 . _ -)",
        ),
        (
            {"dataset.columns": {"user": "a b"}},
            "override key 'dataset.columns': value {'user': 'a b'} is not a plain word "
            "(1-64 of A-Z a-z 0-9 . _ -)",
        ),
        (
            {"dataset.name": "My Data"},
            "override key 'dataset.name': value 'My Data' is not a plain word "
            "(1-64 of A-Z a-z 0-9 . _ -)",
        ),
        ({"dataset.owner": "me"}, "override key 'dataset.owner': not a key of params.yaml"),
        (
            {"train.epochs": "many"},
            "override key 'train.epochs': value 'many' is not a whole number",
        ),
        (["dataset.name"], "overrides: expected a mapping of params keys to values"),
    ],
)
def test_refused_overrides_are_one_line(params: Path, overrides: object, message: str) -> None:
    with pytest.raises(OverrideError) as err:
        run_params(overrides, params)
    assert str(err.value) == message


def test_a_refused_override_stops_the_flow_before_anything(params: Path) -> None:
    before = params.read_bytes()
    with pytest.raises(OverrideError):
        pipeline.fn(workspace=str(params.parent), overrides={"dataset.path": "a b"})
    assert params.read_bytes() == before
    assert sorted(p.name for p in params.parent.iterdir()) == ["params.yaml"]


def test_params_hold_the_overrides_for_the_run_then_their_old_text(params: Path) -> None:
    before = params.read_bytes()
    changed = run_params(AMAZON, params)
    with params_for_run(params, changed):
        assert yaml.safe_load(params.read_text())["dataset"]["path"] == "/data/amazon.json.gz"
    assert params.read_bytes() == before
    with pytest.raises(RuntimeError), params_for_run(params, changed):
        raise RuntimeError("a stage failed")
    assert params.read_bytes() == before
