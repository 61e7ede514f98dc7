"""MovieLens 100K: u.data (or the u1..u5 / ua, ub splits), with u.user and u.item when given.

u.data: `user item rating timestamp`, tab-separated, no header. u.user:
`user|age|gender|occupation|zip`. u.item (Latin-1): `item|title|release
date|video release date|IMDb URL|` and 19 genre flags in the order of
u.genre; the flags become a genres list and the release date ('01-Jan-1995')
a year. Files are told apart by name: u.user and u.item are side files,
anything else is a ratings file. A folder stands for its u.data, u.user and
u.item.
"""

from __future__ import annotations

from pathlib import Path

from aerec import schema as s
from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.base import (
    ReadResult,
    canonicalize,
    check_head,
    expand_folder,
    plain_files,
    scan_lines,
    split_fields,
)
from aerec.readers.movielens import ITEMS_SCHEMA, USERS_SCHEMA
from aerec.readers.side import Layout, SideFile, optional_int, read_side, title_year, with_side

DATA, USERS, ITEMS = "u.data", "u.user", "u.item"
_RATINGS_LAYOUT = "MovieLens 100K ratings 'user<TAB>item<TAB>rating<TAB>timestamp'"
# u.genre, in flag order.
GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
_FLAGS = {"0": False, "1": True}


def read(paths: list[Path], scale: RatingScale) -> ReadResult:
    """Read MovieLens 100K ratings, with u.user / u.item side tables when given."""
    files = expand_folder(paths, (DATA, USERS, ITEMS), "a MovieLens 100K folder")
    with plain_files(files) as plain:
        kinds = [_kind(path) for path in files]
        pairs = list(zip(files, plain, kinds, strict=True))
        records = []
        for path, local, kind in pairs:
            if kind != DATA:
                continue
            frame = split_fields(
                scan_lines(local, path.name), "\t", [s.USER_ID, s.ITEM_ID, s.RATING, s.TIMESTAMP]
            )
            check_head(frame, path, _RATINGS_LAYOUT, scale)
            records.append(frame)
        if not records:
            raise AerecError(
                f"{', '.join(map(str, paths))}: no ratings file among the inputs; "
                f"expected {DATA} ({_RATINGS_LAYOUT}) or a u1..u5 split"
            )
        result = canonicalize(records, scale)
        users = [SideFile(lo, p) for p, lo, k in pairs if k == USERS]
        items = [SideFile(lo, p) for p, lo, k in pairs if k == ITEMS]
        return with_side(
            result,
            read_side(users, USERS_LAYOUT) if users else None,
            read_side(items, ITEMS_LAYOUT) if items else None,
        )


def _kind(path: Path) -> str:
    name = path.name.removesuffix(".gz").lower()
    return name if name in (USERS, ITEMS) else DATA


def _user_row(fields: list[str]) -> tuple[str, int, str, str]:
    age, gender, occupation, zip_code = fields
    return gender, int(age), occupation, zip_code


def _item_row(fields: list[str]) -> tuple[str, list[str], int | None]:
    title, released, _video, _url, *flags = fields
    genres = [genre for genre, flag in zip(GENRES, flags, strict=True) if _flag(flag)]
    year = optional_int(released[-4:]) if released else title_year(title)
    return title, genres, year


def _flag(text: str) -> bool:
    if text not in _FLAGS:
        raise ValueError(f"genre flag {text!r} is not 0 or 1")
    return _FLAGS[text]


USERS_LAYOUT = Layout(
    "MovieLens 100K users 'user|age|gender|occupation|zip'", "|", 5, _user_row, USERS_SCHEMA
)
ITEMS_LAYOUT = Layout(
    "MovieLens 100K items 'item|title|release date|video date|URL|19 genre flags'",
    "|",
    5 + len(GENRES),
    _item_row,
    ITEMS_SCHEMA,
)
