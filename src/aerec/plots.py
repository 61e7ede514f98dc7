"""Evaluation plots as PNG files: training curves, RMSE by bucket, predicted vs true ratings.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot,
no global backend switch), imported inside the functions so that importing
aerec stays light. PNGs render anywhere: in the HTML report as data URIs and
as DVC image plots.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aerec.io import atomic_path

if TYPE_CHECKING:
    import polars as pl
    from matplotlib.figure import Figure

DPI = 100
# Margins in inches: room for the tick labels (two lines under the bucket bars) and titles.
_MARGIN = {"left": 0.75, "right": 0.15, "bottom": 0.75, "top": 0.35, "between": 0.6}
# Columns of history.csv that are not curves to draw.
_NOT_CURVES = {"epoch", "step", "time", "seconds", "elapsed", "wall_s", "timestamp"}
_NOT_CURVE_SUFFIXES = ("_per_s", "_seconds")


def _save(fig: Figure, path: Path) -> Path:
    """Write the figure as a PNG atomically and return the path."""
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return Path(path)


def _figure(n_panels: int, width: float = 5.0, height: float = 3.6) -> tuple[Figure, list]:
    """A figure of `n_panels` side by side, with fixed margins in inches.

    Fixed margins instead of tight_layout: tight_layout draws the whole figure
    once more to measure its labels, which cost about 40 % of a plot's time.
    """
    from matplotlib.figure import Figure

    fig_width = width * n_panels
    usable = fig_width - _MARGIN["left"] - _MARGIN["right"]
    axis_width = (usable - (n_panels - 1) * _MARGIN["between"]) / n_panels
    fig = Figure(figsize=(fig_width, height))
    fig.subplots_adjust(
        left=_MARGIN["left"] / fig_width,
        right=1 - _MARGIN["right"] / fig_width,
        bottom=_MARGIN["bottom"] / height,
        top=1 - _MARGIN["top"] / height,
        wspace=_MARGIN["between"] / axis_width,  # matplotlib: a share of the mean axis width
    )
    return fig, [fig.add_subplot(1, n_panels, i + 1) for i in range(n_panels)]


def curve_families(columns: list[str]) -> dict[str, list[str]]:
    """Group history columns into panels: `train_loss` and `val_loss` share the panel `loss`."""
    families: dict[str, list[str]] = {}
    for col in columns:
        if col.lower() in _NOT_CURVES or col.lower().endswith(_NOT_CURVE_SUFFIXES):
            continue
        name = col
        for prefix in ("train_", "val_", "valid_", "validation_"):
            if col.startswith(prefix):
                name = col[len(prefix) :]
                break
        families.setdefault(name, []).append(col)
    return families


def training_curves(history: pl.DataFrame, path: Path, max_panels: int = 4) -> Path:
    """One panel per metric family of history.csv (loss, rmse, ...) over the epochs."""
    numeric = [
        c for c, t in history.schema.items() if t.is_numeric() and history[c].is_not_null().any()
    ]
    x = history["epoch"].to_numpy() if "epoch" in history.columns else np.arange(history.height)
    families = list(curve_families(numeric).items())[:max_panels] or [("(no curves)", [])]
    fig, axes = _figure(len(families), width=4.5)
    for ax, (name, cols) in zip(axes, families, strict=True):
        for col in cols:
            ax.plot(x, history[col].to_numpy(), marker="o", markersize=3, label=col)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        if cols:
            ax.legend(fontsize=8)
    return _save(fig, path)


def rmse_by_bucket(
    table: Mapping[str, Mapping[str, Mapping[str, float | int | None]]],
    title: str,
    path: Path,
) -> Path:
    """Grouped bars: RMSE per bucket (x) for each method (bars); n ratings under each bucket.

    `table` maps method -> bucket label -> {"n", "rmse", ...}; all methods share
    the buckets. Empty buckets are left blank.
    """
    methods = list(table)
    buckets = list(next(iter(table.values()))) if methods else []
    fig, (ax,) = _figure(1, width=max(6.0, 1.1 * len(buckets) + 2))
    width = 0.8 / max(len(methods), 1)
    pos = np.arange(len(buckets))
    for i, method in enumerate(methods):
        values = [table[method][b]["rmse"] for b in buckets]
        heights = [np.nan if v is None else v for v in values]
        ax.bar(pos + (i - (len(methods) - 1) / 2) * width, heights, width, label=method)
    counts = [next(iter(table.values()))[b]["n"] for b in buckets] if methods else []
    ax.set_xticks(pos, [f"{b}\n(n={n})" for b, n in zip(buckets, counts, strict=True)])
    ax.set_ylabel("RMSE")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def prediction_distribution(true: np.ndarray, pred: np.ndarray, path: Path) -> Path:
    """Left: histograms of true and predicted ratings; right: predictions per true rating."""
    true = np.asarray(true, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    fig, (hist, box) = _figure(2)
    lo = float(min(true.min(initial=0.0), pred.min(initial=0.0)))
    hi = float(max(true.max(initial=1.0), pred.max(initial=1.0)))
    bins = np.linspace(lo, hi, 41)
    hist.hist(true, bins=bins, alpha=0.6, label="true")
    hist.hist(pred, bins=bins, alpha=0.6, label="predicted")
    hist.set_xlabel("rating")
    hist.set_ylabel("test ratings")
    hist.set_title("rating distribution")
    hist.legend(fontsize=8)
    levels = np.unique(true)
    if 0 < levels.size <= 20:
        box.boxplot([pred[true == v] for v in levels], showfliers=False)
        box.set_xticks(np.arange(1, levels.size + 1), [f"{v:g}" for v in levels])
    elif true.size:
        box.hexbin(true, pred, gridsize=40, mincnt=1, bins="log")
    box.set_xlabel("true rating")
    box.set_ylabel("predicted rating")
    box.set_title("predicted vs true")
    box.grid(alpha=0.3)
    return _save(fig, path)
