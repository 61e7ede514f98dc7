"""Id maps, rating arrays and sparse matrices: the build stage's data structures.

Ratings travel as parallel numpy arrays (int32 indices, float32 values) in the
order of ratings.parquet; string ids live only in the two id maps. Matrices are
scipy CSR, users x items, float32, and are never densified: item-based models
use the transpose (`matrix.T`), a free CSC view of the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from aerec import schema as s
from aerec.config import RatingScale
from aerec.errors import AerecError
from aerec.io import atomic_path


@dataclass(frozen=True)
class Interactions:
    """Ratings as parallel arrays: user and item index, value, time, input row.

    `row` is the rating's position in ratings.parquet, which keeps the input's
    line order (the predefined MovieLens splits are defined by it);
    `timestamp` is loaded only when a split needs it.
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    row: np.ndarray
    timestamp: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.user)

    def select(self, mask: np.ndarray) -> Interactions:
        """The ratings where `mask` is true (or at the given positions), in order."""
        ts = None if self.timestamp is None else self.timestamp[mask]
        return Interactions(self.user[mask], self.item[mask], self.rating[mask], self.row[mask], ts)


def natural_order(values: pl.Series) -> pl.Series:
    """Distinct values sorted numerically when all are integers, else as strings.

    Numeric order makes MovieLens user "10" index 9, not 1; equal numbers
    written differently ("007", "7") are ordered by their text, so the order is
    total and deterministic.
    """
    unique = values.drop_nulls().unique()
    as_int = unique.cast(pl.Int64, strict=False)
    if len(unique) and as_int.null_count() == 0:
        frame = pl.DataFrame({"v": unique, "n": as_int}).sort(["n", "v"])
        return frame.get_column("v")
    return unique.sort()


def id_map(ids: pl.Series, id_col: str, idx_col: str) -> pl.DataFrame:
    """Map each distinct id (string) to a contiguous int32 index in natural order."""
    ordered = natural_order(ids.cast(pl.String)).alias(id_col)
    return pl.DataFrame({id_col: ordered, idx_col: np.arange(len(ordered), dtype=np.int32)})


def load_interactions(
    ratings_path: Path, with_timestamp: bool = False
) -> tuple[Interactions, pl.DataFrame, pl.DataFrame]:
    """Read ratings.parquet into index arrays plus the user and item id maps.

    The ids are scanned once for the maps, then encoded through a polars Enum
    (a hash lookup whose physical value is the map index), so the string
    columns are never held in memory whole.
    """
    if not ratings_path.is_file():
        raise AerecError(f"{ratings_path}: ratings file not found; run `aerec ingest` first")
    scan = pl.scan_parquet(ratings_path)
    names = scan.collect_schema().names()
    wanted = [s.USER_ID, s.ITEM_ID, s.RATING] + ([s.TIMESTAMP] if with_timestamp else [])
    missing = [c for c in wanted if c not in names]
    if missing:
        raise AerecError(
            f"{ratings_path}: missing column(s) {', '.join(missing)}; re-run `aerec ingest`"
        )
    user_map = _scan_map(scan, s.USER_ID, s.USER_IDX)
    item_map = _scan_map(scan, s.ITEM_ID, s.ITEM_IDX)
    encoded = scan.select(
        _encode(s.USER_ID, user_map),
        _encode(s.ITEM_ID, item_map),
        pl.col(s.RATING).cast(pl.Float32),
        *([pl.col(s.TIMESTAMP).cast(pl.Int64)] if with_timestamp else []),
    ).collect(engine="streaming")
    if encoded.get_column(s.RATING).null_count():
        raise AerecError(f"{ratings_path}: null ratings; re-run `aerec ingest` and validate")
    timestamp = None
    if with_timestamp:
        ts = encoded.get_column(s.TIMESTAMP)
        if ts.null_count():
            raise AerecError(
                f"{ratings_path}: {ts.null_count()} ratings have no timestamp; the temporal "
                "split needs one on every rating (choose another build.split.method)"
            )
        timestamp = ts.to_numpy()
    inter = Interactions(
        user=encoded.get_column(s.USER_ID).to_numpy(),
        item=encoded.get_column(s.ITEM_ID).to_numpy(),
        rating=encoded.get_column(s.RATING).to_numpy(),
        row=np.arange(encoded.height, dtype=np.int32),
        timestamp=timestamp,
    )
    return inter, user_map, item_map


