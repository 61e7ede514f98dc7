"""The train stage: one registered model on build's matrices -> checkpoint, history, model.pt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aerec.config import Params
from aerec.errors import AerecError


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
    With `runtime.processes` above 1 the command runs again under torchrun
    (data-parallel, aerec.training.distributed) and this process ends there.
    The data is build's folder through the one reader (aerec.processed), so
    validation sees the fold-in rows of a user-holdout split.
    """
    from aerec.models import model_config
    from aerec.processed import load_processed
    from aerec.training import distributed
    from aerec.training.loop import fit

    runtime = params.runtime
    if runtime.processes > 1 and distributed.from_env() is None:
        distributed.relaunch(runtime.processes, runtime.max_restarts)
    key = model or params.train.model
    block = params.models.get(key, {})
    model_config(key, block)
    data = load_processed(Path(data_dir)).training()
    if data.val.nnz == 0:
        raise AerecError(
            f"{Path(data_dir) / 'val.npz'}: the validation split is empty, so no epoch can be "
            "chosen; set build.split.val_fraction above 0 (or a split method that leaves "
            "validation ratings) and run build again"
        )
    return fit(
        key,
        block,
        params.train,
        data,
        Path(out_dir),
        runtime=params.runtime,
        restart=restart,
        restart_if_changed=restart_if_changed,
        log=log,
    )
