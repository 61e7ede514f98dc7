"""Benchmark: the validate stage on 1M generated ratings, against the same checks in polars.

Writes an ingest directory (ratings.parquet with 1,000,000 ratings of 6,040
users on 3,706 items, as in ml-1m, plus users/items side tables and an ingest
summary), runs the stage once to warm up (the GX import alone takes seconds),
then times `aerec.stages.validate.run` end to end (read, derive, GX, report)
and shows where the time goes, GX's own share included. The peer runs the same
checks as plain polars expressions, with no report. Median of --repeat runs.

    .venv/bin/python bench/validate.py [--ratings 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from aerec import schema as s
from aerec import validation
from aerec.config import Params, RatingScale, ValidateConfig
from aerec.stages import validate as stage

N_USERS, N_ITEMS = 6040, 3706
# ml-1m's share of each star.
STAR_SHARES = [0.056, 0.108, 0.261, 0.349, 0.226]


def write_ingest(directory: Path, n: int, seed: int = 0) -> None:
    """A clean ingest directory with `n` distinct (user, item) ratings."""
    rng = np.random.default_rng(seed)
    cells = rng.choice(N_USERS * N_ITEMS, size=n, replace=False)
    ratings = pl.DataFrame(
        {
            s.USER_ID: (cells // N_ITEMS + 1).astype(str),
            s.ITEM_ID: (cells % N_ITEMS + 1).astype(str),
            s.RATING: rng.choice(np.arange(1, 6), size=n, p=STAR_SHARES).astype(np.float32),
            s.TIMESTAMP: rng.integers(956_703_932, 1_046_454_590, size=n),
        }
    ).cast(s.RATINGS_SCHEMA)
    directory.mkdir(parents=True, exist_ok=True)
    ratings.write_parquet(directory / s.RATINGS_FILE)
    s.empty_rejects().write_parquet(directory / s.REJECTS_FILE)
    pl.DataFrame({s.USER_ID: [str(u) for u in range(1, N_USERS + 1)]}).write_parquet(
        directory / s.USERS_FILE
    )
    pl.DataFrame({s.ITEM_ID: [str(i) for i in range(1, N_ITEMS + 1)]}).write_parquet(
        directory / s.ITEMS_FILE
    )
    summary = {"rows_read": n, "accepted": n, "rejected": 0, "rejected_by_reason": {}}
    (directory / s.INGEST_SUMMARY_FILE).write_text(json.dumps(summary))


def polars_checks(directory: Path, scale: RatingScale, cfg: ValidateConfig) -> dict[str, bool]:
    """The peer: the same checks as the GX suites, written directly in polars."""
    r = pl.read_parquet(directory / s.RATINGS_FILE)
    users = pl.read_parquet(directory / s.USERS_FILE)
    items = pl.read_parquet(directory / s.ITEMS_FILE)
    summary = json.loads((directory / s.INGEST_SUMMARY_FILE).read_text())
    span = scale.max - scale.min
    allowed = [scale.min + k * scale.step for k in range(round(span / scale.step) + 1)]
    per_user = r.group_by(s.USER_ID).len()
    per_item = r.group_by(s.ITEM_ID).len()
    earliest = int(time.mktime(cfg.earliest_timestamp.timetuple()))
    row = r.select(
        nulls=pl.sum_horizontal(pl.col(s.USER_ID, s.ITEM_ID, s.RATING).null_count()),
        in_scale=pl.col(s.RATING).is_between(scale.min, scale.max).all(),
        on_step=pl.col(s.RATING).is_in(allowed).all(),
        unique=~pl.struct(s.USER_ID, s.ITEM_ID).is_duplicated().any(),
        ts=pl.col(s.TIMESTAMP).is_between(earliest, int(time.time())).all(),
        mean=pl.col(s.RATING).mean(),
        std=pl.col(s.RATING).std(),
        top=pl.col(s.RATING).value_counts().struct.field("count").max() / pl.len(),
    ).row(0, named=True)
    low, high = (scale.min + f * span for f in cfg.rating_mean_range)
    return {
        "columns_and_types": all(r.schema.get(c) == t for c, t in s.RATINGS_SCHEMA.items()),
        "not_null": row["nulls"] == 0,
        "rating_in_scale": row["in_scale"],
        "rating_on_step": row["on_step"],
        "unique_pairs": row["unique"],
        "timestamp_plausible": row["ts"],
        "min_ratings": r.height >= cfg.min_ratings,
        "min_users": per_user.height >= cfg.min_users,
        "min_items": per_item.height >= cfg.min_items,
        "min_ratings_per_user": per_user["len"].min() >= cfg.min_ratings_per_user,
        "side_ids_unique": users[s.USER_ID].is_unique().all()
        and items[s.ITEM_ID].is_unique().all(),
        "side_coverage": per_user[s.USER_ID].is_in(users[s.USER_ID].implode()).all()
        and per_item[s.ITEM_ID].is_in(items[s.ITEM_ID].implode()).all(),
        "rating_mean": low <= row["mean"] <= high,
        "rating_stdev": row["std"] >= cfg.min_rating_stdev * span,
        "top_rating_share": row["top"] <= cfg.max_top_rating_share,
        "reject_share": summary["rejected"] / summary["rows_read"] <= cfg.max_reject_share,
    }


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call of `fn`.

    CPU time (this process, all threads) shows what a run costs when other
    jobs share the 2 cores and stretch the wall time.
    """
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - start_cpu


