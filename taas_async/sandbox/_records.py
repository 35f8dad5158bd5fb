"""What the simulated venue holds: accounts, positions, orders and their groups, fills.

Plain records and the rules that need nothing but a record (an order's
target, its slices, a group's status); :class:`~taas_async.sandbox._engine.Engine`
moves them through time. Also the sandbox's own limits and its error type.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Mapping, Sequence
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from typing import Any, Literal

import attrs

from taas_async._enums import OrderStatus, PosSide, Side, Strategy
from taas_async._requests import (
    ChildOrder,
    CloseBalancesRequest,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
)
from taas_async.sandbox._prices import STABLECOINS, Pair

__all__ = [
    "Account",
    "Fill",
    "Message",
    "Position",
    "SandboxError",
    "SimChain",
    "SimMulti",
    "SimOrder",
]

#: The smallest quantity an order fills in (an exchange's lot size).
LOT = Decimal("1e-8")
#: At most this many slices per scheduled order (fewer for short orders: one a second).
MAX_SLICES = 30
#: What close_balances gives its flattening orders.
CLOSE_DURATION = 300
DEFAULT_ENGINE_PASSIVENESS = Decimal("0.02")
DEFAULT_SCHEDULE_DISCRETION = Decimal("0.08")
#: The arithmetic of the venue, whatever decimal context the caller's thread has set:
#: quantities times prices stay exact.
EXACT = Context(
    prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
#: The sandbox's own limits, as a venue has its own, beyond the SDK's rules (which allow
#: 1e100): amounts and prices its exact arithmetic carries (EXACT's 60 digits, LOT's 8
#: decimals, times a price), and orders that end long before the calendar does.
MAX_AMOUNT = Decimal("1e30")
MAX_DURATION = 100 * 365 * 86400  # a century, in seconds
_AMOUNTS = (
    "sell_token_amount",
    "base_asset_qty",
    "quote_asset_qty",
    "limit_price",
    "max_otc",
    "updated_leverage",
)
MICROSECOND = dt.timedelta(microseconds=1)
HUNDRED = Decimal(100)
WAITING = "waiting for the previous orders of its chain"
#: An order left paused this long is canceled automatically (the TaaS rule).
PAUSE_LIMIT = dt.timedelta(hours=24)
PAUSE_EXPIRED = "paused for more than 24 hours: canceled automatically"


class SandboxError(Exception):
    """An API error the simulator answers with: an HTTP status and a JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def not_found(what: str, key: str) -> SandboxError:
    return SandboxError(404, {"detail": f"{what} {key} not found."})


def bad_field(field: str, message: str) -> SandboxError:
    return SandboxError(400, {field: [message]})


def limit_problems(request: PlaceOrderRequest, prefix: str = "") -> dict[str, list[str]]:
    """Fields of an order beyond the sandbox's limits (``MAX_AMOUNT``, ``MAX_DURATION``)."""
    problems = {
        f"{prefix}{name}": [f"must be below {MAX_AMOUNT:E} in the sandbox"]
        for name in _AMOUNTS
        if (value := getattr(request, name)) is not None and abs(value) >= MAX_AMOUNT
    }
    if request.duration is not None and request.duration > MAX_DURATION:
        problems[f"{prefix}duration"] = [f"must be at most {MAX_DURATION} s in the sandbox"]
    return problems


def check_limits(requests: Iterable[tuple[str, PlaceOrderRequest]]) -> None:
    """400 naming every field beyond the sandbox's limits, before anything is placed."""
    problems: dict[str, list[str]] = {}
    for prefix, request in requests:
        problems.update(limit_problems(request, prefix))
    if problems:
        raise SandboxError(400, problems)


# --------------------------------------------------------------------------- accounts


@attrs.define
class Position:
    """A derivative position: signed size, and the exact cost of what is open.

    Unrealized profit at price ``p`` is ``size * p - cost``; when the size
    returns to zero, ``-cost`` is realized into the quote token.
    """

    size: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)


