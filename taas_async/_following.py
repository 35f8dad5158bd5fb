"""``AsyncClient``'s methods that follow orders over time: the stream, watching, waiting.

A room of their own (``AsyncClient`` inherits them): ``order_stream``
(:mod:`taas_async._stream`), ``watch_orders``, ``watch_order`` and
``wait_for_order`` (:mod:`taas_async._watching`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Iterable
from typing import TYPE_CHECKING, cast

from taas_async import _models as m
from taas_async import _watching
from taas_async._base_client import BaseClient
from taas_async._stream import DEFAULT_KEEPALIVE, OrderStream

if TYPE_CHECKING:
    from taas_async._client import AsyncClient

__all__ = ["OrderFollowing"]

OrderId = str | uuid.UUID


def _as_client(client: OrderFollowing) -> AsyncClient:
    return cast("AsyncClient", client)  # only AsyncClient inherits this class


class OrderFollowing(BaseClient):
    """Following orders over time; :class:`AsyncClient` inherits these methods."""

    def order_stream(self, *, keepalive: float = DEFAULT_KEEPALIVE) -> OrderStream:
        """The live order stream (``wss://<server>/ws/orders/``): order updates as they come.

        An async context manager and an async iterator of :class:`OrderUpdate`;
        entering it connects, authenticates and subscribes. Keep-alives go out
        every ``keepalive`` seconds while you wait for updates; a dropped
        connection is replaced and the orders seen are resynchronised (see
        :class:`OrderStream`).

        Example::

            async with client.order_stream() as stream:
                async for update in stream:
                    print(update.update_type, update.order_id)
        """
        return OrderStream(_as_client(self), keepalive=_watching.positive("keepalive", keepalive))

    def watch_orders(
        self,
        orders: Iterable[m.Order | OrderId],
        *,
        poll_interval: float = 1.0,
        timeout: float | None = None,
        stream: bool | None = None,
    ) -> AsyncGenerator[m.Order, None]:
        """Yield a snapshot of each order now, then whenever its status or fills change.

        Ends once every order is COMPLETE or CANCELED. ``orders`` are ids or
        :class:`Order` objects (from ``place_orders``: their
        ``custom_order_id`` saves a request). On the order stream when the
        server has one (``stream=None``: try it, poll if the upgrade is
        refused or no connection can be made; ``True``: the stream or an
        error; ``False``: poll), one connection for all of them. Polling asks
        every ``poll_interval`` seconds with one orders-list request per
        hundred orders. A poll that fails for a reason that may pass (no reply,
        a timeout, a 5xx, a 429) does not end the watch; any other error does.

        Raises:
            WaitTimeoutError: ``timeout`` seconds passed first; ``still_open``
                maps every order still open to its latest snapshot.

        Example::

            placed = await client.place_orders(requests)
            orders = [o for o in placed if isinstance(o, Order)]
            async for order in client.watch_orders(orders, timeout=3600):
                print(order.id, order.status, order.pct_filled)

        """
        return _watching.watch_orders(
            _as_client(self), orders, poll_interval=poll_interval, timeout=timeout, stream=stream
        )

    def watch_order(
        self,
        order_id: OrderId,
        *,
        poll_interval: float = 1.0,
        timeout: float | None = None,
        stream: bool | None = False,
    ) -> AsyncGenerator[m.Order, None]:
        """Yield a snapshot of an order now, then whenever its status or fills change.

        :meth:`watch_orders` for one order: it stops after yielding the order
        COMPLETE or CANCELED. By default it polls ``get_order`` every
        ``poll_interval`` seconds (one request, as cheap as a stream for one
        order); ``stream=None`` follows it on the order stream when there is
        one. ``timeout`` bounds the whole watch (None: as long as the order
        runs); when it runs out, :class:`WaitTimeoutError` is raised with the
        last snapshot and the last error.

        A poll that fails for a reason that may pass (no reply, a timeout, a
        5xx, a 429), after its own retries, does not end the watch: it polls
        again after the client's backoff (at least ``poll_interval``, and any
        ``Retry-After``), logging a warning each time, for as long as
        ``timeout`` allows. Any other error (401, 403, 404, a reply that
        cannot be read) ends it at once.

        Example::

            async for order in client.watch_order(order.id, poll_interval=0.5):
                print(order.status, order.executed_qty, order.pct_filled)
        """
        return _watching.watch_orders(
            _as_client(self),
            [order_id],
            poll_interval=poll_interval,
            timeout=timeout,
            stream=stream,
        )

    async def wait_for_order(
        self,
        order_id: OrderId,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        stream: bool | None = False,
    ) -> m.Order:
        """Follow an order (:meth:`watch_order`) until it is COMPLETE or CANCELED; return that.

        Raises:
            WaitTimeoutError: ``timeout`` seconds passed first (the order is
                still live; ``.last`` is the latest snapshot).

        """
        watch = self.watch_order(
            order_id, poll_interval=poll_interval, timeout=timeout, stream=stream
        )
        return await _watching.wait_for_order(watch)
