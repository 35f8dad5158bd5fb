"""The review's safety fixes: paging, unknown order outcomes, mapped errors, deadlines, input.

Each test pins one behaviour of the commit "Close the gaps a review found",
as the resilience work changed it: iter_orders trusting num_pages/count and
refusing repeated pages; order POSTs that may have landed looked up by their
custom_order_id (returned if found, resent if provably absent, else
OrderOutcomeUnknownError), never resent blindly; every httpx error mapped
without a chain; one deadline over the whole exchange; and the stricter
request rules. Network tests use a server on 127.0.0.1 only, and
every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import attrs
import httpx
import pytest
import pytest_asyncio
import respx
from conftest import TOKEN, load, order_request

from taas_async import (
    AmendOrderRequest,
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Backoff,
    ChainedOrder,
    GetOrdersRequest,
    InternalServerError,
    MultiOrder,
    Order,
    OrderOutcomeUnknownError,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    RequestValidationError,
    ResponseDecodeError,
    TaaSError,
)
from taas_async._requests import CloseBalancesRequest

LIMIT = 10.0  # seconds: the bound on every await against a real socket
ACCEPTED = "the server ACCEPTED this order request with HTTP 201"
DO_NOT_RESEND = "the order exists, do not place it again"


# --------------------------------------------------------------------------- outcome unknown
#
# An order POST that may have reached the server (no reply, a 5xx, an
# unreadable reply) is never sent again blindly. The SDK looks the order up by
# the custom_order_id it sent (GET /api/orders/?custom_order_ids=...): found,
# it is returned; provably not there, a single order is sent again, same id,
# while retries remain; anything else is an OrderOutcomeUnknownError.

#: The custom_order_id the SDK generates for an order the caller gave none.
GENERATED_ID = re.compile(r"taas-[0-9a-f]{32}")
MULTI_ID = "626c4202-a046-401a-bf23-f3805f593c21"  # the seed multi order's id


def _multi() -> PlaceMultiOrderRequest:
    return PlaceMultiOrderRequest(
        duration=200,
        strategy="TWAP",
        child_orders=[{"pair": "ETH-USDT", "side": "buy", "base_asset_qty": "1", "account": "a"}],
        custom_order_id="multi-1",
    )


def _chain() -> PlaceChainedOrderRequest:
    return PlaceChainedOrderRequest(
        orders_in_chain=[
            {"order_request": order_request(), "priority": 1},
            {"order_request": attrs.evolve(order_request(), side="sell"), "priority": 2},
        ]
    )


@attrs.frozen
class OrderCall:
    name: str
    path: str
    call: Callable[..., Awaitable[Any]]  # (client, **per-call options such as max_retries)
    request: Any  # the request model the error must carry (None: a fresh order_request())
    custom_order_id: str | None  # the caller's; None: the SDK generates them
    orders: int = 1  # how many custom_order_ids the POST carries (a chain: one per leg)


MINE = attrs.evolve(order_request(), custom_order_id="mine-1")
MULTI = _multi()
CHAIN = _chain()

ORDER_CALLS = [
    OrderCall("place_order", "orders/", lambda c, **kw: c.place_order(MINE, **kw), MINE, "mine-1"),
    OrderCall(
        "place_order-no-id",
        "orders/",
        lambda c, **kw: c.place_order(order_request(), **kw),
        None,
        None,
    ),
    OrderCall(
        "place_multi_order",
        "multi_orders/",
        lambda c, **kw: c.place_multi_order(MULTI, **kw),
        MULTI,
        "multi-1",
    ),
    OrderCall(
        "place_chained_order",
        "chained_orders/",
        lambda c, **kw: c.place_chained_order(CHAIN, **kw),
        CHAIN,
        None,
        orders=2,
    ),
    OrderCall(  # nothing in it to look up by: never reconciled, never resent
        "close_balances",
        "close_balances/",
        lambda c, **kw: c.close_balances(100, ["main"], **kw),
        CloseBalancesRequest(max_notional=100, account_names=["main"]),
        None,
        orders=0,
    ),
]
LOOKED_UP = [c for c in ORDER_CALLS if c.orders]
SINGLE = [c for c in ORDER_CALLS if c.path == "orders/"]
GROUPED = [c for c in ORDER_CALLS if c.path in ("multi_orders/", "chained_orders/")]


def _sent_ids(case: OrderCall, request: httpx.Request) -> list[str]:
    """The custom_order_ids an order POST carried, checked: the caller's, or generated ones."""
    body = json.loads(request.content)
    if case.path == "chained_orders/":
        ids = [leg["order_request"]["custom_order_id"] for leg in body["orders_in_chain"]]
    else:
        ids = [body["custom_order_id"]] if "custom_order_id" in body else []
    assert len(ids) == case.orders
    assert len(set(ids)) == len(ids)  # each order its own
    for sent in ids:
        if case.custom_order_id is None:
            assert GENERATED_ID.fullmatch(sent), sent
        else:
            assert sent == case.custom_order_id
    return ids


