"""Benchmark: ingest, validate and build at 1M, 10M and Netflix size (100,480,507 ratings).

Generates a Netflix-shaped MovieLens '::' export per scale, in chunks of users
(bench/out/, git-ignored): ratings.dat with 17,770 items of long-tailed
(log-normal, capped) popularity, users with a log-normal activity (median 96,
as Netflix), distinct (user, item) pairs, Netflix-like star shares and
timestamps in 1999-2005, plus ml-1m-like users.dat and movies.dat. Netflix
size has 480,189 users; smaller scales keep the items and shrink the users in
proportion.

Each stage runs in its own process, so its peak memory is its own (wait4's
ru_maxrss): `ingest` is aerec.stages.ingest.run on the three files
(movielens format: parse, type-check, de-duplicate, rejects, Parquet);
`validate` is aerec.stages.validate.run; `build` is aerec.stages.build.run
with the random 90/10 split (+10 % of train to validation) and the default
baselines. The named peer is `polars`: polars' own CSV parser on the same
ratings.dat (read with ':' as the separator, the empty columns between the
'::' dropped, ids cast to strings) written to Parquet, with no checks at all.
Each stage's time is printed as a multiple of the peer's, and each stage's
growth from one scale to the next against the growth in ratings.

A watchdog kills a stage whose memory passes --max-gib or when the machine's
available memory falls below 2 GiB (the machine is shared), and reports it.

    nice -n 19 .venv/bin/python bench/build.py [--scales 1000000 10000000 100480507]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import norm

NETFLIX_RATINGS = 100_480_507
NETFLIX_USERS = 480_189
NETFLIX_ITEMS = 17_770
NETFLIX_MAX_USER_ID = 2_649_429
TOP_ITEM_RATINGS = 232_944  # Netflix's most rated movie
STAR_SHARES = [0.046, 0.101, 0.287, 0.336, 0.230]  # Netflix's share of each star
TIME_SPAN = (942_278_400, 1_136_073_599)  # 1999-11-11 .. 2005-12-31
# Users per rating and items of each shape: ML-20M is 138,493 users x 26,744 items at
# 20,000,263 ratings. Smaller or larger scales keep the items and the users per rating.
SHAPES = {
    "netflix": (NETFLIX_USERS / NETFLIX_RATINGS, NETFLIX_ITEMS),
    "ml-20m": (138_493 / 20_000_263, 26_744),
}
CHUNK_RATINGS = 4_000_000
GIB = 1 << 30
STAGES = ["polars", "ingest", "validate", "build"]  # the peer first
ROOT = Path(__file__).resolve().parents[1]


def popularity(n_items: int, rng: np.random.Generator) -> np.ndarray:
    """Item draw probabilities: log-normal quantiles (sigma 1.8), capped at Netflix's top share."""
    z = norm.ppf((np.arange(n_items) + 0.5) / n_items)
    p = np.exp(1.8 * z)
    cap = TOP_ITEM_RATINGS / NETFLIX_RATINGS
    for _ in range(5):
        p = np.minimum(p / p.sum(), cap)
    return rng.permutation(p / p.sum())


def activity(n_users: int, n_ratings: int, n_items: int, rng: np.random.Generator) -> np.ndarray:
    """Ratings per user: log-normal (median 96, mean ~209 as Netflix), summing to n_ratings."""
    cap = n_items // 2
    raw = np.clip(rng.lognormal(np.log(96), 1.25, n_users), 1, cap)
    counts = np.clip(np.floor(raw * n_ratings / raw.sum()), 1, cap).astype(np.int64)
    while (short := n_ratings - int(counts.sum())) != 0:
        room = np.flatnonzero(counts < cap) if short > 0 else np.flatnonzero(counts > 1)
        pick = rng.choice(room, size=min(abs(short), len(room)), replace=False)
        counts[pick] += 1 if short > 0 else -1
    return counts


