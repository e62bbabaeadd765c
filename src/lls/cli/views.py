"""The admin views of a running server: status, licenses, sessions, environments, audit,
history; their commands, what each asks the admin API and its parsers (how a license or
session row looks is `lls.cli.view_render`)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from lls.cli.admin_client import AdminClient
from lls.cli.args import add_instance_options, add_json, emit, require_server, wants_json
from lls.cli.table import Column, render_fields, render_table, status_fields
from lls.cli.view_render import LICENSE_COLUMNS, SESSION_COLUMNS, render_license
from lls.clock import parse_rfc3339, rfc3339
from lls.errors import BadRequest


def _path_part(value: str) -> str:
    return quote(value, safe="")


def cmd_status(args: argparse.Namespace) -> int:
    _, doc = require_server(args).call("GET", "/admin/v1/status")
    return emit(args, doc, render_fields(status_fields(doc, time.time())))


PAGE_LIMIT = 1000  # the most the admin API gives per page
MAX_PAGES = 10_000  # a bound on the pages followed (10 million rows)


def all_pages(
    client: AdminClient, path: str, key: str, query: dict[str, str], keep: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Every row of a paginated admin list, following `nextCursor` to the end; the members
    named in `keep` (not paginated, e.g. the sessions list's `borrowed`) from the first page."""
    rows: list[Any] = []
    kept: dict[str, Any] = {}
    params = {**query, "limit": str(PAGE_LIMIT)}
    for _ in range(MAX_PAGES):
        _, doc = client.call("GET", f"{path}?{urlencode(params)}")
        rows.extend(doc[key])
        if not kept:
            kept = {name: doc.get(name, []) for name in keep}
        cursor = doc.get("nextCursor")
        if not cursor:
            break
        params["cursor"] = cursor
    return {key: rows, "total": len(rows), **kept}


def cmd_licenses(args: argparse.Namespace) -> int:
    query = {k: v for k, v in (("product", args.product), ("status", args.status)) if v is not None}
    doc = all_pages(require_server(args), "/admin/v1/licenses", "licenses", query)
    return emit(args, doc, render_table(doc["licenses"], LICENSE_COLUMNS))


def cmd_license_show(args: argparse.Namespace) -> int:
    _, doc = require_server(args).call("GET", f"/admin/v1/licenses/{_path_part(args.token)}")
    return emit(args, doc, render_license(doc))


def cmd_dissociate(args: argparse.Namespace) -> int:
    body = json.dumps({"authContext": args.auth_context} if args.auth_context else {}).encode()
    _, doc = require_server(args).call(
        "POST", f"/admin/v1/licenses/{_path_part(args.token)}/dissociate", body
    )
    return emit(args, doc, f"license {args.token} is no longer bound to {doc['dissociated']}")


def cmd_unlock(args: argparse.Namespace) -> int:
    _, doc = require_server(args).call(
        "POST", f"/admin/v1/licenses/{_path_part(args.token)}/unlock"
    )
    return emit(args, doc, f"license {args.token} unlocked")


def cmd_sessions(args: argparse.Namespace) -> int:
    query = {
        k: v
        for k, v in (("license", args.license), ("authContext", args.auth_context))
        if v is not None
    }
    doc = all_pages(require_server(args), "/admin/v1/sessions", "sessions", query, ("borrowed",))
    seats = [*doc["sessions"], *doc["borrowed"]]  # borrowed seats: KIND borrowed
    return emit(args, doc, render_table(seats, SESSION_COLUMNS))


def cmd_sessions_end(args: argparse.Namespace) -> int:
    require_server(args).call("DELETE", f"/admin/v1/sessions/{_path_part(args.id)}")
    return emit(args, {"ended": args.id}, f"ended session {args.id}")


def cmd_environments(args: argparse.Namespace) -> int:
    _, doc = require_server(args).call("GET", "/admin/v1/environments")
    return emit(args, doc, render_table(doc["environments"], ["authContext", "orgId"]))


def cmd_release_environment(args: argparse.Namespace) -> int:
    _, doc = require_server(args).call(
        "DELETE", f"/admin/v1/environments/{_path_part(args.auth_context)}"
    )
    return emit(args, doc, f"environment {args.auth_context} released from {doc['released']}")


def cmd_offline_list(args: argparse.Namespace) -> int:
    _, doc = require_server(args).call("GET", "/admin/v1/offline")
    columns = ["activationId", "licenseToken", "authContext", "kind", "leaseExpiresAt", "live"]
    return emit(args, doc, render_table(doc["activations"], columns))


_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def since_time(text: str, now: float) -> str:
    """`--since`: an RFC 3339 time, or a span back from now (`90m`, `12h`, `7d`)."""
    found = _DURATION.match(text.strip())
    if found:
        return rfc3339(now - int(found.group(1)) * _UNIT_S[found.group(2)])
    try:
        return rfc3339(parse_rfc3339(text))
    except ValueError:
        raise BadRequest(
            f"--since must be an RFC 3339 time or a span such as 30m, 12h, 7d; not {text!r}"
        ) from None


def cmd_audit(args: argparse.Namespace) -> int:
    """Newest first by default (`--after ID`: oldest first from there, for paging in scripts)."""
    query: dict[str, Any] = {"limit": args.limit}
    if args.after is not None:
        query["after"] = args.after
    else:
        query["order"] = "desc"
    if args.since is not None:
        query["since"] = since_time(args.since, time.time())
    if args.type:
        query["type"] = ",".join(args.type)
    _, doc = require_server(args).call("GET", f"/admin/v1/audit?{urlencode(query)}")
    if wants_json(args):
        return emit(args, doc, "")
    rows = [
        {**event, "data": json.dumps(event.get("data") or {}, separators=(",", ":"))}
        for event in doc["events"]
    ]
    return emit(
        args, doc, render_table(rows, ["id", "at", "type", "license", "authContext", "data"])
    )


