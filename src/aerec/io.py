"""Atomic output: write to a temporary sibling, then rename over the target.

Files (`atomic_path`) and whole stage folders (`atomic_folder`) alike: after a
kill a reader sees the old version or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from aerec.errors import AerecError

_ZSTD_LEVEL = 1


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` on success.

    A crash or an exception leaves `path` as it was (absent or the old
    version) and removes the temporary file, so readers never see half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            # mkstemp creates 0600 files; outputs get the usual umask-based mode.
            tmp.chmod(0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# The mark a stage leaves in the folder it wrote whole; only such a folder is replaced.
OUTPUT_MARK = ".aerec-output"


@contextlib.contextmanager
def atomic_folder(path: Path, stage: str, owned: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a new empty folder beside `path`; on success it replaces `path` whole.

    An exception or a kill leaves `path` as it was: all-old, or (after the
    swap) all-new. What killed runs left beside it (`.NAME.*.tmp`) is removed
    first; a kill between the swap's two renames left the old folder aside,
    and it is put back. An existing `path` is replaced only when it is empty
    or `stage` wrote it: its OUTPUT_MARK says so, or (a fresh clone's
    committed reports) every entry matches one of the `owned` name patterns.
    A folder of the user's is never deleted. A `.gitignore` in it (DVC's) is
    kept in the new folder.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise AerecError(f"{path.parent}: not a folder; pick another --out") from None
    _clean_leftovers(path)
    _check_replaceable(path, stage, owned)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        (tmp / OUTPUT_MARK).write_text(f"{stage}\n")
        _keep_gitignore(path, tmp)
        tmp.chmod(0o777 & ~_umask())
        _swap(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_replaceable(path: Path, stage: str, owned: tuple[str, ...]) -> None:
    if not path.exists():
        return
    if not path.is_dir():
        raise AerecError(f"{path}: a file where an output folder belongs; remove it or pick --out")
    mark = path / OUTPUT_MARK
    if mark.is_file() and mark.read_text().strip() == stage:
        return
    names = [entry.name for entry in path.iterdir() if entry.name != _GITIGNORE]
    if all(any(fnmatch.fnmatchcase(name, pattern) for pattern in owned) for name in names):
        return
    raise AerecError(
        f"{path}: holds files {stage} did not write, and {stage} replaces its output folder "
        "whole; pick an empty or new --out (or remove the folder)"
    )


_GITIGNORE = ".gitignore"


def _keep_gitignore(old: Path, new: Path) -> None:
    """Carry the old folder's .gitignore (DVC writes one for cached outputs) into the new one."""
    source = old / _GITIGNORE
    if source.is_file() and not (new / _GITIGNORE).exists():
        shutil.copy2(source, new / _GITIGNORE)


def _aside(path: Path) -> Path:
    return path.with_name(f".{path.name}.old.tmp")


def _swap(new: Path, path: Path) -> None:
    """Put folder `new` where `path` is, moving the old one aside and then deleting it."""
    if not path.exists():
        os.replace(new, path)
        return
    aside = _aside(path)
    os.replace(path, aside)
    os.replace(new, path)
    shutil.rmtree(aside, ignore_errors=True)


def _clean_leftovers(path: Path) -> None:
    aside = _aside(path)
    if aside.is_dir() and not path.exists():
        os.replace(aside, path)
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_parquet(frame: pl.DataFrame | pl.LazyFrame, path: Path) -> None:
    """Write a frame as zstd Parquet atomically; a LazyFrame is streamed (sink)."""
    # zstd level 1 writes a 10M-row rating table ~3x faster than polars'
    # default level, and the file came out no larger (85 vs 88 MB).
    options = {"compression": "zstd", "compression_level": _ZSTD_LEVEL}
    with atomic_path(path) as tmp:
        if isinstance(frame, pl.LazyFrame):
            frame.sink_parquet(tmp, **options)
        else:
            frame.write_parquet(tmp, **options)


def write_json(data: Any, path: Path) -> None:
    """Write `data` as indented JSON atomically; NaN and infinities become null (valid JSON)."""
    text = json.dumps(_finite(data), indent=2, sort_keys=False, default=str, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def _finite(data: Any) -> Any:
    """`data` with every non-finite float replaced by None, recursively."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def write_text(text: str, path: Path) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
