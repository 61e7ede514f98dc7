"""One run at a time per workspace, across every deployment: runs queue, never collide.

A nightly run that overlaps a sweep waits for the `aerec-workspace` global
concurrency limit (one slot) instead of failing. The slot is leased: a run
whose worker was killed stops renewing it, and the slot frees itself when
the lease runs out (LEASE_SECONDS), so the next run is not held for ever.
Under the slot, a file lock keeps DVC from ever running twice in one
workspace, should two Prefect servers share it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from prefect import get_client, get_run_logger
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

WORKSPACE_LIMIT = "aerec-workspace"
LEASE_SECONDS = 120.0


class PipelineError(RuntimeError):
    """A stage failed or the workspace is taken; the message says which and why."""


@contextmanager
def workspace_slot(workspace: Path) -> Iterator[None]:
    """Wait for the workspace's one slot, then hold it and the workspace's file lock."""
    ensure_limit()
    get_run_logger().info(f"waiting for the {WORKSPACE_LIMIT!r} slot (one run at a time)")
    slot = concurrency(WORKSPACE_LIMIT, occupy=1, strict=True, lease_duration=LEASE_SECONDS)
    with slot, workspace_lock(workspace):
        yield


def ensure_limit() -> None:
    """Create the one-slot limit unless it exists; a limit an operator changed is kept."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(WORKSPACE_LIMIT)
            return
        except ObjectNotFound:
            pass
        from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

        # Another run may create it first: that is the same limit.
        with suppress(ObjectAlreadyExists):
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=WORKSPACE_LIMIT, limit=1)
            )


@contextmanager
def workspace_lock(workspace: Path) -> Iterator[None]:
    """Hold an exclusive lock on the workspace: DVC must never run twice in one."""
    lock_path = workspace / ".dvc" / "tmp" / "aerec-pipeline.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise PipelineError(f"another aerec pipeline run holds {lock_path}") from exc
        yield
