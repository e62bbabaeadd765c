"""The `lls` command line (design.md "Command line"): exit 0 ok, 1 refused, 2 bad usage.

instance.py  init, serve, reload, demo, registration, pool import, usage export, offline …
views.py     status, licenses, sessions, environments, audit, history, offline list (admin views)
view_render.py  the columns of the licenses and sessions tables, one license's page
ops.py       backup, restore
policy.py    policy check, reload, show (the seat policy file)
vendor.py    `lls vendor …` (the central side's commands; its code is `lls.central`)
args.py      the shared options (accepted before or after an action), --json output
table.py     the one table renderer
progress.py  progress bars on a terminal
admin_client.py  how commands reach a running server (server.json, the admin token)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from lls import __version__
from lls.cli.args import Command, add_instance_options
from lls.errors import LLSError
from lls.ops.file_modes import private_umask

__all__ = ["build_parser", "main"]

EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a tool killed by SIGPIPE (`… | head`)


def build_parser() -> argparse.ArgumentParser:
    """Every verb and flag of design.md "Command line" (and the extensions beside them)."""
    from lls.cli.instance import add_instance_parsers
    from lls.cli.ops import add_ops_parsers
    from lls.cli.policy import add_policy_parser
    from lls.cli.vendor import add_vendor_parser
    from lls.cli.views import add_view_parsers

    parser = argparse.ArgumentParser(prog="lls", description="LLS — the Local License Server")
    parser.add_argument("--version", action="version", version=f"lls {__version__}")
    add_instance_options(parser, url=True)  # also accepted before the command
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_instance_parsers(sub)
    add_view_parsers(sub)
    add_ops_parsers(sub)
    add_policy_parser(sub)
    add_vendor_parser(sub)
    return parser


def _quiet_stdout() -> None:
    """After the reader went away, let the interpreter's last flush go nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. captured in tests)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status is the return value."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    # Instance commands write into the data directory: every file they create is 0600.
    # The old umask comes back afterwards (main() also runs in-process, e.g. in tests).
    old_umask = private_umask() if args.command != "vendor" else None
    try:
        return func(args)
    except LLSError as error:
        print(f"lls: {error.message}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `lls audit | head`: the reader has all it wanted
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return 130
    finally:
        if old_umask is not None:
            os.umask(old_umask)
