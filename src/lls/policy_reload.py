"""The seat policy file at start and on reload (SIGHUP, `lls reload`, `lls policy reload`).

At start a policy file that does not validate stops `lls serve` with its line,
as a bad config file does: a server must not run without the reservations and
exclusions its admin wrote. On a reload the file is read and validated in the
hook's check phase — a bad file refuses the whole reload, so the policy (and
every setting) in force stays, and the answer names the line — and swapped in
the apply phase. The file is re-read on every reload, not only when
`policy.file` changes: editing the file and reloading is the usual way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lls.clock import Clock
from lls.config.files import read_policy_file
from lls.config.settings import Config
from lls.domain.policy import Policy
from lls.domain.policy_file import PolicyFileError, parse_policy
from lls.domain.policy_view import PolicyInForce
from lls.errors import BadRequest, LLSError, Refused
from lls.reload import Apply, Reloader, ReloadHook

log = logging.getLogger(__name__)


def load_policy(path: str) -> Policy | None:
    """The validated policy in `path` (None when `path` is empty: no policy); a file that
    cannot be read or does not validate raises PolicyFileError (422 POLICY_INVALID)."""
    if not path:
        return None
    try:
        text = read_policy_file(Path(path))
    except BadRequest as error:
        raise PolicyFileError(error.message) from None
    return parse_policy(text, source=path)


def policy_hook(in_force: PolicyInForce, clock: Clock) -> ReloadHook:
    """Check phase: read and validate the file (raising refuses the reload); apply: swap it."""

    def hook(old: Config, new: Config) -> Apply | None:
        policy = load_policy(new.policy_file)
        if new.policy_file == in_force.path and _same(policy, in_force.policy):
            return None

        def apply() -> None:
            in_force.replace(policy, new.policy_file, clock.now())
            _log_in_force(in_force)

        return apply

    return hook


@dataclass(frozen=True, slots=True)
class PolicyReload:
    """What `POST /admin/v1/policy/reload` did: whether the policy in force changed."""

    changed: bool
    in_force: PolicyInForce


@dataclass(frozen=True, slots=True)
class PolicyControl:
    """The policy in force, and how the admin API reloads it from the file in force."""

    in_force: PolicyInForce
    reload: Callable[[], PolicyReload]


def install_policy(config: Config, reloader: Reloader, clock: Clock) -> PolicyControl:
    """Load the policy at start (a bad file raises), and reload it with the settings."""
    in_force = PolicyInForce(load_policy(config.policy_file), config.policy_file, clock.now())
    if in_force.policy is not None:
        _log_in_force(in_force)
    reloader.add_hook("policy", policy_hook(in_force, clock))

    def reload() -> PolicyReload:
        path = reloader.config.policy_file
        if not path:
            raise Refused(
                "no policy file is set (policy.file): set it in the config file and run"
                " `lls reload`",
                code="NO_POLICY_FILE",
            )
        try:
            policy = load_policy(path)
        except LLSError as error:
            log.error("policy reload refused, the policy in force is kept: %s", error.message)
            raise
        if path == in_force.path and _same(policy, in_force.policy):
            return PolicyReload(changed=False, in_force=in_force)
        in_force.replace(policy, path, clock.now())
        _log_in_force(in_force)
        return PolicyReload(changed=True, in_force=in_force)

    return PolicyControl(in_force=in_force, reload=reload)


def _same(a: Policy | None, b: Policy | None) -> bool:
    return (a.sha256 if a else None) == (b.sha256 if b else None)


def _log_in_force(in_force: PolicyInForce) -> None:
    policy = in_force.policy
    if policy is None:
        log.info("seat policy: none")
        return
    log.info(
        "seat policy in force: %s (%d groups, %d rules, sha256 %s)",
        in_force.path,
        len(policy.groups),
        len(policy.rules),
        policy.sha256[:12],
    )
    for warning in policy.warnings:
        log.warning("seat policy: %s", warning)
