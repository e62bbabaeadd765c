"""What a reload changed: the settings whose value differs, and the report a reload answers.

The reloading itself (hooks, the settings in force) is `lls.reload`; this is the part the
HTTP layer shares with it (`POST /admin/v1/reload` answers a `ReloadReport`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lls.config.declare import Setting
from lls.config.settings import SETTINGS, Config


@dataclass(frozen=True, slots=True)
class ReloadReport:
    """What a reload did: the settings applied, those that wait for a restart, or why not."""

    applied: tuple[str, ...] = ()
    needs_restart: tuple[str, ...] = ()
    error: str | None = None
    kept: bool = True  # on an error: True when the settings in force did not change at all

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "reloaded": self.ok,
            "applied": list(self.applied),
            "needsRestart": list(self.needs_restart),
            "error": self.error,
        }


def changed_settings(old: Config, new: Config) -> tuple[list[Setting], list[Setting]]:
    """The settings whose value differs: (live ones, ones that need a restart)."""
    live: list[Setting] = []
    restart: list[Setting] = []
    for item in SETTINGS:
        if getattr(old, item.attr) != getattr(new, item.attr):
            (live if item.live else restart).append(item)
    return live, restart
