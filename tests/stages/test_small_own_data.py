"""A small dataset of one's own through ingest, build and train by the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from tests.integration.own_data import write_amazon_reviews

AEREC = str(Path(sys.executable).with_name("aerec"))


def aerec(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}  # rich wraps at the terminal width
    return subprocess.run(
        [AEREC, *args], cwd=cwd, capture_output=True, text=True, check=False, env=env
    )


def test_build_says_it_split_random_and_an_empty_validation_stops_train(tmp_path: Path) -> None:
    write_amazon_reviews(tmp_path / "raw" / "reviews.json")
    dataset = {"name": "mine", "path": "raw/reviews.json", "format": "amazon-reviews"}
    split = {"method": "ml100k", "val_fraction": 0.0}
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(
            {"dataset": dataset, "build": {"split": split}, "validate": {"min_ratings": 100}}
        )
    )
    assert aerec(["ingest", "--raw-root", "fetched", "--out", "interim"], tmp_path).returncode == 0
    checked = aerec(["validate", "interim", "--out-root", "reports/validation"], tmp_path)
    assert checked.returncode == 0, checked.stderr
    built = aerec(["build", "interim", "--out", "processed"], tmp_path)
    assert built.returncode == 0, built.stderr
    lines = built.stdout.splitlines()
    assert lines[0] == "build (random): 20 users x 30 items; train 180, val 0, test 20 -> processed"
    assert lines[-1] == (
        "  build.split.method ml100k is ml-100k's own split; dataset 'mine' is split random instead"
    )
    trained = aerec(["train", "--data", "processed", "--out", "model"], tmp_path)
    assert trained.returncode == 2
    assert trained.stdout == ""
    assert trained.stderr == (
        "aerec: error: processed/val.npz: the validation split is empty, so no epoch can be "
        "chosen; set build.split.val_fraction above 0 (or a split method that leaves "
        "validation ratings) and run build again\n"
    )
