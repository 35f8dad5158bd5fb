"""Orders are never placed twice: ``custom_order_id`` s, and looking orders up by them.

Every order an order-creating call sends carries a ``custom_order_id``: the
caller's, or one generated here once per call and sent with every attempt.
When an attempt may have placed the order, :func:`look_up` asks the server
for it by that id and says what it found: the order (returned as if its
reply had come), :data:`NOT_FOUND` (a single order that may be sent again),
or :class:`OrderOutcomeUnknownError` when it cannot tell. What an endpoint
carries and how its orders are found again comes from its row
(:class:`OrderShape`), never from its path.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs

from taas_async import _requests as r
from taas_async._converter import ShapeError
from taas_async._endpoints import ENDPOINTS, RAW, Call, OrderShape
from taas_async._enums import OrderStatus
from taas_async._exceptions import OrderOutcomeUnknownError, TaaSError
from taas_async._logs import logger
from taas_async._policy import accepted, broke_connection, status_of

__all__ = ["NOT_FOUND", "already_cancelled", "assign_ids", "look_up", "outcome_unknown"]

T = TypeVar("T")

#: :func:`look_up`: the order is not on the server (it may be sent again).
NOT_FOUND: Any = object()

_ID_PREFIX = "taas-"

#: How the engine sends a call (the lookup is a call like any other).
Send = Callable[[Call[Any]], Awaitable[Any]]


def _new_id() -> str:
    """A fresh ``custom_order_id`` for an order the caller gave none (37 characters)."""
    return _ID_PREFIX + uuid.uuid4().hex


def assign_ids(call: Call[Any], body: Any) -> tuple[Any, list[str]]:
    """The body with a ``custom_order_id`` on every order it creates, and those ids.

    The caller's ids are kept; the others are generated once per call, so
    every attempt sends the same ones. A caller's raw body (``request()``) is
    copied, never changed in place.
    """
    shape = call.orders
    if shape is None or shape is OrderShape.UNTRACKED or not isinstance(body, dict):
        return body, []
    if call.request is None:
        body = copy.deepcopy(body)
    if shape is OrderShape.CHAIN:
        ids: list[str] = []
        legs = body.get("orders_in_chain")
        for entry in legs if isinstance(legs, list) else []:
            leg = entry.get("order_request") if isinstance(entry, dict) else None
            if isinstance(leg, dict):
                leg["custom_order_id"] = leg.get("custom_order_id") or _new_id()
                ids.append(leg["custom_order_id"])
        return body, ids
    body["custom_order_id"] = body.get("custom_order_id") or _new_id()
    return body, [body["custom_order_id"]]


def outcome_unknown(
    call: Call[Any],
    ids: list[str],
    cause: TaaSError,
    why: str = "",
    lookup_error: TaaSError | None = None,
) -> OrderOutcomeUnknownError:
    """The error for an order that may or may not have been placed, with how to find it."""
    if len(ids) == 1:
        hint = f"look it up with custom_order_id={ids[0]!r} before placing it again"
    elif ids:
        hint = f"look its legs up with custom_order_ids={','.join(ids)} before placing it again"
    else:
        hint = "it carries no custom_order_id: look for its orders before placing it again"
    if accepted(cause):
        status = getattr(cause, "status_code", None) or getattr(cause, "reply_status", None)
        what = f"the server accepted the order (HTTP {status}) but its reply was lost"
    else:
        what = "the order may or may not have been placed"
    return OrderOutcomeUnknownError(
        f"{call.method} /{call.path}: {what} ({cause}){'; ' + why if why else ''}; {hint}",
        request=call.request if call.request is not None else call.body,
        custom_order_id=ids[0] if len(ids) == 1 else None,
        custom_order_ids=ids,
        lookup_error=lookup_error,
    )


def _follow_up(call: Call[Any], path: str, **fields: Any) -> Call[Any]:
    """A read the reconciliation sends on the call's behalf, with its timeout and retries."""
    return Call(
        RAW, path, "read", "GET", timeout=call.timeout, max_retries=call.max_retries, **fields
    )


