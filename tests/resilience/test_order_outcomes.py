"""Order POSTs that may have landed: looked up by custom_order_id, never resent blindly.

Every order-creating call, on respx, against each way an order POST can end
without a readable answer (including a 201 whose body cannot be read); reads,
for contrast, keep their own typed error. The same rules over real sockets
are in test_stalls_and_deadlines.py, and with the sandbox as the venue in
test_resilience_rules.py and test_resilience_faults.py.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import httpx
import pytest
import respx
from conftest import GENERATED_ID, TOKEN, load, order_request

from taas_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    ChainedOrder,
    InternalServerError,
    MultiOrder,
    Order,
    OrderOutcomeUnknownError,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    RequestValidationError,
    ResponseDecodeError,
    TaaSError,
)
from taas_async._converter import to_wire
from taas_async._requests import CloseBalancesRequest

ACCEPTED = "the server ACCEPTED this order request with HTTP 201"
DO_NOT_RESEND = "the order exists, do not place it again"


# --------------------------------------------------------------------------- outcome unknown
#
# An order POST that may have reached the server (no reply, a 5xx, an
# unreadable reply) is never sent again blindly. The SDK looks the order up by
# the custom_order_id it sent (GET /api/orders/?custom_order_ids=...): found,
# it is returned; provably not there, a single order is sent again, same id,
# while retries remain; anything else is an OrderOutcomeUnknownError.

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
    # The connection broke under the request (no timeout: the server is done with it).
    post = mock_api.post(case.path).mock(
        side_effect=[
            httpx.ReadError("connection reset by peer"),
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


#: Attempts after which the server may still be working on the order: no reply in time,
#: or a gateway that stopped waiting for it.
STILL_WORKING: dict[str, Callable[[], Any]] = {
    "read-timeout": lambda: httpx.ReadTimeout("timed out"),
    "write-timeout": lambda: httpx.WriteTimeout("timed out"),
    "504": lambda: httpx.Response(504, json={"detail": "upstream timed out"}),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", SINGLE, ids=lambda c: c.name)
@pytest.mark.parametrize("outcome", STILL_WORKING.values(), ids=STILL_WORKING.keys())
async def test_an_order_the_server_may_still_be_placing_is_never_resent(
    mock_api: respx.MockRouter, client: AsyncClient, case: OrderCall, outcome: Any
) -> None:
    # A lookup a moment after a timeout proves nothing: the request may still be in the
    # server's queue, and a resend would place the order twice. It is looked up after
    # each backoff while retries remain (max_retries=2: three lookups), then unknown.
    post = mock_api.post(case.path).mock(side_effect=[outcome()])
    lookup = _mock_lookup(mock_api, not_found)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await case.call(client)
    assert post.call_count == 1
    ids = _sent_ids(case, post.calls.last.request)
    assert _trail(mock_api) == ["POST orders/", "GET orders/", "GET orders/", "GET orders/"]
    assert lookup.asked == [ids] * 3
    err = info.value
    _check_outcome_unknown(err, case, ids)
    assert "not found (yet)" in str(err)


@pytest.mark.asyncio
@pytest.mark.parametrize("case", SINGLE, ids=lambda c: c.name)
@pytest.mark.parametrize("outcome", STILL_WORKING.values(), ids=STILL_WORKING.keys())
async def test_an_order_that_lands_late_is_found_by_a_later_lookup(
    mock_api: respx.MockRouter, client: AsyncClient, case: OrderCall, outcome: Any
) -> None:
    post = mock_api.post(case.path).mock(side_effect=[outcome()])
    replies = iter([not_found, landed()])  # it lands between the first and second lookup

    def reply(ids: list[str]) -> httpx.Response:
        return next(replies)(ids)

    lookup = _mock_lookup(mock_api, reply)
    order = await case.call(client)
    assert post.call_count == 1
    ids = _sent_ids(case, post.calls.last.request)
    assert lookup.asked == [ids] * 2
    assert (order.id, order.custom_order_id) == ("landed-0-0", ids[0])


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
#: Unreadable 201 replies, and a word their error names. A time_zone that is a folder
#: of the tz database made zoneinfo raise IsADirectoryError, which escaped untyped.
UNREADABLE_ORDERS = {
    "a-bad-field": (UNREADABLE_ORDER, "duration"),
    "a-tzdata-folder-as-time-zone": (
        {"id": "x", "created_at": "2024-01-01T00:00:00", "time_zone": "Europe"},
        "time_zone 'Europe' is unknown",
    ),
}


@pytest.mark.parametrize(
    ("body", "named"), UNREADABLE_ORDERS.values(), ids=UNREADABLE_ORDERS.keys()
)
@pytest.mark.asyncio
async def test_unreadable_201_order_reply_is_looked_up_never_resent(
    mock_api: respx.MockRouter, client: AsyncClient, body: dict[str, Any], named: str
) -> None:
    route = mock_api.post("orders/").respond(201, json=body)
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
    assert json.loads(err.text) == body
    assert any(named in e for e in err.errors)


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


@pytest.mark.asyncio
async def test_a_found_multi_order_is_read_as_the_call_reads_it(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    """The multi order is fetched as it comes: the raw call returns it raw, however thin."""
    mock_api.post("multi_orders/").mock(side_effect=httpx.ReadTimeout)
    _mock_lookup(mock_api, landed(MULTI_ID, per_id=2))
    mock_api.get(f"multi_order/{MULTI_ID}").respond(200, json={"status": "ACTIVE"})  # no id
    result = await client.request("POST", "api/multi_orders/", json=to_wire(MULTI))
    assert result == {"status": "ACTIVE"}


@pytest.mark.asyncio
async def test_a_found_multi_order_that_cannot_be_read_is_outcome_unknown(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    """Legs found, the multi order unreadable: a typed error saying so, never a raw ShapeError."""
    mock_api.post("multi_orders/").mock(side_effect=httpx.ReadTimeout)
    _mock_lookup(mock_api, landed(MULTI_ID, per_id=2))
    mock_api.get(f"multi_order/{MULTI_ID}").respond(200, json={"id": MULTI_ID, "duration": "x"})
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await client.place_multi_order(MULTI)
    assert "it was found, but what the server says of it cannot be read" in str(info.value)
    assert "$.duration" in str(info.value)
    assert type(info.value.__cause__) is APITimeoutError  # the POST's own error


@pytest.mark.asyncio
async def test_a_bad_parent_order_id_is_named_as_such(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    mock_api.post("multi_orders/").mock(side_effect=httpx.ReadTimeout)
    _mock_lookup(mock_api, landed(".."))
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await client.place_multi_order(MULTI)
    assert isinstance(info.value.lookup_error, RequestValidationError)
    assert "parent_order" in info.value.lookup_error.errors