def time_stage(ingest: Path, out: Path, params: Params, repeat: int) -> dict[str, float]:
    """Median seconds of the stage and of its parts, measured within the same runs.

    `aerec.validation.validate` is wrapped to keep each run's own breakdown
    (read and derive, to pandas, GX); the rest is the report and the writes.
    """
    real = validation.validate
    parts: list[dict[str, float]] = []

    def recording(*args: Any, **kwargs: Any) -> validation.Validation:
        result = real(*args, **kwargs)
        parts.append(result.seconds)
        return result

    validation.validate = recording
    try:
        runs = []
        for _ in range(repeat):
            wall, cpu = _timed(lambda: stage.run(ingest, out, params))
            run = {"wall": wall, "cpu": cpu, **parts[-1]}
            run["report_and_writes"] = wall - sum(parts[-1].values())
            runs.append(run)
    finally:
        validation.validate = real
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    """Generate, warm up, time the stage and its parts, time the peer, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    params = Params()
    cfg = params.validate_
    with tempfile.TemporaryDirectory(prefix="aerec-bench-validate-") as tmp:
        ingest, out = Path(tmp) / "interim", Path(tmp) / "report"
        write_ingest(ingest, args.ratings)
        start = time.perf_counter()
        summary = stage.run(ingest, out, params)
        print(f"warm-up (GX import included): {time.perf_counter() - start:.2f} s")
        assert summary["passed"], summary["errors"]
        ours = time_stage(ingest, out, params, args.repeat)
        verdicts: dict[str, bool] = {}
        peer_runs = [
            _timed(lambda: verdicts.update(polars_checks(ingest, params.dataset.scale, cfg)))
            for _ in range(args.repeat)
        ]
        assert all(verdicts.values()), verdicts
    peer, peer_cpu = (statistics.median(run[i] for run in peer_runs) for i in (0, 1))
    total, total_cpu = ours.pop("wall"), ours.pop("cpu")
    print(f"ratings: {args.ratings:,}; expectations: {summary['expectations']['total']}")
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    print(
        f"aerec validate (stage.run, report written): {total:.3f} s wall, {total_cpu:.3f} s CPU "
        f"(median of {args.repeat})"
    )
    for name, seconds in ours.items():
        print(f"  {name:<18} {seconds:.3f} s wall ({seconds / total:.0%} of the stage)")
    print(
        f"peer: the same checks in plain polars, no report: {peer:.3f} s wall, {peer_cpu:.3f} s CPU"
    )
    print(f"ratio aerec/polars: {total / peer:.1f}x wall, {total_cpu / peer_cpu:.1f}x CPU")


if __name__ == "__main__":
    main()