async def look_up(send: Send, call: Call[T], ids: list[str], cause: TaaSError, *, final: bool) -> T:
    """Look the call's orders up by ``custom_order_id``; return what landed.

    Returns :data:`NOT_FOUND` when a single order provably did not land and
    may be sent again (``final=False``); raises
    :class:`OrderOutcomeUnknownError` whenever it cannot tell.
    """
    if not ids:
        raise outcome_unknown(call, ids, cause) from cause
    listing = ENDPOINTS["get_all_orders"]
    try:
        page = await send(
            attrs.evolve(
                _follow_up(call, listing.path),
                endpoint=listing,
                request=r.GetOrdersRequest(custom_order_ids=ids, page_size=100),
                fresh_connection=broke_connection(cause),
            )
        )
    except TaaSError as exc:
        # The attempt's error stays the cause (its body, its request id); the
        # lookup's is kept beside it.
        raise outcome_unknown(
            call, ids, cause, f"looking it up failed: {exc}", lookup_error=exc
        ) from cause

    def unknown(why: str) -> OrderOutcomeUnknownError:
        return outcome_unknown(call, ids, cause, why)

    found = [order for order in page.orders if order.custom_order_id in ids]
    if len(found) != len(page.orders):
        # Orders that do not match: the filter was ignored, so "not found" means nothing.
        raise unknown("the order list did not filter by custom_order_ids") from cause
    if (page.num_pages or 1) > 1:
        raise unknown("more than a page of orders carry these custom_order_ids") from cause
    legs = {order.custom_order_id: order for order in found}
    # The legs of one multi order share its id; anywhere else, one id is one order.
    if len(legs) != len(found) and call.orders is not OrderShape.MULTI:
        raise unknown("several orders carry the same custom_order_id") from cause
    body: Any
    if call.orders is OrderShape.SINGLE:
        if not found:
            if final:
                raise unknown("not found (yet)") from cause
            return NOT_FOUND  # type: ignore[no-any-return]
        body = found[0].raw
    else:
        # Multi and chained orders are never sent again on "not found": the API
        # does not say that their legs are listed under the call's ids.
        parents = {order.parent_order for order in found}
        if (
            not found
            or None in parents
            or len(parents) != 1
            or (call.orders is OrderShape.CHAIN and len(found) != len(ids))
        ):
            raise unknown(f"found {len(found)} of its orders") from cause
        (parent,) = parents
        if call.orders is OrderShape.MULTI:
            # Fetched as it comes (the call's own reply type reads it below).
            try:
                path = ENDPOINTS["get_multi_order"].format_path(parent, name="parent_order")
                body = await send(_follow_up(call, path))
            except TaaSError as exc:
                raise outcome_unknown(
                    call, ids, cause, f"fetching multi order {parent} failed: {exc}", exc
                ) from cause
        else:  # a chain: rebuilt from its legs, in the order they were sent
            body = {"id": parent, "orders": [legs[i].raw for i in ids]}
    try:
        landed = call.parse(body)
    except ShapeError as exc:
        raise unknown(
            f"it was found, but what the server says of it cannot be read: {exc}"
        ) from cause
    logger.warning(
        "%s /%s: the order landed (custom_order_id=%s); returning it, not sending it again",
        call.method,
        call.path,
        ",".join(ids),
    )
    return landed


async def already_cancelled(send: Send, call: Call[T], error: TaaSError) -> T:
    """A cancel retried after an attempt that may have worked, now refused: check the order.

    If it is CANCELED, the earlier attempt did it: success. Otherwise the
    refusal stands.
    """
    state = call.endpoint.state
    if state is None:
        raise error
    order_id = str(call.target)
    # The state row reads the order; only its status matters, so the reply is
    # taken as decoded JSON (a reply too thin for the model still says it).
    path = ENDPOINTS[state].format_path(call.target)
    try:
        current = await send(Call(RAW, path, "read", "GET", timeout=call.timeout))
    except TaaSError:
        raise error from None
    status = current.get("status") if isinstance(current, dict) else None
    if status != OrderStatus.CANCELED.value:
        raise error
    logger.warning(
        "%s /%s refused (HTTP %s) but the order is CANCELED: an earlier attempt cancelled it",
        call.method,
        call.path,
        status_of(error),
    )
    return call.parse(
        {
            "message": f"already cancelled (an earlier attempt went through; the retry got"
            f" HTTP {status_of(error)})",
            "success": True,
            "order_id": order_id,
        }
    )
