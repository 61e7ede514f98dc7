"""Every other format family through the real `dvc repro`, chosen in params.yaml alone.

One workspace; per family a tiny fixture (own_formats.py: the same 200
ratings of 20 users and 30 items, plus a few deliberate bad rows) under
data/raw/<name>, and `dataset` re-pointed at it. Each run goes fetch ->
ingest -> validate -> build -> train -> evaluate -> compare; the test
asserts the exact rows read / accepted / rejected (by reason) at ingest, the
ratings, users, items and split sizes that reached build, and that metrics
and both reports exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import polars as pl
import pytest
from tests.integration import own_formats as fx
from tests.integration.test_own_data import CHAIN, SMALL, built, check_outputs, repro
from tests.integration.workspace import make_workspace, set_params

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# Everything a family's dataset block may set: each case sets all of it, so
# nothing of the previous family is left over.
BLANK = {"files": [], "format": None, "columns": None, "scale": None}
SIDE = {"user_columns": ["gender", "age", "occupation"], "item_columns": ["genres"]}
ML_SIDE = (["gender", "age", "occupation"], ["genres"])
SEPHORA_SIDE = {
    "user_columns": ["skin_tone", "skin_type", "eye_color", "hair_color"],
    "item_columns": ["brand_name", "categories", "price_bucket"],
}


def interim(workspace: Path) -> dict:
    return json.loads((workspace / "data" / "interim" / "summary.json").read_text())


class Family(NamedTuple):
    name: str
    write: Callable[[Path], None]
    target: str  # what the writer writes, under data/raw/<name>: "" for the folder itself
    dataset: dict  # dataset.* besides name and path
    path: str  # dataset.path under data/raw/<name>: "" for the folder
    ingested: tuple[int, int, int]  # rows read, accepted, rejected
    reasons: dict[str, int]
    counts: tuple[int, int, int, int, int, int]  # input ratings, users, items, train, val, test
    split: str
    scale: tuple[float, float, float]  # the format's own (min, max, step), params leave it null
    side: tuple[list[str], list[str]] = ([], [])  # user and item columns that reached build
    side_params: dict | None = None  # build.side for this family (None: params.yaml's)
    check: Callable[[Path], None] | None = None


def check_sephora(workspace: Path) -> None:
    """Per-table counts, the product with byte 0x99 kept, reviewers' attributes as users."""
    tables = interim(workspace)["tables"]
    assert {k: (v["rows_read"], v["accepted"], v["rejected"]) for k, v in tables.items()} == {
        "reviews": (203, 200, 3),
        "products": (31, 30, 1),
    }
    assert tables["products"]["read_as_windows_1252"] == 1
    files = interim(workspace)["files"]
    assert {k: (v["rows_read"], v["accepted"], v["rejected"]) for k, v in files.items()} == {
        "reviews_0-250.csv": (102, 100, 2),
        "reviews_250-500.csv": (101, 100, 1),
        "product_info.csv": (31, 30, 1),
    }
    assert tables["reviews"]["read_as_windows_1252"] == 0
    items = pl.read_parquet(workspace / "data" / "interim" / "items.parquet")
    assert items.filter(pl.col("item_id") == "P7")["product_name"].to_list() == ["Glow\u2122 7"]
    users = pl.read_parquet(workspace / "data" / "interim" / "users.parquet")
    assert users.height == 20
    assert users.filter(pl.col("user_id") == "1002")["skin_tone"].to_list() == ["tan"]
    ratings = pl.read_parquet(workspace / "data" / "interim" / "ratings.parquet")
    # is_recommended is 1.0 exactly for 4 and 5 stars (the fixture's rule).
    assert ratings.filter(pl.col("is_recommended") == 1.0).height == 80
    assert ratings.filter(pl.col("rating") >= 4).height == 80


