"""Response models: plain, frozen attrs classes.

They hold data only; :mod:`taas_async._converter` owns every rule for turning
JSON into them. Each model keeps the decoded JSON it came from in ``raw``, so
a field the SDK does not model yet is still reachable
(``order.raw["new_field"]``). Money is ``Decimal``, time is aware
``datetime``, and enums are open: a value the SDK does not know stays a
``str``.
"""

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs

from taas_async import _export
from taas_async._enums import (
    MultiOrderStatus,
    OrderStatus,
    OrderUpdateType,
    PosSide,
    Side,
    Strategy,
)

__all__ = [
    "ActionResult",
    "Asset",
    "Balance",
    "ChainedOrder",
    "CloseBalancesResult",
    "MultiOrder",
    "MultiOrdersPage",
    "Order",
    "OrderMessage",
    "OrderSummary",
    "OrderUpdate",
    "OrdersPage",
]


def _raw() -> Any:
    return attrs.field(factory=dict, repr=False, eq=False)


class _Reply:
    """What every reply model can do besides holding its fields: leave the service as JSON."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The reply as JSON-safe data, ready for ``json.dumps`` or a web framework.

        Every field but ``raw``: ``Decimal`` as its exact plain-notation string
        (``"0.00000001"``, never a float), datetimes as ISO 8601 text with their
        offset, enums as their values, nested models as dicts.
        """
        return _export.to_dict(self)

    def to_json(self, *, indent: int | None = None) -> str:
        """:meth:`to_dict` as a JSON document (compact unless ``indent`` is given)."""
        return _export.to_json(self, indent=indent)


@attrs.frozen
class Order(_Reply):
    """An order as the server reports it.

    ``limit_price`` and ``stop_price`` are ``None`` when unset (the server's
    ``-1`` sentinel), and so is ``custom_order_id`` when the order has none
    (the server's ``""``); ``raw`` keeps what was sent. ``strategy`` is a
    :class:`Strategy` when it is a known name, else the server's string
    (often a strategy UUID). ``parent_order`` (in an order's own reply) and
    ``parent_order_id`` (in the orders list) both name the multi or chained
    order the order is a leg of.
    """

    id: str
    status: OrderStatus | str | None = None
    pair: str | None = None
    side: Side | str | None = None
    buy_token: str | None = None
    sell_token: str | None = None
    sell_token_amount: Decimal | None = None
    base_asset_qty: Decimal | None = None
    quote_asset_qty: Decimal | None = None
    strategy: Strategy | str | None = None
    strategy_params: dict[str, Any] = attrs.field(factory=dict)
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    duration: int | None = None
    time_start: dt.datetime | None = None
    time_end: dt.datetime | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    accounts: list[str] = attrs.field(factory=list)
    account_names: list[str] = attrs.field(factory=list)
    user: str | None = None
    time_zone: str | None = None
    placements: list[Any] = attrs.field(factory=list)
    executed_qty: Decimal | None = None
    executed_price: Decimal | None = None
    executed_notional: Decimal | None = None
    pct_filled: Decimal | None = None
    active: bool | None = None
    engine_passiveness: Decimal | None = None
    schedule_discretion: Decimal | None = None
    alpha_tilt: Decimal | None = None
    pov_target: Decimal | None = None
    pov_limit: Decimal | None = None
    failure_reason: str | None = None
    notes: str | None = None
    custom_order_id: str | None = None
    updated_leverage: Decimal | None = None
    pos_side: PosSide | str | None = None
    parent_order: str | None = None
    parent_order_id: str | None = None
    batch_order_id: str | None = None
    batch_order_strategy: str | None = None
    exchanges: list[str] = attrs.field(factory=list)
    average_executed_price: Decimal | None = None
    total_fee: Decimal | None = None
    raw: dict[str, Any] = _raw()

    @property
    def is_terminal(self) -> bool:
        """True once the order can change no more (COMPLETE or CANCELED)."""
        return isinstance(self.status, OrderStatus) and self.status.is_terminal


