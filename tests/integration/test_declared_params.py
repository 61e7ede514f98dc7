"""Each dvc.yaml stage declares exactly the params keys its code reads.

Every stage command of dvc.yaml runs in-process on the synthetic dataset with
`load_params` returning a proxy that records each key the code touches. A key
read but not declared would let DVC skip a needed re-run; a key declared but
never read would cause needless ones. Both fail here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from tests.integration.workspace import ROOT, TINY_PARAMS, merge

from aerec import cli, config

pytestmark = [pytest.mark.integration, pytest.mark.slow]
_VAR = re.compile(r"\$\{([^}]+)\}")


class Recorder:
    """Wraps a config model; every attribute read is recorded as a dotted key."""

    def __init__(self, model: BaseModel, prefix: str, reads: set[str]) -> None:
        self._model, self._prefix, self._reads = model, prefix, reads

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._model, name)
        fields = type(self._model).model_fields
        field = fields.get(name)
        key = self._prefix + ((field.alias or name) if field else name)
        if name == "model_dump":  # reads every field it does not exclude
            return lambda **kw: self._dump(value, fields, kw)
        if field is None:
            raise AssertionError(f"unexpected access {key}")
        if isinstance(value, BaseModel):
            return Recorder(value, key + ".", self._reads)
        if isinstance(value, dict) and name == "models":
            return _Blocks(value, key, self._reads)
        self._reads.add(key)
        return value

    def _dump(self, dump: Any, fields: dict, kw: dict) -> Any:
        excluded = set(kw.get("exclude") or ())
        self._reads.update(
            self._prefix + (f.alias or n) for n, f in fields.items() if n not in excluded
        )
        return dump(**kw)


class _Blocks(dict):
    """The models: section; taking a block out reads models.<key>."""

    def __init__(self, value: dict, key: str, reads: set[str]) -> None:
        super().__init__(value)
        self._key, self._reads = key, reads

    def __getitem__(self, k: str) -> Any:
        self._reads.add(f"{self._key}.{k}")
        return super().__getitem__(k)

    def get(self, k: str, default: Any = None) -> Any:
        self._reads.add(f"{self._key}.{k}")
        return super().get(k, default)

    def items(self):  # type: ignore[override]
        self._reads.update(f"{self._key}.{k}" for k in self)
        return super().items()


def _stages(params: dict) -> list[tuple[str, str, list[str]]]:
    """(name, cmd, declared params) per stage, foreach expanded, ${...} resolved."""
    out = []
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        items = [None]
        if "foreach" in stage:
            items = _lookup(params, _VAR.fullmatch(stage["foreach"]).group(1))
            stage = stage["do"]
        for item in items:

            def resolve(text: str, item: str | None = item) -> str:
                return _VAR.sub(
                    lambda m: item if m.group(1) == "item" else str(_lookup(params, m.group(1))),
                    text,
                )

            declared = [resolve(p) for p in stage.get("params", [])]
            # A ${key} in the command is read by DVC's templating on the code's behalf.
            declared_cmd_vars = [v for v in _VAR.findall(stage["cmd"]) if v != "item"]
            label = f"{name}@{item}" if item else name
            out.append((label, resolve(stage["cmd"]), declared, declared_cmd_vars))
    return out


def _lookup(params: dict, key: str) -> Any:
    for part in key.split("."):
        params = params[part]
    return params


def _covered(key: str, declared: list[str]) -> bool:
    return any(key == d or key.startswith(d + ".") for d in declared)


def test_every_stage_reads_exactly_its_declared_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = merge(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY_PARAMS)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    real_load = config.load_params
    reads: set[str] = set()
    monkeypatch.setattr(
        config, "load_params", lambda p="params.yaml": Recorder(real_load(p), "", reads)
    )
    problems = []
    for label, cmd, declared, cmd_vars in _stages(raw):
        reads.clear()
        reads.update(cmd_vars)
        argv = shlex.split(cmd)
        assert argv[0] == "aerec"
        argv = [
            a
            for arg in argv[1:]
            for a in (sorted(map(str, tmp_path.glob(arg))) if "*" in arg else [arg])
        ]
        monkeypatch.setattr("sys.argv", ["aerec", *argv])
        # As DVC does for every command it runs; foreach stages read their item there.
        monkeypatch.setenv("DVC_STAGE", label)
        try:
            cli.main()
        except SystemExit as exc:
            assert exc.code in (0, None), f"{label}: exit {exc.code}"
        undeclared = sorted(k for k in reads if not _covered(k, declared))
        unread = sorted(
            d for d in declared if not any(_covered(k, [d]) or _covered(d, [k]) for k in reads)
        )
        if undeclared or unread:
            problems.append(
                f"{label}: read but not declared {undeclared}; declared but unread {unread}"
            )
    assert problems == [], "\n".join(problems)
