"""Reloading the settings of a running daemon (SIGHUP, `lls reload`, `POST /admin/v1/reload`).

A reload re-reads the config file (variables and flags given at start still win),
validates all of it, then lets each hook check the new settings before any is
applied: a reload that does not validate changes nothing and says why. Settings
marked `live` in the declaration are applied; the others (listen address, data
directory, TLS, …) are reported as needing a restart and keep their old value.

Hooks are two-phase so that a later policy file can refuse a bad file too: a
hook gets (old, new) settings, raises `LLSError` to refuse, or returns the
function that applies them (or None when nothing changes for it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from lls.config.reload import ReloadReport, changed_settings
from lls.config.settings import Config
from lls.domain.guard import TokenGuessGuard
from lls.errors import LLSError

log = logging.getLogger(__name__)

Apply = Callable[[], None]
ReloadHook = Callable[[Config, Config], Apply | None]


class Reloader:
    """Holds the settings in force and applies a re-read of them through the hooks."""

    def __init__(self, config: Config, reread: Callable[[], Config] | None) -> None:
        self.config = config
        self._reread = reread
        self._hooks: list[tuple[str, ReloadHook]] = []
        self._lock = asyncio.Lock()

    def add_hook(self, name: str, hook: ReloadHook) -> None:
        """Run `hook` on every reload (in the order added); `name` appears in the log."""
        self._hooks.append((name, hook))

    async def reload(self) -> ReloadReport:
        """Re-read and apply; never raises for a bad file (the report and the log say why)."""
        async with self._lock:
            return self._reload()

    def _reload(self) -> ReloadReport:
        if self._reread is None:
            return self._refused("this server was started without a config to re-read")
        try:
            fresh = self._reread()
        except LLSError as error:
            return self._refused(error.message)
        live, restart = changed_settings(self.config, fresh)
        effective = replace(self.config, **{s.attr: getattr(fresh, s.attr) for s in live})
        applies: list[tuple[str, Apply]] = []
        for name, hook in self._hooks:
            try:
                apply = hook(self.config, effective)
            except LLSError as error:
                return self._refused(f"{name}: {error.message}")
            if apply is not None:
                applies.append((name, apply))
        self.config = effective
        failed = []
        for name, apply in applies:
            try:
                apply()
            except Exception:  # checked above; a failure here is a bug, not a bad file
                log.exception("reload: applying %s failed", name)
                failed.append(name)
        if failed:
            return ReloadReport(
                applied=tuple(s.key for s in live),
                needs_restart=tuple(s.key for s in restart),
                error=f"applying {', '.join(failed)} failed; see the server log",
                kept=False,
            )
        report = ReloadReport(
            applied=tuple(s.key for s in live), needs_restart=tuple(s.key for s in restart)
        )
        log.info(
            "settings reloaded: %s%s",
            ", ".join(report.applied) or "nothing changed",
            f"; needs a restart to change: {', '.join(report.needs_restart)}"
            if report.needs_restart
            else "",
        )
        return report

    @staticmethod
    def _refused(reason: str) -> ReloadReport:
        log.error("reload refused, the settings in force are kept: %s", reason)
        return ReloadReport(error=reason)


class LiveGuard(TokenGuessGuard):
    """The unknown-token throttle whose limit and window a reload may change."""

    def reconfigure(self, *, limit: int, window_s: float) -> None:
        """New limits from now on; counts already made are kept."""
        self._limit = limit
        self._window_s = window_s


def limits_hook(guard: LiveGuard) -> ReloadHook:
    """limits.unknown_token_failures and limits.window_s, applied to the throttle."""

    def hook(old: Config, new: Config) -> Apply | None:
        if (old.guess_limit, old.guess_window_s) == (new.guess_limit, new.guess_window_s):
            return None
        return lambda: guard.reconfigure(limit=new.guess_limit, window_s=new.guess_window_s)

    return hook


def logging_hook(configure: Callable[[str, str], object]) -> ReloadHook:
    """log.level and log.format, applied to the root logger."""

    def hook(old: Config, new: Config) -> Apply | None:
        if (old.log_level, old.log_format) == (new.log_level, new.log_format):
            return None

        def apply() -> None:
            configure(new.log_level, new.log_format)

        return apply

    return hook
