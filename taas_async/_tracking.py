"""Many calls at once and calls over time: fan-out, paging, watching an order.

``place_orders`` / ``cancel_orders`` check every item first, then run at most
``max_concurrency`` calls at once and return each item's result or error in
input order. ``iter_orders`` pages lazily and refuses a server that repeats a
page. ``watch_order`` polls one order and rides through failures that may
pass. They go through the client's own methods (``get_order``,
``get_all_orders``, ``cancel_order``; ``place_orders`` through the engine,
its batch checked once), so retries, limits and order reconciliation apply
as to any call, and a subclass or a test double of those methods is honoured.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import anyio
import attrs

from taas_async import _models as m
from taas_async import _requests as r
from taas_async import _wire
from taas_async._base_client import BaseClient
from taas_async._endpoints import ENDPOINTS
from taas_async._exceptions import (
    RequestValidationError,
    ResponseDecodeError,
)
from taas_async._options import (
    CallRetries,
    CallTimeout,
    is_instance,
)

__all__ = ["DEFAULT_FAN_OUT"]

T = TypeVar("T")
_Item = TypeVar("_Item")

#: How many requests ``place_orders`` and ``cancel_orders`` keep in flight by default.
DEFAULT_FAN_OUT = 32

_PLACE = ENDPOINTS["place_order"]


# --------------------------------------------------------------------------- fan-out


async def place_orders(
    client: BaseClient,
    requests: Iterable[r.PlaceOrderRequest | Mapping[str, Any]],
    max_concurrency: int,
    timeout: CallTimeout,
    max_retries: CallRetries,
) -> list[m.Order | Exception]:
    """``AsyncClient.place_orders``."""
    batch = _checked_batch(requests, _request_of, "requests")
    return await _fan_out(
        batch,
        # Each request was validated just now, in the batch: not twice.
        lambda request: client._send(
            client._call(
                _PLACE, request=request, timeout=timeout, max_retries=max_retries, checked=True
            )
        ),
        max_concurrency,
    )


async def cancel_orders(
    cancel_order: Callable[..., Awaitable[m.ActionResult]],
    order_ids: Iterable[Any],
    max_concurrency: int,
    timeout: CallTimeout,
    max_retries: CallRetries,
) -> list[m.ActionResult | Exception]:
    """``AsyncClient.cancel_orders``, over the client's ``cancel_order``."""
    ids = _checked_batch(order_ids, _id_of, "order_ids")
    return await _fan_out(
        ids,
        lambda order_id: cancel_order(order_id, timeout=timeout, max_retries=max_retries),
        max_concurrency,
    )


#: What a batch item's check gives: the item to send, or its problems by field suffix.
_Checked = tuple[Any, dict[str, list[str]]]


def _id_of(order_id: Any) -> _Checked:
    try:
        _wire.path_id(order_id)
    except RequestValidationError as exc:
        return None, {"": [reason for reasons in exc.errors.values() for reason in reasons]}
    return order_id, {}


def _request_of(item: Any) -> _Checked:
    """A batch item as a checked request: a ``PlaceOrderRequest``, or one built from a mapping."""
    try:
        if isinstance(item, r.PlaceOrderRequest):
            item.validate()
            return item, {}
        if isinstance(item, Mapping):
            return r.PlaceOrderRequest.from_dict(item), {}
    except RequestValidationError as exc:
        return None, {f".{field}": reasons for field, reasons in exc.errors.items()}
    return None, {"": [f"expected PlaceOrderRequest or a mapping, got {type(item).__name__}"]}


def _checked_batch(items: Iterable[Any], check: Callable[[Any], _Checked], name: str) -> list[Any]:
    """The items, each one checked: one error names every bad item by index; nothing is sent."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise RequestValidationError({name: [f"expected an iterable, got {type(items).__name__}"]})
    batch: list[Any] = []
    problems: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        checked, found = check(item)
        batch.append(checked)
        problems.update({f"[{index}]{suffix}": reasons for suffix, reasons in found.items()})
    if problems:
        raise RequestValidationError(problems, model=name)
    return batch


_PENDING: Any = object()


async def _fan_out(
    items: list[_Item],
    call: Callable[[_Item], Awaitable[T]],
    max_concurrency: int,
) -> list[T | Exception]:
    """Run ``call`` on every item, ``max_concurrency`` at a time; results in input order."""
    if not is_instance(max_concurrency, int) or isinstance(max_concurrency, bool):
        raise RequestValidationError({"max_concurrency": ["must be an integer >= 1"]})
    if max_concurrency < 1:
        raise RequestValidationError({"max_concurrency": [f"must be >= 1, got {max_concurrency}"]})
    results: list[Any] = [_PENDING] * len(items)
    indices = iter(range(len(items)))

    async def worker() -> None:
        for index in indices:  # shared: each index is taken by exactly one worker
            try:
                results[index] = await call(items[index])
            except Exception as exc:  # noqa: BLE001, PERF203 (returned for that item, never dropped)
                results[index] = exc

    async with anyio.create_task_group() as group:
        for _ in range(min(max_concurrency, len(items))):
            group.start_soon(worker)
    return results


# --------------------------------------------------------------------------- paging


async def iter_pages(
    get_page: Callable[..., Awaitable[Any]],
    url: str,
    request: Any,
    *,
    filters: type,
    page_field: str,
    items: Callable[[Any], list[Any]],
    timeout: CallTimeout,
    max_retries: CallRetries,
) -> AsyncIterator[Any]:
    """Every item of a paged list, fetched lazily by the client's ``get_page``.

    ``request`` is a ``filters`` (None: all); ``page_field`` numbers the pages
    (``page`` for orders, ``page_number`` for multi orders); ``url`` names the
    list in errors. Nothing is checked or sent before the first item is asked for.
    """
    request = request if request is not None else filters()
    if not is_instance(request, filters):
        got = type(request).__name__
        raise RequestValidationError({"request": [f"expected {filters.__name__}, got {got}"]})
    page_number = getattr(request, page_field) or 1
    page_size = request.page_size or 100
    seen = served_size = 0
    previous_ids: list[str] | None = None
    while True:
        page = await get_page(
            attrs.evolve(request, **{page_field: page_number, "page_size": page_size}),
            timeout=timeout,
            max_retries=max_retries,
        )
        ids = [item.id for item in items(page)]
        if ids and ids == previous_ids:
            raise ResponseDecodeError(
                f"page {page_number} repeats page {page_number - 1}: the server ignores"
                f" {page_field!r}; stopping rather than yielding duplicates",
                method="GET",
                url=url,
                status_code=200,
                # The page as decoded (a number too long to send back stays text).
                text=json.dumps(page.raw, default=str),
            )
        previous_ids = ids
        served_size = served_size or len(ids)
        for item in items(page):
            yield item
        seen += len(ids)
        if not ids:
            return
        if page.num_pages is not None:
            if page_number >= page.num_pages:
                return
        elif page.count is not None:
            # Items on the pages before the first one we asked for, at the server's size.
            skipped = ((getattr(request, page_field) or 1) - 1) * served_size
            if skipped + seen >= page.count:
                return
        elif len(ids) < page_size:
            return
        page_number += 1
