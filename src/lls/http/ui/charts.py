"""Charts drawn on the server as inline SVG: readable with JavaScript off, no chart library.

Pure functions from numbers to markup. Sizes and colours are SVG attributes and CSS
classes, never `style=` (the Content-Security-Policy forbids inline styles); every
chart is an image with a text alternative that says what it shows in words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

HIGH_SHARE = 0.8  # from here a bar is drawn as nearly full


def share_of(used: float, total: float | None) -> float:
    """`used` as a share of `total`, 0–1; no total (unlimited) is 0, nothing to share is full."""
    if total is None:
        return 0.0
    if total <= 0:
        return 1.0 if used > 0 else 0.0
    return max(0.0, min(1.0, used / total))


def level(share: float) -> str:
    """The CSS class of a fill level: ok, high (≥ 80 %) or full."""
    if share >= 1.0:
        return "full"
    return "high" if share >= HIGH_SHARE else "ok"


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def meter(used: int, total: int | None, *, unit: str = "in use") -> Markup:
    """A thin utilisation bar, e.g. `3 of 10 in use (30%)`."""
    share = share_of(used, total)
    words = f"{used} {unit}" if total is None else f"{used} of {total} {unit} ({share:.0%})"
    width = 0.0 if used <= 0 else max(2.0, share * 100)
    return Markup(
        '<svg class="meter meter-{level}" viewBox="0 0 100 8" preserveAspectRatio="none"'
        ' role="img" aria-label="{words}" focusable="false">'
        '<rect class="meter-track" width="100" height="8" rx="4"/>'
        '<rect class="meter-fill" width="{width}" height="8" rx="4"/></svg>'
    ).format(level=level(share), words=words, width=_num(width))


def ring(used: int, total: int, *, label: str) -> Markup:
    """A ring gauge with the share in its middle, e.g. seats in use across all licenses."""
    share = share_of(used, total)
    circumference = 100.0  # r = 100 / 2π, so the dash lengths are percentages
    radius = circumference / (2 * math.pi)
    filled = share * circumference
    return Markup(
        '<svg class="ring ring-{level}" viewBox="0 0 42 42" role="img" aria-label="{words}"'
        ' focusable="false">'
        '<circle class="ring-track" cx="21" cy="21" r="{r}" fill="none" stroke-width="5"/>'
        '<circle class="ring-fill" cx="21" cy="21" r="{r}" fill="none" stroke-width="5"'
        ' stroke-dasharray="{filled} {rest}" stroke-dashoffset="25"/>'
        '<text class="ring-text" x="21" y="21" text-anchor="middle"'
        ' dominant-baseline="central">{pct}</text></svg>'
    ).format(
        level=level(share),
        words=f"{label}: {used} of {total} ({share:.0%})",
        r=_num(radius),
        filled=_num(filled),
        rest=_num(circumference - filled),
        pct=f"{share:.0%}",
    )


def line_chart(
    points: Sequence[tuple[float, float]],
    *,
    title: str,
    x_labels: tuple[str, str] = ("", ""),
    width: int = 600,
    height: int = 160,
    ceiling: float | None = None,
) -> Markup:
    """A step line of (x, y) points (x ascending), e.g. peak sessions per hour, with its
    range in words for screen readers and the largest value marked on the axis; the axis
    reaches `ceiling` (e.g. the seats granted) when the values stay below it."""
    pad_left, pad_bottom, pad_top = 36, 18, 8
    inner_w, inner_h = width - pad_left - 4, height - pad_bottom - pad_top
    words = f"{title}: no data"
    path = ""
    top = 0.0
    if points:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        top = max(max(ys), ceiling or 0.0) or 1.0
        x0, x1 = xs[0], xs[-1] if xs[-1] > xs[0] else xs[0] + 1

        def px(x: float) -> float:
            return pad_left + (x - x0) / (x1 - x0) * inner_w

        def py(y: float) -> float:
            return pad_top + inner_h - (max(0.0, y) / top) * inner_h

        steps = [f"M{_num(px(xs[0]))},{_num(py(ys[0]))}"]
        for x, y in points[1:]:  # each value holds until the next point, then steps
            steps.append(f"H{_num(px(x))}")
            steps.append(f"V{_num(py(y))}")
        path = " ".join(steps)
        words = f"{title}: {len(points)} points, lowest {_num(min(ys))}, highest {_num(max(ys))}"
    base = pad_top + inner_h
    return Markup(
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{words}"'
        ' focusable="false">'
        '<line class="chart-axis" x1="{l}" y1="{base}" x2="{r}" y2="{base}"/>'
        '<line class="chart-axis" x1="{l}" y1="{t}" x2="{l}" y2="{base}"/>'
        '<text class="chart-label" x="{lt}" y="{t1}" text-anchor="end">{top}</text>'
        '<text class="chart-label" x="{lt}" y="{base}" text-anchor="end">0</text>'
        '<text class="chart-label" x="{l}" y="{h}">{x_from}</text>'
        '<text class="chart-label" x="{r}" y="{h}" text-anchor="end">{x_to}</text>'
        '<path class="chart-line" d="{path}" fill="none"/></svg>'
    ).format(
        w=width,
        h=height,
        words=words,
        l=pad_left,
        r=width - 4,
        t=pad_top,
        t1=pad_top + 8,
        lt=pad_left - 4,
        base=_num(base),
        top=_num(top),
        x_from=escape(x_labels[0]),
        x_to=escape(x_labels[1]),
        path=path,
    )
