"""The simulator's objects as the server's JSON, and a JSON writer for exact decimals.

Shapes follow the seed's example replies: order amounts and parameters as
strings with 20 decimal places (a Django ``DecimalField``), ``-1`` for an
unset price, execution figures and balances as plain JSON numbers, and
timestamps in UTC with microseconds and a ``Z``. Numbers are written from
``Decimal`` digits, never through ``float``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from taas_async._enums import Side
from taas_async.sandbox._prices import Pair
from taas_async.sandbox._records import (
    DEFAULT_ENGINE_PASSIVENESS,
    DEFAULT_SCHEDULE_DISCRETION,
    HUNDRED,
    Account,
    Fill,
    Message,
    SimChain,
    SimMulti,
    SimOrder,
)

if TYPE_CHECKING:  # the engine renders its updates through this module
    from taas_async.sandbox._engine import Engine

__all__ = [
    "balances",
    "chained_order",
    "dumps",
    "message",
    "multi_order",
    "order",
    "order_state",
    "order_summary",
    "timestamp",
]

_PLACES = Decimal("1e-20")
_UNSET = "-1.00000000000000000000"
_USER = "1"


#: How a decimal stands in the C encoder's output until it is put back as a number:
#: a JSON string holding NUL (always escaped as ``\u0000``), a per-call nonce and an index.
_STAND_IN = re.compile(r'"\\u0000([0-9a-f]{16}):([0-9]+)"')


def dumps(value: Any) -> bytes:
    """JSON with every ``Decimal`` written as an exact number.

    The C encoder writes everything else; each decimal goes through it as a
    stand-in string and is swapped back for its digits. The nonce keeps a
    client's own text (a note holding a NUL and digits) from ever passing for one.
    """
    numbers: list[str] = []
    nonce = secrets.token_hex(8)

    def stand_in(obj: object) -> str:
        if not isinstance(obj, Decimal):
            raise TypeError(f"{type(obj).__name__} is not JSON serializable")
        if not obj.is_finite():
            raise ValueError(f"{obj} is not a JSON number")
        numbers.append(format(obj, "f"))
        return f"\x00{nonce}:{len(numbers) - 1}"

    text = json.dumps(value, default=stand_in, separators=(",", ":"))
    if numbers:
        text = _STAND_IN.sub(
            lambda m: numbers[int(m[2])] if m[1] == nonce else m[0],
            text,
        )
    return text.encode()


def timestamp(value: dt.datetime | None) -> str | None:
    """``2023-08-08T23:54:07.659244Z``, as the server writes them."""
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dec20(value: Decimal | None) -> str | None:
    return None if value is None else _fixed(value)


def _fixed(value: Decimal) -> str:
    """A decimal as the server writes it: 20 places, never exponent notation."""
    return format(value.quantize(_PLACES, ROUND_HALF_EVEN), "f")


def _price(value: Decimal | None) -> str:
    return _dec20(value) or _UNSET


def _fill(fill: Fill) -> dict[str, Any]:
    return {
        "id": fill.id,
        "status": "FILLED",
        "created_at": timestamp(fill.time),
        "qty": fill.qty,
        "price": fill.price,
        "notional": fill.notional,
        "fee": fill.fee,
        "account": fill.account,
    }


def order(o: SimOrder) -> dict[str, Any]:
    """``GET /api/order/{id}``: every field of the seed's example, and the rest we model."""
    req = o.request
    buy, sell = _tokens(o)
    return {
        "id": o.id,
        "parent_order": o.parent_order,
        "created_at": timestamp(o.created_at),
        "updated_at": timestamp(o.updated_at),
        "buy_token": buy,
        "sell_token": sell,
        "pair": o.pair.symbol,
        "side": o.side.value,
        "sell_token_amount": _dec20(o.sell_token_amount),
        "base_asset_qty": _dec20(req.base_asset_qty),
        "quote_asset_qty": _dec20(req.quote_asset_qty),
        "strategy": req.strategy.value,
        "strategy_params": req.strategy_params or {},
        "limit_price": _price(req.limit_price),
        "stop_price": _UNSET,
        "time_start": timestamp(o.time_start),
        # Planned from the duration; none for orders without one (POV, Limit...) until they end.
        "time_end": timestamp(
            o.time_end
            or (
                o.time_start + dt.timedelta(seconds=o.duration)
                if o.time_start and o.duration
                else None
            )
        ),
        "duration": req.duration,  # none for simple orders, nor a POV order given none
        "accounts": [o.account.id if n == o.account.name else n for n in req.accounts],
        "account_names": list(req.accounts),
        "user": _USER,
        "time_zone": "UTC",
        "placements": [_fill(f) for f in o.fills],
        "executed_qty": o.executed_qty,
        "executed_price": o.executed_price,
        "executed_notional": o.executed_notional,
        "pct_filled": o.pct_filled,
        "active": o.status.value == "ACTIVE",
        "status": o.status.value,
        "engine_passiveness": _dec20(_or(req.engine_passiveness, DEFAULT_ENGINE_PASSIVENESS)),
        "schedule_discretion": _dec20(_or(req.schedule_discretion, DEFAULT_SCHEDULE_DISCRETION)),
        "alpha_tilt": _dec20(req.alpha_tilt),
        "pov_target": _dec20(req.pov_target),
        "pov_limit": _dec20(req.pov_limit),
        "failure_reason": o.failure_reason,
        "notes": req.notes or "",
        "custom_order_id": req.custom_order_id or "",
        "updated_leverage": req.updated_leverage,
        "pos_side": req.pos_side.value if req.pos_side else None,
        # The orders list's documented fields.
        "parent_order_id": o.parent_order,
        "batch_order_id": None,
        "batch_order_strategy": None,
        "exchanges": [o.account.exchange],
        "average_executed_price": o.executed_price,
        "total_fee": o.total_fee,  # the sum of the fills' fees, in the quote token
    }


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    """``value`` unless it is unset: an explicit 0 is 0, not the default."""
    return default if value is None else value


