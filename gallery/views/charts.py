"""Charts drawn on the server as inline SVG: no script, nothing for the CSP to allow.

Each chart has a title and a description for screen readers (role="img"), scales to its
container (a viewBox, no fixed width, so it fits a phone), and takes its colours from CSS
classes (static/gallery/dashboard.css), which follow the light and dark themes. The numbers
themselves are in a table beside each chart, for anyone who cannot see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils import formats
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

WIDTH = 600
HEIGHT = 200
# Room for the axis labels.
LEFT = 44
BOTTOM = 22
TOP = 8


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    css: str  # the class that colours it, e.g. "c-ok"


def _nice_max(value: float) -> float:
    """A round top for the axis, at least `value`."""
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10
    for factor in (1, 2, 2.5, 5, 10):
        if step * factor >= value:
            return step * factor
    return value


def _number(value: float) -> str:
    # In the reader's language: "2.5" / "2,5", "1,200" / "1 200" / "1.200".
    if value < 10:
        return f"{value:g}".replace(".", str(formats.get_format("DECIMAL_SEPARATOR")))
    return formats.number_format(round(value), force_grouping=True)


def _frame(
    title: str, description: str, top: float, labels: Sequence[str], body: SafeString
) -> SafeString:
    plot_h = HEIGHT - BOTTOM - TOP
    grid = format_html_join(
        "",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
        (
            (LEFT, WIDTH, y, y, LEFT - 6, y + 4, _number(top * share))
            for share, y in ((s, TOP + plot_h * (1 - s)) for s in (0, 0.5, 1))
        ),
    )
    step = (WIDTH - LEFT) / max(1, len(labels))
    # Every seventh day is labelled: enough to read the axis, few enough not to collide.
    ticks = format_html_join(
        "",
        '<text class="axis" x="{}" y="{}" text-anchor="{}">{}</text>',
        (
            # The last label ends at the right edge rather than running past it.
            (round(LEFT + step * (i + 0.5), 1), HEIGHT - 6,
             "end" if i == len(labels) - 1 else "middle", label)
            for i, label in enumerate(labels)
            if (len(labels) - 1 - i) % 7 == 0
        ),
    )  # fmt: skip
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-t {}-d" '
        'preserveAspectRatio="xMidYMid meet"><title id="{}-t">{}</title>'
        '<desc id="{}-d">{}</desc>{}{}{}</svg>',
        WIDTH, HEIGHT, _slug(title), _slug(title), _slug(title), title, _slug(title),
        description, grid, body, ticks,
    )  # fmt: skip


def _slug(title: str) -> str:
    return "chart-" + "".join(c if c.isalnum() else "-" for c in title.lower())


def stacked_bars(
    title: str, description: str, labels: Sequence[str], series: Sequence[Series]
) -> SafeString:
    """One bar per label, the series stacked from the bottom."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    plot_h = HEIGHT - BOTTOM - TOP
    step = (WIDTH - LEFT) / max(1, len(labels))
    rects = []
    for i in range(len(labels)):
        base = 0.0
        for s in series:
            value = s.values[i] or 0
            if value:
                height = plot_h * value / top
                y = TOP + plot_h - plot_h * base / top - height
                x = round(LEFT + step * i + step * 0.15, 1)
                tip = _("%(day)s: %(value)s %(series)s") % {
                    "day": labels[i],
                    "value": _number(value),
                    "series": s.name,
                }
                rects.append((s.css, x, round(y, 1), round(step * 0.7, 1), round(height, 1), tip))
                base += value
    body = format_html_join(
        "", '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>', rects
    )
    return _frame(title, description, top, labels, body)


def lines(
    title: str, description: str, labels: Sequence[str], series: Sequence[Series]
) -> SafeString:
    """One line per series; a day without a value breaks the line."""
    top = _nice_max(max((v for s in series for v in s.values if v is not None), default=0))
    plot_h = HEIGHT - BOTTOM - TOP
    step = (WIDTH - LEFT) / max(1, len(labels))
    paths, dots = [], []
    for s in series:
        d, pen_down = [], False
        for i, value in enumerate(s.values):
            if value is None:
                pen_down = False
                continue
            x = round(LEFT + step * (i + 0.5), 1)
            y = round(TOP + plot_h * (1 - value / top), 1)
            d.append(f"{'L' if pen_down else 'M'}{x} {y}")
            alone = not pen_down and (i + 1 == len(s.values) or s.values[i + 1] is None)
            if alone:  # a day with empty neighbours has no line to be on: a dot
                dots.append((s.css, x, y, s.name))
            pen_down = True
        if d:
            paths.append((s.css, " ".join(d), s.name))
    body = format_html_join(
        "", '<path class="line {}" d="{}" fill="none"><title>{}</title></path>', paths
    ) + format_html_join(
        "", '<circle class="dot {}" cx="{}" cy="{}" r="4"><title>{}</title></circle>', dots
    )
    return _frame(title, description, top, labels, body)
