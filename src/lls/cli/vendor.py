"""`lls vendor …`: the vendor's commands (init, register, issue, read-usage) on a workspace.

The central-side code itself lives in `lls.central`; this module is only its command line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lls.central.chain import short
from lls.central.grants import load_grants_file
from lls.central.usage import UsageFlagged, UsageSummary
from lls.central.workspace import DEFAULT_VENDOR_ID, PUBLIC_FILE, VendorWorkspace
from lls.cli.args import add_json, emit
from lls.cli.progress import progress_for
from lls.cli.table import Column, render_table
from lls.clock import rfc3339
from lls.errors import LLSError
from lls.sealed import read_sealed_file

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2

Command = Callable[[argparse.Namespace], int]


def add_vendor_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `vendor` and its subcommands; each sets `func(args) -> exit status`."""
    vendor = subparsers.add_parser(
        "vendor",
        help="the vendor's central-side tooling: register instances, issue pools, read usage",
        description="Reference tooling for the vendor's central side.",
    )
    commands = vendor.add_subparsers(dest="vendor_command", metavar="COMMAND", required=True)

    init = commands.add_parser("init", help="create the vendor key pair and workspace")
    _dir(init)
    init.add_argument(
        "--vendor-id",
        default=DEFAULT_VENDOR_ID,
        help=f"the vendor's id, the `aud` of registrations (default {DEFAULT_VENDOR_ID})",
    )
    add_json(init)
    init.set_defaults(func=_guarded(_init))

    register = commands.add_parser("register", help="trust an instance from its registration file")
    _dir(register)
    register.add_argument("registration", type=Path, metavar="REGISTRATION_FILE")
    register.add_argument(
        "--force",
        action="store_true",
        help="replace the keys of an already registered instance (reinstalled)",
    )
    add_json(register)
    register.set_defaults(func=_guarded(_register))

    issue = commands.add_parser("issue", help="issue the next pool file for an instance")
    _dir(issue)
    issue.add_argument("--instance", required=True, metavar="ID", help="registered instance id")
    issue.add_argument(
        "--grants",
        required=True,
        type=Path,
        metavar="GRANTS.yaml",
        help="desired state: org, licenses, validDays",
    )
    issue.add_argument("--out", required=True, type=Path, metavar="F", help="pool file to write")
    add_json(issue)
    issue.set_defaults(func=_guarded(_issue))

    usage = commands.add_parser("read-usage", help="verify and summarise a usage file")
    _dir(usage)
    usage.add_argument("usage", type=Path, metavar="USAGE_FILE")
    usage.add_argument("--json", action="store_true", help="print the summary as JSON")
    usage.set_defaults(func=_guarded(_read_usage))


def _dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", required=True, type=Path, metavar="V", help="the vendor workspace folder"
    )


class _BadUsage(Exception):
    """A command-line mistake (e.g. a named file that does not exist): exit 2."""


