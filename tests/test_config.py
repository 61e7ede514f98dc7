"""params.yaml loading: typed sections, one-line errors, YAML 1.1/1.2 round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from aerec.config import load_params
from aerec.errors import AerecError

ROOT = Path(__file__).resolve().parents[1]


def test_the_project_params_load_with_the_documented_defaults() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params.dataset.name == "ml-100k"
    assert params.train.models == ["autorec"]
    assert params.train.full_batch == "off"
    assert params.build.split.method == "ml100k"


def test_an_unknown_key_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(AerecError) as err:
        load_params(path)
    assert str(err.value) == (
        f"{path}: unknown key 'train.epoch'; check the spelling against params.yaml's "
        "documented keys"
    )


def test_a_bad_value_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epochs: 0\n")
    with pytest.raises(AerecError, match=r"key 'train.epochs': Input should be greater"):
        load_params(path)


def test_broken_yaml_and_missing_file_are_user_errors(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train: [\n")
    with pytest.raises(AerecError, match="not valid YAML"):
        load_params(path)
    with pytest.raises(AerecError, match="params file not found"):
        load_params(tmp_path / "absent.yaml")


def test_off_and_on_survive_a_yaml_1_2_rewrite(tmp_path: Path) -> None:
    # What `dvc exp run -S` writes: unquoted off/on, booleans to PyYAML.
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  full_batch: off\n  amp: off\n")
    train = load_params(path).train
    assert (train.full_batch, train.amp) == ("off", "off")
    path.write_text("train:\n  full_batch: on\n")
    assert load_params(path).train.full_batch == "on"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train:\n  lr: .inf\n", "key 'train.lr': .inf is not a finite number"),
        ("train:\n  noise_level: -.inf\n", "key 'train.noise_level': -.inf is not a finite number"),
        ("build:\n  threshold: .nan\n", "key 'build.threshold': .nan is not a finite number"),
        (
            "validate:\n  rating_mean_range: [0.1, .nan]\n",
            "key 'validate.rating_mean_range.1': .nan is not a finite number",
        ),
        # The model blocks are checked only when a model is built; a NaN is refused now.
        (
            "models:\n  autorec:\n    l2: .nan\n",
            "key 'models.autorec.l2': .nan is not a finite number",
        ),
        (
            "models:\n  deep_ae:\n    layers: [512, .inf]\n",
            "key 'models.deep_ae.layers.1': .inf is not a finite number",
        ),
    ],
)
def test_a_number_that_is_not_finite_is_refused_at_load(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(AerecError) as err:
        load_params(path)
    assert str(err.value) == f"{path}: {message}; give a finite value"


def test_no_config_section_takes_an_infinite_float_from_code() -> None:
    from pydantic import ValidationError

    from aerec.config import EvaluateConfig, TrainConfig

    with pytest.raises(ValidationError, match="Input should be a finite number"):
        TrainConfig(lr=float("inf"))
    with pytest.raises(ValidationError, match="Input should be a finite number"):
        EvaluateConfig(relevance_threshold=float("nan"))


@pytest.mark.parametrize("section", ["train", "build.split", "build.baselines"])
@pytest.mark.parametrize("seed", [-1, 2**32, 2**70])
def test_a_seed_outside_32_bits_is_one_clear_error(tmp_path: Path, section: str, seed: int) -> None:
    path = tmp_path / "params.yaml"
    parts = section.split(".")
    text = "".join(f"{'  ' * depth}{part}:\n" for depth, part in enumerate(parts))
    path.write_text(text + f"{'  ' * len(parts)}seed: {seed}\n")
    with pytest.raises(AerecError) as err:
        load_params(path)
    assert str(err.value) == (
        f"{path}: key '{section}.seed': a seed is a whole number from 0 to 2**32 - 1 "
        f"(4294967295), got {seed}"
    )


def test_the_largest_seed_loads(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(f"train:\n  seed: {2**32 - 1}\nbuild:\n  split:\n    seed: 0\n")
    params = load_params(path)
    assert (params.train.seed, params.build.split.seed) == (2**32 - 1, 0)


def test_params_that_are_not_utf8_name_the_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_bytes("dataset:\n  name: ml-100k\n  format: caf\xe9\n".encode("latin-1"))
    with pytest.raises(AerecError) as err:
        load_params(path)
    assert str(err.value) == (
        f"{path}: not UTF-8 text (byte 0xe9 on line 3); save the file as UTF-8"
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "train:\n  epochs: 3\n lr: 0.1\n",
            "line 3, column 2: not valid YAML (expected <block end>, but found "
            "'<block mapping start>')",
        ),
        (
            "train: [\n",
            "line 2, column 1: not valid YAML (expected the node content, but found "
            "'<stream end>')",
        ),
        (
            "train:\n\tepochs: 3\n",
            "line 2, column 1: not valid YAML (found character '\\t' that cannot start any token)",
        ),
        (
            "train: lr: 0.1\n",
            "line 1, column 10: not valid YAML (mapping values are not allowed here)",
        ),
    ],
)
def test_a_yaml_syntax_error_names_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(AerecError) as err:
        load_params(path)
    assert str(err.value) == f"{path}: {where}; fix the syntax"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "train:\n  epochs: 3\nevaluate:\n  top_n: 5\ntrain:\n  lr: 0.1\n",
            "line 5: duplicate key 'train' (first on line 1)",
        ),
        (
            "train:\n  lr: 0.1\n  epochs: 3\n  lr: 0.2\n",
            "line 4: duplicate key 'lr' (first on line 2)",
        ),
    ],
)
def test_a_duplicate_key_is_refused_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(AerecError) as err:
        load_params(path)
    assert str(err.value) == f"{path}: {message}; keep one of them"


def test_keys_a_yaml_merge_brings_in_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(
        "models:\n  autorec: &base\n    hidden: 500\n    l2: 1.0\n"
        "  hybrid:\n    <<: *base\n    hidden: 64\n"
    )
    assert load_params(path).models["hybrid"] == {"hidden": 64, "l2": 1.0}


def test_ease_lambdas_must_be_positive_and_the_defaults_include_recboles_500(
    tmp_path: Path,
) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("build:\n  baselines:\n    ease_lambdas: [100, 0]\n")
    with pytest.raises(AerecError) as err:
        load_params(path)
    assert "\n" not in str(err.value)
    assert "ease_lambdas must be a non-empty list of positive numbers" in str(err.value)
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    assert params.build.baselines.ease_lambdas == (100, 200, 500, 1000, 2000)
    assert params.build.baselines.ease_max_items == 10_000
