"""``AsyncClient``: the TaaS API as typed, documented coroutine methods.

Each method is one row of :mod:`taas_async._endpoints` given its arguments:
the engine (:class:`~taas_async._base_client.BaseClient`) sends it, with the
retries, limits and order reconciliation every call gets. Calls over many
orders or over time (fan-out, paging, watching) are in ``_tracking``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from taas_async import _codec, _tracking, _wire
from taas_async import _endpoints as e
from taas_async import _models as m
from taas_async import _requests as r
from taas_async._endpoints import Call
from taas_async._enums import Strategy
from taas_async._exceptions import ClientClosedError, RequestValidationError
from taas_async._following import OrderFollowing
from taas_async._options import USE_CLIENT_DEFAULT, CallRetries, CallTimeout, is_instance
from taas_async._raw import AsyncClientWithRawResponse

__all__ = ["AsyncClient"]

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
OrderId = str | uuid.UUID


class AsyncClient(OrderFollowing):
    """Asynchronous TaaS client: one connection pool, typed requests and replies.

    Example::

        async with AsyncClient(url="https://app.tread.fi", auth_token="...") as client:
            order = await client.place_order(PlaceOrderRequest(
                accounts=["mock"], pair="ETH-USDT", side="buy", duration=300,
                base_asset_qty=5, strategy="TWAP"))

    Args:
        url: base URL of the TaaS instance; falls back to ``$TAAS_URL``. A path
            prefix is kept (``https://h/taas``).
        auth_token: API token, sent as ``Authorization: Token ...``; falls back
            to ``$TAAS_AUTH_TOKEN``. Never shown in a repr, log or error.
        timeout: seconds or an ``httpx.Timeout``; default 5 s connect, 15 s
            read/write/pool, or the ``http_client``'s own timeout when one is
            given (then ``timeout=`` is refused: set it on that client;
            ``DEFAULT_TIMEOUT`` itself counts as not given).
            Every endpoint also takes ``timeout=`` per call.
        max_retries: how many times a failed call may be retried (default 2);
            every endpoint also takes ``max_retries=`` per call. What is
            retried, and how an order is never placed twice, is in
            ``docs/resilience.md``.
        backoff: how long to wait between attempts (:class:`Backoff`);
            ``Backoff.none()`` retries at once (tests).
        max_concurrency: at most this many requests of this client in flight
            at once, shared by every task using it (None: no cap beyond the
            connection pool's).
        rate_limit: at most this many requests a second (a token bucket shared
            by every task using the client; every attempt takes a token).
        rate_limit_burst: how many requests may go at once after a quiet spell.
        extra_headers: sent with every request (not ``Authorization``, nor a field
            the client sets itself: ``Host``, ``Content-Length``, ``Transfer-Encoding``,
            ``Connection``, ``TE``, ``Upgrade``, ``Expect``).
        http_client: an ``httpx.AsyncClient`` to use as it was built: its
            timeout, connection limits, transport (proxies, TLS), default
            headers and event hooks apply to every call; never its ``auth``
            (the token is ours) nor redirects (an order is never replayed
            elsewhere). The caller owns it and we never close it. Its
            transport is httpx's own unless you built it with
            ``transport=H11PoolTransport()``: the SDK's fast pool is used only
            on a client it builds itself or one built on that transport.
        transport: an httpx transport for the client we create (tests, the
            sandbox, alternative back ends). Default: :class:`H11PoolTransport`,
            which does not collapse under fan-out (httpx's own pool does), on
            asyncio, uvloop and trio, behind a proxy too.
        limits: connection limits for the client we create (default 100
            connections, all kept alive).
        max_response_size: the most bytes of a reply body to read (default
            16 MiB); a longer reply is not read further and raises
            :class:`ResponseTooLargeError`.
        allow_insecure_http: allow a plain ``http://`` URL to a host that is
            not this machine. Off by default: the token would travel
            unencrypted. Loopback (``127.0.0.1``, ``::1``, ``localhost``)
            needs no permission.
        verify: TLS verification, as httpx reads it: True (certifi's CA
            bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set), a CA
            bundle file or directory (a private CA), an ``ssl.SSLContext``,
            or False (no check: tests only).
        cert: a client certificate, for mutual TLS: a file holding it and its
            key, ``(cert file, key file)`` or ``(cert file, key file, password)``.
        trust_env: read ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
            ``NO_PROXY``, ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` (default True).
        proxy: an ``http://`` (or ``https://``) proxy for every call
            (``"http://user:pass@proxy:3128"``, or an ``httpx.Proxy``); the
            environment's proxies are then not
            read. ``https://`` calls go through it in a ``CONNECT`` tunnel
            per pooled connection; a refusal is :class:`ProxyError`, nothing
            sent. verify, cert, trust_env and proxy configure the transport
            the client builds: beside ``transport=`` or ``http_client=`` they
            are refused (set them there).

    """

    async def __aenter__(self) -> AsyncClient:
        if self.is_closed:
            raise ClientClosedError("this AsyncClient is closed; create a new one")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def with_raw_response(self) -> AsyncClientWithRawResponse:
        """The same single-request endpoints, each returning a :class:`RawResponse`.

        ``raw = await client.with_raw_response.get_order(order_id)`` gives the
        :class:`Order` as ``raw.parsed`` and the reply it was read from:
        ``raw.status_code``, ``raw.headers``, ``raw.request_id``, ``raw.elapsed``.
        """
        return AsyncClientWithRawResponse(self)

    # ------------------------------------------------------------------ orders

    async def place_order(
        self,
        request: r.PlaceOrderRequest,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.Order:
        """Place a single order (``POST /api/orders/``).

        The order carries a ``custom_order_id`` (yours, or one generated for
        this call): if the reply is lost, the order is looked up by it rather
        than placed twice (``docs/resilience.md``).
        """
        call = self._call(e.PLACE_ORDER, request=request, timeout=timeout, max_retries=max_retries)
        return await self._send(call)

    async def get_order(
        self,
        order_id: OrderId,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.Order:
        """Fetch one order (``GET /api/order/{id}``)."""
        call = self._call(e.GET_ORDER, order_id, timeout=timeout, max_retries=max_retries)
        return await self._send(call)

    async def get_order_summary(
        self,
        order_id: OrderId,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.OrderSummary:
        """Fetch an order's execution summary (``GET /api/order_summary/{id}``)."""
        call = self._call(e.GET_ORDER_SUMMARY, order_id, timeout=timeout, max_retries=max_retries)
        return await self._send(call)

    async def cancel_order(
        self,
        order_id: OrderId,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.ActionResult:
        """Cancel an order (``DELETE /api/order/{id}``); 200 with a body and 204 both succeed."""
        call = self._call(e.CANCEL_ORDER, order_id, timeout=timeout, max_retries=max_retries)
        return await self._send(call)

    async def amend_order(
        self,
        request: r.AmendOrderRequest,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.ActionResult:
        """Change a live order (``POST /api/amend_order/``)."""
        call = self._call(e.AMEND_ORDER, request=request, timeout=timeout, max_retries=max_retries)
        return await self._send(call)

    async def pause_order(
        self,
        order_id: OrderId,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.ActionResult:
        """Pause an order (``POST /api/pause_order/``)."""
        request = r.OrderIdRequest(order_id=order_id)
        call = self._call(e.PAUSE_ORDER, request=request, timeout=timeout, max_retries=max_retries)
        return await self._send(call)

    async def resume_order(
        self,
        order_id: OrderId,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.ActionResult:
        """Resume a paused order (``POST /api/resume_order/``)."""
        request = r.OrderIdRequest(order_id=order_id)
        call = self._call(e.RESUME_ORDER, request=request, timeout=timeout, max_retries=max_retries)
        return await self._send(call)

    async def get_all_orders(
        self,
        request: r.GetOrdersRequest | None = None,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.OrdersPage:
        """One page of orders (``GET /api/orders/``); filters in a :class:`GetOrdersRequest`."""
        request = request if request is not None else r.GetOrdersRequest()
        call = self._call(
            e.GET_ALL_ORDERS, request=request, timeout=timeout, max_retries=max_retries
        )
        return await self._send(call)

    def iter_orders(
        self,
        request: r.GetOrdersRequest | None = None,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> AsyncIterator[m.Order]:
        """Every order matching ``request``, fetching pages lazily as you iterate.

        Starts at ``request.page`` (default 1). When the server says how many
        pages (``num_pages``) or orders (``count``) there are, iteration goes
        on until those are reached, even if it caps ``page_size`` below ours;
        otherwise it stops on a short or empty page.

        Raises:
            ResponseDecodeError: the server repeats a page (it ignores ``page``),
                which would otherwise loop or duplicate orders.

        """
        url = self.base_url + e.GET_ALL_ORDERS.path
        return _tracking.iter_pages(
            self.get_all_orders,
            url,
            request,
            filters=r.GetOrdersRequest,
            page_field="page",
            items=_orders_of,
            timeout=timeout,
            max_retries=max_retries,
        )

    # ------------------------------------------------------------------ fan-out and tracking

    async def place_orders(
        self,
        requests: Iterable[r.PlaceOrderRequest | Mapping[str, Any]],
        *,
        max_concurrency: int = _tracking.DEFAULT_FAN_OUT,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> list[m.Order | Exception]:
        """Place many orders concurrently, at most ``max_concurrency`` in flight.

        Each item is a :class:`PlaceOrderRequest` or a mapping of its fields
        (a JSON object read with ``parse_float=Decimal``: built with
        ``PlaceOrderRequest.from_dict``, which refuses floats).
        Every item is checked first: if any is invalid, one
        :class:`RequestValidationError` names each bad item by index
        (``[3].pair``, ``[7].bogus``) and nothing is sent. Then the results
        come back in input order: the :class:`Order` placed, or the exception
        that item raised, which names the order's ``custom_order_id`` (yours,
        or the one generated for it). One failure never stops or loses the
        others; an :class:`OrderOutcomeUnknownError` among the results means
        "look this one up before placing it again".

        Cancelling the caller cancels the placements still pending; those
        already sent may have landed: look them up by ``custom_order_id``.

        Example::

            results = await client.place_orders(requests, max_concurrency=64)
            for result in results:
                if isinstance(result, TaaSError):
                    print(result.custom_order_id, "failed:", result)
        """
        return await _tracking.place_orders(self, requests, max_concurrency, timeout, max_retries)

    async def cancel_orders(
        self,
        order_ids: Iterable[OrderId],
        *,
        max_concurrency: int = _tracking.DEFAULT_FAN_OUT,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> list[m.ActionResult | Exception]:
        """Cancel many orders concurrently; results (or each one's error) in input order.

        Every id is checked first (nothing is sent if one is invalid); one
        failure never stops the others; cancelling the caller cancels the
        cancels still pending.
        """
        return await _tracking.cancel_orders(
            self.cancel_order, order_ids, max_concurrency, timeout, max_retries
        )

    async def get_order_messages(
        self,
        order_ids: Iterable[OrderId],
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> list[m.OrderMessage]:
        """Engine messages for some orders (``POST /api/order_messages/``)."""
        request = r.OrderMessagesRequest(order_ids=order_ids)
        call = self._call(
            e.GET_ORDER_MESSAGES, request=request, timeout=timeout, max_retries=max_retries
        )
        return await self._send(call)

    # ------------------------------------------------------------------ multi and chained orders

    async def place_multi_order(
        self,
        request: r.PlaceMultiOrderRequest,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.MultiOrder:
        """Place a multi order (``POST /api/multi_orders/``)."""
        call = self._call(
            e.PLACE_MULTI_ORDER, request=request, timeout=timeout, max_retries=max_retries
        )
        return await self._send(call)

    async def get_multi_order(
        self,
        multi_order_id: OrderId,
        *,
        include_child_orders: bool = False,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.MultiOrder:
        """Fetch a multi order (``GET /api/multi_order/{id}``).

        With ``include_child_orders=True`` its legs come along, as
        ``child_orders`` (typed :class:`Order` s).
        """
        # The server's default (false) is not sent; anything but a bool is refused.
        query = r.MultiOrderQuery(
            include_child_orders=None if include_child_orders is False else include_child_orders
        )
        call = self._call(
            e.GET_MULTI_ORDER,
            multi_order_id,
            request=query,
            timeout=timeout,
            max_retries=max_retries,
        )
        return await self._send(call)

    async def get_multi_orders(
        self,
        request: r.GetMultiOrdersRequest | None = None,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.MultiOrdersPage:
        """One page of multi orders (``GET /api/multi_orders/``); filters in the request."""
        request = request if request is not None else r.GetMultiOrdersRequest()
        call = self._call(
            e.GET_MULTI_ORDERS, request=request, timeout=timeout, max_retries=max_retries
        )
        return await self._send(call)

    def iter_multi_orders(
        self,
        request: r.GetMultiOrdersRequest | None = None,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> AsyncIterator[m.MultiOrder]:
        """Every multi order matching ``request``, fetching pages (``page_number``) lazily.

        Stops as :meth:`iter_orders` does; a server that repeats a page is a
        :class:`ResponseDecodeError`.
        """
        url = self.base_url + e.GET_MULTI_ORDERS.path
        return _tracking.iter_pages(
            self.get_multi_orders,
            url,
            request,
            filters=r.GetMultiOrdersRequest,
            page_field="page_number",
            items=_multi_orders_of,
            timeout=timeout,
            max_retries=max_retries,
        )

    async def cancel_multi_order(
        self,
        multi_order_id: OrderId,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.ActionResult:
        """Cancel a multi order (``DELETE /api/multi_order/{id}``); 200 and 204 both succeed."""
        call = self._call(
            e.CANCEL_MULTI_ORDER, multi_order_id, timeout=timeout, max_retries=max_retries
        )
        return await self._send(call)

    async def place_chained_order(
        self,
        request: r.PlaceChainedOrderRequest,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.ChainedOrder:
        """Place orders that run one after another (``POST /api/chained_orders/``)."""
        call = self._call(
            e.PLACE_CHAINED_ORDER, request=request, timeout=timeout, max_retries=max_retries
        )
        return await self._send(call)

    # ------------------------------------------------------------------ balances and leverage

    async def get_balances(
        self,
        exchange_names: Iterable[str] | None = None,
        account_names: Iterable[str] | None = None,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> dict[str, m.Balance]:
        """Balances per account name (``GET /api/balances/``); filters are comma-joined."""
        query = r.BalancesQuery(exchange_names=exchange_names, account_names=account_names)
        call = self._call(e.GET_BALANCES, request=query, timeout=timeout, max_retries=max_retries)
        return await self._send(call)

    async def close_balances(
        self,
        max_notional: Decimal | int | str | float,
        account_names: Iterable[str] | None = None,
        preferred_strategy: Strategy | str | None = None,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.CloseBalancesResult:
        """Open orders that flatten balances up to ``max_notional`` (``POST /api/close_balances/``).

        This creates orders; it is never retried blindly.
        """
        request = r.CloseBalancesRequest(
            max_notional=max_notional,
            account_names=account_names,
            preferred_strategy=preferred_strategy,
        )
        call = self._call(
            e.CLOSE_BALANCES, request=request, timeout=timeout, max_retries=max_retries
        )
        return await self._send(call)

    async def set_leverage(
        self,
        request: r.SetLeverageRequest,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> m.ActionResult:
        """Set leverage for a pair on some accounts (``POST /api/set_leverage/``)."""
        call = self._call(e.SET_LEVERAGE, request=request, timeout=timeout, max_retries=max_retries)
        return await self._send(call)

    # ------------------------------------------------------------------ escape hatch

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> Any:
        """Call an endpoint the SDK does not wrap yet; returns the decoded JSON.

        ``path`` is relative to the base URL (``"api/new_thing/"``). List
        parameters are comma-joined; decimals in ``params`` and ``json`` are
        sent in plain notation (strings in ``json``). A POST to an
        order-creating path gets the same outcome-unknown handling as
        :meth:`place_order`. A ``params`` value a query cannot carry (NaN,
        an infinity, a mapping, bytes, a nested list, another object) is a
        :class:`RequestValidationError`, and nothing is sent.
        """
        if not is_instance(method, str) or method.upper() not in _METHODS:
            raise RequestValidationError({"method": [f"unsupported HTTP method {method!r}"]})
        method = method.upper()
        path = _wire.relative_path(path)
        try:
            query = _codec.query_params(params or {})
        except (TypeError, ValueError) as exc:
            raise RequestValidationError({"params": [str(exc)]}) from None
        row = e.order_endpoint_for(method, path) if method == "POST" else None
        call = Call(
            e.RAW if row is None else attrs.evolve(row, parse=e.RAW.parse, allow_empty=True),
            path,
            "order" if row is not None else ("read" if method == "GET" else "write"),
            method,
            params=query or None,
            body=json,
            timeout=timeout,
            max_retries=max_retries,
        )
        return await self._send(call)


def _orders_of(page: m.OrdersPage) -> list[m.Order]:
    return page.orders


def _multi_orders_of(page: m.MultiOrdersPage) -> list[m.MultiOrder]:
    return page.multi_orders
