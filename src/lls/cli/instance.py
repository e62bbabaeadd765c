"""`lls init | serve | reload | registration | pool import | usage export | offline …`."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from lls.cli.args import (
    add_instance_options,
    add_json,
    add_store_option,
    config_of,
    emit,
    opt,
    require_server,
    server_of,
)
from lls.cli.progress import progress_for
from lls.clock import rfc3339
from lls.config.load import load_config, unknown_variables
from lls.errors import LLSError
from lls.instance import init_instance, load_instance, rebind_instance
from lls.registration import build_registration
from lls.sealed import read_sealed_file, write_atomic, write_sealed_file


def cmd_init(args: argparse.Namespace) -> int:
    config = config_of(args)
    if config.store_url:  # the instance in a PostgreSQL database, this machine its first node
        from lls.cluster import init_on_store
        from lls.store.postgres.connection import redact

        instance = asyncio.run(
            init_on_store(
                config.store_url,
                config.data_dir,
                Path(args.vendor_keys),
                stable_id=config.machine_id,
            )
        )
        where = f"{config.data_dir} and {redact(config.store_url)}"
    else:
        instance = init_instance(
            config.data_dir, Path(args.vendor_keys), stable_id=config.machine_id
        )
        where = str(config.data_dir)
    doc = {"instanceId": instance.instance_id, "dataDir": str(config.data_dir)}
    return emit(
        args,
        doc,
        [
            f"initialised instance {instance.instance_id} in {where}",
            f"next: lls registration --data-dir {config.data_dir} --out registration.lls",
        ],
    )


def cmd_node_join(args: argparse.Namespace) -> int:
    from lls.cluster import join_store

    config = config_of(args)
    if not config.store_url:
        raise LLSError("lls node join needs --store URL (or store.url)", code="NO_STORE")
    try:
        token = Path(args.admin_token_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise LLSError(
            f"cannot read the admin token file {args.admin_token_file}: {exc.strerror}",
            code="BAD_ADMIN_TOKEN",
        ) from None
    instance = asyncio.run(
        join_store(config.store_url, config.data_dir, token, stable_id=config.machine_id)
    )
    doc = {"instanceId": instance.instance_id, "dataDir": str(config.data_dir)}
    return emit(
        args,
        doc,
        [
            f"joined this machine to instance {instance.instance_id} in {config.data_dir}",
            "next: lls serve with the same store.url (it stands by while another node leads)",
        ],
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import logging
    import os

    from lls.app.daemon import serve
    from lls.ops.logs import configure_logging

    config = config_of(args)
    # Clear errors before binding a port: no instance here, or one copied from elsewhere.
    instance = load_instance(config.data_dir)
    instance.check_machine(config.machine_id)
    if config.store_url:  # a node of a pair: the database is the instance's, we are a node
        from lls.cluster import check_node

        asyncio.run(check_node(config.store_url, instance, stable_id=config.machine_id))
    configure_logging(config.log_level, config.log_format)
    for name in unknown_variables(os.environ):
        logging.getLogger("lls.config").warning("environment variable %s is no setting", name)
    path = opt(args, "config")
    flags = {
        "data_dir": opt(args, "data_dir"),
        "host": opt(args, "host"),
        "port": opt(args, "port"),
    }

    def reread() -> Any:
        return load_config(Path(path) if path else None, flags=flags)

    serve(config, reread=reread)
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    _, doc = require_server(args).call("POST", "/admin/v1/reload", b"{}")
    lines = [f"reloaded: {', '.join(doc['applied']) or 'nothing changed'}"]
    if doc["needsRestart"]:
        lines.append(f"needs a restart to change: {', '.join(doc['needsRestart'])}")
    return emit(args, doc, lines)


def cmd_registration(args: argparse.Namespace) -> int:
    config = config_of(args)
    instance = load_instance(config.data_dir)
    if args.rebind:
        instance = rebind_instance(config.data_dir, stable_id=config.machine_id, now=time.time())
    else:
        instance.check_machine(config.machine_id)
    nodes: list[tuple[str, str]] = []
    if config.store_url:  # the vendor sees every node of the pair
        from lls.cluster import list_nodes
        from lls.store.postgres.identity import rebind_database

        if args.rebind:  # this database (a restored copy) becomes the instance's home
            asyncio.run(rebind_database(config.store_url, instance.instance_id))
        nodes = [(n.hostname, n.fingerprint) for n in asyncio.run(list_nodes(config.store_url))]
    token, iat = build_registration(instance, nodes=nodes)
    write_sealed_file(
        Path(args.out),
        token,
        {"kind": "lls registration", "instance": instance.instance_id, "issued at": rfc3339(iat)},
    )
    doc = {"instanceId": instance.instance_id, "vendorId": instance.vendor_id, "out": args.out}
    return emit(args, doc, f"wrote {args.out} for {instance.vendor_id}; give it to the vendor")


def cmd_pool_import(args: argparse.Namespace) -> int:
    from lls.app.licensing import import_pool_offline

    config = config_of(args)
    raw = read_sealed_file(Path(args.file))
    server = server_of(args, config)
    if server is not None:
        with progress_for(args, "importing the pool") as progress:
            progress.stage(f"the running server verifies and applies {Path(args.file).name}")
            _, summary = server.call("POST", "/admin/v1/pool", raw.encode(), "application/jose")
        where = f"the running server at {server.url}"
    else:
        with progress_for(args, "importing the pool") as progress:
            summary = asyncio.run(import_pool_offline(config, raw, progress=progress.stage))
        where = f"the data directory {config.data_dir}"
    return emit(
        args,
        summary,
        f"imported pool seq {summary['seq']} into {where}: {summary['licenses']} licenses"
        f" (+{summary['added']} ~{summary['changed']} -{summary['removed']}),"
        f" {summary['sessionsEnded']} sessions ended",
    )


def _offline_call(args: argparse.Namespace, path: str, body: dict[str, str]) -> Any:
    """Through the running server when one answers, else on the data directory itself."""
    config = config_of(args)
    server = server_of(args, config)
    if server is not None:
        return server.call("POST", path, json.dumps(body).encode())[1]
    from lls.app.licensing import with_local_licensing
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


def _without_token(doc: dict[str, Any], out: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "token"} | {"out": out}


def cmd_offline_activate(args: argparse.Namespace) -> int:
    doc = _offline_call(
        args, "/admin/v1/offline/activate", {"token": read_sealed_file(Path(args.request))}
    )
    _write_token(args.out, doc["token"], "lls offline response", doc)
    return emit(
        args,
        _without_token(doc, args.out),
        f"activation {doc['activationId']} leased until {doc['leaseExpiresAt']}; "
        f"give {args.out} to the device",
    )


def cmd_offline_refresh(args: argparse.Namespace) -> int:
    doc = _offline_call(args, "/admin/v1/offline/refresh", {"activationId": args.id})
    _write_token(args.out, doc["token"], "lls offline refresh", doc)
    return emit(
        args,
        _without_token(doc, args.out),
        f"activation {doc['activationId']} now leased until {doc['leaseExpiresAt']}; "
        f"give {args.out} to the device",
    )


def cmd_offline_deactivate(args: argparse.Namespace) -> int:
    _offline_call(
        args, "/admin/v1/offline/deactivate", {"token": read_sealed_file(Path(args.token))}
    )
    return emit(args, {"deactivated": True}, "offline seat freed")


def cmd_usage_export(args: argparse.Namespace) -> int:
    config = config_of(args)
    server = server_of(args, config)
    out = Path(args.out)
    if server is not None:
        _, raw = server.fetch("GET", "/admin/v1/usage")
        write_atomic(out, raw, mode=0o644)
        lines = raw.decode().splitlines()
        found = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("# seq:")), "")
        seq = int(found) if found.isdigit() else None
    else:
        from lls.app.licensing import with_local_licensing
        from lls.sealed.usage_codec import usage_file_text

        instance = load_instance(config.data_dir)
        report, token = asyncio.run(with_local_licensing(config, lambda lic: lic.export_usage()))
        text = usage_file_text(instance.instance_id, report.seq, report.issued_at, token)
        write_atomic(out, text.encode(), mode=0o644)
        seq = report.seq
    return emit(
        args,
        {"seq": seq, "out": str(out)},
        f"wrote usage file seq {seq if seq is not None else '?'} to {out}; carry it to the vendor",
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from lls.demo import run_demo

    return run_demo(
        host=args.host,
        port=args.port,
        admin_port=args.admin_port,
        workdir=Path(args.dir) if args.dir else None,
    )


def add_instance_parsers(sub: Any) -> None:
    """init, serve, reload, demo, registration, pool import, usage export, offline …"""
    p = sub.add_parser("init", help="create instance keys, admin token, database")
    add_instance_options(p)
    add_store_option(p)
    add_json(p)
    p.add_argument(
        "--vendor-keys", required=True, help="the vendor's public key file (vendor.jwks)"
    )
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("node", help="the nodes of an instance on PostgreSQL (docs/ha.md)")
    node_sub = p.add_subparsers(dest="node_command", required=True)
    p = node_sub.add_parser(
        "join", help="add this machine as a node of the instance in the --store database"
    )
    add_instance_options(p)
    add_store_option(p)
    add_json(p)
    p.add_argument(
        "--admin-token-file",
        required=True,
        metavar="T",
        help="a copy of the first node's admin.token (proves you administer the instance)",
    )
    p.set_defaults(func=cmd_node_join)

    p = sub.add_parser("serve", help="run the license server (SIGHUP reloads the settings)")
    add_instance_options(p)
    add_store_option(p)
    p.add_argument("--host", default=argparse.SUPPRESS, help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=argparse.SUPPRESS, help="listen port (default 8080)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "reload",
        help="make the running server re-read its config file (what can change live)",
    )
    add_instance_options(p, url=True)
    add_json(p)
    p.set_defaults(func=cmd_reload)

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
    add_instance_options(p)
    add_store_option(p)
    add_json(p)
    p.add_argument("--out", required=True)
    p.add_argument(
        "--rebind",
        action="store_true",
        help="this data directory moved to this machine: record it, and trust only pools"
        " the vendor issues after this registration",
    )
    p.set_defaults(func=cmd_registration)

    pool = sub.add_parser("pool", help="pool files from the vendor")
    add_instance_options(pool, url=True)
    add_json(pool)
    pool_sub = pool.add_subparsers(dest="pool_command", required=True, metavar="ACTION")
    p = pool_sub.add_parser("import", help="import a pool file (into the running server if up)")
    add_instance_options(p, url=True)
    add_json(p)
    p.add_argument("file")
    p.set_defaults(func=cmd_pool_import)

    usage = sub.add_parser("usage", help="usage files for the vendor")
    add_instance_options(usage, url=True)
    add_json(usage)
    usage_sub = usage.add_subparsers(dest="usage_command", required=True, metavar="ACTION")
    p = usage_sub.add_parser("export", help="write a signed usage file for the vendor")
    add_instance_options(p, url=True)
    add_json(p)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_usage_export)

    _add_offline(sub)


def _add_offline(sub: Any) -> None:
    from lls.cli.views import add_offline_list

    offline = sub.add_parser("offline", help="apply offline activation tokens for devices")
    add_instance_options(offline, url=True)
    add_json(offline)
    offline_sub = offline.add_subparsers(dest="offline_command", required=True, metavar="ACTION")
    p = offline_sub.add_parser("activate", help="apply a device's request; write its response")
    add_instance_options(p, url=True)
    add_json(p)
    p.add_argument("request", help="the device's request token file")
    p.add_argument("--out", required=True, help="where to write the response token")
    p.set_defaults(func=cmd_offline_activate)
    p = offline_sub.add_parser("refresh", help="write a refresh token with a new lease")
    add_instance_options(p, url=True)
    add_json(p)
    p.add_argument("id", help="the activation id")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_offline_refresh)
    p = offline_sub.add_parser("deactivate", help="apply a device's deactivation token")
    add_instance_options(p, url=True)
    add_json(p)
    p.add_argument("token", help="the device's deactivation token file")
    p.set_defaults(func=cmd_offline_deactivate)
    add_offline_list(offline_sub)
