"""The files settings come from: `lls.yaml` (`--config`), read with the line of every key so
that a fault names it, and the text of the seat policy file `policy.file` names."""

from __future__ import annotations

import difflib
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lls.config.decode import Invalid, decode_value, refuse
from lls.config.settings import BY_KEY, SETTINGS
from lls.errors import BadRequest


@dataclass(frozen=True, slots=True)
class _Leaf:
    key: str
    value: Any
    line: int


def _yaml_leaves(path: Path, text: str) -> Iterator[_Leaf]:
    """Every dotted key of the file with its value and line; refuses keys LLS does not know."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise BadRequest(f"config file {path} is not valid YAML: {exc}") from None
    if root is None:
        return
    if not isinstance(root, yaml.MappingNode):
        raise BadRequest(f"config file {path} must hold a mapping of settings (key: value)")
    constructor = yaml.SafeLoader("")
    prefixes = {s.key.rsplit(".", 1)[0] for s in SETTINGS if "." in s.key}

    def walk(node: yaml.MappingNode, prefix: str) -> Iterator[_Leaf]:
        for key_node, value_node in node.value:
            name = f"{prefix}{constructor.construct_object(key_node)}"
            line = key_node.start_mark.line + 1
            if name in BY_KEY:
                if isinstance(value_node, yaml.MappingNode | yaml.SequenceNode):
                    raise BadRequest(
                        f"setting {name} must be a single value ({path} line {line})", field=name
                    )
                yield _Leaf(name, constructor.construct_object(value_node, deep=True), line)
            elif name in prefixes and isinstance(value_node, yaml.MappingNode):
                yield from walk(value_node, name + ".")
            elif name in prefixes and constructor.construct_object(value_node) is None:
                continue  # an empty section (`sync:` with nothing under it)
            else:
                raise BadRequest(f"unknown setting {name} ({path} line {line}){_guess(name)}")

    yield from walk(root, "")


def _guess(name: str) -> str:
    close = difflib.get_close_matches(name, list(BY_KEY), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else "; config/lls.yaml lists every setting"


def read_config_file(path: Path) -> dict[str, Any]:
    """The values the file sets, decoded, by `Config` field (`key:` alone keeps the default)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadRequest(f"cannot read config file {path}: {exc.strerror}") from None
    values: dict[str, Any] = {}
    for leaf in _yaml_leaves(path, text):
        if leaf.value is None:  # `key:` with no value: the default
            continue
        item = BY_KEY[leaf.key]
        try:
            values[item.attr] = decode_value(item, leaf.value, text=False)
        except Invalid as bad:
            raise refuse(item, leaf.value, str(bad), f"{path} line {leaf.line}") from None
    return values


# -- the policy file (its content is parsed by lls.domain.policy_file) -----------------------


POLICY_FILE_MAX_BYTES = 1024 * 1024


def read_policy_file(path: Path) -> str:
    """The text of the seat policy file `policy.file` names; refuses what is not a small
    regular file (a FIFO would hang the reload, a huge file is a mistake)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise BadRequest(f"policy file {path} is not a regular file", field="policy.file")
        if info.st_size > POLICY_FILE_MAX_BYTES:
            raise BadRequest(
                f"policy file {path} is {info.st_size:,} bytes; at most {POLICY_FILE_MAX_BYTES:,}",
                field="policy.file",
            )
        data = path.read_bytes()[: POLICY_FILE_MAX_BYTES + 1]
    except OSError as exc:
        raise BadRequest(
            f"cannot read policy file {path}: {exc.strerror}", field="policy.file"
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"policy file {path} is not UTF-8 text (byte {exc.start})", field="policy.file"
        ) from None
