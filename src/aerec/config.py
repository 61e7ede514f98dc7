"""params.yaml -> typed config, one section per stage; unknown keys are rejected.

Every value that changes a result lives in params.yaml. Each DVC stage declares
exactly the sections (or keys) its code reads, so DVC re-runs what changed.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from aerec.errors import AerecError


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are an error, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RatingScale(StrictModel):
    """The rating scale a dataset declares: ratings lie in [min, max] on `step`."""

    min: float = 1.0
    max: float = 5.0
    step: float = 1.0

    @model_validator(mode="after")
    def _check(self) -> RatingScale:
        if not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        if self.step < 0:
            raise ValueError("step must be >= 0 (0 means any value in range)")
        return self


class DatasetConfig(StrictModel):
    """Which dataset the pipeline runs on and how to read it."""

    name: str = "ml-100k"
    format: str = "recbole"
    scale: RatingScale = RatingScale()


class Params(StrictModel):
    """The whole params.yaml. Sections are added as stages are added."""

    dataset: DatasetConfig = DatasetConfig()


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and check params.yaml; a bad file or key ends in one AerecError line."""
    path = Path(path)
    if not path.is_file():
        raise AerecError(
            f"{path}: params file not found; run from the project root or pass --params"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise AerecError(
            f"{path}: not valid YAML ({exc.__class__.__name__}); fix the syntax"
        ) from exc
    if not isinstance(raw, dict):
        raise AerecError(f"{path}: expected a mapping of sections at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise AerecError(f"{path}: {_first_error(exc)}") from exc


def _first_error(exc: ValidationError) -> str:
    """One line naming the offending key path and what is wrong with it."""
    err = exc.errors()[0]
    key = ".".join(str(part) for part in err["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if err["type"] == "extra_forbidden":
        return (
            f"unknown key '{key}'{more}; check the spelling against params.yaml's documented keys"
        )
    return f"key '{key}': {err['msg']}{more}"
