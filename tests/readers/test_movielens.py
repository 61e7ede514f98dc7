"""MovieLens '::' reader: ratings.dat traps, users.dat / movies.dat side tables, real files."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest

from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.base import canonicalize, scan_lines, split_fields
from aerec.readers.movielens import read

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ML1M = SHARED / "ml-1m"
SAMPLES = SHARED / "samples"
HALF_STARS = RatingScale(min=0.5, max=5, step=0.5)

RATINGS = (
    b"\xef\xbb\xbf1::10::5::978300760\r\n"  # BOM, CRLF
    b"1::20::3.5::978300761\r\n"  # half star
    b"\r\n"  # blank: not a record
    b"2::10::4::978300800\n"  # older duplicate of line 5
    b"2::10::2::978300900\n"
    b"3::30::6::978301000\n"
    b"3::31::x::978301000\n"
    b"3::32::4\n"
    b"3::33::4::978301000::9\n"
    b"\xff4::40::4::978301000\n"
    b"4::41::0.5::978301001\n"
    b"::42::3::978301002\n"
    b"4::43::3::\n"  # empty timestamp: not a number
    b" 5 :: 50 ::4::978301003"  # padded fields, no final newline
)
ACCEPTED = [
    ("1", "10", 5.0, 978300760),
    ("1", "20", 3.5, 978300761),
    ("2", "10", 2.0, 978300900),
    ("4", "41", 0.5, 978301001),
    ("5", "50", 4.0, 978301003),
]
REJECTED = [
    (4, "duplicate", "2::10::4::978300800"),
    (6, "rating_out_of_scale", "3::30::6::978301000"),
    (7, "unparsable_number", "3::31::x::978301000"),
    (8, "wrong_field_count", "3::32::4"),
    (9, "wrong_field_count", "3::33::4::978301000::9"),
    (10, "undecodable_text", "\ufffd4::40::4::978301000"),
    (12, "missing_id", "::42::3::978301002"),
    (13, "unparsable_number", "4::43::3::"),
]
USERS = (
    "1::F::1::10::48067\n"
    "2::M::56::16::70072\n"
    "3::M::x::15::55117\n"
    "4::F::25::20\n"
    "1::F::18::0::00501\n"  # the same user again: this line is kept
)
MOVIES = (
    "1::Toy Story (1995)::Animation|Children's|Comedy\n"
    "73::Misérables, Les (1995)::Drama|Musical\n"
    "1196::Star Wars: Episode V (1980)::Action|Sci-Fi\n"
    "9::Untitled::(no genres listed)\n"
    "10::Broken\n"
).encode("latin-1")


def _write(folder: Path, ratings: bytes = RATINGS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_bytes(ratings)
    (folder / "users.dat").write_text(USERS, encoding="ascii")
    (folder / "movies.dat").write_bytes(MOVIES)
    return folder


def test_ratings_traps_give_exact_values_and_reasons(tmp_path: Path) -> None:
    path = _write(tmp_path) / "ratings.dat"
    result = read([path], HALF_STARS)
    assert result.ratings.rows() == ACCEPTED
    assert result.rejects.rows() == [("ratings.dat", *r) for r in REJECTED]
    assert result.rows_read == 13 == result.ratings.height + result.rejects.height
    assert result.rows_by_source == {"ratings.dat": 13}
    assert result.users is None and result.items is None
    assert result.ratings.schema == pl.Schema(
        {"user_id": pl.String, "item_id": pl.String, "rating": pl.Float32, "timestamp": pl.Int64}
    )


def test_fast_path_reads_exactly_like_the_general_split(tmp_path: Path) -> None:
    path = _write(tmp_path) / "ratings.dat"
    names: list[str | None] = ["user_id", "item_id", "rating", "timestamp"]
    general = canonicalize([split_fields(scan_lines(path, "ratings.dat"), "::", names)], HALF_STARS)
    fast = read([path], HALF_STARS)
    assert fast.ratings.equals(general.ratings)
    assert fast.rejects.equals(general.rejects)


def test_plain_file_without_odd_lines_takes_only_the_fast_path(tmp_path: Path) -> None:
    path = tmp_path / "ratings.dat"
    path.write_text("1::1::1::1\n\n2::2::x::2\n2::2::2::3\n", encoding="ascii")
    result = read([path], HALF_STARS)
    assert result.ratings.rows() == [("1", "1", 1.0, 1), ("2", "2", 2.0, 3)]
    assert result.rejects.rows() == [("ratings.dat", 3, "unparsable_number", "2::2::x::2")]


def test_gzip_input_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "ratings.dat.gz"
    path.write_bytes(gzip.compress(RATINGS))
    result = read([path], HALF_STARS)
    assert result.ratings.rows() == ACCEPTED
    assert [r[1:] for r in result.rejects.rows()] == REJECTED
    assert set(result.rejects["source"]) == {"ratings.dat.gz"}


def test_side_files_latin1_titles_years_genres_and_their_rejects(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    result = read([folder / "ratings.dat", folder / "users.dat", folder / "movies.dat"], HALF_STARS)
    assert result.users is not None and result.items is not None
    assert result.users.rows() == [
        ("2", "M", 56, "self-employed", "70072"),
        ("1", "F", 18, "other", "00501"),
    ]
    assert result.items.rows() == [
        ("1", "Toy Story (1995)", ["Animation", "Children's", "Comedy"], 1995),
        ("73", "Misérables, Les (1995)", ["Drama", "Musical"], 1995),
        ("1196", "Star Wars: Episode V (1980)", ["Action", "Sci-Fi"], 1980),
        ("9", "Untitled", [], None),
    ]
    side_rejects = result.rejects.filter(pl.col("source") != "ratings.dat").rows()
    assert side_rejects == [
        ("users.dat", 1, "duplicate", "1::F::1::10::48067"),
        ("users.dat", 3, "unparsable_number", "3::M::x::15::55117"),
        ("users.dat", 4, "wrong_field_count", "4::F::25::20"),
        ("movies.dat", 5, "wrong_field_count", "10::Broken"),
    ]
    assert result.rows_by_source == {"ratings.dat": 13, "users.dat": 5, "movies.dat": 5}
    # rows_read counts rating records and the side lines that were rejected.
    assert result.rows_read == 13 + 4 == result.ratings.height + result.rejects.height


def test_folder_input_and_files_told_apart_by_content(tmp_path: Path) -> None:
    folder = _write(tmp_path / "ml")
    from_folder = read([folder], HALF_STARS)
    assert from_folder.ratings.rows() == ACCEPTED
    assert from_folder.users is not None and from_folder.users.height == 2
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for name, new in (("ratings.dat", "r.txt"), ("users.dat", "u.txt"), ("movies.dat", "m.txt")):
        shutil.copy(folder / name, renamed / new)
    by_content = read(sorted(renamed.iterdir()), HALF_STARS)
    assert by_content.ratings.rows() == ACCEPTED
    assert by_content.users is not None and by_content.users.height == 2
    assert by_content.items is not None and by_content.items.height == 4


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"x.csv": b"user,item,rating,ts\n1,2,3,4\n"}, r"x\.csv: none of the first 2 records"),
        ({"users.dat": USERS.encode()}, r"no MovieLens ratings file among the inputs"),
        ({"ratings.dat": b"\n\n"}, r"ratings\.dat: no records found"),
    ],
)
def test_not_movielens_is_one_clear_error(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(AerecError, match=message):
        read([tmp_path / name for name in files], HALF_STARS)


def test_folder_without_ratings_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "users.dat").write_text(USERS, encoding="ascii")
    with pytest.raises(AerecError, match=r"folder without ratings\.dat"):
        read([tmp_path], HALF_STARS)


def test_side_file_of_another_layout_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / "movies.dat").write_text("1::2::3::4\n", encoding="ascii")
    with pytest.raises(AerecError, match=r"movies\.dat: no line reads as MovieLens movies"):
        read([tmp_path], HALF_STARS)


@pytest.mark.shared
@pytest.mark.skipif(not ML1M.is_dir(), reason="../shared/data/ml-1m is not available")
def test_real_ml1m_users_1_to_2999() -> None:
    result = read(
        [ML1M / "ratings_users_1-2999.dat.gz", ML1M / "users.dat", ML1M / "movies.dat"],
        HALF_STARS,
    )
    assert result.rows_read == 487_650 == result.ratings.height
    assert result.rejects.height == 0
    assert result.ratings["user_id"].n_unique() == 2_999
    assert result.ratings["item_id"].n_unique() == 3_615
    assert result.ratings.row(0) == ("1", "1193", 5.0, 978300760)
    assert sorted(result.ratings["rating"].unique().to_list()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert result.users is not None and result.users.height == 6_040
    assert result.items is not None and result.items.height == 3_883
    assert result.users.row(0) == ("1", "F", 1, "K-12 student", "48067")
    titles = dict(result.items.select("item_id", "title").iter_rows())
    assert titles["73"] == "Misérables, Les (1995)"
    assert result.items.filter(pl.col("year").is_null()).height == 0


@pytest.mark.shared
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/data/samples is not available")
@pytest.mark.parametrize(
    ("name", "first", "half_stars"),
    [
        ("ml1m_ratings_sample.dat", ("1", "1193", 5.0, 978300760), 0),
        ("ml10m_ratings_sample.dat", ("1", "122", 5.0, 838985046), None),
    ],
)
def test_real_samples(name: str, first: tuple[object, ...], half_stars: int | None) -> None:
    result = read([SAMPLES / name], HALF_STARS)
    assert result.rows_read == 200 == result.ratings.height
    assert result.ratings.row(0) == first
    halves = result.ratings.filter(pl.col("rating") % 1 != 0).height
    if half_stars is None:
        assert halves > 0
    else:
        assert halves == half_stars


def test_windows_1252_punctuation_in_titles_is_read_as_such(tmp_path: Path) -> None:
    """0x92 and 0x99 are an apostrophe and a trade mark in these files, not C1 controls."""
    folder = _write(tmp_path)
    movies = MOVIES.replace(b"Untitled", b"Schindler\x92s List\x99")
    (folder / "movies.dat").write_bytes(movies)
    result = read([folder / "ratings.dat", folder / "users.dat", folder / "movies.dat"], HALF_STARS)
    assert result.items is not None
    titles = dict(result.items.select("item_id", "title").rows())
    assert titles["9"] == "Schindler\u2019s List\u2122"
    assert titles["73"] == "Misérables, Les (1995)"
    undefined = MOVIES.replace(b"Untitled", b"A\x81B")  # undefined in Windows-1252: Latin-1
    (folder / "movies.dat").write_bytes(undefined)
    result = read([folder / "ratings.dat", folder / "users.dat", folder / "movies.dat"], HALF_STARS)
    assert result.items is not None
    assert dict(result.items.select("item_id", "title").rows())["9"] == "A\x81B"
