"""The built-in tiny `synthetic` dataset: MovieLens-like, deterministic, no network.

Smoke tests and pipeline tests run on it.
"""

from __future__ import annotations

from pathlib import Path

from aerec.io import atomic_path


def write_synthetic(
    target: Path, n_users: int = 120, n_items: int = 80, per_user: int = 25, seed: int = 0
) -> dict:
    """Write a small MovieLens-like dataset as RecBole atomic files, deterministically.

    Ratings come from a rank-3 latent model plus noise, rounded to 1..5 stars,
    so models have real structure to learn; users carry age/gender/occupation
    and items a year and genres, as ml-100k does. Same arguments, same bytes.
    `generated` in the summary says whether any file had to be (re)written.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    users, items = rng.normal(size=(n_users, 3)), rng.normal(size=(n_items, 3))
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.7  # a long tail, as real catalogues
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    timestamp = 880_000_000
    for u in range(n_users):
        chosen = rng.choice(n_items, size=per_user, replace=False, p=popularity / popularity.sum())
        for i in chosen:
            score = 3.4 + 0.8 * users[u] @ items[i] + rng.normal(scale=0.4)
            timestamp += int(rng.integers(1, 5000))
            lines.append(f"{u + 1}\t{i + 1}\t{int(np.clip(np.rint(score), 1, 5))}\t{timestamp}")
    genders, jobs = ("F", "M"), ("student", "engineer", "artist", "doctor", "other")
    user_lines = ["user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"]
    user_lines += [
        f"{u + 1}\t{rng.integers(18, 70)}\t{genders[u % 2]}\t{jobs[u % 5]}\t{10000 + u}"
        for u in range(n_users)
    ]
    genres = ("Action", "Comedy", "Drama", "Romance", "Thriller")
    item_lines = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    item_lines += [
        f"{i + 1}\tMovie {i + 1}\t{1950 + i % 50}\t{genres[i % 5]} {genres[(i * 3 + 1) % 5]}"
        for i in range(n_items)
    ]
    files, written = [], False
    for suffix, content in (("inter", lines), ("user", user_lines), ("item", item_lines)):
        name = f"{target.name}.{suffix}"
        data = ("\n".join(content) + "\n").encode("utf-8")
        files.append(name)
        # Same arguments, same bytes: an intact file is left alone, and the
        # summary can say truthfully whether anything was written.
        if _read_or_none(target / name) == data:
            continue
        with atomic_path(target / name) as tmp:
            tmp.write_bytes(data)
        written = True
    return {
        "dir": str(target),
        "files": files,
        "downloaded": False,
        "generated": written,
        "bytes": 0,
    }


def _read_or_none(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None
