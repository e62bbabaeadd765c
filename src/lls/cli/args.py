"""Options shared by the commands, accepted before or after an action, and their reading.

Every shared option defaults to `argparse.SUPPRESS`: a parser that did not see
it leaves the namespace alone, so `lls sessions --data-dir D end ID` keeps the
D given before the action (a sub-parser's default would overwrite it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lls.cli.admin_client import AdminClient, find_server
from lls.config.load import load_config
from lls.config.settings import Config
from lls.errors import LLSError
from lls.instance import require_instance

Command = Callable[[argparse.Namespace], int]


def add_instance_options(parser: argparse.ArgumentParser, *, url: bool = False) -> None:
    """--data-dir and --config (and --url for commands that talk to a running server)."""
    parser.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        metavar="D",
        help="data directory (default ./lls-data, or LLS_DATA_DIR)",
    )
    parser.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        metavar="F",
        help="YAML config file (see config/lls.yaml)",
    )
    if url:
        parser.add_argument(
            "--url",
            default=argparse.SUPPRESS,
            help="admin URL of the server (default: from server.json in the data directory)",
        )


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="the PostgreSQL database of the instance (store.url, LLS_STORE_URL);"
        " default: SQLite in the data directory",
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the result as JSON (for scripts)",
    )


def opt(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    """An option's value, or `default` when no parser on the way saw it."""
    return getattr(args, name, default)


def wants_json(args: argparse.Namespace) -> bool:
    return bool(opt(args, "json", False))


def config_of(args: argparse.Namespace) -> Config:
    """The settings as this command sees them: file, `LLS_*`, then its flags."""
    path = opt(args, "config")
    return load_config(
        Path(path) if path else None,
        flags={
            "data_dir": opt(args, "data_dir"),
            "host": opt(args, "host"),
            "port": opt(args, "port"),
            "store_url": opt(args, "store"),
        },
    )


def server_of(args: argparse.Namespace, config: Config | None = None) -> AdminClient | None:
    """The running server of the data directory (or at --url), or None."""
    config = config or config_of(args)
    return find_server(config.data_dir, opt(args, "url"))


def require_server(args: argparse.Namespace) -> AdminClient:
    """The running server, or a refusal that says what to do."""
    config = config_of(args)
    if opt(args, "url") is None:
        require_instance(config.data_dir)  # a wrong --data-dir is named as such first
    server = find_server(config.data_dir, opt(args, "url"))
    if server is None:
        raise LLSError(
            f"no running server found for {config.data_dir} (start `lls serve`, or pass --url)",
            code="NO_SERVER",
        )
    return server


def emit(args: argparse.Namespace, doc: Any, lines: Iterable[str] | str) -> int:
    """Print `doc` as JSON with --json, else the lines for people; exit status 0."""
    if wants_json(args):
        print(json.dumps(doc, indent=2))
    else:
        print(lines if isinstance(lines, str) else "\n".join(lines))
    sys.stdout.flush()
    return 0
