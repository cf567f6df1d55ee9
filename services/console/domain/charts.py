"""Small inline SVG charts made on the server (pure): no script, no inline style (the
content security policy allows neither), each with a text alternative for screen readers
and for anyone who cannot see the picture."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Colours with at least 3:1 contrast against white (WCAG 1.4.11, graphics).
INK = "#1b1f24"
SPENT = "#0b5cad"
RESERVED = "#7aa7d9"
TRACK = "#d0d6de"
GOOD = "#17612e"
BAD = "#a3161b"


@dataclass(frozen=True)
class Segment:
    """A part of a bar: its value, colour and name (for the legend and the alternative)."""

    value: int
    colour: str
    label: str


def _svg(width: int, height: int, alternative: str, body: str) -> Markup:
    text = escape(alternative)
    # Every text interpolated into it is escaped, every other value is a number.
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{text}"'
        f' width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{text}</title>{body}</svg>"
    )


def stacked_bar(
    segments: Sequence[Segment], total: int, alternative: str, *, width: int = 240
) -> Markup:
    """A horizontal bar of ``total`` filled by ``segments`` from the left (budget used of its
    cap, say); past ``total`` the bar is full and outlined in red."""
    height = 14
    scale = max(total, sum(s.value for s in segments), 1)
    parts = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="{TRACK}"/>']
    x = 0.0
    for segment in segments:
        w = width * max(segment.value, 0) / scale
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{segment.colour}"/>'
        )
        x += w
    if sum(s.value for s in segments) > total > 0:
        parts.append(
            f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="none"'
            f' stroke="{BAD}" stroke-width="1"/>'
        )
    return _svg(width, height, alternative, "".join(parts))


def sparkline(
    values: Sequence[float | None],
    alternative: str,
    *,
    width: int = 160,
    height: int = 32,
    low: float = 0.0,
    high: float = 100.0,
) -> Markup:
    """A line through ``values`` (oldest first) on a fixed scale; gaps where a value is
    None; the last point marked."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points:
        return _svg(width, height, alternative, "")
    span = max(high - low, 1e-9)
    step = width / max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        clamped = min(max(v, low), high)
        return i * step, height - 2 - (clamped - low) / span * (height - 4)

    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in points))
    last_x, last_y = xy(*points[-1])
    body = (
        f'<polyline points="{path}" fill="none" stroke="{SPENT}" stroke-width="1.5"/>'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2.5" fill="{INK}"/>'
    )
    return _svg(width, height, alternative, body)


def interval(
    estimate: float,
    lower: float,
    upper: float,
    alternative: str,
    *,
    span: float,
    width: int = 300,
) -> Markup:
    """A difference and its confidence interval on a scale from ``-span`` to ``+span`` with
    zero marked: green when the whole interval is above zero, red when below."""
    height = 28
    span = max(span, abs(lower), abs(upper), 1e-9)

    def x(value: float) -> float:
        return (value + span) / (2 * span) * (width - 20) + 10

    colour = GOOD if lower > 0 else BAD if upper < 0 else INK
    body = (
        f'<line x1="{x(0):.1f}" y1="2" x2="{x(0):.1f}" y2="{height - 2}" stroke="{TRACK}"'
        ' stroke-width="2"/>'
        f'<line x1="{x(lower):.1f}" y1="14" x2="{x(upper):.1f}" y2="14" stroke="{colour}"'
        ' stroke-width="4"/>'
        f'<circle cx="{x(estimate):.1f}" cy="14" r="5" fill="{colour}"/>'
    )
    return _svg(width, height, alternative, body)


def bars(
    values: Sequence[tuple[str, int]],
    alternative: str,
    *,
    width: int = 320,
    colour: str = SPENT,
) -> Markup:
    """Vertical bars, one per (label, value), scaled to the largest, labels under them."""
    height, label_room = 90, 16
    top = max((v for _l, v in values), default=0) or 1
    slot = width / max(len(values), 1)
    parts = []
    for n, (label, value) in enumerate(values):
        h = (height - label_room - 4) * max(value, 0) / top
        x = n * slot + slot * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{height - label_room - h:.1f}" width="{slot * 0.7:.1f}"'
            f' height="{h:.1f}" fill="{colour}"/>'
            f'<text x="{n * slot + slot / 2:.1f}" y="{height - 3}" font-size="10"'
            f' text-anchor="middle" fill="{INK}">{escape(label)}</text>'
        )
    return _svg(width, height, alternative, "".join(parts))
