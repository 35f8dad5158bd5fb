"""Fan-out and tracking against the sandbox: place_orders, cancel_orders, watch/wait.

Every test runs on asyncio, trio and uvloop (the helpers are built on anyio).
The sandbox runs in process on a virtual clock, and a transport wrapper
counts the requests in flight; watches that must ride through failures talk
to it through a FaultServer.
"""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest
from conftest import GENERATED_ID
from faultserver import Fault, FaultServer

from taas_async import (
    ActionResult,
    APIStatusError,
    AsyncClient,
    Backoff,
    BadRequestError,
    GetOrdersRequest,
    InternalServerError,
    NotFoundError,
    Order,
    OrderOutcomeUnknownError,
    OrderStatus,
    PlaceOrderRequest,
    RequestValidationError,
    TaaSError,
    WaitTimeoutError,
)
from taas_async.sandbox import Sandbox

pytestmark = pytest.mark.anyio


class CountingTransport(httpx.AsyncBaseTransport):
    """Wraps the sandbox transport; records the most requests ever in flight at once."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.in_flight = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


def order(index: int, **overrides: Any) -> PlaceOrderRequest:
    fields: dict[str, Any] = {
        "accounts": ["mock"],
        "pair": "ETH-USDT",
        "side": "buy",
        "duration": 60,
        "base_asset_qty": "0.01",
        "strategy": "TWAP",
        "custom_order_id": f"fan-{index}",
    }
    fields.update(overrides)
    return PlaceOrderRequest(**fields)


def counted_client(sandbox: Sandbox) -> tuple[AsyncClient, CountingTransport]:
    transport = CountingTransport(sandbox.transport())
    client = sandbox.client(transport=transport, max_retries=0, backoff=Backoff.none())
    return client, transport


async def test_place_orders_in_input_order_within_the_limit() -> None:
    sandbox = Sandbox()
    sandbox.faults.latency = 0.002  # real time, so requests overlap
    client, transport = counted_client(sandbox)
    requests = [order(i) for i in range(40)]
    async with client:
        results = await client.place_orders(requests, max_concurrency=5)
    assert transport.peak == 5
    assert all(type(r) is Order for r in results)
    assert [r.custom_order_id for r in results if isinstance(r, Order)] == [
        f"fan-{i}" for i in range(40)
    ]
    assert len(sandbox.engine.orders) == 40
    assert {o.request.custom_order_id for o in sandbox.engine.orders.values()} == {
        f"fan-{i}" for i in range(40)
    }


async def test_one_failure_never_loses_the_others() -> None:
    sandbox = Sandbox()
    faults = sandbox.faults
    faults.fail_next(3, status=400, body={"pair": ["not traded here"]}, path="api/orders/")
    # Two orders land but their replies are lost: each is looked up by its
    # custom_order_id; one lookup finds it, the other fails (outcome unknown).
    faults.fail_next(2, status=502, method="POST", path="api/orders/", after=True)
    faults.fail_next(1, status=500, method="GET", path="api/orders/")
    client, _ = counted_client(sandbox)
    async with client:
        results = await client.place_orders([order(i) for i in range(20)], max_concurrency=4)
    errors = [r for r in results if isinstance(r, Exception)]
    assert [type(e) for e in errors].count(BadRequestError) == 3
    assert [type(e) for e in errors].count(OrderOutcomeUnknownError) == 1
    assert len(errors) == 4
    placed = [r for r in results if isinstance(r, Order)]
    assert len(placed) == 16  # 15 answered, 1 found by the lookup
    for index, result in enumerate(results):  # each result is its own input's, and names it
        assert isinstance(result, (Order, TaaSError))
        assert result.custom_order_id == f"fan-{index}"
    # Both 502 ones are on the server (their replies were lost), once each; the 400s are not.
    assert len(sandbox.engine.orders) == 17
    posts = [x for x in sandbox.exchanges if x.method == "POST"]
    lookups = [x for x in sandbox.exchanges if x.method == "GET"]
    assert len(posts) == 20  # nothing was sent twice
    assert len(lookups) == 2
    assert all("custom_order_ids=fan-" in str(x.url) for x in lookups)


async def test_invalid_items_are_refused_before_anything_is_sent() -> None:
    sandbox = Sandbox()
    broken = order(1)
    broken.accounts.clear()  # mutated in place after construction
    client, _ = counted_client(sandbox)
    async with client:
        with pytest.raises(RequestValidationError) as caught:
            await client.place_orders([order(0), broken, "not an order"])  # type: ignore[list-item]
        assert set(caught.value.errors) == {"[1].accounts", "[2]"}
        for bad in (0, -1, True, 1.5):
            with pytest.raises(RequestValidationError, match="max_concurrency"):
                await client.place_orders([order(0)], max_concurrency=bad)  # type: ignore[arg-type]
        with pytest.raises(RequestValidationError, match="iterable"):
            await client.place_orders(order(0))  # type: ignore[arg-type]
        assert await client.place_orders([]) == []
    assert sandbox.exchanges == []


async def test_a_generated_id_is_on_each_failed_items_error() -> None:
    # The README's fan-out loop printed "None failed: ... HTTP 400": the request had no
    # custom_order_id of its own and the error did not carry the one generated for it.
    sandbox = Sandbox()
    sandbox.faults.fail_next(2, status=400, body={"pair": ["not traded here"]}, path="api/orders/")
    client, _ = counted_client(sandbox)
    async with client:
        results = await client.place_orders(
            [order(i, custom_order_id=None) for i in range(4)], max_concurrency=1
        )
    errors = [r for r in results if isinstance(r, BadRequestError)]
    assert len(errors) == 2
    sent = [json.loads(x.content)["custom_order_id"] for x in sandbox.exchanges]
    assert [e.custom_order_id for e in errors] == sent[:2]  # max_concurrency=1: in order
    assert all(GENERATED_ID.fullmatch(e.custom_order_id or "") for e in errors)
    assert [e.custom_order_ids for e in errors] == [[sent[0]], [sent[1]]]
    placed = [r for r in results if isinstance(r, Order)]
    assert [o.custom_order_id for o in placed] == sent[2:]


async def test_rows_as_mappings_are_built_checked_and_placed() -> None:
    sandbox = Sandbox()
    rows: list[Any] = [
        {"accounts": ["mock"], "pair": "ETH-USDT", "side": "buy", "duration": 60,
         "base_asset_qty": "0.01", "strategy": "TWAP", "custom_order_id": "row-0"},
        order(1),
    ]  # fmt: skip
    client, _ = counted_client(sandbox)
    async with client:
        results = await client.place_orders(rows)
    assert [r.custom_order_id for r in results if isinstance(r, Order)] == ["row-0", "fan-1"]
    assert results[0].base_asset_qty == Decimal("0.01")  # type: ignore[union-attr]


async def test_bad_rows_are_named_by_index_and_field_and_nothing_is_sent() -> None:
    sandbox = Sandbox()
    good = {"accounts": ["mock"], "pair": "ETH-USDT", "side": "buy", "duration": 60,
            "base_asset_qty": "1", "strategy": "TWAP"}  # fmt: skip
    rows: list[Any] = [
        good,
        {**good, "base_asset_qty": 0.1},  # a float: refused, a document's is rounded
        {**good, "pair": "!!ETH-USDT!!"},
        {**good, "bogus": 1, "side": "hold"},
        {k: v for k, v in good.items() if k != "strategy"},
        {1: "x"},
        order(5),
        42,
    ]
    client, _ = counted_client(sandbox)
    async with client:
        with pytest.raises(RequestValidationError) as caught:
            await client.place_orders(rows)
    assert set(caught.value.errors) == {
        "[1].base_asset_qty",
        "[2].pair",
        "[3].bogus",
        "[3].side",
        "[4].strategy",
        "[5].data",
        "[7]",
    }
    assert caught.value.errors["[3].bogus"] == ["unknown field"]
    assert "expected PlaceOrderRequest or a mapping, got int" in caught.value.errors["[7]"][0]
    assert sandbox.exchanges == []


async def test_cancelling_the_caller_cancels_what_is_pending() -> None:
    sandbox = Sandbox()
    sandbox.faults.latency = 0.02
    client, transport = counted_client(sandbox)
    async with client:
        with anyio.move_on_after(0.1):
            await client.place_orders([order(i) for i in range(100)], max_concurrency=4)
        placed = len(sandbox.engine.orders)
        assert 0 < placed < 100
        await anyio.sleep(0.1)  # nothing pending goes on in the background
        assert len(sandbox.engine.orders) == placed
        assert transport.in_flight == 0
        sandbox.faults.latency = 0
        assert (await client.get_balances()).keys() == {"mock", "test"}  # still usable


async def test_cancel_orders_each_result_or_its_error() -> None:
    sandbox = Sandbox()
    client, _ = counted_client(sandbox)
    async with client:
        placed = await client.place_orders([order(i) for i in range(6)])
        ids = [r.id for r in placed if isinstance(r, Order)]
        assert len(ids) == 6
        results = await client.cancel_orders(
            [*ids[:3], "no-such-order", *ids[3:]], max_concurrency=3
        )
        assert [type(r) for r in results] == [ActionResult] * 3 + [NotFoundError] + [
            ActionResult
        ] * 3
        assert all(r.success for r in results if isinstance(r, ActionResult))
        page = await client.get_all_orders(GetOrdersRequest(statuses=["CANCELED"]))
        assert sorted(o.id for o in page) == sorted(ids)
        before = len(sandbox.exchanges)
        with pytest.raises(RequestValidationError) as caught:
            await client.cancel_orders([ids[0], "..", 42])  # type: ignore[list-item]
        assert set(caught.value.errors) == {"[1]", "[2]"}
        assert len(sandbox.exchanges) == before


async def tick(sandbox: Sandbox, seconds: float, steps: int) -> None:
    """Move the virtual clock on, a step at a time, yielding to the watcher in between."""
    for _ in range(steps):
        sandbox.advance(seconds)
        await anyio.sleep(0.001)


async def test_watch_order_yields_each_change_until_the_end() -> None:
    sandbox = Sandbox()
    client, _ = counted_client(sandbox)
    async with client:
        placed = await client.place_order(order(0, base_asset_qty="3", duration=30))
        snapshots: list[Order] = []
        async with anyio.create_task_group() as group:
            group.start_soon(tick, sandbox, 1, 200)
            async for snapshot in client.watch_order(placed.id, poll_interval=0.001, timeout=10):
                snapshots.append(snapshot)
            group.cancel_scope.cancel()
    assert snapshots[0].status in (OrderStatus.SCHEDULED, OrderStatus.ACTIVE)
    assert snapshots[-1].status is OrderStatus.COMPLETE
    assert snapshots[-1].executed_qty == Decimal(3)
    assert len(snapshots) >= 4
    assert all(s.status is not OrderStatus.COMPLETE for s in snapshots[:-1])
    progress = [(s.status, s.executed_qty, len(s.placements)) for s in snapshots]
    assert all(a != b for a, b in itertools.pairwise(progress))  # only changes are yielded
    quantities = [s.executed_qty or 0 for s in snapshots]
    assert quantities == sorted(quantities)


async def test_wait_for_order_returns_the_final_snapshot() -> None:
    sandbox = Sandbox()
    client, _ = counted_client(sandbox)
    async with client:
        done = await client.place_order(order(0))
        stopped = await client.place_order(order(1))
        await client.cancel_order(stopped.id)
        assert (await client.wait_for_order(stopped.id, poll_interval=0.001)).status == "CANCELED"
        async with anyio.create_task_group() as group:
            group.start_soon(tick, sandbox, 5, 100)
            final = await client.wait_for_order(done.id, timeout=10, poll_interval=0.001)
            group.cancel_scope.cancel()
    assert final.status is OrderStatus.COMPLETE
    assert final.executed_qty == Decimal("0.01")


async def test_wait_for_order_times_out_with_the_last_snapshot() -> None:
    sandbox = Sandbox()
    client, _ = counted_client(sandbox)
    async with client:
        placed = await client.place_order(order(0))
        sandbox.advance(10)  # ACTIVE, and the virtual clock then stands still
        with pytest.raises(WaitTimeoutError) as caught:
            await client.wait_for_order(placed.id, timeout=0.05, poll_interval=0.01)
        assert isinstance(caught.value, TimeoutError)
        assert caught.value.order_id == placed.id
        assert caught.value.last is not None
        assert caught.value.last.status is OrderStatus.ACTIVE
        for bad in (0, -1, float("nan"), float("inf"), "1"):
            with pytest.raises(RequestValidationError):
                await client.wait_for_order(placed.id, poll_interval=bad)  # type: ignore[arg-type]
            with pytest.raises(RequestValidationError):
                await client.wait_for_order(placed.id, timeout=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- watches ride through


ORDER_PATH = "/api/order/"


def _watch_client(server: FaultServer, sandbox: Sandbox) -> AsyncClient:
    return AsyncClient(server.url, sandbox.token, backoff=Backoff.none(), timeout=2)


async def test_a_watch_rides_through_transient_failures_to_the_end() -> None:
    """5xx, 429, resets and stalls, each more than get_order's own retries: the watch goes on."""
    sandbox = Sandbox(speed=600)  # a 60 s TWAP ends in 0.1 s of real time
    with FaultServer(app=sandbox.app) as server:
        async with _watch_client(server, sandbox) as client:
            placed = await client.place_order(order(0, duration=60))
            server.plan(
                *[Fault("status", status=500, method="GET", path=ORDER_PATH)] * 3,
                *[Fault("reset_before_reply", method="GET", path=ORDER_PATH)] * 3,
                *[
                    Fault(
                        "status",
                        status=429,
                        headers={"Retry-After": "0"},
                        method="GET",
                        path=ORDER_PATH,
                    )
                ]
                * 3,
                *[Fault("status", status=503, method="GET", path=ORDER_PATH)] * 3,
            )
            with anyio.fail_after(30):
                final = await client.wait_for_order(placed.id, poll_interval=0.01, timeout=20)
        assert server.errors == []
    assert final.status is OrderStatus.COMPLETE
    assert server.planned == []  # every fault was met, and ridden through
    assert server.faults_applied.count("status") == 9


