"""The blend stage: non-negative weights for the trained models and rating baselines.

Members are every model folder under the model root with a rating model
(model.pt and checkpoint.pt) and every rating baseline build fitted (global
mean, biases, biased MF; pop and EASE rank, they predict no ratings). The
weights are fitted on the validation ratings, with each model's
validation-best weights from checkpoint.pt scoring from the training inputs
(never from validation itself); they are then applied once to the members'
test predictions, each model's served model.pt (the refit one when
`train.refit`) scoring as evaluate does. Writes out_dir/metrics.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aerec import metrics as m
from aerec.blend import Blend, fit_blend
from aerec.config import Params
from aerec.errors import AerecError
from aerec.inference import Predictor
from aerec.io import atomic_folder, write_json
from aerec.processed import Processed, load_processed
from aerec.scoring import ModelScorer, Scorer, entries, load_baseline_scorers, load_model_scorer
from aerec.training.checkpoint import CHECKPOINT_FILE, MODEL_FILE, model_from, read_checkpoint

METRICS_FILE = "metrics.json"


def model_dirs(model_root: Path) -> list[Path]:
    """The model folders under `model_root` holding both model.pt and checkpoint.pt, by name."""
    if not model_root.is_dir():
        return []
    return sorted(
        d
        for d in model_root.iterdir()
        if (d / MODEL_FILE).is_file() and (d / CHECKPOINT_FILE).is_file()
    )


def validation_scorer(model_dir: Path, processed: Processed, fallback: Scorer) -> ModelScorer:
    """The selection run's validation-best weights, scoring from the validation inputs only."""
    path = model_dir / CHECKPOINT_FILE
    ckpt = read_checkpoint(path)
    if ckpt.get("best_state") is None:
        raise AerecError(f"{path}: has no validation-best weights; train the model to the end")
    model = model_from(path, ckpt)
    model.load_state_dict(ckpt["best_state"])
    model.eval()
    data = processed.training()
    predictor = Predictor(model, data.val_inputs, processed.user_side, processed.item_side)
    return ModelScorer(predictor, processed.train, fallback)


def member_scorers(
    model_root: Path, processed: Processed, params: Params
) -> tuple[dict[str, Scorer], dict[str, Scorer]]:
    """({member: validation scorer}, {member: test scorer}): the models first, then baselines."""
    baselines = {
        name: b
        for name, b in load_baseline_scorers(processed, topn=False).items()
        if b.predicts_ratings
    }
    fallback = baselines[params.evaluate.fallback]
    folders = model_dirs(model_root)
    if not folders:
        raise AerecError(
            f"{model_root}: holds no trained model (<key>/model.pt and checkpoint.pt); "
            "run `aerec train` first or pass --model-root"
        )
    val: dict[str, Scorer] = {}
    test: dict[str, Scorer] = {}
    for folder in folders:
        served = load_model_scorer(folder, processed, fallback)
        if not served.predicts_ratings:
            continue  # Mult-VAE's log-probabilities are not ratings
        val[folder.name] = validation_scorer(folder, processed, fallback)
        test[folder.name] = served
    for name, scorer in baselines.items():
        val[name] = test[name] = scorer
    return val, test


def predictions(scorers: dict[str, Scorer], part: Any, lo: float, hi: float) -> np.ndarray:
    """(pairs x members) clipped predictions of every member for the stored entries of `part`."""
    users, items, _ = entries(part)
    return np.column_stack([m.clip(s.pairs(users, items), lo, hi) for s in scorers.values()])


def report(
    blend: Blend,
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    lo: float,
    hi: float,
) -> dict[str, Any]:
    """metrics.json: each member's weight and validation/test errors, and the blend's."""
    members = {
        name: {
            "weight": float(blend.weights[j]),
            "val": m.rating_errors(val[1], val[0][:, j], lo, hi),
            "test": m.rating_errors(test[1], test[0][:, j], lo, hi),
        }
        for j, name in enumerate(blend.members)
    }
    return {
        "members": members,
        "intercept": blend.intercept,
        "blend": {
            "val": m.rating_errors(val[1], blend.apply(val[0]), lo, hi),
            "test": m.rating_errors(test[1], blend.apply(test[0]), lo, hi),
        },
    }


def run(data_dir: Path, model_root: Path, out_dir: Path, params: Params) -> dict[str, Any]:
    """Fit the blend on validation, apply it to test, write out_dir/metrics.json; return it."""
    processed = load_processed(Path(data_dir))
    if processed.val.nnz == 0:
        raise AerecError(f"{data_dir}: has no validation ratings to fit a blend on")
    lo, hi = processed.scale
    val_scorers, test_scorers = member_scorers(Path(model_root), processed, params)
    val = (predictions(val_scorers, processed.val, lo, hi), processed.val.data)
    test = (predictions(test_scorers, processed.test, lo, hi), processed.test.data)
    blend = fit_blend(tuple(val_scorers), val[0], val[1], params.blend.ridge)
    result = {"ridge": params.blend.ridge, **report(blend, val, test, lo, hi)}
    with atomic_folder(Path(out_dir), "blend", (METRICS_FILE,)) as tmp:
        write_json(result, tmp / METRICS_FILE)
    return result


def describe(result: dict[str, Any]) -> str:
    """One line: the blend's test RMSE, each member's weight (and test RMSE), the intercept."""
    members = ", ".join(
        f"{name} {r['weight']:.3f} ({r['test']['rmse']:.4f})"
        for name, r in result["members"].items()
    )
    return (
        f"test RMSE {result['blend']['test']['rmse']:.4f}; weights (test RMSE): {members}; "
        f"intercept {result['intercept']:.3f}"
    )
