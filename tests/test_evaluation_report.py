"""The evaluation plots and the self-contained HTML page (Chromium: see the stage test)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import polars as pl
from tests.browser import external_urls

from aerec import evaluation_report, plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _method(rmse: float, with_ranking: bool = True) -> dict:
    errors = {"n": 4, "rmse": rmse, "mae": rmse / 2}
    buckets = {"0": {"n": 1, "rmse": None, "mae": None}, "1+": errors}
    return {
        "rating": errors,
        "cold_users": {"n": 1, "rmse": 1.5, "mae": 1.5},
        "cold_items": {"n": 0, "rmse": None, "mae": None},
        "user_activity": buckets,
        "item_popularity": buckets,
        "ranking": {"users": 2, "precision@10": 0.25, "recall@10": 0.5, "recall_mvae@10": 0.5,
                    "ndcg@10": 0.4, "hit_rate@10": 1.0} if with_ranking else {},
        "top_n": {"n": 10, "coverage": 0.3, "arp": 12.5, "popularity_percentile": 0.8},
    }  # fmt: skip


def _plots(tmp_path: Path) -> dict[str, Path]:
    history = pl.DataFrame(
        {"epoch": [1, 2, 3], "train_loss": [1.0, 0.8, 0.7], "val_rmse": [1.1, 1.0, 0.95]}
    )
    true = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 4.0])
    return {
        "training curves": plots.training_curves(history, tmp_path / "curves.png"),
        "RMSE by user activity": plots.rmse_by_bucket(
            {"m": _method(0.9)["user_activity"], "b": _method(1.0)["user_activity"]},
            "RMSE by user activity",
            tmp_path / "buckets.png",
        ),
        "predicted vs true": plots.prediction_distribution(true, true + 0.3, tmp_path / "dist.png"),
    }


def test_curve_families_pair_train_and_val_columns() -> None:
    columns = ["epoch", "train_loss", "val_loss", "val_rmse", "seconds", "ratings_per_s", "lr"]
    got = plots.curve_families(columns)
    assert got == {"loss": ["train_loss", "val_loss"], "rmse": ["val_rmse"], "lr": ["lr"]}


def test_plots_write_png_files(tmp_path: Path) -> None:
    for path in _plots(tmp_path).values():
        assert path.read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["buckets.png", "curves.png", "dist.png"]


def test_page_has_the_table_the_plots_inline_and_a_relative_validation_link(
    tmp_path: Path,
) -> None:
    evaluation = evaluation_report.ModelEvaluation(
        "deep_ae", {"model": _method(0.9), "baselines": {"global_mean": _method(1.1)}},
        _plots(tmp_path),
    )  # fmt: skip
    page = evaluation_report.render([evaluation], "ml-100k", "../validation/ml-100k/index.html")
    assert external_urls(page) == []
    assert re.findall(r'href="([^"]+)"', page) == ["../validation/ml-100k/index.html"]
    assert page.count('src="data:image/png;base64,') == 3
    rows = re.findall(r"<tr(?: class=\"model\")?><td>([^<]+)</td>", page)
    assert rows[:2] == ["deep_ae", "baseline: global_mean"]
    # The lower RMSE (the model's 0.9) is the highlighted best of its column.
    assert "<td class=best>0.9000</td>" in page
    assert "<th>NDCG@10</th>" in page


def test_external_urls_finds_what_would_leave_the_page() -> None:
    page = (
        '<script src="https://cdn.example/x.js"></script><a href="http://a.b/c">x</a>'
        '<link href="//fonts.example/f.css"><style>@import "https://x/y.css";'
        "b{background:url(https://i/p.png)}</style>"
        '<a href="../validation/x/index.html">v</a><img src="data:image/png;base64,AA">'
    )
    assert external_urls(page) == [
        "https://cdn.example/x.js",
        "http://a.b/c",
        "//fonts.example/f.css",
        "https://x/y.css",
        "https://i/p.png",
    ]


def test_page_names_a_baseline_build_skipped_and_why() -> None:
    metrics = {"model": _method(0.9), "baselines": {"pop": _method(1.0)}}
    why = "5,000 items > build.baselines.ease_max_items 10 (EASE inverts a dense matrix)"
    skipped = {**metrics, evaluation_report.SKIPPED_KEY: {"ease": why}}
    page = evaluation_report.render([evaluation_report.ModelEvaluation("m", skipped)], "d", None)
    assert f'<p class="note">ease skipped: {html.escape(why)}</p>' in page
    plain = evaluation_report.render([evaluation_report.ModelEvaluation("m", metrics)], "d", None)
    assert "skipped" not in plain