def cmd_history(args: argparse.Namespace) -> int:
    """A license's usage per hour or day: a table, `--json`, or `--csv` as the API gives it."""
    query = {"step": args.step}
    now = time.time()
    if args.since is not None:
        query["from"] = since_time(args.since, now)
    if args.until is not None:
        query["to"] = since_time(args.until, now)
    path = f"/admin/v1/licenses/{_path_part(args.token)}/history?{urlencode(query)}"
    client = require_server(args)
    if args.csv:
        _, raw = client.fetch("GET", path, accept="text/csv")
        sys.stdout.write(raw.decode())
        return 0
    _, doc = client.call("GET", path)
    rows = [
        {
            **point,
            "denials": _counts(point["denials"]),
            "peakUnits": _counts(point["peakUnits"]),
            "consumed": _counts(point["consumed"]),
        }
        for point in doc["points"]
    ]
    columns: list[Column | str] = [
        Column("at", "AT"),
        Column("peakSessions", "PEAK", right=True),
        Column("sessionsStarted", "STARTED", right=True),
        Column("denied", "DENIED", right=True),
        Column("denials", "DENIALS"),
        Column("peakUnits", "UNITS"),
        Column("consumed", "CONSUMED"),
    ]
    return emit(args, doc, render_table(rows, columns))


def _counts(counts: Mapping[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "-"


def _action(actions: Any, name: str, help_text: str, **described: str) -> argparse.ArgumentParser:
    """A command that reaches the running server: `--url`, the instance options, `--json`."""
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text, **described)
    add_instance_options(parser, url=True)
    add_json(parser)
    return parser


def _view(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    return _action(sub, name, help_text, description=help_text)


def add_view_parsers(sub: Any) -> None:
    """status, licenses [show|dissociate|unlock], sessions [end], environments [release], audit."""
    p = _view(sub, "status", "status of the running server (pool, clock, sessions)")
    p.set_defaults(func=cmd_status)

    p = _view(
        sub, "licenses", "licenses of the running server; `licenses show|dissociate|unlock TOKEN`"
    )
    p.add_argument("--product", help="only licenses for these product codes (comma-separated)")
    p.add_argument("--status", help="only licenses with this status: active, suspended, revoked, …")
    p.set_defaults(func=cmd_licenses)
    actions = p.add_subparsers(dest="licenses_command", metavar="ACTION")
    act = _action(actions, "show", "one license: seats, features, sessions, offline seats")
    act.add_argument("token")
    act.set_defaults(func=cmd_license_show)
    act = _action(actions, "dissociate", "free a node-locked license's binding")
    act.add_argument("token")
    act.add_argument("--auth-context", help="the bound authContext (checked when given)")
    act.set_defaults(func=cmd_dissociate)
    act = _action(actions, "unlock", "lift a misuse lock")
    act.add_argument("token")
    act.set_defaults(func=cmd_unlock)

    p = _view(
        sub,
        "sessions",
        "live sessions and borrowed seats of the running server; `sessions end ID`",
    )
    p.add_argument("--license", help="only sessions of this license token")
    p.add_argument("--auth-context", help="only sessions of this authContext")
    p.set_defaults(func=cmd_sessions)
    actions = p.add_subparsers(dest="sessions_command", metavar="ACTION")
    act = _action(
        actions,
        "end",
        "end a session or a borrowed seat now (its seat is free at once; a borrowing"
        " device keeps its lease until it ends)",
    )
    act.add_argument("id")
    act.set_defaults(func=cmd_sessions_end)

    p = _view(
        sub, "environments", "environments bound to organisations; `environments release CTX`"
    )
    p.set_defaults(func=cmd_environments)
    actions = p.add_subparsers(dest="environments_command", metavar="ACTION")
    act = _action(actions, "release", "release an environment from its organisation")
    act.add_argument("auth_context")
    act.set_defaults(func=cmd_release_environment)

    p = _view(sub, "history", "a license's usage per hour or day (peaks, starts, denials)")
    p.add_argument("token")
    p.add_argument("--step", choices=("hour", "day"), default="hour", help="hour (default) or day")
    p.add_argument("--since", help="from: an RFC 3339 time, or 30m, 12h, 7d ago (default 24 h)")
    p.add_argument("--until", help="to: an RFC 3339 time, or a span ago (default now)")
    p.add_argument("--csv", action="store_true", help="print CSV (one column per figure)")
    p.set_defaults(func=cmd_history)

    p = _view(sub, "audit", "audit events of the running server, newest first")
    p.add_argument("--limit", type=int, default=100, help="at most this many events (100)")
    p.add_argument("--since", help="only events since: an RFC 3339 time, or 30m, 12h, 7d ago")
    p.add_argument(
        "--type",
        action="append",
        help="only events of this type (repeatable; `session.*` for a prefix)",
    )
    p.add_argument(
        "--after", type=int, help="only events with a larger id, oldest first (for scripts)"
    )
    p.set_defaults(func=cmd_audit)


def add_offline_list(offline_sub: Any) -> None:
    p = _action(offline_sub, "list", "offline activations with their lease ends")
    p.set_defaults(func=cmd_offline_list)
