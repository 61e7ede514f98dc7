"""params.yaml loading: typed sections, one-line errors, YAML 1.1/1.2 round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from aerec.config import load_params
from aerec.errors import AerecError

ROOT = Path(__file__).resolve().parents[1]


def test_the_project_params_load_with_the_documented_defaults() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params.dataset.name == "ml-100k"
    assert params.train.models == ["autorec"]
    assert params.train.full_batch == "off"
    assert params.build.split.method == "ml100k"


def test_an_unknown_key_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(AerecError) as err:
        load_params(path)
    assert str(err.value) == (
        f"{path}: unknown key 'train.epoch'; check the spelling against params.yaml's "
        "documented keys"
    )


def test_a_bad_value_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epochs: 0\n")
    with pytest.raises(AerecError, match=r"key 'train.epochs': Input should be greater"):
        load_params(path)


def test_broken_yaml_and_missing_file_are_user_errors(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train: [\n")
    with pytest.raises(AerecError, match="not valid YAML"):
        load_params(path)
    with pytest.raises(AerecError, match="params file not found"):
        load_params(tmp_path / "absent.yaml")


def test_off_and_on_survive_a_yaml_1_2_rewrite(tmp_path: Path) -> None:
    # What `dvc exp run -S` writes: unquoted off/on, booleans to PyYAML.
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  full_batch: off\n  amp: off\n")
    train = load_params(path).train
    assert (train.full_batch, train.amp) == ("off", "off")
    path.write_text("train:\n  full_batch: on\n")
    assert load_params(path).train.full_batch == "on"
