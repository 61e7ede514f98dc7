"""The `tune:` section of params.yaml: a search space, checked, and a trial's values applied.

A space maps a dotted params key (`train.<field>` or `models.<key>.<field>`)
to a range (`low`, `high`, optional `log` or `step`; whole numbers give an
integer range) or to `choices`. Every value a trial can take ends up on a
`dvc exp run -S key=value` command line, so keys are dotted plain names and
values are numbers, booleans or plain words. No dvc stage reads this section.
"""

from __future__ import annotations

import math
import re
import shlex
from typing import Any

from pydantic import Field, StrictBool, StrictFloat, StrictInt, ValidationError, model_validator

from aerec.config import Params, ParamsError, Seed, StrictModel, TrainConfig, describe_error
from aerec.errors import AerecError

PARAM_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}(\.[a-z][a-z0-9_]{0,63}){1,2}")
PLAIN_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
# Keys a trial may not change: which model runs is the command's --model.
FIXED_TRAIN = {"model", "models"}

Value = StrictBool | StrictInt | StrictFloat | str


def check_value(value: Any) -> Any:
    """`value` if it is safe on a command line (number, boolean, plain word), else ValueError."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    if isinstance(value, str) and PLAIN_WORD.fullmatch(value):
        return value
    raise ValueError(
        f"{value!r} is not a number, boolean or plain word (1-64 of A-Z a-z 0-9 _ . -)"
    )


class Range(StrictModel):
    """low..high; integer when both ends are whole numbers; `log` or `step`, not both."""

    low: StrictInt | StrictFloat
    high: StrictInt | StrictFloat
    log: bool = False
    step: StrictInt | StrictFloat | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low above 0, got {self.low}")
        if self.log and self.step is not None:
            raise ValueError("give log or step, not both")
        return self

    @property
    def is_int(self) -> bool:
        ends = (self.low, self.high, self.step if self.step is not None else 1)
        return all(isinstance(v, int) for v in ends)


class Choices(StrictModel):
    """One of a list of numbers, booleans or plain words."""

    choices: list[Value] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Choices:
        for value in self.choices:
            check_value(value)
        return self


class TuneConfig(StrictModel):
    """The search: its space, the TPE sampler's seed and the median pruner's settings."""

    space: dict[str, Range | Choices] = Field(min_length=1)
    seed: Seed = 42
    prune: bool = True  # median pruning on the per-epoch validation score
    startup_trials: int = Field(default=5, ge=0)  # finished trials before pruning starts
    warmup_epochs: int = Field(default=0, ge=0)  # epochs of a trial never pruned


def load_tune(params: Params, model: str) -> TuneConfig:
    """The checked `tune:` section for tuning `model`; anything wrong is one AerecError line."""
    raw = params.tune
    if not raw:
        raise AerecError(
            "params tune: no search space; add e.g. tune: {space: {train.lr: "
            "{low: 0.0001, high: 0.01, log: true}}}"
        )
    try:
        cfg = TuneConfig.model_validate(_typed_space(raw))
    except ValidationError as exc:
        raise AerecError(f"params tune: {describe_error(exc)}") from None
    except ParamsError as exc:
        raise AerecError(f"params tune: {exc}") from None
    # Another model's keys belong to its own searches: one space serves several models.
    space = {k: v for k, v in cfg.space.items() if not _other_model(k, model)}
    if not space:
        raise AerecError(f"params tune.space: nothing for train or models.{model} to search")
    for key, spec in space.items():
        _check_key(key, model)
        for value in _corners(spec):
            apply(params, model, {key: value})
    return cfg.model_copy(update={"space": space})


def _other_model(key: str, model: str) -> bool:
    parts = key.split(".")
    return len(parts) == 3 and parts[0] == "models" and parts[1] != model


def _typed_space(raw: Any) -> Any:
    """`raw` with each space entry made a Range or Choices by its keys (one clear error)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("space"), dict):
        return raw
    space = {}
    for key, spec in raw["space"].items():
        if not isinstance(spec, dict):
            raise ParamsError(f"key 'space.{key}': give {{low: .., high: ..}} or {{choices: [..]}}")
        kind = Choices if "choices" in spec else Range
        try:
            space[key] = kind.model_validate(spec)
        except ValidationError as exc:
            raise ParamsError(f"space.{key}: {describe_error(exc)}") from None
    return {**raw, "space": space}


def _check_key(key: str, model: str) -> None:
    if not PARAM_KEY.fullmatch(key):
        raise AerecError(f"params tune.space: {key!r} is not a dotted params key")
    parts = key.split(".")
    if parts[0] == "train" and len(parts) == 2:
        if parts[1] in FIXED_TRAIN or parts[1] not in TrainConfig.model_fields:
            raise AerecError(
                f"params tune.space.{key}: not a train key a trial can change; "
                f"tunable: {', '.join(sorted(set(TrainConfig.model_fields) - FIXED_TRAIN))}"
            )
        return
    if parts[0] == "models" and len(parts) == 3 and parts[1] == model:
        return
    raise AerecError(
        f"params tune.space.{key}: a search changes train.<key> or models.{model}.<key> only"
    )


def _corners(spec: Range | Choices) -> list[Any]:
    return list(spec.choices) if isinstance(spec, Choices) else [spec.low, spec.high]


def apply(params: Params, model: str, values: dict[str, Any]) -> tuple[TrainConfig, dict[str, Any]]:
    """The train config and model block of a trial: params with `values` set, both checked."""
    from aerec.models import model_config

    train = params.train.model_dump()
    block = dict(params.models.get(model, {}))
    for key, value in values.items():
        section, *rest = key.split(".")
        if section == "train":
            train[rest[0]] = value
        else:
            block[rest[1]] = value
    try:
        cfg = TrainConfig.model_validate(train)
    except ValidationError as exc:
        raise AerecError(f"params tune.space, train: {describe_error(exc)}") from None
    model_config(model, block, f"params tune.space: models.{model}")
    return cfg, block


def format_value(value: Any) -> str:
    """A value as YAML reads it back with its type (a float always has a dot)."""
    check_value(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text
    return str(value)


def dvc_command(values: dict[str, Any], model: str, params: Params) -> str:
    """The `dvc exp run -S key=value ...` line that records `values` as a DVC experiment.

    A key params.yaml does not spell out is `++key=value`: DVC (Hydra's
    override syntax) refuses to set a plain key that is not in the file.
    """
    sets = [_override(params, "train.model", model)]
    if model not in params.train.models:
        sets.append(_override(params, "train.models", f"[{model}]"))
    for key, value in sorted(values.items()):
        if not PARAM_KEY.fullmatch(key):
            raise AerecError(f"tune: {key!r} is not a dotted params key")
        try:
            sets.append(_override(params, key, format_value(value)))
        except ValueError as exc:
            raise AerecError(f"tune: {key}: {exc}") from None
    return "dvc exp run " + " ".join(f"-S {shlex.quote(s)}" for s in sets)


def _override(params: Params, key: str, text: str) -> str:
    section, *rest = key.split(".")
    if section == "train":
        given = rest[0] in params.train.model_fields_set
    else:
        given = rest[1] in params.models.get(rest[0], {})
    return f"{key}={text}" if given else f"++{key}={text}"
