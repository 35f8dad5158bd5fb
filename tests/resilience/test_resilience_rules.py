"""The retry rules one by one: Backoff, custom_order_id, reconciliation outcomes, cancels.

In process (the sandbox, or respx for replies the sandbox never gives); the
loopback fault suites are test_resilience_faults/random/limits. Every test
that runs the client runs on asyncio and trio.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import httpx
import httpx_aiohttp
import pytest
import respx
from conftest import API, BASE_URL, TOKEN, load_json, order_request
from conftest import GENERATED_ID as GENERATED
from faultserver import Fault, FaultServer
from request_kwargs import sandbox_order_request

from taas_async import (
    AiohttpTransport,
    APIConnectionError,
    AsyncClient,
    Backoff,
    BadRequestError,
    ChainedOrder,
    ClientClosedError,
    ConfigurationError,
    H11PoolTransport,
    InternalServerError,
    MultiOrder,
    Order,
    OrderInChain,
    OrderOutcomeUnknownError,
    OrderStatus,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    RequestValidationError,
    TaaSError,
)
from taas_async._transports import connect_errors_are_exact, transports_of
from taas_async.sandbox import AutojumpClock, Sandbox


def _reports_connect_errors_exactly(http: httpx.AsyncClient) -> bool:
    return connect_errors_are_exact(transports_of(http))


def posted(sandbox: Sandbox, path: str) -> list[dict[str, Any]]:
    """The JSON bodies of every POST the sandbox received on ``path``."""
    return [
        json.loads(e.content)
        for e in sandbox.exchanges
        if e.method == "POST" and e.path.endswith(path)
    ]


# ---------------------------------------------------------------------------- Backoff


def test_backoff_grows_by_the_multiplier_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.5, maximum=3.0, multiplier=2.0, jitter=False)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert Backoff(initial=1, maximum=1e9, jitter=False).delay(10_000) == 1e9  # no overflow


def test_backoff_jitter_stays_between_half_and_all_of_the_delay() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0)
    delays = [backoff.delay(3) for _ in range(2_000)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 1_000  # really random, not a constant


def test_backoff_none_waits_nothing() -> None:
    assert {Backoff.none().delay(n) for n in range(1, 10)} == {0.0}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": -1},
        {"maximum": float("nan")},
        {"multiplier": 0.5},
        {"multiplier": True},
        {"jitter": 1},
        {"max_retry_after": float("inf")},
        {"initial": "1"},
    ],
)
def test_backoff_rejects_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(kwargs))):
        Backoff(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": 2.5}, "max_concurrency"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": float("inf")}, "rate_limit"),
        ({"rate_limit": 5, "rate_limit_burst": 0}, "rate_limit_burst"),
        ({"backoff": 0.5}, "backoff must be a Backoff"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_client_rejects_bad_resilience_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AsyncClient(BASE_URL, TOKEN, **kwargs)


@pytest.mark.anyio
@pytest.mark.parametrize("value", [-1, 1.5, True, "2"])
async def test_per_call_max_retries_is_checked_before_sending(value: Any) -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        with pytest.raises(RequestValidationError, match="max_retries"):
            await client.get_balances(max_retries=value)
    assert list(sandbox.exchanges) == []


# ---------------------------------------------------------------------------- "never sent"


def test_only_transports_known_to_be_exact_are_trusted_with_connect_errors() -> None:
    exact = [
        H11PoolTransport(),
        AiohttpTransport(),
        httpx.AsyncHTTPTransport(),
    ]
    for transport in exact:
        assert _reports_connect_errors_exactly(httpx.AsyncClient(transport=transport))
    assert not _reports_connect_errors_exactly(
        httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport())
    )
    # A subclass may change what it raises; a mount with an unknown transport too.
    subclass = type("Mine", (httpx.AsyncHTTPTransport,), {})()
    assert not _reports_connect_errors_exactly(httpx.AsyncClient(transport=subclass))
    mounted = httpx.AsyncClient(mounts={"https://x": httpx_aiohttp.AiohttpTransport()})
    assert not _reports_connect_errors_exactly(mounted)


@pytest.mark.anyio
async def test_connect_error_from_an_unknown_transport_is_reconciled_not_resent() -> None:
    """A transport that may raise ConnectError after sending: the order is looked up."""
    sandbox = Sandbox()
    inner = sandbox.transport()

    class LosesTheReply(httpx.AsyncBaseTransport):
        calls = 0

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await inner.handle_async_request(request)
            LosesTheReply.calls += 1
            if LosesTheReply.calls == 1:  # the order is placed, then "ConnectError"
                raise httpx.ConnectError("connection lost")
            return response

    async with sandbox.client(transport=LosesTheReply(), backoff=Backoff.none()) as client:
        order = await client.place_order(order_request())
    assert len(posted(sandbox, "api/orders/")) == 1  # not sent again
    assert order.id in {o.id for o in sandbox.engine.orders.values()}
    assert len(sandbox.engine.orders) == 1


# ---------------------------------------------------------------------------- custom_order_id


@pytest.mark.anyio
async def test_a_generated_custom_order_id_is_fixed_once_and_reused_on_every_attempt() -> None:
    sandbox = Sandbox()
    request = order_request()
    sandbox.faults.fail_next(2, 429, path="api/orders/", method="POST")  # refused twice
    async with sandbox.client(backoff=Backoff.none()) as client:
        order = await client.place_order(request)
    bodies = posted(sandbox, "api/orders/")
    assert len(bodies) == 3
    ids = {body["custom_order_id"] for body in bodies}
    assert len(ids) == 1
    (sent,) = ids
    assert GENERATED.fullmatch(sent)
    assert order.custom_order_id == sent
    assert request.custom_order_id is None  # the caller's request is not changed
    assert len(sandbox.engine.orders) == 1


@pytest.mark.anyio
async def test_each_call_gets_its_own_id_and_the_callers_id_is_kept() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        first = await client.place_order(order_request())
        second = await client.place_order(order_request())
        mine = await client.place_order(
            PlaceOrderRequest(**{**_fields(order_request()), "custom_order_id": "mine-1"})
        )
    assert first.custom_order_id != second.custom_order_id
    assert mine.custom_order_id == "mine-1"


def _fields(request: PlaceOrderRequest) -> dict[str, Any]:
    return {
        "accounts": request.accounts,
        "pair": request.pair,
        "side": request.side,
        "duration": request.duration,
        "base_asset_qty": request.base_asset_qty,
        "strategy": request.strategy,
    }


@pytest.mark.anyio
async def test_raw_request_to_the_orders_path_gets_an_id_without_changing_the_callers_body() -> (
    None
):
    sandbox = Sandbox()
    body = {
        "accounts": ["mock"],
        "pair": "ETH-USDT",
        "side": "buy",
        "duration": 300,
        "base_asset_qty": "1",
        "strategy": "TWAP",
    }
    sandbox.faults.fail_next(1, 502, path="api/orders/", after=True)  # placed, reply lost
    async with sandbox.client(backoff=Backoff.none()) as client:
        reply = await client.request("POST", "api/orders/", json=body)
    assert "custom_order_id" not in body
    assert GENERATED.fullmatch(reply["custom_order_id"])
    assert len(sandbox.engine.orders) == 1


# ---------------------------------------------------------------------------- reconciliation


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_order_placed_but_reply_lost_is_returned_not_placed_again(status: int) -> None:
    sandbox = Sandbox()
    sandbox.faults.fail_next(1, status, path="api/orders/", after=True)
    async with sandbox.client(backoff=Backoff.none()) as client:
        order = await client.place_order(order_request())
    assert isinstance(order, Order)
    assert len(posted(sandbox, "api/orders/")) == 1
    assert [o.id for o in sandbox.engine.orders.values()] == [order.id]


@pytest.mark.anyio
async def test_order_not_placed_is_sent_again_after_the_lookup_finds_nothing() -> None:
    sandbox = Sandbox()
    sandbox.faults.fail_next(1, 502, path="api/orders/")  # a gateway failed, nothing placed
    async with sandbox.client(backoff=Backoff.none()) as client:
        order = await client.place_order(order_request())
    methods = [(e.method, e.path.split("?")[0]) for e in sandbox.exchanges]
    assert methods == [
        ("POST", "/api/orders/"),
        ("GET", "/api/orders/"),  # the lookup
        ("POST", "/api/orders/"),
    ]
    assert [o.id for o in sandbox.engine.orders.values()] == [order.id]


@pytest.mark.anyio
async def test_retries_spent_and_not_found_is_outcome_unknown() -> None:
    sandbox = Sandbox()
    sandbox.faults.fail_next(5, 502, path="api/orders/", method="POST")
    async with sandbox.client(backoff=Backoff.none(), max_retries=1) as client:
        with pytest.raises(OrderOutcomeUnknownError) as caught:
            await client.place_order(order_request())
    assert len(posted(sandbox, "api/orders/")) == 2
    assert GENERATED.fullmatch(caught.value.custom_order_id or "")
    assert caught.value.custom_order_ids == [caught.value.custom_order_id]


@pytest.mark.anyio
async def test_failed_lookup_is_outcome_unknown_with_the_id() -> None:
    sandbox = Sandbox()
    sandbox.faults.fail_next(1, 502, path="api/orders/", method="POST", after=True)
    sandbox.faults.fail_next(5, 500, path="api/orders/", method="GET")
    async with sandbox.client(backoff=Backoff.none()) as client:
        with pytest.raises(OrderOutcomeUnknownError, match="looking it up failed") as caught:
            await client.place_order(order_request())
    assert caught.value.custom_order_id in {
        o.request.custom_order_id for o in sandbox.engine.orders.values()
    }
    assert len(posted(sandbox, "api/orders/")) == 1  # never resent without an answer


async def _place_with_lookup_reply(lookup: dict[str, Any]) -> OrderOutcomeUnknownError:
    with respx.mock(base_url=API, using="httpx") as router:
        router.post("orders/").mock(return_value=httpx.Response(504, text="<html>gw</html>"))
        router.get("orders/").mock(return_value=httpx.Response(200, json=lookup))
        async with AsyncClient(BASE_URL, TOKEN, backoff=Backoff.none()) as client:
            with pytest.raises(OrderOutcomeUnknownError) as caught:
                await client.place_order(order_request())
        assert router.routes[0].call_count == 1  # never resent
    return caught.value


@pytest.mark.anyio
async def test_a_lookup_that_ignores_the_filter_is_not_taken_for_not_found() -> None:
    other = load_json("seed_order.json")
    other["custom_order_id"] = "someone-else"
    error = await _place_with_lookup_reply({"orders": [other]})
    assert "did not filter" in str(error)


@pytest.mark.anyio
async def test_two_orders_with_the_id_is_outcome_unknown_not_a_pick() -> None:
    captured: dict[str, str] = {}

    def lookup(request: httpx.Request) -> httpx.Response:
        captured["ids"] = request.url.params["custom_order_ids"]
        one = load_json("seed_order.json")
        one["custom_order_id"] = captured["ids"]
        two = {**one, "id": "another"}
        return httpx.Response(200, json={"orders": [one, two]})

    with respx.mock(base_url=API, using="httpx") as router:
        router.post("orders/").mock(return_value=httpx.Response(502))
        router.get("orders/").mock(side_effect=lookup)
        async with AsyncClient(BASE_URL, TOKEN, backoff=Backoff.none()) as client:
            with pytest.raises(OrderOutcomeUnknownError, match="several orders"):
                await client.place_order(order_request())


@pytest.mark.anyio
async def test_a_refused_resend_after_an_uncertain_attempt_looks_again() -> None:
    """A server that rejects a duplicate custom_order_id: the first attempt did land."""
    state: dict[str, Any] = {"lookups": 0}

    def post(request: httpx.Request) -> httpx.Response:
        state["id"] = json.loads(request.content)["custom_order_id"]
        if "landed" not in state:
            state["landed"] = True
            return httpx.Response(502)  # placed, then the gateway failed
        return httpx.Response(400, json={"custom_order_id": ["already used"]})

    def lookup(request: httpx.Request) -> httpx.Response:
        state["lookups"] += 1
        if state["lookups"] == 1:  # not visible yet
            return httpx.Response(200, json={"orders": []})
        found = load_json("seed_order.json")
        found["custom_order_id"] = state["id"]
        return httpx.Response(200, json={"orders": [found]})

    with respx.mock(base_url=API, using="httpx") as router:
        router.post("orders/").mock(side_effect=post)
        router.get("orders/").mock(side_effect=lookup)
        async with AsyncClient(BASE_URL, TOKEN, backoff=Backoff.none()) as client:
            order = await client.place_order(order_request())
    assert order.custom_order_id == state["id"]
    assert state["lookups"] == 2


@pytest.mark.anyio
async def test_a_plain_400_is_raised_without_a_lookup() -> None:
    with respx.mock(base_url=API, using="httpx", assert_all_called=False) as router:
        router.post("orders/").mock(
            return_value=httpx.Response(400, json={"pair": ["unknown pair"]})
        )
        lookup = router.get("orders/")
        async with AsyncClient(BASE_URL, TOKEN, backoff=Backoff.none()) as client:
            with pytest.raises(BadRequestError, match="unknown pair"):
                await client.place_order(order_request())
        assert not lookup.called


def multi_request(*legs: dict[str, Any]) -> PlaceMultiOrderRequest:
    return PlaceMultiOrderRequest(
        accounts=["mock"], duration=300, strategy="TWAP", child_orders=list(legs)
    )


ETH_LEG = {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": 1}


@pytest.mark.anyio
async def test_multi_order_placed_but_reply_lost_is_fetched_through_its_legs() -> None:
    sandbox = Sandbox()
    request = multi_request(ETH_LEG, {"pair": "BTC-USDT", "side": "sell", "base_asset_qty": "0.1"})
    sandbox.faults.fail_next(1, 504, path="api/multi_orders/", after=True)
    async with sandbox.client(backoff=Backoff.none()) as client:
        multi = await client.place_multi_order(request)
    assert isinstance(multi, MultiOrder)
    assert list(sandbox.engine.multis) == [multi.id]
    assert len(posted(sandbox, "api/multi_orders/")) == 1


@pytest.mark.anyio
async def test_multi_order_not_found_is_never_resent() -> None:
    sandbox = Sandbox()
    request = multi_request(ETH_LEG)
    sandbox.faults.fail_next(1, 504, path="api/multi_orders/")  # not placed
    async with sandbox.client(backoff=Backoff.none()) as client:
        with pytest.raises(OrderOutcomeUnknownError, match="found 0"):
            await client.place_multi_order(request)
    assert len(posted(sandbox, "api/multi_orders/")) == 1
    assert not sandbox.engine.multis


@pytest.mark.anyio
async def test_chained_order_placed_but_reply_lost_is_rebuilt_from_its_legs() -> None:
    sandbox = Sandbox()
    legs = [
        OrderInChain(order_request=order_request(), priority=1),
        OrderInChain(
            order_request={**_fields(order_request()), "custom_order_id": "leg-two"},
            priority=2,
        ),
    ]
    sandbox.faults.fail_next(1, 502, path="api/chained_orders/", after=True)
    async with sandbox.client(backoff=Backoff.none()) as client:
        chain = await client.place_chained_order(PlaceChainedOrderRequest(orders_in_chain=legs))
    assert isinstance(chain, ChainedOrder)
    (sent,) = posted(sandbox, "api/chained_orders/")
    ids = [entry["order_request"]["custom_order_id"] for entry in sent["orders_in_chain"]]
    assert GENERATED.fullmatch(ids[0])
    assert ids[1] == "leg-two"
    assert [o.custom_order_id for o in chain.orders] == ids
    assert chain.id in sandbox.engine.chains


# ---------------------------------------------------------------------------- other calls


@pytest.mark.anyio
async def test_a_write_that_may_have_reached_the_server_is_not_retried() -> None:
    sandbox = Sandbox()
    async with sandbox.client(backoff=Backoff.none()) as client:
        order = await client.place_order(order_request())
        sandbox.faults.fail_next(1, 502, path="api/pause_order/")
        with pytest.raises(InternalServerError):
            await client.pause_order(order.id)
    assert len(posted(sandbox, "api/pause_order/")) == 1


@pytest.mark.anyio
async def test_a_cancel_whose_reply_was_lost_succeeds_on_retry() -> None:
    sandbox = Sandbox()
    async with sandbox.client(backoff=Backoff.none()) as client:
        order = await client.place_order(order_request())
        sandbox.faults.fail_next(1, 502, method="DELETE", after=True)  # cancelled, reply lost
        result = await client.cancel_order(order.id)
        assert result.success is True
        assert result.message == f"order {order.id} was already canceled"  # the retry's reply
        assert (await client.get_order(order.id)).status == OrderStatus.CANCELED


async def _cancel_refused_on_retry(order_status: str) -> tuple[Any, respx.Route]:
    order = load_json("seed_order.json")
    order["status"] = order_status
    with respx.mock(base_url=API, using="httpx") as router:
        router.delete("order/abc").mock(
            side_effect=[httpx.ReadTimeout("lost"), httpx.Response(400, json={"error": "no"})]
        )
        check = router.get("order/abc").mock(return_value=httpx.Response(200, json=order))
        async with AsyncClient(BASE_URL, TOKEN, backoff=Backoff.none()) as client:
            try:
                return await client.cancel_order("abc"), check
            except BadRequestError as exc:
                return exc, check


@pytest.mark.anyio
async def test_a_retried_cancel_refused_because_the_first_one_worked_is_a_success() -> None:
    result, check = await _cancel_refused_on_retry("CANCELED")
    assert check.call_count == 1
    assert result.success is True
    assert "already cancelled" in result.message


@pytest.mark.anyio
async def test_a_retried_cancel_refused_for_a_live_order_raises_the_refusal() -> None:
    result, check = await _cancel_refused_on_retry("ACTIVE")
    assert check.call_count == 1
    assert isinstance(result, BadRequestError)
    assert result.body == {"error": "no"}


@pytest.mark.anyio
async def test_every_retry_is_logged_with_its_reason_and_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox = Sandbox()
    sandbox.faults.fail_next(2, 503, path="api/balances/")
    caplog.set_level(logging.DEBUG, logger="taas_async")
    async with sandbox.client(backoff=Backoff(initial=0.01, maximum=0.01, jitter=False)) as client:
        await client.get_balances()
    lines = [r.getMessage() for r in caplog.records]
    assert [line for line in lines if "retrying" in line] == [
        "GET /api/balances/ failed (HTTP 503); retrying (attempt 2 of 3) in 0.01 s",
        "GET /api/balances/ failed (HTTP 503); retrying (attempt 3 of 3) in 0.01 s",
    ]
    attempts = [r.taas_attempt for r in caplog.records if hasattr(r, "taas_attempt")]
    assert attempts == [1, 2, 3]
    assert not any(TOKEN in line for line in lines)


@pytest.mark.anyio
async def test_retry_after_above_the_cap_raises_at_once() -> None:
    sandbox = Sandbox()
    sandbox.faults.fail_next(1, 503, path="api/balances/", headers={"Retry-After": "120"})
    async with sandbox.client(backoff=Backoff.none()) as client:
        with anyio.fail_after(5):
            with pytest.raises(InternalServerError):
                await client.get_balances()
    assert len(sandbox.exchanges) == 1


async def _call_and_close(client: AsyncClient, call: Any, close_after: float) -> BaseException:
    """Run ``call``, close the client ``close_after`` seconds in; return what the call raised."""
    caught: list[BaseException] = []

    async def run() -> None:
        try:
            await call
        except Exception as exc:
            caught.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await anyio.sleep(close_after)
        await client.aclose()
    assert len(caught) == 1, "the call succeeded"
    return caught[0]


@pytest.mark.anyio
async def test_closing_the_client_during_a_backoff_ends_the_call_with_a_typed_error() -> None:
    sandbox = Sandbox()
    sandbox.faults.fail_next(1, 503, path="api/balances/")
    client = sandbox.client(backoff=Backoff(initial=0.3, maximum=0.3, jitter=False))
    error = await _call_and_close(client, client.get_balances(), 0.1)
    assert isinstance(error, ClientClosedError)
    assert "while this call was retrying" in str(error)


@pytest.mark.anyio
async def test_closing_the_client_while_a_cancel_is_uncertain_says_it_may_be_done() -> None:
    """A cancel whose first attempt may have reached the server: the error says so."""
    sandbox = Sandbox()
    async with sandbox.client() as placing:
        order = await placing.place_order(sandbox_order_request())
    sandbox.faults.fail_next(1, 502, path=f"api/order/{order.id}", method="DELETE")
    client = sandbox.client(backoff=Backoff(initial=0.3, maximum=0.3, jitter=False))
    error = await _call_and_close(client, client.cancel_order(order.id), 0.1)
    assert type(error) is ClientClosedError
    assert "while this call was retrying" in str(error)
    assert "an earlier attempt may have reached the server and acted" in str(error)
    assert "502" in str(error)
    assert isinstance(error.__cause__, TaaSError)


@pytest.mark.anyio
async def test_closing_the_client_while_an_order_is_uncertain_is_outcome_unknown() -> None:
    sandbox = Sandbox()
    sandbox.faults.fail_next(1, 502, path="api/orders/", method="POST")  # not placed
    sandbox.faults.fail_next(1, 429, path="api/orders/", method="GET")  # lookup throttled
    client = sandbox.client(backoff=Backoff(initial=0.2, maximum=0.2, jitter=False))
    error = await _call_and_close(client, client.place_order(order_request()), 0.3)
    assert isinstance(error, OrderOutcomeUnknownError)
    assert GENERATED.fullmatch(error.custom_order_id or "")


@pytest.mark.parametrize(
    ("status", "after", "expected"),
    [
        (429, False, ClientClosedError),  # throttled, not placed: nothing uncertain
        (502, True, OrderOutcomeUnknownError),  # placed, its reply lost: uncertain
        (500, False, OrderOutcomeUnknownError),  # a 500 may have placed it
    ],
)
@pytest.mark.anyio
async def test_closing_the_client_while_a_follow_up_waits_for_the_rate_limit(
    status: int, after: bool, expected: type[Exception]
) -> None:
    sandbox = Sandbox(autojump=True)
    sandbox.faults.fail_next(1, status, path="api/orders/", method="POST", after=after)
    client = sandbox.client(rate_limit=1.0, backoff=Backoff.none())
    caught: list[BaseException] = []

    async def place() -> None:
        try:
            await client.place_order(order_request())
        except Exception as exc:
            caught.append(exc)

    clock = sandbox.clock
    assert isinstance(clock, AutojumpClock)
    async with anyio.create_task_group() as group:
        group.start_soon(place)
        for _ in range(200):  # until the follow-up (a resend or a lookup) waits its turn
            if clock.waiting:
                break
            await anyio.lowlevel.checkpoint()
        await client.aclose()
    (error,) = caught
    assert type(error) is expected
    assert GENERATED.fullmatch(error.custom_order_id or "")  # type: ignore[attr-defined]
    assert [(e.method, e.status) for e in sandbox.exchanges] == [("POST", status)]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # aiohttp runs on asyncio only
@pytest.mark.anyio
async def test_httpx_aiohttp_reset_after_sending_is_reconciled_not_resent() -> None:
    """httpx-aiohttp reports a reset after sending as ConnectTimeout: never taken as "not sent"."""
    sandbox = Sandbox()
    with FaultServer(app=sandbox.app) as server:
        # What the transport raises for a connection reset after the request went out:
        server.plan(Fault("reset_after_forward", method="POST", path="/api/orders/"))
        async with httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport()) as raw:
            with pytest.raises(httpx.ConnectTimeout):
                await raw.post(server.url + "api/orders/", json={})
        server.plan(Fault("reset_after_forward", method="POST", path="/api/orders/"))
        async with AsyncClient(
            server.url,
            sandbox.token,
            transport=httpx_aiohttp.AiohttpTransport(),
            backoff=Backoff.none(),
        ) as client:
            order = await client.place_order(order_request())
        server.wait_idle(5)
        posts = [path for method, path, _ in server.requests if method == "POST"]
    assert len(posts) == 2  # the raw probe, then the SDK's one POST: no resend
    assert [o.id for o in sandbox.engine.orders.values()] == [order.id]


# httpx's response generators, abandoned when its gzip decoder raises, are
# finalized by the garbage collector, which trio reports as a ResourceWarning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.anyio
async def test_a_2xx_whose_body_cannot_be_decoded_is_never_sent_again() -> None:
    """The 201 status proves the order was accepted, even though httpx fails on its body."""
    not_found = Fault(
        "status",
        status=200,
        body='{"orders": []}',
        content_type="application/json",
        method="GET",
        path="/api/orders/",
    )
    with FaultServer() as server:
        server.plan(
            Fault(
                "status",
                status=201,
                body=b"not gzip at all",
                headers={"Content-Encoding": "gzip"},
                content_type="application/json",
                method="POST",
                path="/api/orders/",
            ),
            not_found,
            not_found,
        )
        async with AsyncClient(server.url, TOKEN, backoff=Backoff.none()) as client:
            with pytest.raises(OrderOutcomeUnknownError, match=r"accepted the order \(HTTP 201\)"):
                await client.place_order(order_request())
        server.wait_idle(5)
        posts = [path for method, path, _ in server.requests if method == "POST"]
    assert len(posts) == 1  # retries were left: still not resent


@pytest.mark.anyio
async def test_a_reply_reset_mid_body_after_201_is_never_sent_again() -> None:
    """Over TCP: the status line came, then the connection broke; the lookup lags."""
    sandbox = Sandbox()
    with FaultServer(app=sandbox.app) as server:
        server.plan(
            Fault("reset_mid_body", method="POST", path="/api/orders/"),
            # A lookup that has not caught up with the write yet:
            Fault(
                "status",
                status=200,
                body='{"orders": []}',
                content_type="application/json",
                method="GET",
                path="/api/orders/",
            ),
        )
        async with AsyncClient(server.url, sandbox.token, backoff=Backoff.none()) as client:
            with pytest.raises(OrderOutcomeUnknownError) as caught:
                await client.place_order(order_request())
        server.wait_idle(5)
        posts = [path for method, path, _ in server.requests if method == "POST"]
    cause = caught.value.__cause__
    assert isinstance(cause, APIConnectionError)
    assert cause.reply_status == 201
    assert len(posts) == 1
    assert len(sandbox.engine.orders) == 1