def _trail(router: respx.MockRouter) -> list[str]:
    """Every request the client sent, in order: ``"POST orders/"``, ``"GET orders/"``..."""
    prefix = "/prefix/api/"
    return [f"{c.request.method} {c.request.url.path.removeprefix(prefix)}" for c in router.calls]


Reply = Callable[[list[str]], httpx.Response]


class Lookup:
    """Answers the lookup ``GET /api/orders/?custom_order_ids=...``; records the ids asked for."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.asked: list[list[str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        ids = request.url.params["custom_order_ids"].split(",")
        self.asked.append(ids)
        return self.reply(ids)


def not_found(ids: list[str]) -> httpx.Response:
    return httpx.Response(200, json={"orders": [], "count": 0, "num_pages": 1})


def lookup_fails(ids: list[str]) -> httpx.Response:
    return httpx.Response(500, json={"detail": "lookup down"})


def landed(parent: str | None = None, *, per_id: int = 1) -> Reply:
    """The orders were placed: ``per_id`` orders carry each id (a multi's legs share one)."""

    def reply(ids: list[str]) -> httpx.Response:
        orders = [
            {
                "id": f"landed-{n}-{k}",
                "status": "ACTIVE",
                "custom_order_id": cid,
                "parent_order": parent,
            }
            for n, cid in reversed(list(enumerate(ids)))  # not in the order sent
            for k in range(per_id)
        ]
        return httpx.Response(200, json={"orders": orders, "count": len(orders), "num_pages": 1})

    return reply


def _mock_lookup(router: respx.MockRouter, reply: Reply) -> Lookup:
    lookup = Lookup(reply)
    router.get("orders/").mock(side_effect=lookup)
    return lookup


def _check_outcome_unknown(err: OrderOutcomeUnknownError, case: OrderCall, ids: list[str]) -> None:
    if case.request is None:
        assert err.request == order_request()  # the caller's request: no id put in it
    else:
        assert err.request == case.request
    assert err.custom_order_ids == ids
    assert err.custom_order_id == (ids[0] if len(ids) == 1 else None)
    assert f"POST /api/{case.path}: the order may or may not have been placed" in str(err)
    if not ids:
        assert "it carries no custom_order_id: look for its orders" in str(err)
    elif len(ids) == 1:
        assert f"look it up with custom_order_id={ids[0]!r} before placing it again" in str(err)
    else:
        assert f"custom_order_ids={','.join(ids)} before placing it again" in str(err)
    assert TOKEN not in str(err)


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ORDER_CALLS, ids=lambda c: c.name)
@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError])
async def test_order_post_without_a_reply_is_looked_up_not_resent(
    mock_api: respx.MockRouter, client: AsyncClient, case: OrderCall, exc: type[Exception]
) -> None:
    post = mock_api.post(case.path).mock(side_effect=exc)
    lookup = _mock_lookup(mock_api, not_found)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await case.call(client, max_retries=0)
    assert post.call_count == 1  # never resent
    ids = _sent_ids(case, post.calls.last.request)
    # Looked up by the very ids it was sent with (close_balances has none: not looked up).
    assert lookup.asked == ([ids] if ids else [])
    assert _trail(mock_api) == [f"POST {case.path}", "GET orders/"][: 1 + bool(ids)]
    err = info.value
    _check_outcome_unknown(err, case, ids)
    assert exc.__name__ in str(err)
    cause = err.__cause__
    assert type(cause) is (APITimeoutError if exc is httpx.ReadTimeout else APIConnectionError)
    assert cause.may_have_reached_server is True
    # No httpx exception anywhere in the chain: its request holds the token.
    assert cause.__cause__ is None
    assert cause.__context__ is None


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ORDER_CALLS, ids=lambda c: c.name)
@pytest.mark.parametrize("max_retries", [0, 2])
async def test_order_post_that_never_connected_is_resent_as_is_never_looked_up(
    mock_api: respx.MockRouter, client: AsyncClient, case: OrderCall, max_retries: int
) -> None:
    post = mock_api.post(case.path).mock(side_effect=httpx.ConnectError)
    lookup = _mock_lookup(mock_api, not_found)
    with pytest.raises(APIConnectionError) as info:
        await case.call(client, max_retries=max_retries)
    # Provably never sent: sent again, unchanged (same custom_order_id), no lookup needed.
    assert post.call_count == max_retries + 1
    assert lookup.asked == []
    bodies = {c.request.content for c in post.calls}
    assert len(bodies) == 1
    _sent_ids(case, post.calls.last.request)
    err = info.value
    assert type(err) is APIConnectionError  # provably never sent: not "unknown"
    assert err.may_have_reached_server is False
    assert err.__cause__ is None
    assert err.__context__ is None


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ORDER_CALLS, ids=lambda c: c.name)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_order_post_server_error_is_looked_up_not_resent(
    mock_api: respx.MockRouter, client: AsyncClient, case: OrderCall, status: int
) -> None:
    # A 5xx does not say whether the order was placed (500: it may have failed
    # after placing it; 502/504: a gateway gave up waiting): looked up, not raised.
    post = mock_api.post(case.path).respond(status, json={"detail": "upstream gave up"})
    lookup = _mock_lookup(mock_api, not_found)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await case.call(client, max_retries=0)
    assert post.call_count == 1
    ids = _sent_ids(case, post.calls.last.request)
    assert lookup.asked == ([ids] if ids else [])
    err = info.value
    _check_outcome_unknown(err, case, ids)
    cause = err.__cause__
    assert type(cause) is InternalServerError  # the status error, kept whole
    assert cause.status_code == status
    assert cause.message == "upstream gave up"
    assert cause.body == {"detail": "upstream gave up"}
    assert f"HTTP {status}" in str(err)


