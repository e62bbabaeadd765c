"""Progress bars for long work, drawn with `rich` on a terminal only.

Nothing is drawn with --json, or when stdout or stderr is not a terminal
(piped, redirected, run by cron or a script): their output stays exactly the
result. Bars go to stderr, so stdout carries only the result.
"""

from __future__ import annotations

import argparse
import sys
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from lls.cli.args import wants_json


class StageProgress:
    """A `ProgressHook` (lls.progress) that draws one bar per stage; a no-op when disabled."""

    def __init__(self, title: str, stream: TextIO | None) -> None:
        self.title = title
        self._bars: Progress | None = None
        if stream is not None:
            self._bars = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=stream, force_terminal=True),
                transient=False,
            )
        self._task: TaskID | None = None
        self._stage = ""

    @property
    def enabled(self) -> bool:
        return self._bars is not None

    def stage(self, stage: str, done: int = 0, total: int | None = None) -> None:
        """Start or update `stage` (see lls.progress): a new name closes the previous bar."""
        if self._bars is None:
            return
        if stage != self._stage:
            self._close_stage()
            self._stage = stage
            self._task = self._bars.add_task(stage, total=total)
        assert self._task is not None
        self._bars.update(self._task, completed=done, total=total)

    def _close_stage(self) -> None:
        if self._bars is None or self._task is None:
            return
        task = next(t for t in self._bars.tasks if t.id == self._task)
        done = task.total if task.total is not None else max(task.completed, 1)
        self._bars.update(self._task, completed=done, total=done)

    def __enter__(self) -> StageProgress:
        if self._bars is not None:
            self._bars.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bars is None:
            return
        if exc_type is None:
            self._close_stage()
        self._bars.stop()


def progress_for(args: argparse.Namespace, title: str) -> StageProgress:
    """Bars on stderr when a person watches (both streams are terminals, no --json)."""
    watched = not wants_json(args) and sys.stdout.isatty() and sys.stderr.isatty()
    return StageProgress(title, sys.stderr if watched else None)
