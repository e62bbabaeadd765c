"""The shape of a progress report from long work (pool import, issuing, backups, restore).

Long work calls `progress(stage, done, total)` as it goes: a new `stage` name
starts the next step, `done` of `total` items counts within it (`total` None:
a step that cannot be counted). The CLI draws these as progress bars on a
terminal; the daemon logs its own lines. Code that is given no hook uses `quiet`.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressHook = Callable[[str, int, int | None], None]


def quiet(stage: str, done: int = 0, total: int | None = None) -> None:
    """The hook of work nobody watches."""
