"""Sephora reader: reviews_*.csv and product_info.csv, told apart by their headers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.base import TableCount
from aerec.readers.sephora import read

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SAMPLES = SHARED / "samples"
STARS = RatingScale(min=1, max=5, step=1)

REVIEW_COLUMNS = (
    "author_id,rating,is_recommended,helpfulness,total_feedback_count,"
    "total_neg_feedback_count,total_pos_feedback_count,submission_time,review_text,"
    "review_title,skin_tone,eye_color,skin_type,hair_color,product_id,product_name,"
    "brand_name,price_usd"
)
DAY = 86_400
MAY_1_2020 = 18_383 * DAY  # 2020-05-01 00:00 UTC


def _review(index: str, author: str, rating: str, recommended: str, date: str, text: str,
            product: str) -> str:  # fmt: skip
    return (
        f"{index},{author},{rating},{recommended},1.0,10,0,10,{date},{text},Title,fair,"
        f"brown,combination,black,{product},Face Oil,Kiehl's Since 1851,30.0"
    )


# The raw Kaggle layout: an empty first header field, CRLF, a review text
# with an embedded LF and one with a bare CR, a blank is_recommended and
# helpfulness, ids that must stay strings, and each kind of bad record.
RAW_REVIEWS = "\r\n".join(
    [
        "," + REVIEW_COLUMNS,
        _review("0", "5206987927", "5", "1.0", "2020-05-01", '"Love it,\nreally"', "P445951"),
        _review("1", "0012345", "4", "", "2020-05-02", '"bare\rCR"', "P415771"),
        _review("2", "orderGen1234", "3", "0.0", "2020-05-03", "plain", "P415771"),
        "3,777,5,1.0",  # wrong field count
        _review("4", "778", "5", "1.0", "05/03/2020", "bad date", "P415771"),
        _review("5", "779", "6", "1.0", "2020-05-03", "too high", "P415771"),
        _review("6", "780", "5", "maybe", "2020-05-03", "bad flag", "P415771"),
        _review("7", "", "5", "1.0", "2020-05-03", "no author", "P415771"),
        _review("8", "5206987927", "2", "0.0", "2020-04-30", "older", "P445951"),
    ]
)
# A pandas re-save: `Unnamed: 0`, LF, an author_id turned float.
RESAVED_REVIEWS = "\n".join(
    [
        "Unnamed: 0," + REVIEW_COLUMNS,
        _review("594275", "12345.0", "1", "0.0", "2020-05-01", "resaved", "P473671"),
        "",
    ]
)
PRODUCT_COLUMNS = (
    "product_id,product_name,brand_id,brand_name,loves_count,rating,reviews,size,"
    "variation_type,variation_value,variation_desc,ingredients,price_usd,value_price_usd,"
    "sale_price_usd,limited_edition,new,online_only,out_of_stock,sephora_exclusive,highlights,"
    "primary_category,secondary_category,tertiary_category,child_count,child_max_price,"
    "child_min_price"
)
# CRLF, no newline after the last row, an ingredients list with an embedded
# LF, an empty rating, `reviews` written as a float, a bad and a repeated row.
PRODUCTS = "\r\n".join(
    [
        PRODUCT_COLUMNS,
        "P473671,Fragrance Discovery Set,6342,19-69,6320,3.6364,11,,,,,"
        "\"['Capri:', 'Alcohol\nDenat.']\",35,,,0,0,1,0,0,\"['Vegan', 'Fresh Scent']\","
        "Fragrance,Value & Gift Sets,Perfume Gift Sets,0,,",
        "P445951,Face Oil,1,Kiehl's Since 1851,109463,,153.0,1 oz,Size,1 oz,,,30.0,,,"
        "0,1,0,0,1,,Skincare,Treatments,Face Oils,2,34,15",
        "P999,Broken,1,Brand,1,4.0",
        "P415771,Old Name,1,Brand,x,4.0,1,,,,,,10,,,0,0,0,0,0,,Skincare,,,0,,",
        "P415771,Serum,1,Brand,5,4.5,2,,,,,,12.5,,,0,0,0,0,0,,Skincare,Serums,,0,,",
    ]
)


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_reviews_become_ratings_with_exact_values_and_rejects(tmp_path: Path) -> None:
    raw = _write(tmp_path / "reviews_0-250.csv", RAW_REVIEWS)
    result = read([raw], STARS)
    assert result.ratings.rows() == [
        ("5206987927", "P445951", 5.0, MAY_1_2020, 1.0),
        ("0012345", "P415771", 4.0, MAY_1_2020 + DAY, None),
        ("orderGen1234", "P415771", 3.0, MAY_1_2020 + 2 * DAY, 0.0),
    ]
    assert result.ratings.columns == ["user_id", "item_id", "rating", "timestamp", "is_recommended"]
    lines = RAW_REVIEWS.split("\r\n")
    assert result.rejects.sort("line").rows() == [
        ("reviews_0-250.csv", 5, "wrong_field_count", "3,777,5,1.0"),
        ("reviews_0-250.csv", 6, "unparsable_number", lines[5]),
        ("reviews_0-250.csv", 7, "rating_out_of_scale", lines[6]),
        ("reviews_0-250.csv", 8, "unparsable_number", lines[7]),
        ("reviews_0-250.csv", 9, "missing_id", lines[8]),
        ("reviews_0-250.csv", 10, "duplicate", lines[9]),
    ]
    assert result.rows_read == 9 == result.ratings.height + result.rejects.height
    assert result.tables == {"reviews": TableCount(("reviews_0-250.csv",), 9, 3, 6)}
    assert result.users is not None
    assert result.users.rows() == [
        ("0012345", "fair", "combination", "brown", "black"),
        ("5206987927", "fair", "combination", "brown", "black"),
        ("orderGen1234", "fair", "combination", "brown", "black"),
    ]
    assert result.items is None


def test_records_spanning_lines_keep_their_text_in_raw(tmp_path: Path) -> None:
    text = _review("0", "1", "5", "1.0", "2020-05-01", '"a\nb"', "P1") + "\n" + "2,3\n"
    result = read([_write(tmp_path / "r.csv", "," + REVIEW_COLUMNS + "\n" + text)], STARS)
    # The second record starts on line 4 of the file but is record 3.
    assert result.rejects.rows() == [("r.csv", 3, "wrong_field_count", "2,3")]
    assert result.ratings.height == 1


def test_product_info_becomes_items_whatever_the_file_names(tmp_path: Path) -> None:
    reviews = _write(tmp_path / "part_b.csv", RESAVED_REVIEWS)
    products = _write(tmp_path / "reviews_1.csv", PRODUCTS)  # a misleading name
    result = read([products, reviews], STARS)
    assert result.ratings.rows() == [("12345", "P473671", 1.0, MAY_1_2020, 0.0)]
    items = result.items
    assert items is not None
    assert items.columns[:4] == ["item_id", "product_name", "brand_id", "brand_name"]
    assert items.select("item_id", "rating", "reviews", "price_usd", "new").rows() == [
        ("P473671", 3.6364, 11, 35.0, False),
        ("P445951", None, 153, 30.0, True),
        ("P415771", 4.5, 2, 12.5, False),
    ]
    assert items["ingredients"].to_list() == [["Capri:", "Alcohol\nDenat."], None, None]
    assert items["highlights"].to_list() == [["Vegan", "Fresh Scent"], None, None]
    assert items.row(0, named=True)["tertiary_category"] == "Perfume Gift Sets"
    rows = PRODUCTS.split("\r\n")
    assert result.rejects.rows() == [
        ("reviews_1.csv", 4, "wrong_field_count", rows[3]),
        ("reviews_1.csv", 5, "unparsable_number", rows[4]),
    ]
    assert result.rows_read == 3 == result.ratings.height + result.rejects.height
    assert result.rows_by_source == {"part_b.csv": 1, "reviews_1.csv": 5}
    assert result.tables == {
        "reviews": TableCount(("part_b.csv",), 1, 1, 0),
        "products": TableCount(("reviews_1.csv",), 5, 3, 2),
    }
    assert items.select("item_id", "categories", "price_bucket").rows() == [
        ("P473671", ["Fragrance", "Value & Gift Sets", "Perfume Gift Sets"], "25-50"),
        ("P445951", ["Skincare", "Treatments", "Face Oils"], "25-50"),
        ("P415771", ["Skincare", "Serums"], "10-25"),
    ]


def _attributes(line: int, author: str, date: str, tone: str, hair: str, product: str) -> str:
    """A review record (unnamed index first) with the reviewer's skin tone and hair colour."""
    return (
        f"{line},{author},5,1.0,1.0,1,0,1,{date},text,Title,{tone},"
        f"blue,dry,{hair},{product},Name,Brand,10.0"
    )


