"""Every registered model on a tiny fixture: the loss falls, shapes, save/load, sparse paths."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import yaml
from tests.train_fixture import TINY_BLOCKS, write_tiny

from aerec.config import TrainConfig
from aerec.errors import AerecError
from aerec.inference import Predictor, has_decode, validation_scores
from aerec.models import REGISTRY, build_model, model_config
from aerec.models import sparse as sparse_ops
from aerec.models.base import DataSpec, RatingData, Targets
from aerec.models.sparse import SparseRows, sampled_mm, sparse_mm
from aerec.processed import TrainingData, load_processed
from aerec.training.checkpoint import load_model, read_checkpoint
from aerec.training.loop import fit

ROOT = Path(__file__).resolve().parents[2]
KEYS = sorted(REGISTRY)


def load_training_data(directory: Path) -> TrainingData:
    return load_processed(directory).training()


def _spec(data: TrainingData) -> DataSpec:
    n_users, n_items = data.train.shape
    return DataSpec(n_users, n_items, data.user_side.shape[1], data.item_side.shape[1], 1.0, 5.0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each model trained 8 epochs on the fixture; model key -> output folder."""
    data = load_training_data(data_dir)
    out = {}
    for key in KEYS:
        cfg = TrainConfig(model=key, epochs=8, batch_size=8, lr=1e-2, patience=0)
        out[key] = tmp_path_factory.mktemp(key)
        fit(key, TINY_BLOCKS[key], cfg, data, out[key], log=False)
    return out


def test_every_registered_model_has_a_tiny_block_and_a_params_block() -> None:
    assert set(TINY_BLOCKS) == set(REGISTRY)
    models = yaml.safe_load((ROOT / "params.yaml").read_text())["models"]
    assert set(models) == set(REGISTRY)
    for key, block in models.items():
        model_config(key, block)


def test_unknown_model_key_or_field_is_one_clear_error() -> None:
    with pytest.raises(AerecError, match=r"models.autorec.hiden: unknown key"):
        model_config("autorec", {"hiden": 5})
    with pytest.raises(AerecError, match="unknown model 'nope'"):
        model_config("nope", {})
    with pytest.raises(AerecError, match="activation 'gelu' is not one of"):
        model_config("deep_ae", {"activation": "gelu"})


@pytest.mark.parametrize("key", KEYS)
def test_training_loss_falls(key: str, trained: dict[str, Path]) -> None:
    history = read_checkpoint(trained[key] / "checkpoint.pt")["history"]
    losses = [row["train_loss"] for row in history]
    assert len(losses) == 8
    assert max(losses[-2:]) < losses[0]
    if key != "vae":  # the multinomial NLL is bounded below far from 0 on 20 items
        assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("key", KEYS)
def test_prediction_and_code_shapes(key: str, trained: dict[str, Path], data_dir: Path) -> None:
    model, _ = load_model(trained[key] / "model.pt")
    data = load_training_data(data_dir)
    predictor = Predictor(model, data.train, data.user_side, data.item_side)
    dense = predictor.rows(np.array([3, 0, 7]))
    assert dense.shape == (3, 20)
    pairs = predictor.pairs(np.array([7, 3, 3]), np.array([1, 2, 2]))
    assert pairs.shape == (3,)
    # The pair path and the dense path compute the same outputs; only pairs (ratings) are
    # clipped to the scale, the dense scores rank unclipped.
    same = np.array([dense[2, 1], dense[0, 2], dense[0, 2]])
    if model.predicts_ratings:
        same = np.clip(same, 1.0, 5.0)
        assert pairs.min() >= 1.0 and pairs.max() <= 5.0
    np.testing.assert_allclose(pairs, same, rtol=1e-5, atol=1e-5)
    codes = predictor.codes(np.arange(4))
    assert codes.shape[0] == 4 and codes.ndim == 2


@pytest.mark.parametrize("key", KEYS)
def test_loaded_model_reproduces_the_validation_score_of_training(
    key: str, trained: dict[str, Path], data_dir: Path
) -> None:
    model, info = load_model(trained[key] / "model.pt")
    history = read_checkpoint(trained[key] / "checkpoint.pt")["history"]
    best = history[info["selected_epoch"] - 1]
    data = load_training_data(data_dir)
    if not model.predicts_ratings:
        rating = RatingData(data.train)
        val = SparseRows.from_scipy(data.val)
        assert validation_scores(model, rating, val) == (None, best["val_recall20"])
        return
    val = data.val.tocoo()
    pred = Predictor(model, data.train, data.user_side, data.item_side).pairs(val.row, val.col)
    rmse = math.sqrt(float(np.mean((pred.astype(np.float64) - val.data) ** 2)))
    assert rmse == pytest.approx(best["val_rmse"], rel=1e-6)
    assert info["selection_score"] == best["val_rmse"]


