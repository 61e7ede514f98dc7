"""Inline SVG charts for the self-contained reports: vertical and horizontal bar charts.

Pure functions from labels and values to SVG text; every label is
HTML-escaped (labels come from the data). No script, font or image is
loaded, so a chart reads the same offline.
"""

from __future__ import annotations

import math
from html import escape

BLUE = "#4063d8"
TEAL = "#1f9d8b"
ORANGE = "#d9822b"
RED = "#c9372c"


def _nice_ticks(top: float, n: int = 4) -> list[float]:
    """Round gridline values from 0 to at least `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / n
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _short(value: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:g}"


def bar_chart(
    labels: list[str], values: list[int], *, x_label: str, y_label: str, color: str | list[str]
) -> str:
    """A vertical bar chart as inline SVG, with gridlines and a tooltip per bar.

    `color` is one colour for all bars or one per bar.
    """
    if not values:
        return "<p class='empty'>No data.</p>"
    colors = [color] * len(values) if isinstance(color, str) else color
    rotate = len(values) > 8  # long runs of labels are slanted, which needs more room below
    width, height, left, right, top = 520, 280 if rotate else 260, 52, 12, 14
    bottom = 80 if rotate else 58
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = _nice_ticks(max(values))
    scale = plot_h / ticks[-1]
    slot = plot_w / len(values)
    bar = max(slot * 0.78, 1.0)
    out = [_svg_open(width, height, f"{y_label} by {x_label}")]
    for t in ticks:
        y = top + plot_h - t * scale
        out.append(
            f"<line x1='{left}' x2='{width - right}' y1='{y:.1f}' y2='{y:.1f}' class='grid'/>"
            f"<text x='{left - 6}' y='{y + 4:.1f}' class='tick' text-anchor='end'>"
            f"{_short(t)}</text>"
        )
    for i, (label, value, fill) in enumerate(zip(labels, values, colors, strict=True)):
        x = left + i * slot + (slot - bar) / 2
        h = value * scale
        out.append(
            f"<rect x='{x:.1f}' y='{top + plot_h - h:.1f}' width='{bar:.1f}' height='{h:.1f}' "
            f"rx='2' fill='{fill}'><title>{escape(label)}: {value:,}</title></rect>"
        )
        cx, ly = x + bar / 2, top + plot_h + 14
        if rotate:
            out.append(
                f"<text x='{cx:.1f}' y='{ly:.1f}' class='tick' text-anchor='end' "
                f"transform='rotate(-40 {cx:.1f} {ly:.1f})'>{escape(label)}</text>"
            )
        else:
            out.append(
                f"<text x='{cx:.1f}' y='{ly:.1f}' class='tick' text-anchor='middle'>"
                f"{escape(label)}</text>"
            )
            if value:
                out.append(
                    f"<text x='{cx:.1f}' y='{top + plot_h - h - 4:.1f}' class='val' "
                    f"text-anchor='middle'>{_short(value)}</text>"
                )
    out.append(
        f"<text x='{left + plot_w / 2:.1f}' y='{height - 4}' class='axis' "
        f"text-anchor='middle'>{escape(x_label)}</text>"
        f"<text x='12' y='{top + plot_h / 2:.1f}' class='axis' text-anchor='middle' "
        f"transform='rotate(-90 12 {top + plot_h / 2:.1f})'>{escape(y_label)}</text></svg>"
    )
    return "".join(out)


def hbar_chart(labels: list[str], values: list[int], *, color: str) -> str:
    """A horizontal bar chart as inline SVG, for long category names."""
    row, left, right = 30, 170, 64
    width, height = 520, row * len(values) + 10
    top_value = max(values) or 1
    out = [_svg_open(width, height, "rejected rows by reason")]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 5 + i * row
        w = (width - left - right) * value / top_value
        out.append(
            f"<text x='{left - 8}' y='{y + 18}' class='tick' text-anchor='end'>"
            f"{escape(label)}</text>"
            f"<rect x='{left}' y='{y + 4}' width='{max(w, 1):.1f}' height='{row - 10}' rx='2' "
            f"fill='{color}'><title>{escape(label)}: {value:,}</title></rect>"
            f"<text x='{left + w + 6:.1f}' y='{y + 18}' class='val'>{value:,}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _svg_open(width: int, height: int, label: str) -> str:
    return f"<svg viewBox='0 0 {width} {height}' role='img' aria-label='{escape(label)}'>"