def test_reviewer_attributes_become_users_with_the_latest_non_blank_value(
    tmp_path: Path,
) -> None:
    first = _write(
        tmp_path / "reviews_0-250.csv",
        "\n".join(
            [
                "," + REVIEW_COLUMNS,
                _attributes(0, "A", "2020-05-01", "fair", "", "P1"),
                _attributes(1, "A", "2020-05-03", "", "black", "P2"),
                _attributes(2, "A", "2020-05-02", "light", "brown", "P3"),
                _attributes(3, "B", "2020-05-01", "", "", "P1"),
                _attributes(4, "C", "2020-05-01", "deep", "red", "P1").replace(",5,", ",6,", 1),
                _attributes(5, "D", "2020-05-01", "dark", "gray", "P1"),
            ]
        ),
    )
    second = _write(
        tmp_path / "reviews_250-500.csv",
        "\n".join(["," + REVIEW_COLUMNS, _attributes(0, "D", "2020-05-01", "tan", "", "P2")]),
    )
    result = read([first, second], STARS)
    assert result.users is not None
    # A: the latest tone is 05-02's (05-03's is blank), the latest hair 05-03's;
    # B: all blank; C: only a rejected review (rating 6), so no user;
    # D: the same day in two files, the later file wins; its blank hair is skipped.
    assert result.users.rows() == [
        ("A", "light", "dry", "blue", "black"),
        ("B", None, "dry", "blue", None),
        ("D", "tan", "dry", "blue", "gray"),
    ]
    assert result.users.columns == ["user_id", "skin_tone", "skin_type", "eye_color", "hair_color"]
    assert result.rejects.select("source", "line", "reason").rows() == [
        ("reviews_0-250.csv", 6, "rating_out_of_scale")
    ]


