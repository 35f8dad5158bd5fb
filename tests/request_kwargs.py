"""Keyword arguments of valid requests, and variations of them, for the request-model tests.

``order(side="hold")`` is the valid order's kwargs with one change;
``order(duration=DROP)`` leaves a key out.
"""

from __future__ import annotations

from typing import Any

from taas_async import PlaceOrderRequest, Strategy

DROP = object()  # marks a key to remove from the base kwargs


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not DROP}


ORDER = {
    "accounts": ["mock"],
    "pair": "ETH-USDT",
    "side": "buy",
    "strategy": "TWAP",
    "duration": 300,
    "base_asset_qty": 5,
}
CHILD = {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": 1}
MULTI = {"duration": 60, "strategy": "TWAP", "accounts": ["mock"], "child_orders": [CHILD]}
CHAIN = {
    "orders_in_chain": [
        {"order_request": ORDER, "priority": 1},
        {"order_request": _with(ORDER, side="sell"), "priority": 2},
    ]
}
IN_CHAIN = {"order_request": ORDER, "priority": 1}
AMEND = {"order_id": "abc", "changes": {"duration": 600}}
LEVERAGE = {"account_ids": ["acc"], "pair": "BTC-USDT", "leverage": 5}


def order(**changes: Any) -> dict[str, Any]:
    return _with(ORDER, **changes)


#: A valid limit price for the simple strategies that need one.
LIMIT_PRICE = "2500"


def order_for(strategy: Any, **changes: Any) -> dict[str, Any]:
    """A valid order of ``strategy``: a simple one carries no duration, and a
    Limit or Iceberg order its limit price."""
    name = getattr(strategy, "value", strategy)
    if name in ("Market", "Limit", "IOC", "Iceberg"):
        base = _with(ORDER, strategy=strategy, duration=DROP)
        if name in ("Limit", "Iceberg"):
            base["limit_price"] = LIMIT_PRICE
        return _with(base, **changes)
    return _with(ORDER, strategy=strategy, **changes)


def child(**changes: Any) -> dict[str, Any]:
    return _with(CHILD, **changes)


def multi(**changes: Any) -> dict[str, Any]:
    return _with(MULTI, **changes)


def chain_entry(**changes: Any) -> dict[str, Any]:
    return _with(IN_CHAIN, **changes)


def amend(**changes: Any) -> dict[str, Any]:
    return _with(AMEND, **changes)


def leverage(**changes: Any) -> dict[str, Any]:
    return _with(LEVERAGE, **changes)


#: The sandbox tests' usual order: a 60 s TWAP buy of 1 ETH on "mock".
SANDBOX_ORDER = {
    "accounts": ["mock"],
    "pair": "ETH-USDT",
    "side": "buy",
    "duration": 60,
    "base_asset_qty": "1",
    "strategy": "TWAP",
}


def sandbox_order(**changes: Any) -> dict[str, Any]:
    """:data:`SANDBOX_ORDER`'s fields with ``changes``; ``None`` drops a field.

    A simple strategy (Market, Limit, IOC, Iceberg) drops the ``duration``:
    it takes none.
    """
    fields = {**SANDBOX_ORDER, **changes}
    if Strategy(fields["strategy"]).is_simple:
        fields.pop("duration", None)
    return {k: v for k, v in fields.items() if v is not None}


def sandbox_order_request(**changes: Any) -> PlaceOrderRequest:
    """:func:`sandbox_order` as a :class:`~taas_async.PlaceOrderRequest`."""
    return PlaceOrderRequest(**sandbox_order(**changes))
