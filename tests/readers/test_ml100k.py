"""MovieLens 100K reader: u.data (tab), u.user, u.item (Latin-1, genre flags)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.ml100k import GENRES, read

STARS = RatingScale(min=1, max=5, step=1)
DATA = (
    "196\t242\t3\t881250949\n"
    "186\t302\t3\t891717742\n"
    "22\t377\t1\t878887116\n"
    "196\t242\t4\t881250950\n"  # the same pair, later: kept, line 1 is the duplicate
    "244\t51\t2.5\t880606923\n"  # no half stars in 100K
    "298\t474\t4\n"
)
USERS = "1|24|M|technician|85711\n2|53|F|other|94043\n3|x|M|writer|32067\n"


def _flags(*genres: str) -> str:
    return "|".join("1" if g in genres else "0" for g in GENRES)


TOY_STORY = _flags("Animation", "Children's", "Comedy")
ITEMS = (
    f"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy|{TOY_STORY}\n"
    f"267|unknown||||{_flags('unknown')}\n"
    f"1005|Double vie de Véronique, La (1991)|01-Jan-1991||http://x|{_flags('Drama')}\n"
    f"5|Bad flags (1995)|01-Jan-1995||http://x|{_flags().replace('0', '2', 1)}\n"
).encode("latin-1")


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "u.data").write_text(DATA, encoding="ascii")
    (tmp_path / "u.user").write_text(USERS, encoding="ascii")
    (tmp_path / "u.item").write_bytes(ITEMS)
    (tmp_path / "u.genre").write_text("unknown|0\n", encoding="ascii")  # ignored in a folder
    return tmp_path


def test_udata_values_and_rejects(tmp_path: Path) -> None:
    result = read([_folder(tmp_path) / "u.data"], STARS)
    assert result.ratings.rows() == [
        ("186", "302", 3.0, 891717742),
        ("22", "377", 1.0, 878887116),
        ("196", "242", 4.0, 881250950),
    ]
    assert result.rejects.rows() == [
        ("u.data", 1, "duplicate", "196\t242\t3\t881250949"),
        ("u.data", 5, "rating_out_of_scale", "244\t51\t2.5\t880606923"),
        ("u.data", 6, "wrong_field_count", "298\t474\t4"),
    ]
    assert result.rows_read == 6


def test_folder_with_side_tables(tmp_path: Path) -> None:
    result = read([_folder(tmp_path)], STARS)
    assert result.users is not None and result.items is not None
    assert result.users.rows() == [
        ("1", "M", 24, "technician", "85711"),
        ("2", "F", 53, "other", "94043"),
    ]
    assert result.items.rows() == [
        ("1", "Toy Story (1995)", ["Animation", "Children's", "Comedy"], 1995),
        ("267", "unknown", ["unknown"], None),
        ("1005", "Double vie de Véronique, La (1991)", ["Drama"], 1991),
    ]
    assert result.rejects.filter(result.rejects["source"] != "u.data").rows() == [
        ("u.user", 3, "unparsable_number", "3|x|M|writer|32067"),
        ("u.item", 4, "unparsable_number", ITEMS.decode("latin-1").splitlines()[3]),
    ]
    assert result.rows_by_source == {"u.data": 6, "u.user": 3, "u.item": 4}
    assert result.rows_read == result.ratings.height + result.rejects.height == 8


def test_split_files_are_ratings(tmp_path: Path) -> None:
    (tmp_path / "u1.base").write_text("1\t1\t5\t874965758\n", encoding="ascii")
    (tmp_path / "u1.test").write_text("1\t6\t5\t887431973\n", encoding="ascii")
    result = read([tmp_path / "u1.base", tmp_path / "u1.test"], STARS)
    assert result.ratings.rows() == [("1", "1", 5.0, 874965758), ("1", "6", 5.0, 887431973)]


def test_movielens_dat_given_as_ml100k_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "ratings.dat"
    path.write_text("1::1193::5::978300760\n", encoding="ascii")
    with pytest.raises(AerecError, match=r"ratings\.dat: none of the first 1 records reads as"):
        read([path], STARS)


def test_folder_without_udata_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "u.user").write_text(USERS, encoding="ascii")
    with pytest.raises(AerecError, match=r"folder without u\.data"):
        read([tmp_path], STARS)
