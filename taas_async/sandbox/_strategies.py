"""How each strategy fills: its schedule, and what one step of it trades.

The engine (:mod:`~taas_async.sandbox._engine`) moves orders through time
and applies fills; this module decides, at each step of an order, what it
trades and at what price, and when it looks again. Four kinds of order:

- **Scheduled** algorithms (``TWAP``, ``VWAP``, ``IS``, ``Target Time`` with
  a ``duration``) fill along a curve in ``min(30, duration)`` slices, one at
  the end of each interval of active time (:func:`cumulative_weights`),
  bent by ``alpha_tilt``, ahead of it by up to ``schedule_discretion`` while
  the price beats the arrival price (never so far that the last slice has
  nothing left), behind it when ``engine_passiveness`` is above one half,
  and at most ``pov_limit`` of the market's volume.
- **POV** orders (an algorithm given ``pov_target``) trade ``pov_target``
  (capped by ``pov_limit``) of the market's volume every ``POV_STEP``, until
  filled, or until their ``duration`` if one is given.
- **Instant** orders: ``Market`` takes the whole order from the book at once;
  ``IOC`` takes what the book holds at or better than its limit and cancels
  the rest.
- **Resting** orders: ``Limit`` (one slice: the whole order) and ``Iceberg``
  (``ICEBERG_SLICES`` slices, each within ±5% of an equal share, shown one
  at a time). A slice shown where it can trade takes that liquidity at once,
  as an IOC would; the rest rests at the limit and fills there, whole, once
  the mid reaches it.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import attrs

from taas_async._enums import OrderStatus, Side, Strategy
from taas_async.sandbox._market import Market, day_weight
from taas_async.sandbox._records import (
    DEFAULT_ENGINE_PASSIVENESS,
    DEFAULT_SCHEDULE_DISCRETION,
    LOT,
    SimOrder,
)

__all__ = [
    "ICEBERG_SLICES",
    "POV_STEP",
    "Kind",
    "Trade",
    "cumulative_weights",
    "iceberg_factors",
    "kind_of",
    "lag_rate",
    "next_step",
    "place_again",
    "quiet_time",
    "scheduled_amount",
    "step",
]

#: An iceberg shows its order in this many slices (fewer for an order of fewer lots).
ICEBERG_SLICES = 10
#: How far each iceberg slice may differ from an equal share, in thousandths: ±5%.
ICEBERG_JITTER = 50
#: A POV order looks at the market's volume this often (active time).
POV_STEP = dt.timedelta(seconds=5)
#: A shown iceberg slice that filled is followed by the next one this much later.
ICEBERG_REFRESH = dt.timedelta(seconds=1)
_MICROSECOND = dt.timedelta(microseconds=1)
_HALF = Decimal("0.5")
_ONE = Decimal(1)


class Kind(enum.Enum):
    """How an order fills (see the module)."""

    SCHEDULED = "scheduled"
    POV = "pov"
    INSTANT = "instant"
    RESTING = "resting"


def kind_of(order: SimOrder) -> Kind:
    """The kind of an order, from its (possibly amended) request."""
    strategy = order.strategy
    if strategy in (Strategy.MARKET, Strategy.IOC):
        return Kind.INSTANT
    if strategy in (Strategy.LIMIT, Strategy.ICEBERG):
        return Kind.RESTING
    return Kind.POV if order.request.pov_target is not None else Kind.SCHEDULED


@attrs.frozen
class Trade:
    """What one step fills: ``qty`` base at ``price``."""

    qty: Decimal
    price: Decimal


@attrs.frozen
class Outcome:
    """One step's result: a trade or none, and whether the order ends now."""

    trade: Trade | None = None
    end: OrderStatus | None = None
    reason: str = ""


# --------------------------------------------------------------------------- schedules


