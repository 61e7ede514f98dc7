"""Amazon ratings-only CSV readers: 2014, 2018 and 2023 layouts and their traps."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.amazon import read_2014, read_2018, read_2023
from aerec.readers.base import ReadResult

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SAMPLES = SHARED / "samples"
STARS = RatingScale(min=1, max=5, step=1)
Reader = Callable[[list[Path], RatingScale], ReadResult]

# Every trap of the 2014 file at once: a BOM, CRLF, ids with leading zeros and
# a trailing X, an Excel copy's integer rating and dropped zeros, a blank
# line, and each kind of bad row.
RATINGS_2014 = (
    b"\xef\xbb\xbfAKM1MP6P0OYPR,0132793040,5.0,1365811200\r\n"
    b"A2CX7LUOHB2NDG,059400232X,4.0,1341100800\r\n"
    b"A3EXCEL,132793040,5,1341100801\r\n"  # Excel: zeros dropped, integer rating
    b"\r\n"
    b"A4BAD,0321732944,five,1341100800\r\n"
    b"A5OUT,0321732944,6.0,1341100800\r\n"
    b"A6SHORT,0321732944,5.0\r\n"
    b",0321732944,5.0,1341100800\r\n"
    b"A7BYTES\xff,0321732944,5.0,1341100800\r\n"
    b"AKM1MP6P0OYPR,0132793040,3.0,1365811100\r\n"  # older duplicate: rejected
    b"A8TS,0321732944,4.0,soon\r\n"
)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_2014_parses_values_and_rejects_with_reasons(tmp_path: Path) -> None:
    path = _write(tmp_path / "ratings_Electronics.csv", RATINGS_2014)
    result = read_2014([path], STARS)
    assert result.ratings.rows() == [
        ("AKM1MP6P0OYPR", "0132793040", 5.0, 1365811200),
        ("A2CX7LUOHB2NDG", "059400232X", 4.0, 1341100800),
        ("A3EXCEL", "0132793040", 5.0, 1341100801),
    ]
    assert result.rejects.sort("line").rows() == [
        ("ratings_Electronics.csv", 5, "unparsable_number", "A4BAD,0321732944,five,1341100800"),
        ("ratings_Electronics.csv", 6, "rating_out_of_scale", "A5OUT,0321732944,6.0,1341100800"),
        ("ratings_Electronics.csv", 7, "wrong_field_count", "A6SHORT,0321732944,5.0"),
        ("ratings_Electronics.csv", 8, "missing_id", ",0321732944,5.0,1341100800"),
        (
            "ratings_Electronics.csv",
            9,
            "undecodable_text",
            "A7BYTES\ufffd,0321732944,5.0,1341100800",
        ),
        ("ratings_Electronics.csv", 10, "duplicate", "AKM1MP6P0OYPR,0132793040,3.0,1365811100"),
        ("ratings_Electronics.csv", 11, "unparsable_number", "A8TS,0321732944,4.0,soon"),
    ]
    assert result.rows_read == 10 == result.ratings.height + result.rejects.height


def test_2014_skips_a_header_in_its_own_column_order(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "with_header.csv",
        b"UserId,ItemId,rating,timestamp\nA1,0132793040,5.0,1365811200\n",
    )
    result = read_2014([path], STARS)
    assert result.ratings.rows() == [("A1", "0132793040", 5.0, 1365811200)]
    assert result.rows_read == 1
    assert result.rejects.height == 0


def test_2014_reads_gzip_and_several_files(tmp_path: Path) -> None:
    first = tmp_path / "a.csv.gz"
    with gzip.open(first, "wb") as fh:
        fh.write(b"A1,0132793040,2.0,100\n")
    second = _write(tmp_path / "b.csv", b"A1,0132793040,4.0,200\nA2,0132793040,1.0,50\n")
    result = read_2014([first, second], STARS)
    assert result.ratings.sort("user_id").rows() == [
        ("A1", "0132793040", 4.0, 200),
        ("A2", "0132793040", 1.0, 50),
    ]
    assert result.rejects.rows() == [("a.csv.gz", 1, "duplicate", "A1,0132793040,2.0,100")]
    assert result.rows_read == 3
    assert result.rows_by_source == {"a.csv.gz": 1, "b.csv": 2}


def test_2018_puts_the_item_first_and_reads_crlf(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "Magazine_Subscriptions.csv",
        b"B00005N7P0,AH2IFH762VY5U,5.0,1005177600\r\n0132793040,A3JPFWKS83R49V,3.0,1174694400\r\n",
    )
    result = read_2018([path], STARS)
    assert result.ratings.rows() == [
        ("AH2IFH762VY5U", "B00005N7P0", 5.0, 1005177600),
        ("A3JPFWKS83R49V", "0132793040", 3.0, 1174694400),
    ]
    assert result.rows_read == 2


def test_2023_reads_header_and_turns_milliseconds_into_seconds(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "All_Beauty.csv",
        b"user_id,parent_asin,rating,timestamp\n"
        b"AFSKPY37N3C43SOI5IEXEK5JSIYA,B07J3GH1W1,5.0,1547589356557\n"
        b"AEZP6Z2C5AVQDZAJECQYZWQRNG3Q,B08RQZ3F3L,4.0,1641830467493\n"
        b"AEZP6Z2C5AVQDZAJECQYZWQRNG3Q,B08RQZ3F3L,4.0\n",
    )
    result = read_2023([path], STARS)
    assert result.ratings.rows() == [
        ("AFSKPY37N3C43SOI5IEXEK5JSIYA", "B07J3GH1W1", 5.0, 1547589356),
        ("AEZP6Z2C5AVQDZAJECQYZWQRNG3Q", "B08RQZ3F3L", 4.0, 1641830467),
    ]
    assert result.rejects.rows() == [
        (
            "All_Beauty.csv",
            4,
            "wrong_field_count",
            "AEZP6Z2C5AVQDZAJECQYZWQRNG3Q,B08RQZ3F3L,4.0",
        )
    ]
    assert result.rows_read == 3


def test_2023_accepts_asin_and_prefers_parent_asin(tmp_path: Path) -> None:
    asin = _write(tmp_path / "a.csv", b"user_id,asin,rating,timestamp\nAE1,B01,3.0,1547589356557\n")
    both = _write(
        tmp_path / "b.csv",
        b"rating,asin,user_id,parent_asin,timestamp\n2.0,B02,AE2,B00,1547589356000\n",
    )
    result = read_2023([asin, both], STARS)
    assert result.ratings.rows() == [
        ("AE1", "B01", 3.0, 1547589356),
        ("AE2", "B00", 2.0, 1547589356),
    ]


@pytest.mark.parametrize(
    ("reader", "content", "message"),
    [
        (read_2014, b"", "no records found"),
        (read_2014, b'{"reviewerID": "A1", "asin": "B1"}\n', "none of the first 1 records"),
        (read_2014, b"Id,Prediction\nr1_c1,5\n", "none of the first 2 records"),
        (
            read_2014,
            b"user_id,parent_asin,rating,timestamp\nAE1,B07J3GH1W1,5.0,1547589356557\n",
            "looks like amazon-2023",
        ),
        (read_2014, b"ItemId,UserId,rating,timestamp\n", "not in this order"),
        (read_2014, b"B00005N7P0,AH2IFH762VY5U,5.0,1005177600\n", "user and item look swapped"),
        (read_2018, b"AH2IFH762VY5U,B00005N7P0,5.0,1005177600\n", "user and item look swapped"),
        (read_2014, b"A1,0132793040,5.0,1547589356557\n", "timestamps are in milliseconds"),
        (read_2023, b"user_id,parent_asin,rating,timestamp\nA,B,5.0,1547589356\n", "in seconds"),
        (read_2023, b"A1,0132793040,5.0,1365811200\n", "expected the header"),
        (read_2014, b"A1,0132793040,9.0,1365811200\n", "rating_out_of_scale"),
    ],
)
def test_a_file_of_another_format_is_one_clear_error(
    tmp_path: Path, reader: Reader, content: bytes, message: str
) -> None:
    path = _write(tmp_path / "input.csv", content)
    with pytest.raises(AerecError, match=message) as caught:
        reader([path], STARS)
    assert str(caught.value).startswith(str(path))


@pytest.mark.shared
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/data/samples is absent")
@pytest.mark.parametrize(
    ("reader", "name", "first"),
    [
        (read_2014, "amazon_ratings_sample.csv", ("AKM1MP6P0OYPR", "0132793040", 5.0, 1365811200)),
        (
            read_2018,
            "amazon2018_ratings_sample.csv",
            ("AH2IFH762VY5U", "B00005N7P0", 5.0, 1005177600),
        ),
        (
            read_2023,
            "amazon2023_ratings_sample.csv",
            ("AFSKPY37N3C43SOI5IEXEK5JSIYA", "B07J3GH1W1", 5.0, 1547589356),
        ),
    ],
)
def test_real_samples_read_completely(reader: Reader, name: str, first: tuple) -> None:
    result = reader([SAMPLES / name], STARS)
    assert result.rows_read == 200
    assert result.ratings.height == 200
    assert result.rejects.height == 0
    assert result.ratings.row(0) == first
