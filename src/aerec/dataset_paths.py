"""The paths a dataset may name in params.yaml (dataset.path, dataset.files), checked.

dataset.path becomes a dependency of dvc.yaml's ingest stage (`${dataset.path}`)
and aerec opens it itself; it never reaches a shell. Still, it is held to
plain segments, as dataset.name is, so no value has a shell, glob, YAML or
DVC meaning, and it may not point into a folder a stage writes (DVC deletes
a stage's outputs before the stage runs).
"""

from __future__ import annotations

import re

# Where `aerec fetch` (dvc.yaml's fetch stage) writes the known datasets, one
# folder per name. It is DVC's output: no user file belongs there.
FETCH_ROOT = "data/fetched"
# Folders other stages write (DVC outputs): raw data there would be deleted.
_STAGE_OUTPUTS = ("data/fetched", "data/interim", "data/processed", "models", "reports")
# One path segment: no shell, glob, YAML or DVC meaning; not `.` or `..`.
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}")
_PATH_ADVICE = "use / and names of A-Z a-z 0-9 . _ + - (no spaces, globs or ..)"


def check_dataset_path(path: str) -> str:
    """`path` normalised (no trailing /) if it is a safe file or folder path, else ValueError.

    dataset.path becomes a dependency of dvc.yaml's ingest stage, so it is held
    to plain segments; relative paths are relative to the project folder, and
    none may lie inside a folder a stage writes.
    """
    if not isinstance(path, str):
        raise ValueError(
            f"{path!r} is not a path; give one file or folder (several files: a folder "
            "in dataset.path and their names in dataset.files)"
        )
    text = path.rstrip("/") if path not in ("", "/") else path
    parts = text.removeprefix("/").split("/")
    if not text or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise ValueError(f"{path!r} is not a usable path: {_PATH_ADVICE}")
    if text != FETCH_ROOT and any(
        text == out or text.startswith(f"{out}/") for out in _STAGE_OUTPUTS
    ):
        raise ValueError(
            f"{path!r} lies in {text.split('/')[0]}/, which pipeline stages write; "
            "keep your files elsewhere, e.g. data/raw/<name>"
        )
    return text


def check_file_name(name: str) -> str:
    """A file name inside dataset.path (dataset.files), held to the path segments' rule."""
    if not isinstance(name, str) or not all(_SEGMENT.fullmatch(p) for p in name.split("/")):
        raise ValueError(f"{name!r} is not a file name inside dataset.path: {_PATH_ADVICE}")
    return name
