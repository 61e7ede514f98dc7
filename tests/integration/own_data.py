"""Tiny raw files of three formats, as a user would drop them into data/raw/<name>/.

Every count is fixed by construction: `users` users each rate `per_user`
distinct items, so the tests can assert the exact numbers that reach build.
"""

from __future__ import annotations

import json
from pathlib import Path

USERS, PER_USER, ITEMS = 20, 10, 30
T0 = 1_400_000_000


def pairs() -> list[tuple[int, int, int, int]]:
    """(user, item, stars 1..5, seconds): user u rates items (3u + j) mod 30, j < 10."""
    return [
        (u, (3 * u + j) % ITEMS, 1 + (u + 2 * j) % 5, T0 + 86_400 * (u * PER_USER + j))
        for u in range(USERS)
        for j in range(PER_USER)
    ]


def write_amazon_reviews(path: Path) -> None:
    """Amazon 2014-style review JSON lines, plus a broken line and one without a rating."""
    lines = [
        json.dumps(
            {
                "reviewerID": f"A{u:03d}",
                "asin": f"0{i:09d}",
                "overall": float(r),
                "unixReviewTime": t,
            }
        )
        for u, i, r, t in pairs()
    ]
    lines.insert(50, "{not json")
    lines.insert(120, json.dumps({"reviewerID": "A999", "asin": "0000000001"}))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_movielens_folder(folder: Path) -> None:
    """A MovieLens '::' folder: ratings.dat (half stars) and movies.dat."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [f"{u + 1}::{i + 1}::{r - 0.5 * (j % 2)}::{t}" for j, (u, i, r, t) in enumerate(pairs())]
    (folder / "ratings.dat").write_text("\n".join(rows) + "\n", encoding="latin-1")
    movies = [f"{i + 1}::Movie {i + 1}: Part {i % 3} (1999)::Drama|Comedy" for i in range(ITEMS)]
    (folder / "movies.dat").write_text("\n".join(movies) + "\n", encoding="latin-1")


def write_mapped_csv(path: Path) -> None:
    """A shop's export with its own column names (and one row with a bad rating)."""
    rows = ["customer;product;stars;when"]
    rows += [f"c{u};p{i};{r};{t}" for u, i, r, t in pairs()]
    rows.insert(7, "c1;p1;lots;1400000000")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
