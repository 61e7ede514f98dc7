"""Sephora through ingest and build: per-table counts, reviewers' attributes into hybrid's input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import polars as pl
import torch
from rich.console import Console

from aerec.config import BuildConfig, Params, SideInfoConfig, SplitConfig
from aerec.models import build_model
from aerec.models.base import DataSpec, RatingData
from aerec.processed import load_maps, load_processed
from aerec.readers.sephora import USER_COLUMNS
from aerec.stages import build, ingest

HEADER = (
    ",author_id,rating,is_recommended,submission_time,skin_tone,eye_color,skin_type,"
    "hair_color,product_id\r\n"
)
REVIEWS_A = (
    HEADER + "0,u1,5,1.0,2021-01-01,fair,brown,dry,black,P1\r\n"
    "1,u2,4,1.0,2021-01-02,deep,,oily,,P1\r\n"
    "2,u1,2,0.0,2021-01-03,,blue,,red,P2\r\n"
    "3,u3,9,1.0,2021-01-03,tan,green,normal,gray,P2\r\n"  # rating out of scale
)
REVIEWS_B = HEADER + "0,u2,3,0.0,2021-02-01,light,hazel,,brown,P2\r\n1,u3,1,0.0,,tan,,,,P1\r\n"
PRODUCTS = (
    b"product_id,product_name,brand_name,price_usd,primary_category,secondary_category\r\n"
    b"P1,Glow\x99 Serum,Glowco,12.5,Skincare,Serums\r\n"  # cp1252: the byte of a trade mark
    b"P2,Lip Oil,Oilco,60,Makeup,\r\n"
    b"P3,Broken,Brand\r\n"  # wrong field count
)


def write_sephora(folder: Path) -> Path:
    folder.mkdir()
    (folder / "reviews_0-250.csv").write_text(REVIEWS_A, encoding="utf-8", newline="")
    (folder / "reviews_250-500.csv").write_text(REVIEWS_B, encoding="utf-8", newline="")
    (folder / "product_info.csv").write_bytes(PRODUCTS)
    return folder


def test_a_sephora_folder_has_per_table_counts_users_and_items(tmp_path: Path) -> None:
    out = tmp_path / "interim"
    summary = ingest.run("sephora", [write_sephora(tmp_path / "sephora")], out)
    assert summary["tables"] == {
        "reviews": {
            "rows_read": 6,
            "accepted": 5,
            "rejected": 1,
            "rejected_by_reason": {"rating_out_of_scale": 1},
            "read_as_windows_1252": 0,
        },
        "products": {
            "rows_read": 3,
            "accepted": 2,
            "rejected": 1,
            "rejected_by_reason": {"wrong_field_count": 1},
            "read_as_windows_1252": 1,
        },
    }
    assert (summary["rows_read"], summary["accepted"], summary["rejected"]) == (6, 5, 1)
    assert summary["side"] == {"users": 3, "items": 2}
    # u1: fair (01-01) then blank; u2: light (02-01) over deep; u3: its one accepted review
    # has no date, so the rejected 01-03 review's attributes are not taken.
    assert pl.read_parquet(out / "users.parquet").rows() == [
        ("u1", "fair", "dry", "blue", "red"),
        ("u2", "light", "oily", "hazel", "brown"),
        ("u3", "tan", None, None, None),
    ]
    items = pl.read_parquet(out / "items.parquet")
    assert items.select(
        "item_id", "product_name", "brand_name", "categories", "price_bucket"
    ).rows() == [
        ("P1", "Glow\u2122 Serum", "Glowco", ["Skincare", "Serums"], "10-25"),
        ("P2", "Lip Oil", "Oilco", ["Makeup"], "50-100"),
    ]
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(ingest.render(summary, "interim"))
    lines = console.export_text().splitlines()
    assert lines[0] == "ingest sephora: 6 reviews read, 5 accepted, 1 rejected"
    assert lines[2] == "  products: 3 records read, 2 accepted, 1 rejected, 1 read as Windows-1252"


def test_reviewer_attributes_reach_the_hybrid_models_input(tmp_path: Path) -> None:
    interim = tmp_path / "interim"
    ingest.run("sephora", [write_sephora(tmp_path / "sephora")], interim)
    side = SideInfoConfig(user_columns=USER_COLUMNS, item_columns=("brand_name", "price_bucket"))
    cfg = BuildConfig(
        split=SplitConfig(method="random", test_fraction=0, val_fraction=0), side=side
    )
    processed = tmp_path / "processed"
    build.run(interim, processed, Params(build=cfg))
    stats = json.loads((processed / "stats.json").read_text())
    assert stats["side"]["user"]["features"] == [
        "skin_tone=fair",
        "skin_tone=light",
        "skin_tone=tan",
        "skin_type=dry",
        "skin_type=oily",
        "eye_color=blue",
        "eye_color=hazel",
        "hair_color=brown",
        "hair_color=red",
    ]
    assert stats["side"]["item"]["features"] == [
        "brand_name=Glowco",
        "brand_name=Oilco",
        "price_bucket=10-25",
        "price_bucket=50-100",
    ]
    data = load_processed(processed).training()
    users = load_maps(processed)[0].get_column("user_id").to_list()
    assert users == ["u1", "u2", "u3"]
    spec = DataSpec(3, 2, data.user_side.shape[1], data.item_side.shape[1], 1.0, 5.0)
    rating = RatingData(data.train, "cpu", data.user_side, data.item_side)
    model = build_model("hybrid", {"orientation": "user"}, spec).eval()
    batch = model.make_batch(rating, torch.arange(3))
    # Each user's input row: ratings of P1, P2, then the user's attributes one-hot.
    assert batch.inputs.to_dense().numpy().tolist() == [
        [5.0, 2.0, 1, 0, 0, 1, 0, 1, 0, 0, 1],
        [4.0, 3.0, 0, 1, 0, 0, 1, 0, 1, 1, 0],
        [1.0, 0.0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
    ]
    # Item rows: the ratings of u1, u2, u3, then brand and price bucket.
    model = build_model("hybrid", {"orientation": "item"}, spec).eval()
    batch = model.make_batch(rating, torch.arange(2))
    assert batch.inputs.to_dense().numpy().tolist() == [
        [5.0, 4.0, 1.0, 1, 0, 1, 0],
        [2.0, 3.0, 0.0, 0, 1, 0, 1],
    ]
    assert np.asarray(data.user_side.sum(axis=1)).ravel().tolist() == [4.0, 4.0, 1.0]
    assert stats["side"]["user"]["n_features"] == 9


def test_is_recommended_as_the_thumbs_target(tmp_path: Path) -> None:
    interim = tmp_path / "interim"
    summary = ingest.run("sephora-recommended", [write_sephora(tmp_path / "sephora")], interim)
    # u3's 1-star review says not recommended: the out-of-scale 9 no longer matters.
    assert pl.read_parquet(interim / "ratings.parquet").select(
        "user_id", "item_id", "rating", "is_recommended"
    ).rows() == [
        ("u1", "P1", 5.0, 1.0),
        ("u2", "P1", 5.0, 1.0),
        ("u1", "P2", 1.0, 0.0),
        ("u3", "P2", 5.0, 1.0),
        ("u2", "P2", 1.0, 0.0),
        ("u3", "P1", 1.0, 0.0),
    ]
    assert summary["tables"]["reviews"]["rejected"] == 0
    split = SplitConfig(method="random", test_fraction=0, val_fraction=0)
    build.run(interim, tmp_path / "p", Params(build=BuildConfig(transform="thumbs", split=split)))
    train = load_processed(tmp_path / "p").training().train
    expected = np.array([[1.0, 0.1], [1.0, 0.1], [0.1, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(train.toarray(), expected)
