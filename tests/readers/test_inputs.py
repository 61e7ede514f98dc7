"""Inputs of `aerec ingest`: a file, a folder of the format's files or a glob, for every format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aerec.errors import AerecError
from aerec.readers import FORMATS
from aerec.readers.inputs import FOLDERS, resolve
from aerec.stages.ingest import run

SEPHORA_REVIEWS = (
    ",author_id,rating,is_recommended,product_id,submission_time,skin_tone\r\n"
    '0,a1,5,1.0,P1,2020-05-01,"fair"\r\n1,a2,4,0.0,P2,2020-05-02,\r\n'
)
REVIEW = '{{"reviewerID":"{user}","asin":"0001","overall":{rating},"unixReviewTime":1363392000}}\n'
SEPHORA_PRODUCTS = "product_id,product_name,brand_name,price_usd\nP1,Oil,Brand,30\n"
# format -> (files of a folder, the files the folder stands for, ratings accepted)
# Each folder also holds a file of no interest to the format, which is not read.
FOLDER_CASES: dict[str, tuple[dict[str, str], list[str], int]] = {
    "movielens": (
        {
            "ratings.dat": "1::10::5::978300760\n2::10::3::978300761\n",
            "users.dat": "1::F::1::10::48067\n",
            "movies.dat": "10::Toy Story (1995)::Animation\n",
            "README": "not ratings\n",
        },
        ["movies.dat", "ratings.dat", "users.dat"],
        2,
    ),
    "ml100k": (
        {"u.data": "1\t10\t5\t874965758\n", "u.user": "1|24|M|technician|85711\n", "u1.base": "x"},
        ["u.data", "u.user"],
        1,
    ),
    "recbole": (
        {
            "ml.inter": "user_id:token\titem_id:token\trating:float\n1\t10\t5\n2\t10\t4\n",
            "ml.user": "user_id:token\tage:float\n1\t24\n",
            "notes.txt": "x",
        },
        ["ml.inter", "ml.user"],
        2,
    ),
    "amazon-2014": ({"a.csv": "A1,B000000001,5.0,100\n", "b.txt": "x"}, ["a.csv"], 1),
    "amazon-2018": ({"a.csv": "B000000001,A1,5.0,100\n", "b.txt": "x"}, ["a.csv"], 1),
    "amazon-2023": (
        {"a.csv": "user_id,parent_asin,rating,timestamp\nA1,B1,5.0,1588291200000\n", "b.txt": "x"},
        ["a.csv"],
        1,
    ),
    "amazon-reviews": (
        {
            "Books_5.json": REVIEW.format(user="A1", rating=5.0),
            "more.jsonl": REVIEW.format(user="A2", rating=4.0),
            "meta.txt": "x",
        },
        ["Books_5.json", "more.jsonl"],
        2,
    ),
    "sephora": (
        {
            "reviews_0-250.csv": SEPHORA_REVIEWS,
            "product_info.csv": SEPHORA_PRODUCTS,
            "other.csv": "x,y\n1,2\n",
        },
        ["product_info.csv", "reviews_0-250.csv"],
        2,
    ),
    "cil": ({"train.csv": "Id,Prediction\nr1_c2,3\nr2_c1,4\n", "a.txt": "x"}, ["train.csv"], 2),
    "csv": (
        {"ratings.csv": "u,i,r\nA,B,5\nC,D,4\n", "movies.csv": "m,t\n1,x\n"},
        ["ratings.csv"],
        2,
    ),
}
COLUMNS = {"user": "u", "item": "i", "rating": "r"}


def _folder(root: Path, files: dict[str, str]) -> Path:
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_every_format_has_a_folder_layout() -> None:
    assert set(FOLDERS) == set(FORMATS)


@pytest.mark.parametrize("fmt", sorted(FOLDER_CASES))
def test_a_folder_stands_for_the_files_of_its_format(tmp_path: Path, fmt: str) -> None:
    files, wanted, accepted = FOLDER_CASES[fmt]
    folder = _folder(tmp_path / "raw", files)
    assert resolve(fmt, [folder], "x") == [folder / name for name in wanted]
    columns = COLUMNS if fmt == "csv" else None
    summary = run(fmt, [folder], tmp_path / "out", columns=columns)
    assert summary["accepted"] == accepted
    assert sorted(summary["files"]) == wanted


@pytest.mark.parametrize("fmt", sorted(FOLDER_CASES))
def test_an_empty_folder_is_one_error_naming_the_files_it_should_hold(
    tmp_path: Path, fmt: str
) -> None:
    folder = _folder(tmp_path / "raw", {"notes.md": "x"})
    with pytest.raises(AerecError) as caught:
        resolve(fmt, [folder], "x")
    message = str(caught.value)
    assert message.startswith(f"{folder}: folder without {FOLDERS[fmt].describe()}")
    assert f"--format {fmt}" in message


def test_a_glob_expands_in_name_order_and_a_folder_among_its_matches_gives_its_files(
    tmp_path: Path,
) -> None:
    root = _folder(tmp_path / "raw", {"reviews_1.csv": SEPHORA_REVIEWS, "reviews_0.csv": "x"})
    _folder(root / "reviews_2", {"reviews_9.csv": "x", "product_info.csv.gz": "x"})
    assert resolve("sephora", [root / "reviews_*"], "x") == [
        root / "reviews_0.csv",
        root / "reviews_1.csv",
        root / "reviews_2" / "product_info.csv.gz",
        root / "reviews_2" / "reviews_9.csv",
    ]


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    files, wanted, _ = FOLDER_CASES["cil"]
    folder = _folder(tmp_path / "raw", files)
    assert resolve("cil", [folder, folder / wanted[0]], "x") == [folder / wanted[0]]


def test_a_csv_folder_without_ratings_csv_reads_every_table_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "raw", {"b.csv": "x", "a.parquet": "x", "c.tsv.gz": "x", "d": ""})
    wanted = [folder / "a.parquet", folder / "b.csv", folder / "c.tsv.gz"]
    assert resolve("csv", [folder], "x") == wanted


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("nomatch_*.csv", "nomatch_*.csv: no file matches this pattern; expected the format"),
        ("missing.csv", "missing.csv: no such file or folder; expected the format"),
    ],
)
def test_a_missing_path_or_an_empty_glob_is_one_error(
    tmp_path: Path, given: str, message: str
) -> None:
    with pytest.raises(AerecError, match=message.replace("*", r"\*")):
        resolve("sephora", [tmp_path / given], "the format")
    with pytest.raises(AerecError, match="ingest: no input given; expected the format"):
        resolve("sephora", [], "the format")


def _aerec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aerec.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_cli_reads_a_sephora_folder(tmp_path: Path) -> None:
    _folder(tmp_path / "sephora", FOLDER_CASES["sephora"][0])
    done = _aerec("ingest", "--format", "sephora", "--out", "interim", "sephora", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "interim" / "items.parquet").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "sephora", "--out", "interim", "empty"], "empty: folder without reviews_"),
        (
            ["--format", "csv", "--columns", "user=u,item=i,rating=r", "--out", "interim", "empty"],
            "empty: folder without *.csv",
        ),
        (["--format", "movielens", "--out", "interim", "empty/*.dat"], "no file matches"),
        (["--format", "cil", "--out", "a_file/sub", "cil"], "a_file is a file, not a folder"),
        (["--format", "cil", "--out", "a_file", "cil"], "--out a_file: a_file is a file"),
    ],
)
def test_cli_wrong_kind_of_path_is_one_line_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    _folder(tmp_path / "empty", {})
    _folder(tmp_path / "cil", {"a.csv": "Id,Prediction\nr1_c2,3\n"})
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    done = _aerec("ingest", *args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aerec: error: ")
    assert message in lines[0]
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["validate", "interim", "--out", "a_file"],
            "a_file: a file where an output folder belongs; remove it or pick --out",
        ),
        (
            ["fetch", "ml-100k", "--out", "a_file"],
            "--out a_file: a file where the raw data folder belongs; pick a folder",
        ),
    ],
)
def test_cli_a_file_as_an_output_folder_is_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    _folder(tmp_path / "cil", {"a.csv": "Id,Prediction\nr1_c2,3\n"})
    ingest = _aerec("ingest", "--format", "cil", "--out", "interim", "cil", cwd=tmp_path)
    assert ingest.returncode == 0, ingest.stderr
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    done = _aerec(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"aerec: error: {message}"]