@pytest.mark.asyncio
@pytest.mark.parametrize("case", LOOKED_UP, ids=lambda c: c.name)
async def test_order_that_landed_is_returned_not_resent(
    mock_api: respx.MockRouter, client: AsyncClient, case: OrderCall
) -> None:
    post = mock_api.post(case.path).mock(side_effect=httpx.ReadTimeout)
    if case.path == "multi_orders/":  # a multi's legs carry its id; the multi is fetched
        lookup = _mock_lookup(mock_api, landed(MULTI_ID, per_id=2))
        multi = mock_api.get(f"multi_order/{MULTI_ID}").respond(
            200, json=json.loads(load("seed_multi_order.json"))
        )
    elif case.path == "chained_orders/":  # the legs of one chain
        lookup = _mock_lookup(mock_api, landed("chain-1"))
    else:
        lookup = _mock_lookup(mock_api, landed())
    result = await case.call(client)  # retries left: still not resent
    assert post.call_count == 1
    ids = _sent_ids(case, post.calls.last.request)
    assert lookup.asked == [ids]
    if case.path == "multi_orders/":
        assert _trail(mock_api) == [
            "POST multi_orders/",
            "GET orders/",
            f"GET multi_order/{MULTI_ID}",
        ]
        assert multi.call_count == 1
        assert type(result) is MultiOrder
        assert result.id == MULTI_ID
    elif case.path == "chained_orders/":
        assert _trail(mock_api) == ["POST chained_orders/", "GET orders/"]
        assert type(result) is ChainedOrder
        assert result.id == "chain-1"
        # The legs in the order they were sent, whatever order the list came in.
        assert [o.custom_order_id for o in result.orders] == ids
        assert [o.id for o in result.orders] == ["landed-0-0", "landed-1-0"]
    else:
        assert _trail(mock_api) == ["POST orders/", "GET orders/"]
        assert type(result) is Order
        assert result.id == "landed-0-0"
        assert result.custom_order_id == ids[0]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", SINGLE, ids=lambda c: c.name)
async def test_single_order_not_found_is_resent_with_the_same_custom_order_id(
    mock_api: respx.MockRouter, client: AsyncClient, case: OrderCall
) -> None:
    post = mock_api.post(case.path).mock(
        side_effect=[
            httpx.ReadTimeout,
            httpx.Response(201, json=json.loads(load("seed_order.json"))),
        ]
    )
    lookup = _mock_lookup(mock_api, not_found)
    order = await case.call(client)
    assert type(order) is Order
    assert order.id == "d3ca321a-d25c-4cee-8a0f-3f74d239c90d"
    assert _trail(mock_api) == ["POST orders/", "GET orders/", "POST orders/"]
    first, second = (c.request for c in post.calls)
    assert second.content == first.content  # the same request: same custom_order_id
    ids = _sent_ids(case, second)
    assert lookup.asked == [ids]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", SINGLE, ids=lambda c: c.name)
