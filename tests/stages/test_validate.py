"""The validate stage end to end: report files, the gate, the CLI, the page in Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.browser import FLAGS, chromium, external_urls
from tests.stages.test_sephora_side import write_sephora

from aerec import cli
from aerec import schema as s
from aerec.config import Params
from aerec.errors import AerecError
from aerec.stages import ingest as ingest_stage
from aerec.stages.validate import run

NOW = 1_795_392_000  # 2026-11-23
T0 = 946_684_800  # 2000-01-01
PARAMS = Params.model_validate(
    {"validate": {"min_ratings": 20, "min_users": 5, "min_items": 5, "min_ratings_per_user": 3}}
)
# Bar colours of the report's charts (ratings by value, per user, per item, rejects).
CHART_COLOURS = [(0x40, 0x63, 0xD8), (0x1F, 0x9D, 0x8B), (0xD9, 0x82, 0x2B), (0xC9, 0x37, 0x2C)]


def ratings(extra: list[tuple] = ()) -> pl.DataFrame:
    """6 users x 5 items each (30 ratings, every star), plus `extra` rows."""
    rows = [
        (f"u{u}", f"i{(u + k) % 8}", float(1 + (u * 5 + k) % 5), T0 + 86_400 * (u * 5 + k))
        for u in range(6)
        for k in range(5)
    ]
    return pl.DataFrame(rows + list(extra), schema=s.RATINGS_SCHEMA, orient="row")


def ingest(tmp_path: Path, frame: pl.DataFrame, rejects: pl.DataFrame | None = None) -> Path:
    """An ingest directory: ratings, rejects, summary (counts from the rejects), side tables."""
    folder = tmp_path / "interim"
    folder.mkdir(parents=True)
    frame.write_parquet(folder / s.RATINGS_FILE)
    rejects = s.empty_rejects() if rejects is None else rejects
    rejects.write_parquet(folder / s.REJECTS_FILE)
    by_reason = dict(rejects.group_by(s.REASON).len().iter_rows())
    summary = {
        "format": "recbole",
        "rows_read": frame.height + rejects.height,
        "accepted": frame.height,
        "rejected": rejects.height,
        "rejected_by_reason": by_reason,
    }
    (folder / s.INGEST_SUMMARY_FILE).write_text(json.dumps(summary))
    pl.DataFrame({s.USER_ID: [f"u{u}" for u in range(6)]}).write_parquet(folder / s.USERS_FILE)
    return folder


def broken(tmp_path: Path) -> Path:
    """A dataset failing errors and warnings: a duplicate pair with a hostile id, a 7-star
    rating, a user missing from users.parquet, and ingest rejects of three kinds."""
    hostile = "<img src=x onerror=alert(1)>"
    extra = [(hostile, "i1", 4.0, T0), (hostile, "i1", 7.0, T0 + 1)]
    rejects = pl.DataFrame(
        {
            s.SOURCE: ["ml-100k.inter"] * 3,
            s.LINE: [4, 9, 12],
            s.REASON: [s.REASON_RATING_OUT_OF_SCALE, s.REASON_DUPLICATE, s.REASON_FIELD_COUNT],
            s.RAW: ["1\t2\t9\t881250949", "1\t2\t3\t881250950", "<script>x</script>"],
        },
        schema=s.REJECTS_SCHEMA,
    )
    return ingest(tmp_path, ratings(extra), rejects)


def test_clean_run_writes_report_result_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "validation" / "ml-100k"
    summary = run(ingest(tmp_path, ratings()), out, PARAMS, now=NOW)
    assert sorted(p.name for p in out.iterdir()) == [
        ".aerec-output",
        "index.html",
        "result.json",
        "summary.json",
    ]
    assert json.loads((out / "summary.json").read_text()) == summary
    assert summary["passed"] is True
    assert (summary["errors"], summary["warnings"]) == ([], [])
    assert summary["expectations"] == {"total": 23, "passed": 23, "failed": 0, "not_evaluated": 0}
    assert summary["counts"] == {
        "ratings": 30,
        "users": 6,
        "items": 8,
        "rows_read": 30,
        "rejected": 0,
        "tables": None,  # a summary from before ingest counted tables apart
    }
    assert summary["checks"][16] == {
        "check": "min_ratings",
        "severity": "error",
        "table": "profile",
        "column": "n_ratings",
        "expectation": "expect_column_max_to_be_between",
        "success": True,
        "evaluated": True,
        "observed": 30,
        "unexpected_count": None,
        "unexpected_percent": None,
    }
    result = json.loads((out / "result.json").read_text())
    assert list(result["suites"]) == [
        "schema",
        "ratings",
        "per_user",
        "per_item",
        "profile",
        "rating_values",
        "users",
    ]
    ratings_suite = result["suites"]["ratings"]
    assert ratings_suite["suite_name"] == "aerec.ratings"
    assert ratings_suite["statistics"]["evaluated_expectations"] == 7
    assert result["great_expectations_version"].startswith("1.")


def test_error_failures_raise_one_line_after_writing_the_report(tmp_path: Path) -> None:
    folder = broken(tmp_path)
    out = tmp_path / "report"
    with pytest.raises(AerecError) as caught:
        run(folder, out, PARAMS, now=NOW)
    assert str(caught.value) == (
        f"{folder}: validation failed, 4 error expectation(s): rating_in_scale[ratings.rating], "
        "rating_on_step[ratings.rating], unique_pairs[ratings.user_id, item_id], "
        f"reject_share[profile.reject_share]; see {out / 'index.html'}"
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is False
    assert summary["warnings"] == [
        "min_ratings_per_user[per_user.n_ratings]",
        "side_coverage[per_user.in_users_table]",
    ]
    assert (out / "index.html").is_file() and (out / "result.json").is_file()


def test_a_small_dataset_is_told_which_size_thresholds_to_lower(tmp_path: Path) -> None:
    folder = ingest(tmp_path, ratings())
    out = tmp_path / "report"
    small = Params.model_validate(
        {"validate": {"min_ratings": 1000, "min_users": 10, "min_items": 5}}
    )
    with pytest.raises(AerecError) as caught:
        run(folder, out, small, now=NOW)
    assert str(caught.value) == (
        f"{folder}: validation failed, 2 error expectation(s): "
        "min_users[per_user], min_ratings[profile.n_ratings]; see "
        f"{out / 'index.html'}; the data has 6 users: lower validate.min_users (now 10) in "
        "params.yaml; the data has 30 ratings: lower validate.min_ratings (now 1,000) in "
        "params.yaml"
    )


def test_a_table_without_the_canonical_columns_still_gets_its_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    folder = ingest(tmp_path, ratings().drop(s.TIMESTAMP).with_columns(pl.col(s.RATING).cast(str)))
    with pytest.raises(AerecError, match=r"columns\[schema\], types\[schema\.rating\]"):
        run(folder, out, PARAMS, now=NOW)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "lacks the canonical columns or types" in html
    assert "not evaluated: " in html


def test_warnings_alone_pass(tmp_path: Path) -> None:
    one_rating = ratings([("newcomer", "i3", 4.0, T0)])
    summary = run(ingest(tmp_path, one_rating), tmp_path / "report", PARAMS, now=NOW)
    assert summary["passed"] is True
    assert summary["warnings"] == [
        "min_ratings_per_user[per_user.n_ratings]",
        "side_coverage[per_user.in_users_table]",
    ]


def test_report_is_self_contained_and_escapes_the_data(tmp_path: Path) -> None:
    out = tmp_path / "report"
    with pytest.raises(AerecError):
        run(broken(tmp_path), out, PARAMS, now=NOW)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert external_urls(html) == []
    for tag in ("<script", "<link", "<img", "<iframe", "@import", "http:", "https:"):
        assert tag not in html.lower(), tag
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    # Pass/fail per expectation, observed values, failing rows, the four charts.
    assert html.count("class='pill pass'") == 17
    assert html.count("class='pill e'") == 4 and html.count("class='pill w'") == 2
    assert "2 of 32 rows unexpected" in html
    assert "8.57%" in html  # the reject share, 3 of 35 rows read, as a percentage
    assert html.count("<svg") == 4


def test_report_and_summary_count_ingest_tables_apart(tmp_path: Path) -> None:
    interim = tmp_path / "interim"
    ingest_stage.run("sephora", [write_sephora(tmp_path / "sephora")], interim)
    out = tmp_path / "report"
    try:
        summary = run(interim, out, PARAMS, now=NOW)
    except AerecError:  # five ratings fail the size checks: the report is written all the same
        summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["tables"]["products"] == {
        "rows_read": 3,
        "accepted": 2,
        "rejected": 1,
        "rejected_by_reason": {"wrong_field_count": 1},
        "read_as_windows_1252": 1,
    }
    assert (summary["counts"]["rows_read"], summary["counts"]["rejected"]) == (6, 1)
    html = (out / "index.html").read_text(encoding="utf-8")
    num = "<td class='num'>"
    assert (
        f"<tr><td>reviews</td>{num}6</td>{num}5</td>{num}1</td>{num}0</td></tr>"
        f"<tr><td>products</td>{num}3</td>{num}2</td>{num}1</td>{num}1</td></tr>"
    ) in html
    assert "products: wrong_field_count: 1" in html and "reviews: rating_out_of_scale: 1" in html


def test_cli_exit_codes_and_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "validate: {min_ratings: 20, min_users: 5, min_items: 5, earliest_timestamp: 1999-12-31}\n"
    )
    good = ingest(tmp_path / "good", ratings())
    monkeypatch.setattr(
        sys,
        "argv",
        ["aerec", "validate", str(good), "--out", str(tmp_path / "g"), "--params", str(params)],
    )
    with pytest.raises(SystemExit) as ok:
        cli.main()
    assert ok.value.code in (0, None)
    assert "passed 23/23 expectations on 30 ratings" in capsys.readouterr().out
    bad = broken(tmp_path / "bad")
    monkeypatch.setattr(
        sys,
        "argv",
        ["aerec", "validate", str(bad), "--out", str(tmp_path / "b"), "--params", str(params)],
    )
    with pytest.raises(SystemExit) as failed:
        cli.main()
    assert failed.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"aerec: error: {bad}: validation failed, 4 error expectation(s): ")
    assert err.count("\n") == 1 and err.endswith(f"see {tmp_path / 'b' / 'index.html'}\n")


def _render(html: Path, png: Path) -> list[str]:
    """Screenshot `html` offline; return the http(s) URLs the page itself requested.

    Chromium's net log records every request; the browser's own background
    requests carry the initiator "not an origin", the page's the file origin.
    """
    with tempfile.TemporaryDirectory(prefix="aerec-chromium-") as profile:
        log = Path(profile) / "net.json"
        proc = subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}/user",
                "--window-size=1280,4200",
                f"--screenshot={png}",
                f"--log-net-log={log}",
                html.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0 and png.is_file(), proc.stderr[-2000:]
        net = json.loads(log.read_text())
    start_job = net["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in net["events"]
        if event["type"] == start_job
        and event["params"].get("initiator") != "not an origin"
        and event["params"].get("url", "").startswith(("http:", "https:"))
    ]


@pytest.mark.slow
def test_report_renders_in_chromium_offline_and_requests_nothing(tmp_path: Path) -> None:
    out = tmp_path / "report"
    with pytest.raises(AerecError):
        run(broken(tmp_path), out, PARAMS, now=NOW)
    png = tmp_path / "report.png"
    assert _render(out / "index.html", png) == []
    colours = _colours(png)
    assert len(colours) > 500  # not blank: text, pills, bars, antialiasing
    assert [(r << 16 | g << 8 | b) in colours for r, g, b in CHART_COLOURS] == [True] * 4


def _colours(png: Path) -> set[int]:
    """The distinct colours of a PNG as 0xRRGGBB ints (packed: np.unique on rows is slow)."""
    from matplotlib.image import imread

    rgb = (imread(png)[..., :3] * 255).round().astype(np.uint32).reshape(-1, 3)
    return set(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]).tolist())


@pytest.mark.slow
def test_request_detector_sees_a_page_that_goes_online(tmp_path: Path) -> None:
    page = tmp_path / "online.html"
    page.write_text(
        '<link rel="stylesheet" href="https://cdn.example.com/x.css">'
        '<img src="http://203.0.113.1/x.png"><p>hello</p>'
    )
    requested = _render(page, tmp_path / "online.png")
    assert sorted(requested) == ["http://203.0.113.1/x.png", "https://cdn.example.com/x.css"]
