"""Draw the sandbox's fill curves: cumulative % filled against time, per strategy.

Every strategy buys the same 500 ETH on a fresh ``Sandbox(seed=6)`` (a seed
whose ETH walk dips 1% after about 2.5 hours; the virtual clock starts at
2026-01-01 00:00 UTC; every parameter at its default):
TWAP, VWAP, IS and Target Time over 4 hours, POV at 1% of the volume, a
Limit and an Iceberg 1% below the arrival price, a Market order, and an IOC
10 bps above it. The left panel shows 6 hours; the right one zooms on the
seconds around the moment the price reaches the Limit and the Iceberg.

Run from the repository root (so that the repository's own sandbox is the
one drawn), then look at the result::

    python -m docs.scripts.fill_curves            # writes docs/fill_curves.svg

The SVG is written by hand: no plotting library.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from taas_async import PlaceOrderRequest
from taas_async.sandbox import Sandbox, SimOrder

OUTPUT = Path(__file__).resolve().parent.parent / "fill_curves.svg"
SEED = 6
SIZE = Decimal(500)  # ETH
HORIZON = 6 * 3600  # seconds shown in the main panel
SAMPLE = 60  # seconds between samples in the main panel
DURATION = 4 * 3600  # of the scheduled algorithms
ZOOM_BEFORE, ZOOM_AFTER = 4, 16  # seconds around the limit's fill in the zoom panel
MAIN_X = (-300.0, float(HORIZON))  # from a little before the start: fills at 0 show

#: name -> (colour, dash pattern, order fields beyond the common ones)
STRATEGIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "TWAP": ("#1f77b4", "", {"strategy": "TWAP", "duration": DURATION}),
    "VWAP": ("#ff7f0e", "", {"strategy": "VWAP", "duration": DURATION}),
    "IS": ("#2ca02c", "", {"strategy": "IS", "duration": DURATION}),
    "Target Time": ("#d62728", "", {"strategy": "Target Time", "duration": DURATION}),
    "POV 1%": ("#9467bd", "", {"strategy": "TWAP", "pov_target": "0.01"}),
    "Limit -1%": ("#8c564b", "6 3", {"strategy": "Limit", "limit": Decimal("0.99")}),
    "Iceberg -1%": ("#e377c2", "2 2", {"strategy": "Iceberg", "limit": Decimal("0.99")}),
    "Market": ("#111111", "", {"strategy": "Market"}),
    "IOC +10 bps": ("#17becf", "", {"strategy": "IOC", "limit": Decimal("1.001")}),
}


def start(fields: dict[str, Any]) -> tuple[Sandbox, SimOrder]:
    """A fresh sandbox with the order placed and started; limits are relative to the mid."""
    sandbox = Sandbox(seed=SEED)
    body = dict(fields)
    ratio = body.pop("limit", None)
    if ratio is not None:
        body["limit_price"] = sandbox.price("ETH-USDT") * ratio
    order = sandbox.engine.place_order(
        PlaceOrderRequest(
            accounts=["mock"], pair="ETH-USDT", side="buy", base_asset_qty=SIZE, **body
        )
    )
    sandbox.advance(0)
    return sandbox, order


def percent(order: SimOrder) -> float:
    """Percent filled, for drawing only (the order's figures stay Decimal)."""
    return float(order.executed_qty * 100 / SIZE)


def curve(fields: dict[str, Any], step: int, until: int) -> list[tuple[float, float]]:
    """(seconds since the start, % filled), sampled every ``step`` seconds up to ``until``."""
    sandbox, order = start(fields)
    points = [(0.0, 0.0), (0.0, percent(order))]  # placed, then started: Market fills at once
    for t in range(step, until + 1, step):
        sandbox.advance(step)
        points.append((float(t), percent(order)))
    return points


def first_fill(fields: dict[str, Any]) -> int:
    """Seconds from the start to an order's first fill (the whole horizon if none)."""
    sandbox, order = start(fields)
    sandbox.advance(HORIZON)
    if not order.fills or order.time_start is None:
        return HORIZON
    return int((order.fills[0].time - order.time_start) / dt.timedelta(seconds=1))


def zoom_curve(fields: dict[str, Any], cross: int) -> list[tuple[float, float]]:
    """Every second from ``ZOOM_BEFORE`` before ``cross`` to ``ZOOM_AFTER`` after it."""
    sandbox, order = start(fields)
    sandbox.advance(cross - ZOOM_BEFORE)
    points = []
    for t in range(cross - ZOOM_BEFORE, cross + ZOOM_AFTER + 1):
        points.append((float(t - cross), percent(order)))
        sandbox.advance(1)
    return points


# --------------------------------------------------------------------------- SVG


WIDTH, HEIGHT = 1000, 620
MAIN = (80, 60, 580, 400)  # left, top, width, height of the main plot
ZOOM = (730, 60, 240, 400)
LEGEND = (80, 540)  # top left of the legend: three columns of three
FONT = "font-family='Helvetica, Arial, sans-serif'"


def steps(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """A step line: each value holds until the next sample."""
    out = [points[0]]
    for (_, y0), (x1, y1) in itertools.pairwise(points):
        out += [(x1, y0), (x1, y1)]
    return out


def polyline(
    points: Sequence[tuple[float, float]],
    box: tuple[int, int, int, int],
    xs: tuple[float, float],
    colour: str,
    dash: str,
) -> str:
    """The points as an SVG polyline in ``box``, x over ``xs``, y over 0..100%."""
    left, top, width, height = box
    lo, hi = xs
    coords = " ".join(
        f"{left + (x - lo) / (hi - lo) * width:.1f},{top + height - y / 100 * height:.1f}"
        for x, y in steps(points)
    )
    dashed = f" stroke-dasharray='{dash}'" if dash else ""
    return (
        f"<polyline points='{coords}' fill='none' stroke='{colour}'"
        f" stroke-width='2.2'{dashed} stroke-linejoin='round'/>"
    )


def axes(
    box: tuple[int, int, int, int],
    xs: tuple[float, float],
    ticks: list[tuple[float, str]],
    label: str,
) -> list[str]:
    """Frame, grid, tick labels and axis labels of one panel."""
    left, top, width, height = box
    lo, hi = xs
    out = [
        f"<rect x='{left}' y='{top}' width='{width}' height='{height}' fill='white' stroke='#333'/>"
    ]
    for pct in range(0, 101, 20):
        y = top + height - pct / 100 * height
        out.append(f"<line x1='{left}' y1='{y}' x2='{left + width}' y2='{y}' stroke='#ddd'/>")
        out.append(
            f"<text x='{left - 8}' y='{y + 4}' text-anchor='end' font-size='12' {FONT}>"
            f"{pct}%</text>"
        )
    for value, text in ticks:
        x = left + (value - lo) / (hi - lo) * width
        out.append(f"<line x1='{x}' y1='{top}' x2='{x}' y2='{top + height}' stroke='#eee'/>")
        out.append(
            f"<text x='{x}' y='{top + height + 18}' text-anchor='middle' font-size='12' {FONT}>"
            f"{escape(text)}</text>"
        )
    out.append(
        f"<text x='{left + width / 2}' y='{top + height + 40}' text-anchor='middle'"
        f" font-size='13' {FONT}>{escape(label)}</text>"
    )
    return out


def render(
    main: dict[str, list[tuple[float, float]]], zoom: dict[str, list[tuple[float, float]]]
) -> str:
    """The whole chart as SVG text."""
    hours = [(h * 3600.0, f"{h} h") for h in range(HORIZON // 3600 + 1)]
    seconds = [(float(s), f"{s:+d} s") for s in range(-ZOOM_BEFORE, ZOOM_AFTER + 1, 4)]
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}'"
        f" viewBox='0 0 {WIDTH} {HEIGHT}'>",
        f"<rect width='{WIDTH}' height='{HEIGHT}' fill='white'/>",
        f"<text x='{WIDTH / 2}' y='28' text-anchor='middle' font-size='18' font-weight='bold'"
        f" {FONT}>Sandbox fill curves: buying 500 ETH from 00:00 UTC (seed {SEED})</text>",
        f"<text x='{MAIN[0] - 50}' y='{MAIN[1] + MAIN[3] / 2}' font-size='13' {FONT}"
        f" transform='rotate(-90 {MAIN[0] - 50} {MAIN[1] + MAIN[3] / 2})'"
        " text-anchor='middle'>cumulative % filled</text>",
        *axes(MAIN, MAIN_X, hours, "time since the order was placed"),
        *axes(ZOOM, (-ZOOM_BEFORE, ZOOM_AFTER), seconds, "seconds from the price reaching -1%"),
        f"<text x='{ZOOM[0] + ZOOM[2] / 2}' y='{ZOOM[1] - 8}' text-anchor='middle'"
        f" font-size='13' {FONT}>Limit and Iceberg, zoomed</text>",
    ]
    for name, points in main.items():
        colour, dash, _ = STRATEGIES[name]
        parts.append(polyline(points, MAIN, MAIN_X, colour, dash))
    for name, points in zoom.items():
        colour, dash, _ = STRATEGIES[name]
        parts.append(polyline(points, ZOOM, (-ZOOM_BEFORE, ZOOM_AFTER), colour, dash))
    for i, (name, (colour, dash, _)) in enumerate(STRATEGIES.items()):
        legend_x, y = LEGEND[0] + (i // 3) * 200, LEGEND[1] + (i % 3) * 24
        dashed = f" stroke-dasharray='{dash}'" if dash else ""
        parts.append(
            f"<line x1='{legend_x}' y1='{y}' x2='{legend_x + 24}' y2='{y}' stroke='{colour}'"
            f" stroke-width='3'{dashed}/>"
        )
        parts.append(
            f"<text x='{legend_x + 30}' y='{y + 4}' font-size='12' {FONT}>{escape(name)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Simulate every strategy and write the chart."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    curves = {name: curve(fields, SAMPLE, HORIZON) for name, (_, _, fields) in STRATEGIES.items()}
    cross = first_fill(STRATEGIES["Limit -1%"][2])
    zoomed = {name: zoom_curve(STRATEGIES[name][2], cross) for name in ("Limit -1%", "Iceberg -1%")}
    args.output.write_text(render(curves, zoomed))
    print(f"wrote {args.output} (the limit is reached {cross} s after the start)")


if __name__ == "__main__":
    main()
