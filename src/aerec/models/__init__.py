"""The model registry: one file per model, one line per model here.

Adding a model is one new file (a config dataclass and an `Autoencoder`
subclass), one line in REGISTRY and one block under `models:` in params.yaml;
the tests pick it up from the registry.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aerec.errors import AerecError
from aerec.models.autorec import AutoRec
from aerec.models.base import Autoencoder, DataSpec, check_config
from aerec.models.combined import Combined
from aerec.models.deep_ae import DeepAE
from aerec.models.hybrid import Hybrid
from aerec.models.k_sparse import KSparse
from aerec.models.kernel_ae import KernelAE
from aerec.models.vae import VAE

REGISTRY: dict[str, type[Autoencoder]] = {
    "autorec": AutoRec,
    "deep_ae": DeepAE,
    "hybrid": Hybrid,
    "k_sparse": KSparse,
    "vae": VAE,
    "combined": Combined,
    "kernel_ae": KernelAE,
}


def model_class(key: str) -> type[Autoencoder]:
    """The registered class for `key`, or an AerecError naming the known keys."""
    if key not in REGISTRY:
        raise AerecError(
            f"train.model: unknown model '{key}'; the models are {', '.join(REGISTRY)}"
        )
    return REGISTRY[key]


def model_config(key: str, block: dict[str, Any], where: str = "") -> Any:
    """The config dataclass of model `key` built from its params.yaml block."""
    return check_config(model_class(key).Config, block, where or f"models.{key}")


def build_model(key: str, block: dict[str, Any], spec: DataSpec) -> Autoencoder:
    """A fresh model `key` for data of shape `spec`."""
    return model_class(key)(model_config(key, block), spec)


def config_dict(config: Any) -> dict[str, Any]:
    """A model config as plain dicts/lists (what checkpoints and params.yaml hold)."""
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()
    }
