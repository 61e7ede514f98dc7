"""The evaluation report: one self-contained HTML page (inline CSS, PNGs as data URIs).

The page compares the models with the baselines on the test set: the rating
errors, the cold users and items, the ranking metrics, coverage and popularity
bias in one table, then RMSE by user-activity and item-popularity bucket, then
each model's plots. It references nothing outside itself except a relative
link to the validation report, so it opens offline and survives being copied.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Metrics = Mapping[str, Any]

# The files of one model's evaluation folder (reports/evaluation/models/<key>).
METRICS_FILE = "metrics.json"
BUCKETS_FILE = "buckets.json"
# Bucket tables are many numbers that rarely decide anything: they go to
# BUCKETS_FILE, so metrics.json stays a short table for `dvc metrics diff`.
BUCKET_GROUPS = ("user_activity", "item_popularity")
# metrics.json key, present only when build skipped a baseline: {name: why}.
SKIPPED_KEY = "skipped_baselines"
PREDICTIONS_FILE = "predictions.parquet"
EMBEDDINGS_FILE = "embeddings.parquet"
REPORT_FILE = "index.html"
PLOTS_DIR = "plots"
# Plot title -> file name inside PLOTS_DIR; the report shows them in this order.
PLOTS = {
    "training curves": "training_curves.png",
    "RMSE by user activity": "rmse_user_activity.png",
    "RMSE by item popularity": "rmse_item_popularity.png",
    "predicted vs true ratings": "predictions.png",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#1d2330;background:#fff}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #dde;padding-bottom:.3rem}h3{font-size:1rem}
.sub{color:#5a6275}table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}
th,td{border:1px solid #d6dae3;padding:.3rem .55rem;text-align:right}
th{background:#f2f4f8}td:first-child,th:first-child{text-align:left}
tr.model td:first-child{font-weight:600}td.best{background:#e3f4e8;font-weight:600}
img{max-width:100%;border:1px solid #e4e7ee;margin:.4rem 0}.note{font-size:.8rem;color:#5a6275}
a{color:#1a5fb4}.wide{overflow-x:auto}
"""
# Metric columns of the main table: (group, key, header, better).
_RATING_COLUMNS = (
    ("rating", "rmse", "RMSE", "low"),
    ("rating", "mae", "MAE", "low"),
    ("cold_users", "rmse", "RMSE cold users", "low"),
    ("cold_items", "rmse", "RMSE cold items", "low"),
)
_RANKING_NAMES = (
    ("precision", "P"),
    ("recall", "R"),
    ("recall_mvae", "R (Mult-VAE)"),
    ("ndcg", "NDCG"),
    ("hit_rate", "HR"),
)
_TOP_N_COLUMNS = (
    ("coverage", "coverage", "high"),
    ("popularity_percentile", "pop. percentile", None),
    ("arp", "ARP", None),
)


@dataclass(frozen=True)
class ModelEvaluation:
    """One model's evaluation: its key, its metrics.json content and its plot PNGs by title."""

    key: str
    metrics: Metrics
    plots: Mapping[str, Path] = field(default_factory=dict)


def render(
    evaluations: Sequence[ModelEvaluation], dataset: str, validation_href: str | None
) -> str:
    """The whole page for these models (the baselines come from the first one's metrics)."""
    rows = methods(evaluations)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>aerec evaluation: {_esc(dataset)}</title><style>{_CSS}</style></head><body>",
        f"<h1>aerec evaluation: {_esc(dataset)}</h1>",
        _intro(evaluations, validation_href),
        "<h2>Rating prediction on the test set</h2>",
        _rating_table(rows),
        '<p class="note">Predictions are clipped to the rating scale; RMSE and MAE are global '
        "over the held-out ratings. Cold users or items (no training rating) are predicted by "
        "the fallback baseline.</p>",
        "<h2>Ranking and top-N lists</h2>",
        _ranking_table(rows),
        _skipped(evaluations),
        '<p class="note">Ranking metrics average over the users with at least one relevant '
        "held-out item; items seen in training or validation are never recommended. "
        "R (Mult-VAE) divides the hits by min(K, relevant items). The pop (most trained "
        "items) and ease (Steck 2019, lambda picked on validation) baselines only rank. "
        "Coverage, popularity "
        "percentile and ARP (mean training count of the listed items) describe the top-N "
        "lists.</p>",
        "<h2>RMSE by user activity (training ratings per user)</h2>",
        _bucket_table(rows, "user_activity"),
        "<h2>RMSE by item popularity (training ratings per item)</h2>",
        _bucket_table(rows, "item_popularity"),
    ]
    for evaluation in evaluations:
        parts.append(f"<h2>Model {_esc(evaluation.key)}</h2>")
        for title, png in evaluation.plots.items():
            parts.append(f"<h3>{_esc(title)}</h3>{_img(png, title)}")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def methods(evaluations: Sequence[ModelEvaluation]) -> list[tuple[str, Metrics, bool]]:
    """Table rows: (name, metrics, is_model), the models first, then the first's baselines."""
    rows = [(e.key, e.metrics["model"], True) for e in evaluations]
    if evaluations:
        baselines = evaluations[0].metrics.get("baselines", {})
        rows += [(f"baseline: {name}", m, False) for name, m in baselines.items()]
    return rows