def _scan_map(scan: pl.LazyFrame, id_col: str, idx_col: str) -> pl.DataFrame:
    ids = scan.select(pl.col(id_col).unique()).collect(engine="streaming").get_column(id_col)
    if ids.null_count():
        raise AerecError(f"ratings.parquet: null {id_col} values; re-run `aerec ingest`")
    return id_map(ids, id_col, idx_col)


def _encode(id_col: str, mapping: pl.DataFrame) -> pl.Expr:
    """The int32 index of each id: Enum categories are the map's ids, in index order."""
    enum = pl.Enum(mapping.get_column(id_col))
    return pl.col(id_col).cast(enum).to_physical().cast(pl.Int32)


def transform_ratings(
    inter: Interactions, transform: str, threshold: float, scale: RatingScale
) -> tuple[Interactions, dict[str, float]]:
    """Apply the rating transform; return the kept ratings and the resulting scale.

    `thumbs`: 4 and above -> 1.0, above 0 and below 4 -> 0.1, 0 -> unobserved
    (Sephora style). `binarize`: at or above `threshold` -> 1.0, the rest
    unobserved (implicit feedback, as Mult-VAE does with ratings >= 3.5).
    """
    rating = inter.rating
    keep = transform_keeps(rating, transform, threshold)
    if transform == "raw":
        return inter, {"min": scale.min, "max": scale.max, "step": scale.step}
    if transform == "thumbs":
        values = np.where(rating[keep] >= 4, np.float32(1.0), np.float32(0.1))
        return replace(inter.select(keep), rating=values), {"min": 0.1, "max": 1.0, "step": 0.9}
    kept = inter.select(keep)
    ones = np.ones(len(kept), dtype=np.float32)
    return replace(kept, rating=ones), {"min": 0.0, "max": 1.0, "step": 1.0}


def transform_keeps(rating: np.ndarray, transform: str, threshold: float) -> np.ndarray:
    """Mask of the ratings the transform keeps; the others are dropped (but were rated).

    A dropped rating is still a rating the user gave: build records it as
    seen (seen.npz), so it is never recommended again.
    """
    if transform == "raw":
        return np.ones(len(rating), dtype=bool)
    if transform == "thumbs":
        return rating > 0
    if transform == "binarize":
        return rating >= threshold
    raise ValueError(f"unknown transform {transform!r}")


def kcore(
    inter: Interactions, n_users: int, n_items: int, min_user: int, min_item: int
) -> tuple[np.ndarray, int]:
    """Mask of the ratings in the (min_user, min_item)-core, and the passes it took.

    Dropping a sparse item can push a user below its minimum and back, so the
    filter repeats until nothing changes (a fixed point); passes counts the
    rounds that removed something.
    """
    keep = np.ones(len(inter), dtype=bool)
    passes = 0
    if min_user <= 1 and min_item <= 1:
        return keep, passes
    while True:
        user_counts = np.bincount(inter.user[keep], minlength=n_users)
        item_counts = np.bincount(inter.item[keep], minlength=n_items)
        weak = (user_counts < min_user)[inter.user] | (item_counts < min_item)[inter.item]
        drop = keep & weak
        if not drop.any():
            return keep, passes
        keep &= ~drop
        passes += 1


def compact(
    inter: Interactions, user_map: pl.DataFrame, item_map: pl.DataFrame
) -> tuple[Interactions, pl.DataFrame, pl.DataFrame]:
    """Drop ids that no longer have a rating and renumber the rest contiguously."""
    inter, _, user_map, item_map = compact_with(inter, None, user_map, item_map)
    return inter, user_map, item_map


def compact_with(
    inter: Interactions,
    other: Interactions | None,
    user_map: pl.DataFrame,
    item_map: pl.DataFrame,
) -> tuple[Interactions, Interactions | None, pl.DataFrame, pl.DataFrame]:
    """`compact` on `inter`'s ids, with `other` renumbered the same way.

    `other` (ratings the transform dropped) loses the ratings of users or
    items `inter` no longer has.
    """
    user, new_user, user_map = _compact_axis(inter.user, user_map, s.USER_IDX)
    item, new_item, item_map = _compact_axis(inter.item, item_map, s.ITEM_IDX)
    inter = replace(inter, user=user, item=item)
    if other is not None:
        keep = (new_user[other.user] >= 0) & (new_item[other.item] >= 0)
        other = other.select(keep)
        other = replace(other, user=new_user[other.user], item=new_item[other.item])
    return inter, other, user_map, item_map


