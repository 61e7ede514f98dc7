"""Every subcommand, given a missing, empty, wrong-kind or corrupt input, ends in one line.

The walk calls the real entry point (`aerec.cli.main`, what the console
script runs) in this process, so each case costs no interpreter start; the
exit code and stderr are what a user sees. The inputs are made here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from aerec import cli

GARBAGE = b"\x00\x9f not what it claims to be \xff" * 8


def _missing(tmp: Path) -> Path:
    return tmp / "absent"


def _empty_folder(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


def _a_file(tmp: Path) -> Path:
    (tmp / "a-file").write_text("x\n")
    return tmp / "a-file"


def _corrupt_folder(tmp: Path) -> Path:
    """A folder whose every file a stage might read is garbage."""
    folder = tmp / "corrupt"
    folder.mkdir()
    names = ("ratings.parquet", "users.parquet", "items.parquet", "rejects.parquet")
    names += ("train.npz", "val.npz", "test.npz", "stats.json", "user_map.parquet")
    names += ("item_map.parquet", "baselines.npz", "baselines.json", "summary.json")
    names += ("model.pt", "checkpoint.pt", "history.csv", "metrics.json")
    for name in names:
        (folder / name).write_bytes(GARBAGE)
    (folder / "models" / "m").mkdir(parents=True)
    (folder / "models" / "m" / "metrics.json").write_bytes(GARBAGE)
    return folder


INPUTS: dict[str, Callable[[Path], Path]] = {
    "missing": _missing,
    "empty": _empty_folder,
    "wrong kind": _a_file,
    "corrupt": _corrupt_folder,
}

# Each subcommand with its input in the place marked {}.
COMMANDS: dict[str, list[str]] = {
    "ingest": ["ingest", "{}", "--format", "recbole", "--out", "out"],
    "validate": ["validate", "{}", "--out", "report"],
    "build": ["build", "{}", "--out", "processed", "--validation", "{}/summary.json"],
    "train": ["train", "--data", "{}", "--out", "model", "--model", "autorec"],
    "evaluate": ["evaluate", "--data", "{}", "--model-dir", "{}", "--out", "ev"],
    "recommend": ["recommend", "--data", "{}", "--model-dir", "{}", "--user", "1"],
    "recommend --all": ["recommend", "--data", "{}", "--model-dir", "{}", "--all"],
    "blend": ["blend", "--data", "{}", "--model-root", "{}", "--out", "bl"],
    "compare": ["compare", "{}/models/m", "--out", "overview.html"],
    "report": ["report", "--evaluations", "{}"],
    "fetch": ["fetch", "synthetic", "--out", "{}"],
}


# fetch creates a missing or empty --out folder: that is its job, not an error.
CASES = [
    (command, kind)
    for command in COMMANDS
    for kind in INPUTS
    if command != "fetch" or kind == "wrong kind"
]


@pytest.mark.parametrize(("command", "kind"), CASES)
def test_one_line_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    kind: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("dataset:\n  name: synthetic\n")
    target = str(INPUTS[kind](tmp_path))
    argv = [a.replace("{}", target) for a in COMMANDS[command]]
    monkeypatch.setattr(sys, "argv", ["aerec", *argv, "--params", "params.yaml"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aerec: error: "), err
