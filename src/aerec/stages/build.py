"""The build stage: canonical ratings -> id maps, split CSR matrices, side info, baselines.

Reads an ingest directory (ratings.parquet [+ users.parquet, items.parquet,
rejects.parquet]) and writes data/processed/: user_map.parquet,
item_map.parquet, <part>.npz for every split part, user_side.npz,
item_side.npz, stats.json, seen.npz (the ratings the transform dropped),
baselines.npz (parameters) and baselines.json (their scores on validation
and test), topn.npz and topn.json (pop and EASE, EASE's lambda picked on
validation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from aerec import schema as s
from aerec.baselines import fit_baselines, save_baselines, score
from aerec.baselines_topn import PICK_K, fit_topn, save_topn
from aerec.config import BuildConfig, Params, SplitConfig, scale_of
from aerec.errors import AerecError
from aerec.io import atomic_folder, write_json, write_parquet
from aerec.matrix import (
    Interactions,
    compact_with,
    kcore,
    load_interactions,
    save_csr,
    side_matrix,
    to_csr,
    transform_keeps,
    transform_ratings,
)
from aerec.split import PART_CODES, assign_dropped_parts, assign_parts

PICK = f"val_ndcg@{PICK_K}"
# The datasets that bring their own split method; others get `random`.
_OWN_SPLITS = {"ml100k": "ml-100k"}


def split_for(params: Params) -> tuple[SplitConfig, str | None]:
    """The split build uses, and a note when it is not build.split.method as written.

    `ml100k` rebuilds MovieLens 100K's u1..u5 folds and means nothing for other
    data: another dataset with it left in params.yaml is split `random` (same
    fractions and seed), and the note says so.
    """
    split = params.build.split
    owner = _OWN_SPLITS.get(split.method)
    if owner is None or params.dataset.name == owner:
        return split, None
    note = (
        f"build.split.method {split.method} is {owner}'s own split; dataset "
        f"'{params.dataset.name}' is split random instead"
    )
    return SplitConfig(**{**split.model_dump(), "method": "random"}), note


# For a user holdout split, a held-out part's input is its fold-in part.
_HOLDOUT_INPUT_OF = {"val": "val_foldin", "test": "test_foldin"}


def run(ingest_dir: Path, out_dir: Path, params: Params) -> dict[str, Any]:
    """Build the processed dataset from `ingest_dir` into `out_dir`; return a summary.

    `out_dir` is replaced whole, or not at all (a kill leaves the old build).
    The summary's `seconds` splits the time into load, filter, split, write
    (maps, matrices, side info) and baselines (fit and score).
    """
    with atomic_folder(Path(out_dir), "build", ("*.npz", "*.parquet", "*.json")) as tmp:
        return _build(Path(ingest_dir), tmp, params)


def _build(ingest_dir: Path, out_dir: Path, params: Params) -> dict[str, Any]:
    cfg = params.build
    split, split_note = split_for(params)
    scale = scale_of(params.dataset, _ingest_summary(ingest_dir))
    seconds: dict[str, float] = {}
    lap = _lap_clock(seconds)
    temporal = split.method == "temporal"
    inter, user_map, item_map = load_interactions(ingest_dir / s.RATINGS_FILE, temporal)
    n_input = len(inter)
    lap("load")
    if split.method == "ml100k":
        _require_no_rejects(ingest_dir / s.REJECTS_FILE)
    dropped = inter.select(~transform_keeps(inter.rating, cfg.transform, cfg.threshold))
    inter, scale = transform_ratings(inter, cfg.transform, cfg.threshold, scale)
    n_transformed = len(inter)
    keep, passes = kcore(
        inter, user_map.height, item_map.height, cfg.min_user_ratings, cfg.min_item_ratings
    )
    if not keep.all():
        inter = inter.select(keep)
    inter, dropped, user_map, item_map = compact_with(inter, dropped, user_map, item_map)
    lap("filter")
    if len(inter) == 0:
        raise AerecError(
            f"{ingest_dir / s.RATINGS_FILE}: no ratings left after the transform and k-core "
            "filter; lower build.min_user_ratings / min_item_ratings or check build.threshold"
        )
    shape = (user_map.height, item_map.height)
    parts = assign_parts(inter, shape[0], split, n_input)
    matrices = _part_matrices(inter, parts, shape)
    dropped_parts = assign_dropped_parts(dropped, inter, parts, shape[0], split, n_input)
    seen = _seen_matrix(dropped, dropped_parts, shape)
    del inter, parts, dropped, dropped_parts
    lap("split")

    write_parquet(user_map, out_dir / s.USER_MAP_FILE)
    write_parquet(item_map, out_dir / s.ITEM_MAP_FILE)
    for name, matrix in matrices.items():
        save_csr(matrix, out_dir / f"{name}.npz")
    save_csr(seen, out_dir / s.SEEN_FILE)
    side = _write_side(ingest_dir, out_dir, cfg, user_map, item_map)
    lap("write")

    clip = (scale["min"], scale["max"])
    models = fit_baselines(matrices["train"], cfg.baselines, clip)
    save_baselines(models, out_dir / s.BASELINE_PARAMS_FILE)
    cold = _cold(matrices)
    scores = _baseline_scores(models, matrices, cold)
    write_json(scores, out_dir / s.BASELINES_FILE)
    topn, topn_report = _fit_topn(matrices, seen, cfg)
    save_topn(topn, out_dir / s.TOPN_PARAMS_FILE)
    write_json(topn_report, out_dir / s.TOPN_FILE)
    lap("baselines")

    stats = {
        "dataset": params.dataset.name,
        "scale": scale,
        "transform": cfg.transform,
        "split": split.model_dump(),
        "split_note": split_note,
        "global_mean": models["global_mean"].mu,
        "counts": {
            "input_ratings": n_input,
            "after_transform": n_transformed,
            "after_kcore": int(sum(m.nnz for m in matrices.values())),
            "dropped_seen": {
                name: int(np.count_nonzero(seen.data == code + 1))
                for name, code in PART_CODES.items()
            },
            "kcore_passes": passes,
            "users": shape[0],
            "items": shape[1],
            **{name: int(m.nnz) for name, m in matrices.items()},
            **{
                f"{name}_users": int(np.count_nonzero(m.getnnz(axis=1)))
                for name, m in matrices.items()
            },
        },
        "density": float(sum(m.nnz for m in matrices.values()) / (shape[0] * shape[1])),
        "cold": {name: {k: v for k, v in c.items() if k != "mask"} for name, c in cold.items()},
        "side": side,
    }
    write_json(stats, out_dir / s.BUILD_STATS_FILE)
    return {
        "users": shape[0],
        "items": shape[1],
        "split": split.method,
        "split_note": split_note,
        **{name: int(m.nnz) for name, m in matrices.items()},
        "cold_users": {name: c["users"] for name, c in cold.items()},
        "rmse": {name: scores[name]["test"]["all"]["rmse"] for name in models},
        "topn": topn_report,
        "seconds": seconds,
    }


def describe(summary: dict[str, Any]) -> str:
    """build's summary as a few lines of plain text (the command prints them)."""
    rmse = ", ".join(f"{name} {value:.4f}" for name, value in summary["rmse"].items())
    cold = summary["cold_users"]
    lines = [
        f"({summary['split']}): {summary['users']} users x {summary['items']} items; train "
        f"{summary['train']}, val {summary['val']}, test {summary['test']}",
        f"  cold users val/test: {cold['val']}/{cold['test']}; baseline test RMSE: {rmse}",
    ]
    topn = summary["topn"]
    pop = _fmt(topn["pop"][PICK])
    ease = topn["ease"]
    if "skipped" in ease:
        lines.append(f"  top-N baselines, {PICK}: pop {pop}; ease skipped: {ease['skipped']}")
    else:
        picked = _fmt(ease[PICK][f"{ease['lambda']:g}"])
        lines.append(
            f"  top-N baselines, {PICK}: pop {pop}, ease {picked} (lambda {ease['lambda']:g}, "
            "picked on validation)"
        )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _ingest_summary(ingest_dir: Path) -> dict[str, Any]:
    """ingest's summary.json (its rating scale), or {} where there is none to read."""
    import json

    try:
        return json.loads((ingest_dir / s.INGEST_SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _lap_clock(seconds: dict[str, float]) -> Callable[[str], None]:
    """A function recording the seconds since its previous call under a name."""
    last = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        seconds[name] = round(now - last[0], 3)
        last[0] = now

    return lap


def _require_no_rejects(path: Path) -> None:
    """The ml100k split counts lines: a rejected line would shift every fold."""
    if path.is_file():
        n = pl.scan_parquet(path).select(pl.len()).collect().item()
        if n:
            raise AerecError(
                f"{path}: ingest rejected {n} line(s), so rows no longer match u.data's lines "
                "and the ml100k folds would be wrong; fix the input or use another split method"
            )


def _part_matrices(
    inter: Interactions, parts: np.ndarray, shape: tuple[int, int]
) -> dict[str, sp.csr_matrix]:
    """One CSR matrix per part; train, val and test always, fold-in parts when used."""
    out = {}
    for name, code in PART_CODES.items():
        mask = parts == code
        if name in ("train", "val", "test") or mask.any():
            out[name] = to_csr(inter, shape, mask)
    return out


def _seen_matrix(dropped: Interactions, parts: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """The dropped ratings as a CSR matrix whose values are their part code + 1."""
    return to_csr(replace(dropped, rating=(parts + 1).astype(np.float32)), shape)


def _fit_topn(
    matrices: dict[str, sp.csr_matrix], seen: sp.csr_matrix, cfg: BuildConfig
) -> tuple[dict, dict[str, Any]]:
    """pop and EASE on train, EASE's lambda on validation, ranked as evaluate ranks test.

    A validation user is ranked from train (a user holdout split: the
    validation fold-in); excluded are that history and the ratings the
    transform dropped from those parts.
    """
    history = matrices["train"]
    before = [PART_CODES["train"] + 1]
    if "val_foldin" in matrices:
        history = history + matrices["val_foldin"]
        before.append(PART_CODES["val_foldin"] + 1)
    dropped = seen.copy()
    dropped.data = np.isin(dropped.data, before).astype(np.float32)
    dropped.eliminate_zeros()
    exclude = sp.csr_matrix(history + dropped)
    return fit_topn(
        matrices["train"], matrices["val"], sp.csr_matrix(history), exclude, cfg.baselines
    )


def _cold(matrices: dict[str, sp.csr_matrix]) -> dict[str, dict[str, Any]]:
    """Users and items of each evaluated part that its input part never saw.

    The input is train, or the part's fold-in for a user holdout split. The
    baselines predict these from what is known (item bias, user bias, or the
    global mean); counts and the masks of their ratings are returned.
    """
    holdout = "val_foldin" in matrices or "test_foldin" in matrices
    train_items = matrices["train"].getnnz(axis=0) > 0
    out = {}
    for name in ("val", "test"):
        part = matrices[name]
        source = matrices.get(_HOLDOUT_INPUT_OF[name]) if holdout else None
        seen_users = (source if source is not None else matrices["train"]).getnnz(axis=1) > 0
        rows = np.repeat(np.arange(part.shape[0]), np.diff(part.indptr))
        cold_user = ~seen_users[rows]
        cold_item = ~train_items[part.indices]
        mask = cold_user | cold_item
        out[name] = {
            "users": int(np.unique(rows[cold_user]).size),
            "items": int(np.unique(part.indices[cold_item]).size),
            "ratings": int(mask.sum()),
            "mask": mask,
        }
    return out


def _baseline_scores(
    models: dict, matrices: dict[str, sp.csr_matrix], cold: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """RMSE/MAE of each baseline on val and test: all ratings and the cold ones apart."""
    out: dict[str, Any] = {}
    for name, model in models.items():
        out[name] = {}
        for part in ("val", "test"):
            matrix = matrices[part]
            mask = cold[part]["mask"]
            out[name][part] = {
                "all": score(model, matrix),
                "cold": score(model, _entries(matrix, mask)),
            }
    return out


def _entries(matrix: sp.csr_matrix, mask: np.ndarray) -> sp.csr_matrix:
    """The stored entries of `matrix` where `mask` (one flag per entry) is true."""
    coo = matrix.tocoo()
    return sp.csr_matrix(
        (coo.data[mask], (coo.row[mask], coo.col[mask])), shape=matrix.shape, dtype=np.float32
    )


def _write_side(
    ingest_dir: Path,
    out_dir: Path,
    cfg: BuildConfig,
    user_map: pl.DataFrame,
    item_map: pl.DataFrame,
) -> dict[str, Any]:
    """Encode and write user_side.npz and item_side.npz; return their descriptions."""
    out = {}
    for kind, file, mapping, id_col, columns, target in (
        ("user", s.USERS_FILE, user_map, s.USER_ID, cfg.side.user_columns, s.USER_SIDE_FILE),
        ("item", s.ITEMS_FILE, item_map, s.ITEM_ID, cfg.side.item_columns, s.ITEM_SIDE_FILE),
    ):
        path = ingest_dir / file
        table = pl.read_parquet(path) if path.is_file() else None
        if table is not None and id_col not in table.columns:
            raise AerecError(f"{path}: no '{id_col}' column; re-run `aerec ingest`")
        side = side_matrix(table, mapping, id_col, columns, cfg.side.separator)
        save_csr(side.matrix, out_dir / target)
        out[kind] = {
            "columns": side.columns,
            "missing_columns": side.missing_columns,
            "n_features": len(side.features),
            "rows_without_features": int(np.count_nonzero(side.matrix.getnnz(axis=1) == 0)),
            "features": side.features,
        }
    return out
