"""The closed and open vocabularies of the TaaS API.

Every enum is a ``str`` enum, so ``order.status == "ACTIVE"`` and
``order.status == OrderStatus.ACTIVE`` both hold. In replies the enums are
*open*: a value the SDK does not know yet is kept as a plain ``str``.
"""

from __future__ import annotations

import enum

__all__ = ["MultiOrderStatus", "OrderStatus", "PosSide", "Side", "Strategy"]


class _StrEnum(str, enum.Enum):
    def __str__(self) -> str:
        return str(self.value)


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
        """True for statuses an order never leaves (COMPLETE, CANCELED)."""
        return self in _TERMINAL_ORDER_STATUSES


class MultiOrderStatus(_StrEnum):
    """Multi-order statuses seen from the server. Unknown ones are kept as ``str``."""

    SUBMITTED = "SUBMITTED"
    SCHEDULED = "SCHEDULED"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    COMPLETE = "COMPLETE"
    CANCELED = "CANCELED"


_TERMINAL_ORDER_STATUSES = frozenset({OrderStatus.COMPLETE, OrderStatus.CANCELED})