def cumulative_weights(order: SimOrder) -> list[int]:
    """``W[k]``: how much of the schedule is due after slice ``k`` (``W[0] = 0``).

    The fraction due after slice ``k`` of ``n`` is ``W[k] / W[n]``, exact:

    - TWAP: ``k`` (even);
    - IS: ``n**2 - (n - k)**2`` (front-loaded: the rate falls from twice the
      average to nothing, trading early to cut the risk against the arrival
      price);
    - Target Time: ``k**2`` (back-loaded: the rate grows toward the target
      time, at the order's end);
    - VWAP: the running sum of :func:`~taas_async.sandbox._market.day_weight`
      at the middle of each slice, read at the start time plus the active time.
    """
    n = order.n_slices
    strategy = order.strategy
    if strategy is Strategy.IS:
        return [n * n - (n - k) ** 2 for k in range(n + 1)]
    if strategy is Strategy.TARGET_TIME:
        return [k * k for k in range(n + 1)]
    if strategy is Strategy.VWAP and order.time_start is not None:
        start = int(order.time_start.timestamp())
        span = order.duration
        weights = [0]
        for k in range(1, n + 1):
            middle = start + (2 * k - 1) * span // (2 * n)
            weights.append(weights[-1] + day_weight(middle))
        return weights
    return list(range(n + 1))


def scheduled_amount(order: SimOrder, k: int) -> Decimal:
    """What the schedule owes after slice ``k``, in the target's unit, tilted.

    With ``f = W[k] / W[n]`` and ``a = alpha_tilt``, the amount is
    ``total * (f + a * f * (1 - f))``: positive ``a`` front-loads, negative
    back-loads, and the curve still runs from 0 to the whole order.
    """
    _, total = order.target
    weights = cumulative_weights(order)
    w_k, w_n = weights[k], weights[-1]
    tilt = order.request.alpha_tilt or Decimal(0)
    # One division, last: exact whenever the amount is (3 * 10 / 30 is 1, not 0.999...).
    return total * w_k * (w_n + tilt * (w_n - w_k)) / (w_n * w_n)


def lag_rate(order: SimOrder) -> Decimal:
    """Share of what it owes a slice fills: ``min(1, 1.5 - engine_passiveness)``.

    Up to one half, an order crosses to the mid or beyond and fills its
    schedule; above it, it rests on its own side of the book and only part
    of each slice fills (half at passiveness 1): it lags, and its last slice
    takes the rest.
    """
    return min(_ONE, 1 + _HALF - passiveness(order))


def passiveness(order: SimOrder) -> Decimal:
    """The order's ``engine_passiveness``, or the default (0.02)."""
    value = order.request.engine_passiveness
    return DEFAULT_ENGINE_PASSIVENESS if value is None else value


def discretion(order: SimOrder) -> Decimal:
    """The order's ``schedule_discretion``, or the default (0.08)."""
    value = order.request.schedule_discretion
    return DEFAULT_SCHEDULE_DISCRETION if value is None else value


