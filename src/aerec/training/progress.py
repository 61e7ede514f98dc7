"""Progress of a training run: a rich bar on a terminal, one plain log line per epoch otherwise."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """A rich progress bar on a terminal, one plain log line per epoch otherwise."""

    def __init__(self, enabled: bool, total_epochs: int) -> None:
        self.tty = enabled and sys.stderr.isatty()
        self.enabled = enabled
        self.total_epochs = total_epochs
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=True
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def start_epoch(self, epoch: int, n_batches: int) -> None:
        if self._bar is not None:
            if self._task is not None:
                self._bar.remove_task(self._task)
            desc = f"epoch {epoch + 1}/{self.total_epochs}"
            self._task = self._bar.add_task(desc, total=n_batches)

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1)

    def end_epoch(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        names = [n for n in ("val_rmse", "val_recall20") if row[n] is not None]
        scores = [f"{name} {row[name]:.4f}" for name in names]
        line = " ".join(
            [
                f"epoch {row['epoch']}/{self.total_epochs} train_loss {row['train_loss']:.4f}",
                *(scores or ["(no validation)"]),
                f"{row['seconds']:.2f}s {row['ratings_per_s']:,.0f} ratings/s",
            ]
        )
        if self._bar is not None:
            self._bar.console.print(line)
        else:
            print(line, file=sys.stderr, flush=True)
