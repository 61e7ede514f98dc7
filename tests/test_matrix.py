"""Id maps, rating arrays, transforms, k-core and side-info matrices on hand-made fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from aerec import schema as s
from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.matrix import (
    Interactions,
    compact,
    id_map,
    kcore,
    load_interactions,
    save_csr,
    side_matrix,
    to_csr,
    transform_ratings,
)
from aerec.processed import read_csr as load_csr

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_ratings(path: Path, rows: list[tuple[str, str, float, int | None]]) -> Path:
    """A canonical ratings.parquet with the given (user, item, rating, timestamp) rows."""
    frame = pl.DataFrame(rows, schema=s.RATINGS_SCHEMA, orient="row")
    frame.write_parquet(path)
    return path


def arrays(user: list[int], item: list[int], rating: list[float]) -> Interactions:
    return Interactions(
        user=np.array(user, np.int32),
        item=np.array(item, np.int32),
        rating=np.array(rating, np.float32),
        row=np.arange(len(user), dtype=np.int32),
    )


def test_id_map_orders_integer_ids_numerically() -> None:
    out = id_map(pl.Series(["10", "2", "1", "2"]), s.USER_ID, s.USER_IDX)
    assert out.to_dict(as_series=False) == {s.USER_ID: ["1", "2", "10"], s.USER_IDX: [0, 1, 2]}
    assert out.schema[s.USER_IDX] == pl.Int32


def test_id_map_orders_other_ids_as_strings_and_keeps_leading_zeros() -> None:
    out = id_map(pl.Series(["b", "0132793040", "a"]), s.ITEM_ID, s.ITEM_IDX)
    assert out.get_column(s.ITEM_ID).to_list() == ["0132793040", "a", "b"]
    same_number = id_map(pl.Series(["7", "007"]), s.ITEM_ID, s.ITEM_IDX)
    assert same_number.get_column(s.ITEM_ID).to_list() == ["007", "7"]


def test_load_interactions_encodes_ids_in_input_order(tmp_path: Path) -> None:
    path = write_ratings(
        tmp_path / "r.parquet",
        [("u2", "i1", 4.0, 30), ("u1", "i2", 3.0, 10), ("u1", "i1", 5.0, None)],
    )
    inter, users, items = load_interactions(path)
    assert users.get_column(s.USER_ID).to_list() == ["u1", "u2"]
    assert items.get_column(s.ITEM_ID).to_list() == ["i1", "i2"]
    assert inter.user.tolist() == [1, 0, 0]
    assert inter.item.tolist() == [0, 1, 0]
    assert inter.rating.tolist() == [4.0, 3.0, 5.0]
    assert inter.row.tolist() == [0, 1, 2]
    assert inter.timestamp is None
    assert (inter.user.dtype, inter.item.dtype, inter.rating.dtype) == (
        np.int32,
        np.int32,
        np.float32,
    )


def test_to_csr_gives_the_exact_users_by_items_matrix(tmp_path: Path) -> None:
    matrix = to_csr(arrays([1, 0, 0, 2], [0, 2, 0, 1], [4, 3, 5, 1]), (4, 3))
    assert matrix.toarray().tolist() == [[5, 0, 3], [4, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert (matrix.dtype, matrix.indices.dtype, matrix.indptr.dtype) == (
        np.float32,
        np.int32,
        np.int32,
    )
    assert matrix.has_sorted_indices
    masked = to_csr(arrays([1, 0, 0, 2], [0, 2, 0, 1], [4, 3, 5, 1]), (4, 3), np.array([0, 3]))
    assert masked.toarray().tolist() == [[0, 0, 0], [4, 0, 0], [0, 1, 0], [0, 0, 0]]
    save_csr(matrix, tmp_path / "m.npz")
    back = load_csr(tmp_path / "m.npz")
    assert (back != matrix).nnz == 0
    assert back.dtype == np.float32


def test_missing_inputs_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(AerecError, match="ratings file not found"):
        load_interactions(tmp_path / "absent.parquet")
    pl.DataFrame({s.USER_ID: ["u"], s.RATING: [1.0]}).write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(AerecError, match="missing column"):
        load_interactions(tmp_path / "bad.parquet")
    with pytest.raises(AerecError, match="not found"):
        load_csr(tmp_path / "absent.npz")


def test_temporal_loading_refuses_missing_timestamps(tmp_path: Path) -> None:
    path = write_ratings(tmp_path / "r.parquet", [("u", "i", 4.0, None)])
    with pytest.raises(AerecError, match="no timestamp"):
        load_interactions(path, with_timestamp=True)


def test_thumbs_transform_maps_4_5_to_one_and_1_3_to_a_tenth_and_drops_zero() -> None:
    inter = arrays([0, 0, 0, 1, 1], [0, 1, 2, 0, 1], [0, 1, 3, 4, 5])
    out, scale = transform_ratings(inter, "thumbs", 3.5, RatingScale())
    assert out.rating.tolist() == pytest.approx([0.1, 0.1, 1.0, 1.0])
    assert out.row.tolist() == [1, 2, 3, 4]
    assert scale == {"min": 0.1, "max": 1.0, "step": 0.9}


def test_binarize_keeps_ratings_at_or_above_the_threshold_as_one() -> None:
    inter = arrays([0, 0, 1, 1], [0, 1, 0, 1], [3, 3.5, 4, 5])
    out, _ = transform_ratings(inter, "binarize", 3.5, RatingScale())
    assert out.rating.tolist() == [1.0, 1.0, 1.0]
    assert out.row.tolist() == [1, 2, 3]
    raw, scale = transform_ratings(inter, "raw", 3.5, RatingScale(min=0.5, max=5, step=0.5))
    assert raw is inter
    assert scale == {"min": 0.5, "max": 5.0, "step": 0.5}


def test_kcore_iterates_to_a_fixed_point() -> None:
    # 2-core, one removal per pass: item 3 (rated by user 2 only), then user 2
    # (one rating left), then item 2 (user 3 only), then user 3.
    pairs = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 3), (2, 2), (3, 2), (3, 0)]
    inter = arrays([u for u, _ in pairs], [i for _, i in pairs], [1.0] * len(pairs))
    keep, passes = kcore(inter, 4, 4, 2, 2)
    assert keep.tolist() == [True, True, True, True, False, False, False, False]
    assert passes == 4
    kept = inter.select(keep)
    assert np.bincount(kept.user).min() >= 2
    assert np.bincount(kept.item).min() >= 2
    again, more = kcore(kept, 4, 4, 2, 2)
    assert again.all() and more == 0


def test_kcore_with_minimum_one_keeps_everything() -> None:
    inter = arrays([0, 1], [0, 1], [1, 1])
    keep, passes = kcore(inter, 2, 2, 1, 1)
    assert keep.all() and passes == 0


def test_compact_drops_unrated_ids_and_renumbers() -> None:
    inter = arrays([2, 0, 2], [1, 1, 3], [1, 2, 3])
    users = id_map(pl.Series(["a", "b", "c"]), s.USER_ID, s.USER_IDX)
    items = id_map(pl.Series(["w", "x", "y", "z"]), s.ITEM_ID, s.ITEM_IDX)
    out, users, items = compact(inter, users, items)
    assert users.to_dict(as_series=False) == {s.USER_ID: ["a", "c"], s.USER_IDX: [0, 1]}
    assert items.to_dict(as_series=False) == {s.ITEM_ID: ["x", "z"], s.ITEM_IDX: [0, 1]}
    assert out.user.tolist() == [1, 0, 1]
    assert out.item.tolist() == [0, 0, 1]


def ml1m_like_users() -> pl.DataFrame:
    return pl.DataFrame(
        {
            s.USER_ID: ["1", "2", "3", "99"],
            "gender": ["F", "M", "M", "F"],
            "age": [1, 56, 25, 18],
            "occupation": [10, 16, 15, 0],
            "zip": ["48067", "70072", "55117", "00000"],
        }
    )


def test_side_matrix_one_hot_encodes_configured_columns_aligned_with_the_map() -> None:
    mapping = id_map(pl.Series(["3", "1", "2", "4"]), s.USER_ID, s.USER_IDX)
    side = side_matrix(
        ml1m_like_users(), mapping, s.USER_ID, ("gender", "age", "occupation", "height"), "|"
    )
    assert side.features == [
        "gender=F",
        "gender=M",
        "age=1",
        "age=25",
        "age=56",
        "occupation=10",
        "occupation=15",
        "occupation=16",
    ]
    assert side.columns == ["gender", "age", "occupation"]
    assert side.missing_columns == ["height"]
    # rows: users 1, 2, 3, 4 (4 has no side row; 99 is not rated and ignored)
    assert side.matrix.toarray().tolist() == [
        [1, 0, 1, 0, 0, 1, 0, 0],
        [0, 1, 0, 0, 1, 0, 0, 1],
        [0, 1, 0, 1, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ]
    assert side.matrix.dtype == np.float32


def test_side_matrix_multi_hot_from_joined_strings_or_lists_is_the_same() -> None:
    mapping = id_map(pl.Series(["10", "20", "30"]), s.ITEM_ID, s.ITEM_IDX)
    joined = pl.DataFrame(
        {
            s.ITEM_ID: ["10", "20", "30"],
            "genres": ["Comedy|Drama", "Drama", None],
            "title": ["A", "B", "C"],
        }
    )
    listed = joined.with_columns(pl.col("genres").str.split("|"))
    for table in (joined, listed):
        side = side_matrix(table, mapping, s.ITEM_ID, ("genres",), "|")
        assert side.features == ["genres=Comedy", "genres=Drama"]
        assert side.matrix.toarray().tolist() == [[1, 1], [0, 1], [0, 0]]


def test_side_matrix_without_a_table_has_zero_columns() -> None:
    mapping = id_map(pl.Series(["1", "2"]), s.USER_ID, s.USER_IDX)
    side = side_matrix(None, mapping, s.USER_ID, ("gender",), "|")
    assert side.matrix.shape == (2, 0)
    assert side.missing_columns == ["gender"]


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "ml-1m" / "users.dat").is_file(), reason="needs ../shared/data")
def test_ml1m_users_give_gender_2_age_7_occupation_21_columns() -> None:
    lines = pl.read_csv(
        SHARED / "ml-1m" / "users.dat", has_header=False, separator="\x1f", new_columns=["raw"]
    )
    fields = lines.get_column("raw").str.split_exact("::", 4).struct.unnest()
    users = fields.rename(
        {"field_0": s.USER_ID, "field_1": "gender", "field_2": "age", "field_3": "occupation"}
    )
    mapping = id_map(users.get_column(s.USER_ID), s.USER_ID, s.USER_IDX)
    side = side_matrix(users, mapping, s.USER_ID, ("gender", "age", "occupation"), "|")
    assert side.matrix.shape == (6040, 30)
    assert side.features[:9] == [
        "gender=F",
        "gender=M",
        "age=1",
        "age=18",
        "age=25",
        "age=35",
        "age=45",
        "age=50",
        "age=56",
    ]
    assert side.matrix.sum(axis=1).min() == side.matrix.sum(axis=1).max() == 3
