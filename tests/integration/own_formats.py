"""Tiny raw files of every other format family, as a user would drop them into data/raw/<name>/.

Each writer turns the same 200 ratings of `own_data.pairs()` (20 users, 30
items, 10 ratings each) into one format's files and adds a few deliberate
bad rows, so that the exact counts of rows read, accepted and rejected, and
of users, items and ratings that reach build, are known by construction.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from tests.integration.own_data import ITEMS, USERS, pairs
from tests.readers.test_ml100k import GENRES


def _write(path: Path, rows: list[str], encoding: str = "utf-8", end: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((end.join(rows) + end).encode(encoding))


def write_movielens_1m(folder: Path) -> None:
    """ratings.dat (whole stars), users.dat and movies.dat; 2 bad ratings."""
    rows = [f"{u + 1}::{i + 1}::{r}::{t}" for u, i, r, t in pairs()]
    rows.insert(10, "1::2::3")  # wrong field count
    rows.insert(100, "5::6::7::1400000000")  # out of scale
    _write(folder / "ratings.dat", rows, "latin-1")
    users = [
        f"{u + 1}::{'FM'[u % 2]}::{(18, 25, 35)[u % 3]}::{u % 21}::0{u:04d}" for u in range(USERS)
    ]
    _write(folder / "users.dat", users, "latin-1")
    movies = [f"{i + 1}::Film {i + 1} (19{70 + i})::Drama|Comedy" for i in range(ITEMS)]
    _write(folder / "movies.dat", movies, "latin-1")


def write_movielens_csv(folder: Path) -> None:
    """An ml-20m-style folder: ratings.csv with its header (half stars), movies.csv, tags.csv."""
    rows = ["userId,movieId,rating,timestamp"]
    rows += [f"{u + 1},{i + 1},{r - 0.5 * (j % 2)},{t}" for j, (u, i, r, t) in enumerate(pairs())]
    rows.insert(30, "3,4,4.25,1400000000")  # off the half-star step
    rows.insert(60, "3,4,x,1400000000")  # not a number
    _write(folder / "ratings.csv", rows)
    _write(folder / "movies.csv", ["movieId,title,genres", "1,Film 1 (1970),Drama"])
    _write(folder / "tags.csv", ["userId,movieId,tag,timestamp", "1,1,funny,1400000000"])


def write_ml100k(folder: Path) -> None:
    """u.data (tab), u.user, u.item (Latin-1, genre flags); 3 bad ratings."""
    rows = [f"{u + 1}\t{i + 1}\t{r}\t{t}" for u, i, r, t in pairs()]
    rows.insert(5, "1\t2\t3")  # wrong field count
    rows.insert(50, "2\t3\t2.5\t1400000000")  # half star: off the step
    rows.insert(150, "\t3\t2\t1400000000")  # missing user id
    _write(folder / "u.data", rows, "latin-1")
    users = [f"{u + 1}|{20 + u}|{'FM'[u % 2]}|writer|{10000 + u}" for u in range(USERS)]
    _write(folder / "u.user", users, "latin-1")
    flags = "|".join("1" if g == "Drama" else "0" for g in GENRES)
    items = [
        f"{i + 1}|Film {i + 1} (1995)|01-Jan-1995||http://x/{i + 1}|{flags}" for i in range(ITEMS)
    ]
    _write(folder / "u.item", items, "latin-1")


def write_recbole(folder: Path) -> None:
    """shop.inter, shop.user, shop.item (typed headers, tab); 2 bad ratings."""
    rows = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    rows += [f"u{u}\ti{i}\t{r}.0\t{t}.0" for u, i, r, t in pairs()]
    rows.insert(20, "u1\ti2\t9\t1400000000")  # out of scale
    rows.insert(80, "u1\ti2\tgood\t1400000000")  # not a number
    _write(folder / "shop.inter", rows)
    users = ["user_id:token\tage:token\tgender:token"]
    users += [f"u{u}\t{20 + u}\t{'FM'[u % 2]}" for u in range(USERS)]
    _write(folder / "shop.user", users)
    items = ["item_id:token\tclass:token_seq"] + [f"i{i}\tDrama Comedy" for i in range(ITEMS)]
    _write(folder / "shop.item", items)


def _asin(i: int) -> str:
    return f"B{i:09d}"


def _reviewer(u: int) -> str:
    return f"A{u:02d}REVIEWER{u * 7:04d}"


def write_amazon_2014(path: Path) -> None:
    """user,item,rating,ts (no header, CRLF); 2 bad rows."""
    rows = [f"{_reviewer(u)},{_asin(i)},{r}.0,{t}" for u, i, r, t in pairs()]
    rows.insert(3, f"{_reviewer(0)},{_asin(1)},6.0,1400000000")  # out of scale
    rows.insert(90, f",{_asin(1)},4.0,1400000000")  # missing user id
    _write(path, rows, end="\r\n")


def write_amazon_2018(path: Path) -> None:
    """item,user,rating,ts (item first, no header); 2 bad rows."""
    rows = [f"{_asin(i)},{_reviewer(u)},{r}.0,{t}" for u, i, r, t in pairs()]
    rows.insert(7, f"{_asin(1)},{_reviewer(0)},4.0")  # wrong field count
    rows.insert(70, f"{_asin(1)},{_reviewer(0)},4.0,soon")  # timestamp not a number
    _write(path, rows)


def write_amazon_2023(path: Path) -> None:
    """Header user_id,parent_asin,rating,timestamp (milliseconds); 2 bad rows."""
    rows = ["user_id,parent_asin,rating,timestamp"]
    rows += [f"{_reviewer(u)},{_asin(i)},{r}.0,{t * 1000}" for u, i, r, t in pairs()]
    rows.insert(40, f"{_reviewer(0)},{_asin(1)},0.0,1400000000000")  # out of scale
    rows.insert(41, f"{_reviewer(0)},,5.0,1400000000000")  # missing item id
    _write(path, rows)


SEPHORA_REVIEW_HEADER = (
    ",author_id,rating,is_recommended,submission_time,skin_tone,eye_color,skin_type,"
    "hair_color,product_id"
)
SEPHORA_PRODUCT_HEADER = (
    "product_id,product_name,brand_name,price_usd,primary_category,secondary_category"
)
SKIN_TONES = ("fair", "light", "tan", "deep")


def _day(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).date().isoformat()


def write_sephora(folder: Path) -> None:
    """reviews_0-250.csv and reviews_250-500.csv (users 0-9 and 10-19), product_info.csv.

    3 bad reviews, and products P0..P29 plus one broken product record; P7's
    name holds byte 0x99 (Windows-1252 for a trade mark sign), which must survive.
    """
    reviews = [
        f"{n},{1000 + u},{r},{float(r >= 4)},{_day(t)},{SKIN_TONES[u % 4]},brown,dry,black,P{i}"
        for n, (u, i, r, t) in enumerate(pairs())
    ]
    first, second = reviews[:100], reviews[100:]
    first.insert(4, "4,1001,5,1.0")  # wrong field count
    first.insert(60, f"60,1002,9,1.0,{_day(1_400_000_000)},fair,brown,dry,black,P1")  # scale
    second.insert(9, "9,1011,4,1.0,05/03/2020,fair,brown,dry,black,P2")  # not a date
    header = [SEPHORA_REVIEW_HEADER]
    _write(folder / "reviews_0-250.csv", header + first, end="\r\n")
    _write(folder / "reviews_250-500.csv", header + second, end="\r\n")
    products = [
        f"P{i},{'Glow' + chr(0x2122) if i == 7 else 'Item'} {i},Brand{i % 4},{5 + 10 * i}.0,"
        f"Skincare,{('Serums', 'Oils')[i % 2]}"
        for i in range(ITEMS)
    ]
    products.insert(12, "P99,Broken,Brand")  # wrong field count
    _write(folder / "product_info.csv", [SEPHORA_PRODUCT_HEADER, *products], "cp1252", "\r\n")


def write_cil(path: Path) -> None:
    """Id,Prediction with r<user>_c<item> (1-based); 3 bad rows."""
    rows = ["Id,Prediction"] + [f"r{u + 1}_c{i + 1},{r}" for u, i, r, _ in pairs()]
    rows.insert(15, "r0_c3,4")  # row 0: no such cell
    rows.insert(16, "r3_c4,4.5")  # off the step
    rows.insert(17, "r3_c4")  # wrong field count
    _write(path, rows)


def write_mapped_parquet(path: Path) -> None:
    """A Parquet export with its own column names; 2 bad rows (a null user, rating 0)."""
    rows = [(f"c{u}", 500 + i, float(r), t) for u, i, r, t in pairs()]
    rows.insert(33, (None, 501, 4.0, 1_400_000_000))
    rows.insert(144, ("c1", 502, 0.0, 1_400_000_000))
    frame = pl.DataFrame(
        rows,
        schema={"who": pl.String, "sku": pl.Int64, "score": pl.Float64, "at": pl.Int64},
        orient="row",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