@attrs.define(eq=False)
class Account:
    """An exchange account: tokens, derivative positions, leverage per pair."""

    name: str
    id: str
    exchange: str = "Mock"
    tokens: dict[str, Decimal] = attrs.field(factory=dict)
    positions: dict[str, Position] = attrs.field(factory=dict)
    leverage: dict[str, Decimal] = attrs.field(factory=dict)

    def apply_fill(
        self, pair: Pair, side: Side, qty: Decimal, notional: Decimal, fee: Decimal = Decimal(0)
    ) -> None:
        """Move ``qty`` base against ``notional`` quote (signed by ``side``); pay ``fee`` quote.

        Spot: the fee comes on top of what a buy pays, off what a sell receives.
        Derivatives: it leaves the quote token; the position's cost is the notional.
        """
        sign = 1 if side is Side.BUY else -1
        if pair.is_derivative:
            position = self.positions.setdefault(pair.symbol, Position())
            position.size += sign * qty
            position.cost += sign * notional
            if position.size.is_zero():  # flat again: the profit or loss is realized
                self._add(pair.quote, -position.cost)
                position.cost = Decimal(0)
        else:
            self._add(pair.base, sign * qty)
            self._add(pair.quote, -sign * notional)
        if fee:
            self._add(pair.quote, -fee)

    def _add(self, token: str, amount: Decimal) -> None:
        self.tokens[token] = self.tokens.get(token, Decimal(0)) + amount


# --------------------------------------------------------------------------- orders


@attrs.frozen
class Fill:
    """One executed slice of an order."""

    id: str
    time: dt.datetime
    qty: Decimal  # base units, always > 0
    price: Decimal
    notional: Decimal  # exactly qty * price
    account: str
    fee: Decimal = Decimal(0)  # in the quote token: notional * the venue's rate


@attrs.frozen
class Message:
    """A line of an order's log (``POST /api/order_messages/``)."""

    order_id: str
    time: dt.datetime
    level: str
    text: str


