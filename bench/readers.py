"""Benchmark: the Amazon, Sephora and CIL readers on generated files, against plain parsers.

Generates one file per format with --rows records (2014 and 2023 ratings
CSVs, review JSON lines of ~600 bytes, Sephora reviews with quoted text, some
spanning lines, and CIL cells), then times each reader end to end (read,
type-check, de-duplicate, rejects) and a peer that only parses the same file:
pandas `read_csv` (C engine, all strings) for the CSVs, and stdlib `json.loads`
per line for the JSON lines. The two alternate, --repeat times; the ratio
is the median of the pairs' ratios (peer time / aerec time).

    .venv/bin/python bench/readers.py [--rows 1000000] [--repeat 1] [--formats sephora,cil]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from aerec.readers import get_format, get_reader

WORDS = ["this", "product", "is", "amazing", "I", "love", "the", "smell,", "before", "bed"]
SEPHORA_HEADER = [
    *("", "author_id", "rating", "is_recommended", "helpfulness", "total_feedback_count"),
    *("total_neg_feedback_count", "total_pos_feedback_count", "submission_time"),
    *("review_text", "review_title", "skin_tone", "eye_color", "skin_type", "hair_color"),
    *("product_id", "product_name", "brand_name", "price_usd"),
]


def write_files(directory: Path, n: int, rng: random.Random) -> dict[str, Path]:
    """One generated input per format, `n` records each."""
    paths = {
        "amazon-2014": directory / "ratings_2014.csv",
        "amazon-2023": directory / "ratings_2023.csv",
        "amazon-reviews": directory / "reviews.jsonl",
        "sephora": directory / "reviews_0-250.csv",
        "cil": directory / "data_train.csv",
    }
    with paths["amazon-2014"].open("w") as f:
        for i in range(n):
            user, item = rng.randrange(10**12), rng.randrange(10**9)
            f.write(f"A{user:012X},{item:010d},{rng.randint(1, 5)}.0,{1_300_000_000 + i}\n")
    with paths["amazon-2023"].open("w") as f:
        f.write("user_id,parent_asin,rating,timestamp\n")
        for i in range(n):
            user, item = rng.randrange(10**20), rng.randrange(10**8)
            ms = 1_500_000_000_000 + i * 1000
            f.write(f"AE{user:026X},B0{item:08d},{rng.randint(1, 5)}.0,{ms}\n")
    with paths["amazon-reviews"].open("w") as f:
        for i in range(n):
            review = {
                "reviewerID": f"A{rng.randrange(10**12):012X}",
                "asin": f"{rng.randrange(10**9):010d}",
                "reviewerName": "Name",
                "helpful": [0, 1],
                "reviewText": " ".join(rng.choices(WORDS, k=70)),
                "overall": float(rng.randint(1, 5)),
                "summary": "good",
                "unixReviewTime": 1_393_545_600 + i,
                "reviewTime": "02 28, 2014",
            }
            f.write(json.dumps(review) + "\n")
    with paths["sephora"].open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(SEPHORA_HEADER)
        for i in range(n):
            text = " ".join(rng.choices(WORDS, k=40)) + ("\nmore" if i % 50 == 0 else "")
            date = f"20{rng.randint(10, 23)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
            recommended = rng.choice(["1.0", "0.0", ""])
            author, product = rng.randrange(10**10), f"P{rng.randrange(10**6)}"
            stars = rng.randint(1, 5)
            row = [i, author, stars, recommended, "1.0", 10, 0, 10, date, text, "Love this"]
            writer.writerow([*row, "fair", "brown", "oily", "black", product, "Oil", "K", "30"])
    with paths["cil"].open("w") as f:
        f.write("Id,Prediction\n")
        for i in range(n):
            f.write(f"r{i % 10000 + 1}_c{i // 10000 + 1},{rng.randint(1, 5)}\n")
    return paths


def json_peer(path: Path) -> int:
    """Parse each line with json.loads and pick the four fields a rating needs."""
    keys = ("reviewerID", "asin", "overall", "unixReviewTime")
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if all(k in json.loads(line) for k in keys))


PEERS: dict[str, tuple[str, Callable[[Path], int]]] = {
    "amazon-2014": ("pandas read_csv", lambda p: len(pd.read_csv(p, header=None, dtype=str))),
    "amazon-2023": ("pandas read_csv", lambda p: len(pd.read_csv(p, dtype=str))),
    "amazon-reviews": ("json.loads per line", json_peer),
    "sephora": ("pandas read_csv", lambda p: len(pd.read_csv(p, dtype=str))),
    "cil": ("pandas read_csv", lambda p: len(pd.read_csv(p, dtype=str))),
}


def paired(ours: Callable[[], object], theirs: Callable[[], object], repeat: int) -> tuple:
    """Median times of `repeat` alternating runs of each, and the median of the pair ratios.

    Alternating keeps both sides under the same load on a shared machine;
    the ratio is theirs / ours (above 1: aerec is faster).
    """
    mine, peer, ratios = [], [], []
    for _ in range(repeat):
        start = time.perf_counter()
        ours()
        mine.append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs()
        peer.append(time.perf_counter() - start)
        ratios.append(peer[-1] / mine[-1])
    return statistics.median(mine), statistics.median(peer), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--formats", default=",".join(PEERS), help="comma-separated subset")
    args = parser.parse_args()
    wanted = args.formats.split(",")
    with tempfile.TemporaryDirectory(prefix="aerec-bench-readers-") as tmp:
        paths = write_files(Path(tmp), args.rows, random.Random(0))
        columns = ("format", "MB", "aerec rows/s", "peer", "peer rows/s")
        print("{:15} {:>6} {:>13} {:>20} {:>12} ratio".format(*columns))
        for fmt, path in paths.items():
            if fmt not in wanted:
                continue
            read, scale = get_reader(fmt), get_format(fmt).scale
            result = read([path], scale)
            assert result.rows_read == args.rows == result.ratings.height, fmt
            name, peer = PEERS[fmt]
            ours, theirs, ratio = paired(
                lambda: read([path], scale),  # noqa: B023
                lambda: peer(path),  # noqa: B023
                args.repeat,
            )
            size = path.stat().st_size / 2**20
            print(
                f"{fmt:15} {size:6.0f} {args.rows / ours:13,.0f} {name:>20} "
                f"{args.rows / theirs:12,.0f} {ratio:5.2f}x"
            )


if __name__ == "__main__":
    main()