async def test_single_order_is_looked_up_before_every_resend(
    mock_api: respx.MockRouter, client: AsyncClient, case: OrderCall
) -> None:
    post = mock_api.post(case.path).respond(502, json={"detail": "upstream gave up"})
    lookup = _mock_lookup(mock_api, not_found)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await case.call(client)  # max_retries=2: three attempts, each looked up
    assert _trail(mock_api) == ["POST orders/", "GET orders/"] * 3
    assert len({c.request.content for c in post.calls}) == 1
    ids = _sent_ids(case, post.calls.last.request)
    assert lookup.asked == [ids] * 3
    err = info.value
    _check_outcome_unknown(err, case, ids)
    assert "not found (yet)" in str(err)
    assert type(err.__cause__) is InternalServerError
    assert err.__cause__.status_code == 502


@pytest.mark.asyncio
@pytest.mark.parametrize("case", GROUPED, ids=lambda c: c.name)
async def test_multi_or_chained_order_not_found_is_never_resent(
    mock_api: respx.MockRouter, client: AsyncClient, case: OrderCall
) -> None:
    # "Not found" does not prove a multi or chained order is absent (the API
    # does not promise its legs are listed under the call's ids): never resent.
    post = mock_api.post(case.path).mock(side_effect=httpx.ReadTimeout)
    lookup = _mock_lookup(mock_api, not_found)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await case.call(client)  # retries left
    assert post.call_count == 1
    ids = _sent_ids(case, post.calls.last.request)
    assert lookup.asked == [ids]
    _check_outcome_unknown(info.value, case, ids)
    assert "found 0 of its orders" in str(info.value)
    assert type(info.value.__cause__) is APITimeoutError


@pytest.mark.asyncio
async def test_close_balances_without_a_reply_is_outcome_unknown_at_once(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    post = mock_api.post("close_balances/").mock(side_effect=httpx.ReadTimeout)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await client.close_balances(100)  # retries left, but nothing to look it up by
    assert _trail(mock_api) == ["POST close_balances/"]
    assert "custom_order_id" not in json.loads(post.calls.last.request.content)
    assert info.value.custom_order_ids == []
    assert type(info.value.__cause__) is APITimeoutError


@pytest.mark.asyncio
@pytest.mark.parametrize("case", LOOKED_UP, ids=lambda c: c.name)
@pytest.mark.parametrize(
    ("failure", "asked", "error"),
    [(lookup_fails, 3, InternalServerError), (httpx.ConnectError, 3, APIConnectionError)],
    ids=["lookup-500", "lookup-refused-every-time"],
)
async def test_order_lookup_failure_is_outcome_unknown(
    mock_api: respx.MockRouter,
    client: AsyncClient,
    case: OrderCall,
    failure: Any,
    asked: int,
    error: type[TaaSError],
) -> None:
    post = mock_api.post(case.path).mock(side_effect=httpx.ReadTimeout)
    lookup = mock_api.get("orders/").mock(side_effect=failure)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await case.call(client)  # retries left: still never resent
    assert post.call_count == 1
    ids = _sent_ids(case, post.calls.last.request)
    # The lookup is a read: retried on a connection error and on a 500 alike.
    assert lookup.call_count == asked
    for call in lookup.calls:
        assert call.request.url.params["custom_order_ids"] == ",".join(ids)
    err = info.value
    _check_outcome_unknown(err, case, ids)
    assert "looking it up failed" in str(err)
    assert "ReadTimeout" in str(err)  # what happened to the POST
    assert type(err.__cause__) is APITimeoutError  # the POST's own error stays the cause
    assert type(err.lookup_error) is error  # what happened to the lookup, kept beside it


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (
            lambda ids: httpx.Response(
                200, json={"orders": [{"id": "other", "custom_order_id": "someone-else"}]}
            ),
            "did not filter by custom_order_ids",
        ),
        (
            lambda ids: httpx.Response(200, json={"orders": [], "num_pages": 2}),
            "more than a page of orders carry these custom_order_ids",
        ),
        (landed(per_id=2), "several orders carry the same custom_order_id"),
    ],
    ids=["unfiltered", "more-pages", "two-matches"],
)
async def test_order_lookup_that_proves_nothing_is_outcome_unknown(
    mock_api: respx.MockRouter, client: AsyncClient, reply: Reply, why: str
) -> None:
    post = mock_api.post("orders/").mock(side_effect=httpx.ReadTimeout)
    lookup = _mock_lookup(mock_api, reply)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await client.place_order(MINE)  # retries left: still never resent
    assert post.call_count == 1
    assert lookup.asked == [["mine-1"]]
    assert why in str(info.value)
    assert info.value.custom_order_id == "mine-1"


