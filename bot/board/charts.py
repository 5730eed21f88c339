"""Small inline SVG charts, drawn on the server: no script, no build step, a few hundred bytes each. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 280, 64, 4


def bars(points: Sequence[tuple[str, float | None]], *, title: str, colour: str = "#2f6fde") -> str:
    """One bar per point (a day); a missing value (nothing to measure that day) leaves a gap, not a zero."""
    values = [v for _, v in points if v is not None]
    top = max(values, default=0.0) or 1.0
    step = (WIDTH - 2 * PAD) / max(1, len(points))
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 14}" width="100%" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<line x1="{PAD}" y1="{HEIGHT}" x2="{WIDTH - PAD}" y2="{HEIGHT}" stroke="#ccc" stroke-width="1"/>']
    for i, (label, value) in enumerate(points):
        x = PAD + i * step
        if value is not None:
            h = max(1.0, (HEIGHT - 2 * PAD) * value / top) if value > 0 else 0.0
            parts.append(f'<rect x="{x + 1:.1f}" y="{HEIGHT - h:.1f}" width="{max(1.0, step - 2):.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: {value:g}</title></rect>')
    if points:
        parts.append(f'<text x="{PAD}" y="{HEIGHT + 12}" font-size="10" fill="#888">{escape(points[0][0])}</text>')
        parts.append(f'<text x="{WIDTH - PAD}" y="{HEIGHT + 12}" font-size="10" fill="#888" text-anchor="end">'
                     f'{escape(points[-1][0])}</text>')
    parts.append(f'<text x="{WIDTH - PAD}" y="10" font-size="10" fill="#888" text-anchor="end">最高 {top:g}</text>')
    parts.append("</svg>")
    return "".join(parts)