@pytest.mark.parametrize(("status", "error"), [(401, "AuthenticationError"), (404, "NotFound")])
async def test_a_watch_ends_at_once_on_a_permanent_error(status: int, error: str) -> None:
    sandbox = Sandbox()
    with FaultServer(app=sandbox.app) as server:
        async with _watch_client(server, sandbox) as client:
            placed = await client.place_order(order(0))
            server.plan(Fault("status", status=status, method="GET", path=ORDER_PATH))
            with pytest.raises(APIStatusError) as caught, anyio.fail_after(10):
                await client.wait_for_order(placed.id, poll_interval=0.01, timeout=5)
        assert server.errors == []
    assert caught.value.status_code == status
    assert error in type(caught.value).__name__
    assert server.count("GET", ORDER_PATH) == 1  # neither retried nor polled again


async def test_a_watch_that_keeps_failing_times_out_with_the_last_snapshot_and_error() -> None:
    sandbox = Sandbox()
    always_502 = [Fault("status", status=502, method="GET", path=ORDER_PATH)]
    with FaultServer(app=sandbox.app) as server:
        async with _watch_client(server, sandbox) as client:
            placed = await client.place_order(order(0))
            snapshots: list[Order] = []

            async def watch() -> None:
                watching = client.watch_order(placed.id, poll_interval=0.01, timeout=0.5)
                async for snapshot in watching:
                    snapshots.append(snapshot)
                    server.set_random(1.0, always_502, seed=0)  # every poll from now on fails

            with pytest.raises(WaitTimeoutError) as caught, anyio.fail_after(10):
                await watch()
        assert server.errors == []
    error = caught.value
    assert len(snapshots) == 1
    assert error.last == snapshots[0]
    assert isinstance(error.last_error, InternalServerError)
    assert error.last_error.status_code == 502
    assert "last error" in str(error)
    assert server.count("GET", ORDER_PATH) > 3  # it kept polling through the failures