def order_state(o: SimOrder) -> tuple[Any, ...]:
    """Everything :func:`order` reads that can change: equal states render the same JSON.

    The request by identity (an amendment replaces it; the tuple holds it, so
    its id is never reused), the fills by count (they are only ever appended),
    the rest by value and, for decimals, by digits.
    """
    return (
        o.request,
        o.status,
        o.updated_at,
        len(o.fills),
        o.executed_qty,
        o.executed_notional,
        o.total_fee,
        o.time_start,
        o.time_end,
        o.failure_reason,
        o.parent_order,
        o.sell_token_amount,
    )


def order_summary(o: SimOrder) -> dict[str, Any]:
    """``GET /api/order_summary/{id}``: status and execution figures."""
    return {
        "id": o.id,
        "status": o.status.value,
        "pair": o.pair.symbol,
        "side": o.side.value,
        "executed_qty": o.executed_qty,
        "executed_price": o.executed_price,
        "executed_notional": o.executed_notional,
        "pct_filled": o.pct_filled,
        "total_fee": o.total_fee,
    }


def multi_order(m: SimMulti, *, children: bool = False) -> dict[str, Any]:
    """A multi order: the seed's fields and the documented ones of a fetched multi order.

    ``pairs`` is joined with ``","``, the other per-leg lists with ``", "``, as
    the docs' example has them; ``children`` adds each leg as ``child_orders``.
    """
    req = m.request
    legs = m.children
    sides = [_tokens(c) for c in legs]
    buys = [c.executed_notional for c in legs if c.side is Side.BUY]
    sells = [c.executed_notional for c in legs if c.side is Side.SELL]
    body: dict[str, Any] = {
        "id": m.id,
        "created_at": timestamp(m.created_at),
        "updated_at": timestamp(m.updated_at),
        "time_start": timestamp(m.created_at),
        "start_datetime": timestamp(m.created_at),
        "duration": req.duration,
        "child_order_ids": [c.id for c in legs],
        "strategy": req.strategy.value,
        "strategy_params": req.strategy_params or {},
        "engine_passiveness": _dec20(_or(req.engine_passiveness, DEFAULT_ENGINE_PASSIVENESS)),
        "schedule_discretion": _dec20(_or(req.schedule_discretion, DEFAULT_SCHEDULE_DISCRETION)),
        "alpha_tilt": _dec20(req.alpha_tilt),
        "pov_limit": None,
        "limit_price_spread": None,
        "exposure_tolerance": _dec20(req.exposure_tolerance),
        "order_condition": req.order_condition,
        "order_condition_vars": {},
        "order_condition_expiry": timestamp(req.order_condition_expiry)
        if isinstance(req.order_condition_expiry, dt.datetime)
        else req.order_condition_expiry,
        "notional_exposure": abs(sum(buys, Decimal(0)) - sum(sells, Decimal(0))),
        "executed_notional": sum((c.executed_notional for c in legs), Decimal(0)),
        "pct_filled": sum((c.pct_filled for c in legs), Decimal(0)) / len(legs)
        if legs
        else Decimal(0),
        "is_active": m.status == "ACTIVE",
        "is_paused": m.status == "PAUSED",
        "completely_filled": bool(legs) and all(c.pct_filled == HUNDRED for c in legs),
        "account_names": req.resolved_accounts,
        "pairs": ",".join(c.pair.symbol for c in legs),
        "buy_token": ", ".join(buy for buy, _ in sides),
        "sell_token": ", ".join(sell for _, sell in sides),
        "sell_token_amount": ", ".join(_fixed(c.sell_token_amount) for c in legs),
        "user": _USER,
        "status": m.status,
        "calculated_status": m.status,
        "time_zone": "UTC",
        "failure_reason": "",
        "custom_order_id": req.custom_order_id or "",
    }
    if children:
        body["child_orders"] = [order(c) for c in legs]
    return body