@attrs.frozen
class MultiOrder(_Reply):
    """A multi order: one child order per leg (``child_order_ids``).

    ``calculated_status`` is the state to go by: ``status`` can lag (the docs'
    example has ``status`` SCHEDULED with ``calculated_status`` COMPLETE);
    :attr:`effective_status` gives the first of the two the server sent. A new
    multi order's reply says when it starts in ``time_start``, a fetched one
    in ``start_datetime``. ``pairs``, ``buy_token``, ``sell_token`` and
    ``sell_token_amount`` hold one entry per leg, comma-joined as the server
    sends them; the ``*_list`` properties split them. ``child_orders`` is
    filled when fetched with ``include_child_orders=True``.
    """

    id: str
    status: MultiOrderStatus | str | None = None
    calculated_status: MultiOrderStatus | str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    time_start: dt.datetime | None = None
    start_datetime: dt.datetime | None = None
    duration: int | None = None
    child_order_ids: list[str] = attrs.field(factory=list)
    strategy: Strategy | str | None = None
    strategy_params: dict[str, Any] = attrs.field(factory=dict)
    engine_passiveness: Decimal | None = None
    schedule_discretion: Decimal | None = None
    alpha_tilt: Decimal | None = None
    pov_limit: Decimal | None = None
    limit_price_spread: Decimal | None = None
    exposure_tolerance: Decimal | None = None
    order_condition: str | None = None
    order_condition_vars: dict[str, Any] = attrs.field(factory=dict)
    order_condition_expiry: str | None = None
    notional_exposure: Decimal | None = None
    executed_notional: Decimal | None = None
    pct_filled: Decimal | None = None
    is_active: bool | None = None
    is_paused: bool | None = None
    completely_filled: bool | None = None
    account_names: list[str] = attrs.field(factory=list)
    pairs: str | None = None
    buy_token: str | None = None
    sell_token: str | None = None
    sell_token_amount: str | None = None
    user: str | None = None
    time_zone: str | None = None
    failure_reason: str | None = None
    custom_order_id: str | None = None
    child_orders: list[Order] = attrs.field(factory=list)
    raw: dict[str, Any] = _raw()

    @property
    def effective_status(self) -> MultiOrderStatus | str | None:
        """``calculated_status`` when the server sent one, else ``status``."""
        return self.calculated_status if self.calculated_status is not None else self.status

    @property
    def is_terminal(self) -> bool:
        """True once the multi order can change no more (COMPLETE or CANCELED)."""
        status = self.effective_status
        return isinstance(status, MultiOrderStatus) and status.is_terminal

    @property
    def pair_list(self) -> list[str]:
        """``pairs`` split into one pair per leg."""
        return _split(self.pairs)

    @property
    def buy_token_list(self) -> list[str]:
        """``buy_token`` split into one token per leg."""
        return _split(self.buy_token)

    @property
    def sell_token_list(self) -> list[str]:
        """``sell_token`` split into one token per leg."""
        return _split(self.sell_token)

    @property
    def sell_token_amount_list(self) -> list[Decimal]:
        """``sell_token_amount`` split into one exact amount per leg."""
        return [Decimal(item) for item in _split(self.sell_token_amount)]


def _split(joined: str | None) -> list[str]:
    """A comma-joined list (``","`` or ``", "``) as its items."""
    if not joined:
        return []
    return [item.strip() for item in joined.split(",")]


@attrs.frozen
class Asset(_Reply):
    """One token or position held in an account."""

    symbol: str
    size: Decimal | None = None
    notional: Decimal | None = None
    market_type: str | None = None
    asset_type: str | None = None
    unrealized_profit: Decimal | None = None
    initial_margin: Decimal | None = None
    maint_margin: Decimal | None = None
    margin_balance: Decimal | None = None
    leverage: Decimal | None = None
    notional_pct_total: Decimal | None = None
    raw: dict[str, Any] = _raw()


@attrs.frozen
class Balance(_Reply):
    """An account's balance: its exchange and what it holds."""

    exchange: str | None = None
    assets: list[Asset] = attrs.field(factory=list)
    raw: dict[str, Any] = _raw()


