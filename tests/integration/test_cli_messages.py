"""What the real `aerec` command prints: one-line errors, Ctrl-C, user text as text.

Each test runs the installed console script in a subprocess, as a user or
DVC does, so the exit code and the exact stderr are those `main()` gives.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from tests.integration.workspace import BIN, run

AEREC = str(BIN / "aerec")
# Rich reads `[...]` as markup: `[/x]` crashes it, `[red]` is swallowed.
MARKUP = "odd [/x] [red]name"


def _plain(text: str) -> str:
    """Output with rich's wrapping undone, so a long path compares whole."""
    return "".join(text.splitlines())


@pytest.mark.parametrize(
    ("scale", "reason"),
    [
        ("5:1:1", "min (5.0) must be below max (1.0)"),
        ("1:5:-1", "step must be >= 0 (0 means any value in range)"),
        ("1:inf", "key 'max': Input should be a finite number"),
        ("1:x:1", "'x' is not a number"),
        ("1:2:3:4", "expected MIN:MAX or MIN:MAX:STEP, got 4 numbers"),
    ],
)
def test_a_bad_scale_says_what_is_wrong(tmp_path: Path, scale: str, reason: str) -> None:
    proc = run(
        [AEREC, "ingest", "ratings.inter", "--format", "recbole", "--scale", scale, "--out", "o"],
        tmp_path,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (
        2,
        f"aerec: error: --scale {scale!r}: {reason}; give MIN:MAX:STEP, e.g. 0.5:5:0.5\n",
    )


def test_fetch_synthetic_says_generated_then_already_present(tmp_path: Path) -> None:
    first = run([AEREC, "fetch", "synthetic", "--out", "raw"], tmp_path)
    again = run([AEREC, "fetch", "synthetic", "--out", "raw"], tmp_path)
    (tmp_path / "raw" / "synthetic" / "synthetic.user").write_text("changed\n")
    repaired = run([AEREC, "fetch", "synthetic", "--out", "raw"], tmp_path)
    files = "-> raw/synthetic (3 files)\n"
    assert first.stdout == f"synthetic (generated): written {files}"
    assert again.stdout == f"synthetic (generated): already present, verified {files}"
    assert repaired.stdout == f"synthetic (generated): written {files}"


def test_ctrl_c_exits_130_with_one_line(tmp_path: Path) -> None:
    # A server that accepts and never answers: fetch blocks in the download.
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        proc = subprocess.Popen(
            [AEREC, "fetch", "ml-1m", "--source", "grouplens", "--url", url, "--out", "raw"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        connection, _ = server.accept()
        with connection:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (130, "", "aerec: interrupted\n")
    assert not (tmp_path / "raw" / "ml-1m").exists()


def test_paths_with_markup_are_printed_as_they_are(tmp_path: Path) -> None:
    out = f"raw/{MARKUP}"
    fetched = run([AEREC, "fetch", "synthetic", "--out", out], tmp_path, COLUMNS="500")
    assert fetched.stdout == f"synthetic (generated): written -> {out}/synthetic (3 files)\n"
    run([AEREC, "fetch", "synthetic", "--out", "raw"], tmp_path)
    ingested = run(
        [AEREC, "ingest", "raw/synthetic", "--format", "recbole", "--out", f"interim/{MARKUP}"],
        tmp_path,
        COLUMNS="500",
    )
    assert ingested.stdout.splitlines()[-1] == f"  -> interim/{MARKUP}"


def test_report_prints_model_folders_with_markup_as_they_are(tmp_path: Path) -> None:
    # A folder name holds no `/`, so no closing tag: rich would swallow `[red]`.
    name = "m[red]1"
    folder = tmp_path / "reports" / "models" / name
    folder.mkdir(parents=True)
    metrics = {"model": {"rating": {"rmse": 0.9, "mae": 0.7}, "ranking": {}}, "baselines": {}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "params.yaml").write_text("dataset:\n  name: synthetic\n")
    proc = run([AEREC, "report", "--evaluations", "reports"], tmp_path, COLUMNS="200")
    rows = [line for line in proc.stdout.splitlines() if "0.9000" in line]
    assert len(rows) == 1 and rows[0].split()[1] == name, proc.stdout
    assert _plain(proc.stdout).endswith("evaluation report: reports/index.html")