class LoggingClient(AsyncClient):
    """Records every call of the public methods the helpers are built on."""

    calls: list[str]

    async def get_order(self, *args: Any, **kwargs: Any) -> Order:
        self.calls.append("get_order")
        return await super().get_order(*args, **kwargs)

    async def get_all_orders(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("get_all_orders")
        return await super().get_all_orders(*args, **kwargs)

    async def cancel_order(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("cancel_order")
        return await super().cancel_order(*args, **kwargs)


async def test_the_helpers_go_through_the_clients_own_methods() -> None:
    """A subclass (or a test double) of get_order, get_all_orders, cancel_order is honoured."""
    sandbox = Sandbox()
    client = LoggingClient(
        sandbox.url, sandbox.token, transport=sandbox.transport(), allow_insecure_http=True
    )
    client.calls = []
    async with client:
        placed = await client.place_order(order(0))
        await client.cancel_orders([placed.id])
        assert (await client.wait_for_order(placed.id, poll_interval=0.01)).status == "CANCELED"
        assert [o.id async for o in client.iter_orders()] == [placed.id]
        watched = [o async for o in client.watch_order(placed.id, poll_interval=0.01)]
    assert len(watched) == 1
    assert client.calls == ["cancel_order", "get_order", "get_all_orders", "get_order"]
