"""The validation gate: `aerec build` builds only data that validate passed, as they are now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from aerec import datasets
from aerec import schema as s
from aerec.config import Params
from aerec.errors import AerecError
from aerec.gate import ingest_digest
from aerec.stages import ingest, validate

CLI = [sys.executable, "-c", "from aerec.cli import main; main()"]


@pytest.fixture(scope="module")
def interim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic dataset, ingested: 3,000 ratings that pass the default checks."""
    root = tmp_path_factory.mktemp("gate")
    datasets.fetch("synthetic", root / "raw")
    plan = datasets.ingest_plan("synthetic", root / "raw")
    ingest.run(plan.format, plan.inputs, root / "interim", plan.scale, plan.columns)
    return root / "interim"


def _params(tmp_path: Path, text: str = "") -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(f"dataset:\n  name: synthetic\nbuild:\n  split:\n    method: random\n{text}")
    return path


def _build(interim: Path, tmp_path: Path, params: Path, summary: Path) -> list[str]:
    """Run `aerec build` as a user would; return stderr's lines (exit code checked)."""
    args = [*CLI, "build", str(interim), "--out", str(tmp_path / "processed")]
    proc = subprocess.run(
        [*args, "--validation", str(summary), "--params", str(params)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == (0 if not proc.stderr else 2), proc.stderr
    return proc.stderr.strip().splitlines()


def test_build_runs_on_validated_data(interim: Path, tmp_path: Path) -> None:
    params = _params(tmp_path)
    summary = validate.run(interim, tmp_path / "report", Params.model_validate({}))
    assert summary["passed"] and summary["input_sha256"] == ingest_digest(interim)
    assert _build(interim, tmp_path, params, tmp_path / "report" / "summary.json") == []
    assert (tmp_path / "processed" / "train.npz").is_file()


def test_build_refuses_without_a_validation(interim: Path, tmp_path: Path) -> None:
    missing = tmp_path / "report" / "summary.json"
    assert _build(interim, tmp_path, _params(tmp_path), missing) == [
        f"aerec: error: {missing}: no validation result of {interim}; "
        f"run `aerec validate {interim}` first"
    ]
    assert not (tmp_path / "processed").exists()


def test_build_refuses_after_a_failed_validation(interim: Path, tmp_path: Path) -> None:
    strict = Params.model_validate({"validate": {"min_ratings": 100_000}})
    with pytest.raises(AerecError, match="validation failed"):
        validate.run(interim, tmp_path / "report", strict)
    summary = tmp_path / "report" / "summary.json"
    assert _build(interim, tmp_path, _params(tmp_path), summary) == [
        f"aerec: error: {interim}: validation failed (min_ratings[profile.n_ratings]); "
        "build refuses unvalidated data: fix the data or validate.* in params.yaml, "
        f"see {tmp_path / 'report' / 'index.html'}"
    ]
    assert not (tmp_path / "processed").exists()


def test_build_refuses_data_changed_since_validation(interim: Path, tmp_path: Path) -> None:
    changed = tmp_path / "interim"
    changed.mkdir()
    for path in interim.iterdir():
        (changed / path.name).write_bytes(path.read_bytes())
    validate.run(changed, tmp_path / "report", Params.model_validate({}))
    ratings = pl.read_parquet(changed / s.RATINGS_FILE)
    ratings.head(ratings.height - 1).write_parquet(changed / s.RATINGS_FILE)
    summary = tmp_path / "report" / "summary.json"
    assert _build(changed, tmp_path, _params(tmp_path), summary) == [
        f"aerec: error: {changed}: changed since it was validated ({summary} is of other data); "
        f"run `aerec validate {changed}` first"
    ]


def test_digest_ignores_temporaries_and_sees_every_data_file(tmp_path: Path) -> None:
    (tmp_path / "ratings.parquet").write_bytes(b"abc")
    before = ingest_digest(tmp_path)
    (tmp_path / ".ratings.parquet.x1.tmp").write_bytes(b"partial")
    assert ingest_digest(tmp_path) == before
    (tmp_path / "users.parquet").write_bytes(b"")
    assert ingest_digest(tmp_path) != before
