"""The evaluate stage: a trained model and every baseline on the test set, in one table.

Reads build's output (data/processed) and one model directory (models/<key>)
and writes reports/evaluation/<key>/: metrics.json (DVC metrics: the model and
each baseline), buckets.json (their RMSE by user-activity and item-popularity
bucket), predictions.parquet (every test pair with original ids, the
true and the predicted rating), embeddings.parquet (the model's codes),
plots/*.png and index.html (the self-contained report of this model). The
page comparing all models is the compare stage's (aerec.stages.compare).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from aerec import metrics as m
from aerec import schema as s
from aerec.config import EvaluateConfig, Params
from aerec.errors import AerecError
from aerec.evaluation_report import (
    BUCKET_GROUPS,
    BUCKETS_FILE,
    EMBEDDINGS_FILE,
    METRICS_FILE,
    PLOTS,
    PLOTS_DIR,
    PREDICTIONS_FILE,
    REPORT_FILE,
    SKIPPED_KEY,
    relative_href,
)
from aerec.io import atomic_folder, write_json, write_parquet, write_text
from aerec.processed import Processed, id_arrays, load_processed, read_build_json
from aerec.scoring import Scorer, entries, load_baseline_scorers, user_batches

# What evaluate writes in its folder (a fresh clone holds the committed ones).
OWNED = (METRICS_FILE, BUCKETS_FILE, PREDICTIONS_FILE, EMBEDDINGS_FILE, REPORT_FILE, PLOTS_DIR)


def evaluate_scorer(
    scorer: Scorer, processed: Processed, cfg: EvaluateConfig, keep_scores: bool = True
) -> tuple[dict[str, Any], np.ndarray]:
    """All metrics of one scorer on the test set, and its clipped test predictions.

    The predictions follow the test matrix's storage order (user, then item).
    A scorer that does not predict ratings gets ranking metrics only; its rating
    errors are None and its raw scores are returned unclipped, or NaN without
    `keep_scores` (a baseline's, which nothing writes: pop's and EASE's pair
    scores would cost a second pass over every test user's scores).
    """
    lo, hi = processed.scale
    users, items, true = entries(processed.test)
    if scorer.predicts_ratings or keep_scores:
        pred = scorer.pairs(users, items)
    else:
        pred = np.full(true.shape, np.nan)
    if scorer.predicts_ratings:
        pred = m.clip(pred, lo, hi)
    user_n = processed.user_counts()[users]
    item_n = processed.item_counts()[items]
    out: dict[str, Any] = {
        "rating": m.rating_errors(true, pred, lo, hi),
        "cold_users": m.rating_errors(true[user_n == 0], pred[user_n == 0], lo, hi),
        "cold_items": m.rating_errors(true[item_n == 0], pred[item_n == 0], lo, hi),
        "user_activity": m.bucketed_errors(true, pred, user_n, cfg.user_activity_edges, lo, hi),
        "item_popularity": m.bucketed_errors(true, pred, item_n, cfg.item_popularity_edges, lo, hi),
    }
    if not scorer.predicts_ratings:
        out = {group: _no_errors(values) for group, values in out.items()}
    out.update(list_metrics(scorer, processed, cfg))
    return out, pred


def _no_errors(errors: dict[str, Any]) -> dict[str, Any]:
    """The same counts with every error None (nested bucket dicts too)."""
    if "n" in errors:
        return {**errors, "rmse": None, "mae": None}
    return {label: _no_errors(bucket) for label, bucket in errors.items()}


def list_metrics(scorer: Scorer, processed: Processed, cfg: EvaluateConfig) -> dict[str, Any]:
    """Ranking metrics and top-N coverage and popularity bias, over the users with test ratings.

    Scores come in dense blocks of a few thousand users; items seen before the
    test (train, validation, fold-in, and the transform's dropped ratings of
    those parts) are excluded; only the top lists are kept in memory.
    """
    test_users = np.flatnonzero(np.diff(processed.test.indptr))
    n_items = processed.shape[1]
    depth = max(*cfg.ks, cfg.top_n)
    blocks = [
        m.top_k(scorer.rows(batch), depth, processed.seen_before_test[batch])
        for batch in user_batches(test_users, n_items)
    ]
    top = np.vstack(blocks) if blocks else np.zeros((0, depth), dtype=np.int64)
    relevant = m.relevant_items(processed.test[test_users], cfg.relevance_threshold)
    top_n = top[:, : cfg.top_n]
    return {
        "ranking": m.ranking_metrics(top, relevant, cfg.ks),
        "top_n": {
            "n": cfg.top_n,
            "coverage": m.catalogue_coverage(top_n, n_items),
            **m.popularity_bias(top_n, processed.item_counts()),
        },
    }


def skipped_baselines(processed: Processed) -> dict[str, str]:
    """{baseline: why build skipped it} from build's topn.json (EASE above its item cap)."""
    path = processed.dir / s.TOPN_FILE
    if not path.is_file():
        return {}
    report = read_build_json(path)
    return {
        name: str(entry["skipped"])
        for name, entry in report.items()
        if isinstance(entry, dict) and "skipped" in entry
    }


def check_threshold(cfg: EvaluateConfig, processed: Processed) -> None:
    """A relevance threshold above the (transformed) scale would make every metric empty."""
    lo, hi = processed.scale
    if not lo < cfg.relevance_threshold <= hi:
        raise AerecError(
            f"params.yaml: evaluate.relevance_threshold {cfg.relevance_threshold:g} lies outside "
            f"the rating scale ({lo:g}, {hi:g}] after build's '{processed.stats.get('transform')}' "
            "transform; set it within the scale (for example 1.0 for binarized data)"
        )


def run(
    data_dir: Path,
    model_dir: Path,
    out_dir: Path,
    params: Params,
    validation_report: Path | None = None,
) -> dict[str, Any]:
    """Evaluate the model in `model_dir` and every baseline; write `out_dir`; return a summary.

    The model's key is its directory's name (models/<key>). `validation_report`
    is linked from the page by a path relative to `out_dir`.
    """
    from aerec.runtime import configure
    from aerec.scoring import load_model_scorer

    cfg = params.evaluate
    data_dir, model_dir, out_dir = Path(data_dir), Path(model_dir), Path(out_dir)
    processed = load_processed(data_dir)
    check_threshold(cfg, processed)
    baselines = load_baseline_scorers(processed)
    device = configure(params.runtime)
    scorer = load_model_scorer(model_dir, processed, baselines[cfg.fallback], device)
    model_metrics, pred = evaluate_scorer(scorer, processed, cfg)
    results = {
        "model": model_metrics,
        "baselines": {
            name: evaluate_scorer(b, processed, cfg, keep_scores=False)[0]
            for name, b in baselines.items()
        },
    }
    skipped = skipped_baselines(processed)
    headline, buckets = split_buckets(results)
    if skipped:
        headline[SKIPPED_KEY] = results[SKIPPED_KEY] = skipped
    with atomic_folder(out_dir, "evaluate", OWNED) as tmp:
        write_json(headline, tmp / METRICS_FILE)
        write_json(buckets, tmp / BUCKETS_FILE)
        write_parquet(predictions_frame(processed, pred), tmp / PREDICTIONS_FILE)
        write_parquet(embeddings_frame(processed, *scorer.codes()), tmp / EMBEDDINGS_FILE)
        plots = write_plots(results, processed, pred, model_dir, tmp / PLOTS_DIR, model_dir.name)
        write_model_page(model_dir.name, results, plots, tmp, params, validation_report)
    return {
        "model": model_dir.name,
        "test_ratings": model_metrics["rating"]["n"],
        "rmse": {
            model_dir.name: model_metrics["rating"]["rmse"],
            **{name: r["rating"]["rmse"] for name, r in results["baselines"].items()},
        },
        f"ndcg@{cfg.ks[0]}": model_metrics["ranking"][f"ndcg@{cfg.ks[0]}"],
        "out": str(out_dir),
    }


def predictions_frame(processed: Processed, pred: np.ndarray) -> pl.DataFrame:
    """Every test pair with its original string ids, the true and the predicted rating."""
    users, items, true = entries(processed.test)
    user_ids, item_ids = id_arrays(processed.dir)
    return pl.DataFrame(
        {
            s.USER_ID: user_ids[users],
            s.ITEM_ID: item_ids[items],
            s.RATING: true.astype(np.float32),
            s.PREDICTION: pred.astype(np.float32),
            s.COLD_USER: processed.user_counts()[users] == 0,
            s.COLD_ITEM: processed.item_counts()[items] == 0,
        },
        schema_overrides={s.USER_ID: pl.String(), s.ITEM_ID: pl.String()},
    )


def embeddings_frame(processed: Processed, orientation: str, codes: np.ndarray) -> pl.DataFrame:
    """The codes, one row per user or item (its original id), one column per code unit."""
    user_ids, item_ids = id_arrays(processed.dir)
    id_col, ids = (s.USER_ID, user_ids) if orientation == "user" else (s.ITEM_ID, item_ids)
    columns = {f"code_{j}": codes[:, j].astype(np.float32) for j in range(codes.shape[1])}
    return pl.DataFrame({id_col: ids[: codes.shape[0]], **columns})


def write_plots(
    results: dict[str, Any],
    processed: Processed,
    pred: np.ndarray,
    model_dir: Path,
    plots_dir: Path,
    key: str,
) -> dict[str, Path]:
    """Draw this model's plots into `plots_dir`; return {title: path} in report order."""
    from aerec import plots

    rating = {n: r for n, r in results["baselines"].items() if r["rating"]["rmse"] is not None}
    methods = {key: results["model"], **rating}  # pop and EASE have no ratings to plot
    out: dict[str, Path] = {}
    history = model_dir / "history.csv"
    if history.is_file():
        out["training curves"] = plots.training_curves(
            pl.read_csv(history), plots_dir / PLOTS["training curves"]
        )
    for title, group in (
        ("RMSE by user activity", "user_activity"),
        ("RMSE by item popularity", "item_popularity"),
    ):
        table = {name: r[group] for name, r in methods.items()}
        out[title] = plots.rmse_by_bucket(table, title, plots_dir / PLOTS[title])
    title = "predicted vs true ratings"
    out[title] = plots.prediction_distribution(processed.test.data, pred, plots_dir / PLOTS[title])
    return out


def write_model_page(
    key: str,
    results: dict[str, Any],
    plots: dict[str, Path],
    out_dir: Path,
    params: Params,
    validation_report: Path | None,
) -> Path:
    """This model's self-contained report page, out_dir/index.html."""
    from aerec.evaluation_report import ModelEvaluation, render

    page = render(
        [ModelEvaluation(key, results, plots)],
        params.dataset.name,
        relative_href(validation_report, out_dir),
    )
    write_text(page, out_dir / REPORT_FILE)
    return out_dir / REPORT_FILE


def split_buckets(results: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """({model, baselines} without the bucket tables, {model, baselines} of only them)."""

    def pick(method: dict[str, Any], buckets: bool) -> dict[str, Any]:
        return {k: v for k, v in method.items() if (k in BUCKET_GROUPS) == buckets}

    def part(buckets: bool) -> dict[str, Any]:
        baselines = results["baselines"].items()
        return {
            "model": pick(results["model"], buckets),
            "baselines": {name: pick(method, buckets) for name, method in baselines},
        }

    return part(False), part(True)
