"""``watch_orders``: many orders followed by batched polling, or on the stream when there is one.

Polling is checked against respx (what each poll asks for, and how many
requests); the stream against the scripted WebSocket server on loopback.
The polls wait on a virtual clock (the sandbox's ``AutojumpClock``): an
interval of a second passes in no real time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
import respx
from conftest import TOKEN, load_json
from wsproto.events import Message
from wsserver import Conn, WSServer

from taas_async import (
    AsyncClient,
    AuthenticationError,
    Backoff,
    NotFoundError,
    Order,
    OrderStatus,
    OrderStream,
    ProxyError,
    RequestValidationError,
    StreamUnavailableError,
    WaitTimeoutError,
    _watching,
    _wire,
)
from taas_async.sandbox import AutojumpClock

pytestmark = pytest.mark.anyio

SEED = load_json("seed_order.json")
LIMIT = 10  # real seconds any one test may take
QUICK = Backoff(initial=0.01, maximum=0.02)
BASE = "https://taas.test/prefix"


def order_json(n: int, status: str = "ACTIVE", executed: str = "0") -> dict[str, Any]:
    return {
        **SEED,
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "custom_order_id": f"mine-{n}",
        "status": status,
        "executed_qty": executed,
    }


def placed(n: int) -> Order:
    """What place_orders hands back: an order with its custom_order_id."""
    return Order(id=order_json(n)["id"], custom_order_id=f"mine-{n}", status=OrderStatus.ACTIVE)


class FakeServer:
    """Orders by id; each list request or GET is recorded; an order ends after ``rounds`` polls."""

    def __init__(self, ids: list[int], rounds: int = 2) -> None:
        self.polls: dict[str, int] = {}
        self.by_custom = {f"mine-{n}": n for n in ids}
        self.by_id = {order_json(n)["id"]: n for n in ids}
        self.rounds = rounds
        self.lists: list[list[str]] = []
        self.gets: list[str] = []

    def state(self, n: int) -> dict[str, Any]:
        key = str(n)
        self.polls[key] = self.polls.get(key, 0) + 1
        if self.polls[key] >= self.rounds:
            return order_json(n, "COMPLETE", "5")
        return order_json(n, "ACTIVE", str(self.polls[key]))

    def list(self, request: httpx.Request) -> httpx.Response:
        customs = request.url.params["custom_order_ids"].split(",")
        self.lists.append(customs)
        orders = [self.state(self.by_custom[c]) for c in customs if c in self.by_custom]
        return httpx.Response(200, json={"orders": orders, "count": len(orders), "num_pages": 1})

    def get(self, request: httpx.Request) -> httpx.Response:
        order_id = request.url.path.rsplit("/", 1)[-1]
        self.gets.append(order_id)
        if order_id not in self.by_id:
            return httpx.Response(404, json={"detail": "Not found."})
        return httpx.Response(200, json=self.state(self.by_id[order_id]))


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(
        base_url=BASE + "/api/", assert_all_called=False, assert_all_mocked=True, using="httpx"
    ) as router:
        yield router


def serve(api: respx.MockRouter, server: FakeServer) -> None:
    api.get("orders/").mock(side_effect=server.list)
    api.get(url__regex=r"/api/order/[^/]+$").mock(side_effect=server.get)


async def virtual_client(url: str = BASE, **kwargs: Any) -> AsyncClient:
    client = AsyncClient(url, TOKEN, backoff=Backoff(initial=1, maximum=2), **kwargs)
    client._timer = AutojumpClock()  # the sandbox's jumping clock: polls take no real time
    return client


def quick_client(url: str) -> AsyncClient:
    """A client on real time whose stream reconnects at once (backoff 10-20 ms)."""
    return AsyncClient(url, TOKEN, allow_insecure_http=True, backoff=QUICK)


async def collect(client: AsyncClient, orders: Any, **kwargs: Any) -> list[Order]:
    seen: list[Order] = []
    with anyio.fail_after(LIMIT):
        async for order in client.watch_orders(orders, **kwargs):
            seen.append(order)
    return seen


async def test_250_orders_cost_three_list_requests_a_poll_and_no_get(
    api: respx.MockRouter,
) -> None:
    server = FakeServer(list(range(250)), rounds=2)
    serve(api, server)
    async with await virtual_client() as client:
        start = client._timer.current_time()
        seen = await collect(client, [placed(n) for n in range(250)], stream=False)
        took = client._timer.current_time() - start
    # Two polls, a second apart: each asks for 100, 100 and 50 orders by custom_order_id.
    assert [len(chunk) for chunk in server.lists] == [100, 100, 50] * 2
    assert server.gets == []
    assert took == pytest.approx(1.0)
    # Every order: its snapshot now, then once more when it ended; then the watch ends.
    assert len(seen) == 500
    last = {o.id: o for o in seen}
    assert len(last) == 250
    assert all(o.status == OrderStatus.COMPLETE for o in last.values())


async def test_ids_alone_cost_one_get_each_once_then_list_requests(
    api: respx.MockRouter,
) -> None:
    server = FakeServer(list(range(5)), rounds=3)
    serve(api, server)
    ids = [order_json(n)["id"] for n in range(5)]
    async with await virtual_client() as client:
        seen = await collect(client, ids, stream=False)
    assert sorted(server.gets) == sorted(ids)  # learning each custom_order_id
    assert [len(chunk) for chunk in server.lists] == [5, 5]
    assert [o.status for o in seen[-5:]] == [OrderStatus.COMPLETE] * 5
    assert len(seen) == 15  # three different states each


async def test_a_timeout_names_the_orders_still_open(api: respx.MockRouter) -> None:
    server = FakeServer(list(range(12)), rounds=1000)
    serve(api, server)
    async with await virtual_client() as client:
        with pytest.raises(WaitTimeoutError) as caught:
            await collect(client, [placed(n) for n in range(12)], timeout=5, stream=False)
    error = caught.value
    assert len(error.still_open) == 12
    assert error.still_open[placed(0).id or ""] is not None
    assert "12 orders are still open after 5.0 s" in str(error)
    assert "and 2 more" in str(error)  # ten named, not a wall of ids


async def test_a_poll_that_fails_for_a_passing_reason_does_not_end_the_watch(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    server = FakeServer([1, 2], rounds=2)
    answers = iter([httpx.Response(503, json={"detail": "busy"})] * 3)
    api.get("orders/").mock(side_effect=lambda request: next(answers, None) or server.list(request))
    async with await virtual_client(max_retries=0) as client:
        with caplog.at_level(logging.WARNING, logger="taas_async"):
            seen = await collect(client, [placed(1), placed(2)], stream=False)
    assert [o.status for o in seen[-2:]] == [OrderStatus.COMPLETE] * 2
    assert caplog.text.count("a poll failed") == 3


async def test_an_order_that_does_not_exist_ends_the_watch(api: respx.MockRouter) -> None:
    serve(api, FakeServer([1]))
    async with await virtual_client() as client:
        with pytest.raises(NotFoundError):
            await collect(client, ["00000000-0000-4000-8000-999999999999"], stream=False)


async def test_bad_input_is_refused_before_anything_is_sent(api: respx.MockRouter) -> None:
    async with await virtual_client() as client:
        with pytest.raises(RequestValidationError) as caught:
            await collect(client, [placed(1), "ok", ".."], stream=False)
        assert "[2]" in str(caught.value)
        with pytest.raises(RequestValidationError, match="stream"):
            await collect(client, ["abc"], stream="yes")
        with pytest.raises(RequestValidationError, match="poll_interval"):
            await collect(client, ["abc"], poll_interval=0, stream=False)
        assert await collect(client, [], stream=False) == []
    assert not api.calls


# --------------------------------------------------------------------------- on the stream


def ws_update(n: int, update_type: str, status: str, executed: str) -> str:
    return ws_message(order_json(n, status, executed), update_type)


def ws_message(order: dict[str, Any], update_type: str = "order_fill_received") -> str:
    """A stream message carrying ``order``."""
    return json.dumps(
        {
            "type": "order_update",
            "data": {"order_id": order["id"], "update_type": update_type, "order": order},
        }
    )


@pytest.mark.parametrize("second", ["an acknowledgement", "an older state"])
async def test_the_timeout_holds_when_messages_read_at_once_bring_no_update(
    anyio_backend: str, second: str
) -> None:
    """Two messages in one read, neither news for the watch: the timeout still ends it.

    An update for another order, then one that yields nothing (a message of
    another type, or an update older than the state already seen): the
    stream then waits on the socket, and the watch's deadline must bound
    that wait too.
    """
    asked = threading.Event()

    async def handler(conn: Conn, index: int) -> None:
        await conn.receive()  # authenticate
        await conn.receive()  # subscribe
        assert await asyncio.to_thread(asked.wait, 5)  # the watch has the state over REST
        await asyncio.sleep(0.2)
        if second == "an older state":
            newer = {**order_json(1, "ACTIVE", "2"), "updated_at": "2030-01-01T00:00:00Z"}
            update = {"order_id": newer["id"], "update_type": "order_fill_received"}
            await conn.send(
                json.dumps({"type": "order_update", "data": {**update, "order": newer}})
            )
            await asyncio.sleep(0.2)
            older = {**order_json(1, "ACTIVE", "0"), "updated_at": "2000-01-01T00:00:00Z"}
            text = json.dumps({"type": "order_update", "data": {**update, "order": older}})
        else:
            text = json.dumps({"type": "subscribed"})
        other = ws_update(99, "order_fill_received", "ACTIVE", "1")
        conn.writer.write(conn.ws.send(Message(data=other)) + conn.ws.send(Message(data=text)))
        await conn.writer.drain()
        await conn.drain_forever()

    def answer(request: httpx.Request) -> httpx.Response:
        asked.set()
        if request.url.path.endswith("/api/orders/"):
            return httpx.Response(200, json={"orders": [order_json(1)], "count": 1, "num_pages": 1})
        return httpx.Response(200, json=order_json(1))

    with WSServer(handler) as ws, respx.mock(using="httpx", assert_all_called=False) as mock:
        mock.get(url__regex=r"/api/orders?/").mock(side_effect=answer)
        async with AsyncClient(ws.url, TOKEN, allow_insecure_http=True) as client:
            watched = Order(id=order_json(1)["id"], custom_order_id="mine-1")
            with anyio.fail_after(LIMIT):  # a real-time guard: the watch must end by itself
                with pytest.raises(WaitTimeoutError):
                    async for _ in client.watch_orders([watched], timeout=1.0, stream=True):
                        pass


async def test_on_the_stream_one_connection_follows_them_all() -> None:
    api_calls: list[str] = []
    asked = threading.Event()  # set from the test's thread, awaited in the server's

    async def handler(conn: Conn, index: int) -> None:
        await conn.receive()  # authenticate
        await conn.receive()  # subscribe
        # Wait until the client has asked for the state now (REST), then stream.
        assert await asyncio.to_thread(asked.wait, LIMIT)
        for n in range(3):
            await conn.send(ws_update(n, "order_fill_received", "ACTIVE", "2"))
        await conn.send(ws_update(99, "order_completed", "COMPLETE", "1"))  # not ours
        for n in range(3):
            await conn.send(ws_update(n, "order_completed", "COMPLETE", "5"))
        await conn.drain_forever()

    with WSServer(handler) as ws, respx.mock(using="httpx", assert_all_called=False) as api:

        def listing(request: httpx.Request) -> httpx.Response:
            api_calls.append(str(request.url))
            asked.set()
            orders = [order_json(n, "ACTIVE", "1") for n in range(3)]
            return httpx.Response(200, json={"orders": orders, "count": 3, "num_pages": 1})

        api.get(f"{ws.url}/api/orders/").mock(side_effect=listing)
        async with AsyncClient(ws.url, TOKEN, allow_insecure_http=True) as client:
            # Ids and custom ids, no snapshots: the state is asked for first.
            orders = [Order(id=placed(n).id, custom_order_id=f"mine-{n}") for n in range(3)]
            seen = await collect(client, orders)
    assert len(api_calls) == 1  # one list request: the state when the watch began
    assert [(o.status, str(o.executed_qty)) for o in seen] == [
        *[(OrderStatus.ACTIVE, "1")] * 3,
        *[(OrderStatus.ACTIVE, "2")] * 3,
        *[(OrderStatus.COMPLETE, "5")] * 3,
    ]
    assert len(ws.connections) == 1


async def test_a_server_without_a_stream_is_polled(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(conn: Conn, index: int) -> None:
        raise AssertionError("refused: no handler runs")

    server = FakeServer([1, 2], rounds=2)
    with (
        WSServer(handler, refuse=404) as ws,
        respx.mock(using="httpx", assert_all_called=False) as api,
    ):
        api.get(f"{ws.url}/api/orders/").mock(side_effect=server.list)
        async with await virtual_client(ws.url, allow_insecure_http=True) as client:
            with caplog.at_level(logging.INFO, logger="taas_async"):
                seen = await collect(client, [placed(1), placed(2)])
            with pytest.raises(StreamUnavailableError):
                await collect(client, [placed(1)], stream=True)  # True: the stream or an error
    assert [o.status for o in seen[-2:]] == [OrderStatus.COMPLETE] * 2
    assert "no order stream" in caplog.text
    assert len(server.lists) == 2


async def test_an_id_in_another_spelling_is_the_same_order(api: respx.MockRouter) -> None:
    server = FakeServer([7], rounds=2)
    serve(api, server)
    lower = order_json(7)["id"]
    async with await virtual_client() as client:
        seen = await collect(client, [lower.upper(), uuid.UUID(lower), lower], stream=False)
        final = await client.wait_for_order(lower.upper(), timeout=5)
    assert [o.status for o in seen] == [OrderStatus.ACTIVE, OrderStatus.COMPLETE]  # one order
    assert final.status == OrderStatus.COMPLETE
    assert set(server.gets) == {lower}


def test_ids_are_compared_in_one_spelling_and_the_kept_spellings_stay_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_wire, "_CANONICAL", {})
    monkeypatch.setattr(_wire, "_MAX_CANONICAL", 4)
    lower = order_json(7)["id"]
    for _ in range(2):  # asked again: the kept answer, the same
        assert _wire.canonical_id(lower.upper()) == lower
        assert _wire.canonical_id(uuid.UUID(lower)) == lower
        assert _wire.canonical_id("not-a-uuid") == "not-a-uuid"
    assert _wire.canonical_id(lower) is _wire.canonical_id(lower)  # one string kept
    for i in range(10):
        assert _wire.canonical_id(f"X-{i}") == f"X-{i}"
        assert len(_wire._CANONICAL) <= 4
    assert _wire.canonical_id(lower.upper()) == lower  # emptied, then asked again
    long_id = "y" * 65
    assert _wire.canonical_id(long_id) == long_id
    assert long_id not in _wire._CANONICAL  # longer than any id: not kept


async def test_a_list_that_ignores_the_filter_is_not_paged_through(api: respx.MockRouter) -> None:
    server = FakeServer(list(range(5)), rounds=2)
    others = [order_json(n) for n in range(100, 150)]  # the user's other orders

    def unfiltered(request: httpx.Request) -> httpx.Response:
        server.lists.append([])
        return httpx.Response(200, json={"orders": others, "count": 5_000, "num_pages": 100})

    api.get("orders/").mock(side_effect=unfiltered)
    api.get(url__regex=r"/api/order/[^/]+$").mock(side_effect=server.get)
    async with await virtual_client() as client:
        seen = await collect(client, [placed(n) for n in range(5)], stream=False)
    assert len(server.lists) == 2  # one page a round, then GETs
    assert len(server.gets) == 10
    assert {o.status for o in seen[-5:]} == {OrderStatus.COMPLETE}


async def test_long_custom_ids_go_fewer_to_a_list_request(api: respx.MockRouter) -> None:
    server = FakeServer(list(range(100)), rounds=1)
    server.by_custom = {f"{'x' * 58}-{n:05d}": n for n in range(100)}  # 64 characters each
    api.get("orders/").mock(side_effect=lambda request: _long_ids(server, request))
    orders = [
        Order(id=order_json(n)["id"], custom_order_id=f"{'x' * 58}-{n:05d}") for n in range(100)
    ]
    async with await virtual_client() as client:
        await collect(client, orders, stream=False)
    assert [len(chunk) for chunk in server.lists] == [62, 38]
    assert all(len(",".join(chunk)) < 4_300 for chunk in server.lists)


def _long_ids(server: FakeServer, request: httpx.Request) -> httpx.Response:
    customs = request.url.params["custom_order_ids"].split(",")
    server.lists.append(customs)
    orders = [
        {**server.state(server.by_custom[c]), "custom_order_id": c}
        for c in customs
        if c in server.by_custom
    ]
    return httpx.Response(200, json={"orders": orders, "count": len(orders), "num_pages": 1})


async def test_an_upgrade_refused_with_401_means_polling_unless_the_stream_is_required() -> None:
    async def handler(conn: Conn, index: int) -> None:
        raise AssertionError("refused: no handler runs")

    server = FakeServer([1], rounds=2)
    with (
        WSServer(handler, refuse=401) as ws,
        respx.mock(using="httpx", assert_all_called=False) as api,
    ):
        api.get(url__regex=r"/api/order/[^/]+$").mock(side_effect=server.get)
        async with await virtual_client(ws.url, allow_insecure_http=True) as client:
            seen = await collect(client, [order_json(1)["id"]])
            with pytest.raises(AuthenticationError):
                await collect(client, [order_json(1)["id"]], stream=True)
    assert seen[-1].status == OrderStatus.COMPLETE


async def test_on_the_stream_a_bad_update_or_a_failed_round_does_not_end_the_watch(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing ever comes on this stream but a bad message: the rounds (the first one
    # failing once) carry the watch to its end. Rounds every 50 ms here, not 30 s.
    monkeypatch.setattr(_watching, "RECHECK", 0.05)

    async def handler(conn: Conn, index: int) -> None:
        await conn.receive()
        await conn.receive()
        await conn.send('{"type": "order_update", "data": {"order_id": 1}}')
        await conn.drain_forever()

    server = FakeServer([1, 2], rounds=3)
    answers = iter([httpx.Response(502, json={"detail": "bad gateway"})])
    with WSServer(handler) as ws, respx.mock(using="httpx", assert_all_called=False) as api:
        api.get(f"{ws.url}/api/orders/").mock(
            side_effect=lambda request: next(answers, None) or server.list(request)
        )
        async with AsyncClient(
            ws.url, TOKEN, allow_insecure_http=True, max_retries=0, backoff=Backoff(initial=0.01)
        ) as client:
            with caplog.at_level(logging.WARNING, logger="taas_async"):
                seen = await collect(
                    client, [placed(1), placed(2)], stream=True, poll_interval=0.01
                )
    assert {o.status for o in seen[-2:]} == {OrderStatus.COMPLETE}
    assert "a poll failed" in caplog.text
    assert "from the order stream" in caplog.text
    assert len(ws.connections) == 1  # the stream stayed up throughout


async def test_orders_given_with_their_snapshots_are_followed_on_the_stream_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # From place_orders: the snapshots first, the stream read at once, and the REST
    # check only a moment later (what changed before the subscription took effect).
    monkeypatch.setattr(_watching, "FIRST_CHECK", 0.2)
    api_calls: list[str] = []
    yielded_before_rest: list[str] = []

    async def handler(conn: Conn, index: int) -> None:
        await conn.receive()
        await conn.receive()
        await conn.send(ws_update(0, "order_fill_received", "ACTIVE", "2"))
        await conn.send(ws_update(1, "order_completed", "COMPLETE", "5"))
        await conn.drain_forever()

    with WSServer(handler) as ws, respx.mock(using="httpx", assert_all_called=False) as api:

        def get(request: httpx.Request) -> httpx.Response:
            api_calls.append(str(request.url))
            return httpx.Response(200, json=order_json(0, "COMPLETE", "5"))

        api.get(url__regex=r"/api/order/[^/]+$").mock(side_effect=get)
        async with AsyncClient(ws.url, TOKEN, allow_insecure_http=True) as client:
            seen: list[Order] = []
            with anyio.fail_after(LIMIT):
                async for order in client.watch_orders([placed(0), placed(1)]):
                    seen.append(order)
                    if not api_calls:
                        yielded_before_rest.append(str(order.executed_qty))
    assert [(o.status, o.executed_qty) for o in seen[:2]] == [(OrderStatus.ACTIVE, None)] * 2
    assert yielded_before_rest == ["None", "None", "2", "5"]  # the stream, before any REST
    assert api_calls == [f"{ws.url}/api/order/{placed(0).id}"]  # then the check: order 0 ended
    assert {o.id: o.status for o in seen} == {
        placed(0).id: OrderStatus.COMPLETE,
        placed(1).id: OrderStatus.COMPLETE,
    }


async def test_after_a_drop_an_order_seen_but_not_watched_is_not_fetched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The stream brings the whole account's orders. The watch's stream resynced every
    # one it had seen (a GET each, here a 404 logged); it fetches the watched ones only.
    other = order_json(77)  # seen on the stream, not watched; gone by the resync
    asked: list[str] = []

    async def handler(conn: Conn, index: int) -> None:
        await conn.receive()
        await conn.receive()
        if index == 0:
            await conn.send(
                json.dumps(
                    {
                        "type": "order_update",
                        "data": {
                            "order_id": other["id"],
                            "update_type": "order_activated",
                            "order": other,
                        },
                    }
                )
            )
            await conn.send(ws_update(1, "order_fill_received", "ACTIVE", "2"))
            conn.abort()
            return
        await conn.drain_forever()

    server = FakeServer([1], rounds=2)  # the watched order: ACTIVE, then COMPLETE

    def listing(request: httpx.Request) -> httpx.Response:  # the resync: 77 is gone
        orders = [order_json(1, "COMPLETE", "5")]
        return httpx.Response(200, json={"orders": orders, "count": 1, "num_pages": 1})

    def get(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path.endswith(other["id"]):
            return httpx.Response(404, json={"detail": "Not found."})
        return server.get(request)

    with WSServer(handler) as ws, respx.mock(using="httpx", assert_all_called=False) as api:
        api.get(url__regex=r"/api/order/[^/]+$").mock(side_effect=get)
        api.get(f"{ws.url}/api/orders/").mock(side_effect=listing)
        async with quick_client(ws.url) as client:
            with caplog.at_level(logging.WARNING, logger="taas_async"):
                seen = await collect(client, [order_json(1)["id"]], stream=True)
    assert seen[-1].status == OrderStatus.COMPLETE
    assert not [path for path in asked if path.endswith(other["id"])]
    assert "from the order stream" not in caplog.text  # no error about it to log


async def watch_to_the_timeout(url: str, timeout: float) -> list[str]:
    """Watch order 1, which never ends, on the stream at ``url`` (polls of 0.2 s) until
    ``timeout``; the paths of the REST requests it made."""
    rounds: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        rounds.append(request.url.path)
        if request.url.path.endswith("/api/orders/"):
            return httpx.Response(200, json={"orders": [order_json(1)], "count": 1, "num_pages": 1})
        return httpx.Response(200, json=order_json(1))

    with respx.mock(using="httpx", assert_all_called=False) as api:
        api.get(url__regex=rf"^{url}/api/orders?/.*").mock(side_effect=reply)
        async with quick_client(url) as client:
            with pytest.raises(WaitTimeoutError):
                await collect(client, [placed(1)], poll_interval=0.2, timeout=timeout, stream=True)
    return rounds


async def test_a_reconnect_slower_than_the_poll_is_not_cut_short() -> None:
    # Down, the stream was read in slices of poll_interval; a connection taking longer
    # (a server slow to accept after a restart) was cut every time and opened again,
    # for ever: 14 connections in 4 s, and the stream never came back.
    async def handler(conn: Conn, index: int) -> None:
        await conn.receive()
        await conn.receive()
        if index == 0:
            conn.abort()  # a restart
            return
        await conn.drain_forever()

    with WSServer(handler, slow=lambda index: 0.0 if index == 0 else 0.5) as ws:
        await watch_to_the_timeout(ws.url, 1.5)
    assert 2 <= len(ws.connections) <= 3  # back on its second try at the most
    assert len(ws.connections[-1].received) >= 2  # and subscribed there


async def test_a_stream_refused_for_good_on_reconnecting_means_polling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A proxy refusing the reconnect (its 4xx: credentials rotated) closes the stream for
    # good; the watch read it again and died in "RuntimeError: async generator raised
    # StopAsyncIteration".
    opened = OrderStream._open
    tries: list[int] = []

    async def through_a_proxy(stream: OrderStream) -> Any:
        tries.append(1)
        if len(tries) > 1:
            raise ProxyError(
                "the proxy answered CONNECT with 407",
                method="GET",
                url=stream.url,
                proxy_url="http://proxy.invalid:3128",
                proxy_status=407,
            )
        return await opened(stream)

    monkeypatch.setattr(OrderStream, "_open", through_a_proxy)

    async def handler(conn: Conn, index: int) -> None:
        await conn.receive()
        await conn.receive()
        conn.abort()

    with WSServer(handler) as ws:
        rounds = await watch_to_the_timeout(ws.url, 1)
    assert len(tries) == 2  # refused once: not asked again
    assert len(rounds) >= 3  # polled to the end, every 0.2 s once the stream was gone


async def test_after_a_reconnect_the_watch_goes_back_to_its_rest_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A reconnect made in a read bounded only by the deadline (its attempt was due) went
    # on reading the connected stream to the deadline when the resync brought nothing
    # new (an older REST state, skipped): no REST check came, and an end the stream
    # missed was missed. The stream now says when it is up again.
    monkeypatch.setattr(_watching, "RECHECK", 1.0)
    newer = {**order_json(1), "updated_at": "2030-01-01T00:00:00Z"}
    lagging = {**order_json(1), "updated_at": "2020-01-01T00:00:00Z"}
    ended = {**order_json(1, "COMPLETE", "5"), "updated_at": "2031-01-01T00:00:00Z"}
    subscribed_again = threading.Event()

    async def handler(conn: Conn, index: int) -> None:
        await conn.receive()
        await conn.receive()
        if index == 0:
            await conn.send(ws_message(newer))
            await asyncio.sleep(0.1)
            conn.abort()
            return
        subscribed_again.set()
        await conn.drain_forever()  # the end never comes on the stream

    calls_after: list[int] = []

    def reply(request: httpx.Request) -> httpx.Response:
        time.sleep(0.25)  # slow REST: a round overlaps the end of the reconnect's backoff
        if subscribed_again.is_set():
            calls_after.append(1)
        return httpx.Response(200, json=lagging if len(calls_after) <= 1 else ended)

    with WSServer(handler) as ws, respx.mock(using="httpx", assert_all_called=False) as api:
        api.get(url__regex=rf"^{ws.url}/api/orders?/.*").mock(side_effect=reply)
        slow = Backoff(initial=0.3, maximum=0.3, jitter=False)
        async with AsyncClient(ws.url, TOKEN, allow_insecure_http=True, backoff=slow) as client:
            seen = await collect(client, [placed(1)], poll_interval=0.2, timeout=6, stream=True)
    assert seen[-1].status == OrderStatus.COMPLETE
    assert len(calls_after) >= 2  # the resync, then a REST check that found the end
