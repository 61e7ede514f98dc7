"""The ingest stage and `aerec ingest`: outputs, summary, nothing written on bad input."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from aerec import schema as s
from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers import FORMATS
from aerec.stages.ingest import parse_columns, parse_scale, rating_histogram, run

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RATINGS = (
    "1::10::5::978300760\n"
    "1::20::3.5::978300761\n"
    "2::10::4::978300800\n"
    "2::10::2::978300900\n"
    "3::30::6::978301000\n"
    "3::31::x::978301000\n"
    "3::32::4\n"
)
USERS = "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15\n"
MOVIES = "10::Toy Story (1995)::Animation\n20::Heat (1995)::Action|Crime\n"


def _movielens(folder: Path, side: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text(RATINGS, encoding="ascii")
    if side:
        (folder / "users.dat").write_text(USERS, encoding="ascii")
        (folder / "movies.dat").write_text(MOVIES, encoding="latin-1")
    return folder


def test_outputs_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "interim"
    summary = run("movielens", [_movielens(tmp_path / "ml")], out)
    expected = {
        "format": "movielens",
        "inputs": [str(tmp_path / "ml")],
        "scale": {"min": 0.5, "max": 5.0, "step": 0.5},
        # The rating table's counts; users.dat's reject is its table's.
        "rows_read": 7,
        "accepted": 3,
        "rejected": 4,
        "rejected_by_reason": {
            "duplicate": 1,
            "rating_out_of_scale": 1,
            "unparsable_number": 1,
            "wrong_field_count": 1,
        },
        "tables": {
            "ratings": {
                "rows_read": 7,
                "accepted": 3,
                "rejected": 4,
                "rejected_by_reason": {
                    "duplicate": 1,
                    "rating_out_of_scale": 1,
                    "unparsable_number": 1,
                    "wrong_field_count": 1,
                },
                "read_as_windows_1252": 0,
            },
            "users": {
                "rows_read": 3,
                "accepted": 2,
                "rejected": 1,
                "rejected_by_reason": {"wrong_field_count": 1},
                "read_as_windows_1252": 0,
            },
            "items": {
                "rows_read": 2,
                "accepted": 2,
                "rejected": 0,
                "rejected_by_reason": {},
                "read_as_windows_1252": 0,
            },
        },
        "users": 2,
        "items": 2,
        "rating_histogram": {"2.0": 1, "3.5": 1, "5.0": 1},
        "time_span": {"min": 978300760, "max": 978300900},
        "files": {
            "ratings.dat": {"rows_read": 7, "accepted": 3, "rejected": 4},
            "users.dat": {"rows_read": 3, "accepted": 2, "rejected": 1},
            "movies.dat": {"rows_read": 2, "accepted": 2, "rejected": 0},
        },
        "side": {"users": 2, "items": 2},
    }
    assert summary == expected
    assert json.loads((out / "summary.json").read_text()) == expected
    ratings = pl.read_parquet(out / "ratings.parquet")
    assert ratings.schema == pl.Schema(s.RATINGS_SCHEMA)
    assert ratings.rows() == [
        ("1", "10", 5.0, 978300760),
        ("1", "20", 3.5, 978300761),
        ("2", "10", 2.0, 978300900),
    ]
    rejects = pl.read_parquet(out / "rejects.parquet")
    assert rejects.schema == pl.Schema(s.REJECTS_SCHEMA)
    assert rejects.select("source", "line", "reason").rows() == [
        ("ratings.dat", 3, "duplicate"),
        ("ratings.dat", 5, "rating_out_of_scale"),
        ("ratings.dat", 6, "unparsable_number"),
        ("ratings.dat", 7, "wrong_field_count"),
        ("users.dat", 3, "wrong_field_count"),
    ]
    assert pl.read_parquet(out / "users.parquet").columns[0] == "user_id"
    assert pl.read_parquet(out / "items.parquet")["title"].to_list() == [
        "Toy Story (1995)",
        "Heat (1995)",
    ]
    codecs = {
        pq.ParquetFile(out / "ratings.parquet").metadata.row_group(0).column(i).compression
        for i in range(4)
    }
    assert codecs == {"ZSTD"}


def test_rerun_without_side_files_removes_stale_side_tables(tmp_path: Path) -> None:
    out = tmp_path / "interim"
    run("movielens", [_movielens(tmp_path / "a")], out)
    assert (out / "users.parquet").is_file()
    run("movielens", [_movielens(tmp_path / "b", side=False)], out)
    assert sorted(p.name for p in out.iterdir()) == [
        ".aerec-output",
        "ratings.parquet",
        "rejects.parquet",
        "summary.json",
    ]


def test_gzip_input_and_explicit_scale(tmp_path: Path) -> None:
    path = tmp_path / "ratings.dat.gz"
    path.write_bytes(gzip.compress(RATINGS.encode()))
    summary = run("movielens", [path], tmp_path / "out", scale=RatingScale(min=1, max=5, step=1))
    # 3.5 is off a whole-star scale.
    assert summary["rejected_by_reason"]["rating_out_of_scale"] == 2
    assert summary["accepted"] == 2


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[Path], str]]:
    csv = tmp_path / "ratings.csv"
    csv.write_text("user,item,rating,ts\n1,2,3,4\n", encoding="ascii")
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.dat"
    blank.write_text("\n\n", encoding="ascii")
    (tmp_path / "folder").mkdir()
    return {
        "csv_as_movielens": (
            [csv],
            r"ratings\.csv: none of the first 2 records reads as MovieLens",
        ),
        "missing": ([tmp_path / "nope.dat"], r"nope\.dat: no such file or folder; expected"),
        "empty": ([empty], r"empty\.dat: empty file; expected MovieLens"),
        "blank": ([blank], r"blank\.dat: no records found"),
        "folder": ([tmp_path / "folder"], r"folder: folder without ratings\.dat"),
        "nothing": ([], r"no input given"),
    }


@pytest.mark.parametrize(
    "case", ["csv_as_movielens", "missing", "empty", "blank", "folder", "nothing"]
)
def test_bad_input_is_one_error_and_writes_nothing(tmp_path: Path, case: str) -> None:
    inputs, message = _bad_inputs(tmp_path)[case]
    out = tmp_path / "interim"
    with pytest.raises(AerecError, match=message):
        run("movielens", inputs, out)
    assert not out.exists()


def test_bad_input_leaves_an_earlier_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "interim"
    run("movielens", [_movielens(tmp_path / "ml")], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    inputs, _ = _bad_inputs(tmp_path)["csv_as_movielens"]
    with pytest.raises(AerecError):
        run("movielens", inputs, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_format_and_columns_errors(tmp_path: Path) -> None:
    path = _movielens(tmp_path / "ml") / "ratings.dat"
    with pytest.raises(AerecError, match=r"unknown format 'ml-1m'; choose one of: movielens"):
        run("ml-1m", [path], tmp_path / "out")
    with pytest.raises(AerecError, match=r"--format csv: needs --columns"):
        run("csv", [path], tmp_path / "out")
    with pytest.raises(AerecError, match=r"--columns: only for --format csv"):
        run("movielens", [path], tmp_path / "out", columns={"user": "a"})
    assert not (tmp_path / "out").exists()


def test_csv_format_with_columns(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("u,i,r\nA,B,5\n", encoding="utf-8")
    summary = run("csv", [path], tmp_path / "out", columns=parse_columns("user=u,item=i,rating=r"))
    assert summary["accepted"] == 1
    assert summary["time_span"] == {"min": None, "max": None}


def test_parse_scale_and_columns() -> None:
    assert parse_scale("0.5:5:0.5") == RatingScale(min=0.5, max=5, step=0.5)
    assert parse_scale("1:10") == RatingScale(min=1, max=10, step=1)
    for bad in ("1:x:1", "5:1:1", "1"):
        with pytest.raises(AerecError, match=r"--scale"):
            parse_scale(bad)
    with pytest.raises(AerecError, match=r"'item' is not KEY=COLUMN"):
        parse_columns("user=a,item")


def test_continuous_ratings_are_binned() -> None:
    ratings = pl.Series("rating", [i / 100 for i in range(1001)], dtype=pl.Float32)
    histogram = rating_histogram(ratings)
    assert len(histogram) == 10
    assert sum(histogram.values()) == 1001
    assert next(iter(histogram)) == "[0.0, 1.0)"


def _aerec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aerec.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_cli_prints_summary_and_exits_0(tmp_path: Path) -> None:
    _movielens(tmp_path / "ml")
    done = _aerec("ingest", "--format", "movielens", "--out", "interim", "ml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "7 rows read, 3 accepted, 4 rejected" in done.stdout
    assert "  users: 3 records read, 2 accepted, 1 rejected\n" in done.stdout
    assert "  items: 2 records read, 2 accepted, 0 rejected\n" in done.stdout
    for text in ("wrong_field_count", "3.5", "2000-12-31 .. 2000-12-31", "users table 2 rows"):
        assert text in done.stdout
    assert (tmp_path / "interim" / "summary.json").is_file()


def test_cli_reads_format_and_scale_from_params(tmp_path: Path) -> None:
    _movielens(tmp_path / "ml", side=False)
    (tmp_path / "params.yaml").write_text(
        "dataset:\n  format: movielens\n  scale: {min: 1, max: 5, step: 1}\n", encoding="utf-8"
    )
    done = _aerec("ingest", "--out", "interim", "ml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "interim" / "summary.json").read_text())
    assert summary["scale"] == {"min": 1.0, "max": 5.0, "step": 1.0}
    assert summary["rejected_by_reason"]["rating_out_of_scale"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "movielens", "ratings.csv"], "ratings.csv: none of the first 2 records"),
        (["--format", "movielens", "missing.dat"], "missing.dat: no such file or folder"),
        (["--format", "nope", "ratings.csv"], "unknown format 'nope'"),
        (["--format", "csv", "--columns", "user=x", "ratings.csv"], "no column given for item"),
        (["--format", "movielens", "--scale", "a:b", "ratings.csv"], "--scale 'a:b'"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "ratings.csv").write_text("user,item,rating,ts\n1,2,3,4\n", encoding="ascii")
    done = _aerec("ingest", "--out", "interim", *args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aerec: error: ")
    assert message in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "interim").exists()


def test_cli_help_lists_every_format(tmp_path: Path) -> None:
    done = _aerec("ingest", "--help", cwd=tmp_path)
    assert done.returncode == 0
    for name in FORMATS:
        assert f"{name}:" in done.stdout


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "ml-1m").is_dir(), reason="../shared/data/ml-1m is not available")
def test_real_ml1m_folder_counts(tmp_path: Path) -> None:
    ml1m = SHARED / "ml-1m"
    inputs = [ml1m / "ratings_users_1-2999.dat.gz", ml1m / "users.dat", ml1m / "movies.dat"]
    summary = run("movielens", inputs, tmp_path / "out")
    assert (summary["rows_read"], summary["accepted"], summary["rejected"]) == (487_650, 487_650, 0)
    assert (summary["users"], summary["items"]) == (2_999, 3_615)
    assert summary["side"] == {"users": 6_040, "items": 3_883}
    assert sum(summary["rating_histogram"].values()) == 487_650