def _guarded(command: Command) -> Command:
    """Run a command; a refusal prints one line on stderr and exits 1, bad usage exits 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except _BadUsage as exc:
            print(f"lls vendor: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except LLSError as exc:
            print(f"lls vendor: {exc.message} ({exc.code})", file=sys.stderr)
            return EXIT_REFUSED

    return run


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise _BadUsage(f"{path}: no such file")
    return path


def _init(args: argparse.Namespace) -> int:
    workspace = VendorWorkspace.init(args.dir, args.vendor_id)
    return emit(
        args,
        {
            "vendorId": workspace.vendor_id,
            "dir": str(args.dir),
            "publicKeys": str(args.dir / PUBLIC_FILE),
        },
        [
            f"vendor workspace {args.dir} created for {workspace.vendor_id}",
            f"give {args.dir / PUBLIC_FILE} to each LLS admin: lls init --vendor-keys FILE",
        ],
    )


def _register(args: argparse.Namespace) -> int:
    token = read_sealed_file(_existing(args.registration))
    workspace = VendorWorkspace.open(args.dir)
    known = dict(workspace.instances)
    record = workspace.register(token, force=args.force)
    again = known.get(record.id) == record
    verb = "already registered" if again else "registered"
    doc = {
        "instanceId": record.id,
        "hostname": record.hostname,
        "version": record.version,
        "alreadyRegistered": again,
    }
    return emit(
        args, doc, f"{verb} instance {record.id} (host {record.hostname}, version {record.version})"
    )


def _issue(args: argparse.Namespace) -> int:
    with progress_for(args, "issue") as progress:
        progress.stage(f"reading {args.grants.name}")
        grants = load_grants_file(_existing(args.grants))
        workspace = VendorWorkspace.open(args.dir)
        pool = workspace.issue_to_file(
            args.instance, grants, int(time.time()), args.out, progress=progress.stage
        )
    doc = {
        "seq": pool.seq,
        "instanceId": pool.aud,
        "licenses": len(pool.licenses),
        "expiresAt": rfc3339(pool.exp),
        "out": str(args.out),
    }
    return emit(
        args,
        doc,
        f"wrote pool seq {pool.seq} for instance {pool.aud} ({len(pool.licenses)} licenses, "
        f"expires {rfc3339(pool.exp)}) to {args.out}",
    )


def _read_usage(args: argparse.Namespace) -> int:
    """Exit 0 for an accepted file or one read before; 1 for a refusal, fork or regression."""
    token = read_sealed_file(_existing(args.usage))
    workspace = VendorWorkspace.open(args.dir)
    try:
        summary = workspace.read_usage(token)
    except UsageFlagged as flagged:
        _show(flagged.summary, as_json=args.json)
        print(f"lls vendor: {flagged.message} ({flagged.code})", file=sys.stderr)
        return EXIT_REFUSED
    _show(summary, as_json=args.json)
    return EXIT_OK


def _show(summary: UsageSummary, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print("\n".join(_describe(summary)))


_VERDICT_WORDS = {
    "ok": "OK",
    "duplicate": "ALREADY READ",
    "fork": "FORK",
    "regression": "REGRESSION",
    "chain_broken": "CHAIN BROKEN",
}


def _describe(summary: UsageSummary) -> list[str]:
    """The summary for people: a table of facts, one row per license, then the verdict."""
    span = (
        f" ({summary.first_event}–{summary.last_event})" if summary.first_event is not None else ""
    )
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.event_types.items()))
    clock = (
        f"TAMPERING DETECTED on the instance (time floor {summary.clock_floor})"
        if summary.clock_tampered
        else f"ok (time floor {summary.clock_floor})"
    )
    facts = [
        ("instance", summary.instance_id),
        ("usage seq", f"{summary.seq} (made {rfc3339(summary.iat)})"),
        ("pool seq", str(summary.pool_seq)),
        ("events", f"{summary.event_count}{span}" + (f": {kinds}" if kinds else "")),
        ("chain head", short(summary.chain_head)),
        ("clock", clock),
    ]
    lines = [f"{name:<11} {value}" for name, value in facts]
    rows = [
        {
            "license": lic.token,
            "seats": lic.seats,
            "live": lic.liveSessions,
            "peak": lic.peakSessions,
            "consumption": ", ".join(
                f"{f.code} {f.consumed}" + (f" ({f.inUse} in use)" if f.inUse else "")
                for f in lic.features
            ),
        }
        for lic in summary.payload.licenses
    ]
    if rows:
        columns = [
            Column("license"),
            Column("seats", right=True),
            Column("live", right=True),
            Column("peak", right=True),
            Column("consumption"),
        ]
        lines += ["", *render_table(rows, columns)]
    lines.append("")
    if not summary.problems:
        lines.append(f"verdict: {_VERDICT_WORDS[summary.verdict]} — {summary.advice}")
        return lines
    lines.append(f"verdict: {_VERDICT_WORDS[summary.verdict]} — NOT recorded")
    lines.extend(f"  - {problem.message} ({problem.code})" for problem in summary.problems)
    lines.append(f"what to do: {summary.advice}")
    return lines
