"""CIL reader: `Id,Prediction` with 1-based `r<row>_c<col>` ids."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.base import ReadResult
from aerec.readers.cil import exact_read, fast_read, read

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SAMPLES = SHARED / "samples"
STARS = RatingScale(min=1, max=5, step=1)

TRAIN = (
    "Id,Prediction\n"
    "r44_c1,4\n"
    "r10000_c1000,1\n"
    "r0_c2,3\n"  # ids are 1-based
    "r5c3,4\n"
    "R6_C3,4\n"
    "r7_c4,3.5\n"
    "r8_c4,6\n"
    "r9_c4\n"
    "r10_c4,x\n"
    "r44_c1,5\n"  # the same cell again: no timestamps, so the later row wins
)


def test_ids_split_into_user_and_item_strings(tmp_path: Path) -> None:
    path = tmp_path / "data_train.csv"
    path.write_text(TRAIN, encoding="utf-8")
    result = read([path], STARS)
    assert result.ratings.rows() == [
        ("10000", "1000", 1.0, None),
        ("44", "1", 5.0, None),
    ]
    assert result.rejects.sort("line").rows() == [
        ("data_train.csv", 2, "duplicate", "r44_c1,4"),
        ("data_train.csv", 4, "missing_id", "r0_c2,3"),
        ("data_train.csv", 5, "missing_id", "r5c3,4"),
        ("data_train.csv", 6, "missing_id", "R6_C3,4"),
        ("data_train.csv", 7, "rating_out_of_scale", "r7_c4,3.5"),
        ("data_train.csv", 8, "rating_out_of_scale", "r8_c4,6"),
        ("data_train.csv", 9, "wrong_field_count", "r9_c4"),
        ("data_train.csv", 10, "unparsable_number", "r10_c4,x"),
    ]
    assert result.rows_read == 10 == result.ratings.height + result.rejects.height


def test_headerless_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "data_train.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("r1_c2,3\r\nr2_c1,5\r\n")
    assert read([path], STARS).ratings.rows() == [("1", "2", 3.0, None), ("2", "1", 5.0, None)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no records found"),
        ("Id,Prediction\n", "no records found"),
        ("user,item,rating\n1,2,5\n", "expected a CIL"),
        ("Id,Prediction\nfoo_bar,3\n", "none of the first 1 records"),
    ],
)
def test_a_file_of_another_format_is_one_clear_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "input.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AerecError, match=message) as caught:
        read([path], STARS)
    assert str(caught.value).startswith(str(path))


@pytest.mark.shared
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/data/samples is absent")
@pytest.mark.parametrize(
    ("name", "first"),
    [("cil_r_c_sample.csv", ("44", "1", 4.0, None)), ("cil_sample_submission_sample.csv", None)],
)
def test_real_samples_read_completely(name: str, first: tuple | None) -> None:
    result = read([SAMPLES / name], STARS)
    assert result.rows_read == 200
    assert result.ratings.height == 200
    assert result.rejects.height == 0
    if first:
        assert result.ratings.row(0) == first
    else:
        assert result.ratings["rating"].unique().to_list() == [3.0]


CLEAN = "Id,Prediction\nr44_c1,4\nr10000_c1000,1\nr2_c3,5\n"
# Each variant of the clean file that polars' parser would read otherwise than
# the exact line-by-line path, so that read() must take the exact one.
NOT_CLEAN = {
    "blank line": CLEAN + "\nr3_c3,2\n",
    "trailing comma": CLEAN + "r3_c3,2,\n",
    "third field": CLEAN + "r3_c3,2,9\n",
    "missing rating": CLEAN + "r3_c3\n",
    "quote": CLEAN + 'r3_c3,"2"\n',
    "space": CLEAN + "r3_c3, 2\n",
    "leading zero": CLEAN + "r03_c3,2\n",
    "off the scale": CLEAN + "r3_c3,6\n",
    "half star": CLEAN + "r3_c3,2.5\n",
    "repeated cell": CLEAN + "r44_c1,2\n",
    "bare CR": CLEAN + "r3_c3,2\rr4_c3,1\n",
    "BOM": "\ufeff" + CLEAN,
    "not UTF-8": CLEAN + "r3_c3,2\xff\n",
}
CLEAN_TOO = {
    "clean": CLEAN,
    "CRLF": CLEAN.replace("\n", "\r\n"),
    "no header": CLEAN.removeprefix("Id,Prediction\n"),
    "no final newline": CLEAN.rstrip("\n"),
    "header in capitals": CLEAN.replace("Id,Prediction", "ID,PREDICTION"),
}


def _both(path: Path) -> tuple[tuple, tuple]:
    """read()'s result and the exact path's, as comparable tuples."""

    def key(result: ReadResult) -> tuple:
        return (
            result.ratings.rows(),
            result.ratings.schema,
            result.rejects.rows(),
            result.rows_read,
            result.rows_by_source,
        )

    return key(read([path], STARS)), key(exact_read([path], [path], STARS))


@pytest.mark.parametrize("case", sorted(CLEAN_TOO))
def test_clean_files_take_the_fast_path_with_the_exact_paths_result(
    tmp_path: Path, case: str
) -> None:
    path = tmp_path / "data_train.csv"
    path.write_bytes(CLEAN_TOO[case].encode("utf-8"))
    assert fast_read([path], [path], STARS) is not None
    fast, exact = _both(path)
    assert fast == exact
    assert fast[0] == [("44", "1", 4.0, None), ("10000", "1000", 1.0, None), ("2", "3", 5.0, None)]


@pytest.mark.parametrize("case", sorted(NOT_CLEAN))
def test_any_unclean_line_sends_the_file_the_exact_way(tmp_path: Path, case: str) -> None:
    path = tmp_path / "data_train.csv"
    text = NOT_CLEAN[case]
    path.write_bytes(text.encode("utf-8").replace("\xff".encode(), b"\xff"))
    assert fast_read([path], [path], STARS) is None
    fast, exact = _both(path)
    assert fast == exact


def test_a_cell_repeated_across_files_is_left_to_the_exact_path(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(CLEAN, encoding="utf-8")
    second.write_text("r2_c3,1\n", encoding="utf-8")
    assert fast_read([first, second], [first, second], STARS) is None
    result = read([first, second], STARS)
    assert result.rejects.select("source", "line", "reason").rows() == [("a.csv", 4, "duplicate")]
    assert result.rows_by_source == {"a.csv": 3, "b.csv": 1}
