"""How a setting is declared: what one setting is (`Setting`) and the field that declares it.

Kept apart from the declarations themselves (`settings.py`) so that the list of every
setting reads as data; `setting()` is all a new entry needs.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

SECTION = "lls.config"  # the key of a field's metadata


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as an admin sees it: the YAML key, its variable, its rules and its help."""

    key: str  # dotted YAML path
    env: str
    attr: str  # the Config field
    default: Any
    help: str
    kind: type = str  # str, int, float, bool or Path
    low: float | None = None  # inclusive bounds of a number
    high: float | None = None
    positive: bool = False  # a number that must be > 0 (intervals)
    choices: tuple[str, ...] = ()
    live: bool = False  # applied by a reload; otherwise it needs a restart
    flag: str = ""  # the command-line flag that sets it, if any


def setting(
    key: str,
    default: Any,
    help: str,
    *,
    env: str,
    low: float | None = None,
    high: float | None = None,
    positive: bool = False,
    choices: tuple[str, ...] = (),
    live: bool = False,
    flag: str = "",
) -> Any:
    """Declare a `Config` field as a setting (its default, YAML key, variable and rules)."""
    meta = {
        "key": key,
        "env": env,
        "help": help,
        "low": low,
        "high": high,
        "positive": positive,
        "choices": choices,
        "live": live,
        "flag": flag,
    }
    return field(default=default, metadata={SECTION: meta})


_KINDS: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "Path": Path}


def settings_of(declared: type) -> tuple[Setting, ...]:
    """The settings a dataclass declares, one per field; every field must be a `setting()`."""
    out = []
    for f in fields(declared):
        if SECTION not in f.metadata:
            raise TypeError(
                f"{declared.__name__}.{f.name} is not declared with setting(key, default, help)"
            )
        meta = f.metadata[SECTION]
        kind = f.type if isinstance(f.type, type) else _KINDS[str(f.type)]
        default = f.default if f.default is not MISSING else None
        out.append(Setting(attr=f.name, default=default, kind=kind, **meta))
    return tuple(out)
