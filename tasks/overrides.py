"""A sweep grid checked and written as `dvc exp run -S` overrides.

`-S key=value` goes to DVC's override parser (Hydra's grammar: lists,
sweeps, interpolations, `+key`/`~key`) and from there into params.yaml and
the stage commands. So a grid is refused unless each key is a scalar param
of params.yaml and each value a plain scalar of that param's type; every
grid point must then pass aerec's params check; and the override text is
written here, strings quoted, so DVC can read each value only as a scalar.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from pathlib import Path
from typing import Any

from aerec.config import ParamsError, check_params, read_params_yaml
from aerec.errors import AerecError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
Scalar = bool | int | float | str


class GridError(ValueError):
    """A sweep grid that is refused before any experiment runs; the message says why."""


def grid_overrides(grid: object, params_path: Path) -> list[list[str]]:
    """Every point of `grid` as checked `key=value` overrides, in a stable order.

    `grid` maps dotted params keys to lists of values (strings as a Prefect
    form sends them, or plain numbers and booleans). Raises GridError naming
    the first bad key, value or grid point.
    """
    if not isinstance(grid, dict) or not grid:
        raise GridError("grid: expected a non-empty mapping of params keys to lists of values")
    try:
        raw = read_params_yaml(params_path)
    except AerecError as exc:
        raise GridError(str(exc)) from None
    for key in grid:
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise GridError(f"grid key {key!r}: not a dotted params key such as train.lr")
    keys = sorted(grid)
    choices = []
    for key in keys:
        current = _current(raw, key)
        choices.append([_value(key, value, current) for value in _values(grid, key)])
    points = []
    for combination in itertools.product(*choices):
        _check_point(raw, dict(zip(keys, (value for value, _ in combination), strict=True)))
        points.append([f"{key}={text}" for key, (_, text) in zip(keys, combination, strict=True)])
    return points


def _values(grid: dict, key: str) -> list[Any]:
    values = grid[key]
    if not isinstance(values, list) or not values:
        raise GridError(f"grid key '{key}': expected a non-empty list of values")
    return values


def _current(raw: dict[str, Any], key: str) -> Scalar:
    """The value `key` has in params.yaml; it must exist and be a scalar."""
    node: Any = raw
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise GridError(f"grid key '{key}': not a key of params.yaml")
        node = node[part]
    if not isinstance(node, bool | int | float | str):
        kind = "section" if isinstance(node, dict) else type(node).__name__
        raise GridError(f"grid key '{key}': a {kind} in params.yaml, not a scalar; sweep its keys")
    return node


def _value(key: str, value: object, current: Scalar) -> tuple[Scalar, str]:
    """`value` as the type of the param now in params.yaml, and its override text."""
    where = f"grid key '{key}': value {value!r}"
    if isinstance(current, bool):
        if isinstance(value, bool) or value in ("true", "false"):
            flag = value if isinstance(value, bool) else value == "true"
            return flag, "true" if flag else "false"
        raise GridError(f"{where} is not a boolean (true or false)")
    if isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value, str(value)
        if isinstance(value, str) and _INT.fullmatch(value):
            return int(value), str(int(value))
        raise GridError(f"{where} is not a whole number")
    if isinstance(current, float):
        number = _float(value)
        if number is None or not math.isfinite(number):
            raise GridError(f"{where} is not a finite number")
        return number, repr(number)
    if isinstance(value, str) and _WORD.fullmatch(value):
        # Quoted, DVC reads it as a string even when it looks like 1, true or null.
        return value, f"'{value}'"
    raise GridError(f"{where} is not a plain word (1-64 of A-Z a-z 0-9 . _ -)")


def _float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _FLOAT.fullmatch(value):
        return float(value)
    return None


def _check_point(raw: dict[str, Any], point: dict[str, Scalar]) -> None:
    """The params with this point applied pass aerec's own check (ranges, names, options)."""
    changed = copy.deepcopy(raw)
    for key, value in point.items():
        *parents, leaf = key.split(".")
        node = changed
        for part in parents:
            node = node[part]
        node[leaf] = value
    try:
        check_params(changed)
    except ParamsError as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in point.items())
        raise GridError(f"grid point {shown}: {exc}") from None


class OverrideError(ValueError):
    """Run overrides that are refused before the run starts; the message says why."""


# Keys a run may set although params.yaml holds null (or nothing) there: a local
# dataset's own. Their values are checked by kind here, then by aerec's params check.
_DATASET_KEYS = ("name", "path", "files", "format", "columns", "scale")


def run_params(overrides: object, params_path: Path) -> dict[str, Any]:
    """params.yaml's data with `overrides` (dotted key -> value) applied and checked.

    A key must be a params key (or one of dataset's); a value a scalar of its
    param's type, a plain word where a string, a list of such where a list is;
    dataset.path and dataset.files are paths, dataset.columns and dataset.scale
    mappings. The result must pass aerec's own params check (names, paths,
    ranges), so nothing unchecked reaches params.yaml, dvc.yaml or a shell.
    """
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise OverrideError("overrides: expected a mapping of params keys to values")
    try:
        raw = read_params_yaml(params_path)
    except AerecError as exc:
        raise OverrideError(str(exc)) from None
    changed = copy.deepcopy(raw)
    for key, value in overrides.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise OverrideError(f"override key {key!r}: not a dotted params key such as train.lr")
        *parents, leaf = key.split(".")
        node = changed
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or (leaf not in node and not _dataset_key(key)):
            raise OverrideError(f"override key '{key}': not a key of params.yaml")
        node[leaf] = _override_value(key, value, node.get(leaf))
    try:
        check_params(changed)
    except ParamsError as exc:
        raise OverrideError(f"overrides: {exc}") from None
    return changed


def _dataset_key(key: str) -> bool:
    return key.startswith("dataset.") and key.removeprefix("dataset.") in _DATASET_KEYS


def _override_value(key: str, value: object, current: object) -> Any:
    """`value` checked against its key's kind (and the type of the value it replaces)."""
    where = f"override key '{key}': value {value!r}"
    if key == "dataset.path":
        if not isinstance(value, str):
            raise OverrideError(f"{where} is not a path")
        return value  # check_params holds it to dataset_paths' pattern
    if key == "dataset.files":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise OverrideError(f"{where} is not a list of file names")
        return value
    if key in ("dataset.columns", "dataset.scale"):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise OverrideError(f"{where} is not a mapping")
        if key == "dataset.columns":
            return {_word(where, k): _word(where, v) for k, v in value.items()}
        return {_word(where, k): _number(where, v) for k, v in value.items()}
    if isinstance(current, list):
        if not isinstance(value, list) or not value:
            raise OverrideError(f"{where} is not a non-empty list")
        like = current[0] if current else ""
        return [_override_value(key, v, like) for v in value]
    if isinstance(current, bool | int | float) or (isinstance(current, str) and current):
        try:
            return _value(key, value, current)[0]
        except GridError as exc:
            raise OverrideError(str(exc).replace("grid key", "override key", 1)) from None
    if current is None and value is None:
        return None
    return _word(where, value)


def _word(where: str, value: object) -> str:
    if isinstance(value, str) and _WORD.fullmatch(value):
        return value
    raise OverrideError(f"{where} is not a plain word (1-64 of A-Z a-z 0-9 . _ -)")


def _number(where: str, value: object) -> float:
    number = _float(value)
    if number is None or not math.isfinite(number):
        raise OverrideError(f"{where} is not a finite number")
    return number
