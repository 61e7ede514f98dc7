"""Benchmark: train, evaluate and recommend at ml-1m size and at 20M / Netflix size.

The data are bench/build.py's Netflix-shaped exports (17,770 items, users in
proportion to the ratings; ingested and built with the real stages, random
90/10 split, +10 % of train to validation), reused from bench/out/<n> when
bench/build.py made them. For each model, each in its own process (peak RSS
from wait4, a watchdog at --max-gib): `train` (aerec.stages.train.run,
--epochs epochs, patience 0; the per-epoch seconds and ratings/s of fit's
history), `evaluate` (aerec.stages.evaluate.run: RMSE/MAE on test, ranking
metrics and top-N lists of every user, the baselines beside it) and
`recommend` (every user's top-10, aerec recommend --all). The peer is the
same code at the smallest scale in the same run: each figure at a larger
scale is printed as a ratio of the smallest scale's per-rating rate, so the
growth is measured, not guessed.

    nice -n 19 .venv/bin/python bench/scale.py [--scales 1000000 20000000] \
        [--models autorec autorec_user deep_ae] [--epochs 2] [--shape ml-20m]

`--shape ml-20m` generates ML-20M's proportions instead (138,493 users x
26,744 items at 20,000,263 ratings).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import build as build_bench  # bench/build.py: the generator and measure

OUT = build_bench.ROOT / "bench" / "out"
# model name -> (registry key, its params block): I-AutoRec, U-AutoRec, the deep AE.
MODELS = {
    "autorec": ("autorec", {"hidden": 500, "orientation": "item"}),
    "autorec_user": ("autorec", {"hidden": 500, "orientation": "user"}),
    "deep_ae": (
        "deep_ae",
        {"layers": [512, 512, 1024], "dropout": 0.8, "orientation": "user"},
    ),
}


def _params(model: str, epochs: int) -> object:
    from aerec.config import Params

    key, block = MODELS[model]
    return Params.model_validate(
        {
            "build": {"split": {"method": "random"}},
            "train": {"model": key, "epochs": epochs, "patience": 0},
            "runtime": {"device": "auto"},
            "models": {key: block},
        }
    )


def stage(name: str, scale_dir: Path) -> dict:
    """One step in this child process: `train:<m>`, `evaluate:<m>` or `recommend:<m>`."""
    step, model = name.split(":")
    epochs = int(scale_dir.joinpath(".epochs").read_text())
    params = _params(model, epochs)
    processed, model_dir = scale_dir / "processed", scale_dir / "models" / model
    if step == "train":
        from aerec.stages import train
        from aerec.training.checkpoint import CHECKPOINT_FILE, read_checkpoint

        summary = train.run(processed, model_dir, params, log=False, restart=True)
        history = read_checkpoint(model_dir / CHECKPOINT_FILE)["history"]
        later = history[1:] or history  # the first epoch compiles and warms up
        return {
            "epoch_s": statistics.median(row["seconds"] for row in later),
            "ratings_per_s": statistics.median(row["ratings_per_s"] for row in later),
            "val_rmse": history[-1].get("val_rmse"),
            "device": summary.get("device"),
        }
    if step == "evaluate":
        from aerec.stages import evaluate

        summary = evaluate.run(processed, model_dir, scale_dir / "evaluation" / model, params)
        return {"test_ratings": summary["test_ratings"], "rmse": summary["rmse"][model_dir.name]}
    if step == "recommend":
        from aerec.stages.recommend import load_recommender, run_all

        recommender = load_recommender(processed, model_dir, params, None)
        summary = run_all(recommender, 10, scale_dir / "recs" / f"{model}.parquet")
        return {"users": summary["users"]}
    raise ValueError(name)


def prepare(n: int, shape: str, max_gib: float) -> Path:
    """bench/out/<scale> with build's output, made by bench/build.py's own stages if absent."""
    scale_dir = OUT / build_bench.scale_name(n, shape)
    script = str(Path(build_bench.__file__))
    for name, done in (("generate", "raw"), ("ingest", "ingest"), ("build", "processed")):
        if not (scale_dir / done).is_dir():
            result = build_bench.measure(name, scale_dir, max_gib, script=script)
            print(f"  {n:,}: {name} {result.get('stage_s')} s, {result['peak_gib']} GiB")
    return scale_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1_000_000, 20_000_000])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--shape", default="netflix", choices=list(build_bench.SHAPES), help="users per item"
    )
    parser.add_argument("--max-gib", type=float, default=20.0)
    parser.add_argument("--steps", nargs="+", default=["train", "evaluate", "recommend"])
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--scale-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        build_bench.run_child(stage, args.stage, args.scale_dir)
        return
    rows: dict[tuple[int, str, str], dict] = {}
    for n in args.scales:
        scale_dir = prepare(n, args.shape, args.max_gib)
        (scale_dir / ".epochs").write_text(str(args.epochs))
        for model in args.models:
            for step in args.steps:
                result = build_bench.measure(
                    f"{step}:{model}", scale_dir, args.max_gib, script=__file__
                )
                rows[(n, model, step)] = result
                print(f"{n:>11,} {model:<13} {step:<9} {json.dumps(result)}", flush=True)
    _ratios(rows, args.scales)


def _ratios(rows: dict[tuple[int, str, str], dict], scales: list[int]) -> None:
    """Per-rating rates at each scale as a ratio of the smallest scale's, same run."""
    base = scales[0]
    print(f"\nratios against {base:,} ratings in the same run (1.0 = linear in ratings):")
    for (n, model, step), result in rows.items():
        peer = rows.get((base, model, step))
        if n == base or peer is None:
            continue
        if step == "train" and result.get("ratings_per_s") and peer.get("ratings_per_s"):
            ratio = result["ratings_per_s"] / peer["ratings_per_s"]
            print(f"  {model} train: ratings/s at {n:,} = {ratio:.2f}x the {base:,} rate")
        elif result.get("stage_s") and peer.get("stage_s"):
            per = (result["stage_s"] / n) / (peer["stage_s"] / base)
            print(f"  {model} {step}: seconds per rating at {n:,} = {per:.2f}x the {base:,} one")


if __name__ == "__main__":
    main()