RANDOM = (200, 20, 30, 160, 20, 20)
STARS, HALF_STARS = (1.0, 5.0, 1.0), (0.5, 5.0, 0.5)
FAMILIES = [
    Family(
        "my-ml1m",
        fx.write_movielens_1m,
        "",
        {"format": "movielens"},
        "",
        (202, 200, 2),
        {"rating_out_of_scale": 1, "wrong_field_count": 1},
        RANDOM,
        "random",
        HALF_STARS,
        ML_SIDE,
    ),
    # A known name with a local copy: format, columns and half stars are ml-20m's.
    Family(
        "ml-20m",
        fx.write_movielens_csv,
        "",
        {},
        "",
        (202, 200, 2),
        {"rating_out_of_scale": 1, "unparsable_number": 1},
        RANDOM,
        "random",
        HALF_STARS,
    ),
    Family(
        "my-100k",
        fx.write_ml100k,
        "",
        {"format": "ml100k"},
        "",
        (203, 200, 3),
        {"missing_id": 1, "rating_out_of_scale": 1, "wrong_field_count": 1},
        RANDOM,
        "random",
        STARS,
        ML_SIDE,
    ),
    Family(
        "my-recbole",
        fx.write_recbole,
        "",
        {"format": "recbole"},
        "",
        (202, 200, 2),
        {"rating_out_of_scale": 1, "unparsable_number": 1},
        RANDOM,
        "random",
        STARS,
        (["gender", "age"], ["genres"]),
    ),
    Family(
        "az14",
        fx.write_amazon_2014,
        "ratings_Books.csv",
        {"format": "amazon-2014"},
        "ratings_Books.csv",
        (202, 200, 2),
        {"missing_id": 1, "rating_out_of_scale": 1},
        RANDOM,
        "random",
        STARS,
    ),
    Family(
        "az18",
        fx.write_amazon_2018,
        "Books.csv",
        {"format": "amazon-2018"},
        "",
        (202, 200, 2),
        {"unparsable_number": 1, "wrong_field_count": 1},
        RANDOM,
        "random",
        STARS,
    ),
    Family(
        "az23",
        fx.write_amazon_2023,
        "Books.csv",
        {"format": "amazon-2023"},
        "Books.csv",
        (202, 200, 2),
        {"missing_id": 1, "rating_out_of_scale": 1},
        RANDOM,
        "random",
        STARS,
    ),
    Family(
        "my-sephora",
        fx.write_sephora,
        "",
        {"format": "sephora"},
        "",
        (203, 200, 3),
        {"rating_out_of_scale": 1, "unparsable_number": 1, "wrong_field_count": 1},
        RANDOM,
        "random",
        STARS,
        (SEPHORA_SIDE["user_columns"], SEPHORA_SIDE["item_columns"]),
        SEPHORA_SIDE,
        check_sephora,
    ),
    Family(
        "my-cil",
        fx.write_cil,
        "data_train.csv",
        {"format": "cil"},
        "data_train.csv",
        (203, 200, 3),
        {"missing_id": 1, "rating_out_of_scale": 1, "wrong_field_count": 1},
        RANDOM,
        "random",
        STARS,
    ),
    Family(
        "my-parquet",
        fx.write_mapped_parquet,
        "export.parquet",
        {
            "format": "csv",
            "columns": {"user": "who", "item": "sku", "rating": "score", "timestamp": "at"},
        },
        "",
        (202, 200, 2),
        {"missing_id": 1, "rating_out_of_scale": 1},
        RANDOM,
        "random",
        STARS,
    ),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_workspace(tmp_path_factory.mktemp("formats") / "ws")
    set_params(path, SMALL)
    return path


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_family_runs_whole_chain(workspace: Path, family: Family) -> None:
    raw = workspace / "data" / "raw" / family.name
    family.write(raw / family.target if family.target else raw)
    written = sorted(p.name for p in raw.iterdir())
    path = f"data/raw/{family.name}" + (f"/{family.path}" if family.path else "")
    dataset = {**BLANK, **family.dataset, "name": family.name, "path": path}
    set_params(workspace, {"dataset": dataset, "build": {"side": family.side_params or SIDE}})
    assert repro(workspace) == ["fetch", *CHAIN]
    summary = interim(workspace)
    assert (summary["rows_read"], summary["accepted"], summary["rejected"]) == family.ingested
    assert summary["rejected_by_reason"] == family.reasons
    stats = built(workspace)
    assert stats["dataset"] == family.name
    assert stats["split"]["method"] == family.split
    assert tuple(stats["scale"][k] for k in ("min", "max", "step")) == family.scale
    counts = stats["counts"]
    assert (
        tuple(counts[k] for k in ("input_ratings", "users", "items", "train", "val", "test"))
        == family.counts
    )
    side = stats["side"]
    assert (side["user"]["columns"], side["item"]["columns"]) == family.side
    check_outputs(workspace, family.name)
    if family.check is not None:
        family.check(workspace)
    assert sorted(p.name for p in raw.iterdir()) == written  # the user's files untouched