@pytest.mark.asyncio
async def test_generated_ids_leave_the_callers_requests_unchanged(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    mock_api.post("orders/").respond(201, json=json.loads(load("seed_order.json")))
    chained = mock_api.post("chained_orders/").respond(201, json={"id": "chain-1", "orders": []})
    request, chain = order_request(), _chain()
    await client.place_order(request)
    await client.place_order(request)
    await client.place_chained_order(chain)
    assert request == order_request()
    assert request.custom_order_id is None
    assert chain == _chain()
    # Every logical call gets its own ids.
    first, second = (c.request for c in mock_api.calls[:2])
    assert (
        json.loads(first.content)["custom_order_id"]
        != json.loads(second.content)["custom_order_id"]
    )
    legs = json.loads(chained.calls.last.request.content)["orders_in_chain"]
    assert len({leg["order_request"]["custom_order_id"] for leg in legs}) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("max_retries", [None, 0])
async def test_get_with_read_timeout_stays_a_timeout(
    mock_api: respx.MockRouter, client: AsyncClient, max_retries: int | None
) -> None:
    route = mock_api.get("order/abc").mock(side_effect=httpx.ReadTimeout)
    options = {} if max_retries is None else {"max_retries": max_retries}
    with pytest.raises(APITimeoutError) as info:
        await client.get_order("abc", **options)
    assert route.call_count == (3 if max_retries is None else 1)  # a read: retried
    err = info.value
    assert type(err) is APITimeoutError
    assert err.may_have_reached_server is True
    assert err.__cause__ is None
    assert err.__context__ is None


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [502, 504])
async def test_get_gateway_failure_stays_a_status_error(
    mock_api: respx.MockRouter, client: AsyncClient, status: int
) -> None:
    route = mock_api.get("order/abc").respond(status, json={"detail": "upstream gave up"})
    with pytest.raises(InternalServerError) as info:
        await client.get_order("abc")
    assert route.call_count == 3  # retried twice (the client's max_retries), then raised
    assert info.value.status_code == status


# --------------------------------------------------------------------------- accepted, unreadable

UNREADABLE_ORDER = {"id": "x", "duration": "abc"}


