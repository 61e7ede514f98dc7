"""RecBole atomic files: `.inter` ratings, with `.user` and `.item` side tables when given.

Tab-separated, UTF-8, a typed header of `name:type` fields (`user_id:token
item_id:token rating:float timestamp:float`). In `.inter`, the columns named
user_id, item_id, rating and timestamp are the canonical ones (timestamp
optional, other columns ignored); a `float` timestamp such as `881250949.0`
is whole seconds. In `.user` / `.item` every column is kept, typed by its
header: token -> string, float -> float, token_seq -> list of strings (space
separated), float_seq -> list of floats; a few well-known MovieLens columns
get the names and types the MovieLens readers use (movie_title -> title,
kept whole; release_year -> year, null when not a number; class -> genres;
zip_code -> zip; age -> integer). A folder stands for
the .inter, .user and .item files inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from aerec import schema as s
from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.readers.base import (
    ReadResult,
    canonicalize,
    check_head,
    plain_files,
    scan_lines,
    split_fields,
)
from aerec.readers.side import Layout, SideFile, SideTable, decode, read_side, with_side

INTER, USER, ITEM = ".inter", ".user", ".item"
_SUFFIXES = (INTER, USER, ITEM)
_CANONICAL = (s.USER_ID, s.ITEM_ID, s.RATING, s.TIMESTAMP)
_REQUIRED = (s.USER_ID, s.ITEM_ID, s.RATING)
# Well-known columns -> (name, type) as the other readers write them.
_RENAMES = {
    "movie_title": ("title", "token"),
    "release_year": ("year", "year"),
    "age": ("age", "int"),
    "class": ("genres", "token_seq"),
    "zip_code": ("zip", "token"),
}
_TYPES: dict[str, tuple[pl.DataType, Callable[[str], Any]]] = {
    "token": (pl.String(), lambda v: v),
    "float": (pl.Float64(), lambda v: float(v) if v else None),
    "int": (pl.Int64(), lambda v: int(v) if v else None),
    # RecBole's ml-100k.item has release years 'unkonwn' and 'V': unknown
    # years, which must not cost the item its row.
    "year": (pl.Int64(), lambda v: int(v) if v.isdigit() else None),
    "token_seq": (pl.List(pl.String()), lambda v: v.split()),
    "float_seq": (pl.List(pl.Float64()), lambda v: [float(x) for x in v.split()]),
}


def read(paths: list[Path], scale: RatingScale) -> ReadResult:
    """Read RecBole .inter files, with .user / .item side tables when given."""
    files = expand(paths)
    with plain_files(files) as plain:
        pairs = [(p, lo, _kind(p)) for p, lo in zip(files, plain, strict=True)]
        records = [_inter_records(p, lo, scale) for p, lo, k in pairs if k == INTER]
        if not records:
            raise AerecError(
                f"{', '.join(map(str, paths))}: no RecBole {INTER} file among the inputs; "
                f"expected a tab-separated {INTER} file with a 'name:type' header"
            )
        result = canonicalize(records, scale)
        side = {kind: [(p, lo) for p, lo, k in pairs if k == kind] for kind in (USER, ITEM)}
        return with_side(result, _side(side[USER], s.USER_ID), _side(side[ITEM], s.ITEM_ID))


def expand(paths: list[Path]) -> list[Path]:
    """Input paths with each folder replaced by its .inter, .user and .item files."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.is_file() and _suffix(p) in _SUFFIXES)
        if not any(_kind(p) == INTER for p in found):
            raise AerecError(
                f"{path}: folder without a {INTER} file; expected RecBole atomic files "
                f"(<name>{INTER} [<name>{USER} <name>{ITEM}])"
            )
        out.extend(found)
    return out


def _suffix(path: Path) -> str:
    return Path(path.name.removesuffix(".gz")).suffix.lower()


def _kind(path: Path) -> str:
    """.inter, .user or .item by suffix (under .gz); any other file is read as .inter."""
    suffix = _suffix(path)
    return suffix if suffix in (USER, ITEM) else INTER


def header(local: Path, path: Path) -> list[tuple[str, str]]:
    """The typed header as (name, type) pairs; a file without one is an error."""
    with local.open("rb") as fh:
        first = next((line for line in fh if line.strip()), b"")
    fields = [f.strip() for f in decode(first).rstrip("\r\n").split("\t")]
    pairs = [tuple(f.split(":", 1)) for f in fields]
    if not first or any(len(p) != 2 or not p[0] for p in pairs):
        shown = decode(first).rstrip("\r\n")[:80]
        raise AerecError(
            f"{path}: first line {shown!r} is not a RecBole header of tab-separated "
            "'name:type' fields (e.g. 'user_id:token')"
        )
    return [(name, kind) for name, kind in pairs]


def _inter_records(path: Path, local: Path, scale: RatingScale) -> pl.LazyFrame:
    """Raw rating records of one .inter file, its header mapped to canonical columns."""
    names = [name for name, _ in header(local, path)]
    missing = [c for c in _REQUIRED if c not in names]
    if missing:
        raise AerecError(
            f"{path}: header has no {', '.join(missing)} column (found {', '.join(names)}); "
            "expected user_id, item_id, rating [timestamp]"
        )
    lines = scan_lines(local, path.name, skip_header=True)
    fields = split_fields(lines, "\t", [n if n in _CANONICAL else None for n in names])
    # RecBole writes `float` timestamps; whole seconds may carry a '.0'.
    frame = fields.with_columns(pl.col(s.TIMESTAMP).str.replace(r"^\s*(\d+)\.0*\s*$", "$1"))
    check_head(frame, path, f"RecBole {INTER} ({', '.join(names)})", scale)
    return frame


def _side(files: list[tuple[Path, Path]], id_column: str) -> SideTable | None:
    """The side table of .user or .item files (one header for all of them), or None."""
    if not files:
        return None
    path, local = files[0]
    layout = _layout(path, header(local, path), id_column)
    for other, other_local in files[1:]:
        if _layout(other, header(other_local, other), id_column).schema != layout.schema:
            raise AerecError(f"{other}: header differs from {path}; give files of one layout")
    return read_side([SideFile(lo, p) for p, lo in files], layout)


def _layout(path: Path, columns: list[tuple[str, str]], id_column: str) -> Layout:
    """A side-file layout from a typed header; the id column comes first in the table."""
    names = [name for name, _ in columns]
    if id_column not in names:
        raise AerecError(
            f"{path}: header has no {id_column} column (found {', '.join(names)}); "
            f"expected {id_column}:token first or anywhere in the header"
        )
    key = names.index(id_column)
    others = [_column(path, name, kind) for i, (name, kind) in enumerate(columns) if i != key]
    schema: dict[str, pl.DataType] = {id_column: pl.String()}
    schema |= {name: dtype for name, dtype, _ in others}
    converters = [convert for _, _, convert in others]

    def parse(fields: list[str]) -> tuple[Any, ...]:
        return tuple(convert(value) for convert, value in zip(converters, fields, strict=True))

    name = f"RecBole {_kind(path)} ({', '.join(names)})"
    return Layout(name, "\t", len(names), parse, schema, skip_header=True, key=key)


def _column(path: Path, name: str, kind: str) -> tuple[str, pl.DataType, Callable[[str], Any]]:
    renamed, kind = _RENAMES.get(name, (name, kind))
    if kind not in _TYPES:
        raise AerecError(
            f"{path}: column {name!r} has type {kind!r}; expected one of {', '.join(_TYPES)}"
        )
    dtype, convert = _TYPES[kind]
    return renamed, dtype, convert