def sample_items(counts: np.ndarray, cdf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Distinct popularity-weighted items for users with `counts` ratings each.

    Returns (local user, item) keys as local_user * n_items + item, grouped by user.
    Draws with replacement, de-duplicates, draws again for the users still
    short, then keeps a random `counts[u]` of each user's distinct items.
    """
    n_items = len(cdf)
    keys = np.zeros(0, np.int64)
    need = counts.copy()
    while need.sum() > 0:
        extra = np.ceil(need * 1.3).astype(np.int64) + 2 * (need > 0)
        users = np.repeat(np.arange(len(counts)), extra)
        items = np.minimum(np.searchsorted(cdf, rng.random(len(users))), n_items - 1)
        keys = np.sort(np.concatenate([keys, users * n_items + items]))
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]  # np.unique, faster here
        have = np.bincount(keys // n_items, minlength=len(counts))
        need = np.maximum(counts - have, 0)
    users = keys // n_items
    order = np.lexsort((rng.random(len(keys)), users))
    starts = np.cumsum(np.bincount(users, minlength=len(counts))) - np.bincount(users)
    rank = np.empty(len(keys), np.int64)
    rank[order] = np.arange(len(keys)) - starts[users[order]]
    return keys[rank < counts[users]]


def scale_name(n_ratings: int, shape: str = "netflix") -> str:
    """A scale's folder name: `<n>` for the Netflix shape, `<shape>-<n>` for another."""
    return str(n_ratings) if shape == "netflix" else f"{shape}-{n_ratings}"


def parse_scale_name(name: str) -> tuple[int, str]:
    """(ratings, shape) of a folder named by `scale_name`."""
    shape, _, n = name.rpartition("-")
    return int(n), shape or "netflix"


def generate(directory: Path, n_ratings: int, seed: int = 0, shape: str = "netflix") -> dict:
    """Write a MovieLens export of `shape` with exactly `n_ratings` ratings to `directory`.

    Stars stay Netflix's 1..5 (ML-20M has half stars): the star step changes
    no matrix size, so no cost of training, evaluation or recommendation.
    """
    rng = np.random.default_rng(seed)
    users_per_rating, n_items = SHAPES[shape]
    n_users = max(1, round(users_per_rating * n_ratings))
    cdf = np.cumsum(popularity(n_items, rng))
    counts = activity(n_users, n_ratings, n_items, rng)
    user_ids = np.sort(rng.choice(NETFLIX_MAX_USER_ID, n_users, replace=False) + 1)
    user_bias = rng.normal(0, 0.4, n_users)
    item_bias = rng.normal(0, 0.5, n_items)
    stars_cut = np.cumsum(STAR_SHARES)[:-1]
    directory.mkdir(parents=True, exist_ok=True)
    item_counts = np.zeros(n_items, np.int64)
    bounds = np.searchsorted(np.cumsum(counts), np.arange(0, n_ratings, CHUNK_RATINGS)[1:])
    with open(directory / "ratings.dat", "wb") as out:
        for chunk in np.split(np.arange(n_users), bounds):
            keys = sample_items(counts[chunk], cdf, rng)
            users = chunk[keys // n_items]
            items = keys % n_items
            # A star from a noisy user + item effect, mapped onto Netflix's star shares.
            latent = user_bias[users] + item_bias[items] + rng.normal(0, 0.9, len(users))
            stars = np.searchsorted(norm.ppf(stars_cut, scale=1.1), latent) + 1
            item_counts += np.bincount(items, minlength=n_items)
            lines = pl.DataFrame(
                {
                    "u": user_ids[users],
                    "i": items + 1,
                    "r": stars,
                    "t": rng.integers(*TIME_SPAN, len(users)),
                }
            ).select(pl.concat_str(pl.all(), separator="::"))
            lines.write_csv(out, include_header=False, quote_style="never")
    _write_side_files(directory, user_ids, n_items, rng)
    rated = np.sort(item_counts[item_counts > 0])
    return {
        "users": n_users,
        "items": len(rated),
        "user_ratings_median_mean_max": [
            float(np.median(counts)),
            round(float(counts.mean()), 1),
            int(counts.max()),
        ],
        "item_ratings_min_median_max": [int(rated[0]), float(np.median(rated)), int(rated[-1])],
        "ratings_dat_mib": round((directory / "ratings.dat").stat().st_size / 2**20, 1),
    }


def _write_side_files(
    directory: Path, user_ids: np.ndarray, n_items: int, rng: np.random.Generator
) -> None:
    """ml-1m-like users.dat (gender, age bucket, occupation, zip) and movies.dat (Latin-1)."""
    n_users = len(user_ids)
    users = pl.DataFrame(
        {
            "user": user_ids,
            "gender": rng.choice(["F", "M"], n_users),
            "age": rng.choice([1, 18, 25, 35, 45, 50, 56], n_users),
            "occupation": rng.integers(0, 21, n_users),
            "zip": rng.integers(10_000, 99_999, n_users),
        }
    ).select(pl.concat_str(pl.all(), separator="::"))
    users.write_csv(directory / "users.dat", include_header=False, quote_style="never")
    genres = np.array(["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "War"])
    lines = []
    for item in range(1, n_items + 1):
        picked = genres[rng.random(len(genres)) < 0.25]
        year = rng.integers(1920, 2006)
        lines.append(f"{item}::Movie {item} ({year})::{'|'.join(picked) or 'Drama'}\n")
    (directory / "movies.dat").write_text("".join(lines), encoding="latin-1")


def stage(name: str, scale_dir: Path) -> dict:
    """Run one stage in this process (called in a child process by `measure`)."""
    from aerec.config import BuildConfig, Params, SplitConfig

    raw, ingest = scale_dir / "raw", scale_dir / "ingest"
    params = Params(build=BuildConfig(split=SplitConfig(method="random")))
    if name == "generate":
        n_ratings, shape = parse_scale_name(scale_dir.name)
        return generate(raw, n_ratings, shape=shape)
    if name == "polars":
        return polars_peer(raw / "ratings.dat", scale_dir / "peer.parquet")
    if name == "ingest":
        from aerec.stages import ingest as ingest_stage

        files = [raw / "ratings.dat", raw / "users.dat", raw / "movies.dat"]
        summary = ingest_stage.run("movielens", files, ingest)
        return {k: summary[k] for k in ("rows_read", "accepted", "rejected", "users", "items")}
    if name == "validate":
        from aerec.errors import AerecError
        from aerec.stages import validate

        try:
            summary = validate.run(ingest, scale_dir / "validation", params)
            return {k: summary[k] for k in ("passed", "errors", "warnings")}
        except AerecError as exc:  # the gate failed: still measured, reported
            return {"passed": False, "error": str(exc)[:200]}
    if name == "build":
        from aerec.stages import build

        summary = build.run(ingest, scale_dir / "processed", params)
        keys = ("users", "items", "train", "val", "test", "rmse", "seconds")
        return {k: summary[k] for k in keys}
    raise ValueError(name)


def polars_peer(ratings_dat: Path, out: Path) -> dict:
    """The peer: polars' CSV parser on the '::' file (':' separated, the empty
    columns dropped), ids cast to strings, written to Parquet; no checks."""
    frame = pl.read_csv(ratings_dat, separator=":", has_header=False, columns=[0, 2, 4, 6])
    frame.columns = ["user_id", "item_id", "rating", "timestamp"]
    frame = frame.with_columns(
        pl.col("user_id", "item_id").cast(pl.String), pl.col("rating").cast(pl.Float32)
    )
    frame.write_parquet(out, compression="zstd", compression_level=1)
    return {"rows": frame.height}


def run_child(step: Callable[[str, Path], dict], name: str, scale_dir: Path) -> None:
    """In the child process `measure` starts: run one step, print its result for the parent."""
    start = time.perf_counter()
    result = step(name, scale_dir)
    result["stage_s"] = round(time.perf_counter() - start, 2)
    print("RESULT", json.dumps(result), flush=True)


def measure(name: str, scale_dir: Path, max_gib: float, script: str = __file__) -> dict:
    """Run `stage(name)` in a child process: its time, process wall time, peak RSS, summary.

    `stage_s` is the stage call alone; `wall_s` adds the interpreter start and
    imports; `cpu_s` is the process's user + system CPU time, which other load
    on the shared machine inflates much less than wall time.
    """
    command = [sys.executable, script, "--stage", name, "--scale-dir", str(scale_dir)]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    killed: list[str] = []
    watchdog = threading.Thread(target=_watch, args=(child.pid, max_gib, killed), daemon=True)
    watchdog.start()
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    result = json.loads(lines[-1][7:]) if lines else {"failed": killed or child.returncode}
    peak = round(usage.ru_maxrss / 2**20, 2)
    cpu = round(usage.ru_utime + usage.ru_stime, 1)
    return {
        "stage_s": result.pop("stage_s", None),
        "wall_s": round(wall, 1),
        "cpu_s": cpu,
        "peak_gib": peak,
        **result,
    }


def _watch(pid: int, max_gib: float, killed: list[str]) -> None:
    """Kill the child if its RSS passes max_gib or the machine runs short of memory."""
    while True:
        try:
            rss = _kib(Path(f"/proc/{pid}/status"), "VmRSS:") / 2**20
            available = _kib(Path("/proc/meminfo"), "MemAvailable:") / 2**20
        except (OSError, ValueError):
            return
        if rss > max_gib or available < 2:
            killed.append(f"killed: rss {rss:.1f} GiB, available {available:.1f} GiB")
            os.kill(pid, 9)
            return
        time.sleep(0.5)


def _kib(path: Path, key: str) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    raise ValueError(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scales", type=int, nargs="+", default=[1_000_000, 10_000_000, NETFLIX_RATINGS]
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "build")
    parser.add_argument("--max-gib", type=float, default=16.0, help="kill a stage above this RSS")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--stage", help=argparse.SUPPRESS)  # child process: run one stage
    parser.add_argument("--scale-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        run_child(stage, args.stage, args.scale_dir)
        return
    table: dict[int, dict[str, dict]] = {}
    for n in args.scales:
        scale_dir = args.out / str(n)
        rows = table.setdefault(n, {})
        if args.regenerate or not (scale_dir / "raw" / "movies.dat").is_file():
            rows["generate"] = measure("generate", scale_dir, args.max_gib)
            print(f"{n:>11,} generate  {json.dumps(rows['generate'])}", flush=True)
        for name in STAGES:
            rows[name] = measure(name, scale_dir, args.max_gib)
            print(f"{n:>11,} {name:<9} {json.dumps(rows[name])}", flush=True)
        peer = rows["polars"]
        for name in STAGES[1:]:
            if rows[name].get("stage_s") and peer.get("stage_s"):
                print(
                    f"{n:>11,} {name} / polars peer: "
                    f"{rows[name]['stage_s'] / peer['stage_s']:.1f}x time, "
                    f"{rows[name]['peak_gib'] / peer['peak_gib']:.1f}x peak memory"
                )
    _growth(table, args.scales)


def _growth(table: dict[int, dict[str, dict]], scales: list[int]) -> None:
    """Each stage's growth in time and memory between consecutive scales."""
    for small, large in itertools.pairwise(scales):
        factor = large / small
        for name in STAGES:
            a, b = table[small].get(name, {}), table[large].get(name, {})
            if a.get("stage_s") and b.get("stage_s"):
                print(
                    f"growth {small:,} -> {large:,} ({factor:.1f}x ratings) {name:<9} "
                    f"time {b['stage_s'] / a['stage_s']:.1f}x, cpu {b['cpu_s'] / a['cpu_s']:.1f}x, "
                    f"peak memory "
                    f"{b['peak_gib'] / a['peak_gib']:.1f}x"
                )


if __name__ == "__main__":
    main()
