"""The build stage end to end on small ingest directories the tests write themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from aerec import schema as s
from aerec.baselines import load_baselines
from aerec.baselines_topn import load_topn
from aerec.config import BuildConfig, Params, SplitConfig
from aerec.errors import AerecError
from aerec.processed import load_maps, load_processed, read_csr
from aerec.stages.build import describe, run


def ingest_dir(tmp_path: Path, rows: list[tuple], side: bool = True) -> Path:
    """An ingest output folder: ratings.parquet [+ users.parquet, items.parquet]."""
    folder = tmp_path / "interim"
    folder.mkdir(parents=True)
    pl.DataFrame(rows, schema=s.RATINGS_SCHEMA, orient="row").write_parquet(folder / s.RATINGS_FILE)
    if side:
        pl.DataFrame(
            {s.USER_ID: ["a", "b", "c"], "gender": ["F", "M", "F"], "age": [18, 25, 18]}
        ).write_parquet(folder / s.USERS_FILE)
        pl.DataFrame(
            {s.ITEM_ID: ["x", "y", "z"], "genres": [["Drama"], ["Drama", "War"], []]}
        ).write_parquet(folder / s.ITEMS_FILE)
    return folder


def params(**split: object) -> Params:
    return Params(build=BuildConfig(split=SplitConfig(**split)))


# Ten u.data-like lines; ml100k fold 1 = lines 1-2. User "d" and item "w" are
# rated only there, so they are cold in test.
LINES = [
    ("d", "w", 2.0, 5),
    ("a", "y", 4.0, 6),
    ("a", "x", 5.0, 1),
    ("b", "x", 3.0, 2),
    ("b", "y", 1.0, 3),
    ("c", "z", 4.0, 4),
    ("a", "z", 2.0, 7),
    ("c", "x", 5.0, 8),
    ("b", "z", 4.0, 9),
    ("c", "y", 3.0, 10),
]


def test_build_writes_maps_exact_matrices_side_info_and_stats(tmp_path: Path) -> None:
    out = tmp_path / "processed"
    summary = run(ingest_dir(tmp_path, LINES), out, params(method="ml100k", val_fraction=0))
    users, items = load_maps(out)
    assert users.get_column(s.USER_ID).to_list() == ["a", "b", "c", "d"]
    assert items.get_column(s.ITEM_ID).to_list() == ["w", "x", "y", "z"]
    parts = _parts(out)
    assert sorted(parts) == ["test", "train", "val"]
    assert parts["test"].toarray().tolist() == [
        [0, 0, 4, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        [2, 0, 0, 0],
    ]
    assert parts["train"].toarray().tolist() == [
        [0, 5, 0, 2],
        [0, 3, 1, 4],
        [0, 5, 3, 4],
        [0, 0, 0, 0],
    ]
    assert parts["val"].nnz == 0
    assert read_csr(out / s.USER_SIDE_FILE).toarray().tolist() == [
        [1, 0, 1, 0],
        [0, 1, 0, 1],
        [1, 0, 1, 0],
        [0, 0, 0, 0],
    ]
    assert read_csr(out / s.ITEM_SIDE_FILE).toarray().tolist() == [
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 0],
    ]
    stats = json.loads((out / s.BUILD_STATS_FILE).read_text())
    assert stats["counts"]["train"] == 8 and stats["counts"]["test"] == 2
    assert stats["global_mean"] == pytest.approx(27 / 8)
    assert stats["cold"]["test"] == {"users": 1, "items": 1, "ratings": 1}
    assert stats["side"]["user"]["features"] == ["gender=F", "gender=M", "age=18", "age=25"]
    assert stats["side"]["user"]["rows_without_features"] == 1
    assert summary["cold_users"] == {"val": 0, "test": 1}


def test_cold_ratings_are_predicted_by_the_fallback_and_scored_apart(tmp_path: Path) -> None:
    out = tmp_path / "processed"
    run(ingest_dir(tmp_path, LINES), out, params(method="ml100k", val_fraction=0))
    scores = json.loads((out / s.BASELINES_FILE).read_text())
    assert scores["global_mean"]["test"]["cold"]["n"] == 1
    # the cold rating (d, w) = 2 is predicted as the global mean 27 / 8
    assert scores["global_mean"]["test"]["cold"]["rmse"] == pytest.approx(27 / 8 - 2)
    models = load_baselines(out / s.BASELINE_PARAMS_FILE)
    for model in models.values():
        assert model.predict(np.array([3]), np.array([0])).tolist() == [27 / 8]


def test_ml100k_split_after_the_real_ingest_follows_the_inter_file_lines(tmp_path: Path) -> None:
    """The ingest -> build contract: ratings.parquet keeps the .inter line order.

    200,000 shuffled lines, so that a reordering between ingest's batches shows.
    """
    from aerec.stages import ingest

    n = 200_000
    cells = np.random.default_rng(0).permutation(n)
    users, items = cells % 1000 + 1, cells // 1000 + 1
    text = "".join(
        f"{u}\t{i}\t{1 + k % 5}\t{880000000 + k}\n"
        for k, (u, i) in enumerate(zip(users, items, strict=True))
    )
    inter = tmp_path / "raw" / "toy.inter"
    inter.parent.mkdir()
    inter.write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + text)
    ingest.run("recbole", [inter], tmp_path / "interim")
    run(tmp_path / "interim", tmp_path / "p", params(method="ml100k", fold=3, val_fraction=0))
    user_map, item_map = load_maps(tmp_path / "p")
    test = read_csr(tmp_path / "p" / "test.npz").tocoo()
    got_users = user_map.get_column(s.USER_ID).to_numpy()[test.row].astype(int)
    got_items = item_map.get_column(s.ITEM_ID).to_numpy()[test.col].astype(int)
    got = np.sort(got_users * 10**6 + got_items)
    block = slice(2 * n // 5, 3 * n // 5)  # lines 80,001-120,000: fold 3
    assert np.array_equal(got, np.sort(users[block] * 10**6 + items[block]))


@pytest.mark.parametrize("method", ["random", "temporal", "kfold", "user_holdout"])
def test_every_split_keeps_every_rating_exactly_once(tmp_path: Path, method: str) -> None:
    rng = np.random.default_rng(1)
    pairs = rng.permutation(40 * 30)[:600]
    rows = [(f"u{p // 30}", f"i{p % 30}", float(1 + p % 5), int(p)) for p in pairs]
    out = tmp_path / "processed"
    run(ingest_dir(tmp_path, rows, side=False), out, params(method=method))
    parts = _parts(out)
    total = sum(m for m in parts.values())
    assert total.nnz == sum(m.nnz for m in parts.values()) == 600  # disjoint and complete
    users, items = load_maps(out)
    user_ids, item_ids = users.get_column(s.USER_ID), items.get_column(s.ITEM_ID)
    got = {
        (user_ids[int(u)], item_ids[int(i)], float(total[u, i]))
        for u, i in zip(*total.nonzero(), strict=True)
    }
    assert got == {(u, i, r) for u, i, r, _ in rows}
    assert read_csr(out / s.USER_SIDE_FILE).shape == (40, 0)


def test_kcore_and_transform_are_applied_before_the_maps(tmp_path: Path) -> None:
    rows = [*LINES, ("e", "x", 5.0, 11)]
    cfg = BuildConfig(
        min_user_ratings=2,
        min_item_ratings=2,
        transform="thumbs",
        split=SplitConfig(method="random", test_fraction=0, val_fraction=0),
    )
    out = tmp_path / "processed"
    run(ingest_dir(tmp_path, rows), out, Params(build=cfg))
    users, items = load_maps(out)
    assert users.get_column(s.USER_ID).to_list() == ["a", "b", "c"]
    assert items.get_column(s.ITEM_ID).to_list() == ["x", "y", "z"]
    train = read_csr(out / "train.npz").toarray()
    expected = [[1, 1, 0.1], [0.1, 0.1, 1], [1, 0.1, 1]]
    assert np.array_equal(train, np.array(expected, np.float32))
    stats = json.loads((out / s.BUILD_STATS_FILE).read_text())
    assert stats["counts"]["kcore_passes"] == 1
    assert stats["scale"] == {"min": 0.1, "max": 1.0, "step": 0.9}


def test_binarize_keeps_the_split_and_records_the_dropped_ratings_by_part(
    tmp_path: Path,
) -> None:
    cfg = BuildConfig(
        transform="binarize", split=SplitConfig(method="ml100k", fold=2, val_fraction=0)
    )
    out = tmp_path / "processed"
    run(ingest_dir(tmp_path, LINES), out, Params(build=cfg))
    users, items = load_maps(out)
    # d and w have no rating >= 3.5: gone, with their dropped (d, w) rating.
    assert users.get_column(s.USER_ID).to_list() == ["a", "b", "c"]
    assert items.get_column(s.ITEM_ID).to_list() == ["x", "y", "z"]
    parts = _parts(out)
    # Fold 2 is lines 3-4: (a, x) = 5 kept, (b, x) = 3 dropped, both in test.
    assert parts["test"].toarray().tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert parts["train"].toarray().tolist() == [[0, 1, 0], [0, 0, 1], [1, 0, 1]]
    # Dropped: (b, x) test (code 2 + 1); (b, y), (a, z), (c, y) train (0 + 1).
    seen = read_csr(out / s.SEEN_FILE).toarray().tolist()
    assert seen == [[0, 0, 1], [3, 1, 0], [0, 1, 0]]
    processed = load_processed(out)
    assert processed.seen_before_test.toarray().astype(bool).sum(axis=1).tolist() == [2, 2, 3]
    assert processed.seen.toarray().astype(bool).all()
    stats = json.loads((out / s.BUILD_STATS_FILE).read_text())
    assert stats["counts"]["dropped_seen"] == {
        "train": 3,
        "val": 0,
        "test": 1,
        "val_foldin": 0,
        "test_foldin": 0,
    }


def test_build_fits_pop_and_ease_and_picks_lambda_on_validation(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    pairs = rng.permutation(30 * 12)[:200]
    rows = [(f"u{p // 12}", f"i{p % 12}", float(1 + p % 5), int(p)) for p in pairs]
    base = BuildConfig(split=SplitConfig(method="random", val_fraction=0.3))
    cfg = base.model_copy(
        update={"baselines": base.baselines.model_copy(update={"ease_lambdas": (1.0, 30.0)})}
    )
    out = tmp_path / "processed"
    summary = run(ingest_dir(tmp_path, rows, side=False), out, Params(build=cfg))
    report = json.loads((out / s.TOPN_FILE).read_text())
    assert report == summary["topn"]
    by_lambda = report["ease"]["val_ndcg@10"]
    assert list(by_lambda) == ["1", "30"]
    assert report["ease"]["lambda"] == float(max(by_lambda, key=by_lambda.get))
    fitted = load_topn(out / s.TOPN_PARAMS_FILE)
    assert fitted["ease"].lam == report["ease"]["lambda"]
    train = read_csr(out / "train.npz")
    assert fitted["pop"].item_scores.tolist() == np.bincount(train.indices, minlength=12).tolist()
    lam = report["ease"]["lambda"]
    pop, ease = report["pop"]["val_ndcg@10"], by_lambda[f"{lam:g}"]
    assert describe(summary).splitlines()[2] == (
        f"  top-N baselines, val_ndcg@10: pop {pop:.4f}, ease {ease:.4f} (lambda {lam:g}, "
        "picked on validation)"
    )


def test_user_errors_name_the_file_and_what_to_do(tmp_path: Path) -> None:
    folder = ingest_dir(tmp_path, LINES[:9])
    with pytest.raises(AerecError, match="multiple of 5"):
        run(folder, tmp_path / "p", params(method="ml100k"))
    pl.DataFrame(
        {s.SOURCE: ["u.data"], s.LINE: [3], s.REASON: ["duplicate"], s.RAW: ["x"]}
    ).write_parquet(folder / s.REJECTS_FILE)
    with pytest.raises(AerecError, match="rejected 1 line"):
        run(folder, tmp_path / "p", params(method="ml100k"))
    no_time = ingest_dir(tmp_path / "t", [("a", "x", 4.0, None), ("a", "y", 3.0, 1)])
    with pytest.raises(AerecError, match="no timestamp"):
        run(no_time, tmp_path / "p", params(method="temporal"))
    strict = Params(build=BuildConfig(min_user_ratings=50, split=SplitConfig(method="random")))
    with pytest.raises(AerecError, match="no ratings left"):
        run(folder, tmp_path / "p", strict)


def test_cli_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    # The CLI's successful build, behind the validation gate, is in tests/test_gate.py.
    params_file = tmp_path / "params.yaml"
    params_file.write_text("build:\n  split:\n    method: ml100k\n    val_fraction: 0\n")
    cli = [sys.executable, "-c", "from aerec.cli import main; main()", "build"]
    bad = subprocess.run(
        [*cli, str(tmp_path / "absent"), "--params", str(params_file)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"aerec: error: {tmp_path / 'absent' / 'ratings.parquet'}: ratings file not found; "
        "run `aerec ingest` first"
    ]


def _parts(out: Path) -> dict[str, Any]:
    """Every split part build wrote, read through the one reader of build's folder."""
    processed = load_processed(out)
    names = ("train", "val", "test", "val_foldin", "test_foldin")
    return {n: getattr(processed, n) for n in names if getattr(processed, n) is not None}
