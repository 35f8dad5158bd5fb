"""The closed and open vocabularies of the TaaS API.

Every enum is a ``str`` enum, so ``order.status == "ACTIVE"`` and
``order.status == OrderStatus.ACTIVE`` both hold. In replies the enums are
*open*: a value the SDK does not know yet is kept as a plain ``str``.
"""

from __future__ import annotations

import enum
from typing import TypeVar

__all__ = ["MultiOrderStatus", "OrderStatus", "OrderUpdateType", "PosSide", "Side", "Strategy"]


class _StrEnum(str, enum.Enum):
    def __str__(self) -> str:
        return str(self.value)


_S = TypeVar("_S", bound=_StrEnum)


class Side(_StrEnum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"


class PosSide(_StrEnum):
    """Position side for hedge-mode derivatives accounts."""

    LONG = "long"
    SHORT = "short"


class Strategy(_StrEnum):
    """Execution strategies (TaaS docs). Values are the wire names."""

    TWAP = "TWAP"
    VWAP = "VWAP"
    IS = "IS"
    TARGET_TIME = "Target Time"
    MARKET = "Market"
    LIMIT = "Limit"
    ICEBERG = "Iceberg"
    IOC = "IOC"

    @property
    def is_simple(self) -> bool:
        """Market, Limit, IOC and Iceberg: no schedule, no algorithm parameters."""
        return self in _SIMPLE_STRATEGIES


class OrderStatus(_StrEnum):
    """Order statuses seen from the server. Unknown ones are kept as ``str``."""

    SUBMITTED = "SUBMITTED"
    SCHEDULED = "SCHEDULED"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    FINISHER = "FINISHER"
    COMPLETE = "COMPLETE"
    CANCELED = "CANCELED"

    @property
    def is_terminal(self) -> bool:
        """True for statuses an order never leaves: COMPLETE and CANCELED (see the module)."""
        return self in _TERMINAL_ORDER_STATUSES

    @classmethod
    def for_filter(cls, value: str) -> OrderStatus | str:
        """A status as the orders list filters by it; ``COMPLETED`` (a docs example) is COMPLETE."""
        return _for_filter(cls, value)


class MultiOrderStatus(_StrEnum):
    """Multi-order statuses seen from the server. Unknown ones are kept as ``str``.

    ``SUBMITTED`` is what the server answers a new multi order with; ``SCHEDULED``
    appears in ``status`` while ``calculated_status`` (the one that reflects the
    real state) says more.
    """

    SUBMITTED = "SUBMITTED"
    SCHEDULED = "SCHEDULED"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    COMPLETE = "COMPLETE"
    CANCELED = "CANCELED"

    @property
    def is_terminal(self) -> bool:
        """True for statuses a multi order never leaves: COMPLETE and CANCELED (see the module)."""
        return self in _TERMINAL_MULTI_ORDER_STATUSES

    @classmethod
    def for_filter(cls, value: str) -> MultiOrderStatus | str:
        """A status as the multi-orders list filters by it; ``COMPLETED`` is COMPLETE."""
        return _for_filter(cls, value)


class OrderUpdateType(_StrEnum):
    """What an order stream update is about (``OrderUpdate.update_type``). Open: unknown as ``str``.

    The ``ORDER_*`` types are about the order named (a multi order's parent
    too); the ``CHILD_ORDER_*`` ones about a multi order's child. ``RESYNC``
    is the SDK's own: the stream reconnected after a gap, and the update
    carries the order as the REST API gave it then (see ``OrderStream``).
    """

    ORDER_CREATED = "order_created"
    ORDER_ACTIVATED = "order_activated"
    ORDER_FILL_RECEIVED = "order_fill_received"
    ORDER_PAUSED = "order_paused"
    ORDER_CANCELED = "order_canceled"
    ORDER_COMPLETED = "order_completed"
    CHILD_ORDER_CREATED = "child_order_created"
    CHILD_ORDER_ACTIVATED = "child_order_activated"
    CHILD_ORDER_FILL_RECEIVED = "child_order_fill_received"
    CHILD_ORDER_CANCELED = "child_order_canceled"
    CHILD_ORDER_COMPLETED = "child_order_completed"
    RESYNC = "resync"


def _for_filter(cls: type[_S], value: str) -> _S | str:
    """``value`` as a member of ``cls``, reading ``COMPLETED`` as ``COMPLETE``.

    The docs' own filter example spells it ``COMPLETED``; the status is
    ``COMPLETE``, and a server filtering by the other spelling finds nothing.
    A status the SDK does not know is sent as given.
    """
    text = value.value if isinstance(value, cls) else value
    try:
        return cls("COMPLETE" if text == "COMPLETED" else text)
    except ValueError:
        return value


_SIMPLE_STRATEGIES = frozenset({Strategy.MARKET, Strategy.LIMIT, Strategy.IOC, Strategy.ICEBERG})

#: The statuses an order never leaves. An order ends COMPLETE (filled, or run
#: to its end) or CANCELED (by the user, the engine, or a pause left for more
#: than 24 hours); every other status (SUBMITTED, SCHEDULED, ACTIVE, FINISHER,
#: PAUSED) may still change. ``watch_order`` and ``wait_for_order`` stop here.
_TERMINAL_ORDER_STATUSES = frozenset({OrderStatus.COMPLETE, OrderStatus.CANCELED})
#: The same for multi orders, read from ``calculated_status`` when the server
#: sends it (``status`` can lag: SCHEDULED on a multi order that is COMPLETE).
_TERMINAL_MULTI_ORDER_STATUSES = frozenset({MultiOrderStatus.COMPLETE, MultiOrderStatus.CANCELED})
