"""What an order stream message says, and which of an order's states is older.

``parse_update`` reads one message of the TaaS WebSocket into an
:class:`~taas_async.OrderUpdate` (or the typed error it is);
``older_state`` tells a state that must not be handed out after one seen
already: REST replies (a resync, a watch's rounds) and stream updates can
cross, and an order never leaves its end.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from taas_async import _codec, _converter
from taas_async import _models as m
from taas_async._enums import OrderUpdateType
from taas_async._exceptions import ResponseDecodeError
from taas_async._logs import logger
from taas_async._options import _Secret

__all__ = ["StateMark", "mark_of", "next_mark", "older_state", "parse_update"]

#: Keys only a multi order's JSON has.
_MULTI_KEYS = ("child_order_ids", "calculated_status", "child_orders", "pairs")


def parse_update(
    text: str, received_at: dt.datetime, *, url: str, token: _Secret[str]
) -> m.OrderUpdate | None:
    """The update a stream message holds; None for a message of another type (logged).

    Raises:
        ResponseDecodeError: not JSON, or not an update of the documented shape.

    """
    try:
        message = _codec.decode_json(text)
    except ValueError as exc:
        raise _bad_message(url, text, [f"not JSON: {exc}"]) from None
    if not isinstance(message, dict):
        raise _bad_message(url, text, ["expected a JSON object @ $"])
    kind = message.get("type")
    if kind != "order_update":
        level = logging.WARNING if kind == "error" else logging.DEBUG
        shown = text[:500].replace(token.reveal(), "***")  # an echoed command
        logger.log(level, "order stream: %s message: %s", kind, shown)
        return None
    data = message.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("order_id"), (str, int)):
        raise _bad_message(url, text, ["expected data.order_id @ $.data"])
    update_type = data.get("update_type")
    if not isinstance(update_type, str):
        raise _bad_message(url, text, ["expected a string @ $.data.update_type"])
    try:
        kind_of: OrderUpdateType | str = OrderUpdateType(update_type)
    except ValueError:
        kind_of = update_type
    body = data.get("order")
    order: m.Order | m.MultiOrder | None = None
    if body is not None:
        model = m.MultiOrder if isinstance(body, dict) and _is_multi(body) else m.Order
        try:
            order = _converter.structure(body, model)
        except _converter.ShapeError as exc:
            errors = [f"{e} (in $.data.order)" for e in exc.errors]
            raise _bad_message(url, text, errors) from None
    return m.OrderUpdate(
        order_id=str(data["order_id"]),
        update_type=kind_of,
        order=order,
        received_at=received_at,
        raw=message,
    )


def _bad_message(url: str, text: str, errors: list[str]) -> ResponseDecodeError:
    return ResponseDecodeError(
        "an order stream message is not an update the SDK can read",
        method="GET",
        url=url,
        status_code=101,
        text=text,
        errors=errors,
    )


#: What is kept of the newest state seen of an order, to tell an older one: its
#: ``updated_at``, its ``executed_qty`` then, and whether it had ended.
StateMark = tuple[dt.datetime | None, Decimal | None, bool]


def mark_of(order: m.Order | m.MultiOrder) -> StateMark:
    """``order``'s state as :func:`older_state` compares it."""
    return order.updated_at, _filled(order), order.is_terminal


def _filled(order: m.Order | m.MultiOrder) -> Decimal | None:
    # A multi order reports no executed_qty of its own (its legs do).
    return order.executed_qty if isinstance(order, m.Order) else None


def next_mark(seen: StateMark | None, order: m.Order | m.MultiOrder) -> StateMark:
    """The mark after taking ``order`` (not older than ``seen``): an end stays an end."""
    if seen is None:
        return mark_of(order)
    at, filled, ended = seen
    if order.updated_at is not None and (at is None or order.updated_at >= at):
        at, filled = order.updated_at, _filled(order)
    return at, filled, ended or order.is_terminal


def older_state(seen: StateMark | None, order: m.Order | m.MultiOrder) -> bool:
    """Whether ``order`` is an older state of a running order than the one ``seen`` marks.

    Such a snapshot is skipped (a REST reply and a stream update can cross):
    a running state after the order's end (an end is final, and the server
    can stamp the last fill and the end with the same time); an earlier
    ``updated_at``; the same ``updated_at`` with less filled. An end
    (COMPLETE, CANCELED) never is, whatever its time says.
    """
    if seen is None or order.is_terminal:
        return False
    at, filled, ended = seen
    if ended:
        return True
    if at is None or order.updated_at is None:
        return False
    if order.updated_at != at:
        return order.updated_at < at
    now = _filled(order)
    return filled is not None and now is not None and now < filled


def _is_multi(body: dict[str, Any]) -> bool:
    return any(key in body for key in _MULTI_KEYS)
