"""Following orders until they end: ``watch_orders``, ``watch_order``, ``wait_for_order``.

One machinery for one order and for thousands: a snapshot of each order
when it is first seen, then one each time its status or fills change, until
every order is COMPLETE or CANCELED. It follows them on the live order
stream when the server has one (one connection for all of them; an order
without a fresh snapshot in the update is fetched over REST), and otherwise
by batched polling: each interval, one orders-list request (filtered by
``custom_order_id``) per hundred orders, a GET only for an order whose
``custom_order_id`` is not known. A poll that fails for a reason that may
pass does not end the watch; the timeout, on the client's timer, ends it
with :class:`WaitTimeoutError` naming the orders still open.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from taas_async import _models as m
from taas_async import _requests as r
from taas_async import _wire
from taas_async._base_client import short
from taas_async._exceptions import (
    APIConnectionError,
    RequestValidationError,
    StreamUnavailableError,
    TaaSError,
    WaitTimeoutError,
)
from taas_async._options import positive_seconds
from taas_async._policy import retry_after_of, transient
from taas_async._stream import OrderStream
from taas_async._tracking import _checked_batch, _fan_out

if TYPE_CHECKING:
    from taas_async._client import AsyncClient

__all__ = ["IDS_PER_LIST", "snapshots", "wait_for_order", "watch_orders"]

logger = logging.getLogger("taas_async")

#: How many ``custom_order_id`` values one orders-list request filters by
#: (about 4 KB of URL: well inside what servers and proxies accept).
IDS_PER_LIST = 100
#: How many GETs run at once for orders whose ``custom_order_id`` is unknown.
_GETS_AT_ONCE = 16
#: How many still-open orders a timeout's message names.
_NAMED = 10


def positive(name: str, value: object) -> float:
    """A positive, finite number of seconds, or RequestValidationError naming ``name``."""
    if not positive_seconds(value):
        raise RequestValidationError(
            {name: [f"must be a positive, finite number of seconds, got {value!r}"]}
        )
    return float(value)  # type: ignore[arg-type]


def _progress(order: m.Order) -> tuple[Any, ...]:
    """What a watch compares: status and every execution figure."""
    return (
        order.status,
        order.executed_qty,
        order.executed_notional,
        order.pct_filled,
        len(order.placements),
    )


async def snapshots(client: AsyncClient, orders: Mapping[str, str | None]) -> dict[str, m.Order]:
    """The orders as the REST API gives them now, in as few requests as it takes.

    ``orders`` maps each order id to its ``custom_order_id`` (None: unknown).
    Orders whose custom id is known are listed a hundred to a request
    (``custom_order_ids``, every page); the others, and any a list missed,
    are fetched one GET each. A failed request raises.
    """
    wanted = {custom: order_id for order_id, custom in orders.items() if custom}
    found: dict[str, m.Order] = {}
    customs = list(wanted)
    chunks = [
        customs[start : start + IDS_PER_LIST]
        for start in range(0, len(customs), IDS_PER_LIST)
        if len(customs) - start > 1  # one order: a GET is as cheap as a list request
    ]

    async def listed(chunk: list[str]) -> list[m.Order]:
        request = r.GetOrdersRequest(custom_order_ids=chunk, page_size=len(chunk))
        return [order async for order in client.iter_orders(request)]

    # The lists at once (a watch starting on many orders waits for all of them).
    for result in await _fan_out(chunks, listed, _GETS_AT_ONCE):
        if isinstance(result, Exception):
            raise result
        for order in result:
            if wanted.get(order.custom_order_id or "") == order.id:
                found[order.id] = order
    rest = [order_id for order_id in orders if order_id not in found]
    if len(rest) == 1:  # watch_order's every poll: no task group for one GET
        found[rest[0]] = await client.get_order(rest[0])
        return found
    fetched = await _fan_out(rest, client.get_order, _GETS_AT_ONCE)
    for order_id, one in zip(rest, fetched, strict=True):
        if isinstance(one, Exception):
            raise one
        found[order_id] = one
    return found


def _wanted(orders: Iterable[m.Order | str | uuid.UUID]) -> dict[str, str | None]:
    """Order id -> its custom_order_id (None: not known), every id checked first."""

    def problems(item: Any) -> dict[str, list[str]]:
        order_id = item.id if isinstance(item, m.Order) else item
        try:
            _wire.path_id(order_id)
        except RequestValidationError as exc:
            return {"": [reason for reasons in exc.errors.values() for reason in reasons]}
        return {}

    checked = _checked_batch(orders, problems, "order_ids")
    wanted: dict[str, str | None] = {}
    for item in checked:
        if isinstance(item, m.Order):
            wanted[str(item.id)] = item.custom_order_id or wanted.get(str(item.id))
        else:
            wanted.setdefault(str(item), None)
    return wanted


class _Watch:
    """The state of one watch: what is still open, what was last yielded."""

    def __init__(self, wanted: dict[str, str | None], timeout: float | None, now: float) -> None:
        self.wanted = wanted
        self.open = dict.fromkeys(wanted)  # insertion-ordered set: input order
        self.seen: dict[str, tuple[Any, ...]] = {}
        self.last: dict[str, m.Order] = {}
        self.last_error: TaaSError | None = None
        self.timeout = timeout
        self.deadline = None if timeout is None else now + timeout

    def news(self, order: m.Order) -> bool:
        """Take a snapshot: True when it is news (first, or changed) for an order watched."""
        order_id = str(order.id)
        if order_id not in self.open:
            return False
        if order.custom_order_id:
            self.wanted[order_id] = order.custom_order_id
        self.last[order_id] = order
        if order.is_terminal:
            del self.open[order_id]
        state = _progress(order)
        if self.seen.get(order_id) == state:
            return False
        self.seen[order_id] = state
        return True

    def timed_out(self) -> WaitTimeoutError:
        still = {order_id: self.last.get(order_id) for order_id in self.open}
        first = next(iter(still))
        error = f" (last error: {self.last_error})" if self.last_error else ""
        if len(still) == 1:
            status = getattr(still[first], "status", "unknown")
            text = f"order {first} is still {status} after {self.timeout} s{error}"
        else:
            named = ", ".join(
                f"{i} ({getattr(o, 'status', 'unknown')})" for i, o in list(still.items())[:_NAMED]
            )
            more = f" and {len(still) - _NAMED} more" if len(still) > _NAMED else ""
            text = (
                f"{len(still)} orders are still open after {self.timeout} s: {named}{more}{error}"
            )
        return WaitTimeoutError(
            text,
            order_id=first,
            last=still[first],
            last_error=self.last_error,
            still_open=still,
        )


async def watch_orders(
    client: AsyncClient,
    orders: Iterable[m.Order | str | uuid.UUID],
    *,
    poll_interval: float,
    timeout: float | None,
    stream: bool | None,
) -> AsyncGenerator[m.Order, None]:
    """``AsyncClient.watch_orders``: on the stream (``stream`` not False) or by polling."""
    poll = positive("poll_interval", poll_interval)
    timer = client._timer
    if timeout is not None:
        timeout = positive("timeout", timeout)
    if stream not in (None, True, False):
        raise RequestValidationError({"stream": [f"must be None, True or False, got {stream!r}"]})
    watch = _Watch(_wanted(orders), timeout, timer.current_time())
    if not watch.open:
        return
    if stream is not False:
        live = await _open_stream(client, required=stream is True)
        if live is not None:
            async with contextlib.aclosing(_on_stream(client, live, watch)) as updates:
                async for order in updates:
                    yield order
    if watch.open:
        async with contextlib.aclosing(_by_polling(client, poll, watch)) as polled:
            async for order in polled:
                yield order


async def _open_stream(client: AsyncClient, *, required: bool) -> OrderStream | None:
    live = client.order_stream()
    try:
        await live.__aenter__()
    except (StreamUnavailableError, APIConnectionError) as exc:
        if required:
            raise
        logger.info("no order stream (%s); polling instead", short(exc))
        return None
    return live


async def _on_stream(
    client: AsyncClient, live: OrderStream, watch: _Watch
) -> AsyncGenerator[m.Order, None]:
    """Follow ``watch`` on the stream; returns early (for polling) if the stream goes away."""
    timer = client._timer
    try:
        live.follow(watch.open)
        # Subscribed first, then the state now: nothing falls between the two.
        for order in (await _snapshot_round(client, watch, live)).values():
            if watch.news(order):
                yield order
        while watch.open:
            left = None if watch.deadline is None else watch.deadline - timer.current_time()
            try:
                with timer.fail_after(left):
                    update = await live.__anext__()
            except TimeoutError:
                raise watch.timed_out() from None
            except StreamUnavailableError as exc:
                logger.warning("order stream went away (%s); polling instead", short(exc))
                return
            if update.order_id not in watch.open or isinstance(update.order, m.MultiOrder):
                continue
            # An update without the order: ask for it.
            order = update.order or await client.get_order(update.order_id)
            if watch.news(order):
                yield order
    finally:
        await live.aclose()


async def _snapshot_round(
    client: AsyncClient, watch: _Watch, live: OrderStream | None = None
) -> dict[str, m.Order]:
    """Every open order now; on a timeout, the watch's ``WaitTimeoutError``."""
    timer = client._timer
    left = None if watch.deadline is None else watch.deadline - timer.current_time()
    try:
        with timer.fail_after(left):
            return await snapshots(client, {i: watch.wanted[i] for i in watch.open})
    except TimeoutError:
        if live is not None:
            await live.aclose()
        raise watch.timed_out() from None