def iceberg_factors(order: SimOrder) -> tuple[int, ...]:
    """The relative sizes of an iceberg's slices, in thousandths of an equal share.

    Drawn from a generator seeded by the order's id, in pairs ``1000 + d`` and
    ``1000 - d`` (``d`` up to ``ICEBERG_JITTER``) then shuffled: each slice is
    within ±5% of an equal share, and together they make the whole order.
    """
    _, total = order.target
    n = max(1, min(ICEBERG_SLICES, int(total / LOT)))
    rng = random.Random(order.id)  # noqa: S311 (a simulation, not a secret)
    factors = []
    for _ in range(n // 2):
        d = rng.randint(0, ICEBERG_JITTER)
        factors += [1000 + d, 1000 - d]
    if n % 2:
        factors.append(1000)
    rng.shuffle(factors)
    return tuple(factors)


def _slice_end(order: SimOrder, index: int) -> Decimal:
    """Where resting slice ``index`` (0-based) ends, in the target's unit."""
    _, total = order.target
    factors = order.slice_factors or (1000,)
    if index + 1 >= len(factors):
        return total
    done = sum(factors[: index + 1])
    amount = total * done / sum(factors)
    unit, _ = order.target
    return amount.quantize(LOT, ROUND_DOWN) if unit == "base" else amount


# --------------------------------------------------------------------------- quantities


def _qty_for(order: SimOrder, owed: Decimal, price: Decimal, *, last: bool) -> Decimal:
    """Whole lots of base worth ``owed`` (in the target's unit) at ``price``."""
    unit, _ = order.target
    if unit == "base":
        return owed.quantize(LOT, ROUND_DOWN) if owed > 0 else Decimal(0)
    qty = (owed / price).quantize(LOT, ROUND_HALF_EVEN if last else ROUND_DOWN)
    return max(qty, Decimal(0))


def _left(order: SimOrder) -> Decimal:
    """What is left of the target, in its unit."""
    _, total = order.target
    return total - order.executed


def _worse(side: Side, price: Decimal, limit: Decimal) -> bool:
    return price > limit if side is Side.BUY else price < limit


def _limit_blocks(order: SimOrder, price: Decimal) -> bool:
    """An algorithm's limit holds this price back (a reverse limit: the other way)."""
    limit = order.request.limit_price
    if limit is None:
        return False
    return _worse(order.side, price, limit) is not bool(order.request.is_reverse_limit_price)


def _take(
    order: SimOrder, market: Market, when: dt.datetime, owed: Decimal, limit: Decimal | None
) -> tuple[Trade | None, bool]:
    """Take ``owed`` (target unit) from the book, no worse than ``limit``.

    Returns the trade (None if nothing) and whether the book ran out first.
    A quote amount is sized twice: at the touch, then at the price that size
    walks to, so its notional stays within ``owed``.
    """
    pair, side = order.pair, order.side
    qty = _qty_for(order, owed, market.taker_price(pair, side, LOT, when), last=False)
    if order.target[0] == "quote":
        qty = _qty_for(order, owed, market.taker_price(pair, side, qty or LOT, when), last=False)
    short = False
    if limit is not None:
        room = market.liquidity(pair, side, limit, when)
        short = room < qty
        qty = min(qty, room)
    if qty <= 0:
        return None, short
    price = market.taker_price(pair, side, qty, when)
    if limit is not None and _worse(side, price, limit):
        price = limit  # the tick's rounding, never past the limit
    return Trade(qty, price), short


# --------------------------------------------------------------------------- timing


def next_step(order: SimOrder) -> dt.datetime:
    """When an ACTIVE order steps next (a time already past: at once)."""
    assert order.last_step is not None  # noqa: S101 (set when it started)
    kind = kind_of(order)
    if kind is Kind.INSTANT:
        return order.last_step
    if kind is Kind.RESTING:
        return order.wake_at or order.last_step
    if kind is Kind.POV:
        step = POV_STEP // _MICROSECOND
        if order.request.duration is not None:  # a deadline: no step past it
            step = min(step, max(order.duration * 1_000_000 - order.elapsed_us, 0))
        return order.last_step + step * _MICROSECOND
    # All slices due already (a duration amended down to the time run): now.
    nxt = min(order.slices_due() + 1, order.n_slices)
    due = order.boundary_us(nxt) - order.elapsed_us
    return order.last_step + max(due, 0) * _MICROSECOND


def quiet_time(order: SimOrder, market: Market, when: dt.datetime) -> dt.timedelta:
    """How long a resting order's limit is out of the mid's reach (a second at least).

    Prices move at most ``b = max_step_bps`` a second (until a price is set
    by hand, which wakes every resting order), so a mid a fraction ``x``
    away from the limit needs at least ``x * (1 - b) / b`` seconds to reach it.
    """
    limit = order.request.limit_price
    assert limit is not None  # noqa: S101 (resting orders have one)
    mid = market.mid(order.pair, when)
    away = abs(limit - mid) / max(limit, mid)
    bound = market.prices.max_step_bps(order.pair) / 10_000
    seconds = int(away * (1 - bound) / bound) - 1
    return dt.timedelta(seconds=max(seconds, 1))


def place_again(order: SimOrder, now: dt.datetime) -> None:
    """Show a started resting order's current slice again at ``now``, as if just placed."""
    if order.last_step is not None and kind_of(order) is Kind.RESTING:
        order.shown = False
        order.wake_at = now


# --------------------------------------------------------------------------- steps


def step(
    order: SimOrder, market: Market, since: dt.datetime, when: dt.datetime, due: int
) -> Outcome:
    """One step of ``order`` at ``when`` (its previous step was at ``since``)."""
    kind = kind_of(order)
    if kind is Kind.INSTANT:
        return _instant(order, market, when)
    if kind is Kind.RESTING:
        return _resting(order, market, when)
    if kind is Kind.POV:
        return _pov(order, market, since, when)
    return _scheduled(order, market, since, when, due)


def _instant(order: SimOrder, market: Market, when: dt.datetime) -> Outcome:
    limit = order.request.limit_price
    trade, short = _take(order, market, when, _left(order), limit)
    if trade is None:
        why = "the limit price was not reached" if limit is not None else "less than one lot"
        return Outcome(None, OrderStatus.CANCELED, why)
    if short:  # IOC: the book held less than the order at or better than its limit
        return Outcome(trade, OrderStatus.CANCELED, "IOC: the rest found no liquidity at its limit")
    return Outcome(trade, OrderStatus.COMPLETE)


def _resting(order: SimOrder, market: Market, when: dt.datetime) -> Outcome:
    limit = order.request.limit_price
    assert limit is not None  # noqa: S101 (Limit and Iceberg need one)
    slices = len(order.slice_factors or (1000,))
    owed = _slice_end(order, order.slices_done) - order.executed
    while _qty_for(order, owed, limit, last=True) <= 0:  # done (a quantity amended down)
        order.slices_done += 1
        if order.slices_done >= slices:
            return Outcome(None, OrderStatus.COMPLETE)
        owed = _slice_end(order, order.slices_done) - order.executed
    if not order.shown:  # a slice just placed: take what the book offers up to the limit
        order.shown = True
        trade, short = _take(order, market, when, owed, limit)
        filled = trade is not None and not short
    elif not _worse(order.side, market.mid(order.pair, when), limit):
        # The mid reached the limit: the resting slice fills there, whole.
        qty = _qty_for(order, owed, limit, last=True)
        trade, filled = (Trade(qty, limit) if qty > 0 else None), True
    else:
        return Outcome()
    if filled:
        order.slices_done += 1
        order.shown = False
        order.wake_at = when + ICEBERG_REFRESH
        if order.slices_done >= slices:
            return Outcome(trade, OrderStatus.COMPLETE)
    return Outcome(trade)


def _pov(order: SimOrder, market: Market, since: dt.datetime, when: dt.datetime) -> Outcome:
    req = order.request
    assert req.pov_target is not None  # noqa: S101 (a POV order has one)
    rate = req.pov_target if req.pov_limit is None else min(req.pov_target, req.pov_limit)
    price = market.algo_price(order.pair, order.side, passiveness(order), when)
    deadline = req.duration is not None and order.elapsed_us >= req.duration * 1_000_000
    trade, left = None, _left(order)
    if not _limit_blocks(order, price):
        share = (rate * market.volume(order.pair, since, when)).quantize(LOT, ROUND_DOWN)
        qty = min(share, _qty_for(order, left, price, last=True))
        if qty > 0:
            trade = Trade(qty, price)
            left -= qty if order.target[0] == "base" else qty * price
    if _qty_for(order, left, price, last=True) <= 0:  # less than half a lot to go
        return Outcome(trade, OrderStatus.COMPLETE)
    if deadline:
        return Outcome(trade, OrderStatus.COMPLETE, "the duration ran out before the order filled")
    return Outcome(trade)


def _scheduled(
    order: SimOrder, market: Market, since: dt.datetime, when: dt.datetime, due: int
) -> Outcome:
    n = order.n_slices
    last = due >= n
    end = OrderStatus.COMPLETE if last else None
    price = market.algo_price(order.pair, order.side, passiveness(order), when)
    if _limit_blocks(order, price):
        why = "the limit price held back part of the order" if last and _left(order) > 0 else ""
        return Outcome(None, end, why)
    _, total = order.target
    if last:
        target, rate = total, _ONE
    else:
        target, rate = scheduled_amount(order, due), lag_rate(order)
        arrival = order.arrival_price
        if arrival is not None and _worse(order.side, arrival, market.mid(order.pair, when)):
            # A price better than on arrival: go ahead, but leave the last slice its share.
            ahead = target + discretion(order) * total
            target = min(ahead, scheduled_amount(order, n - 1))
    qty = _qty_for(order, (target - order.executed) * rate, price, last=last)
    held = ""
    if order.request.pov_limit is not None:
        cap = (order.request.pov_limit * market.volume(order.pair, since, when)).quantize(
            LOT, ROUND_DOWN
        )
        if cap < qty:
            qty, held = cap, "the participation limit (pov_limit) held back part of the order"
    trade = Trade(qty, price) if qty > 0 else None
    return Outcome(trade, end, held if last else "")
