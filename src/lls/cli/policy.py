"""`lls policy check FILE | reload | show`: the seat policy file, checked, applied, shown.

`check` works on the file alone (no server, no data directory), so an admin
can validate an edit before putting it in force; it exits 1 with the line and
the reason of the first fault. `reload` and `show` go through the running
server (`POST /admin/v1/policy/reload`, `GET /admin/v1/policy`).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from lls.cli.args import add_instance_options, add_json, emit, require_server
from lls.cli.table import Column, render_table
from lls.errors import BadRequest
from lls.policy_reload import load_policy


def cmd_policy_check(args: argparse.Namespace) -> int:
    policy = load_policy(args.file)  # a fault raises: `lls: FILE line N: reason`, exit 1
    if policy is None:
        raise BadRequest("name the policy file to check (lls policy check FILE)")
    doc = {
        "file": args.file,
        "valid": True,
        "groups": len(policy.groups),
        "rules": len(policy.rules),
        "sha256": policy.sha256,
        "warnings": list(policy.warnings),
    }
    lines = [f"{args.file}: valid, {len(policy.groups)} groups, {len(policy.rules)} rules"]
    lines += [f"warning: {w}" for w in policy.warnings]
    return emit(args, doc, lines)


def _summary(doc: Mapping[str, Any]) -> list[str]:
    if doc.get("file") is None:
        return ["no seat policy is in force (policy.file is not set)"]
    lines = [
        f"seat policy {doc['file']}: {len(doc['groups'])} groups, {len(doc['rules'])} rules,"
        f" sha256 {str(doc['sha256'])[:12]}, loaded {doc['loadedAt']}"
    ]
    lines += [f"warning: {w}" for w in doc.get("warnings", [])]
    return lines


def _groups(row: Mapping[str, Any]) -> str:
    held = row.get("groups") or {}
    return " ".join(f"{g}={n}" for g, n in held.items()) or "-"


USE_COLUMNS = [
    Column("token"),
    Column("name", "NAME"),
    Column("seats", right=True),
    Column("held", right=True),
    Column("reserved", "RESERVED", right=True),
    Column("rules", "RULES"),
    Column("groups", "HELD BY GROUP", value=_groups),
]


def cmd_policy_reload(args: argparse.Namespace) -> int:
    _, doc = require_server(args).call("POST", "/admin/v1/policy/reload", b"{}")
    first, *rest = _summary(doc)
    verb = "reloaded" if doc["changed"] else "unchanged (the file is the one in force)"
    return emit(args, doc, [f"{verb}: {first}", *rest])


def cmd_policy_show(args: argparse.Namespace) -> int:
    _, doc = require_server(args).call("GET", "/admin/v1/policy")
    lines = _summary(doc)
    if doc.get("file") is not None:
        lines += ["", *render_table(doc["licenses"], USE_COLUMNS)]
    return emit(args, doc, lines)


def add_policy_parser(sub: Any) -> None:
    """`lls policy check|reload|show`."""
    policy = sub.add_parser("policy", help="the seat policy file (groups, reserve, max, exclude)")
    add_instance_options(policy, url=True)
    add_json(policy)
    actions = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    p = actions.add_parser("check", help="validate a policy file without applying it")
    add_json(p)
    p.add_argument("file", help="the policy file (YAML; see config/policy.example.yaml)")
    p.set_defaults(func=cmd_policy_check)
    p = actions.add_parser("reload", help="make the running server re-read its policy file")
    add_instance_options(p, url=True)
    add_json(p)
    p.set_defaults(func=cmd_policy_reload)
    p = actions.add_parser("show", help="the policy in force and what each group holds now")
    add_instance_options(p, url=True)
    add_json(p)
    p.set_defaults(func=cmd_policy_show)
