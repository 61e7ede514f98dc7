"""Top-N baselines (pop, EASE) on ml-1m users 1-2999, the protocol of issue 19.

aerec's own ingest and build on the real ratings (../shared/data/ml-1m):
`transform: binarize` (threshold 3.5), a random per-user split with seed 0
(10 % of each user's ratings to test, 10 % of the rest to validation), every
item ranked, the training and validation items excluded (and, since the
`seen.npz` change, the low ratings binarize dropped from those parts).
NDCG@10 with binary gains and log2 discounts, Recall@20 = hits / relevant
(aerec.metrics, as evaluate computes them). Rows:

- pop: training counts (build's);
- EASE at lambda 500 (RecBole's reg_weight in the issue's row) and at the
  lambda build picked on validation NDCG@10 (build.baselines.ease_lambdas).

Each EASE row is scored twice: from the inputs a model gets at test time
(train + validation, evaluate's way) and from train alone (RecBole's EASE
keeps its training interaction matrix as the history).

    nice -n 19 .venv/bin/python bench/topn.py [--lambdas 100 200 500 1000 2000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from aerec.baselines_topn import TopN, fit_ease, gram
from aerec.config import Params
from aerec.processed import Processed, load_processed
from aerec.scoring import Scorer, TopNScorer, load_baseline_scorers
from aerec.stages import build, ingest
from aerec.stages.evaluate import list_metrics

ROOT = Path(__file__).resolve().parents[1]
ML1M = ROOT.parent / "shared" / "data" / "ml-1m"


def params(lambdas: list[float], seed: int) -> Params:
    """The issue's build (binarize 3.5, random split) and evaluation (every item, K 10 and 20)."""
    return Params.model_validate(
        {
            "dataset": {"name": "ml-1m", "format": "movielens"},
            "build": {
                "transform": "binarize",
                "threshold": 3.5,
                "split": {"method": "random", "seed": seed},
                "baselines": {"ease_lambdas": lambdas},
            },
            "evaluate": {"ks": [10, 20], "relevance_threshold": 1.0, "top_n": 10},
        }
    )


def prepare(work: Path) -> Path:
    """ml-1m's three files in `work`/raw, the ratings decompressed; return the ingest folder."""
    raw = work / "raw"
    raw.mkdir()
    with gzip.open(ML1M / "ratings_users_1-2999.dat.gz", "rb") as src:
        (raw / "ratings.dat").write_bytes(src.read())
    for name in ("users.dat", "movies.dat"):
        shutil.copy(ML1M / name, raw / name)
    files = [raw / n for n in ("ratings.dat", "users.dat", "movies.dat")]
    ingest.run("movielens", files, work / "interim")
    return work / "interim"


def figures(scorer: Scorer, processed: Processed, cfg: Params) -> dict[str, float]:
    ranking = list_metrics(scorer, processed, cfg.evaluate)["ranking"]
    return {"ndcg@10": ranking["ndcg@10"], "recall@20": ranking["recall@20"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lambdas", type=float, nargs="+", default=[100, 200, 500, 1000, 2000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cfg = params(args.lambdas, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        interim = prepare(work)
        start = time.perf_counter()
        summary = build.run(interim, work / "processed", cfg)
        build_s = time.perf_counter() - start
        processed = load_processed(work / "processed")
        baselines = load_baseline_scorers(processed)
        picked = baselines["ease"].model.lam
        g = gram(processed.train)
        ease500 = fit_ease(g, 500.0)
        rows: dict[str, dict[str, float]] = {"pop": figures(baselines["pop"], processed, cfg)}
        for name, model in (("ease lambda 500", ease500), (f"ease lambda {picked:g}", None)):
            model = model if model is not None else baselines["ease"].model
            assert isinstance(model, TopN)
            rows[f"{name}, history train+val"] = figures(
                TopNScorer(model, processed.inputs), processed, cfg
            )
            rows[f"{name}, history train"] = figures(
                TopNScorer(model, processed.train), processed, cfg
            )
        # The same, with binarize's dropped low ratings rankable (RecBole never sees them).
        unseen = replace(processed, dropped=None)
        rows["pop, dropped lows rankable"] = figures(baselines["pop"], unseen, cfg)
        rows["ease lambda 500, train+val, dropped lows rankable"] = figures(
            TopNScorer(ease500, processed.inputs), unseen, cfg
        )
        rows["ease lambda 500, train, dropped lows rankable"] = figures(
            TopNScorer(ease500, processed.train), unseen, cfg
        )
        counts = summary["train"], summary["val"], summary["test"]
    print(json.dumps({"build_seconds": round(build_s, 1), "topn": summary["topn"]}, indent=1))
    print(f"users {summary['users']}, items {summary['items']}; train/val/test {counts}")
    print(f"{'method':52s} {'NDCG@10':>8s} {'R@20':>8s}")
    for name, values in rows.items():
        print(f"{name:52s} {values['ndcg@10']:8.4f} {values['recall@20']:8.4f}")
    print("(RecBole in issue 19: Pop 0.100 / 0.149, EASE reg 500 0.238 / 0.309)")


if __name__ == "__main__":
    main()