@pytest.mark.asyncio
async def test_unreadable_201_order_reply_is_looked_up_never_resent(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    route = mock_api.post("orders/").respond(201, json=UNREADABLE_ORDER)
    lookup = _mock_lookup(mock_api, not_found)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await client.place_order(order_request())  # retries left: a 201 is never resent
    assert route.call_count == 1
    assert lookup.asked == [_sent_ids(SINGLE[1], route.calls.last.request)]
    assert ACCEPTED in str(info.value)
    assert DO_NOT_RESEND in str(info.value)
    err = info.value.__cause__
    assert type(err) is ResponseDecodeError
    assert err.status_code == 201
    assert ACCEPTED in str(err)
    assert DO_NOT_RESEND in str(err)
    assert json.loads(err.text) == UNREADABLE_ORDER
    assert any("duration" in e for e in err.errors)


@pytest.mark.asyncio
async def test_unreadable_201_order_reply_returns_the_order_found(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    route = mock_api.post("orders/").respond(201, json=UNREADABLE_ORDER)
    lookup = _mock_lookup(mock_api, landed())
    order = await client.place_order(MINE)
    assert route.call_count == 1
    assert lookup.asked == [["mine-1"]]
    assert order.id == "landed-0-0"
    assert order.custom_order_id == "mine-1"


@pytest.mark.asyncio
async def test_unreadable_201_close_balances_reply_is_outcome_unknown_saying_accepted(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    route = mock_api.post("close_balances/").respond(201, text="not json")
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await client.close_balances(100)
    assert route.call_count == 1  # nothing to look it up by; never resent
    assert ACCEPTED in str(info.value)
    assert DO_NOT_RESEND in str(info.value)
    cause = info.value.__cause__
    assert type(cause) is ResponseDecodeError
    assert cause.status_code == 201
    assert cause.text == "not json"


@pytest.mark.asyncio
async def test_unreadable_reply_to_a_get_does_not_claim_an_accepted_order(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    route = mock_api.get("order/x").respond(200, json=UNREADABLE_ORDER)
    with pytest.raises(ResponseDecodeError) as info:
        await client.get_order("x")
    assert route.call_count == 1  # a bad 2xx body is not retried
    err = info.value
    assert err.status_code == 200
    assert any("duration" in e for e in err.errors)
    assert "ACCEPTED" not in str(err)
    assert "do not place it again" not in str(err)


# --------------------------------------------------------------------------- real sockets


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class LocalServer:
    """A one-behaviour HTTP/1.1 server on 127.0.0.1; ``handler`` answers each connection."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.requests: list[tuple[str, bytes]] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.release = asyncio.Event()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/prefix"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        self.release.set()
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), LIMIT)
        await asyncio.wait_for(self._server.wait_closed(), LIMIT)

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        length = 0
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = await reader.readexactly(length) if length else b""
        self.requests.append((request_line, body))
        return body

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            assert self.handler is not None
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)


@pytest_asyncio.fixture
async def local() -> AsyncIterator[LocalServer]:
    server = LocalServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _reply_not_found(writer: asyncio.StreamWriter) -> None:
    """Answer the order lookup: no order carries that custom_order_id."""
    payload = b'{"orders": [], "count": 0, "num_pages": 1}'
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )
    await writer.drain()


def _is_lookup(local: LocalServer) -> bool:
    return local.requests[-1][0].startswith("GET /prefix/api/orders/?custom_order_ids=")


@pytest.mark.asyncio
async def test_stalled_reply_to_place_order_is_looked_up_not_resent(local: LocalServer) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await local.read_request(reader)
        if _is_lookup(local):
            await _reply_not_found(writer)
            return
        await local.release.wait()  # never answers; released at teardown

    local.handler = stall
    request = attrs.evolve(order_request(), custom_order_id="stalled-1")
    async with AsyncClient(local.url, TOKEN, timeout=0.3, backoff=Backoff.none()) as client:
        started = time.monotonic()
        with pytest.raises(OrderOutcomeUnknownError) as info:
            await asyncio.wait_for(client.place_order(request, max_retries=0), LIMIT)
        elapsed = time.monotonic() - started
    assert elapsed < 10.0  # generous: shared machines are noisy; a stall would hang
    # It did reach the server: looked up by its id, not sent again.
    assert [line for line, _ in local.requests] == [
        "POST /prefix/api/orders/ HTTP/1.1",
        "GET /prefix/api/orders/?custom_order_ids=stalled-1&page_size=100 HTTP/1.1",
    ]
    err = info.value
    assert err.request == request
    assert err.custom_order_id == "stalled-1"
    assert "custom_order_id='stalled-1'" in str(err)
    assert type(err.__cause__) is APITimeoutError


@pytest.mark.asyncio
async def test_connection_refused_on_place_order_is_a_plain_connection_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/prefix"
    async with AsyncClient(url, TOKEN, timeout=2.0, backoff=Backoff.none()) as client:
        with pytest.raises(APIConnectionError) as info:  # after resending it twice: never left
            await asyncio.wait_for(client.place_order(order_request()), LIMIT)
    err = info.value
    assert type(err) is APIConnectionError
    assert err.may_have_reached_server is False
    assert err.__cause__ is None
    assert err.__context__ is None


def _bad_gzip_handler(local: LocalServer, status: bytes, *, keep_serving: bool = False) -> Handler:
    """Reply with a body that is not the gzip it claims to be.

    ``keep_serving``: answer every request on the connection, not just the
    first, and an order lookup with "not found".
    """
    payload = b'{"id": "not gzip at all"}'

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await local.read_request(reader)
            if keep_serving and _is_lookup(local):
                await _reply_not_found(writer)
                continue
            writer.write(
                b"HTTP/1.1 " + status + b"\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Encoding: gzip\r\n"
                b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
            )
            await writer.drain()
            if not keep_serving:
                await local.release.wait()

    return reply


@pytest.mark.asyncio
async def test_bad_content_encoding_on_a_get_is_a_connection_error(local: LocalServer) -> None:
    local.handler = _bad_gzip_handler(local, b"200 OK", keep_serving=True)
    async with AsyncClient(local.url, TOKEN, timeout=2.0, backoff=Backoff.none()) as client:
        with pytest.raises(TaaSError) as info:
            await asyncio.wait_for(client.get_order("abc"), LIMIT)
    assert len(local.requests) == 3  # a read: retried twice (max_retries=2), then raised
    err = info.value
    assert type(err) is APIConnectionError
    assert err.may_have_reached_server is True
    assert "DecodingError" in str(err)
    assert err.__cause__ is None
    assert err.__context__ is None
    assert TOKEN not in str(err)


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [b"201 Created", b"500 Internal Server Error"])
async def test_bad_content_encoding_on_place_order_is_looked_up_not_resent(
    local: LocalServer, status: bytes
) -> None:
    local.handler = _bad_gzip_handler(local, status, keep_serving=True)
    async with AsyncClient(local.url, TOKEN, timeout=2.0, backoff=Backoff.none()) as client:
        with pytest.raises(TaaSError) as info:
            await asyncio.wait_for(client.place_order(order_request(), max_retries=0), LIMIT)
    err = info.value
    assert type(err) is OrderOutcomeUnknownError
    assert err.request == order_request()
    assert err.custom_order_id is not None
    assert GENERATED_ID.fullmatch(err.custom_order_id)
    assert [line for line, _ in local.requests] == [
        "POST /prefix/api/orders/ HTTP/1.1",
        f"GET /prefix/api/orders/?custom_order_ids={err.custom_order_id}&page_size=100 HTTP/1.1",
    ]
    assert json.loads(local.requests[0][1])["custom_order_id"] == err.custom_order_id
    cause = err.__cause__
    assert type(cause) is APIConnectionError
    assert cause.may_have_reached_server is True
    assert cause.__cause__ is None
    assert cause.__context__ is None
    assert not isinstance(cause.__cause__, httpx.HTTPError)


@pytest.mark.asyncio
async def test_trickling_server_is_cut_off_by_the_overall_deadline(local: LocalServer) -> None:
    # Headers, then one body byte every 0.1 s for 10 s: each read succeeds well
    # inside 0.3 s, so only the whole-exchange deadline (4 x 0.3 = 1.2 s) stops it.
    trickled: list[int] = []

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await local.read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        await writer.drain()
        for _ in range(100):  # bounded: 10 s at most
            writer.write(b" ")
            await writer.drain()
            trickled.append(1)
            await asyncio.sleep(0.1)

    local.handler = trickle
    async with AsyncClient(local.url, TOKEN, timeout=httpx.Timeout(0.3)) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:  # one attempt: the deadline is per attempt
            await asyncio.wait_for(client.get_order("abc", max_retries=0), LIMIT)
        elapsed = time.monotonic() - started
    assert 1.0 < elapsed < 8.0  # the trickle lasts 10 s: well before it ends
    assert len(trickled) >= 5  # the server really was sending, faster than the read timeout
    err = info.value
    assert type(err) is APITimeoutError
    assert "no complete reply within 1.2 s" in str(err)
    assert err.may_have_reached_server is True
    assert err.__cause__ is None
    assert err.__context__ is None


# --------------------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"limt_price": "1"}, {"changes.limt_price"}),
        ({"base_asset_qty": -5}, {"changes.base_asset_qty"}),
        ({"base_asset_qty": "-0.1", "notes": "ok"}, {"changes.base_asset_qty"}),
    ],
    ids=["misspelt-key", "negative-qty", "negative-qty-str"],
)
@pytest.mark.asyncio
async def test_amend_bad_changes_are_rejected_and_nothing_is_sent(
    mock_api: respx.MockRouter,
    client: AsyncClient,
    changes: dict[str, Any],
    fields: set[str],
) -> None:
    route = mock_api.post("amend_order/").respond(200, json={"message": "ok"})
    with pytest.raises(RequestValidationError) as info:
        await client.amend_order(AmendOrderRequest(order_id="abc", changes=changes))
    assert set(info.value.errors) == fields
    assert route.call_count == 0


def test_amend_misspelt_key_names_the_order_fields() -> None:
    with pytest.raises(RequestValidationError) as info:
        AmendOrderRequest(order_id="abc", changes={"limt_price": "1"})
    [reason] = info.value.errors["changes.limt_price"]
    assert reason.startswith("not an order field (one of: accounts, ")
    assert "limit_price" in reason


def _gen(*values: str) -> Iterator[str]:
    yield from values


@pytest.mark.asyncio
async def test_iterators_are_accepted_and_reach_the_wire(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    orders = mock_api.post("orders/").respond(201, json=json.loads(load("seed_order.json")))
    balances = mock_api.get("balances/").respond(200, json={})
    messages = mock_api.post("order_messages/").respond(200, json={})

    request = attrs.evolve(order_request(), accounts=iter(["a", "b"]))
    assert request.accounts == ["a", "b"]
    await client.place_order(request)
    assert json.loads(orders.calls.last.request.content)["accounts"] == ["a", "b"]

    await client.get_balances(exchange_names=iter(["OKX"]), account_names=_gen("x", "y"))
    assert dict(balances.calls.last.request.url.params) == {
        "exchange_names": "OKX",
        "account_names": "x,y",
    }

    await client.get_order_messages(_gen("id-1", "id-2"))
    assert json.loads(messages.calls.last.request.content) == {"order_ids": ["id-1", "id-2"]}


def test_place_order_accounts_from_a_generator() -> None:
    request = PlaceOrderRequest(
        accounts=_gen("a", "b"),
        pair="ETH-USDT",
        side="buy",
        duration=300,
        base_asset_qty=5,
        strategy="TWAP",
    )
    assert request.accounts == ["a", "b"]


@pytest.mark.asyncio
async def test_commas_are_rejected_in_comma_joined_filters(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    balances = mock_api.get("balances/").respond(200, json={})
    orders = mock_api.get("orders/").respond(200, json={"orders": []})
    with pytest.raises(RequestValidationError) as info:
        await client.get_balances(exchange_names=["OKX,Binance"])
    assert set(info.value.errors) == {"exchange_names"}
    with pytest.raises(RequestValidationError) as info:
        await client.get_balances(account_names=["a", "b,c"])
    assert set(info.value.errors) == {"account_names"}
    with pytest.raises(RequestValidationError) as info:
        GetOrdersRequest(
            statuses=["ACTIVE,PAUSED"], account_names=["x,y"], custom_order_ids=["p,q"]
        )
    assert set(info.value.errors) == {"statuses", "account_names", "custom_order_ids"}
    assert balances.call_count == 0
    assert orders.call_count == 0


def test_comma_in_custom_order_id_is_rejected() -> None:
    with pytest.raises(RequestValidationError) as info:
        attrs.evolve(order_request(), custom_order_id="a,b")
    assert set(info.value.errors) == {"custom_order_id"}
    assert attrs.evolve(order_request(), custom_order_id="a;b").custom_order_id == "a;b"


@pytest.mark.asyncio
async def test_comma_inside_accounts_is_accepted_as_a_json_list_element(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    route = mock_api.post("orders/").respond(201, json=json.loads(load("seed_order.json")))
    await client.place_order(attrs.evolve(order_request(), accounts=["desk, main", "b"]))
    assert json.loads(route.calls.last.request.content)["accounts"] == ["desk, main", "b"]


def test_mapping_for_accounts_is_rejected() -> None:
    with pytest.raises(RequestValidationError) as info:
        attrs.evolve(order_request(), accounts={"a": 1, "b": 2})
    assert info.value.errors == {"accounts": ["expected a list of strings, got dict"]}


@pytest.mark.parametrize("value", ["tomorrow", "2024-01-01T00:00:00"], ids=["words", "naive"])
def test_order_condition_expiry_strings_must_parse_with_an_offset(value: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        attrs.evolve(order_request(), order_condition_expiry=value)
    assert set(info.value.errors) == {"order_condition_expiry"}


@pytest.mark.asyncio
async def test_order_condition_expiry_string_is_sent_verbatim(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    route = mock_api.post("orders/").respond(201, json=json.loads(load("seed_order.json")))
    request = attrs.evolve(order_request(), order_condition_expiry="2024-01-01T00:00:00Z")
    assert request.order_condition_expiry == "2024-01-01T00:00:00Z"
    await client.place_order(request)
    body = json.loads(route.calls.last.request.content)
    assert body["order_condition_expiry"] == "2024-01-01T00:00:00Z"


@pytest.mark.asyncio
async def test_chained_order_outcome_unknown_names_the_legs_custom_order_ids(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    chain = PlaceChainedOrderRequest(
        orders_in_chain=[
            {
                "order_request": attrs.evolve(order_request(), custom_order_id="leg-1"),
                "priority": 1,
            },
            {
                "order_request": attrs.evolve(order_request(), custom_order_id="leg-2"),
                "priority": 2,
            },
        ]
    )
    post = mock_api.post("chained_orders/").mock(side_effect=httpx.ReadTimeout)
    lookup = _mock_lookup(mock_api, not_found)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await client.place_chained_order(chain)
    assert post.call_count == 1
    assert lookup.asked == [["leg-1", "leg-2"]]  # the caller's ids, kept
    err = info.value
    assert err.custom_order_id is None  # two legs: no single id
    assert err.custom_order_ids == ["leg-1", "leg-2"]
    assert "custom_order_ids=leg-1,leg-2 before placing it again" in str(err)
    assert "it carries no custom_order_id" not in str(err)


@pytest.mark.asyncio
async def test_order_accepted_then_trickled_past_the_deadline_is_never_resent(
    local: LocalServer,
) -> None:
    # "201 Created", then the body a byte every 0.1 s: the deadline (1.2 s) cuts
    # it off inside the transport. The status line proves the order landed, so
    # a lookup that has not caught up ("not found") must not lead to a resend.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await local.read_request(reader)
            if _is_lookup(local):
                await _reply_not_found(writer)
                continue
            writer.write(
                b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n"
            )
            await writer.drain()
            for _ in range(100):  # bounded: 10 s at most
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.1)

    local.handler = handler
    async with AsyncClient(
        local.url, TOKEN, timeout=httpx.Timeout(0.3), backoff=Backoff.none()
    ) as client:
        with pytest.raises(OrderOutcomeUnknownError) as info:
            await asyncio.wait_for(client.place_order(order_request()), LIMIT)
    assert "accepted the order (HTTP 201)" in str(info.value)
    posts = [line for line, _ in local.requests if line.startswith("POST")]
    assert len(posts) == 1  # two retries were left: none was used to resend
    cause = info.value.__cause__
    assert isinstance(cause, APITimeoutError)
    assert cause.reply_status == 201
