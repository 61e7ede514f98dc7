"""Recommendation latency of aerec against the dense everything-at-once peer, in one run.

Data: ml-1m users 1-2999 (../shared/data: 487,650 ratings, 2,999 users x
3,615 items after build's random 90/10 split) and movies.dat titles, through
aerec's own build stage. Model: I-AutoRec (500 hidden units) trained for a
few epochs (latency does not depend on accuracy). Measured after the model
is loaded:

- `aerec one`: `Recommender.for_user` for random known users (top-10 unseen
  items with titles); the peer `dense one` predicts the whole users x items
  matrix, then takes the user's row, as a recommender without row scoring would;
- `aerec all`: `run_all` (batched top-10 of every user, written to Parquet);
  the peer `dense all` predicts the whole matrix at once and sorts every row.

It also prints the wall time of the whole evaluate stage on that model.

    .venv/bin/python bench/recommend.py --users 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from aerec import schema as s
from aerec.config import Params, TrainConfig
from aerec.metrics import top_k
from aerec.scoring import load_baseline_scorers, load_model_scorer, load_processed
from aerec.stages import build, evaluate
from aerec.stages.recommend import Recommender, run_all
from aerec.train import fit, load_training_data, predict

ROOT = Path(__file__).resolve().parents[1]
ML1M = ROOT.parent / "shared" / "data" / "ml-1m"


def ingest(out: Path) -> Path:
    """ratings.parquet and items.parquet (titles) from the shared ml-1m files."""
    out.mkdir(parents=True, exist_ok=True)
    ratings = pl.read_csv(
        ML1M / "ratings_users_1-2999.dat.gz",
        separator=":",
        has_header=False,
        new_columns=["user_id", "a", "item_id", "b", "rating", "c", "timestamp"],
        schema_overrides={"user_id": pl.String, "item_id": pl.String, "rating": pl.Float32},
    ).select(s.USER_ID, s.ITEM_ID, s.RATING, pl.col(s.TIMESTAMP).cast(pl.Int64))
    ratings.write_parquet(out / s.RATINGS_FILE)
    lines = (ML1M / "movies.dat").read_text(encoding="latin-1").splitlines()
    parts = [line.split("::") for line in lines]
    pl.DataFrame({s.ITEM_ID: [p[0] for p in parts], "title": [p[1] for p in parts]}).write_parquet(
        out / s.ITEMS_FILE
    )
    return out


def timed(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20, help="users timed one by one")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    if not ML1M.is_dir():
        sys.exit(f"{ML1M}: not found (../shared/data); nothing to benchmark")
    with tempfile.TemporaryDirectory(prefix="aerec-bench-rec-") as tmp:
        root = Path(tmp)
        interim = ingest(root / "interim")
        params = Params.model_validate(
            {"build": {"split": {"method": "random"}, "side": {"item_columns": []}}}
        )
        build.run(interim, root / "processed", params)
        cfg = TrainConfig(epochs=args.epochs, device="cpu", amp="off")
        fit("autorec", {"hidden": 500}, cfg, load_training_data(root / "processed"),
            root / "model", log=False)  # fmt: skip
        processed = load_processed(root / "processed")
        fallback = load_baseline_scorers(processed)["biases"]
        start = time.perf_counter()
        scorer = load_model_scorer(root / "model", processed, fallback)
        recommender = Recommender.build(scorer, processed, interim / s.ITEMS_FILE)
        load_s = time.perf_counter() - start
        users = np.random.default_rng(0).choice(recommender.user_ids, args.users, replace=False)
        ours = [timed(recommender.for_user, str(u), 10) for u in users]
        n_users, n_items = processed.shape

        def dense_one(user: str) -> None:
            scores = predict(scorer.model, processed.inputs, np.arange(n_users))
            idx = recommender.user_index[user]
            top_k(scores[idx : idx + 1], 10, recommender.known[[idx]])

        peer = [timed(dense_one, str(u)) for u in users[:3]]
        all_s = timed(run_all, recommender, 10, root / "recs.parquet")

        def dense_all() -> None:
            scores = predict(scorer.model, processed.inputs, np.arange(n_users))
            top_k(scores, 10, recommender.known)

        dense_all_s = timed(dense_all)
        (root / "models").mkdir()
        (root / "model").rename(root / "models" / "autorec")
        evaluate_s = timed(
            evaluate.run, root / "processed", root / "models" / "autorec", root / "eval", params
        )
    one, peer_one = statistics.median(ours), statistics.median(peer)
    print(f"matrix {n_users} x {n_items}, {processed.inputs.nnz:,} input ratings")
    print(f"model load + recommender build: {load_s:.2f} s")
    print(f"aerec one : median {one:.3f} s, max {max(ours):.3f} s over {len(ours)} users")
    print(f"dense one : median {peer_one:.3f} s over {len(peer)} users")
    print(f"ratio one : dense / aerec = {peer_one / one:.1f}x")
    print(f"aerec all : {all_s:.2f} s (batched, Parquet written)")
    print(f"dense all : {dense_all_s:.2f} s (whole matrix at once, no file)")
    print(f"ratio all : dense / aerec = {dense_all_s / all_s:.2f}x")
    print(f"evaluate stage (model + 3 baselines, all metrics, plots, page): {evaluate_s:.1f} s")


if __name__ == "__main__":
    main()
