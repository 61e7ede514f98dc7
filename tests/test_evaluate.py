"""The evaluate stage's metrics on a hand-made processed directory, values computed by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from tests.evaluation_fixture import PREDICTED, FixedScorer, write_processed, write_seen

from aerec.config import EvaluateConfig
from aerec.errors import AerecError
from aerec.processed import load_processed
from aerec.scoring import load_baseline_scorers
from aerec.stages import evaluate

CFG = EvaluateConfig(
    ks=(1, 2), relevance_threshold=4.0, user_activity_edges=(1, 2), item_popularity_edges=(1,),
    top_n=2,
)  # fmt: skip


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-12, abs=1e-12)


def test_processed_inputs_and_seen_items(tmp_path: Path) -> None:
    processed = load_processed(write_processed(tmp_path))
    # Inputs are train + validation: u0's i2 (validation) counts.
    assert processed.user_counts().tolist() == [3, 2, 0]
    assert processed.item_counts().tolist() == [2, 1, 2, 0]
    assert processed.train.toarray().astype(bool).sum() == 4
    assert processed.inputs.toarray().astype(bool).tolist() == [
        [True, True, True, False],
        [True, False, True, False],
        [False, False, False, False],
    ]
    assert processed.scale == (1.0, 5.0)


def test_evaluate_scorer_by_hand(tmp_path: Path) -> None:
    processed = load_processed(write_processed(tmp_path))
    got, pred = evaluate.evaluate_scorer(FixedScorer(np.array(PREDICTED)), processed, CFG)
    # Test pairs in storage order: (0,3) (1,1) (1,3) (2,0); (1,3)'s 0.0 is clipped to 1.
    assert pred.tolist() == [4.5, 4.0, 1.0, 3.0]
    assert got["rating"] == {"n": 4, "rmse": approx(math.sqrt(1.25 / 4)), "mae": 0.375}
    assert got["cold_users"] == {"n": 1, "rmse": 0.0, "mae": 0.0}
    assert got["cold_items"] == {"n": 2, "rmse": approx(math.sqrt(0.25 / 2)), "mae": 0.25}
    assert got["user_activity"] == {
        "0": {"n": 1, "rmse": 0.0, "mae": 0.0},
        "1": {"n": 0, "rmse": None, "mae": None},
        "2+": {"n": 3, "rmse": approx(math.sqrt(1.25 / 3)), "mae": 0.5},
    }
    assert got["item_popularity"]["0"] == got["cold_items"]
    # Lists (seen items excluded): u0 [i3, -], u1 [i1, i3], u2 [i0, i1]. Positives
    # (>= 4): u0 {i3}, u1 {i1}; u2 has none and is left out of the ranking metrics.
    assert got["ranking"] == {
        "users": 2,
        **{f"{name}@1": 1.0 for name in ("precision", "recall", "recall_mvae", "ndcg")},
        "hit_rate@1": 1.0,
        "precision@2": 0.5,
        "recall@2": 1.0,
        "recall_mvae@2": 1.0,
        "ndcg@2": 1.0,
        "hit_rate@2": 1.0,
    }
    # Coverage {i0, i1, i3} of 4; input (train + validation) counts [2, 1, 2, 0],
    # percentiles [5/6, 1/3, 5/6, 0].
    assert got["top_n"] == {
        "n": 2,
        "coverage": 0.75,
        "arp": approx((0 + 0.5 + 1.5) / 3),
        "popularity_percentile": approx((0 + (1 / 3) / 2 + (5 / 6 + 1 / 3) / 2) / 3),
    }


def test_baselines_predict_cold_users_and_items_without_error(tmp_path: Path) -> None:
    processed = load_processed(write_processed(tmp_path))
    baselines = load_baseline_scorers(processed)
    assert list(baselines) == ["biased_mf", "biases", "global_mean", "pop", "ease"]
    rating_only = load_baseline_scorers(processed, topn=False)
    assert list(rating_only) == ["biased_mf", "biases", "global_mean"]
    got, pred = evaluate.evaluate_scorer(baselines["global_mean"], processed, CFG)
    assert pred.tolist() == [3.5] * 4  # mean of the train ratings 5, 3, 4, 2
    assert got["rating"] == {"n": 4, "rmse": approx(math.sqrt((0.25 + 2.25 + 6.25 + 0.25) / 4)),
                             "mae": 1.25}  # fmt: skip
    assert got["cold_users"]["n"] == 1
    assert got["cold_items"]["n"] == 2


def test_pop_ranks_by_training_counts_and_reports_no_rating_errors(tmp_path: Path) -> None:
    processed = load_processed(write_processed(tmp_path))
    pop = load_baseline_scorers(processed)["pop"]
    assert not pop.predicts_ratings
    got, pred = evaluate.evaluate_scorer(pop, processed, CFG)
    # Training counts [2, 1, 1, 0] at the test pairs (0,3) (1,1) (1,3) (2,0).
    assert pred.tolist() == [0.0, 1.0, 0.0, 2.0]
    assert got["rating"] == {"n": 4, "rmse": None, "mae": None}
    # Lists: u0 [i3, -] (i0-i2 seen), u1 [i1, i3], u2 [i0, i1]: both positives first.
    assert got["ranking"]["ndcg@1"] == 1.0 and got["ranking"]["recall@2"] == 1.0
    assert got["top_n"]["coverage"] == 0.75
    # A baseline's pair scores are not kept (nothing writes them): the same metrics, NaN scores.
    unkept, no_pred = evaluate.evaluate_scorer(pop, processed, CFG, keep_scores=False)
    assert unkept == got
    assert np.isnan(no_pred).all() and no_pred.shape == (4,)


def test_relevance_threshold_outside_the_scale_is_a_clear_error(tmp_path: Path) -> None:
    processed = load_processed(write_processed(tmp_path))
    with pytest.raises(AerecError, match=r"evaluate.relevance_threshold 6 lies outside"):
        evaluate.check_threshold(CFG.model_copy(update={"relevance_threshold": 6.0}), processed)


def test_missing_build_output_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AerecError, match=r"train.npz: not found; run the build stage first"):
        load_processed(tmp_path)


def test_dropped_ratings_before_test_are_excluded_and_those_of_test_are_not(
    tmp_path: Path,
) -> None:
    # u2 rated i1 (train part) and i2 (test part) below binarize's threshold.
    processed = load_processed(
        write_seen(write_processed(tmp_path), {(2, 1): "train", (2, 2): "test"})
    )
    assert processed.seen_before_test.toarray().astype(bool).tolist() == [
        [True, True, True, False],
        [True, False, True, False],
        [False, True, False, False],
    ]
    assert processed.seen.toarray().astype(bool).tolist() == [
        [True, True, True, True],
        [True, True, True, True],
        [True, True, True, False],
    ]
    got, _ = evaluate.evaluate_scorer(FixedScorer(np.array(PREDICTED)), processed, CFG)
    # Lists: u0 [i3, -], u1 [i1, i3], u2 [i0, i2] (i1 excluded, i2 of the test part kept).
    assert got["ranking"]["ndcg@2"] == 1.0 and got["ranking"]["users"] == 2
    assert got["top_n"] == {
        "n": 2,
        "coverage": 1.0,
        "arp": approx((0 + 0.5 + 2.0) / 3),
        "popularity_percentile": approx((0 + (1 / 3) / 2 + 5 / 6) / 3),
    }


def test_skipped_baselines_come_from_builds_topn_report(tmp_path: Path) -> None:
    out = write_processed(tmp_path)
    assert evaluate.skipped_baselines(load_processed(out)) == {}
    report = {"pop": {"val_ndcg@10": 0.5}, "ease": {"skipped": "4 items > cap 2"}}
    (out / "topn.json").write_text(json.dumps(report))
    assert evaluate.skipped_baselines(load_processed(out)) == {"ease": "4 items > cap 2"}
    (out / "topn.json").write_text("{")
    with pytest.raises(AerecError, match=r"topn.json: not valid JSON .*; rebuild it"):
        evaluate.skipped_baselines(load_processed(out))
