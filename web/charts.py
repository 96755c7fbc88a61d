"""Line charts as inline SVG, drawn on the server: no JavaScript library, nothing from the network."""

from __future__ import annotations

import math
from html import escape

# Colour-blind-safe (Okabe-Ito), then a few more.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#882255", "#44AA99", "#999933", "#AA4499")

# (label, [(x, y), ...]) or (label, [(x, y), ...], colour index): compare pages keep one colour per run.
Series = tuple


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:  # a constant: centre it
        spread = abs(lo) * 0.1 or 1.0
        lo, hi = lo - spread, hi + spread
    raw = (hi - lo) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    ticks, value = [], start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float) -> str:
    return f"{value:.4g}"


def _legend(labels: list[str], width: float) -> list[tuple[int, float]]:
    """(row, x offset) for each label, flowing left to right (about 7px a character at 11px)."""
    spots, row, x = [], 0, 0.0
    for text in labels:
        size = 24 + 7.0 * len(text[:40])
        if x > 0 and x + size > width:
            row, x = row + 1, 0.0
        spots.append((row, x))
        x += size
    return spots


def line_chart(title: str, series: list, width: int = 430, height: int = 250, x_label: str = "epoch") -> str:
    """One SVG: a line (with dots) per series, axes with round ticks, a legend under the plot."""
    series = [(s[0], [(float(x), float(y)) for x, y in s[1] if math.isfinite(y)], s[2] if len(s) > 2 else i)
              for i, s in enumerate(series)]
    series = [s for s in series if s[1]]
    spots = _legend([label for label, _, _ in series], width - 56 - 12)
    legend_rows = 1 + max((row for row, _ in spots), default=0)
    height += 16 * (legend_rows - 1)
    left, right, top, bottom = 56, 12, 26, 34 + 16 * legend_rows
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}">',
             f'<text x="{left}" y="16" class="chart-title">{escape(title)}</text>']
    if not series:
        parts.append(f'<text x="{left}" y="{top + plot_h / 2}" class="chart-empty">no values yet</text></svg>')
        return "".join(parts)
    xs = [x for _, pts, _ in series for x, _ in pts]
    ys = [y for _, pts, _ in series for _, y in pts]
    x_ticks = _nice_ticks(min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1)
    x_ticks = [t for t in x_ticks if t == int(t)] or x_ticks  # epochs are whole numbers
    y_ticks = _nice_ticks(min(ys), max(ys))
    x0, x1 = min(x_ticks[0], min(xs)), max(x_ticks[-1], max(xs))
    y0, y1 = min(y_ticks[0], min(ys)), max(y_ticks[-1], max(ys))

    def px(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y0) / ((y1 - y0) or 1) * plot_h

    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="chart-bg"/>')
    for t in y_ticks:
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{py(t):.1f}" y2="{py(t):.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{py(t) + 4:.1f}" class="tick" text-anchor="end">{_label(t)}</text>')
    for t in x_ticks:
        parts.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{top + plot_h}" class="grid"/>'
                     f'<text x="{px(t):.1f}" y="{top + plot_h + 14}" class="tick" text-anchor="middle">'
                     f'{_label(t)}</text>')
    parts.append(f'<text x="{left + plot_w}" y="{top + plot_h + 28}" class="tick" text-anchor="end">'
                 f'{escape(x_label)}</text>')
    for (label, points, index), (row, offset) in zip(series, spots):
        colour = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(points))
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        lone = len(points) == 1  # a metric recorded once (val_mse at the last epoch): a marker with its value
        for x, y in points:
            marker = ' r="5" class="lone"' if lone else ' r="2.5"'
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}"{marker} fill="{colour}">'
                         f'<title>{escape(label)} epoch {_label(x)}: {_label(y)}</title></circle>')
            if lone:
                anchor = "end" if px(x) > left + plot_w / 2 else "start"
                dx = -8 if anchor == "end" else 8
                parts.append(f'<text x="{px(x) + dx:.1f}" y="{py(y) - 8:.1f}" class="value" text-anchor="{anchor}" '
                             f'fill="{colour}">{_label(y)}</text>')
        lx, ly = left + offset, top + plot_h + 34 + row * 16
        parts.append(f'<rect x="{lx:.1f}" y="{ly - 8:.1f}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14:.1f}" y="{ly + 1:.1f}" class="legend">{escape(label[:40])}</text>')
    parts.append("</svg>")
    return "".join(parts)
