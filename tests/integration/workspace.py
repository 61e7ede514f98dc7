"""A throwaway aerec workspace: the project's own pipeline files in a fresh git repo.

The integration tests run the real dvc.yaml, prefect.yaml, flows and tasks
of this checkout, on the built-in tiny synthetic dataset so that no network
and no ../shared data are needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PIPELINE_FILES = ("dvc.yaml", "params.yaml", "prefect.yaml", ".dvcignore", ".gitignore")
PIPELINE_DIRS = ("flows", "tasks", "scripts", "src")
# Small enough that a whole pipeline run takes seconds on two cores.
TINY_PARAMS = {
    "dataset": {"name": "synthetic"},
    "build": {"split": {"method": "random"}},
    "train": {"epochs": 4, "patience": 0, "batch_size": 32},
    "models": {"autorec": {"hidden": 16}},
}


def run(args: list[str], cwd: Path, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run a command with the test environment's bin first on PATH; keep its output."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **kw}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def merge(base: dict, override: dict) -> dict:
    """Recursively merge `override` into a copy of `base`."""
    out = dict(base)
    for key, value in override.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge(out[key], value) if nested else value
    return out


def set_params(workspace: Path, override: dict) -> None:
    """Change params.yaml the way a user would: edit keys, keep the rest."""
    path = workspace / "params.yaml"
    path.write_text(yaml.safe_dump(merge(yaml.safe_load(path.read_text()), override)))


def make_workspace(path: Path) -> Path:
    """Copy the pipeline files into `path`, set tiny params, git init, dvc init, commit."""
    path.mkdir(parents=True, exist_ok=True)
    for name in PIPELINE_FILES:
        shutil.copy2(ROOT / name, path / name)
    for name in PIPELINE_DIRS:
        shutil.copytree(ROOT / name, path / name, ignore=shutil.ignore_patterns("__pycache__"))
    set_params(path, TINY_PARAMS)
    run(["git", "init", "-q", "-b", "main"], path)
    run([str(BIN / "dvc"), "init", "-q"], path)
    run([str(BIN / "dvc"), "config", "core.analytics", "false"], path)
    run([str(BIN / "dvc"), "config", "core.check_update", "false"], path)
    commit(path, "workspace")
    return path


def commit(path: Path, message: str) -> None:
    """Commit everything in the workspace with a fixed test identity."""
    run(["git", "add", "-A"], path)
    run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@localhost",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
        ],
        path,
    )
