"""Each dvc.yaml stage declares exactly the params keys and the code its command uses.

Every stage command of dvc.yaml runs in-process on the synthetic dataset with
`load_params` returning a proxy that records each key the code touches. A key
read but not declared would let DVC skip a needed re-run; a key declared but
never read would cause needless ones. Both fail here. The same run records
the aerec modules each command loads (every aerec module but the CLI and the
config is unloaded before each stage, so each stage imports what it needs):
a loaded module that no declared dependency covers would let DVC keep stale
results after a code change; a declared source path nothing loads is a
needless re-run.
"""

from __future__ import annotations

import re
import shlex
import sys
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
        if name == "model_copy":  # refit's copy: what is read from it is read from these params
            return lambda **kw: Recorder(value(**kw), self._prefix, self._reads)
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
            deps = [resolve(d) for d in stage.get("deps", []) if d.startswith("src/")]
            # A ${key} in the command is read by DVC's templating on the code's behalf.
            declared_cmd_vars = [v for v in _VAR.findall(stage["cmd"]) if v != "item"]
            label = f"{name}@{item}" if item else name
            out.append((label, resolve(stage["cmd"]), declared, declared_cmd_vars, deps))
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
    for label, cmd, declared, cmd_vars, deps in _stages(raw):
        reads.clear()
        reads.update(cmd_vars)
        _unload_aerec()
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
        undeclared = [k for k in undeclared if not _runtime_knob(label, k)]
        if undeclared or unread:
            problems.append(
                f"{label}: read but not declared {undeclared}; declared but unread {unread}"
            )
        # fetch's output is pinned by checksums; a code change cannot change it.
        loaded = _loaded_aerec_files() if label != "fetch" else set()
        uncovered = sorted(f for f in loaded if not any(_covers(d, f) for d in deps))
        unused = sorted(d for d in deps if not any(_covers(d, f) for f in loaded))
        if uncovered or unused:
            problems.append(f"{label}: code loaded but not a dep {uncovered}; deps unused {unused}")
    assert problems == [], "\n".join(problems)


# Kept loaded across stages: the entry point and the module whose load_params
# the test wraps. Every stage loads both, so each stage must declare both.
_KEEP = (
    "aerec",
    "aerec.cli",
    "aerec.cli_support",
    "aerec.config",
    "aerec.dataset_paths",
    "aerec.params_file",
    "aerec.errors",
)


def _unload_aerec() -> None:
    package = sys.modules["aerec"]
    for name in [n for n in sys.modules if n == "aerec" or n.startswith("aerec.")]:
        if name not in _KEEP:
            del sys.modules[name]
            child = name.split(".")[1]
            # `from aerec import x` would find the old submodule on the package.
            if name.count(".") == 1 and hasattr(package, child):
                delattr(package, child)


def _loaded_aerec_files() -> set[str]:
    files = set()
    for name, module in list(sys.modules.items()):
        if name == "aerec" or name.startswith("aerec."):
            path = Path(getattr(module, "__file__", "") or "")
            if path.is_file():
                files.add(path.resolve().relative_to(ROOT).as_posix())
    return files


def _covers(dep: str, file: str) -> bool:
    return file == dep or file.startswith(dep.rstrip("/") + "/")


def _runtime_knob(label: str, key: str) -> bool:
    """Read by train, never part of its result, so deliberately not declared there."""
    knobs = ("runtime.threads", "runtime.torch_threads", "runtime.max_restarts")
    return label.startswith("train@") and key in knobs
