"""The reply behind a result: ``client.with_raw_response.<endpoint>(...)``.

Every single-request endpoint of :class:`~taas_async.AsyncClient` is here
with the same arguments, returning a :class:`RawResponse` that holds the
typed result (``parsed``) and the HTTP reply it was read from: status,
headers, request id, elapsed time, body. The call is the same call (the
same validation, retries and order reconciliation); the engine notes each
exchange of it in a context variable that only this wrapper sets, so a
plain call pays one lookup of that variable per attempt.

The reply is the one the result was read from. After a retry that is the
last attempt's; after a lost reply to an order POST was settled by looking
the order up, it is the lookup's ``GET``; after a cancel refused because an
earlier attempt had cancelled the order, it is the ``GET`` of the order
that showed it CANCELED (``method`` and ``url`` say which, and
``attempts`` counts every exchange of the call).
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Awaitable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import httpx

from taas_async import _models as m
from taas_async import _requests as r
from taas_async._enums import Strategy
from taas_async._options import USE_CLIENT_DEFAULT, CallRetries, CallTimeout

if TYPE_CHECKING:
    from taas_async._client import AsyncClient, OrderId

__all__ = ["AsyncClientWithRawResponse", "RawResponse"]

T = TypeVar("T")


@attrs.frozen
class RawResponse(Generic[T]):
    """A call's typed result (``parsed``) with the HTTP reply it was read from.

    ``request_id`` is the server's ``X-Request-ID`` (or a like header) when it
    sent one; ``elapsed`` the time from sending the request to having read
    the reply (of that attempt); ``attempts`` how many HTTP exchanges the
    call made in all (retries and order lookups included). ``headers`` never
    holds the request's (the token is not here).
    """

    parsed: T
    status_code: int
    headers: httpx.Headers
    request_id: str | None
    elapsed: dt.timedelta
    method: str
    url: str
    attempts: int
    content: bytes = attrs.field(repr=False)


class _Seen:
    """What the engine notes of a call's exchanges while a raw response is wanted."""

    __slots__ = ("attempts", "reply")

    def __init__(self) -> None:
        self.attempts = 0
        self.reply: tuple[int, httpx.Headers, str | None, float, str, str, bytes] | None = None


_SEEN: contextvars.ContextVar[_Seen | None] = contextvars.ContextVar(
    "taas_async_raw_response", default=None
)


def seen() -> _Seen | None:
    """The notes of the call in progress, when its raw response is wanted."""
    return _SEEN.get()


async def _captured(call: Awaitable[T]) -> RawResponse[T]:
    notes = _SEEN.get()
    if notes is not None:  # inside another raw call (an override calling one): share its notes
        parsed = await call
    else:
        notes = _Seen()
        token = _SEEN.set(notes)
        try:
            parsed = await call
        finally:
            _SEEN.reset(token)
    if notes.reply is None:  # a method replaced by one that sends nothing (a test double)
        raise RuntimeError(
            f"the call returned {type(parsed).__name__} without an HTTP reply to show"
        )
    status, headers, request_id, seconds, method, url, content = notes.reply
    return RawResponse(
        parsed=parsed,
        status_code=status,
        headers=headers,
        request_id=request_id,
        elapsed=dt.timedelta(seconds=seconds),
        method=method,
        url=url,
        attempts=notes.attempts,
        content=content,
    )


