"""params.yaml -> typed config, one section per stage; unknown keys are rejected.

Every value that changes a result lives in params.yaml. Each DVC stage declares
exactly the sections (or keys) its code reads, so DVC re-runs what changed.
"""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from aerec.dataset_paths import FETCH_ROOT, check_dataset_path, check_file_name
from aerec.errors import AerecError
from aerec.params_file import read_params_yaml

# Names that become paths and stage names (data/fetched/<name>, models/<key>,
# train@<key>). DVC interpolates them into dvc.yaml before aerec runs, so they
# are held to patterns with no shell, YAML or path meaning at all.
DATASET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MODEL_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")


def check_dataset_name(name: str) -> str:
    """`name` if it is a valid dataset name (DATASET_NAME), else ValueError saying why."""
    if not isinstance(name, str) or not DATASET_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a dataset name: use 1-64 of a-z 0-9 . _ - "
            "starting with a letter or digit"
        )
    return name


def check_model_key(key: str) -> str:
    """`key` if it is a valid model key (MODEL_KEY), else ValueError saying why."""
    if not isinstance(key, str) or not MODEL_KEY.fullmatch(key):
        raise ValueError(
            f"{key!r} is not a model key: use 1-64 of a-z 0-9 _ starting with a letter"
        )
    return key


# numpy's and torch's generators take seeds of 32 bits; larger ones would be
# cut or refused deep inside a stage.
MAX_SEED = 2**32 - 1