async def _by_polling(
    client: AsyncClient, poll: float, watch: _Watch
) -> AsyncGenerator[m.Order, None]:
    timer = client._timer
    failures = 0  # polls in a row that failed
    wait = 0.0
    while watch.open:
        left = None if watch.deadline is None else watch.deadline - timer.current_time()
        try:
            with timer.fail_after(left):
                await timer.sleep(wait)
            found = await _snapshot_round(client, watch)
        except TimeoutError:
            raise watch.timed_out() from None
        except WaitTimeoutError:
            raise
        except TaaSError as exc:
            if not transient(exc):
                raise
            failures += 1
            watch.last_error = exc
            wait = max(poll, client.backoff.delay(failures), retry_after_of(exc) or 0.0)
            logger.warning(
                "watching %s: a poll failed (%s); polling again in %.2f s",
                _named(watch),
                short(exc),
                wait,
                extra={"taas_order_id": next(iter(watch.open)), "taas_retry_in": wait},
            )
            continue
        failures = 0
        wait = poll
        for order_id in list(watch.open):
            order = found.get(order_id)
            if order is not None and watch.news(order):
                yield order


def _named(watch: _Watch) -> str:
    if len(watch.open) == 1:
        return f"order {next(iter(watch.open))}"
    return f"{len(watch.open)} orders"


async def wait_for_order(watch: AsyncGenerator[m.Order, None]) -> m.Order:
    """``AsyncClient.wait_for_order``: the last snapshot of the client's ``watch_order``."""
    async with contextlib.aclosing(watch) as snapshots_:  # closed now, not by the GC
        async for order in snapshots_:
            if order.is_terminal:
                return order
    raise AssertionError("unreachable: watch_order ends on a terminal order")