@attrs.define(eq=False)
class SimOrder:
    """An order inside the simulator. ``request`` holds its (amendable) parameters."""

    id: str
    seq: int
    request: PlaceOrderRequest
    created_at: dt.datetime
    updated_at: dt.datetime
    pair: Pair
    account: Account  # the account that executes it (the first one named)
    sell_token_amount: Decimal  # as estimated at placement, like the server
    status: OrderStatus = OrderStatus.SCHEDULED
    time_start: dt.datetime | None = None
    time_end: dt.datetime | None = None
    elapsed_us: int = 0  # time spent ACTIVE
    last_step: dt.datetime | None = None
    executed_qty: Decimal = Decimal(0)
    executed_notional: Decimal = Decimal(0)
    total_fee: Decimal = Decimal(0)
    fills: list[Fill] = attrs.field(factory=list)
    arrival_price: Decimal | None = None  # the mid when it started
    # Resting orders (Limit, Iceberg): slice sizes (thousandths of an equal
    # share; none for a Limit: one slice), slices filled, whether the current
    # one is shown in the book, and when the engine looks at it next.
    slice_factors: tuple[int, ...] = ()
    slices_done: int = 0
    shown: bool = False
    wake_at: dt.datetime | None = None
    failure_reason: str = ""
    parent_order: str | None = None
    chain: SimChain | None = None
    priority: int | None = None
    paused_at: dt.datetime | None = None  # when the current pause began
    version: int = 0  # bumped on every change that invalidates its scheduled event

    @property
    def side(self) -> Side:
        """Buy or sell."""
        return self.request.side

    @property
    def strategy(self) -> Strategy:
        """The execution strategy."""
        return self.request.strategy

    @property
    def duration(self) -> int:
        """Seconds of execution of a scheduled order (0 for orders given none)."""
        return self.request.duration or 0

    @property
    def target(self) -> tuple[Literal["base", "quote"], Decimal]:
        """What the order must fill: an amount of base, or of quote."""
        return target_of(self.request)

    @property
    def executed(self) -> Decimal:
        """How much of the target has filled, in the target's unit."""
        unit, _ = self.target
        return self.executed_qty if unit == "base" else self.executed_notional

    @property
    def executed_price(self) -> Decimal | None:
        """Volume-weighted average fill price, or None before the first fill."""
        if not self.executed_qty:
            return None
        return (self.executed_notional / self.executed_qty).quantize(LOT, ROUND_HALF_EVEN)

    @property
    def pct_filled(self) -> Decimal:
        """Percent of the target filled (two decimals)."""
        _, total = self.target
        return (self.executed / total * HUNDRED).quantize(Decimal("0.01"), ROUND_HALF_EVEN)

    @property
    def is_terminal(self) -> bool:
        """COMPLETE or CANCELED: nothing more happens to it."""
        return self.status.is_terminal

    @property
    def fully_filled(self) -> bool:
        """COMPLETE with ``pct_filled`` at 100 (as shown): what a chain waits for."""
        return self.status is OrderStatus.COMPLETE and self.pct_filled >= HUNDRED

    @property
    def n_slices(self) -> int:
        """How many slices the schedule has: one a second, at most ``MAX_SLICES``."""
        return max(1, min(MAX_SLICES, self.duration))

    def boundary_us(self, k: int) -> int:
        """Active time (µs) at which slice ``k`` (1-based) is due."""
        return -(-k * self.duration * 1_000_000 // self.n_slices)

    def slices_due(self) -> int:
        """Slices due by now, given the active time so far."""
        span = self.duration * 1_000_000
        return (
            self.n_slices
            if not span
            else min(self.n_slices, self.elapsed_us * self.n_slices // span)
        )


def random_uuid(rng: random.Random) -> str:
    """A UUID4 string drawn from ``rng`` (a seeded generator gives reproducible ids)."""
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xF << 76)) | (4 << 76)  # version 4
    bits = (bits & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    hexed = f"{bits:032x}"
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def start_of(request: PlaceOrderRequest, now: dt.datetime) -> dt.datetime:
    """When an order starts: its ``start_datetime`` if that is later than ``now``."""
    start = request.start_datetime
    return max(now, start) if start is not None else now


def target_of(req: PlaceOrderRequest) -> tuple[Literal["base", "quote"], Decimal]:
    if req.base_asset_qty is not None:
        return "base", req.base_asset_qty
    if req.quote_asset_qty is not None:
        return "quote", req.quote_asset_qty
    assert req.sell_token_amount is not None  # noqa: S101 (exactly one is set)
    # Selling spends base; buying spends quote.
    return ("base" if req.side is Side.SELL else "quote"), req.sell_token_amount


@attrs.define(eq=False)
class SimMulti:
    """A multi order: one child order per leg, all run together."""

    id: str
    request: PlaceMultiOrderRequest
    created_at: dt.datetime
    children: list[SimOrder] = attrs.field(factory=list)
    canceled: bool = False

    @property
    def status(self) -> str:
        """Derived from the children: SUBMITTED, ACTIVE, PAUSED, COMPLETE or CANCELED."""
        return _group_status(self.children, canceled=self.canceled)

    @property
    def updated_at(self) -> dt.datetime:
        """The latest change to it or any child."""
        return max([self.created_at, *(c.updated_at for c in self.children)])


@attrs.define(eq=False)
class SimChain:
    """A chained order: batches of legs by priority, each once the one before filled.

    A leg that ends without filling completely stops the chain:
    ``failure_reason`` says which, and the legs still waiting are canceled.
    """

    id: str
    created_at: dt.datetime
    legs: list[SimOrder] = attrs.field(factory=list)
    failure_reason: str = ""

    @property
    def status(self) -> str:
        """CANCELED once stopped; COMPLETE when every leg filled; else as for multi orders."""
        if self.failure_reason:
            return "CANCELED"
        return _group_status(self.legs, canceled=False)

    def waiting(self) -> list[SimOrder]:
        """The legs whose batch has not begun."""
        return [leg for leg in self.legs if leg.time_start is None and not leg.is_terminal]

    def next_batch(self) -> list[SimOrder]:
        """The legs to start now: the next batch, once no leg of the current one is live."""
        if self.failure_reason or any(
            leg.time_start is not None and not leg.is_terminal for leg in self.legs
        ):
            return []
        waiting = self.waiting()
        first = min((leg.priority or 0 for leg in waiting), default=None)
        return [leg for leg in waiting if leg.priority == first]


def chain_stop_reason(chain: SimChain, leg: SimOrder) -> str:
    """Why ``chain`` stopped: ``leg`` ended without filling completely."""
    unit, total = leg.target
    token = leg.pair.base if unit == "base" else leg.pair.quote
    return (
        f"chain {chain.id} stopped: order {leg.id} (priority {leg.priority}) ended"
        f" {leg.status.value} with {leg.pct_filled}% filled"
        f" ({leg.executed} of {total} {token})"
    )


def _group_status(orders: Sequence[SimOrder], *, canceled: bool) -> str:
    statuses = {o.status for o in orders}
    if canceled or statuses == {OrderStatus.CANCELED}:
        return "CANCELED"
    live = {o.status for o in orders if not o.is_terminal}
    if not live:
        return "COMPLETE"
    if live & {OrderStatus.ACTIVE, OrderStatus.FINISHER}:
        return "ACTIVE"
    if OrderStatus.PAUSED in live:  # nothing running, and a leg paused
        return "PAUSED"
    if any(o.fills for o in orders):
        return "ACTIVE"
    return "SUBMITTED"


def child_request(
    multi: PlaceMultiOrderRequest, child: ChildOrder, accounts: list[str]
) -> PlaceOrderRequest:
    return PlaceOrderRequest(
        accounts=[child.account] if child.account else accounts,
        pair=child.pair,
        side=child.side,
        base_asset_qty=child.base_asset_qty,
        quote_asset_qty=child.quote_asset_qty,
        pos_side=child.pos_side,
        duration=multi.duration,
        strategy=multi.strategy,
        engine_passiveness=multi.engine_passiveness,
        schedule_discretion=multi.schedule_discretion,
        alpha_tilt=multi.alpha_tilt,
        strategy_params=multi.strategy_params,
        # Sandbox rule: the legs carry the multi order's id, so that a
        # lookup by it finds them (and, through parent_order, the multi).
        custom_order_id=multi.custom_order_id,
    )


def open_exposures(account: Account) -> list[tuple[Pair, Decimal]]:
    quote = "USDT"
    tokens = [
        (Pair(base=token, quote=quote), size)
        for token, size in account.tokens.items()
        if token not in STABLECOINS and size
    ]
    positions = [(Pair.parse(symbol), p.size) for symbol, p in account.positions.items() if p.size]
    return tokens + positions


def listed(
    filters: GetOrdersRequest | GetMultiOrdersRequest,
    *,
    status: str,
    created_at: dt.datetime,
    custom_order_id: str | None,
    accounts: Sequence[str] = (),
) -> bool:
    """Whether an order (or multi order) passes every filter of a list request."""
    names = getattr(filters, "account_names", None)  # the multi-orders list has none
    return (
        (not filters.statuses or status in filters.statuses)
        and (filters.before is None or created_at < filters.before)
        and (filters.after is None or created_at > filters.after)
        and (not filters.custom_order_ids or custom_order_id in filters.custom_order_ids)
        and (not names or not set(names).isdisjoint(accounts))
    )


def accounts_matching(
    accounts: Iterable[Account],
    exchange_names: Iterable[str] | None,
    account_names: Iterable[str] | None,
) -> list[Account]:
    """The accounts a balances query asks for (every one when both filters are None)."""
    exchanges = {e.lower() for e in exchange_names} if exchange_names else None
    names = set(account_names) if account_names else None
    return [
        a
        for a in accounts
        if (names is None or a.name in names)
        and (exchanges is None or a.exchange.lower() in exchanges)
    ]


def close_request(
    account: Account, pair: Pair, size: Decimal, price: Decimal, request: CloseBalancesRequest
) -> PlaceOrderRequest | None:
    """The order that flattens ``size`` of ``pair`` (at most ``max_notional`` of it), or None."""
    cap = (request.max_notional / price).quantize(LOT, ROUND_DOWN)
    qty = min(abs(size), cap)
    if qty <= 0:
        return None
    strategy = request.preferred_strategy or Strategy.TWAP
    return PlaceOrderRequest(
        accounts=[account.name],
        pair=pair.symbol,
        side=Side.SELL if size > 0 else Side.BUY,
        base_asset_qty=qty,
        # A simple order takes no duration; a resting one rests at the price.
        duration=None if strategy.is_simple else CLOSE_DURATION,
        limit_price=price if strategy in (Strategy.LIMIT, Strategy.ICEBERG) else None,
        strategy=strategy,
        pos_side=(PosSide.LONG if size > 0 else PosSide.SHORT) if pair.is_derivative else None,
        notes="close_balances",
    )


#: What ``POST /api/amend_order/`` may change.
_AMENDABLE = frozenset(
    {
        "duration",
        "base_asset_qty",
        "quote_asset_qty",
        "sell_token_amount",
        "limit_price",
        "engine_passiveness",
        "schedule_discretion",
        "alpha_tilt",
        "pov_limit",
        "pov_target",
        "strategy_params",
        "notes",
    }
)


def amended_request(order: SimOrder, changes: Mapping[str, Any]) -> PlaceOrderRequest:
    """``order``'s request with ``changes``, or the 400 saying why it cannot be amended so.

    The request model's own rules apply, then the venue's: a live order only,
    the fields an amendment may change, the quantity in the same unit and not
    below what has filled, the duration not below the time already run.
    """
    if order.is_terminal:
        raise SandboxError(
            400, {"error": f"order {order.id} is {order.status.value}: it cannot be amended"}
        )
    problems = {f"changes.{k}": ["cannot be amended"] for k in changes if k not in _AMENDABLE}
    if problems:
        raise SandboxError(400, problems)
    amended = attrs.evolve(order.request, **changes)  # the request's own rules
    check_limits([("changes.", amended)])
    old_unit, _ = order.target
    unit, total = target_of(amended)
    if unit != old_unit:
        raise bad_field("changes", "the quantity must stay in the same unit (base or quote)")
    if total < order.executed:
        raise bad_field(
            "changes", f"the quantity cannot go below what has filled ({order.executed})"
        )
    if amended.duration is not None and amended.duration * 1_000_000 < order.elapsed_us:
        raise bad_field("changes.duration", "cannot be shorter than the time already executed")
    return amended
