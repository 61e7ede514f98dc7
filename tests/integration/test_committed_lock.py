"""A fresh clone's dvc.lock describes its own code and params (issue 17: a clone was dirty).

`dvc status` on this checkout, as a fresh clone holds it (no data, no DVC
cache), may only miss data and cached outputs; a code dependency, a param or
a command that differs from dvc.lock means the committed lock is stale: run
`make run` and commit dvc.lock with the reports.
"""

from __future__ import annotations

import json

from tests.integration.workspace import BIN, ROOT, run


def _stale(status: dict) -> list[str]:
    found = []
    for stage, changes in status.items():
        for change in changes:
            if not isinstance(change, dict):
                found.append(f"{stage}: {change}")
                continue
            for path, state in change.get("changed deps", {}).items():
                if path.startswith("src/") or path.startswith("params.yaml"):
                    found.append(f"{stage}: {path} {state}")
            found += [f"{stage}: params {key}" for key in change.get("changed params", {})]
    return found


def test_committed_lock_matches_the_committed_code_and_params() -> None:
    status = json.loads(run([str(BIN / "dvc"), "status", "--json"], ROOT).stdout or "{}")
    assert _stale(status) == [], "dvc.lock is stale: run `make run` and commit dvc.lock"
