"""RecBole atomic files: typed headers, .inter ratings, .user / .item side tables."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.recbole import read

STARS = RatingScale(min=1, max=5, step=1)
INTER = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\treview:token_seq\n"
    "1\t10\t3\t881250949\tgood film\n"
    "2\t20\t4.0\t881250950.0\tok\n"  # RecBole floats
    "3\t30\t9\t1\tx\n"
    "4\t40\t\t5\tx\n"
    "5\t50\t4\t5\n"
)
USER = (
    "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
    "1\t24\tM\ttechnician\t85711\n"
)
ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "10\tToy Story\t1995\tAnimation Children's Comedy\n"
    # As in RecBole's own ml-100k.item: a release year that is not a year.
    "20\tLand Before Time III: The Time of the Great Giving (1995)\tV\tAnimation Children's\n"
)


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "ml.inter").write_text(INTER, encoding="utf-8")
    (tmp_path / "ml.user").write_text(USER, encoding="utf-8")
    (tmp_path / "ml.item").write_text(ITEM, encoding="utf-8")
    (tmp_path / "ml.kg").write_text("head_id:token\trelation_id:token\n", encoding="utf-8")
    return tmp_path


def test_inter_header_mapped_to_canonical_columns(tmp_path: Path) -> None:
    result = read([_folder(tmp_path) / "ml.inter"], STARS)
    assert result.ratings.rows() == [("1", "10", 3.0, 881250949), ("2", "20", 4.0, 881250950)]
    assert result.rejects.rows() == [
        ("ml.inter", 4, "rating_out_of_scale", "3\t30\t9\t1\tx"),
        ("ml.inter", 5, "unparsable_number", "4\t40\t\t5\tx"),
        ("ml.inter", 6, "wrong_field_count", "5\t50\t4\t5"),
    ]
    assert result.rows_read == 5


def test_folder_reads_user_and_item_typed_by_header(tmp_path: Path) -> None:
    result = read([_folder(tmp_path)], STARS)
    assert result.users is not None and result.items is not None
    assert result.users.rows(named=True) == [
        {"user_id": "1", "age": 24, "gender": "M", "occupation": "technician", "zip": "85711"}
    ]
    assert result.items.rows() == [
        ("10", "Toy Story", 1995, ["Animation", "Children's", "Comedy"]),
        (
            "20",
            "Land Before Time III: The Time of the Great Giving (1995)",
            None,
            ["Animation", "Children's"],
        ),
    ]
    assert result.rows_by_source == {"ml.inter": 5, "ml.user": 1, "ml.item": 2}


def test_gzip_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "x.inter.gz"
    path.write_bytes(gzip.compress(("\ufeff" + INTER).encode("utf-8")))
    assert read([path], STARS).ratings.height == 2


def test_header_without_rating_is_an_error_naming_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "implicit.inter"
    path.write_text("user_id:token\titem_id:token\n1\t2\n", encoding="utf-8")
    with pytest.raises(AerecError, match=r"implicit\.inter: header has no rating column"):
        read([path], STARS)


def test_file_without_typed_header_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "u.data"
    path.write_text("196\t242\t3\t881250949\n", encoding="utf-8")
    with pytest.raises(AerecError, match=r"u\.data: first line .* is not a RecBole header"):
        read([path], STARS)


def test_folder_without_inter_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ml.user").write_text(USER, encoding="utf-8")
    with pytest.raises(AerecError, match=r"folder without a \.inter file"):
        read([tmp_path], STARS)
