"""Any CSV or Parquet with a column mapping (`--format csv`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.tabular import read

HALF_STARS = RatingScale(min=0.5, max=5, step=0.5)
MAPPING = {"user": "userId", "item": "movieId", "rating": "rating", "timestamp": "timestamp"}
CSV = (
    "userId,movieId,rating,timestamp,tag\r\n"
    '1,"0010",4.5,978300760,a\r\n'
    "2,20,3,978300761.0,\r\n"
    "3,30,4,5,x,extra\r\n"
    "4,,3,1,\r\n"
    "\r\n"
    "5,50,7,1,\r\n"
)


def test_csv_mapping_values_and_rejects(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(CSV, encoding="utf-8")
    result = read([path], HALF_STARS, MAPPING)
    assert result.ratings.rows() == [("1", "0010", 4.5, 978300760), ("2", "20", 3.0, 978300761)]
    assert result.rejects.rows() == [
        ("ratings.csv", 4, "wrong_field_count", "3,30,4,5,x"),
        ("ratings.csv", 5, "missing_id", "4,,3,1,"),
        ("ratings.csv", 7, "rating_out_of_scale", "5,50,7,1,"),
    ]
    assert result.rows_read == 5


def test_tab_separated_without_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "r.tsv"
    path.write_text("u\ti\tr\nA\tB\t5\n", encoding="utf-8")
    result = read([path], HALF_STARS, {"user": "u", "item": "i", "rating": "r"})
    assert result.ratings.rows() == [("A", "B", 5.0, None)]


def test_parquet_any_types(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    pl.DataFrame(
        {
            "u": [1, 2],
            "i": [10, 20],
            "r": [4.0, 9.0],
            "t": [dt.datetime(2001, 1, 1), dt.datetime(2001, 1, 2)],
        }
    ).write_parquet(path)
    mapping = {"user": "u", "item": "i", "rating": "r", "timestamp": "t"}
    result = read([path], HALF_STARS, mapping)
    assert result.ratings.rows() == [("1", "10", 4.0, 978307200)]
    assert result.rejects.rows() == [("r.parquet", 2, "rating_out_of_scale", "2,20,9.0,978393600")]


def test_missing_mapped_column_names_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(CSV, encoding="utf-8")
    with pytest.raises(AerecError, match=r"ratings\.csv: no column 'itemId'"):
        read([path], HALF_STARS, {**MAPPING, "item": "itemId"})


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"user": "a", "item": "b"}, r"no column given for rating"),
        ({"user": "a", "item": "b", "rating": "c", "weight": "d"}, r"unknown key\(s\) weight"),
    ],
)
def test_bad_mapping(tmp_path: Path, columns: dict[str, str], message: str) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(CSV, encoding="utf-8")
    with pytest.raises(AerecError, match=message):
        read([path], HALF_STARS, columns)


def test_a_parquet_id_column_of_lists_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ratings.parquet"
    pl.DataFrame({"u": [["a"], ["b"]], "i": ["x", "y"], "r": [4.0, 3.0]}).write_parquet(path)
    with pytest.raises(AerecError) as err:
        read([path], RatingScale(min=1, max=5, step=1), {"user": "u", "item": "i", "rating": "r"})
    assert str(err.value) == (
        f"{path}: column 'u' holds List(String) values, not single ids, ratings or times; "
        "map a column of text or numbers (--columns)"
    )
