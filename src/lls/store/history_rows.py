"""Usage history rows as both stores keep them: the JSON text of the three small maps."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec

from lls.domain.records import HourRow

COLUMNS = "license, hour, peak_sessions, started, denials, peak_units, consumed"


_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def _text(counts: Mapping[str, int]) -> str:
    """A map as compact JSON with sorted keys (the same text in both stores). Most maps of
    a bucket are empty, and a round writes up to hundreds of rows in one batch on the
    event loop: the empty map costs nothing and the others one msgspec call."""
    if not counts:
        return "{}"
    return _encode_sorted(counts).decode()


_decode_counts = msgspec.json.Decoder(dict[str, int]).decode


def _counts(text: str) -> dict[str, int]:
    """A stored map back; most are empty, which costs no parse (a 90-day chart reads 2,160
    rows of three maps each)."""
    if not text or text == "{}":
        return {}
    try:
        return _decode_counts(text)
    except msgspec.ValidationError:  # written by hand? keep what reads as counts
        raw = json.loads(text)
        return {str(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def row_values(row: HourRow) -> tuple[Any, ...]:
    """The values of one row, in COLUMNS order."""
    return (
        row.license,
        row.hour,
        row.peak_sessions,
        row.started,
        _text(row.denials),
        _text(row.peak_units),
        _text(row.consumed),
    )


def hour_row(values: Any) -> HourRow:
    """A row read back (a tuple or record in COLUMNS order)."""
    return HourRow(
        license=str(values[0]),
        hour=int(values[1]),
        peak_sessions=int(values[2]),
        started=int(values[3]),
        denials=_counts(values[4]),
        peak_units=_counts(values[5]),
        consumed=_counts(values[6]),
    )


def sum_denials(texts: Any) -> dict[str, int]:
    """The denials of many rows added up by reason (each given as its JSON text)."""
    total: dict[str, int] = {}
    for (text,) in texts:
        for reason, count in _counts(text).items():
            total[reason] = total.get(reason, 0) + count
    return total
