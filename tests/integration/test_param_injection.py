"""No param value reaches a shell: the real `dvc exp run -S` with hostile values.

DVC interpolates `${...}` into a stage's `cmd` and runs it with a shell
before aerec starts, so a check inside aerec comes too late for any value
that appears there. These tests run the project's own dvc.yaml in a fresh
git repo and show that a hostile value runs nothing and ends in one line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.integration.workspace import BIN, ROOT, make_workspace, run

pytestmark = [pytest.mark.integration]
DVC = str(BIN / "dvc")
# Both quote styles: a value holding a quote escapes naive quoting in `cmd`.
HOSTILE_NAMES = [
    "synthetic;touch pwned;echo",
    "x'; touch pwned; echo '",
    'x"; touch pwned; echo "',
    "$(touch pwned)",
]


@pytest.fixture(scope="module")
def shared_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("inject") / "ws")


@pytest.fixture
def workspace(shared_workspace: Path) -> Path:
    # A failed `dvc exp run` leaves its -S changes in params.yaml: start clean.
    run(["git", "checkout", "--", "params.yaml"], shared_workspace)
    return shared_workspace


def _aerec_errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("aerec: error:")]


def test_no_stage_command_interpolates_a_param() -> None:
    # The design: commands hold no ${...}; aerec reads params.yaml itself and
    # takes a foreach stage's item from $DVC_STAGE, never from the shell line.
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    commands = {name: (stage.get("do") or stage)["cmd"] for name, stage in stages.items()}
    assert {name: cmd for name, cmd in commands.items() if "${" in cmd} == {}


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_dataset_name_runs_nothing_and_is_one_line(workspace: Path, name: str) -> None:
    quoted = "'" + name.replace("'", "\\'") + "'"
    proc = run([DVC, "exp", "run", "-S", f"dataset.name={quoted}"], workspace, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert not (workspace / "pwned").exists(), output
    assert list(workspace.rglob("pwned")) == []
    assert _aerec_errors(output) == [
        "aerec: error: params.yaml: key 'dataset.name': "
        f"{name!r} is not a dataset name: use 1-64 of a-z 0-9 . _ - "
        "starting with a letter or digit"
    ], output


def test_a_hostile_model_key_runs_nothing_and_is_one_line(workspace: Path) -> None:
    proc = run(
        [DVC, "exp", "run", "-S", "train.models=['autorec;touch pwned']"],
        workspace,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert list(workspace.rglob("pwned")) == [], output
    assert _aerec_errors(output) == [
        "aerec: error: params.yaml: key 'train.models.0': "
        "'autorec;touch pwned' is not a model key: use 1-64 of a-z 0-9 _ "
        "starting with a letter"
    ], output


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        (
            "train@autorec;touch pwned",
            "aerec: error: $DVC_STAGE 'train@autorec;touch pwned': 'autorec;touch pwned' is "
            "not a model key: use 1-64 of a-z 0-9 _ starting with a letter",
        ),
        (
            "evaluate@autorec",
            "aerec: error: --model-from-stage: $DVC_STAGE 'evaluate@autorec' is not a stage "
            "train@<model key>",
        ),
        (
            None,
            "aerec: error: --model-from-stage: $DVC_STAGE is not set (only `dvc repro` sets it); "
            "give --model KEY instead",
        ),
    ],
)
def test_the_foreach_item_comes_checked_from_dvc_stage(
    tmp_path: Path, stage: str | None, message: str
) -> None:
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    # `env -u` so that a DVC_STAGE of whatever runs the tests does not leak in.
    args = ["env", "-u", "DVC_STAGE", *([f"DVC_STAGE={stage}"] if stage else [])]
    args += [str(BIN / "aerec"), "train", "--out-root", "models", "--model-from-stage"]
    proc = run(args, tmp_path, check=False)
    assert (proc.returncode, proc.stderr.splitlines()) == (2, [message])
    assert list(tmp_path.rglob("pwned")) == []
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("path", ["data/raw/x;touch pwned", "$(touch pwned)"])
def test_a_hostile_dataset_path_runs_nothing_and_is_one_line(workspace: Path, path: str) -> None:
    proc = run([DVC, "exp", "run", "-S", f"dataset.path='{path}'"], workspace, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert list(workspace.rglob("pwned")) == [], output
    assert _aerec_errors(output) == [
        f"aerec: error: params.yaml: key 'dataset.path': {path!r} is not a usable path: "
        "use / and names of A-Z a-z 0-9 . _ + - (no spaces, globs or ..)"
    ], output
