"""All sources together: defaults, then the YAML file, then `LLS_*` variables, then flags.

This is the only place that reads the environment for the server's settings. A bad value
or an unknown key stops `lls serve` with a message that names the key and where it came
from (the file and line, the variable, or the flag).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lls.config.decode import Invalid, decode_value, refuse
from lls.config.files import read_config_file
from lls.config.settings import BY_ATTR, BY_ENV, SETTINGS, Config
from lls.errors import BadRequest


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """`LLS_*` variables that are no setting (a typo, or one the client SDK reads), with a hint."""
    out = []
    for name in sorted(env):
        if name.startswith("LLS_") and name not in BY_ENV and name not in CLIENT_VARIABLES:
            close = difflib.get_close_matches(name, list(BY_ENV), n=1, cutoff=0.75)
            out.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return out


CLIENT_VARIABLES = frozenset({"LLS_AUTH_CONTEXT"})  # read by the client SDK, not the server


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Defaults, then the YAML file, then `LLS_*` variables, then flags (by Config field)."""
    env = os.environ if env is None else env
    values = read_config_file(path) if path is not None else {}
    for item in SETTINGS:
        if item.env in env:
            try:
                values[item.attr] = decode_value(item, env[item.env], text=True)
            except Invalid as bad:
                raise refuse(
                    item, env[item.env], str(bad), f"environment variable {item.env}"
                ) from None
    for attr, raw in (flags or {}).items():
        if raw is None:
            continue
        item = BY_ATTR[attr]
        try:
            values[attr] = decode_value(item, raw, text=isinstance(raw, str))
        except Invalid as bad:
            raise refuse(item, raw, str(bad), f"flag {item.flag or attr}") from None
    return check_config(Config(**values))


def check_config(config: Config) -> Config:
    """Refuse combinations no single setting can catch; returns `config` unchanged."""
    for item in SETTINGS:  # a Config built in code goes through the same rules
        value = getattr(config, item.attr)
        try:
            decode_value(item, str(value) if item.kind is Path else value, text=False)
        except Invalid as bad:
            raise refuse(item, value, str(bad), "in code") from None
    if bool(config.tls_cert) != bool(config.tls_key):
        raise BadRequest("settings tls.cert and tls.key go together: set both or neither")
    if config.separate_admin and config.admin_port == config.port:
        raise BadRequest("setting admin.port must differ from listen.port", field="admin.port")
    return config
