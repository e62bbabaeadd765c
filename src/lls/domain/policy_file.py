"""Reading a policy file's YAML into a `Policy`, refusing every fault with its line.

The file is composed into PyYAML nodes (which carry their line) and walked by
hand, as `lls.config.files` reads lls.yaml, so a fault names the line an admin must
fix: unknown keys (with a guess), a key given twice, unknown groups, numbers
that are not whole or are negative, bad globs and networks, anchors/aliases
(refused: they can make a small file expand without bound). What depends on the
pool — a license a rule names, a reserve above the seats — is not a file fault:
seats change with every pool, so those are warnings of the compiled policy.
The file itself is read by `lls.config.files.read_policy_file` (the only reader
of configuration files); this module only parses text.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import ipaddress
import re
from collections.abc import Iterator
from typing import Any

import yaml

from lls.domain.policy import (
    MAX_ENTRIES,
    MAX_GROUPS,
    MAX_PATTERNS,
    MAX_RULES,
    MAX_TEXT,
    MAX_UNITS,
    Group,
    Limits,
    Network,
    Policy,
    Rule,
)
from lls.errors import Refused

GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TOP_KEYS = ("groups", "rules")
GROUP_KEYS = ("authContexts", "networks")
RULE_KEYS = ("name", "licenses", "products", "reserve", "max", "exclude", "include", "features")
FEATURE_KEYS = ("reserve", "max")
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PolicyFileError(Refused):
    """A policy file that does not validate: the message names the file, line and reason."""

    default_code = "POLICY_INVALID"

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def parse_policy(text: str, source: str = "policy file") -> Policy:
    """The policy in `text`; raises PolicyFileError naming `source`, the line and the reason."""
    return _Reader(source).policy(text)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.seen: set[int] = set()
        self.constructor = yaml.SafeLoader("")
        self.warnings: list[str] = []

    def fail(self, node: yaml.Node | None, reason: str) -> PolicyFileError:
        line = node.start_mark.line + 1 if node is not None else None
        where = f"{self.source} line {line}" if line is not None else self.source
        return PolicyFileError(f"{where}: {reason}", line=line)

    # -- nodes ------------------------------------------------------------------------

    def _enter(self, node: yaml.Node, tag: str) -> None:
        if id(node) in self.seen:  # PyYAML gives an alias the node of its anchor
            raise self.fail(node, "anchors and aliases (&name, *name) are not supported here")
        if node.tag != tag:
            raise self.fail(node, f"YAML tags ({node.tag}) are not supported here")
        self.seen.add(id(node))

    def _check_alias(self, node: yaml.Node, at: yaml.Node) -> None:
        """A collection met a second time is an alias: refuse it at the line that uses it."""
        if isinstance(node, yaml.CollectionNode) and id(node) in self.seen:
            raise self.fail(at, "anchors and aliases (&name, *name) are not supported here")

    def mapping(
        self, node: yaml.Node, what: str, keys: tuple[str, ...] | None
    ) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
        """(key, key node, value node) of a mapping; refuses duplicates and, given `keys`,
        keys not among them (with a guess at the one meant)."""
        if isinstance(node, yaml.ScalarNode) and self.scalar(node) is None:
            return  # `groups:` with nothing under it
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping (key: value)")
        self._enter(node, MAP_TAG)
        given: set[str] = set()
        for key_node, value_node in node.value:
            key = self.scalar(key_node)
            if not isinstance(key, str):
                raise self.fail(key_node, f"the keys of {what} must be names, not {key!r}")
            if key in given:
                raise self.fail(key_node, f"{key} is given twice in {what}")
            given.add(key)
            self._check_alias(value_node, key_node)
            if keys is not None and key not in keys:
                close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]}?" if close else f" (known: {', '.join(keys)})"
                raise self.fail(key_node, f"unknown key {key} in {what}{hint}")
            yield key, key_node, value_node

    def sequence(self, node: yaml.Node, what: str, limit: int) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and self.scalar(node) is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list ([a, b] or one `- item` a line)")
        self._enter(node, SEQ_TAG)
        if len(node.value) > limit:
            raise self.fail(node, f"{what} has {len(node.value)} items; at most {limit}")
        for item in node.value:
            self._check_alias(item, item)
        return list(node.value)

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return node  # a collection: callers that want a scalar refuse it by type
        try:
            return self.constructor.construct_object(node)
        except yaml.YAMLError as exc:
            raise self.fail(node, f"cannot read this value: {exc}") from None

    def text(self, node: yaml.Node, what: str, limit: int, *, secret: bool = False) -> str:
        """A non-empty printable text; `secret` (a license token): its value is never shown."""
        value = self.scalar(node)
        if not isinstance(value, str) or not value:
            shown = "" if secret else f", not {_show(value)}"
            raise self.fail(node, f"{what} must be a non-empty text (in quotes){shown}")
        if len(value) > limit or _CONTROL.search(value):
            raise self.fail(node, f"{what} must be at most {limit} printable characters")
        return value

    def count(self, node: yaml.Node, what: str) -> int:
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(node, f"{what} must be a whole number, not {_show(value)}")
        if value < 0:
            raise self.fail(node, f"{what} must be 0 or more, not {value}")
        if value > MAX_UNITS:
            raise self.fail(node, f"{what} must be at most {MAX_UNITS:,}, not {value}")
        return value

    # -- the document -----------------------------------------------------------------

    def policy(self, text: str) -> Policy:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise PolicyFileError(
                f"{self.source}{line}: not valid YAML: {problem}",
                line=mark.line + 1 if mark is not None else None,
            ) from None
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if root is None:  # an empty file: no groups, no rules
            return Policy(groups={}, rules=(), source=self.source, sha256=digest)
        groups: dict[str, Group] = {}
        rules: tuple[Rule, ...] = ()
        for key, _, value in self.mapping(root, "the policy", TOP_KEYS):
            if key == "groups":
                groups = self.groups(value)
            else:
                rules = self.rules(value, groups)
        used = {g for rule in rules for g in _groups_of(rule)}
        self.warnings += [f"group {g} is used by no rule" for g in groups if g not in used]
        return Policy(
            groups=groups,
            rules=rules,
            source=self.source,
            sha256=digest,
            warnings=tuple(self.warnings),
        )

    def groups(self, node: yaml.Node) -> dict[str, Group]:
        out: dict[str, Group] = {}
        for name, key_node, value in self.mapping(node, "groups", None):
            if not GROUP_NAME.fullmatch(name):
                raise self.fail(key_node, f"group name {name!r} must be 1-64 of A-Z a-z 0-9 . _ -")
            if len(out) == MAX_GROUPS:
                raise self.fail(key_node, f"at most {MAX_GROUPS} groups")
            globs: list[str] = []
            networks: list[Network] = []
            for key, _, item in self.mapping(value, f"group {name}", GROUP_KEYS):
                for entry in self.sequence(item, f"{key} of group {name}", MAX_PATTERNS):
                    if key == "authContexts":
                        globs.append(self.glob(entry, name))
                    else:
                        networks.append(self.network(entry, name))
            if not globs and not networks:
                raise self.fail(
                    key_node, f"group {name} matches no device: give authContexts or networks"
                )
            out[name] = Group(name, tuple(globs), tuple(networks), key_node.start_mark.line + 1)
        return out

    def glob(self, node: yaml.Node, group: str) -> str:
        pattern = self.text(node, f"an authContext pattern of group {group}", MAX_TEXT)
        fault = glob_fault(pattern)
        if fault is not None:
            raise self.fail(node, f"authContext pattern {pattern!r} of group {group}: {fault}")
        return pattern

    def network(self, node: yaml.Node, group: str) -> Network:
        text = self.text(node, f"a network of group {group}", 64)
        try:
            return ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            hint = ""
            with contextlib.suppress(ValueError):  # host bits set: name the network meant
                hint = f"; did you mean {ipaddress.ip_network(text, strict=False)}?"
            raise self.fail(node, f"network {text!r} of group {group}: {exc}{hint}") from None

    def rules(self, node: yaml.Node, groups: dict[str, Group]) -> tuple[Rule, ...]:
        out: list[Rule] = []
        seen_names: set[str] = set()
        for index, item in enumerate(self.sequence(node, "rules", MAX_RULES), start=1):
            rule = self.rule(item, index, groups)
            if rule.name in seen_names:
                raise self.fail(item, f"two rules are named {rule.name}")
            seen_names.add(rule.name)
            out.append(rule)
        return tuple(out)

    def rule(self, node: yaml.Node, index: int, groups: dict[str, Group]) -> Rule:
        label = f"rule {index}"
        values: dict[str, Any] = {}
        nodes: dict[str, yaml.Node] = {}
        for key, _, value in self.mapping(node, label, RULE_KEYS):
            nodes[key] = value
        if "name" in nodes:
            values["name"] = self.text(nodes["name"], f"the name of {label}", 64)
            label = f"rule {values['name']}"
        for key, limit in (("licenses", 128), ("products", 64)):
            entries = (
                self.sequence(nodes[key], f"{key} of {label}", MAX_ENTRIES) if key in nodes else []
            )
            values[key] = tuple(
                self.text(e, f"an entry of {key} of {label}", limit, secret=key == "licenses")
                for e in entries
            )
        if not values["licenses"] and not values["products"]:
            raise self.fail(node, f"{label} governs no license: give licenses or products")
        seats = self.limits(nodes, label, groups)
        lists = {}
        for key in ("exclude", "include"):
            entries = (
                self.sequence(nodes[key], f"{key} of {label}", MAX_GROUPS) if key in nodes else []
            )
            lists[key] = tuple(self.group_ref(e, groups, f"{key} of {label}") for e in entries)
        features: dict[str, Limits] = {}
        if "features" in nodes:
            for code, code_node, value in self.mapping(
                nodes["features"], f"features of {label}", None
            ):
                if len(code) > 64 or _CONTROL.search(code):
                    raise self.fail(
                        code_node, f"feature code {code!r} is too long or not printable"
                    )
                what = f"feature {code} of {label}"
                parts = {k: v for k, _, v in self.mapping(value, what, FEATURE_KEYS)}
                features[code] = self.limits(parts, f"feature {code} of {label}", groups)
        rule = Rule(
            name=values.get("name", f"rule {index}"),
            line=node.start_mark.line + 1,
            licenses=values["licenses"],
            products=values["products"],
            seats=seats,
            exclude=lists["exclude"],
            include=lists["include"],
            features=features,
        )
        self.warnings += _rule_warnings(rule)
        return rule

    def limits(self, nodes: dict[str, yaml.Node], label: str, groups: dict[str, Group]) -> Limits:
        parts: dict[str, dict[str, int]] = {"reserve": {}, "max": {}}
        for key in ("reserve", "max"):
            if key not in nodes:
                continue
            for name, name_node, value in self.mapping(nodes[key], f"{key} of {label}", None):
                group = self.group_ref(name_node, groups, f"{key} of {label}")
                parts[key][group] = self.count(value, f"{key} {name} of {label}")
        return Limits(reserve=parts["reserve"], max=parts["max"])

    def group_ref(self, node: yaml.Node, groups: dict[str, Group], where: str) -> str:
        name = self.scalar(node)
        if not isinstance(name, str) or name not in groups:
            close = (
                difflib.get_close_matches(name, list(groups), n=1, cutoff=0.6)
                if isinstance(name, str)
                else []
            )
            hint = f"; did you mean {close[0]}?" if close else ""
            known = f" (groups: {', '.join(groups)})" if groups and not close else ""
            raise self.fail(node, f"unknown group {_show(name)} in {where}{hint}{known}")
        return name


def glob_fault(pattern: str) -> str | None:
    """Why an fnmatch pattern is likely a mistake (an unclosed `[`), or None."""
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1  # `[]abc]`: a leading ] is part of the set
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                return "a [ without its ] (write [[] for a literal [)"
            i = j
        i += 1
    return None


def _groups_of(rule: Rule) -> set[str]:
    named = set(rule.seats.reserve) | set(rule.seats.max) | set(rule.exclude) | set(rule.include)
    for limits in rule.features.values():
        named |= set(limits.reserve) | set(limits.max)
    return named


def _rule_warnings(rule: Rule) -> list[str]:
    out = []
    where = f"{rule.name} (line {rule.line})"
    for group in sorted(set(rule.exclude) & set(rule.include)):
        out.append(f"{where}: {group} is both included and excluded; exclude wins")
    for group, count in rule.seats.reserve.items():
        if count and (group in rule.exclude or (rule.include and group not in rule.include)):
            out.append(f"{where}: reserves seats for {group}, which gets no seat")
    if rule.seats.empty and not rule.exclude and not rule.include and not rule.features:
        out.append(f"{where}: reserves, limits, excludes and includes nothing")
    return out


def _show(value: Any) -> str:
    if isinstance(value, yaml.Node):
        return "a list or mapping"
    if value is None:
        return "nothing"
    return repr(value) if not isinstance(value, bool) else str(value).lower()
