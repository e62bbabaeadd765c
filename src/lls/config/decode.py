"""One value from one source, decoded by its declaration: the type, the bounds, the choices.

The file, the variables, the flags and a `Config` built in code all pass through
`decode_value`, so a value is accepted or refused the same way wherever it came from;
the caller adds where it came from to the message (`refuse`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lls.config.declare import Setting
from lls.errors import BadRequest

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Invalid(ValueError):
    """A value a setting does not accept; the caller adds the key and the source."""


def _number(setting: Setting, value: Any, *, text: bool) -> float:
    whole = setting.kind is int
    if isinstance(value, bool) or (not text and not isinstance(value, int | float)):
        raise Invalid("a whole number" if whole else "a number")
    try:
        number = float(value) if not whole or not text else int(str(value).strip(), 10)
    except ValueError:
        raise Invalid("a whole number" if whole else "a number") from None
    if whole and (isinstance(value, float) and not float(value).is_integer()):
        raise Invalid("a whole number")
    if not math.isfinite(number):
        raise Invalid("a finite number")
    if setting.positive and number <= 0:
        raise Invalid("a number above 0")
    low, high = setting.low, setting.high
    if (low is not None and number < low) or (high is not None and number > high):
        if high is None:
            raise Invalid(f"at least {_show(low)}")
        raise Invalid(f"between {_show(low)} and {_show(high)}")
    return number


def _show(bound: float | None) -> str:
    return str(int(bound)) if bound is not None and float(bound).is_integer() else str(bound)


def decode_value(setting: Setting, value: Any, *, text: bool) -> Any:
    """`value` as the setting's type, within its bounds; `text`: from a variable or a flag."""
    if setting.kind is bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower() if text else None
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise Invalid("true or false")
    if setting.kind in (int, float):
        number = _number(setting, value, text=text)
        return int(number) if setting.kind is int else float(number)
    if setting.kind is Path and isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise Invalid("a text (put it in quotes)")
    if setting.choices:
        wanted = value.upper() if setting.key == "log.level" else value
        if wanted not in setting.choices:
            raise Invalid(f"one of {', '.join(setting.choices)}")
        return wanted
    return Path(value) if setting.kind is Path else value


def refuse(setting: Setting, value: Any, expected: str, source: str) -> BadRequest:
    return BadRequest(
        f"setting {setting.key} must be {expected}, not {value!r} ({source})", field=setting.key
    )
