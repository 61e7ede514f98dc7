"""Your own data through the real `dvc repro`, chosen in params.yaml alone.

One workspace, three local datasets in turn (Amazon review JSON lines, a
MovieLens folder, a CSV with a column map), each given by dataset.path: the
exact counts that reach build, every report, a no-op second run, a re-run
when the raw file changes, and the user's files untouched throughout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.integration.own_data import (
    write_amazon_reviews,
    write_mapped_csv,
    write_movielens_folder,
)
from tests.integration.workspace import BIN, make_workspace, run, set_params

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DVC = str(BIN / "dvc")
CHAIN = ["ingest", "validate", "build", "train@autorec", "evaluate@autorec", "compare", "blend"]
# The split is left at ml100k, as params.yaml ships it: build says it split random.
SMALL = {
    "build": {"split": {"method": "ml100k"}},
    "validate": {"min_ratings": 100},
    "train": {"epochs": 2},
}


def ran_stages(output: str) -> list[str]:
    import re

    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_workspace(tmp_path_factory.mktemp("own") / "ws")
    set_params(path, SMALL)
    return path


def repro(workspace: Path) -> list[str]:
    return ran_stages(run([DVC, "repro"], workspace).stdout)


def built(workspace: Path) -> dict:
    return json.loads((workspace / "data" / "processed" / "stats.json").read_text())


def check_outputs(workspace: Path, name: str) -> None:
    metrics = json.loads((workspace / "reports/evaluation/models/autorec/metrics.json").read_text())
    assert sorted(metrics["baselines"]) == ["biased_mf", "biases", "ease", "global_mean", "pop"]
    assert metrics["model"]["rating"]["rmse"] > 0
    assert (workspace / "reports" / "validation" / name / "index.html").is_file()
    assert (workspace / "reports" / "evaluation" / "index.html").is_file()


def test_amazon_reviews_file_runs_whole_chain_and_is_tracked(workspace: Path) -> None:
    raw = workspace / "data" / "raw" / "my-amazon"
    write_amazon_reviews(raw / "reviews.json")
    (raw / "NOTES.txt").write_text("my own notes\n")
    content = (raw / "reviews.json").read_bytes()
    set_params(
        workspace,
        {
            "dataset": {
                "name": "my-amazon",
                "path": "data/raw/my-amazon/reviews.json",
                "format": "amazon-reviews",
            }
        },
    )
    assert repro(workspace) == ["fetch", *CHAIN]
    stats = built(workspace)
    assert stats["dataset"] == "my-amazon"
    assert stats["split"]["method"] == "random"
    assert stats["split_note"] == (
        "build.split.method ml100k is ml-100k's own split; dataset 'my-amazon' is split "
        "random instead"
    )
    assert stats["scale"] == {"min": 1.0, "max": 5.0, "step": 1.0}
    counts = stats["counts"]
    assert (counts["input_ratings"], counts["users"], counts["items"]) == (200, 20, 30)
    assert (counts["train"], counts["val"], counts["test"]) == (160, 20, 20)
    interim = json.loads((workspace / "data" / "interim" / "summary.json").read_text())
    assert (interim["rows_read"], interim["accepted"], interim["rejected"]) == (202, 200, 2)
    check_outputs(workspace, "my-amazon")
    assert repro(workspace) == []
    # The user's file changes: everything from ingest on runs again.
    with (raw / "reviews.json").open("a") as handle:
        handle.write(
            '{"reviewerID": "A000", "asin": "0000000029", "overall": 4.0, '
            '"unixReviewTime": 1400000000}\n'
        )
    assert repro(workspace) == CHAIN
    assert built(workspace)["counts"]["input_ratings"] == 201
    assert (raw / "NOTES.txt").read_text() == "my own notes\n"
    assert (raw / "reviews.json").read_bytes().startswith(content)
    assert sorted(p.name for p in raw.iterdir()) == ["NOTES.txt", "reviews.json"]


def test_movielens_folder_with_its_half_star_scale(workspace: Path) -> None:
    folder = workspace / "data" / "raw" / "my-ml"
    write_movielens_folder(folder)
    (folder / "README.txt").write_text("exported by hand\n")
    set_params(
        workspace, {"dataset": {"name": "my-ml", "path": "data/raw/my-ml", "format": "movielens"}}
    )
    assert repro(workspace) == ["fetch", *CHAIN]
    stats = built(workspace)
    assert stats["scale"] == {"min": 0.5, "max": 5.0, "step": 0.5}
    counts = stats["counts"]
    assert (counts["input_ratings"], counts["users"], counts["items"]) == (200, 20, 30)
    check_outputs(workspace, "my-ml")
    assert repro(workspace) == []
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "movies.dat", "ratings.dat"]


def test_mapped_csv_in_a_folder_with_files(workspace: Path) -> None:
    folder = workspace / "data" / "raw" / "shop"
    write_mapped_csv(folder / "ratings.csv")
    set_params(
        workspace,
        {
            "dataset": {
                "name": "shop",
                "path": "data/raw/shop",
                "files": ["ratings.csv"],
                "format": "csv",
                "columns": {
                    "user": "customer",
                    "item": "product",
                    "rating": "stars",
                    "timestamp": "when",
                },
            }
        },
    )
    assert repro(workspace) == ["fetch", *CHAIN]
    counts = built(workspace)["counts"]
    assert (counts["input_ratings"], counts["users"], counts["items"]) == (200, 20, 30)
    rejects = run(
        [
            str(BIN / "python"),
            "-c",
            "import polars as pl; print(pl.read_parquet('data/interim/rejects.parquet')"
            ".select('line', 'reason').rows())",
        ],
        workspace,
    ).stdout.strip()
    assert rejects == "[(8, 'unparsable_number')]"
    check_outputs(workspace, "shop")
    assert repro(workspace) == []
    (folder / "ratings.csv").touch()
    assert repro(workspace) == []  # touched, same bytes: DVC compares hashes
    assert sorted(p.name for p in folder.iterdir()) == ["ratings.csv"]
