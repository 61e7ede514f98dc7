"""The evaluate and compare stages and the recommend command on a tiny model trained by fit."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from tests.browser import distinct_colours, external_urls, screenshot
from tests.evaluation_fixture import write_items, write_processed

from aerec.cli import main
from aerec.config import Params, RuntimeConfig, TrainConfig
from aerec.errors import AerecError
from aerec.inference import Predictor
from aerec.models import REGISTRY
from aerec.processed import load_processed
from aerec.scoring import ModelScorer, load_baseline_scorers, load_model_scorer
from aerec.stages import compare, evaluate
from aerec.training.loop import fit

CPU = RuntimeConfig(device="cpu", threads=1)


def load_training_data(directory: Path):
    return load_processed(directory).training()


PARAMS = Params.model_validate({"dataset": {"name": "fixture"}})


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(processed dir, model dir) with an I-AutoRec of 4 hidden units trained for 2 epochs."""
    root = tmp_path_factory.mktemp("stage")
    processed = write_processed(root / "processed")
    cfg = TrainConfig(epochs=2, batch_size=2, amp="off")
    model_dir = root / "models" / "autorec"
    data = load_training_data(processed)
    fit("autorec", {"hidden": 4}, cfg, data, model_dir, log=False, runtime=CPU)
    return processed, model_dir


@pytest.fixture(scope="module")
def evaluated(trained: tuple[Path, Path]) -> tuple[Path, dict]:
    """The stage run once: (its output dir, its summary)."""
    processed, model_dir = trained
    root = processed.parent
    out = root / "reports" / "evaluation" / "autorec"
    validation = root / "reports" / "validation" / "fixture" / "index.html"
    return out, evaluate.run(processed, model_dir, out, PARAMS, validation)


