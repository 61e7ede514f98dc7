"""Reading params.yaml as plain data: UTF-8, YAML syntax and duplicate keys, each one clear line.

aerec.config checks what this returns against the typed sections.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from aerec.errors import AerecError


def read_params_yaml(path: Path | str) -> dict[str, Any]:
    """params.yaml as plain data, unchecked; a file that cannot be read is an AerecError.

    The one line names the path and, for bad bytes, broken syntax or a key
    given twice, the line (and column) to fix.
    """
    path = Path(path)
    if not path.is_file():
        raise AerecError(
            f"{path}: params file not found; run from the project root or pass --params"
        )
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise AerecError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
            "save the file as UTF-8"
        ) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader) or {}
    except _DuplicateKey as exc:
        raise AerecError(
            f"{path}: line {exc.line}: duplicate key '{exc.key}' (first on line {exc.first}); "
            "keep one of them"
        ) from None
    except yaml.YAMLError as exc:
        raise AerecError(f"{path}: {_yaml_problem(exc)}; fix the syntax") from None
    if not isinstance(raw, dict):
        raise AerecError(f"{path}: expected a mapping of sections at the top level")
    return raw


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what PyYAML found wrong, in one line: `line L, column C: not valid YAML (...)`."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or exc.__class__.__name__
    if mark is None:
        return f"not valid YAML ({' '.join(str(exc).split())})"
    return f"line {mark.line + 1}, column {mark.column + 1}: not valid YAML ({problem})"


class _DuplicateKey(Exception):
    """A mapping key given twice: PyYAML would silently keep the last one."""

    def __init__(self, key: object, line: int, first: int) -> None:
        super().__init__(key, line, first)
        self.key, self.line, self.first = key, line, first


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping.

    Two `train:` blocks would otherwise merge silently into the last one and
    drop every key of the first. Keys brought in by a `<<` merge may be
    overridden, as YAML intends; only the mapping's own keys are compared.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in first:
                    raise _DuplicateKey(key, line, first[key])
                first[key] = line
            except TypeError:
                continue  # an unhashable key: SafeLoader itself reports it
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 floats with no dot (1e-05, 2E+3): what ruamel, and so `dvc exp run -S`, writes
# back into params.yaml. PyYAML reads YAML 1.1, where they are strings.
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
