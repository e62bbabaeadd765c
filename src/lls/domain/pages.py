"""Keyset pagination with opaque cursors, shared by every long list the admin is shown.

A cursor names the sort it belongs to and the sort key of the row it was cut at,
so the next page starts right after that row even while rows come and go
(sessions start and end between two clicks); offsets would skip or repeat rows.
One page costs one pass over the matching rows and a heap of `limit` entries,
never a full sort, which keeps 100,000 licenses well inside a page's budget.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import heapq
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Generic, TypeVar, overload

from lls.errors import BadRequest

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_CURSOR_CHARS = 2048
MAX_SEARCH_CHARS = 256

# (0 for a value / 1 for none, so missing values sort last; the value; a unique tie-break)
SortValue = str | int | float
SortKey = tuple[int, SortValue, str]

_first = itemgetter(0)


def sort_key(value: SortValue | None, tie: str) -> SortKey:
    """The key of one row: its sort value (missing ones last) and a unique tie-break."""
    return (1, "", tie) if value is None else (0, value, tie)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its rows, where it starts, and the cursors around it."""

    items: tuple[T, ...]
    total: int  # rows matching the filters, on every page
    start: int  # 0-based position of the first row among them
    next_cursor: str | None
    prev_cursor: str | None


@dataclass(frozen=True, slots=True)
class Order:
    """How a list is sorted and which page of it is wanted."""

    sort: str
    descending: bool = False
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def _encode(sort: str, after: bool, key: SortKey) -> str:
    raw = json.dumps([sort, "a" if after else "b", list(key)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad_cursor(why: str) -> BadRequest:
    return BadRequest(f"cursor: {why}; start again from the first page", field="cursor")


def _decode(cursor: str, sort: str) -> tuple[bool, SortKey]:
    """(after?, key) of a cursor this server gave for `sort`; anything else is a 400."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise _bad_cursor("too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _bad_cursor("not a cursor this server gave") from None
    if not (isinstance(doc, list) and len(doc) == 3 and doc[1] in ("a", "b")):
        raise _bad_cursor("not a cursor this server gave")
    name, way, key = doc
    if name != sort:
        raise _bad_cursor(f"it belongs to the sort by {name!r}, not by {sort!r}")
    if not (isinstance(key, list) and len(key) == 3 and key[0] in (0, 1)):
        raise _bad_cursor("not a cursor this server gave")
    rank, value, tie = key
    if not isinstance(tie, str) or isinstance(value, bool) or isinstance(rank, bool):
        raise _bad_cursor("not a cursor this server gave")
    if not isinstance(value, str | int | float):
        raise _bad_cursor("not a cursor this server gave")
    return way == "a", (rank, value, tie)


class _Reversed:
    """Text that sorts backwards, so a descending sort still breaks ties in ascending order
    and puts missing values last, as the ascending one does."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.text == self.text

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _Reversed):
            return NotImplemented
        return other.text < self.text

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, _Reversed):
            return NotImplemented
        return other.text > self.text

    __hash__ = None  # type: ignore[assignment]


def _ordered(key: SortKey, descending: bool) -> tuple[int, object, str]:
    """The key that ascending order sorts as asked: descending flips the value only."""
    rank, value, tie = key
    if not descending or rank == 1:
        return key
    return (rank, _Reversed(value) if isinstance(value, str) else -value, tie)


def paginate(rows: Sequence[T], key: Callable[[T], SortKey], order: Order) -> Page[T]:
    """The page of `rows` (already filtered) that `order` asks for, and its neighbours' cursors."""
    return paginate_keyed([key(row) for row in rows], rows, order)


