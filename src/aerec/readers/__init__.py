"""Readers: one module per raw format, each turning files into the canonical table.

Each format maps to a function `read(paths, scale) -> ReadResult` in a reader
module (several formats may share a module, as the Amazon CSVs do) and to the
rating scale it uses unless params say otherwise. Modules are imported on
demand so that `aerec --help` does not pay for all of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aerec.config import RatingScale
from aerec.errors import AerecError

if TYPE_CHECKING:  # polars stays unimported until a reader runs: `aerec --help` is fast
    from aerec.readers.base import ReadResult


@dataclass(frozen=True)
class Format:
    """A format `aerec ingest --format` knows: where its reader lives, its scale."""

    reader: str  # "module:function" inside aerec.readers
    scale: RatingScale
    help: str


_STARS = RatingScale(min=1, max=5, step=1)
FORMATS: dict[str, Format] = {
    "movielens": Format(
        "movielens:read",
        RatingScale(min=0.5, max=5, step=0.5),
        "MovieLens '::' files: ratings.dat [+ users.dat, movies.dat]",
    ),
    "ml100k": Format("ml100k:read", _STARS, "MovieLens 100K: u.data (tab) [+ u.user, u.item]"),
    "recbole": Format("recbole:read", _STARS, "RecBole atomic files: .inter [+ .user, .item]"),
    "amazon-2014": Format(
        "amazon:read_2014", _STARS, "Amazon 2014 ratings CSV: user,item,rating,ts (no header)"
    ),
    "amazon-2018": Format(
        "amazon:read_2018", _STARS, "Amazon 2018 ratings CSV: item,user,rating,ts (no header)"
    ),
    "amazon-2023": Format(
        "amazon:read_2023", _STARS, "Amazon 2023 ratings CSV: header, parent_asin, ms timestamps"
    ),
    "amazon-reviews": Format(
        "amazon_reviews:read", _STARS, "Amazon review JSON lines (2014 5-core, 2018, 2023)"
    ),
    "sephora": Format("sephora:read", _STARS, "Sephora reviews_*.csv [+ product_info.csv]"),
    "sephora-recommended": Format(
        "sephora:read_recommended",
        _STARS,
        "Sephora, is_recommended as the rating (1 -> 5, 0 -> 1) for build.transform thumbs",
    ),
    "cil": Format("cil:read", _STARS, "CIL 'Id,Prediction' with r<row>_c<col> ids"),
    "csv": Format(
        "tabular:read",
        _STARS,
        "any CSV or Parquet, with --columns user=..,item=..,rating=..[,timestamp=..]",
    ),
}

Reader = Callable[..., "ReadResult"]


def get_format(fmt: str) -> Format:
    """The Format named `fmt`; an unknown name is a user error."""
    if fmt not in FORMATS:
        raise AerecError(f"unknown format '{fmt}'; choose one of: {', '.join(FORMATS)}")
    return FORMATS[fmt]


def get_reader(fmt: str) -> Reader:
    """Import and return the read function of `fmt`."""
    module, function = get_format(fmt).reader.split(":")
    return getattr(importlib.import_module(f"aerec.readers.{module}"), function)
