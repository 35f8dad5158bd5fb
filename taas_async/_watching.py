"""Following orders until they end: ``watch_orders``, ``watch_order``, ``wait_for_order``.

One machinery for one order and for thousands: a snapshot of each order
when it is first seen, then one each time its status or fills change, until
every order is COMPLETE or CANCELED. It follows them on the live order
stream when the server has one (one connection for all of them, and their
state over REST every 30 s, or at once after an update without its order),
and otherwise by batched polling: each interval, one orders-list request
(filtered by ``custom_order_id``) per hundred orders, a GET only for an
order whose ``custom_order_id`` is not known. A poll that fails for a reason that may
pass does not end the watch; the timeout, on the client's timer, ends it
with :class:`WaitTimeoutError` naming the orders still open.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from taas_async import _models as m
from taas_async import _requests as r
from taas_async._base_client import short
from taas_async._exceptions import (
    APIConnectionError,
    AuthenticationError,
    RequestValidationError,
    StreamUnavailableError,
    TaaSError,
    WaitTimeoutError,
)
from taas_async._logs import logger
from taas_async._options import positive_seconds
from taas_async._policy import retry_after_of, transient
from taas_async._stream import OrderStream, StreamChanged
from taas_async._tracking import _checked_batch, _fan_out, _id_of
from taas_async._updates import mark_of, older_state
from taas_async._wire import canonical_id as canon

if TYPE_CHECKING:
    from taas_async._client import AsyncClient

__all__ = ["IDS_PER_LIST", "snapshots", "wait_for_order", "watch_orders"]


#: How many ``custom_order_id`` values one orders-list request filters by
#: (about 4 KB of URL: well inside what servers and proxies accept).
IDS_PER_LIST = 100
#: Characters of percent-encoded ``custom_order_ids`` one list request carries at most.
_URL_BUDGET = 4_200
#: How often a watch on the stream checks the open orders over REST anyway
#: (seconds of the client's clock): the stream does not acknowledge a
#: subscription, and an order that ended just before it took effect would
#: otherwise never be seen to end.
RECHECK = 30.0
#: Seconds after subscribing that a watch on the stream, given every order's
#: snapshot, asks for their state over REST (what changed before then).
FIRST_CHECK = 2.0
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


def _chunks(customs: list[str]) -> list[list[str]]:
    """``custom_order_id`` values in groups a list request can carry.

    At most a hundred, and at most about 4 KB of URL once percent-encoded:
    a hundred of the SDK's own ids fit; ids of 64 characters (the most the
    API takes) go about sixty to a request.
    """
    chunks: list[list[str]] = []
    chunk: list[str] = []
    size = 0
    for custom in customs:
        length = len(quote(custom, safe="")) + 3  # and an encoded comma
        if chunk and (len(chunk) == IDS_PER_LIST or size + length > _URL_BUDGET):
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(custom)
        size += length
    if chunk:
        chunks.append(chunk)
    return chunks


async def snapshots(client: AsyncClient, orders: Mapping[str, str | None]) -> dict[str, m.Order]:
    """The orders as the REST API gives them now, in as few requests as it takes.

    ``orders`` maps each order id (canonical) to its ``custom_order_id``
    (None: unknown); the result is keyed the same way. Orders whose custom
    id is known are listed up to a hundred to a request (``custom_order_ids``;
    a server that ignores the filter is noticed, and not paged through); the
    others, and any a list missed, are fetched one GET each. A failed
    request raises.
    """
    if len(orders) == 1:  # watch_order's every poll: one GET, nothing else
        [order_id] = orders
        return {order_id: await client.get_order(order_id)}
    wanted = {custom: order_id for order_id, custom in orders.items() if custom}
    found: dict[str, m.Order] = {}
    # One order: a GET is as cheap as a list request.
    chunks = [chunk for chunk in _chunks(list(wanted)) if len(chunk) > 1]

    async def listed(chunk: list[str]) -> list[m.Order]:
        asked = set(chunk)
        got: list[m.Order] = []
        request = r.GetOrdersRequest(custom_order_ids=chunk, page_size=len(chunk))
        pages = cast("AsyncGenerator[m.Order, None]", client.iter_orders(request))
        async with contextlib.aclosing(pages):
            async for order in pages:
                if order.custom_order_id not in asked:
                    # The filter is ignored: stop rather than page through every order.
                    logger.debug("the orders list ignores custom_order_ids; GETs instead")
                    return []
                got.append(order)
                if len(got) == len(chunk):
                    break
        return got

    # The lists at once (a watch starting on many orders waits for all of them).
    for result in await _fan_out(chunks, listed, _GETS_AT_ONCE) if chunks else []:
        if isinstance(result, Exception):
            raise result
        for order in result:
            order_id = canon(order.id)
            if order.custom_order_id and canon(wanted.get(order.custom_order_id)) == order_id:
                found[order_id] = order
    rest = [order_id for order_id in orders if order_id not in found]
    if len(rest) <= 1:  # no task group for one GET, or none
        for order_id in rest:
            found[order_id] = await client.get_order(order_id)
        return found
    fetched = await _fan_out(rest, client.get_order, _GETS_AT_ONCE)
    for order_id, one in zip(rest, fetched, strict=True):
        if isinstance(one, Exception):
            raise one
        found[order_id] = one
    return found


def _wanted(
    orders: Iterable[m.Order | str | uuid.UUID],
) -> tuple[dict[str, str | None], dict[str, m.Order]]:
    """Every id checked first, then two maps by id.

    The ``custom_order_id`` of each (None: not known), and the snapshots
    given (``Order`` objects with a status).
    """

    def check(item: Any) -> tuple[Any, dict[str, list[str]]]:
        _, problems = _id_of(item.id if isinstance(item, m.Order) else item)
        return item, problems

    checked = _checked_batch(orders, check, "order_ids")
    given = {canon(o.id): o for o in checked if isinstance(o, m.Order) and o.status is not None}
    wanted: dict[str, str | None] = {}
    for item in checked:
        if isinstance(item, m.Order):
            order_id = canon(item.id)
            wanted[order_id] = item.custom_order_id or wanted.get(order_id)
        else:
            wanted.setdefault(canon(item), None)
    return wanted, given


class _Watch:
    """The state of one watch: what is still open, what was last yielded."""

    def __init__(self, wanted: dict[str, str | None], timeout: float | None, now: float) -> None:
        #: The snapshots the caller gave (``Order`` objects with a status), by id.
        self.given: dict[str, m.Order] = {}
        self.wanted = wanted
        self.open = dict.fromkeys(wanted)  # insertion-ordered set: input order
        self.seen: dict[str, tuple[Any, ...]] = {}
        self.last: dict[str, m.Order] = {}
        self.last_error: TaaSError | None = None
        self.timeout = timeout
        self.deadline = None if timeout is None else now + timeout

    def news(self, order: m.Order) -> bool:
        """Take a snapshot: True when it is news (first, or changed) for an order watched.

        A snapshot older than one already taken of a running order (by
        ``updated_at``, then ``executed_qty``: see ``older_state``) is not
        news: a REST reply and a stream update can cross. An end always is.
        """
        order_id = canon(order.id)
        if order_id not in self.open:
            return False
        previous = self.last.get(order_id)
        if older_state(mark_of(previous) if previous is not None else None, order):
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

    def news_in(self, found: dict[str, m.Order]) -> list[m.Order]:
        """What a round found that is news, in the order the orders were given."""
        return [
            snapshot
            for order_id in list(self.open)
            if (snapshot := found.get(order_id)) is not None and self.news(snapshot)
        ]

    def bounded(self, moment: float) -> float:
        """``moment``, or the deadline if it comes first."""
        return moment if self.deadline is None else min(moment, self.deadline)

    def check_deadline(self, timer: Any) -> None:
        """Raise :meth:`timed_out` once the deadline has passed."""
        if self.deadline is not None and timer.current_time() >= self.deadline:
            raise self.timed_out() from None

    def left(self, timer: Any) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline - timer.current_time()

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
    wanted, given = _wanted(orders)
    watch = _Watch(wanted, timeout, timer.current_time())
    watch.given = given
    if not watch.open:
        return
    live: OrderStream | None = None
    if stream is not False:
        try:
            with timer.fail_after(watch.left(timer)):
                live = await _open_stream(client, required=stream is True)
        except TimeoutError:
            raise watch.timed_out() from None
    try:
        async with contextlib.aclosing(_follow(client, poll, watch, live)) as snapshots_:
            async for order in snapshots_:
                yield order
    finally:
        if live is not None:
            await live.aclose()


async def _open_stream(client: AsyncClient, *, required: bool) -> OrderStream | None:
    live = client.order_stream()
    live._serve_a_watch()
    try:
        await live.__aenter__()
    except (StreamUnavailableError, APIConnectionError, AuthenticationError) as exc:
        # A 401 to the upgrade too: the REST API may take the token the stream
        # did not (it raises its own 401 if the token is bad).
        if required:
            raise
        logger.info("no order stream (%s); polling instead", short(exc))
        return None
    return live


async def _follow(
    client: AsyncClient, poll: float, watch: _Watch, live: OrderStream | None
) -> AsyncGenerator[m.Order, None]:
    """Snapshot rounds (every ``poll`` s, or every :data:`RECHECK` s beside a stream) and updates.

    A round that fails for a reason that may pass is logged and tried again
    after the backoff; on the stream, an error (an update that cannot be
    read, a resync's error about one order) is logged and a round run at
    once. The stream going away (refused on reconnecting) means polling
    from then on; while it is down and reconnecting, rounds come every
    ``poll`` s too: the stream reports a drop, each failed attempt and its
    return at once, and while it waits out its backoff it is read in slices
    of ``poll`` s. A connected stream is read to the next round (a resync's
    REST calls are never cut short), and a connection attempt with its
    resync to the deadline only (rounds wait for it).
    """
    timer = client._timer
    failures = 0  # rounds in a row that failed
    next_round = last_round = timer.current_time()  # subscribed first, then the state now
    if live is not None:
        live.follow(watch.wanted.items())
        for given in _given_first(watch):
            yield given
        if watch.given:
            next_round += FIRST_CHECK
    while watch.open:
        now = timer.current_time()
        if live is None or now >= next_round:
            found = await _round(client, watch, next_round)
            if found is None:  # failed for a reason that may pass: again after the backoff
                failures += 1
                next_round = _after_failure(client, poll, watch, failures)
                continue
            failures = 0
            last_round = timer.current_time()
            next_round = last_round + (poll if live is None or not live.connected else RECHECK)
            for snapshot in watch.news_in(found):
                yield snapshot
            continue
        try:
            update = await _next_update(live, timer, _read_until(live, watch, next_round, poll))
        except TaaSError as exc:
            if isinstance(exc, StreamUnavailableError | AuthenticationError) or live._closed:
                # Refused on reconnecting (no stream now, the token, a proxy's 4xx).
                logger.warning("the order stream went away (%s); polling instead", short(exc))
                await live.aclose()
                live = None
                continue
            # An update that could not be read, or a resync's error about one
            # order (perhaps not one of these): the open orders are asked for
            # now, and a watched order that is really gone ends the watch there.
            watch.last_error = exc
            logger.warning("watching %s: from the order stream: %s", _named(watch), short(exc))
            next_round = timer.current_time()
            continue
        if update is None:  # the time came, or the stream dropped
            watch.check_deadline(timer)
            if not live.connected:  # down, reconnecting: polled meanwhile
                next_round = min(next_round, last_round + poll)
            continue
        order_id = canon(update.order_id)
        if order_id not in watch.open or isinstance(update.order, m.MultiOrder):
            continue
        if update.order is None:  # an update without the order: the next round asks
            next_round = timer.current_time()
            continue
        if watch.news(update.order):
            yield update.order


def _read_until(live: OrderStream, watch: _Watch, next_round: float, poll: float) -> float | None:
    """Until when (client clock; None: no bound) the stream is read before a round.

    Connected: to the next round. Down: for a poll at most while it waits out
    its backoff, but a connection attempt is never cut (only the deadline).
    """
    if live._attempt_due():
        return watch.deadline
    if live.connected:
        return watch.bounded(next_round)
    return watch.bounded(min(next_round, live._timer.current_time() + poll))


async def _next_update(live: OrderStream, timer: Any, until: float | None) -> m.OrderUpdate | None:
    """The stream's next update before ``until`` (client clock; None: no bound), else None.

    None: the time came first, or the connection changed (it dropped, an
    attempt to connect again failed, or it is up again): the next read goes on.
    """
    try:
        with timer.fail_after(None if until is None else until - timer.current_time()):
            return await live.__anext__()
    except (TimeoutError, StreamChanged):
        return None


def _given_first(watch: _Watch) -> list[m.Order]:
    """When every order came with its snapshot (from ``place_orders``), those, as news.

    The stream is read at once then, and the state asked for over REST a
    moment later (:data:`FIRST_CHECK`), for what changed before the
    subscription took effect. Otherwise nothing: the state is asked for first.
    """
    if not watch.given or set(watch.given) != set(watch.open):
        watch.given = {}
        return []
    return [order for order in list(watch.given.values()) if watch.news(order)]


async def _round(client: AsyncClient, watch: _Watch, at: float) -> dict[str, m.Order] | None:
    """At ``at`` on the client's clock, every open order; None when that failed but may pass."""
    timer = client._timer
    try:
        with timer.fail_after(watch.left(timer)):
            await timer.sleep_until(at)
            return await snapshots(client, {i: watch.wanted[i] for i in watch.open})
    except TimeoutError:
        raise watch.timed_out() from None
    except TaaSError as exc:
        if not transient(exc):
            raise
        watch.last_error = exc
        return None


def _after_failure(client: AsyncClient, poll: float, watch: _Watch, failures: int) -> float:
    """When to try again after ``failures`` failed rounds in a row (logged: nobody else sees it)."""
    error = watch.last_error
    after = retry_after_of(error) if error is not None else None
    wait = max(poll, client.backoff.delay(failures), after or 0.0)
    logger.warning(
        "watching %s: a poll failed (%s); polling again in %.2f s",
        _named(watch),
        short(error) if error is not None else "unknown",
        wait,
        extra={"taas_order_id": next(iter(watch.open)), "taas_retry_in": wait},
    )
    return client._timer.current_time() + wait


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
