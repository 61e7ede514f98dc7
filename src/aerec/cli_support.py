"""What the `aerec` subcommands share: model keys, output folders, verbatim text."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from aerec.errors import AerecError


def model_option(model: str | None, from_stage: bool, stage: str) -> str | None:
    """The model key: --model, or the item of the DVC foreach stage running us; checked."""
    if from_stage:
        if model is not None:
            raise AerecError("give --model KEY or --model-from-stage, not both")
        return stage_item(stage)
    return None if model is None else checked_key(model, "--model")


def stage_item(stage: str) -> str:
    """The model key of the DVC stage now running, `<stage>@<key>` in $DVC_STAGE.

    DVC sets $DVC_STAGE for every command it runs. Taking the foreach item from
    there, not from `${item}` in the command line, keeps it away from the shell.
    """
    addressing = os.environ.get("DVC_STAGE")
    if addressing is None:
        raise AerecError(
            "--model-from-stage: $DVC_STAGE is not set (only `dvc repro` sets it); "
            "give --model KEY instead"
        )
    # A stage in another folder's dvc.yaml is addressed `<path>/dvc.yaml:<stage>@<key>`.
    match = re.fullmatch(rf"(?:[^@]*dvc\.yaml:)?{stage}@(.*)", addressing, re.DOTALL)
    if match is None:
        raise AerecError(
            f"--model-from-stage: $DVC_STAGE {addressing!r} is not a stage {stage}@<model key>"
        )
    return checked_key(match.group(1), f"$DVC_STAGE {addressing!r}")


def checked_key(key: str, where: str) -> str:
    from aerec.config import check_model_key

    try:
        return check_model_key(key)
    except ValueError as exc:
        raise AerecError(f"{where}: {exc}") from None


def required_key(model: str | None) -> str:
    if model is None:
        raise AerecError("a folder root needs the model key: give --model KEY")
    return model


def folder(
    path: str | None, root: str | None, options: tuple[str, str], name: Callable[[], str]
) -> Path:
    """`path`, or `root/<name()>` (name asked for only then); exactly one of the two."""
    if (path is None) == (root is None):
        raise AerecError(f"give exactly one of {options[0]} or {options[1]}")
    return Path(path) if path is not None else Path(root) / name()


def text(value: object) -> str:
    """`value` as rich markup that shows it verbatim.

    Paths, ids, titles and names come from the user: rich would read `[red]`
    in them as a style and crash on a stray `[/x]`.
    """
    from rich.markup import escape

    return escape(str(value))


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