def paginate_keyed(keys: Sequence[SortKey], rows: Sequence[T], order: Order) -> Page[T]:
    """`paginate` with each row's key given (keys that only a pool changes can be kept)."""
    desc = order.descending
    shown = [_ordered(k, True) for k in keys] if desc else keys
    keyed = list(zip(shown, keys, rows, strict=True))
    total = len(keyed)
    limit = max(1, min(order.limit, MAX_LIMIT))
    if order.cursor is None:
        chosen = heapq.nsmallest(limit, keyed, key=_first)
        start = 0
    else:
        after, raw = _decode(order.cursor, order.sort)
        mark = _ordered(raw, desc)
        try:
            if after:
                ahead = [kr for kr in keyed if kr[0] > mark]
                chosen = heapq.nsmallest(limit, ahead, key=_first)
                start = total - len(ahead)
            else:
                behind = [kr for kr in keyed if kr[0] < mark]
                chosen = heapq.nlargest(limit, behind, key=_first)
                chosen.reverse()
                start = len(behind) - len(chosen)
        except TypeError:  # text against numbers: a cursor of another kind of sort
            raise _bad_cursor("it does not fit this sort") from None
    return _page(tuple(row for _, _, row in chosen), [k for _, k, _ in chosen], total, start, order)


class Backwards(Sequence[T]):
    """A sequence read from its end: a list in token order, shown Z to A, without a copy."""

    def __init__(self, rows: Sequence[T]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, at: int) -> T: ...
    @overload
    def __getitem__(self, at: slice) -> Sequence[T]: ...
    def __getitem__(self, at: int | slice) -> T | Sequence[T]:
        if isinstance(at, slice):
            return [self[i] for i in range(*at.indices(len(self)))]
        return self._rows[len(self._rows) - 1 - at if at >= 0 else -1 - at]


def ordered_key(key: Callable[[T], SortKey], descending: bool) -> Callable[[T], object]:
    """The key under which rows shown in `descending` order (or not) are ascending."""
    return lambda row: _ordered(key(row), descending)


def paginate_display(display: Sequence[T], key: Callable[[T], SortKey], order: Order) -> Page[T]:
    """`paginate` for rows already in the order shown (ascending under `ordered_key`): a
    bisection and a slice, so a page of 100,000 licenses costs little more than the page."""
    total = len(display)
    limit = max(1, min(order.limit, MAX_LIMIT))
    if order.cursor is None:
        lo, hi = 0, min(limit, total)
    else:
        after, raw = _decode(order.cursor, order.sort)
        mark = _ordered(raw, order.descending)
        shown = ordered_key(key, order.descending)
        try:
            if after:
                lo = bisect.bisect_right(display, mark, key=shown)  # type: ignore[arg-type]
                hi = min(total, lo + limit)
            else:
                hi = bisect.bisect_left(display, mark, key=shown)  # type: ignore[arg-type]
                lo = max(0, hi - limit)
        except TypeError:  # text against numbers: a cursor of another kind of sort
            raise _bad_cursor("it does not fit this sort") from None
    items = tuple(display[lo:hi])
    return _page(items, [key(r) for r in items], total, lo, order)


def _page(
    items: tuple[T, ...], keys: Sequence[SortKey], total: int, start: int, order: Order
) -> Page[T]:
    next_cursor = prev_cursor = None
    if items and start + len(items) < total:
        next_cursor = _encode(order.sort, True, keys[-1])
    if items and start > 0:
        prev_cursor = _encode(order.sort, False, keys[0])
    return Page(items, total, start, next_cursor, prev_cursor)


def parse_order(
    params: Mapping[str, str],
    sorts: Sequence[str],
    *,
    default_sort: str,
    default_descending: bool = False,
    default_limit: int = DEFAULT_LIMIT,
) -> Order:
    """`sort`, `dir` (asc|desc), `limit` (1–1,000) and `cursor` from a query string."""
    sort = params.get("sort") or default_sort
    if sort not in sorts:
        raise BadRequest(f"sort must be one of {', '.join(sorts)}", field="sort")
    way = params.get("dir")
    if way not in (None, "", "asc", "desc"):
        raise BadRequest("dir must be asc or desc", field="dir")
    descending = default_descending if not way else way == "desc"
    raw_limit = params.get("limit")
    limit = default_limit
    if raw_limit:
        try:
            limit = int(raw_limit)
        except ValueError:
            raise BadRequest("limit must be a whole number", field="limit") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return Order(sort, descending, limit, params.get("cursor") or None)


def search_text(params: Mapping[str, str], name: str = "q") -> str:
    """A search box's text, trimmed and folded for case-insensitive matching."""
    text = (params.get(name) or "").strip()
    if len(text) > MAX_SEARCH_CHARS:
        raise BadRequest(f"{name} is longer than {MAX_SEARCH_CHARS} characters", field=name)
    return text.casefold()