@attrs.frozen
class OrderSummary(_Reply):
    """Execution summary of an order (shape undocumented: known fields plus ``raw``)."""

    id: str | None = None
    status: OrderStatus | str | None = None
    pair: str | None = None
    side: Side | str | None = None
    executed_qty: Decimal | None = None
    executed_price: Decimal | None = None
    executed_notional: Decimal | None = None
    pct_filled: Decimal | None = None
    total_fee: Decimal | None = None
    raw: dict[str, Any] = _raw()


@attrs.frozen
class ChainedOrder(_Reply):
    """A chained order (shape undocumented: known fields plus ``raw``)."""

    id: str | None = None
    status: OrderStatus | str | None = None
    created_at: dt.datetime | None = None
    orders: list[Order] = attrs.field(factory=list)
    raw: dict[str, Any] = _raw()


@attrs.frozen
class OrderMessage(_Reply):
    """A message the engine logged for an order (shape undocumented: known fields plus ``raw``)."""

    order_id: str | None = None
    message: str | None = None
    created_at: dt.datetime | None = None
    level: str | None = None
    raw: dict[str, Any] = _raw()


@attrs.frozen
class ActionResult(_Reply):
    """Reply to cancel, pause, resume, amend and set-leverage calls.

    A ``204 No Content`` reply gives ``ActionResult()`` with an empty ``raw``.
    """

    message: str | None = None
    success: bool | None = None
    order_id: str | None = None
    raw: dict[str, Any] = _raw()


@attrs.frozen
class CloseBalancesResult(_Reply):
    """Reply to ``close_balances``: the flattening orders it opened, when the server lists them."""

    message: str | None = None
    order_ids: list[str] = attrs.field(factory=list)
    raw: dict[str, Any] = _raw()


@attrs.frozen
class OrdersPage(_Reply):
    """One page of ``GET /api/orders/``; iterate it for its orders."""

    orders: list[Order]  # required: a reply without it is not a page
    count: int | None = None
    num_pages: int | None = None
    raw: dict[str, Any] = _raw()

    def __iter__(self) -> Iterator[Order]:
        return iter(self.orders)

    def __len__(self) -> int:
        return len(self.orders)

    def __getitem__(self, index: int) -> Order:
        return self.orders[index]


@attrs.frozen
class MultiOrdersPage(_Reply):
    """One page of ``GET /api/multi_orders/``; iterate it for its multi orders.

    The docs do not show this reply's envelope: ``{"multi_orders": [...]}``
    (with ``count`` / ``num_pages`` when given) and a bare list are read.
    """

    multi_orders: list[MultiOrder]  # required: a reply without it is not a page
    count: int | None = None
    num_pages: int | None = None
    raw: dict[str, Any] = _raw()

    def __iter__(self) -> Iterator[MultiOrder]:
        return iter(self.multi_orders)

    def __len__(self) -> int:
        return len(self.multi_orders)

    def __getitem__(self, index: int) -> MultiOrder:
        return self.multi_orders[index]


_ENDING_UPDATES = frozenset(
    {
        OrderUpdateType.ORDER_COMPLETED,
        OrderUpdateType.ORDER_CANCELED,
        OrderUpdateType.CHILD_ORDER_COMPLETED,
        OrderUpdateType.CHILD_ORDER_CANCELED,
    }
)


@attrs.frozen
class OrderUpdate(_Reply):
    """One update from the live order stream (``client.order_stream()``).

    ``order`` is the order as the update describes it (an :class:`Order`, or
    a :class:`MultiOrder` for a multi order's parent), None when the message
    carried none. ``update_type`` is an :class:`OrderUpdateType` when known,
    else the server's string; ``RESYNC`` marks a snapshot fetched over REST
    after the stream reconnected. ``received_at`` is when the SDK read the
    message (UTC); ``raw`` the decoded message (for a resync, the order's JSON).
    """

    order_id: str
    update_type: OrderUpdateType | str
    order: Order | MultiOrder | None
    received_at: dt.datetime
    raw: dict[str, Any] = _raw()

    @property
    def is_terminal(self) -> bool:
        """True when the update shows its order ended (COMPLETE or CANCELED).

        From the order it carries, else from its type (``order_completed``,
        ``order_canceled`` and their ``child_order_*`` twins).
        """
        if self.order is not None:
            return self.order.is_terminal
        return self.update_type in _ENDING_UPDATES
