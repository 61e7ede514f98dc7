"""The train stage: one registered model on build's matrices -> checkpoint.pt + history.csv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aerec.config import Params


def run(
    data_dir: Path,
    out_dir: Path,
    params: Params,
    model: str | None = None,
    restart: bool = False,
    log: bool = True,
    restart_if_changed: bool = False,
) -> dict[str, Any]:
    """Train `model` (default `train.model`) and return fit's summary.

    Only this model's block is read (and checked against its config
    dataclass): dvc.yaml declares exactly `models.<key>` for this stage.
    """
    from aerec.models import model_config
    from aerec.train import fit, load_training_data

    key = model or params.train.model
    model_config(key, params.models.get(key, {}))
    data = load_training_data(Path(data_dir))
    block = params.models.get(key, {})
    return fit(
        key,
        block,
        params.train,
        data,
        Path(out_dir),
        restart=restart,
        restart_if_changed=restart_if_changed,
        log=log,
    )