def _intro(evaluations: Sequence[ModelEvaluation], validation_href: str | None) -> str:
    first = evaluations[0].metrics if evaluations else {}
    n = first.get("model", {}).get("rating", {}).get("n", 0)
    link = (
        f' &middot; <a href="{_esc(validation_href)}">validation report</a>'
        if validation_href
        else ""
    )
    models = ", ".join(_esc(e.key) for e in evaluations) or "none"
    return f'<p class="sub">models: {models} &middot; {n:,} test ratings{link}</p>'


def _skipped(evaluations: Sequence[ModelEvaluation]) -> str:
    """A note naming each baseline build skipped and why (EASE above its item cap)."""
    skipped = evaluations[0].metrics.get(SKIPPED_KEY, {}) if evaluations else {}
    notes = "; ".join(f"{_esc(name)} skipped: {_esc(why)}" for name, why in skipped.items())
    return f'<p class="note">{notes}</p>' if notes else ""


def _ks(rows: list[tuple[str, Metrics, bool]]) -> list[int]:
    ranking = rows[0][1].get("ranking", {}) if rows else {}
    return sorted({int(k.split("@")[1]) for k in ranking if k.startswith("precision@")})


Column = tuple[tuple[str, str], str, str | None]


def _rating_table(rows: list[tuple[str, Metrics, bool]]) -> str:
    return _metric_table(
        rows, [((group, key), head, better) for group, key, head, better in _RATING_COLUMNS]
    )


def _ranking_table(rows: list[tuple[str, Metrics, bool]]) -> str:
    columns: list[Column] = []
    for k in _ks(rows):
        columns += [
            (("ranking", f"{name}@{k}"), f"{head}@{k}", "high") for name, head in _RANKING_NAMES
        ]
    top_n = rows[0][1].get("top_n", {}).get("n") if rows else None
    columns += [(("top_n", key), f"{head}@{top_n}", better) for key, head, better in _TOP_N_COLUMNS]
    return _metric_table(rows, columns)


def _metric_table(rows: list[tuple[str, Metrics, bool]], columns: list[Column]) -> str:
    """One row per method, one column per (group, key) metric."""
    table = [[m.get(group, {}).get(key) for (group, key), _, _ in columns] for _, m, _ in rows]
    header = "".join(f"<th>{_esc(head)}</th>" for _, head, _ in columns)
    return _table(rows, header, table, [better for _, _, better in columns])


def _bucket_table(rows: list[tuple[str, Metrics, bool]], group: str) -> str:
    buckets = list(rows[0][1].get(group, {})) if rows else []
    if not buckets:
        return '<p class="note">not computed</p>'
    first = rows[0][1][group]
    header = "".join(f"<th>{_esc(b)}<br>n={first[b]['n']:,}</th>" for b in buckets)
    table = [[m[group][b]["rmse"] for b in buckets] for _, m, _ in rows]
    return _table(rows, header, table, ["low"] * len(buckets))


def _table(
    rows: list[tuple[str, Metrics, bool]],
    header: str,
    values: list[list[float | None]],
    better: list[str | None],
) -> str:
    """An HTML table, one row per method, the best value of each column highlighted."""
    best = [_best([row[j] for row in values], b) for j, b in enumerate(better)]
    body = []
    for (name, _, is_model), row in zip(rows, values, strict=True):
        cells = "".join(
            f"<td{' class=best' if v is not None and v == best[j] else ''}>{_fmt(v)}</td>"
            for j, v in enumerate(row)
        )
        css = ' class="model"' if is_model else ""
        body.append(f"<tr{css}><td>{_esc(name)}</td>{cells}</tr>")
    rows_html = "".join(body)
    return f'<div class="wide"><table><tr><th>method</th>{header}</tr>{rows_html}</table></div>'


def _best(column: list[float | None], better: str | None) -> float | None:
    present = [v for v in column if v is not None]
    if better is None or len(set(present)) < 2:  # nothing to single out
        return None
    return min(present) if better == "low" else max(present)


def _fmt(value: float | int | None) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4f}"


def _img(png: Path, alt: str) -> str:
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def relative_href(target: Path | None, from_dir: Path) -> str | None:
    """A link to `target` relative to the page's directory (forward slashes), or None."""
    if target is None:
        return None
    return Path(os.path.relpath(Path(target).resolve(), Path(from_dir).resolve())).as_posix()