def check_seed(seed: int) -> int:
    """`seed` if it lies in 0..2**32 - 1, else ValueError saying so."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"a seed is a whole number from 0 to 2**32 - 1 ({MAX_SEED}), got {seed}")
    return seed


DatasetName = Annotated[str, AfterValidator(check_dataset_name)]
ModelKey = Annotated[str, AfterValidator(check_model_key)]
Seed = Annotated[int, AfterValidator(check_seed)]


class ParamsError(ValueError):
    """Params that fail their check; the message is one line naming the key."""


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are an error, values are frozen.

    No float may be infinite or NaN: YAML spells them .inf and .nan, and one
    would train nothing but NaNs, or pass every range check it is given.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    """Which dataset the pipeline runs on and how to read it.

    Known (`name` in aerec's catalogue, `path` left at FETCH_ROOT): fetched by
    `aerec fetch`, with its own format, columns and scale. Local (`path` is
    your file or folder, relative to the project or absolute; `files` picks
    files inside a folder): `format` is required unless `name` is a known one;
    `columns` maps csv/Parquet columns; `scale` defaults to the format's own.
    """

    name: DatasetName = "ml-100k"
    path: Annotated[str, AfterValidator(check_dataset_path)] = FETCH_ROOT
    files: tuple[Annotated[str, AfterValidator(check_file_name)], ...] = ()
    format: str | None = None
    columns: dict[str, str] | None = None
    scale: RatingScale | None = None

    @field_validator("path", mode="before")
    @classmethod
    def _one_path(cls, value: object) -> object:
        return check_dataset_path(value) if not isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_files(self) -> DatasetConfig:
        if self.files and not is_local(self):
            raise ValueError("files: only with dataset.path set to your own folder")
        return self


def is_local(dataset: DatasetConfig) -> bool:
    """True when the data is the user's own (dataset.path), not a fetched known one."""
    return dataset.path != FETCH_ROOT


def scale_of(dataset: DatasetConfig, summary: dict[str, Any]) -> RatingScale:
    """The rating scale: params' dataset.scale, else the one ingest used (its summary.json).

    With neither (a folder ingest did not write), the 1..5 stars of most formats.
    """
    if dataset.scale is not None:
        return dataset.scale
    scale = summary.get("scale") if isinstance(summary, dict) else None
    return RatingScale(**scale) if isinstance(scale, dict) else RatingScale()


class SplitConfig(StrictModel):
    """How build splits ratings into train, validation and test (seeded).

    `ml100k`: MovieLens 100K u<fold>.base/.test rebuilt from u.data line order;
    `random`: per user, `test_fraction` of the ratings to test; `temporal`: the
    same, the latest ones; `kfold`: per user, fold `fold` of `n_folds` to test;
    `user_holdout`: `holdout_users` of the users each to validation and test,
    with `heldout_fraction` of their ratings to predict and the rest to fold-in.
    Validation is `val_fraction` of each user's remaining training ratings.
    """

    method: Literal["ml100k", "random", "temporal", "kfold", "user_holdout"] = "ml100k"
    fold: int = Field(default=1, ge=1)
    n_folds: int = Field(default=5, ge=2)
    test_fraction: float = Field(default=0.1, ge=0, lt=1)
    val_fraction: float = Field(default=0.1, ge=0, lt=1)
    holdout_users: float = Field(default=0.1, gt=0, lt=0.5)
    heldout_fraction: float = Field(default=0.2, gt=0, lt=1)
    seed: Seed = 42

    @model_validator(mode="after")
    def _check_fold(self) -> SplitConfig:
        folds = 5 if self.method == "ml100k" else self.n_folds
        if self.method in ("ml100k", "kfold") and self.fold > folds:
            raise ValueError(f"fold must be between 1 and {folds} for method '{self.method}'")
        return self


class SideInfoConfig(StrictModel):
    """Categorical side columns to one-/multi-hot encode; absent ones are skipped.

    A string value is split on `separator` (multi-hot), a list value gives one
    feature per element; numbers are categories too (ml-1m age buckets).
    """

    user_columns: tuple[str, ...] = ("gender", "age", "occupation")
    item_columns: tuple[str, ...] = ("genres",)
    separator: str = "|"


class BaselineConfig(StrictModel):
    """Baselines fitted on train: biases (Koren's regularised two-step) and biased MF (ALS).

    Defaults were chosen on the ML-100K u1 validation part (Koren used
    reg_user 10, reg_item 25 on Netflix). The top-N baselines (pop, EASE):
    EASE's lambda is picked on validation from `ease_lambdas`; EASE is
    skipped above `ease_max_items` items (a dense item x item inverse).
    """

    reg_user: float = Field(default=3.0, ge=0)
    reg_item: float = Field(default=5.0, ge=0)
    mf_factors: int = Field(default=10, ge=1)
    mf_reg: float = Field(default=0.1, gt=0)
    mf_iterations: int = Field(default=10, ge=1)
    seed: Seed = 42
    ease_lambdas: tuple[float, ...] = (100.0, 200.0, 500.0, 1000.0, 2000.0)
    ease_max_items: int = Field(default=10_000, ge=1)

    @model_validator(mode="after")
    def _check_ease(self) -> BaselineConfig:
        if not self.ease_lambdas or min(self.ease_lambdas) <= 0:
            raise ValueError("ease_lambdas must be a non-empty list of positive numbers")
        return self


class BuildConfig(StrictModel):
    """The build stage: filters, rating transform, split, side info, baselines.

    `transform`: `raw` keeps ratings; `thumbs` maps 4-5 to 1.0 and 1-3 to 0.1
    (Sephora style; 0 stays unobserved); `binarize` keeps ratings >= `threshold`
    as 1.0 and drops the rest (implicit feedback). The k-core filter
    (`min_user_ratings`, `min_item_ratings`) is iterated to a fixed point.
    """

    min_user_ratings: int = Field(default=1, ge=1)
    min_item_ratings: int = Field(default=1, ge=1)
    transform: Literal["raw", "thumbs", "binarize"] = "raw"
    threshold: float = 3.5
    split: SplitConfig = SplitConfig()
    side: SideInfoConfig = SideInfoConfig()
    baselines: BaselineConfig = BaselineConfig()


Severity = Literal["error", "warn"]


class ValidateSeverity(StrictModel):
    """What each failed check does: `error` stops the pipeline, `warn` is reported and passes."""

    columns: Severity = "error"
    types: Severity = "error"
    not_null: Severity = "error"
    rating_in_scale: Severity = "error"
    rating_on_step: Severity = "error"
    unique_pairs: Severity = "error"
    timestamp_plausible: Severity = "error"
    min_ratings: Severity = "error"
    min_users: Severity = "error"
    min_items: Severity = "error"
    min_ratings_per_user: Severity = "warn"
    side_ids_unique: Severity = "error"
    side_coverage: Severity = "warn"
    rating_mean: Severity = "warn"
    rating_stdev: Severity = "error"
    top_rating_share: Severity = "error"
    reject_share: Severity = "error"


class ValidateConfig(StrictModel):
    """The validate stage: the thresholds of the data checks and their severities.

    The rating mean bounds and the minimum spread are fractions of the scale's
    span (max - min), so one setting fits every dataset's scale. Timestamps must
    lie between `earliest_timestamp` (a date, UTC) and the time of validation.
    `failing_rows` is how many failing rows the report shows per expectation.
    """

    severity: ValidateSeverity = ValidateSeverity()
    earliest_timestamp: date = date(1995, 1, 1)
    min_ratings: int = Field(default=1000, ge=0)
    min_users: int = Field(default=10, ge=0)
    min_items: int = Field(default=10, ge=0)
    min_ratings_per_user: int = Field(default=3, ge=1)
    rating_mean_range: tuple[float, float] = (0.1, 0.95)
    min_rating_stdev: float = Field(default=0.05, ge=0, le=1)
    max_top_rating_share: float = Field(default=0.9, gt=0, le=1)
    max_reject_share: float = Field(default=0.05, ge=0, le=1)
    max_missing_side_share: float = Field(default=0.0, ge=0, le=1)
    failing_rows: int = Field(default=10, ge=0, le=1000)

    @model_validator(mode="after")
    def _check_mean_range(self) -> ValidateConfig:
        low, high = self.rating_mean_range
        if not 0 <= low < high <= 1:
            raise ValueError("rating_mean_range must be [low, high] with 0 <= low < high <= 1")
        return self


class EvaluateConfig(StrictModel):
    """The evaluate stage: ranking cut-offs, relevance, error buckets, top-N lists.

    `ks` are the cut-offs of the ranking metrics; a held-out rating at or above
    `relevance_threshold` (on the scale after build's transform) is a positive.
    `user_activity_edges` and `item_popularity_edges` are the lower bounds of
    the RMSE buckets after the first, which starts at 0 training ratings (the
    cold ones). Coverage and popularity bias describe each user's `top_n` list.
    `fallback` is the baseline that predicts a model's cold users and items.
    """

    ks: tuple[int, ...] = (10, 20)
    relevance_threshold: float = 4.0
    user_activity_edges: tuple[int, ...] = (1, 20, 50, 100, 200)
    item_popularity_edges: tuple[int, ...] = (1, 5, 20, 50, 100, 250)
    top_n: int = Field(default=10, ge=1)
    fallback: Literal["global_mean", "biases", "biased_mf"] = "biases"

    @model_validator(mode="after")
    def _check(self) -> EvaluateConfig:
        if not self.ks or min(self.ks) < 1:
            raise ValueError("ks must be a non-empty list of cut-offs >= 1")
        for name in ("user_activity_edges", "item_popularity_edges"):
            edges = getattr(self, name)
            if list(edges) != sorted(set(edges)) or (edges and edges[0] < 1):
                raise ValueError(f"{name} must be strictly increasing integers >= 1")
        return self


class TrainConfig(StrictModel):
    """The train stage: optimisation, device and schedule (the model is under `models`).

    `model` picks the block under `models:` (and the registry entry). `lr_step`
    decays the learning rate by `lr_gamma` every that many epochs (0: constant).
    `patience`: epochs without a better validation score before stopping (0:
    never stop early). `noise` corrupts the input (denoising training) of any
    model: `gaussian` adds noise of std `noise_level` to the observed inputs,
    `masking` drops each observed input with probability `noise_level`.
    `full_batch`: `on` takes one gradient step over all rows per epoch, `auto`
    does so only on CUDA when the dense matrix fits in an eighth of free GPU
    memory, `off` cuts `batch_size` rows. The device and the CPU threads are
    the `runtime` section's.
    `optimizer: lbfgs` takes one full-batch L-BFGS step of `lbfgs_iters`
    iterations (strong Wolfe line search, `lr` the first step length: 1 is
    usual) per epoch, in fp32, on the exact objective (the L2 terms added to
    the loss); for matrices that fit, as GLocal-K trains.
    `loss`: `mse` (masked squared error over the observed ratings) or `bce`
    (masked binary cross-entropy over the observed entries, for implicit data
    with values in [0, 1] and negatives among them, such as the `thumbs`
    transform; the model needs a sigmoid output). Mult-VAE keeps its own
    multinomial likelihood.
    `refit`: once validation has picked the epoch count, train again from
    scratch on train + validation for that many epochs and keep the last
    weights (validation picks only the count, never the weights).
    """

    model: ModelKey = "autorec"
    # The models the pipeline trains and evaluates side by side (dvc.yaml foreach).
    models: list[ModelKey] = Field(default_factory=lambda: ["autorec"], min_length=1)
    epochs: int = Field(default=200, ge=1)
    batch_size: int = Field(default=256, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    optimizer: Literal["adam", "sgd", "lbfgs"] = "adam"
    lbfgs_iters: int = Field(default=25, ge=1)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    lr_step: int = Field(default=0, ge=0)
    lr_gamma: float = Field(default=0.1, gt=0, le=1)
    weight_decay: float = Field(default=0.0, ge=0)
    patience: int = Field(default=20, ge=0)
    seed: Seed = 42
    amp: Literal["bf16", "fp16", "off"] = "bf16"
    full_batch: Literal["auto", "on", "off"] = "off"
    noise: Literal["none", "gaussian", "masking"] = "none"
    noise_level: float = Field(default=0.0, ge=0)
    loss: Literal["mse", "bce"] = "mse"
    refit: bool = False

    @field_validator("amp", "full_batch", mode="before")
    @classmethod
    def _on_off(cls, value: object) -> object:
        # `dvc exp run -S` rewrites params.yaml in YAML 1.2, where off/on are
        # plain strings and lose their quotes; YAML 1.1 (PyYAML) then reads
        # them as booleans. Read them back as the words they were.
        if isinstance(value, bool):
            return "on" if value else "off"
        return value

    @model_validator(mode="after")
    def _check_noise(self) -> TrainConfig:
        if self.noise == "masking" and self.noise_level >= 1:
            raise ValueError("masking noise_level is a drop probability and must be below 1")
        return self


class RuntimeConfig(StrictModel):
    """How a process runs, not what it computes; read by train, evaluate and recommend.

    `device`: `auto` picks CUDA when present. A checkpoint records the device
    type it trained on (CPU and CUDA give different results), never these
    settings themselves, so changing the threads never restarts a training.
    On the CPU, `threads` (0: every core) run the sparse products, and
    `torch_threads` (0: every core) are torch's own, for the dense layers. It
    is 1 by default: torch's many small ops lost 8x to OpenMP hand-offs on a
    busy 2-core machine (BENCHMARKS.md, Train). The thread count never changes
    a result (each output row is summed by one thread in one order).
    `processes` above 1 trains data-parallel on this machine: `aerec train`
    re-launches itself under torchrun with that many processes (one per GPU
    on a GPU machine), restarting the group up to `max_restarts` times when
    one dies; it is part of a run's identity (its gradients sum in another
    order). Under a torchrun you launch yourself (several machines), the
    group is torchrun's and `processes` is not read.
    """

    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(default=0, ge=0)
    torch_threads: int = Field(default=1, ge=0)
    processes: int = Field(default=1, ge=1, le=1024)
    max_restarts: int = Field(default=3, ge=0)


class BlendConfig(StrictModel):
    """The blend stage: the ridge on the non-negative weights (0: plain NNLS)."""

    ridge: float = Field(default=0.0, ge=0)


class Params(StrictModel):
    """The whole params.yaml. Sections are added as stages are added."""

    dataset: DatasetConfig = DatasetConfig()
    build: BuildConfig = BuildConfig()
    # `validate` would shadow pydantic's BaseModel.validate: the key in
    # params.yaml is `validate`, the attribute `validate_`.
    validate_: ValidateConfig = Field(default=ValidateConfig(), alias="validate")
    evaluate: EvaluateConfig = EvaluateConfig()
    blend: BlendConfig = BlendConfig()
    train: TrainConfig = TrainConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    # One block per model key; a block's keys are the fields of that model's
    # config dataclass, checked by aerec.models when the model is built (the
    # model modules need torch, which params loading must not import).
    models: dict[ModelKey, dict[str, Any]] = Field(default_factory=dict)
    # The search space of `aerec tune`, checked there (aerec.tune_space); no stage reads it.
    tune: dict[str, Any] = Field(default_factory=dict)


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and check params.yaml; a bad file or key ends in one AerecError line."""
    path = Path(path)
    try:
        return check_params(read_params_yaml(path))
    except ParamsError as exc:
        raise AerecError(f"{path}: {exc}") from exc


def check_params(raw: dict[str, Any]) -> Params:
    """Typed params from plain data, or ParamsError naming the first bad key.

    Every number anywhere must be finite, the `models:` blocks too, which are
    otherwise checked only when a model is built.
    """
    bad = _non_finite(raw)
    if bad is not None:
        key, value = bad
        spelled = "-.inf" if value < 0 else ".inf" if value > 0 else ".nan"
        raise ParamsError(f"key '{key}': {spelled} is not a finite number; give a finite value")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(describe_error(exc)) from exc


def _non_finite(node: Any, key: str = "") -> tuple[str, float] | None:
    """The dotted key and value of the first infinite or NaN float under `node`."""
    if isinstance(node, float) and not math.isfinite(node):
        return key, node
    if isinstance(node, dict):
        items = ((f"{key}.{k}" if key else str(k), v) for k, v in node.items())
    elif isinstance(node, list):
        items = ((f"{key}.{i}", v) for i, v in enumerate(node))
    else:
        return None
    return next((bad for k, v in items if (bad := _non_finite(v, k)) is not None), None)


def describe_error(exc: ValidationError) -> str:
    """One line naming the offending key path and what is wrong with it."""
    err = exc.errors()[0]
    # pydantic marks a bad mapping key with a trailing "[key]": the path names it already.
    key = ".".join(str(part) for part in err["loc"] if part != "[key]")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if err["type"] == "extra_forbidden":
        return (
            f"unknown key '{key}'{more}; check the spelling against params.yaml's documented keys"
        )
    # Our own validators' messages are sentences already: drop pydantic's prefix.
    message = str(err["ctx"]["error"]) if err["type"] == "value_error" else err["msg"]
    # A whole-model check (min below max) belongs to no single key.
    return f"key '{key}': {message}{more}" if key else f"{message}{more}"
