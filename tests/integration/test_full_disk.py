"""A full disk: one line, exit 2, the previous outputs intact and nothing partial left.

The disk is a real 4 MiB tmpfs mounted for the test (which needs root, as the
CI machine and this one run tests); a filler file takes its last byte.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.workspace import BIN, run
from tests.train_fixture import write_tiny

from aerec import datasets
from aerec.training.checkpoint import read_checkpoint

AEREC = str(BIN / "aerec")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> None:
    """Write a filler file until the device has no byte left."""
    with (disk / "filler").open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


def test_training_on_a_full_disk_keeps_the_last_checkpoint(tmp_path: Path, disk: Path) -> None:
    data = write_tiny(tmp_path / "data", n_users=40, n_items=30)
    params = tmp_path / "params.yaml"
    base = "train:\n  model: autorec\n  patience: 0\n  epochs: {}\nmodels:\n  autorec:\n"
    params.write_text(base.format(2) + "    hidden: 500\n")
    args = [AEREC, "train", "--data", str(data), "--out", str(disk / "model"), "--params"]
    run([*args, str(params)], tmp_path)
    before = read_checkpoint(disk / "model" / "checkpoint.pt")["history"]
    _fill(disk)
    params.write_text(base.format(4) + "    hidden: 500\n")
    full = run([*args, str(params), "--restart-if-changed"], tmp_path, check=False)
    assert full.returncode == 2, full.stderr
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left on its device (needed about " in lines[0], lines
    assert lines[0].endswith("the previous version is kept: free some space and run again")
    assert read_checkpoint(disk / "model" / "checkpoint.pt")["history"] == before
    assert _leftovers(disk) == []


def test_ingest_on_a_full_disk_writes_nothing(tmp_path: Path, disk: Path) -> None:
    datasets.fetch("synthetic", tmp_path / "raw")
    _fill(disk)
    out = disk / "interim"
    raw = tmp_path / "raw" / "synthetic"
    args = [AEREC, "ingest", "--format", "recbole", "--out", str(out), str(raw)]
    full = run([*args, "--params", str(tmp_path / "none.yaml")], tmp_path, check=False)
    assert full.returncode == 2, full.stderr
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aerec: error: no space left on the device"), (
        lines
    )
    assert not out.exists()
    assert _leftovers(disk) == []