class AsyncClientWithRawResponse:
    """``client.with_raw_response``: each endpoint returns a :class:`RawResponse`.

    The same methods and arguments as :class:`~taas_async.AsyncClient`'s
    single-request endpoints (not the batches, iterators and watches, which
    make many requests). Errors are raised as by the plain call.

    Example::

        raw = await client.with_raw_response.get_order(order_id)
        print(raw.status_code, raw.request_id, raw.elapsed)
        order = raw.parsed
    """

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<AsyncClientWithRawResponse of {self._client!r}>"

    async def place_order(
        self,
        request: r.PlaceOrderRequest,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.Order]:
        """:meth:`AsyncClient.place_order`, with its reply."""
        c = self._client
        return await _captured(c.place_order(request, timeout=timeout, max_retries=max_retries))

    async def get_order(
        self,
        order_id: OrderId,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.Order]:
        """:meth:`AsyncClient.get_order`, with its reply."""
        c = self._client
        return await _captured(c.get_order(order_id, timeout=timeout, max_retries=max_retries))

    async def get_order_summary(
        self,
        order_id: OrderId,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.OrderSummary]:
        """:meth:`AsyncClient.get_order_summary`, with its reply."""
        c = self._client
        return await _captured(
            c.get_order_summary(order_id, timeout=timeout, max_retries=max_retries)
        )

    async def cancel_order(
        self,
        order_id: OrderId,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.ActionResult]:
        """:meth:`AsyncClient.cancel_order`, with its reply."""
        c = self._client
        return await _captured(c.cancel_order(order_id, timeout=timeout, max_retries=max_retries))

    async def amend_order(
        self,
        request: r.AmendOrderRequest,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.ActionResult]:
        """:meth:`AsyncClient.amend_order`, with its reply."""
        c = self._client
        return await _captured(c.amend_order(request, timeout=timeout, max_retries=max_retries))

    async def pause_order(
        self,
        order_id: OrderId,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.ActionResult]:
        """:meth:`AsyncClient.pause_order`, with its reply."""
        c = self._client
        return await _captured(c.pause_order(order_id, timeout=timeout, max_retries=max_retries))

    async def resume_order(
        self,
        order_id: OrderId,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.ActionResult]:
        """:meth:`AsyncClient.resume_order`, with its reply."""
        c = self._client
        return await _captured(c.resume_order(order_id, timeout=timeout, max_retries=max_retries))

    async def get_all_orders(
        self,
        request: r.GetOrdersRequest | None = None,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.OrdersPage]:
        """:meth:`AsyncClient.get_all_orders`, with its reply."""
        c = self._client
        return await _captured(c.get_all_orders(request, timeout=timeout, max_retries=max_retries))

    async def get_order_messages(
        self,
        order_ids: Iterable[OrderId],
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[list[m.OrderMessage]]:
        """:meth:`AsyncClient.get_order_messages`, with its reply."""
        c = self._client
        return await _captured(
            c.get_order_messages(order_ids, timeout=timeout, max_retries=max_retries)
        )

    async def place_multi_order(
        self,
        request: r.PlaceMultiOrderRequest,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.MultiOrder]:
        """:meth:`AsyncClient.place_multi_order`, with its reply."""
        c = self._client
        return await _captured(
            c.place_multi_order(request, timeout=timeout, max_retries=max_retries)
        )

    async def get_multi_order(
        self,
        multi_order_id: OrderId,
        *,
        include_child_orders: bool = False,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.MultiOrder]:
        """:meth:`AsyncClient.get_multi_order`, with its reply."""
        c = self._client
        return await _captured(
            c.get_multi_order(
                multi_order_id,
                include_child_orders=include_child_orders,
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def get_multi_orders(
        self,
        request: r.GetMultiOrdersRequest | None = None,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.MultiOrdersPage]:
        """:meth:`AsyncClient.get_multi_orders`, with its reply."""
        c = self._client
        return await _captured(
            c.get_multi_orders(request, timeout=timeout, max_retries=max_retries)
        )

    async def cancel_multi_order(
        self,
        multi_order_id: OrderId,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.ActionResult]:
        """:meth:`AsyncClient.cancel_multi_order`, with its reply."""
        c = self._client
        return await _captured(
            c.cancel_multi_order(multi_order_id, timeout=timeout, max_retries=max_retries)
        )

    async def place_chained_order(
        self,
        request: r.PlaceChainedOrderRequest,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.ChainedOrder]:
        """:meth:`AsyncClient.place_chained_order`, with its reply."""
        c = self._client
        return await _captured(
            c.place_chained_order(request, timeout=timeout, max_retries=max_retries)
        )

    async def get_balances(
        self,
        exchange_names: Iterable[str] | None = None,
        account_names: Iterable[str] | None = None,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[dict[str, m.Balance]]:
        """:meth:`AsyncClient.get_balances`, with its reply."""
        c = self._client
        return await _captured(
            c.get_balances(exchange_names, account_names, timeout=timeout, max_retries=max_retries)
        )

    async def close_balances(
        self,
        max_notional: Decimal | int | str | float,
        account_names: Iterable[str] | None = None,
        preferred_strategy: Strategy | str | None = None,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.CloseBalancesResult]:
        """:meth:`AsyncClient.close_balances`, with its reply."""
        c = self._client
        return await _captured(
            c.close_balances(
                max_notional,
                account_names,
                preferred_strategy,
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def set_leverage(
        self,
        request: r.SetLeverageRequest,
        *,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[m.ActionResult]:
        """:meth:`AsyncClient.set_leverage`, with its reply."""
        c = self._client
        return await _captured(c.set_leverage(request, timeout=timeout, max_retries=max_retries))

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: CallTimeout = USE_CLIENT_DEFAULT,
        max_retries: CallRetries = USE_CLIENT_DEFAULT,
    ) -> RawResponse[Any]:
        """:meth:`AsyncClient.request`, with its reply."""
        c = self._client
        return await _captured(
            c.request(
                method, path, params=params, json=json, timeout=timeout, max_retries=max_retries
            )
        )
