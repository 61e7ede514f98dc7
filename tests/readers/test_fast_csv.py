"""Regular CSV files take polars' parser: the same records as Python's csv module, or not taken."""

from __future__ import annotations

from pathlib import Path

import pytest

from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.base import ReadResult
from aerec.readers.fast_csv import fast_records, regular_records
from aerec.readers.sephora import read

STARS = RatingScale(min=1, max=5, step=1)
HEADER = ",author_id,rating,is_recommended,submission_time,review_text,skin_tone,product_id"


@pytest.mark.parametrize(
    ("text", "records"),
    [
        ("a,b\n1,2\n3,4\n", 2),
        ("a,b\r\n1,2\r\n3,4", 2),  # CRLF, no final line end
        ('a,b\n"x,\r\ny ""q""",2\n"",\n', 2),  # quoted comma, CRLF, doubled quotes, empties
        ('a,b\n"bare\rcr",2\n', 1),  # a bare CR inside quotes is text
        ("a,b\n", 0),
        ("a,b\n1,2\n\n3,4\n", -1),  # a blank line
        ("a,b\n1,2,3\n", -1),  # a third field
        ("a,b\n1\n", -1),  # a missing field
        ('a,b\n1"x,2\n', -1),  # a quote inside an unquoted field
        ('a,b\n"x"y,2\n', -1),  # text after the closing quote
        ('a,b\n"never closed,2\n', -1),
        ("a,b\n1\r2,3\n", -1),  # a bare CR outside quotes
    ],
)
def test_regular_records_counts_records_or_says_minus_one(
    tmp_path: Path, text: str, records: int
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode("utf-8"))
    assert regular_records(path, 2) == records


def _review(line: int, author: str, rating: str, date: str, text: str, product: str) -> str:
    return f"{line},{author},{rating},1.0,{date},{text},fair,{product}"


# Regular files (every record the header's 8 fields, plain quoting) holding
# each kind of reject, quoted CR/LF and doubled quotes.
REGULAR = {
    "clean": "\r\n".join(
        [
            HEADER,
            _review(0, "a1", "5", "2020-05-01", '"line\r\nbreak, and ""quotes"""', "P1"),
            _review(1, "a2", "4", "2020-05-02", '"bare\rCR"', "P1"),
            _review(2, "a3", "3", "", "", "P2"),
        ]
    ),
    "rejects": "\n".join(
        [
            HEADER,
            _review(0, "a1", "5", "2020-05-01", '"one, two"', "P1"),
            _review(1, "a1", "4", "2020-05-03", "newer", "P1"),  # the older one is a duplicate
            _review(2, "a2", "9", "2020-05-01", '"too ""high"""', "P1"),
            _review(3, "", "5", "2020-05-01", "no author", "P1"),
            _review(4, "a3", "x", "2020-05-01", "bad number", "P2"),
            _review(5, "a4", "5", "05/01/2020", '"bad, date"', "P2"),
            "",
        ]
    ),
}


def _key(result: ReadResult) -> tuple:
    users = result.users
    return (
        result.ratings.rows(),
        result.rejects.rows(),
        None if users is None else users.rows(),
        result.rows_read,
        result.rows_by_source,
        result.tables,
    )


@pytest.mark.parametrize("case", sorted(REGULAR))
def test_a_regular_file_reads_as_the_exact_reader_reads_it(tmp_path: Path, case: str) -> None:
    fast_dir, exact_dir = tmp_path / "fast", tmp_path / "exact"
    fast_dir.mkdir()
    exact_dir.mkdir()
    data = REGULAR[case].encode("utf-8")
    fast, exact = fast_dir / "reviews_0-250.csv", exact_dir / "reviews_0-250.csv"
    fast.write_bytes(data)
    exact.write_bytes(b"\xef\xbb\xbf" + data)  # a BOM sends the file the exact way
    header = HEADER.split(",")
    assert fast_records(fast, fast.name, header, ["author_id"]) is not None
    assert fast_records(exact, exact.name, header, ["author_id"]) is None
    assert _key(read([fast], STARS)) == _key(read([exact], STARS))


def test_rejects_of_a_fast_file_carry_their_text(tmp_path: Path) -> None:
    path = tmp_path / "reviews_0-250.csv"
    path.write_bytes(REGULAR["rejects"].encode("utf-8"))
    rejects = read([path], STARS).rejects
    assert rejects.select("line", "reason", "raw").rows() == [
        (2, "duplicate", '0,a1,5,1.0,2020-05-01,"one, two",fair,P1'),
        (4, "rating_out_of_scale", '2,a2,9,1.0,2020-05-01,"too ""high""",fair,P1'),
        (5, "missing_id", "3,,5,1.0,2020-05-01,no author,fair,P1"),
        (6, "unparsable_number", "4,a3,x,1.0,2020-05-01,bad number,fair,P2"),
        (7, "unparsable_number", '5,a4,5,1.0,05/01/2020,"bad, date",fair,P2'),
    ]


@pytest.mark.parametrize(
    ("data", "records"),
    [
        ("a,é\n€,\U0001f600\n".encode(), 1),
        ('a,b\n"caf\xe9",2\n'.encode("cp1252"), -1),  # Windows-1252 in a quoted field
        ("a,b\ncaf\xe9,2\n".encode("cp1252"), -1),
        (b"a,b\n\xc0\xaf,2\n", -1),  # an overlong '/'
        (b"a,b\n\xed\xa0\x80,2\n", -1),  # a surrogate
        (b"a,b\n\xf4\x90\x80\x80,2\n", -1),  # past U+10FFFF
        (b"a,b\n\xe2\x82,2\n", -1),  # a sequence cut short
        (b"\xef\xbb\xbfa,b\n1,2\n", -1),  # a BOM
    ],
)
def test_regular_means_valid_utf8_as_python_decodes_it(
    tmp_path: Path, data: bytes, records: int
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    assert regular_records(path, 2) == records
    try:
        data.decode("utf-8")
        valid = not data.startswith(b"\xef\xbb\xbf")
    except UnicodeDecodeError:
        valid = False
    assert valid == (records >= 0)


def test_a_fast_file_that_is_not_on_the_scale_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "reviews_0-250.csv"
    path.write_text(HEADER + "\n" + _review(0, "a1", "9", "2020-05-01", "x", "P1") + "\n")
    with pytest.raises(AerecError) as caught:
        read([path], STARS)
    assert str(caught.value) == (
        f"{path}: none of the first 1 records reads as Sephora reviews CSV (author_id, rating, "
        "product_id, submission_time) (line 2: rating_out_of_scale: "
        "'user_id=a1, item_id=P1, rating=9, timestamp=1588291200'); "
        "check the file, --format and the rating scale"
    )