@pytest.mark.parametrize("key", KEYS)
def test_sampled_outputs_equal_the_dense_outputs_at_the_same_entries(
    key: str, data_dir: Path
) -> None:
    data = load_training_data(data_dir)
    torch.manual_seed(0)
    model = build_model(key, TINY_BLOCKS[key], _spec(data)).eval()
    rating = RatingData(data.train, "cpu", data.user_side, data.item_side)
    rows = torch.tensor([0, 5, 2])
    batch = model.make_batch(rating, rows)
    with torch.no_grad():
        dense = model(batch, Targets())
        sampled = model(batch, Targets(pattern=batch.observed))
        cols = torch.tensor([4, 1])
        some = model(batch, Targets(columns=cols))
    obs = batch.observed
    torch.testing.assert_close(sampled, dense[obs.row_ids(), obs.indices], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(some, dense[:, cols], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("key", [k for k in KEYS if has_decode(build_model(k, {}, DataSpec(3, 4)))])
def test_decode_of_the_code_is_the_forward_pass_so_cached_codes_predict_the_same(
    key: str, trained: dict[str, Path], data_dir: Path
) -> None:
    model, _ = load_model(trained[key] / "model.pt")
    data = load_training_data(data_dir)
    rating = RatingData(data.train, "cpu", data.user_side, data.item_side)
    batch = model.make_batch(rating, torch.arange(model.n_rows))
    with torch.no_grad():
        for targets in (
            Targets(),
            Targets(columns=torch.tensor([2, 0])),
            Targets(pattern=batch.observed),
        ):
            torch.testing.assert_close(
                model.decode(model.encode(batch), targets), model(batch, targets)
            )
    # The Predictor of an item-based model reuses its item codes: same rows as a fresh pass.
    predictor = Predictor(model, data.train, data.user_side, data.item_side)
    users = np.array([5, 1])
    first = predictor.rows(users)
    np.testing.assert_allclose(predictor.rows(users), first)
    fresh = Predictor(model, data.train, data.user_side, data.item_side)
    fresh._all_codes = lambda: None  # type: ignore[method-assign]  # the uncached path
    np.testing.assert_allclose(fresh.rows(users), first, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("threads", [1, 3])
def test_sparse_kernels_match_dense_autograd(threads: int, monkeypatch) -> None:
    # Split every product into blocks (as large batches are) over `threads` threads.
    monkeypatch.setattr(sparse_ops, "_SPLIT_MIN_NNZ", 0)
    sparse_ops.set_cpu_threads(threads)
    monkeypatch.setattr(sparse_ops, "_CPU_THREADS", threads)
    gen = torch.Generator().manual_seed(0)
    dense = torch.rand(5, 7, generator=gen) * (torch.rand(5, 7, generator=gen) < 0.4)
    sparse = SparseRows.from_scipy(_csr(dense.numpy()))
    weight = torch.randn(7, 3, generator=gen, requires_grad=True)
    left = torch.randn(5, 3, generator=gen, requires_grad=True)
    ref_w, ref_l = weight.detach().clone().requires_grad_(), left.detach().clone().requires_grad_()

    out = sparse_mm(sparse, weight)
    ref = dense @ ref_w
    torch.testing.assert_close(out, ref)
    sampled = sampled_mm(left, weight, sparse)
    ref_sampled = (ref_l @ ref_w.t())[sparse.row_ids(), sparse.indices]
    torch.testing.assert_close(sampled, ref_sampled)
    (out.sum() + (sampled * torch.arange(sampled.numel())).sum()).backward()
    (ref.sum() + (ref_sampled * torch.arange(sampled.numel())).sum()).backward()
    torch.testing.assert_close(weight.grad, ref_w.grad)
    torch.testing.assert_close(left.grad, ref_l.grad)


def test_cpu_products_do_not_depend_on_the_thread_count(monkeypatch) -> None:
    # Each output row is summed by one thread in one order, so 1, 2 and 3 threads
    # give the same bits; empty rows and columns give exact zeros.
    monkeypatch.setattr(sparse_ops, "_SPLIT_MIN_NNZ", 0)
    monkeypatch.setattr(sparse_ops, "_CPU_THREADS", sparse_ops._CPU_THREADS)  # restored afterwards
    gen = torch.Generator().manual_seed(1)
    dense = torch.rand(9, 11, generator=gen) * (torch.rand(9, 11, generator=gen) < 0.5)
    dense[[2, 7]] = 0.0
    dense[:, [0, 5]] = 0.0
    sparse = SparseRows.from_scipy(_csr(dense.numpy()))
    right = torch.randn(11, 6, generator=gen)
    left = torch.randn(9, 6, generator=gen)
    results = []
    for threads in (1, 2, 3):
        sparse_ops.set_cpu_threads(threads)
        results.append((sparse.mm(right), sparse.t_mm(left), sparse.sample(left, right)))
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other, strict=True))
    product, t_product, sampled = results[0]
    assert product[[2, 7]].abs().sum() == 0 and t_product[[0, 5]].abs().sum() == 0
    torch.testing.assert_close(product, dense @ right)
    torch.testing.assert_close(t_product, dense.t() @ left)
    torch.testing.assert_close(sampled, (left @ right.t())[sparse.row_ids(), sparse.indices])


def test_sparse_rows_select_keep_and_hstack() -> None:
    a = SparseRows.from_scipy(_csr(np.array([[1, 0, 2], [0, 0, 0], [0, 3, 0]], np.float32)))
    b = SparseRows.from_scipy(_csr(np.array([[0, 5], [6, 0], [0, 0]], np.float32)))
    assert a.select(torch.tensor([2, 0, 2])).to_dense().tolist() == [
        [0, 3, 0],
        [1, 0, 2],
        [0, 3, 0],
    ]
    assert a.keep(a.values > 1).to_dense().tolist() == [[0, 0, 2], [0, 0, 0], [0, 3, 0]]
    assert a.hstack(b).to_dense().tolist() == [[1, 0, 2, 0, 5], [0, 0, 0, 6, 0], [0, 3, 0, 0, 0]]


def test_user_mean_fill_equals_a_dense_filled_input() -> None:
    train = np.array([[4, 0, 2], [0, 5, 0], [1, 0, 0], [0, 0, 0]], np.float32)
    data = RatingData(_csr(train))
    means = np.array([3.0, 5.0, 1.0, 3.0], np.float32)  # no ratings: the global mean 12/4
    np.testing.assert_allclose(data.user_mean.numpy(), means, rtol=1e-6)
    filled = np.where(train > 0, train, means[:, None]).astype(np.float32)
    for orientation, inputs in (("user", filled), ("item", filled.T.copy())):
        block = {"hidden": 4, "orientation": orientation, "fill": "user_mean"}
        model = build_model("autorec", block, DataSpec(4, 3)).eval()
        batch = model.make_batch(data, torch.arange(inputs.shape[0]))
        with torch.no_grad():
            code = model.encode(batch)
            expected = torch.sigmoid(torch.from_numpy(inputs) @ model.enc_weight + model.enc_bias)
        torch.testing.assert_close(code, expected)


def _csr(array: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix(array)


@pytest.mark.parametrize("noise_std", [0.0, 0.01, 1.0, 2.0])
def test_vae_latent_noise_is_noise_std_times_a_standard_normal_times_sigma(
    data_dir: Path, noise_std: float
) -> None:
    data = load_training_data(data_dir)
    block = {**TINY_BLOCKS["vae"], "noise_std": noise_std}
    model = build_model("vae", block, _spec(data)).train()  # dropout 0: only the noise is random
    rating = RatingData(data.train, torch.device("cpu"), None, None)
    batch = model.make_batch(rating, torch.arange(6))
    with torch.no_grad():
        torch.manual_seed(3)
        got = model(batch, Targets())
        mu, logvar = model._stats(batch)
        torch.manual_seed(3)
        eps = torch.randn_like(mu) if noise_std > 0 else torch.zeros_like(mu)
        want = model.decode(mu + noise_std * eps * torch.exp(0.5 * logvar), Targets())
    assert torch.equal(got, want)
    assert model_config("vae", {}).noise_std == 1.0  # the paper's, unchanged by default
    with pytest.raises(AerecError, match=r"^models\.vae: noise_std must be >= 0$"):
        model_config("vae", {"noise_std": -0.5})


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"hidden": "big"}, "models.autorec.hidden: expected a whole number, got 'big'"),
        ({"hidden": 2.5}, "models.autorec.hidden: expected a whole number, got 2.5"),
        ({"hidden": True}, "models.autorec.hidden: expected a whole number, got True"),
        ({"l2": "much"}, "models.autorec.l2: expected a number, got 'much'"),
    ],
)
def test_a_param_of_the_wrong_kind_is_one_line_naming_it(block: dict, message: str) -> None:
    with pytest.raises(AerecError) as err:
        model_config("autorec", block)
    assert str(err.value) == message
