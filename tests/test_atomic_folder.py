"""Stage folders are replaced whole or not at all, and a user's folder is never deleted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aerec.errors import AerecError
from aerec.io import OUTPUT_MARK, atomic_folder


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text)


def _contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def test_success_replaces_the_old_output_whole(tmp_path: Path) -> None:
    out = tmp_path / "processed"
    with atomic_folder(out, "build") as tmp:
        _write(tmp, {"a.npz": "old", "b.json": "old"})
    with atomic_folder(out, "build") as tmp:
        _write(tmp, {"a.npz": "new"})
    assert _contents(out) == {OUTPUT_MARK: "build\n", "a.npz": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["processed"]


def test_a_failure_midway_leaves_the_old_output(tmp_path: Path) -> None:
    out = tmp_path / "processed"
    with atomic_folder(out, "build") as tmp:
        _write(tmp, {"a.npz": "old", "b.json": "old"})
    with pytest.raises(ZeroDivisionError), atomic_folder(out, "build") as tmp:
        _write(tmp, {"a.npz": "new"})
        _ = 1 / 0
    assert _contents(out) == {OUTPUT_MARK: "build\n", "a.npz": "old", "b.json": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["processed"]


def test_a_killed_run_leaves_the_old_output_and_its_leftovers_go(tmp_path: Path) -> None:
    out = tmp_path / "processed"
    with atomic_folder(out, "build") as tmp:
        _write(tmp, {"a.npz": "old"})
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from aerec.io import atomic_folder
        with atomic_folder(Path({str(out)!r}), "build") as tmp:
            (tmp / "a.npz").write_text("half")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -signal.SIGKILL
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "processed"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".processed.")
    assert _contents(out) == {OUTPUT_MARK: "build\n", "a.npz": "old"}
    with atomic_folder(out, "build") as tmp:
        _write(tmp, {"a.npz": "new"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["processed"]


def test_a_kill_between_the_two_renames_puts_the_old_output_back(tmp_path: Path) -> None:
    out = tmp_path / "processed"
    with atomic_folder(out, "build") as tmp:
        _write(tmp, {"a.npz": "old"})
    # The state a kill after `rename(out, aside)` and before `rename(new, out)` leaves.
    os.replace(out, tmp_path / ".processed.old.tmp")
    (tmp_path / ".processed.k3j.tmp").mkdir()
    with pytest.raises(RuntimeError), atomic_folder(out, "build"):
        raise RuntimeError("the next run fails too")
    assert _contents(out) == {OUTPUT_MARK: "build\n", "a.npz": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["processed"]


def test_a_folder_the_stage_did_not_write_is_never_replaced(tmp_path: Path) -> None:
    mine = tmp_path / "data"
    mine.mkdir()
    _write(mine, {"export.csv": "user,item,rating\n"})
    with pytest.raises(AerecError) as err, atomic_folder(mine, "ingest"):
        pass
    assert str(err.value) == (
        f"{mine}: holds files ingest did not write, and ingest replaces its output folder "
        "whole; pick an empty or new --out (or remove the folder)"
    )
    with atomic_folder(tmp_path / "built", "build"):
        pass
    refused = pytest.raises(AerecError, match="holds files ingest did not write")
    with refused, atomic_folder(tmp_path / "built", "ingest"):
        pass
    assert _contents(mine) == {"export.csv": "user,item,rating\n"}


def test_wrong_kind_of_out_is_one_line(tmp_path: Path) -> None:
    afile = tmp_path / "out"
    afile.write_text("x")
    with pytest.raises(AerecError) as err, atomic_folder(afile, "build"):
        pass
    assert str(err.value) == (
        f"{afile}: a file where an output folder belongs; remove it or pick --out"
    )
    with pytest.raises(AerecError) as err, atomic_folder(afile / "sub", "build"):
        pass
    assert str(err.value) == f"{afile}: not a folder; pick another --out"


def test_a_fresh_clones_committed_outputs_and_dvcs_gitignore_are_replaced(tmp_path: Path) -> None:
    out = tmp_path / "autorec"
    out.mkdir()
    _write(out, {"metrics.json": "{}", ".gitignore": "/predictions.parquet\n"})
    (out / "plots").mkdir()
    owned = ("metrics.json", "plots", "predictions.parquet")
    with atomic_folder(out, "evaluate", owned) as tmp:
        _write(tmp, {"metrics.json": "new"})
    assert _contents(out) == {
        ".aerec-output": "evaluate\n",
        ".gitignore": "/predictions.parquet\n",
        "metrics.json": "new",
    }
    _write(out, {"notes.txt": "mine"})
    (out / OUTPUT_MARK).unlink()
    refused = pytest.raises(AerecError, match="holds files evaluate did not write")
    with refused, atomic_folder(out, "evaluate", owned):
        pass
