"""What every download of a dataset shares: checksums, temporary files, progress.

Files are hashed while they are streamed (md5 and sha256 in one pass), so a
pinned checksum costs no second read; progress goes to stderr only on a
terminal, never into the logs of DVC or CI.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from aerec.errors import AerecError

if TYPE_CHECKING:
    from rich.console import Console

MIB = 1 << 20
CHUNK = MIB


def copy_hashed(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, limit: int, label: str
) -> dict[str, str]:
    """Stream a member to `dest`, refusing more than `limit` bytes; return md5 and sha256."""
    hashes = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    written = 0
    with zf.open(info) as src, dest.open("wb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise AerecError(f"{label}: member '{info.filename}' unpacks past its size")
            out.write(chunk)
            for digest in hashes.values():
                digest.update(chunk)
    return {algo: digest.hexdigest() for algo, digest in hashes.items()}


def verify(label: str, path: Path, algo: str, expected: str, advice: str) -> None:
    """Compare the `algo` digest of the file at `path` with `expected` (see `compare`)."""
    with path.open("rb") as handle:
        got = hashlib.file_digest(handle, algo).hexdigest()
    compare(label, algo, expected, got, advice)


def compare(label: str, algo: str, expected: str, got: str, advice: str) -> None:
    """Raise an AerecError naming `label`, both digests and `advice` when they differ."""
    if got != expected:
        raise AerecError(f"{label}: {algo} mismatch: expected {expected}, got {got}; {advice}")


def sha256_or_none(path: Path) -> str | None:
    """The sha256 of the file at `path`, None when there is no such file."""
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@contextlib.contextmanager
def temp_file(directory: Path, prefix: str) -> Iterator[Path]:
    """A temporary file in `directory`, removed on exit whatever happens."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _terminal(show: bool) -> Console | None:
    """A rich console on stderr when progress is wanted and stderr is a terminal.

    In logs and pipes (DVC, CI) a progress display only adds noise to stderr.
    """
    if not show:
        return None
    from rich.console import Console

    console = Console(stderr=True)
    return console if console.is_terminal else None


@contextlib.contextmanager
def status(message: str, show: bool) -> Iterator[None]:
    """A rich spinner on stderr while `message` runs, when `show` and on a terminal."""
    console = _terminal(show)
    if console is None:
        yield
        return
    with console.status(message):
        yield


@contextlib.contextmanager
def progress_bar(label: str, total: int | None, show: bool) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`: a rich download bar on stderr when `show`, else a no-op."""
    console = _terminal(show)
    if console is None:
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
