"""Who may use a license where: node-locked binding, organisation-bound environments, misuse.

Pure functions over the in-memory state; they append the write records and
audit events their decisions need, and the session rules commit them.
"""

from __future__ import annotations

from lls.domain.models import Reason
from lls.domain.records import AppendEvent, BindEnvironment, Record, SetLicenseFlags
from lls.domain.state import LicenseState


def flags_record(state: LicenseState) -> SetLicenseFlags:
    bound, first, locked = state.flags_record_values()
    return SetLicenseFlags(state.license.token, bound, first, locked)


def check_bindings(
    state: LicenseState, auth_context: str, environments: dict[str, str]
) -> Reason | None:
    """Refuse a node-locked license bound elsewhere, or an environment of another organisation."""
    lic = state.license
    if lic.type == "node-locked" and state.bound_context not in (None, auth_context):
        return Reason.NODE_LOCKED
    if lic.type != "temporary":
        owner = environments.get(auth_context)
        if owner is not None and owner != lic.org_id:
            return Reason.ENVIRONMENT_OF_OTHER_ORG
    return None


def bind_on_start(
    state: LicenseState,
    auth_context: str,
    environments: dict[str, str],
    now: float,
    out: list[Record],
) -> None:
    """A session starts: bind what its first use binds (node, environment, temporary start)."""
    lic = state.license
    changed = False
    if lic.type == "node-locked" and state.bound_context is None:
        state.bound_context = auth_context
        changed = True
        out.append(
            AppendEvent(at=now, type="license.bound", license=lic.token, auth_context=auth_context)
        )
    if lic.type == "temporary":
        if state.first_activated_at is None:
            state.first_activated_at = now
            changed = True
    elif auth_context not in environments:
        # Temporary (implementer) licenses cross environments without claiming them.
        environments[auth_context] = lic.org_id
        out.append(BindEnvironment(auth_context, lic.org_id, now))
    if changed:
        out.append(flags_record(state))


def note_context(state: LicenseState, auth_context: str, now: float, out: list[Record]) -> bool:
    """Count an authContext against the misuse limit; lock the license (True) when over it."""
    misuse = state.license.misuse
    if misuse is None:
        return False
    seen = state.seen
    seen[auth_context] = now
    if len(seen) <= misuse.max_auth_contexts:
        return False
    cutoff = now - misuse.window_s
    for ctx in [c for c, at in seen.items() if at < cutoff]:
        del seen[ctx]
    if len(seen) <= misuse.max_auth_contexts:
        return False
    lock(state, now, out, distinct=len(seen))
    return True


def lock(state: LicenseState, now: float, out: list[Record], *, distinct: int) -> None:
    """Lock a license for suspected misuse (every call then answers Locked)."""
    state.locked_at = now
    misuse = state.license.misuse
    out.append(flags_record(state))
    out.append(
        AppendEvent(
            at=now,
            type="license.locked",
            license=state.license.token,
            data={
                "authContexts": distinct,
                "maxAuthContexts": misuse.max_auth_contexts if misuse else None,
                "windowSeconds": misuse.window_s if misuse else None,
            },
        )
    )
