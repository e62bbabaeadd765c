"""The `lls` command line (design.md "Command line"): exit 0 ok, 1 refused, 2 bad usage."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lls import __version__
from lls.admin_client import find_server
from lls.clock import rfc3339
from lls.config import Config, load_config
from lls.errors import LLSError
from lls.instance import init_instance, load_instance, rebind_instance
from lls.registration import build_registration
from lls.sealed import read_sealed_file, write_atomic, write_sealed_file
from lls.views import print_table

Command = Callable[[argparse.Namespace], int]


def _config(args: argparse.Namespace) -> Config:
    config = load_config(Path(args.config) if args.config else None)
    return config.with_overrides(
        data_dir=Path(args.data_dir) if args.data_dir else None,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


def cmd_init(args: argparse.Namespace) -> int:
    config = _config(args)
    instance = init_instance(config.data_dir, Path(args.vendor_keys), stable_id=config.machine_id)
    print(f"initialised instance {instance.instance_id} in {config.data_dir}")
    print(f"next: lls registration --data-dir {config.data_dir} --out registration.lls")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from lls.app import serve

    config = _config(args)
    # Clear errors before binding a port: no instance here, or one copied from elsewhere.
    load_instance(config.data_dir).check_machine(config.machine_id)
    from lls.config import check_config
    from lls.ops.logs import configure_logging

    configure_logging(config.log_level, config.log_format)
    serve(check_config(config))  # flags may have made admin.port equal listen.port
    return 0


def cmd_registration(args: argparse.Namespace) -> int:
    config = _config(args)
    instance = load_instance(config.data_dir)
    if args.rebind:
        instance = rebind_instance(config.data_dir, stable_id=config.machine_id, now=time.time())
    else:
        instance.check_machine(config.machine_id)
    token, iat = build_registration(instance)
    write_sealed_file(
        Path(args.out),
        token,
        {"kind": "lls registration", "instance": instance.instance_id, "issued at": rfc3339(iat)},
    )
    print(f"wrote {args.out} for {instance.vendor_id}; give it to the vendor")
    return 0


def cmd_pool_import(args: argparse.Namespace) -> int:
    from lls.app import import_pool_offline

    config = _config(args)
    raw = read_sealed_file(Path(args.file))
    server = find_server(config.data_dir, args.url)
    if server is not None:
        _, summary = server.call("POST", "/admin/v1/pool", raw.encode(), "application/jose")
        where = f"the running server at {server.url}"
    else:
        summary = asyncio.run(import_pool_offline(config, raw))
        where = f"the data directory {config.data_dir}"
    print(
        f"imported pool seq {summary['seq']} into {where}: {summary['licenses']} licenses"
        f" (+{summary['added']} ~{summary['changed']} -{summary['removed']}),"
        f" {summary['sessionsEnded']} sessions ended"
    )
    return 0


def _server_or_fail(args: argparse.Namespace) -> Any:
    config = _config(args)
    server = find_server(config.data_dir, args.url)
    if server is None:
        raise LLSError(
            f"no running server found for {config.data_dir} (start `lls serve`, or pass --url)"
        )
    return server


def _view(path: str, key: str | None, columns: Sequence[str]) -> Command:
    def run(args: argparse.Namespace) -> int:
        _, doc = _server_or_fail(args).call("GET", path)
        if args.json:
            print(json.dumps(doc, indent=2))
            return 0
        rows = doc[key] if key else [doc]
        print_table(rows, columns)
        return 0

    return run


def cmd_sessions_end(args: argparse.Namespace) -> int:
    _server_or_fail(args).call("DELETE", f"/admin/v1/sessions/{quote(args.id, safe='')}")
    print(f"ended session {args.id}")
    return 0


def cmd_dissociate(args: argparse.Namespace) -> int:
    body = json.dumps({"authContext": args.auth_context} if args.auth_context else {}).encode()
    _, doc = _server_or_fail(args).call(
        "POST", f"/admin/v1/licenses/{quote(args.token, safe='')}/dissociate", body
    )
    print(f"license {args.token} is no longer bound to {doc['dissociated']}")
    return 0


def cmd_unlock(args: argparse.Namespace) -> int:
    _server_or_fail(args).call("POST", f"/admin/v1/licenses/{quote(args.token, safe='')}/unlock")
    print(f"license {args.token} unlocked")
    return 0


def cmd_release_environment(args: argparse.Namespace) -> int:
    _, doc = _server_or_fail(args).call(
        "DELETE", f"/admin/v1/environments/{quote(args.auth_context, safe='')}"
    )
    print(f"environment {args.auth_context} released from {doc['released']}")
    return 0


def _offline_call(args: argparse.Namespace, path: str, body: dict[str, str]) -> Any:
    """Through the running server when one answers, else on the data directory itself."""
    config = _config(args)
    server = find_server(config.data_dir, args.url)
    if server is not None:
        return server.call("POST", path, json.dumps(body).encode())[1]
    from lls.app import with_local_licensing
    from lls.domain.service import Licensing
    from lls.http.offline_api import grant_doc

    async def apply(licensing: Licensing) -> Any:
        if path.endswith("/activate"):
            grant = await licensing.offline_activate(body["token"])
        elif path.endswith("/refresh"):
            grant = await licensing.offline_refresh(body["activationId"])
        else:
            await licensing.offline_deactivate(body["token"])
            return None
        return grant_doc(grant)

    return asyncio.run(with_local_licensing(config, apply))


def _write_token(out: str, token: str, kind: str, doc: Any) -> None:
    write_sealed_file(
        Path(out),
        token,
        {"kind": kind, "activation": doc["activationId"], "lease ends": doc["leaseExpiresAt"]},
    )


def cmd_offline_activate(args: argparse.Namespace) -> int:
    doc = _offline_call(
        args, "/admin/v1/offline/activate", {"token": read_sealed_file(Path(args.request))}
    )
    _write_token(args.out, doc["token"], "lls offline response", doc)
    print(
        f"activation {doc['activationId']} leased until {doc['leaseExpiresAt']}; "
        f"give {args.out} to the device"
    )
    return 0


def cmd_offline_refresh(args: argparse.Namespace) -> int:
    doc = _offline_call(args, "/admin/v1/offline/refresh", {"activationId": args.id})
    _write_token(args.out, doc["token"], "lls offline refresh", doc)
    print(f"activation {doc['activationId']} now leased until {doc['leaseExpiresAt']}")
    return 0


def cmd_offline_deactivate(args: argparse.Namespace) -> int:
    _offline_call(
        args, "/admin/v1/offline/deactivate", {"token": read_sealed_file(Path(args.token))}
    )
    print("offline seat freed")
    return 0


def cmd_usage_export(args: argparse.Namespace) -> int:
    config = _config(args)
    server = find_server(config.data_dir, args.url)
    out = Path(args.out)
    if server is not None:
        _, raw = server.fetch("GET", "/admin/v1/usage")
        write_atomic(out, raw, mode=0o644)
        lines = raw.decode().splitlines()
        seq = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("# seq:")), "?")
    else:
        from lls.app import with_local_licensing
        from lls.sealed.usage_codec import usage_file_text

        instance = load_instance(config.data_dir)
        report, token = asyncio.run(with_local_licensing(config, lambda lic: lic.export_usage()))
        text = usage_file_text(instance.instance_id, report.seq, report.issued_at, token)
        write_atomic(out, text.encode(), mode=0o644)
        seq = str(report.seq)
    print(f"wrote usage file seq {seq} to {out}; carry it to the vendor")
    return 0


def _view_parser(
    sub: Any, name: str, help_text: str, path: str, key: str, columns: Sequence[str]
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    _common(parser, url=True)
    parser.add_argument("--json", action="store_true", help="JSON for scripts")
    parser.set_defaults(func=_view(path, key, columns))
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    from lls.demo import run_demo

    return run_demo(
        host=args.host,
        port=args.port,
        admin_port=args.admin_port,
        workdir=Path(args.dir) if args.dir else None,
    )


def _common(parser: argparse.ArgumentParser, *, url: bool = False) -> None:
    parser.add_argument("--data-dir", help="data directory (default ./lls-data, or LLS_DATA_DIR)")
    parser.add_argument("--config", help="YAML config file (see config/lls.yaml)")
    if url:
        parser.add_argument("--url", help="admin URL of the server (default: from server.json)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lls", description="LLS — the Local License Server")
    parser.add_argument("--version", action="version", version=f"lls {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create instance keys, admin token, database")
    _common(p)
    p.add_argument(
        "--vendor-keys", required=True, help="the vendor's public key file (vendor.jwks)"
    )
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("serve", help="run the license server")
    _common(p)
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default 8080)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "demo", help="throwaway vendor + instance + demo pool, serve, print curl lines"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--admin-port", type=int, default=8081, help="port of the admin listener on 127.0.0.1"
    )
    p.add_argument("--dir", help="keep the demo's files here (default: a temporary folder)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("registration", help="write the signed registration file for the vendor")
    _common(p)
    p.add_argument("--out", required=True)
    p.add_argument(
        "--rebind",
        action="store_true",
        help="this data directory moved to this machine: record it, and trust only pools"
        " the vendor issues after this registration",
    )
    p.set_defaults(func=cmd_registration)

    pool = sub.add_parser("pool", help="pool files from the vendor")
    pool_sub = pool.add_subparsers(dest="pool_command", required=True, metavar="ACTION")
    p = pool_sub.add_parser("import", help="import a pool file (into the running server if up)")
    _common(p, url=True)
    p.add_argument("file")
    p.set_defaults(func=cmd_pool_import)

    from lls.cli_ops import add_ops_parsers

    add_ops_parsers(sub, _common)  # status, audit, backup, restore

    p = _view_parser(
        sub,
        "licenses",
        "licenses of the running server; `licenses dissociate|unlock TOKEN`",
        "/admin/v1/licenses",
        "licenses",
        ["token", "type", "status", "seats", "liveSessions", "expiresAt", "boundContext", "locked"],
    )
    actions = p.add_subparsers(dest="licenses_command", metavar="ACTION")
    act = actions.add_parser("dissociate", help="free a node-locked license's binding")
    _common(act, url=True)
    act.add_argument("token")
    act.add_argument("--auth-context", help="the bound authContext (checked when given)")
    act.set_defaults(func=cmd_dissociate)
    act = actions.add_parser("unlock", help="lift a misuse lock")
    _common(act, url=True)
    act.add_argument("token")
    act.set_defaults(func=cmd_unlock)

    p = _view_parser(
        sub,
        "sessions",
        "live sessions of the running server; `sessions end ID`",
        "/admin/v1/sessions",
        "sessions",
        ["id", "licenseToken", "authContext", "startedAt", "expiresAt"],
    )
    actions = p.add_subparsers(dest="sessions_command", metavar="ACTION")
    act = actions.add_parser("end", help="end a session now")
    _common(act, url=True)
    act.add_argument("id")
    act.set_defaults(func=cmd_sessions_end)

    p = _view_parser(
        sub,
        "environments",
        "environments bound to organisations; `environments release CTX`",
        "/admin/v1/environments",
        "environments",
        ["authContext", "orgId"],
    )
    actions = p.add_subparsers(dest="environments_command", metavar="ACTION")
    act = actions.add_parser("release", help="release an environment from its organisation")
    _common(act, url=True)
    act.add_argument("auth_context")
    act.set_defaults(func=cmd_release_environment)

    usage = sub.add_parser("usage", help="usage files for the vendor")
    usage_sub = usage.add_subparsers(dest="usage_command", required=True, metavar="ACTION")
    p = usage_sub.add_parser("export", help="write a signed usage file for the vendor")
    _common(p, url=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_usage_export)

    offline = sub.add_parser("offline", help="apply offline activation tokens for devices")
    offline_sub = offline.add_subparsers(dest="offline_command", required=True, metavar="ACTION")
    p = offline_sub.add_parser("activate", help="apply a device's request; write its response")
    _common(p, url=True)
    p.add_argument("request", help="the device's request token file")
    p.add_argument("--out", required=True, help="where to write the response token")
    p.set_defaults(func=cmd_offline_activate)
    p = offline_sub.add_parser("refresh", help="write a refresh token with a new lease")
    _common(p, url=True)
    p.add_argument("id", help="the activation id")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_offline_refresh)
    p = offline_sub.add_parser("deactivate", help="apply a device's deactivation token")
    _common(p, url=True)
    p.add_argument("token", help="the device's deactivation token file")
    p.set_defaults(func=cmd_offline_deactivate)
    _view_parser(
        offline_sub,
        "list",
        "offline activations with their lease ends",
        "/admin/v1/offline",
        "activations",
        ["activationId", "licenseToken", "authContext", "leaseExpiresAt", "live"],
    )

    from lls.vendor.cli import add_vendor_parser

    add_vendor_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    if args.command != "vendor":  # instance commands write into the data directory
        from lls.ops.file_modes import private_umask

        private_umask()
    try:
        return func(args)
    except LLSError as error:
        print(f"lls: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