def test_records_that_are_not_utf8_are_read_as_windows_1252_and_counted(tmp_path: Path) -> None:
    header, first, oil, *_ = PRODUCTS.split("\r\n")
    glow = oil.replace("P445951,Face Oil", "P9,Glow\x99 Serum")
    undefined = oil.replace("P445951,Face Oil", "P10,Bad\x81 Byte")
    data = "\r\n".join([header, first, glow, undefined]).encode("utf-8")
    products = tmp_path / "product_info.csv"
    products.write_bytes(data.replace("\x99".encode(), b"\x99").replace("\x81".encode(), b"\x81"))
    review = _review("0", "7", "5", "1.0", "2020-05-01", "Caf\xe9", "P9")
    reviews = tmp_path / "reviews_0-250.csv"
    reviews.write_bytes(("," + REVIEW_COLUMNS + "\n" + review + "\n").encode("cp1252"))
    result = read([reviews, products], STARS)
    assert result.items is not None
    assert result.items.select("item_id", "product_name").rows() == [
        ("P473671", "Fragrance Discovery Set"),
        ("P9", "Glow\u2122 Serum"),
    ]
    # 0x81 is no Windows-1252 character either: that record is still undecodable.
    assert result.rejects.select("source", "line", "reason").rows() == [
        ("product_info.csv", 4, "undecodable_text")
    ]
    assert result.ratings.rows() == [("7", "P9", 5.0, MAY_1_2020, 1.0)]
    assert result.tables == {
        "reviews": TableCount(("reviews_0-250.csv",), 1, 1, 0, windows_1252=1),
        "products": TableCount(("product_info.csv",), 3, 2, 1, windows_1252=2),
    }


def test_duplicate_products_keep_the_later_record(tmp_path: Path) -> None:
    header, *_, last = PRODUCTS.split("\r\n")
    older = last.replace("Serum", "Serum v1")
    products = _write(tmp_path / "product_info.csv", "\n".join([header, older, last]))
    reviews = _write(tmp_path / "reviews.csv", RESAVED_REVIEWS)
    result = read([reviews, products], STARS)
    assert result.items is not None
    assert result.items.select("item_id", "product_name").rows() == [("P415771", "Serum")]
    assert result.rejects.rows() == [("product_info.csv", 2, "duplicate", older)]


def test_gzip_inputs_and_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "reviews_0-250.csv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"\xef\xbb\xbf" + RESAVED_REVIEWS.encode("utf-8"))
    assert read([path], STARS).ratings.rows() == [("12345", "P473671", 1.0, MAY_1_2020, 0.0)]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.csv": "user,item,rating\nA,B,5\n"}, "neither a Sephora"),
        ({"product_info.csv": PRODUCTS}, "no Sephora reviews file"),
        ({"reviews.csv": ""}, "no records found"),
        ({"reviews.csv": "," + REVIEW_COLUMNS + "\n"}, "no records found"),
        ({"product_info.csv": PRODUCT_COLUMNS, "r.csv": RESAVED_REVIEWS}, "no records found"),
        ({"reviews.csv": "," + REVIEW_COLUMNS + '\n0,"unterminated\n'}, "none of the first 1"),
    ],
)
def test_files_that_are_not_sephora_are_one_clear_error(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    paths = [_write(tmp_path / name, text) for name, text in files.items()]
    with pytest.raises(AerecError, match=message) as caught:
        read(paths, STARS)
    assert str(caught.value).startswith(str(paths[0]))


@pytest.mark.shared
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/data/samples is absent")
def test_real_samples_read_completely() -> None:
    result = read(
        [SAMPLES / "sephora_reviews_sample.csv", SAMPLES / "sephora_product_info_sample.csv"],
        STARS,
    )
    assert result.rows_read == 200
    assert result.ratings.height == 200
    assert result.rejects.height == 0
    assert result.ratings.row(0) == ("5206987927", "P445951", 5.0, MAY_1_2020, 1.0)
    assert result.items is not None
    assert result.items.height == 200
    assert result.items.row(0, named=True)["item_id"] == "P473671"
    assert result.items.row(0, named=True)["product_name"] == "Fragrance Discovery Set"
    # Nulls exactly where the sample's fields are blank (counted with Python's csv).
    assert result.ratings["is_recommended"].null_count() == 39
    nulls = result.items.select("rating", "ingredients", "highlights").null_count().row(0)
    assert nulls == (10, 16, 52)
    # 200 authors, one review each: nulls where the attributes are blank (Python's csv).
    assert result.users is not None
    assert result.users.height == 200
    assert result.users.drop("user_id").null_count().row(0) == (35, 24, 46, 48)
    assert result.tables["products"].windows_1252 == 0
