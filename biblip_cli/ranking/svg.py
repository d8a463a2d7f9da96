"""The report's charts as inline SVG strings: a histogram and a stacked horizontal bar, each with axes,
ticks and labels. Hand-made so the report needs no plotting library and no script; every text drawn is
HTML-escaped here, so the strings can go into the page as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

FONT = 'font-family="system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif"'
AXIS = "#555"
GRID = "#e4e7eb"
BAR = "#7a9cc6"
MARK = "#c0392b"
# one colour per evidence term, in legend order (colour-blind safe: Okabe-Ito)
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#999999")


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values (1, 2, 2.5 or 5 x 10^k apart) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    count = round((last - first) / step)
    return [round(first + i * step, 12) + 0.0 for i in range(count + 1)]


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 12, extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="#333"{extra}>'
        f"{escape(text)}</text>"
    )


def histogram(
    values: Sequence[float],
    marked: Sequence[tuple[float, str]] = (),
    *,
    bins: int = 30,
    width: int = 760,
    height: int = 260,
    x_label: str = "score",
    y_label: str = "candidates (log scale)",
    title: str = "",
) -> str:
    """Counts of `values` in `bins` equal bins, the y axis log-scaled (1, 10, 100, ...) so that the few
    high scores stay visible next to hundreds of low ones; `marked` (value, label) pairs are drawn as red
    lines with the label as a tooltip."""
    left, right, top, bottom = 64, 16, 16, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title or x_label)}" {FONT}>'
    )
    if not values:
        return head + _text(width / 2, height / 2, "no candidates") + "</svg>"
    ticks_x = nice_ticks(min(values), max(values), 6)
    lo, hi = ticks_x[0], ticks_x[-1]
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int((v - lo) / (hi - lo) * bins)))] += 1
    top_power = max(1, math.ceil(math.log10(max(counts) + 1)))
    y_max = math.log10(10**top_power + 1)

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    def sy(count: float) -> float:
        return top + plot_h - plot_h * math.log10(count + 1) / y_max

    parts = [head]
    for k in range(top_power + 1):  # y ticks at 10^k: grid line, tick, label
        y = sy(10**k)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<line x1="{left - 5}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}" stroke="{AXIS}"/>')
        parts.append(_text(left - 8, y + 4, f"{10**k:,}", anchor="end", size=11))
    bar_w = plot_w / bins
    for i, n in enumerate(counts):
        if n:
            x, y = left + i * bar_w, sy(n)
            start, end = lo + i * (hi - lo) / bins, lo + (i + 1) * (hi - lo) / bins
            parts.append(
                f'<rect x="{x + 0.5:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                f'height="{top + plot_h - y:.1f}" fill="{BAR}"><title>{n} candidates with score '
                f"{_fmt(start)} to {_fmt(end)}</title></rect>"
            )
    for value, label in marked:
        x = sx(value)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{MARK}" stroke-width="1.5">'
            f"<title>{escape(label)}: {_fmt(value)}</title></line>"
        )
    base = top + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="{AXIS}"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="{AXIS}"/>')
    for t in ticks_x:
        x = sx(t)
        parts.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 5}" stroke="{AXIS}"/>')
        parts.append(_text(x, base + 18, _fmt(t), size=11))
    parts.append(_text(left + plot_w / 2, height - 8, x_label))
    mid = top + plot_h / 2
    parts.append(_text(16, mid, y_label, extra=f' transform="rotate(-90 16 {mid:.1f})"'))
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar(
    terms: Sequence[tuple[str, float]],
    *,
    domain: tuple[float, float] | None = None,
    colors: dict[str, str] | None = None,
    width: int = 520,
    x_label: str = "log-odds",
    total_label: str = "sum",
) -> str:
    """One horizontal bar of signed terms stacked from 0 (positive to the right, negative to the left),
    a black tick at their sum, an x axis with ticks and a legend with each term's value. `domain` fixes
    the axis (the same for every card, so bars compare); values outside it are clipped to its edge."""
    total = sum(v for _, v in terms)
    pos = sum(v for _, v in terms if v > 0)
    neg = sum(v for _, v in terms if v < 0)
    lo, hi = domain or (min(neg, total, 0.0), max(pos, total, 0.0))
    ticks = nice_ticks(lo, hi, 6)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    left, right, bar_y, bar_h = 14, 14, 8, 22
    plot_w = width - left - right
    legend_rows = math.ceil(len(terms) / 2)
    height = bar_y + bar_h + 42 + 18 * legend_rows

    def sx(v: float) -> float:
        return left + (min(max(v, lo), hi) - lo) / (hi - lo) * plot_w

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="evidence by term" {FONT}>'
        )
    ]
    colour = {
        label: (colors or {}).get(label, PALETTE[i % len(PALETTE)]) for i, (label, _) in enumerate(terms)
    }
    up = down = 0.0
    for label, value in terms:
        if value == 0:
            continue
        start = up if value > 0 else down + value
        if value > 0:
            up += value
        else:
            down += value
        x0, x1 = sx(start), sx(start + abs(value))
        parts.append(
            f'<rect x="{x0:.1f}" y="{bar_y}" width="{max(x1 - x0, 0.5):.1f}" height="{bar_h}" '
            f'fill="{colour[label]}" stroke="#fff" stroke-width="0.5"><title>{escape(label)}: '
            f"{value:+.2f}</title></rect>"
        )
    axis_y = bar_y + bar_h + 4
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" stroke="{AXIS}"/>')
    for t in ticks:
        x = sx(t)
        parts.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 4}" stroke="{AXIS}"/>')
        parts.append(_text(x, axis_y + 15, _fmt(t), size=10))
    zero = sx(0.0)
    parts.append(f'<line x1="{zero:.1f}" y1="{bar_y - 4}" x2="{zero:.1f}" y2="{axis_y}" stroke="{AXIS}"/>')
    x_total = sx(total)
    parts.append(
        f'<path d="M{x_total - 5:.1f},{bar_y - 7} L{x_total + 5:.1f},{bar_y - 7} L{x_total:.1f},{bar_y} Z" '
        f'fill="#111"><title>{escape(total_label)}: {total:+.2f}</title></path>'
    )
    parts.append(_text(left + plot_w, axis_y + 29, f"{x_label} (▼ {total_label} {total:+.2f})", "end", 11))
    for i, (label, value) in enumerate(terms):
        x = left + (i % 2) * plot_w / 2
        y = axis_y + 40 + 18 * (i // 2)
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="11" height="11" fill="{colour[label]}"/>')
        parts.append(_text(x + 16, y + 10, f"{label} {value:+.2f}", "start", 12))
    parts.append("</svg>")
    return "".join(parts)