def _compact_axis(
    index: np.ndarray, mapping: pl.DataFrame, idx_col: str
) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    """(new index of each rating, new index of each old id or -1, the compacted map)."""
    present = np.bincount(index, minlength=mapping.height) > 0
    new_index = np.where(present, np.cumsum(present, dtype=np.int64) - 1, -1).astype(np.int32)
    if present.all():
        return index, new_index, mapping
    kept = mapping.filter(pl.Series(present)).with_columns(
        pl.Series(idx_col, np.arange(int(present.sum()), dtype=np.int32))
    )
    return new_index[index], new_index, kept


def to_csr(
    inter: Interactions, shape: tuple[int, int], mask: np.ndarray | None = None
) -> sp.csr_matrix:
    """A users x items CSR matrix (float32, int32 indices, sorted) of the (masked) ratings."""
    user, item, rating = inter.user, inter.item, inter.rating
    if mask is not None:  # only the three arrays the matrix needs are copied
        user, item, rating = user[mask], item[mask], rating[mask]
    coo = sp.coo_matrix((rating.astype(np.float32, copy=False), (user, item)), shape=shape)
    csr = coo.tocsr()
    csr.sort_indices()
    return csr


def save_csr(matrix: sp.csr_matrix, path: Path) -> None:
    """Write a CSR matrix as scipy .npz atomically (uncompressed: fast at 100M ratings)."""
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        sp.save_npz(handle, matrix, compressed=False)


@dataclass(frozen=True)
class SideInfo:
    """A one-/multi-hot side matrix with one row per map entry and named columns."""

    matrix: sp.csr_matrix
    features: list[str]
    columns: list[str]
    missing_columns: list[str]


def side_matrix(
    table: pl.DataFrame | None,
    mapping: pl.DataFrame,
    id_col: str,
    columns: tuple[str, ...],
    separator: str,
) -> SideInfo:
    """Encode categorical columns of a side table as a CSR matrix aligned with `mapping`.

    Rows follow the map's index; ids absent from the table get an all-zero row,
    ids the table has beyond the map are ignored. Each value of a configured
    column becomes one feature `column=value`: strings are split on
    `separator` (multi-hot, for example genres), list values give one feature
    per element. Configured columns the table lacks are reported, not an error,
    so one params default serves several datasets.
    """
    n_rows = mapping.height
    if table is None:
        return SideInfo(sp.csr_matrix((n_rows, 0), dtype=np.float32), [], [], list(columns))
    present = [c for c in columns if c in table.columns and c != id_col]
    missing = [c for c in columns if c not in present]
    aligned = mapping.join(
        table.with_columns(pl.col(id_col).cast(pl.String)).unique(
            id_col, keep="first", maintain_order=True
        ),
        on=id_col,
        how="left",
        maintain_order="left",
    )
    idx_col = mapping.columns[1]
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    features: list[str] = []
    for column in present:
        long = _values(aligned, idx_col, column, separator)
        categories = natural_order(long.get_column("value"))
        code = long.get_column("value").replace_strict(
            categories, np.arange(len(categories), dtype=np.int32) + len(features)
        )
        rows.append(long.get_column(idx_col).to_numpy())
        cols.append(code.to_numpy().astype(np.int32))
        features.extend(f"{column}={value}" for value in categories)
    row = np.concatenate(rows) if rows else np.zeros(0, np.int32)
    col = np.concatenate(cols) if cols else np.zeros(0, np.int32)
    matrix = sp.csr_matrix(
        (np.ones(len(row), np.float32), (row, col)), shape=(n_rows, len(features))
    )
    matrix.sort_indices()
    return SideInfo(matrix, features, present, missing)


def _values(aligned: pl.DataFrame, idx_col: str, column: str, separator: str) -> pl.DataFrame:
    """One row per (index, distinct non-empty value) of a side column."""
    series = aligned.get_column(column)
    if isinstance(series.dtype, pl.List):
        values = series.list.eval(pl.element().cast(pl.String))
    else:
        values = series.cast(pl.String).str.split(separator)
    return (
        pl.DataFrame({idx_col: aligned.get_column(idx_col), "value": values})
        .explode("value")
        .with_columns(pl.col("value").str.strip_chars())
        .filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
        .unique(maintain_order=True)
    )
