"""Recommendation and evaluation latency of aerec against its previous code and a dense peer.

Data: ml-1m users 1-2999 (../shared/data: 487,650 ratings, 2,999 users x
3,615 items after build's random 90/10 split) and movies.dat titles, through
aerec's own build stage. Model: I-AutoRec (500 hidden units) trained for a
few epochs (latency does not depend on accuracy). Measured after the model
is loaded:

- `one`: `Recommender.for_user` for random known users (top-10 unseen items
  with titles), what `aerec recommend --user` runs; the peer `dense one`
  predicts the whole users x items matrix, then takes the user's row, as a
  recommender without row scoring would;
- `all`: `run_all` (batched top-10 of every user, written to Parquet), what
  `aerec recommend --all` runs;
- `evaluate`: the whole evaluate stage (model and three baselines, every
  metric, plots, page).

With `--old-rev REV` (default: the last commit before the Predictor) the
same measurements of that commit's code run first, in a git worktree of REV
beside this checkout, with its own bench/recommend.py and the same data and
model settings, and the ratios old / new are printed: the side-by-side run
of the redesign issue.

    .venv/bin/python bench/recommend.py --users 50
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from aerec import schema as s
from aerec.config import Params, RuntimeConfig, TrainConfig
from aerec.inference import Predictor
from aerec.metrics import top_k
from aerec.processed import load_processed
from aerec.scoring import load_baseline_scorers, load_model_scorer
from aerec.stages import build, evaluate
from aerec.stages.recommend import Recommender, run_all
from aerec.training.loop import fit

ROOT = Path(__file__).resolve().parents[1]
ML1M = ROOT.parent / "shared" / "data" / "ml-1m"
OLD_REV = "d2e40aa"


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


def measure(users: int, epochs: int) -> dict[str, float]:
    """This checkout's figures (seconds), printed as `old` parses them."""
    with tempfile.TemporaryDirectory(prefix="aerec-bench-rec-") as tmp:
        root = Path(tmp)
        interim = ingest(root / "interim")
        params = Params.model_validate(
            {"build": {"split": {"method": "random"}, "side": {"item_columns": []}}}
        )
        build.run(interim, root / "processed", params)
        cfg = TrainConfig(epochs=epochs, amp="off")
        model_dir = root / "models" / "autorec"
        processed = load_processed(root / "processed")
        fit("autorec", {"hidden": 500}, cfg, processed.training(), model_dir, log=False,
            runtime=RuntimeConfig(device="cpu"))  # fmt: skip
        fallback = load_baseline_scorers(processed)["biases"]
        start = time.perf_counter()
        scorer = load_model_scorer(model_dir, processed, fallback)
        recommender = Recommender.build(scorer, processed, interim / s.ITEMS_FILE)
        load_s = time.perf_counter() - start
        picked = np.random.default_rng(0).choice(recommender.user_ids, users, replace=False)
        ours = [timed(recommender.for_user, str(u), 10) for u in picked]
        n_users, n_items = processed.shape

        def dense_one(user: str) -> None:
            scores = Predictor(scorer.model, processed.inputs).rows(np.arange(n_users))
            idx = recommender.user_index[user]
            top_k(scores[idx : idx + 1], 10, recommender.known[[idx]])

        peer = [timed(dense_one, str(u)) for u in picked[:3]]
        all_s = timed(run_all, recommender, 10, root / "recs.parquet")
        evaluate_s = timed(evaluate.run, root / "processed", model_dir, root / "eval", params)
    figures = {
        "load": load_s,
        "one": statistics.median(ours),
        "one_max": max(ours),
        "dense_one": statistics.median(peer),
        "all": all_s,
        "evaluate": evaluate_s,
    }
    print(f"matrix {n_users} x {n_items}, {processed.inputs.nnz:,} input ratings")
    print(f"model load + recommender build: {figures['load']:.2f} s")
    print(f"aerec one : median {figures['one']:.4f} s, max {figures['one_max']:.4f} s "
          f"over {len(ours)} users")  # fmt: skip
    print(f"dense one : median {figures['dense_one']:.3f} s over {len(peer)} users")
    print(f"aerec all : {figures['all']:.2f} s (batched, Parquet written)")
    print(f"evaluate stage (model + 3 baselines, all metrics, plots, page): {evaluate_s:.2f} s")
    return figures


_OLD_LINES = {
    "load": r"model load \+ recommender build: ([\d.]+) s",
    "one": r"aerec one : median ([\d.]+) s",
    "all": r"aerec all : ([\d.]+) s",
    "evaluate": r"evaluate stage .*: ([\d.]+) s",
}


def measure_old(rev: str, users: int, epochs: int) -> dict[str, float]:
    """The figures of commit `rev`'s own bench/recommend.py, run on that commit's code."""
    # Beside this checkout, so that the old script finds ../shared/data as this one does.
    worktree = ROOT.parent / f".aerec-bench-{rev}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f",
                    str(worktree), rev], check=True, capture_output=True)  # fmt: skip
    try:
        env = {**os.environ, "PYTHONPATH": str(worktree / "src")}
        cmd = [sys.executable, str(worktree / "bench" / "recommend.py"), "--users", str(users)]
        cmd += ["--epochs", str(epochs)]
        out = subprocess.run(cmd, env=env, cwd=worktree, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"old bench failed:\n{out.stderr}")
        print(out.stdout.rstrip())
        return {k: float(re.search(p, out.stdout).group(1)) for k, p in _OLD_LINES.items()}
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                       check=False, capture_output=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="users timed one by one")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--old-rev", default=OLD_REV, help="commit to compare with ('' : none)")
    args = parser.parse_args()
    if not ML1M.is_dir():
        sys.exit(f"{ML1M}: not found (../shared/data); nothing to benchmark")
    old = None
    if args.old_rev:
        print(f"== old code ({args.old_rev})")
        old = measure_old(args.old_rev, args.users, args.epochs)
    print("== this checkout")
    new = measure(args.users, args.epochs)
    print(f"ratio one : dense / aerec = {new['dense_one'] / new['one']:.1f}x")
    if old:
        for key, label in (("one", "one user"), ("all", "recommend --all"),
                           ("evaluate", "evaluate stage")):  # fmt: skip
            print(f"old / new, {label}: {old[key] / new[key]:.1f}x "
                  f"({old[key]:.4f} s -> {new[key]:.4f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
