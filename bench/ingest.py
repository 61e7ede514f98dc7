"""Benchmark: MovieLens '::' ratings -> Parquet through the ingest stage, against pandas.

Files: the real ml-1m ratings of users 1-2999 (../shared/data, decompressed
to bench/out once, so both sides read the same plain file) and a generated
file of --rows lines in the ml-10m layout (half stars, unique user/item
pairs grouped by user, generated into bench/out once). aerec runs the whole
`aerec.stages.ingest.run` (read, type-check, de-duplicate, write zstd
Parquet and summary); the peer is pandas `read_csv(sep="::",
engine="python")`, which only parses. Each side runs in its own process, so
the peak RSS (ru_maxrss) is its own. On a big file pandas is timed on a
1M-line prefix and its rate extrapolated per row (said in the output).

    .venv/bin/python bench/ingest.py [--rows 10000000] [--skip-generated]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
ML1M_GZ = ROOT.parent / "shared" / "data" / "ml-1m" / "ratings_users_1-2999.dat.gz"
PANDAS_PREFIX_ROWS = 1_000_000

AEREC = """
import json, resource, sys, time
from pathlib import Path
from aerec.stages.ingest import run
start = time.perf_counter()
summary = run("movielens", [Path(sys.argv[1])], Path(sys.argv[2]))
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rows": summary["rows_read"], "seconds": seconds, "rss": rss}))
"""
PANDAS = """
import json, resource, sys, time
import pandas as pd
start = time.perf_counter()
frame = pd.read_csv(sys.argv[1], sep="::", engine="python", header=None,
                    names=["user_id", "item_id", "rating", "timestamp"])
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rows": len(frame), "seconds": seconds, "rss": rss}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="generated file's lines")
    parser.add_argument("--skip-generated", action="store_true", help="only the ml-1m file")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    files = []
    if ML1M_GZ.is_file():
        files.append(("ml-1m users 1-2999", _gunzipped(ML1M_GZ, OUT / "ml1m-ratings.dat")))
    else:
        print(f"skipping ml-1m: {ML1M_GZ} not found")
    if not args.skip_generated:
        files.append((f"generated {args.rows:,} lines", _generated(args.rows)))
    print(
        f"{'file':<28}{'MB':>7}{'rows':>12}{'aerec s':>9}{'rows/s':>12}{'peak MB':>9}"
        f"{'x input':>8}{'pandas rows/s':>15}{'ratio':>8}"
    )
    for label, path in files:
        size = path.stat().st_size
        aerec = _child(AEREC, path, OUT / "ingest-out")
        peer, note = _pandas(path, aerec["rows"])
        rate = aerec["rows"] / aerec["seconds"]
        print(
            f"{label:<28}{size / 1e6:>7.0f}{aerec['rows']:>12,}{aerec['seconds']:>9.2f}"
            f"{rate:>12,.0f}{aerec['rss'] / 2**20:>9.0f}{aerec['rss'] / size:>8.2f}"
            f"{peer:>15,.0f}{rate / peer:>7.1f}x{note}"
        )


def _child(code: str, *args: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _pandas(path: Path, rows: int) -> tuple[float, str]:
    """pandas' rows/s on the file, or on its first 1M lines when it is bigger."""
    if rows <= PANDAS_PREFIX_ROWS:
        result = _child(PANDAS, path)
        return result["rows"] / result["seconds"], ""
    prefix = OUT / f"{path.stem}-prefix.dat"
    with path.open("rb") as src, prefix.open("wb") as dst:
        for _, line in zip(range(PANDAS_PREFIX_ROWS), src, strict=False):
            dst.write(line)
    result = _child(PANDAS, prefix)
    return result["rows"] / result["seconds"], "  (pandas on a 1M-line prefix, per row)"


def _gunzipped(source: Path, target: Path) -> Path:
    if not target.is_file():
        with gzip.open(source, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def _generated(rows: int) -> Path:
    """ml-10m-like lines: half stars, unique (user, item) pairs grouped by user."""
    path = OUT / f"ratings-{rows}.dat"
    if path.is_file():
        return path
    rng = np.random.default_rng(0)
    users, items = 71_567, 65_133
    keys = np.unique(rng.integers(0, users * items, int(rows * 1.01)))[:rows]
    rng.shuffle(keys)
    keys.sort(kind="stable")  # grouped by user, as MovieLens files are
    stars = np.array([f"{k / 2:g}" for k in range(11)])
    ratings = stars[rng.integers(1, 11, len(keys))]
    times = rng.integers(789_652_009, 1_231_131_736, len(keys))
    with path.open("w", encoding="ascii") as fh:
        for start in range(0, len(keys), 1_000_000):
            part = slice(start, start + 1_000_000)
            user, item = keys[part] // items + 1, keys[part] % items + 1
            fh.write(
                "".join(
                    f"{u}::{i}::{r}::{t}\n"
                    for u, i, r, t in zip(
                        user.tolist(),
                        item.tolist(),
                        ratings[part].tolist(),
                        times[part].tolist(),
                        strict=True,
                    )
                )
            )
    return path


if __name__ == "__main__":
    main()
