"""The README's commands work as printed: after `source .venv/bin/activate`, exit code 0.

Every `bash` block of README.md is read; each command in it is either run
here, exactly as printed, in a throwaway workspace on the tiny synthetic
dataset (in README order, so `dvc repro` comes before what reads its
outputs), or named below with the reason it cannot run offline in a test.
A new command in the README fails this test until it is put in one of them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from tests.integration.workspace import BIN, ROOT, make_workspace, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOT_RUN = {
    "make run": "fetches MovieLens 100K from PyPI and trains on it (the lead's CI runs it)",
    "make test": "the whole suite",
    "aerec ingest --format movielens --out data/interim data/raw/ml-1m": "the user's ml-1m files",
    "aerec ingest --format csv --columns user=userId,item=movieId,rating=rating,"
    "timestamp=timestamp --scale 0.5:5:0.5 --out data/interim ratings.csv": "the user's CSV",
    "dvc metrics diff runs~1 runs": "two recorded runs: test_runs_remote.py makes them",
    "aerec tune --model autorec --trials 40 --jobs 2": "40 trainings (tests/test_tune.py)",
    "aerec tune --model autorec --trials 40 --jobs 2 --storage /shared/tune.journal --study ar1": (
        "a shared filesystem"
    ),
    "dvc exp run -S train.lr=0.0005": (
        "the shape of `dvc exp run -S models.autorec.hidden=300`, run here (9 s spared)"
    ),
    "make serve": "a Prefect server: test_prefect_deployment.py runs it",
    "make stop": "a Prefect server: test_prefect_deployment.py runs it",
    ".venv/bin/prefect deployment run 'aerec-pipeline/nightly' --watch": "a Prefect server",
    ".venv/bin/prefect deployment run 'aerec-sweep/sweep' --param "
    '\'grid={"train.lr": ["0.001", "0.0005"]}\'': "a Prefect server",
    "torchrun --standalone --nproc-per-node 4 -m aerec.cli train --model autorec": "4 GPUs",
    "torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint node0:29500 "
    "--rdzv-id aerec-run -m aerec.cli train --model autorec": "two machines",
}


def readme_commands() -> list[str]:
    """Each command of README's bash blocks: continuation lines joined, comments dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        joined = re.sub(r",\n\s*", ", ", joined)  # a JSON value over several lines
        for line in joined.splitlines():
            command = re.sub(r"\s+#\s.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def test_every_readme_command_is_run_or_excused() -> None:
    commands = readme_commands()
    assert "source .venv/bin/activate" in commands
    assert "dvc repro" in commands
    excused = [c for c in commands if c in NOT_RUN]
    assert sorted(set(excused)) == sorted(NOT_RUN), set(NOT_RUN) - set(excused)


def test_readme_commands_run_as_printed(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")
    (workspace / ".venv").symlink_to(BIN.parent, target_is_directory=True)
    runnable = [
        c
        for c in readme_commands()
        if c not in NOT_RUN and c != "source .venv/bin/activate" and "prefect deployment" not in c
    ]
    assert runnable[:1] == ["aerec ingest --raw-root data/fetched --out data/interim"]
    # The quick start's `dvc repro` first: the other commands read its outputs.
    runnable.remove("dvc repro")
    plain = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path))}
    for command in ["dvc repro", *runnable]:
        proc = run(
            ["bash", "-c", f"source .venv/bin/activate && {command}"],
            workspace,
            check=False,
            **plain,
        )
        assert proc.returncode == 0, f"{command!r} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
    assert (workspace / "recs.parquet").is_file()
