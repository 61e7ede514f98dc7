"""aerec tune: a shared journal study, pruning, the test split never read, bad spaces."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState
from tests.train_fixture import write_tiny

from aerec import tune
from aerec.config import check_params, load_params
from aerec.errors import AerecError
from aerec.processed import load_processed, load_training
from aerec.tune_space import dvc_command, format_value, load_tune

CLI = [sys.executable, "-c", "from aerec.cli import main; main()"]
SPACE = {
    "train.lr": {"low": 0.001, "high": 0.05, "log": True},
    "models.autorec.hidden": {"choices": [4, 8]},
    "models.vae.dropout": {"low": 0.0, "high": 0.5},  # another model's: left out
}


def _params(tmp_path: Path, **tune_cfg: Any) -> Path:
    raw = {
        "train": {"epochs": 4, "batch_size": 4, "patience": 0, "amp": "off"},
        "runtime": {"device": "cpu", "threads": 1},
        "models": {"autorec": {"hidden": 8}},
        "tune": {"space": SPACE, "startup_trials": 1, **tune_cfg},
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _data(tmp_path: Path) -> Path:
    """The tiny build without its test split: a search must never need it."""
    data = write_tiny(tmp_path / "processed")
    (data / "test.npz").unlink()
    return data


def _trials(journal: Path, study: str) -> list[optuna.trial.FrozenTrial]:
    storage = JournalStorage(JournalFileBackend(str(journal)))
    return optuna.load_study(study_name=study, storage=storage).trials


def test_three_trials_with_two_workers_share_one_journal(tmp_path: Path) -> None:
    params, data, out = _params(tmp_path, prune=False), _data(tmp_path), tmp_path / "tune"
    args = ["tune", "--model", "autorec", "--trials", "3", "--jobs", "2", "--study", "s1"]
    paths = ["--params", str(params), "--data", str(data), "--out", str(out)]
    proc = subprocess.run([*CLI, *args, *paths], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = _trials(out / "s1.journal", "s1")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert sorted(t.number for t in trials) == [0, 1, 2]
    assert {tuple(sorted(t.params)) for t in trials} == {("models.autorec.hidden", "train.lr")}
    summary = json.loads((out / "s1.json").read_text())
    best = min(trials, key=lambda t: t.value)
    assert summary["trials"] == 3 and summary["complete"] == 3 and summary["pruned"] == 0
    assert summary["best_value"] == best.value == min(t.value for t in trials)
    assert summary["best_trial"] == best.number
    assert summary["best_params"] == best.params
    assert summary["metric"] == "val_rmse"
    assert f"best trial {best.number}: val_rmse {best.value:.4f} " in proc.stdout
    assert f"record it as a DVC experiment:\n  {summary['command']}\n" in proc.stdout
    assert summary["command"].startswith("dvc exp run -S ++train.model=autorec -S ")
    progress = [_progress(line) for line in proc.stdout.splitlines() if line.startswith("trial ")]
    assert [p["k"] for p in progress] == ["1", "2", "3"]  # counted under the claim lock
    assert {p["n"]: p["value"] for p in progress} == {
        str(t.number): f"{t.value:.4f}" for t in trials
    }
    assert (progress[-1]["best"], progress[-1]["j"]) == (f"{best.value:.4f}", str(best.number))
    for line in progress:  # the best so far: the lowest value among the lines up to it
        seen = [p["value"] for p in progress[: progress.index(line) + 1]]
        assert line["best"] == min(seen)
    search = tune.Search(params, data, "autorec", 3, out / "s1.journal", "s1")
    rows = tune.trial_rows(search)  # the sweep flow's table: best first
    assert [r["trial"] for r in rows] == [t.number for t in sorted(trials, key=lambda t: t.value)]
    assert rows[0] == {
        "trial": best.number,
        "state": "complete",
        **best.params,
        "metric": "val_rmse",
        "value": best.value,
    }
    # A second run of the same command finds the study full: no fourth trial.
    again = subprocess.run([*CLI, *args, *paths], capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(_trials(out / "s1.journal", "s1")) == 3


PROGRESS = re.compile(
    r"trial (?P<k>\d+)/3: #(?P<n>\d+) complete, value (?P<value>\d\.\d{4}), "
    r"best val_rmse (?P<best>\d\.\d{4}) \(trial (?P<j>\d+)\), worker [01], \d+\.\d s"
)


def _progress(line: str) -> dict[str, str]:
    match = PROGRESS.fullmatch(line)
    assert match, line
    return match.groupdict()


def test_a_trial_far_worse_than_the_median_is_pruned(tmp_path: Path) -> None:
    params, data = _params(tmp_path, warmup_epochs=0), _data(tmp_path)
    search = tune.Search(params, data, "autorec", 2, tmp_path / "j.journal", "prune")
    study = tune.open_study(
        search, load_tune(check_params(yaml.safe_load(params.read_text())), "autorec")
    )
    study.enqueue_trial({"train.lr": 0.05, "models.autorec.hidden": 8})
    # lr 0.001 for one epoch: still far worse than the first trial's first epoch.
    study.enqueue_trial({"train.lr": 0.001, "models.autorec.hidden": 4})
    summary = tune.run(search, 1, tmp_path / "out")
    trials = _trials(search.storage, "prune")
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert list(trials[1].intermediate_values) == [1]  # stopped after its first epoch
    assert trials[1].intermediate_values[1] > trials[0].intermediate_values[1]
    assert (summary["trials"], summary["complete"], summary["pruned"]) == (2, 1, 1)
    assert summary["best_trial"] == 0


def test_the_reporter_prunes_only_when_pruning_is_on(tmp_path: Path) -> None:
    for prune, expected in ((True, TrialState.PRUNED), (False, TrialState.COMPLETE)):
        params = _params(tmp_path, prune=prune)
        cfg = load_tune(check_params(yaml.safe_load(params.read_text())), "autorec")
        search = tune.Search(params, tmp_path, "autorec", 2, tmp_path / f"{prune}.journal", "r")
        study = tune.open_study(search, cfg)
        first = study.ask()
        tune.epoch_reporter(first)({"epoch": 1, "val_rmse": 1.0, "val_recall20": None})
        study.tell(first, 1.0)
        second = study.ask()
        report = tune.epoch_reporter(second)
        try:
            report({"epoch": 1, "val_rmse": 5.0, "val_recall20": None})
            state = TrialState.COMPLETE
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        assert state == expected


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {},
            "params tune: key 'space': Dictionary should have at least 1 item after "
            "validation, not 0",
        ),
        (
            {"train.lr": {"low": 0.01, "high": 0.001}},
            "params tune: space.train.lr: low (0.01) must be below high (0.001)",
        ),
        (
            {"train.lr": {"low": 0.0, "high": 0.1, "log": True}},
            "params tune: space.train.lr: a log range needs low above 0, got 0.0",
        ),
        (
            {"train.lr": {"low": 0.001, "hi": 0.1}},
            "params tune: space.train.lr: key 'high': Field required (and 1 more)",
        ),
        (
            {"train.noise": {"choices": ["none", "rm -rf /"]}},
            "params tune: space.train.noise: 'rm -rf /' is not a number, boolean or plain word "
            "(1-64 of A-Z a-z 0-9 _ . -)",
        ),
        (
            {"train.lr": 0.01},
            "params tune: key 'space.train.lr': give {low: .., high: ..} or {choices: [..]}",
        ),
        (
            {"build.split.seed": {"choices": [1, 2]}},
            "params tune.space.build.split.seed: a search changes train.<key> or "
            "models.autorec.<key> only",
        ),
        (
            {"models.vae.dropout": {"low": 0.0, "high": 0.5}},
            "params tune.space: nothing for train or models.autorec to search",
        ),
        (
            {"train.epochs": {"low": 0, "high": 5}},
            "params tune.space, train: key 'epochs': Input should be greater than or equal to 1",
        ),
    ],
)
def test_a_bad_space_is_one_line(space: dict[str, Any], message: str) -> None:
    params = check_params({"tune": {"space": space}})
    with pytest.raises(AerecError) as info:
        load_tune(params, "autorec")
    assert str(info.value) == message


def test_a_bad_space_ends_the_command_in_one_line(tmp_path: Path) -> None:
    raw = yaml.safe_load(_params(tmp_path).read_text())
    raw["tune"]["space"] = {"train.lr": {"low": 0.01, "high": 0.001}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run(
        [*CLI, "tune", "--model", "autorec", "--data", str(_data(tmp_path))],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "aerec: error: params tune: space.train.lr: low (0.01) must be below high (0.001)\n"
    )


def test_values_go_to_the_command_line_with_their_types() -> None:
    assert format_value(1e-05) == "1.0e-05"
    assert format_value(0.0012) == "0.0012"
    assert format_value(300) == "300"
    assert format_value(True) == "true"
    assert format_value("masking") == "masking"
    params = check_params({"train": {"models": ["autorec"]}})
    # Keys the file does not spell out are ++key (DVC refuses plain ones): all but train.models.
    assert dvc_command({"train.lr": 1e-05, "models.vae.dropout": 0.5}, "vae", params) == (
        "dvc exp run -S ++train.model=vae -S 'train.models=[vae]' -S ++models.vae.dropout=0.5 "
        "-S ++train.lr=1.0e-05"
    )
    with pytest.raises(AerecError, match="is not a number, boolean or plain word"):
        dvc_command({"train.noise": "a;b"}, "autorec", params)


def test_load_training_is_the_training_view_without_opening_test(tmp_path: Path) -> None:
    data = write_tiny(tmp_path / "processed")
    view, loaded = load_processed(data).training(), load_training(data)
    for part in ("train", "val", "val_inputs", "user_side", "item_side"):
        assert (getattr(view, part) != getattr(loaded, part)).nnz == 0
    assert (loaded.rating_min, loaded.rating_max) == (1.0, 5.0)
    (data / "test.npz").write_bytes(b"not a matrix")  # never opened
    assert load_training(data).fingerprint() == view.fingerprint()


@pytest.mark.integration
def test_the_printed_command_records_the_values_dvc_writes_back(tmp_path: Path) -> None:
    """`dvc exp run -S` rewrites params.yaml in YAML 1.2 (1e-05, no dot); aerec reads it back."""
    dvc = Path(sys.executable).with_name("dvc")
    raw = {"train": {"models": ["autorec"], "lr": 0.001}, "models": {"autorec": {"l2": 1.0}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump({"stages": {"p": {"cmd": "cp params.yaml out.yaml", "params": ["train"]}}})
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for cmd in (
        ["git", "init", "-q"],
        [str(dvc), "init", "-q"],
        [str(dvc), "config", "core.analytics", "false"],
        ["git", "add", "-A"],
    ):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=tmp_path, check=True, capture_output=True)
    values = {"train.lr": 1e-05, "models.autorec.l2": 2.5e-06, "train.noise": "gaussian"}
    command = dvc_command(values, "autorec", check_params(raw))
    env = {**os.environ, "PATH": f"{dvc.parent}:{os.environ['PATH']}"}
    proc = subprocess.run(
        command, shell=True, cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "lr: 1e-05" in (tmp_path / "params.yaml").read_text()  # DVC's spelling
    params = load_params(tmp_path / "params.yaml")
    assert (params.train.lr, params.train.noise) == (1e-05, "gaussian")
    assert params.models["autorec"]["l2"] == 2.5e-06


def test_a_folder_as_storage_is_one_line(tmp_path: Path) -> None:
    search = tune.Search(_params(tmp_path), _data(tmp_path), "autorec", 1, tmp_path, "s")
    with pytest.raises(AerecError) as info:
        tune.run(search, 1, tmp_path / "out")
    assert str(info.value) == f"--storage {tmp_path}: a folder; give the journal file's path"


@pytest.mark.parametrize(
    ("study", "trials", "jobs", "message"),
    [
        ("a b", 1, 1, "--study 'a b': use 1-64 of A-Z a-z 0-9 _ . -"),
        ("s", 0, 1, "--trials and --jobs: give whole numbers of at least 1"),
        ("s", 1, 0, "--trials and --jobs: give whole numbers of at least 1"),
    ],
)
def test_bad_options_are_one_line(
    tmp_path: Path, study: str, trials: int, jobs: int, message: str
) -> None:
    search = tune.Search(tmp_path, tmp_path, "autorec", trials, tmp_path / "j.journal", study)
    with pytest.raises(AerecError) as info:
        tune.run(search, jobs, tmp_path / "out")
    assert str(info.value) == message
