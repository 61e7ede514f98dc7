"""Amazon review JSON lines: 2014 5-core, 2018, 2023 and old Python-literal dumps."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.amazon_reviews import read

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SAMPLES = SHARED / "samples"
STARS = RatingScale(min=1, max=5, step=1)

CORE_2014 = {
    "reviewerID": "A2IBPI20UZIR0U",
    "asin": "1384719342",
    "reviewerName": "cassandra tu \"Yeah, well, that's just like, u...",
    "helpful": [0, 0],
    "reviewText": "Not much to write about here.",
    "overall": 5.0,
    "summary": "good",
    "unixReviewTime": 1393545600,
    "reviewTime": "02 28, 2014",
}
# reviewerName missing, as in 27 records of Musical Instruments.
NO_NAME = {
    "reviewerID": "A14VAT5EAX3D9S",
    "asin": "059400232X",
    "helpful": [13, 14],
    "overall": 4.0,
    "unixReviewTime": 1363392000,
    "reviewTime": "03 16, 2013",
}
REVIEW_2018 = {
    "overall": 3.0,
    "vote": "2",
    "verified": True,
    "reviewTime": "10 14, 2016",
    "reviewerID": "A3JPFWKS83R49V",
    "asin": "0001713353",
    "style": {"Format:": " Hardcover"},
    "unixReviewTime": 1476403200,
}
REVIEW_2023 = {
    "rating": 2.0,
    "title": "meh",
    "images": [],
    "asin": "B00YQ6X8EO",
    "parent_asin": "B00YQ6X8EO0",
    "user_id": "AGKHLEW2SOWHNMFQIJGBECAF7INQ",
    "timestamp": 1588687728923,
    "helpful_vote": 0,
    "verified_purchase": True,
}
# Old raw 2014 dumps: Python dict literals, single quotes.
LITERAL = (
    "{'reviewerID': 'A2SUAM1J3GNN3B', 'asin': '0000013714', 'reviewerName': 'J. McDonald', "
    "'helpful': [2, 3], 'overall': 5.0, 'unixReviewTime': 1252800000}"
)


def _lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_strict_json_of_every_release(tmp_path: Path) -> None:
    path = _lines(
        tmp_path / "reviews.jsonl",
        [json.dumps(r) for r in (CORE_2014, NO_NAME, REVIEW_2018, REVIEW_2023)],
    )
    result = read([path], STARS)
    assert result.ratings.rows() == [
        ("A2IBPI20UZIR0U", "1384719342", 5.0, 1393545600),
        ("A14VAT5EAX3D9S", "059400232X", 4.0, 1363392000),
        ("A3JPFWKS83R49V", "0001713353", 3.0, 1476403200),
        ("AGKHLEW2SOWHNMFQIJGBECAF7INQ", "B00YQ6X8EO0", 2.0, 1588687728),
    ]
    assert result.rejects.height == 0
    assert result.rows_read == 4


def test_literals_bad_lines_and_missing_fields(tmp_path: Path) -> None:
    no_rating = {k: v for k, v in CORE_2014.items() if k != "overall"}
    no_time = {k: v for k, v in NO_NAME.items() if k != "unixReviewTime"}
    no_user = {k: v for k, v in REVIEW_2023.items() if k != "user_id"}
    nested_item = {**CORE_2014, "reviewerID": "A9", "asin": {"x": 1}}
    bad_ms = {**REVIEW_2023, "user_id": "AE9", "timestamp": "yesterday"}
    string_rating = {**NO_NAME, "reviewerID": "A10", "overall": "2.0"}
    lines = [
        LITERAL,
        "{not json at all",
        json.dumps(no_rating),
        json.dumps(no_time),
        json.dumps(no_user),
        json.dumps(nested_item),
        json.dumps(bad_ms),
        "null",
        json.dumps(string_rating),
        json.dumps({**CORE_2014, "overall": 7.0}),
    ]
    path = _lines(tmp_path / "Books.json", lines)
    result = read([path], STARS)
    assert result.ratings.rows() == [
        ("A2SUAM1J3GNN3B", "0000013714", 5.0, 1252800000),
        ("A10", "059400232X", 2.0, 1363392000),
    ]
    assert result.rejects.sort("line").rows() == [
        ("Books.json", 2, "invalid_json", lines[1]),
        ("Books.json", 3, "wrong_field_count", lines[2]),
        ("Books.json", 4, "wrong_field_count", lines[3]),
        ("Books.json", 5, "missing_id", lines[4]),
        ("Books.json", 6, "missing_id", lines[5]),
        ("Books.json", 7, "unparsable_number", lines[6]),
        ("Books.json", 8, "invalid_json", "null"),
        ("Books.json", 10, "rating_out_of_scale", lines[9]),
    ]
    assert result.rows_read == 10 == result.ratings.height + result.rejects.height


def test_gzip_and_duplicates_keep_the_latest_review(tmp_path: Path) -> None:
    path = tmp_path / "Musical_Instruments_5.json.gz"
    later = {**CORE_2014, "overall": 1.0, "unixReviewTime": 1393545601}
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(later) + "\n" + json.dumps(CORE_2014) + "\n")
    result = read([path], STARS)
    assert result.ratings.rows() == [("A2IBPI20UZIR0U", "1384719342", 1.0, 1393545601)]
    assert result.rejects.rows() == [
        ("Musical_Instruments_5.json.gz", 2, "duplicate", json.dumps(CORE_2014))
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no records found"),
        ("user,item,rating,ts\nA1,B1,5.0,1\n", "none of the first 2 records"),
        (json.dumps({"a": 1}) + "\n", "none of the first 1 records"),
    ],
)
def test_a_file_of_another_format_is_one_clear_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "input.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AerecError, match=message) as caught:
        read([path], STARS)
    assert str(caught.value).startswith(str(path))


@pytest.mark.shared
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/data/samples is absent")
def test_real_5core_sample_reads_completely() -> None:
    result = read([SAMPLES / "amazon_5core_sample.jsonl"], STARS)
    assert result.rows_read == 200
    assert result.ratings.height == 200
    assert result.rejects.height == 0
    assert result.ratings.row(0) == ("A2IBPI20UZIR0U", "1384719342", 5.0, 1393545600)


def test_bytes_that_are_not_utf8_reject_a_review_only_in_a_field_aerec_uses(
    tmp_path: Path,
) -> None:
    """A Windows-1252 byte (0x99, a trade mark) in the review text keeps the rating;
    in the reviewer id it rejects the record as undecodable_text."""
    text_bad = json.dumps({**CORE_2014, "reviewText": "XX"}).encode().replace(b"XX", b"Glow\x99")
    id_bad = json.dumps({**NO_NAME, "reviewerID": "YY"}).encode().replace(b"YY", b"A\x99B")
    path = tmp_path / "reviews.json"
    path.write_bytes(text_bad + b"\n" + id_bad + b"\n")
    result = read([path], STARS)
    assert result.ratings.select("user_id", "item_id", "rating").rows() == [
        ("A2IBPI20UZIR0U", "1384719342", 5.0)
    ]
    assert result.rejects.select("line", "reason").rows() == [(2, "undecodable_text")]
    assert result.rows_read == 2