@pytest.mark.parametrize(
    ("orientation", "cold_users", "cold_items"),
    [
        # Item-based: users are output units, so user 2 (validation only) is cold.
        ("item", [False, False, True], [False, False, True, False]),
        # User-based: items are output units, so item 3 (validation only) is cold.
        ("user", [False, False, False], [False, False, True, True]),
    ],
)
def test_cold_means_no_input_or_an_output_unit_that_never_trained(
    orientation: str, cold_users: list[bool], cold_items: list[bool]
) -> None:
    import scipy.sparse as sp

    train = sp.csr_matrix(np.array([[5, 3, 0, 0], [4, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    val = sp.csr_matrix(np.array([[0, 0, 0, 0], [0, 0, 0, 2], [0, 1, 0, 0]], dtype=np.float32))
    predictor = SimpleNamespace(model=SimpleNamespace(orientation=orientation), inputs=train + val)
    scorer = ModelScorer(predictor, train, fallback=None)  # type: ignore[arg-type]
    assert scorer.cold_users.tolist() == cold_users
    assert scorer.cold_items.tolist() == cold_items


def test_model_scorer_hands_cold_users_and_items_to_the_fallback(
    trained: tuple[Path, Path],
) -> None:
    processed_dir, model_dir = trained
    processed = load_processed(processed_dir)
    biases = load_baseline_scorers(processed)["biases"]
    scorer = load_model_scorer(model_dir, processed, biases)
    users, items = np.array([0, 1, 1, 2]), np.array([3, 1, 3, 0])
    got = scorer.pairs(users, items)
    # (0,3) and (1,3): item 3 is cold; (2,0): user 2 is cold; (1,1) is the model's.
    cold = [0, 2, 3]
    assert got[cold].tolist() == biases.pairs(users[cold], items[cold]).tolist()
    assert got[1] == Predictor(scorer.model, processed.inputs).pairs(users[1:2], items[1:2])[0]
    block = scorer.rows(np.array([1, 2]))
    assert block[1].tolist() == biases.rows(np.array([2]))[0].tolist()
    assert block[0, 3] == biases.pairs(np.array([1]), np.array([3]))[0]


def test_stage_writes_metrics_predictions_embeddings_plots_and_page(
    evaluated: tuple[Path, dict],
) -> None:
    out, summary = evaluated
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        ".aerec-output",
        "buckets.json",
        "embeddings.parquet",
        "index.html",
        "metrics.json",
        "plots",
        "plots/predictions.png",
        "plots/rmse_item_popularity.png",
        "plots/rmse_user_activity.png",
        "plots/training_curves.png",
        "predictions.parquet",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == ["model", "baselines"]
    assert list(metrics["baselines"]) == ["biased_mf", "biases", "global_mean", "pop", "ease"]
    # pop and EASE rank only: no rating errors, ranking metrics as for any method.
    for name in ("pop", "ease"):
        assert metrics["baselines"][name]["rating"] == {"n": 4, "rmse": None, "mae": None}
        assert metrics["baselines"][name]["ranking"]["users"] == 2
    assert list(metrics["model"]) == ["rating", "cold_users", "cold_items", "ranking", "top_n"]
    buckets = json.loads((out / "buckets.json").read_text())
    assert list(buckets["model"]) == ["user_activity", "item_popularity"]
    assert list(buckets["baselines"]["biases"]["user_activity"]) == [
        "0", "1-19", "20-49", "50-99", "100-199", "200+",
    ]  # fmt: skip
    assert buckets["model"]["user_activity"]["0"]["n"] == 1
    assert metrics["model"]["rating"]["n"] == 4
    assert metrics["model"]["cold_users"]["n"] == 1
    assert metrics["model"]["cold_items"]["n"] == 2
    assert summary["model"] == "autorec"
    assert summary["rmse"]["autorec"] == metrics["model"]["rating"]["rmse"]


def test_predictions_carry_original_ids_and_the_fallback_for_cold_pairs(
    trained: tuple[Path, Path], evaluated: tuple[Path, dict]
) -> None:
    out, _ = evaluated
    frame = pl.read_parquet(out / "predictions.parquet")
    assert frame.drop("prediction").rows() == [
        ("u0", "i3", 4.0, False, True),
        ("u1", "i1", 5.0, False, False),
        ("u1", "i3", 1.0, False, True),
        ("u2", "i0", 3.0, True, False),
    ]
    biases = load_baseline_scorers(load_processed(trained[0]))["biases"]
    cold = biases.pairs(np.array([0, 1, 2]), np.array([3, 3, 0])).astype(np.float32)
    assert frame["prediction"].to_numpy()[[0, 2, 3]].tolist() == np.clip(cold, 1, 5).tolist()


def test_embeddings_are_the_item_codes_of_i_autorec(evaluated: tuple[Path, dict]) -> None:
    frame = pl.read_parquet(evaluated[0] / "embeddings.parquet")
    assert frame.columns == ["item_id", "code_0", "code_1", "code_2", "code_3"]
    assert frame["item_id"].to_list() == ["i0", "i1", "i2", "i3"]


def test_page_is_self_contained_and_links_the_validation_report(
    evaluated: tuple[Path, dict],
) -> None:
    page = (evaluated[0] / "index.html").read_text(encoding="utf-8")
    assert external_urls(page) == []
    assert 'href="../../validation/fixture/index.html"' in page
    assert page.count('src="data:image/png;base64,') == 4


def test_overview_page_compares_the_evaluated_models(
    evaluated: tuple[Path, dict], tmp_path: Path
) -> None:
    out = evaluated[0]
    index = out.parent / "index.html"
    validation = out.parents[1] / "validation" / "fixture" / "index.html"
    summary = compare.write_overview([out], index, PARAMS, validation)
    assert summary == {"models": ["autorec"], "out": str(index)}
    page = index.read_text(encoding="utf-8")
    assert 'href="../validation/fixture/index.html"' in page
    assert "<h2>RMSE by user activity (training ratings per user)</h2>\n<div" in page
    assert external_urls(page) == []


@pytest.mark.slow
def test_stage_page_renders_offline_in_chromium(
    evaluated: tuple[Path, dict], tmp_path: Path
) -> None:
    png = tmp_path / "page.png"
    screenshot(evaluated[0] / "index.html", png)
    assert distinct_colours(png) > 50


def test_a_model_trained_on_other_matrices_is_refused(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    other = load_processed(write_processed(tmp_path / "other", extra_items=2))
    fallback = load_baseline_scorers(other)["biases"]
    with pytest.raises(AerecError, match=r"trained on another build \(3 x 4, train 4 ratings"):
        load_model_scorer(trained[1], other, fallback)


def _aerec(
    args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> tuple[int, str, str]:
    """Run `aerec ARGS` in-process through main() (its error handling): (code, out, err)."""
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["aerec", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out = capsys.readouterr()
    return exited.value.code or 0, out.out, out.err


def test_recommend_command_for_known_and_unknown_users(
    trained: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    processed, model_dir = trained
    root = processed.parent
    (root / "params.yaml").write_text("dataset: {name: fixture}\n")
    items = write_items(root / "items.parquet")
    common = ["--data", str(processed), "--model-dir", str(model_dir), "--items", str(items)]
    code, out, err = _aerec(["recommend", "--user", "nobody", "-n", "2", *common], root,
                            monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    assert "user 'nobody' is not in the training data" in out
    assert "Zero" in out
    code, out, err = _aerec(["recommend", *common], root, monkeypatch, capsys)
    assert code == 2
    assert err == "aerec: error: recommend: give exactly one of --user ID or --all\n"


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_every_registered_model_is_scored_and_encoded(key: str, tmp_path: Path) -> None:
    processed_dir = write_processed(tmp_path / "processed")
    cfg = TrainConfig(epochs=1, batch_size=2, amp="off")
    fit(key, {}, cfg, load_training_data(processed_dir), tmp_path / key, log=False, runtime=CPU)
    processed = load_processed(processed_dir)
    scorer = load_model_scorer(
        tmp_path / key, processed, load_baseline_scorers(processed)["biases"]
    )
    got, pred = evaluate.evaluate_scorer(scorer, processed, PARAMS.evaluate)
    assert pred.shape == (4,)
    assert got["ranking"]["users"] == 2
    assert (got["rating"]["rmse"] is None) == (key == "vae")  # Mult-VAE scores, not ratings
    orientation, codes = scorer.codes()
    assert codes.shape[0] == (3 if orientation == "user" else 4)


def test_a_model_trained_on_another_split_of_the_same_matrix_is_refused(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    """Same users, items and ratings, another split: scoring would read its training ratings."""
    import scipy.sparse as sp

    other = write_processed(tmp_path / "other")
    train, test = sp.load_npz(other / "test.npz").tolil(), sp.load_npz(other / "train.npz").tolil()
    sp.save_npz(other / "train.npz", train.tocsr())
    sp.save_npz(other / "test.npz", test.tocsr())
    processed = load_processed(other)
    fallback = load_baseline_scorers(processed)["biases"]
    with pytest.raises(AerecError) as err:
        load_model_scorer(trained[1], processed, fallback)
    assert str(err.value) == (
        f"{trained[1] / 'model.pt'}: trained on another build (3 x 4, train 4 ratings summing "
        f"to 14.0, validation 1), but {other} holds 3 x 4, train 4 ratings summing to 13.0, "
        "validation 1; train again on this build (aerec train) or evaluate the build it was "
        "trained on"
    )


def test_evaluate_and_recommend_run_with_the_runtime_threads(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    import torch

    from aerec.models import sparse
    from aerec.stages.recommend import load_recommender

    processed, model_dir = trained
    params = PARAMS.model_copy(update={"runtime": RuntimeConfig(threads=3, torch_threads=2)})
    before = torch.get_num_threads()
    try:
        evaluate.run(processed, model_dir, tmp_path / "eval", params)
        assert (sparse._CPU_THREADS, torch.get_num_threads()) == (3, 2)
        params = PARAMS.model_copy(update={"runtime": RuntimeConfig(threads=1, torch_threads=1)})
        load_recommender(processed, model_dir, params, None)
        assert (sparse._CPU_THREADS, torch.get_num_threads()) == (1, 1)
    finally:
        torch.set_num_threads(before)


def test_non_finite_ratings_in_a_build_are_one_line(tmp_path: Path) -> None:
    import numpy as np
    import scipy.sparse as sp

    out = write_processed(tmp_path / "p")
    train = sp.load_npz(out / "train.npz")
    train.data[1] = np.nan
    sp.save_npz(out / "train.npz", train)
    with pytest.raises(AerecError) as err:
        load_processed(out)
    assert str(err.value) == (
        f"{out / 'train.npz'}: 1 values are NaN or infinite; rebuild it (aerec build)"
    )
