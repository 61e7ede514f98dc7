"""A dataset named in params.yaml: defaults, checked paths, ingest plans, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aerec import sources
from aerec.config import (
    FETCH_ROOT,
    DatasetConfig,
    Params,
    RatingScale,
    is_local,
    load_params,
    scale_of,
)
from aerec.errors import AerecError
from aerec.stages.build import split_for

ROOT = Path(__file__).resolve().parents[1]
AEREC = str(Path(sys.executable).with_name("aerec"))
KNOWN = "ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, synthetic"
FORMATS = "movielens, ml100k, recbole, amazon-2014, amazon-2018, amazon-2023, amazon-reviews, "
FORMATS += "sephora, sephora-recommended, cil, csv"


def params_file(tmp_path: Path, dataset: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"dataset": dataset}))
    return path


def test_shipped_params_name_a_known_dataset_with_catalogue_defaults() -> None:
    dataset = load_params(ROOT / "params.yaml").dataset
    assert dataset == DatasetConfig()
    assert (dataset.name, dataset.path, dataset.files) == ("ml-100k", "data/fetched", ())
    assert (dataset.format, dataset.columns, dataset.scale) == (None, None, None)
    assert not is_local(dataset)
    assert FETCH_ROOT == "data/fetched"


def test_a_path_makes_the_dataset_local_and_is_normalised() -> None:
    dataset = DatasetConfig(name="mine", path="/data/amazon/", format="amazon-reviews")
    assert (dataset.path, is_local(dataset)) == ("/data/amazon", True)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "data/raw/my file.csv",
            "key 'dataset.path': 'data/raw/my file.csv' is not a usable path: use / and names "
            "of A-Z a-z 0-9 . _ + - (no spaces, globs or ..)",
        ),
        (
            "data/raw/*.json",
            "key 'dataset.path': 'data/raw/*.json' is not a usable path: use / and names "
            "of A-Z a-z 0-9 . _ + - (no spaces, globs or ..)",
        ),
        (
            "../elsewhere/x.csv",
            "key 'dataset.path': '../elsewhere/x.csv' is not a usable path: use / and names "
            "of A-Z a-z 0-9 . _ + - (no spaces, globs or ..)",
        ),
        (
            "data/interim/ratings.parquet",
            "key 'dataset.path': 'data/interim/ratings.parquet' lies in data/, which pipeline "
            "stages write; keep your files elsewhere, e.g. data/raw/<name>",
        ),
        (
            ["a.csv", "b.csv"],
            "key 'dataset.path': ['a.csv', 'b.csv'] is not a path; give one file or folder "
            "(several files: a folder in dataset.path and their names in dataset.files)",
        ),
    ],
)
def test_bad_paths_are_one_line_naming_the_key(tmp_path: Path, path: object, message: str) -> None:
    params = params_file(tmp_path, {"name": "mine", "path": path, "format": "csv"})
    with pytest.raises(AerecError) as err:
        load_params(params)
    assert str(err.value) == f"{params}: {message}"


def test_files_need_a_local_folder(tmp_path: Path) -> None:
    params = params_file(tmp_path, {"name": "mine", "files": ["a.csv"]})
    with pytest.raises(AerecError) as err:
        load_params(params)
    assert str(err.value) == (
        f"{params}: key 'dataset': files: only with dataset.path set to your own folder"
    )


def test_unknown_name_without_a_path_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(AerecError) as err:
        sources.ingest_plan(DatasetConfig(name="my-amazon"), tmp_path)
    assert str(err.value) == (
        f"params.yaml: dataset.name 'my-amazon' is not a known dataset ({KNOWN}); for your own "
        "data set dataset.path to its file or folder and dataset.format to its format, e.g. "
        "path: data/raw/my-data, format: amazon-reviews (formats: aerec ingest --help)"
    )


def test_unknown_name_is_one_line_and_exit_2_from_fetch(tmp_path: Path) -> None:
    params_file(tmp_path, {"name": "my-amazon"})
    proc = subprocess.run(
        [AEREC, "fetch", "--out", "data/fetched"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        f"aerec: error: params.yaml: dataset.name 'my-amazon' is not a known dataset ({KNOWN}); "
        "for your own data set dataset.path to its file or folder and dataset.format to its "
        "format, e.g. path: data/raw/my-data, format: amazon-reviews "
        "(formats: aerec ingest --help)\n"
    )


def test_local_dataset_needs_a_format_and_an_existing_path(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("u,i,r\n")
    with pytest.raises(AerecError) as err:
        sources.ingest_plan(DatasetConfig(name="mine", path=str(tmp_path / "r.csv")), tmp_path)
    assert str(err.value) == (
        "params.yaml: dataset 'mine' has dataset.path but no dataset.format; "
        f"set dataset.format to one of: {FORMATS}"
    )
    missing = DatasetConfig(name="mine", path=str(tmp_path / "nope.csv"), format="csv")
    with pytest.raises(AerecError) as err:
        sources.ingest_plan(missing, tmp_path)
    assert str(err.value) == (
        f"params.yaml: dataset.path: {tmp_path / 'nope.csv'}: no such file or folder; "
        "check dataset.path (relative to the project folder, or absolute)"
    )


def test_local_plan_takes_files_columns_and_the_formats_scale(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n")
    (tmp_path / "b.csv").write_text("x\n")
    columns = {"user": "cust", "item": "prod", "rating": "stars"}
    dataset = DatasetConfig(
        name="shop", path=str(tmp_path), files=("a.csv", "b.csv"), format="csv", columns=columns
    )
    plan = sources.ingest_plan(dataset, tmp_path / "fetched")
    assert plan == ("csv", [tmp_path / "a.csv", tmp_path / "b.csv"], columns, None)


def test_known_name_with_a_path_reads_the_users_copy_the_catalogues_way(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    dataset = DatasetConfig(name="ml-20m", path=str(tmp_path / "ratings.csv"))
    plan = sources.ingest_plan(dataset, tmp_path / "fetched")
    assert plan.format == "csv"
    assert plan.columns == {
        "user": "userId",
        "item": "movieId",
        "rating": "rating",
        "timestamp": "timestamp",
    }
    assert plan.scale == RatingScale(min=0.5, max=5, step=0.5)


def test_ml20m_by_name_alone_ingests_from_the_fetched_folder(tmp_path: Path) -> None:
    fetched = tmp_path / "data" / "fetched" / "ml-20m"
    fetched.mkdir(parents=True)
    (fetched / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,10,3.5,1100000000\n1,11,5.0,1100000001\n"
        "2,10,0.5,1100000002\n"
    )
    params_file(tmp_path, {"name": "ml-20m"})
    proc = subprocess.run(
        [AEREC, "ingest", "--raw-root", "data/fetched", "--out", "interim"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "interim" / "summary.json").read_text())
    assert (summary["format"], summary["accepted"], summary["users"], summary["items"]) == (
        "csv",
        3,
        2,
        2,
    )
    assert summary["scale"] == {"min": 0.5, "max": 5.0, "step": 0.5}


def test_known_dataset_refuses_another_format(tmp_path: Path) -> None:
    fetched = tmp_path / "ml-20m"
    fetched.mkdir()
    (fetched / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    with pytest.raises(AerecError) as err:
        sources.ingest_plan(DatasetConfig(name="ml-20m", format="movielens"), tmp_path)
    assert str(err.value) == (
        "params.yaml: dataset.format 'movielens' is not how aerec reads the known dataset "
        "'ml-20m' (csv); leave dataset.format null, or set dataset.path to read your own copy"
    )


def test_fetch_of_a_local_dataset_writes_only_its_note(tmp_path: Path) -> None:
    raw = tmp_path / "mine.json"
    raw.write_text("{}\n")
    dataset = DatasetConfig(name="mine", path=str(raw), format="amazon-reviews")
    summary = sources.fetch(dataset, tmp_path / "fetched")
    assert summary["files"] == ["local.json"]
    assert json.loads((tmp_path / "fetched" / "mine" / "local.json").read_text()) == {
        "dataset": "mine",
        "local": True,
        "path": str(raw),
    }
    assert raw.read_text() == "{}\n"


def test_ml100k_split_is_ml100ks_own() -> None:
    ours = Params.model_validate({"dataset": {"name": "ml-100k"}})
    assert split_for(ours) == (ours.build.split, None)
    other = Params.model_validate({"dataset": {"name": "shop", "path": "x.csv", "format": "csv"}})
    split, note = split_for(other)
    assert split.method == "random"
    assert split.model_dump() == {**other.build.split.model_dump(), "method": "random"}
    assert note == (
        "build.split.method ml100k is ml-100k's own split; dataset 'shop' is split random instead"
    )
    kept = Params.model_validate(
        {"dataset": {"name": "shop"}, "build": {"split": {"method": "temporal"}}}
    )
    assert split_for(kept)[1] is None


def test_scale_is_params_then_ingests_then_stars() -> None:
    half = {"min": 0.5, "max": 5.0, "step": 0.5}
    assert scale_of(DatasetConfig(), {"scale": half}) == RatingScale(**half)
    assert scale_of(DatasetConfig(scale=RatingScale(min=1, max=10)), {"scale": half}) == (
        RatingScale(min=1, max=10)
    )
    assert scale_of(DatasetConfig(), {}) == RatingScale(min=1, max=5, step=1)