def _tokens(o: SimOrder) -> tuple[str, str]:
    """(buy token, sell token) of an order."""
    return (o.pair.base, o.pair.quote) if o.side is Side.BUY else (o.pair.quote, o.pair.base)


def chained_order(c: SimChain) -> dict[str, Any]:
    """A chained order: its legs, in the order they run."""
    return {
        "id": c.id,
        "status": c.status,
        "created_at": timestamp(c.created_at),
        "orders": [order(leg) for leg in c.legs],
    }


def message(m: Message) -> dict[str, Any]:
    """One line of an order's log."""
    return {
        "order_id": m.order_id,
        "message": m.text,
        "level": m.level,
        "created_at": timestamp(m.time),
    }


def balances(engine: Engine, accounts: list[Account]) -> dict[str, Any]:
    """``GET /api/balances/``: per account, tokens and positions valued now."""
    now = engine.sync()
    return {a.name: _balance(engine, a, now) for a in accounts}


def _balance(engine: Engine, account: Account, now: dt.datetime) -> dict[str, Any]:
    zero = Decimal(0)
    assets: list[dict[str, Any]] = [
        {
            "symbol": token,
            "size": size,
            "notional": size * engine.prices.usd(token, now),
            "market_type": "unified",
            "asset_type": "token",
            "unrealized_profit": zero,
            "initial_margin": zero,
            "maint_margin": zero,
            "margin_balance": size,
            "leverage": None,
        }
        for token, size in account.tokens.items()
    ]
    for symbol, position in account.positions.items():
        if not position.size:
            continue  # a closed position is no longer held
        pair = Pair.parse(symbol)
        notional = position.size * engine.prices.price(pair, now)
        unrealized = notional - position.cost
        leverage = account.leverage.get(symbol, Decimal(1))
        margin = abs(notional) / leverage
        assets.append(
            {
                "symbol": symbol,
                "size": position.size,
                "notional": notional,
                "market_type": "perp",
                "asset_type": "position",
                "unrealized_profit": unrealized,
                "initial_margin": margin,
                "maint_margin": margin / 2,
                "margin_balance": account.tokens.get(pair.quote, zero) + unrealized,
                "leverage": leverage,
            }
        )
    total = sum((abs(a["notional"]) for a in assets), zero)
    for a in assets:
        share = abs(a["notional"]) / total if total else zero
        a["notional_pct_total"] = share.quantize(Decimal("1e-6"), ROUND_HALF_EVEN)
    return {"exchange": account.exchange, "assets": assets}
