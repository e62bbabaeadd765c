"""`lls vendor …`: the vendor's commands (init, register, issue, read-usage) on a workspace."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lls.clock import rfc3339
from lls.errors import LLSError
from lls.sealed import read_sealed_file
from lls.vendor.grants import load_grants_file
from lls.vendor.usage import UsageSummary
from lls.vendor.workspace import DEFAULT_VENDOR_ID, PUBLIC_FILE, VendorWorkspace

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
    init.set_defaults(func=_guarded(_init))

    register = commands.add_parser("register", help="trust an instance from its registration file")
    _dir(register)
    register.add_argument("registration", type=Path, metavar="REGISTRATION_FILE")
    register.add_argument(
        "--force",
        action="store_true",
        help="replace the keys of an already registered instance (reinstalled)",
    )
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
    print(f"vendor workspace {args.dir} created for {workspace.vendor_id}")
    print(f"give {args.dir / PUBLIC_FILE} to each LLS admin: lls init --vendor-keys FILE")
    return EXIT_OK


def _register(args: argparse.Namespace) -> int:
    token = read_sealed_file(_existing(args.registration))
    workspace = VendorWorkspace.open(args.dir)
    known = dict(workspace.instances)
    record = workspace.register(token, force=args.force)
    verb = "already registered" if known.get(record.id) == record else "registered"
    print(f"{verb} instance {record.id} (host {record.hostname}, version {record.version})")
    return EXIT_OK


def _issue(args: argparse.Namespace) -> int:
    grants = load_grants_file(_existing(args.grants))
    workspace = VendorWorkspace.open(args.dir)
    pool = workspace.issue_to_file(args.instance, grants, int(time.time()), args.out)
    print(
        f"wrote pool seq {pool.seq} for instance {pool.aud} ({len(pool.licenses)} licenses, "
        f"expires {rfc3339(pool.exp)}) to {args.out}"
    )
    return EXIT_OK


def _read_usage(args: argparse.Namespace) -> int:
    token = read_sealed_file(_existing(args.usage))
    summary = VendorWorkspace.open(args.dir).read_usage(token)
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print("\n".join(_describe(summary)))
    return EXIT_OK


def _describe(summary: UsageSummary) -> list[str]:
    """The summary for people: one fact a line, then one line per license."""
    span = (
        f" ({summary.first_event}–{summary.last_event})" if summary.first_event is not None else ""
    )
    lines = [
        f"usage seq {summary.seq} from instance {summary.instance_id}, made "
        f"{rfc3339(summary.iat)} on pool seq {summary.pool_seq}",
        f"{summary.event_count} events{span}"
        + "".join(f", {n} {kind}" for kind, n in sorted(summary.event_types.items())),
        "CLOCK TAMPERING DETECTED on the instance"
        if summary.clock_tampered
        else f"clock ok (floor {summary.clock_floor})",
    ]
    for lic in summary.payload.licenses:
        features = "".join(f", {f.code} consumed {f.consumed}" for f in lic.features)
        lines.append(
            f"  {lic.token}: {lic.liveSessions}/{lic.seats} live, peak {lic.peakSessions}{features}"
        )
    return lines
