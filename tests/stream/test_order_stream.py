"""The order stream's client side against a scripted WebSocket server on 127.0.0.1.

The server (tests/wsserver.py) plays the TaaS order stream as documented
(API-FACTS §5): it checks what the client sends, sends updates, closes with
4001, breaks the connection, goes silent. REST calls (a resync) go to respx.
The client runs on the event loop's clock with keep-alives every 50 ms
(over a real socket a virtual clock would run ahead of the bytes; the
sandbox's tests cover the 8 s rounds on its jumping clock). Every test runs
on asyncio, trio and uvloop.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest
import respx
from conftest import TOKEN, load_json
from proxyserver import TinyProxy, needs_tinyproxy
from wsserver import GARBAGE, Conn, WSServer

from taas_async import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    Backoff,
    MultiOrder,
    NotFoundError,
    Order,
    OrderStream,
    OrderUpdate,
    OrderUpdateType,
    ProxyError,
    ResponseDecodeError,
    StreamUnavailableError,
)

pytestmark = pytest.mark.anyio

ORDER = load_json("seed_order.json")
ORDER_ID = ORDER["id"]
#: Real seconds any one test may take (the virtual clock makes the rest free).
LIMIT = 10


def update(update_type: str, order: dict[str, Any] | None = None, **data: Any) -> str:
    body: dict[str, Any] = {"order_id": ORDER_ID, "update_type": update_type, **data}
    if order is not None:
        body["order"] = order
    return json.dumps({"type": "order_update", "data": body})


def at(status: str, executed: str, when: str) -> dict[str, Any]:
    return {**ORDER, "status": status, "executed_qty": executed, "updated_at": when}


async def subscribed(conn: Conn) -> list[dict[str, Any]]:
    """The client's first two messages: authenticate, then subscribe."""
    return [json.loads(await conn.receive()), json.loads(await conn.receive())]


def serve(handler: Any, **kwargs: Any) -> Iterator[WSServer]:
    with WSServer(handler, **kwargs) as server:
        yield server
    assert not server.errors, server.errors


#: Seconds between keep-alives in these tests.
BEAT = 0.05


#: The backoff of these tests' clients: reconnects come at once.
QUICK = Backoff(initial=0.01, maximum=0.02)


async def client_for(server: WSServer, backoff: Backoff = QUICK) -> AsyncClient:
    return AsyncClient(server.url + "/prefix", TOKEN, allow_insecure_http=True, backoff=backoff)


@pytest.fixture
def rest() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True, using="httpx") as router:
        yield router


async def read(
    handler: Any, n: int, **serve_kwargs: Any
) -> tuple[list[OrderUpdate], WSServer, OrderStream]:
    """The first ``n`` updates a stream reads from a server running ``handler``."""
    for server in serve(handler, **serve_kwargs):
        async with (
            await client_for(server) as client,
            client.order_stream(keepalive=BEAT) as stream,
        ):
            got = await first(stream, n)
    return got, server, stream


async def first(stream: AsyncIterator[OrderUpdate], n: int) -> list[OrderUpdate]:
    got: list[OrderUpdate] = []
    with anyio.fail_after(LIMIT):
        async for item in stream:
            got.append(item)
            if len(got) == n:
                break
    return got


async def test_it_authenticates_by_message_subscribes_and_types_every_update() -> None:
    multi = load_json("docs_multi_order.json")

    async def handler(conn: Conn, index: int) -> None:
        hello = await subscribed(conn)
        assert hello == [
            {"command": "authenticate", "token": TOKEN},  # never in the URL
            {"command": "subscribe", "data_type": "user_orders"},
        ]
        assert conn.path == "/prefix/ws/orders/"
        await conn.send(update("order_created", at("SCHEDULED", "0", "2026-01-01T00:00:00Z")))
        await conn.send(update("order_fill_received", at("ACTIVE", "0.5", "2026-01-01T00:01Z")))
        await conn.send(update("order_completed"))  # no order in it
        await conn.send(update("order_celebrated", at("COMPLETE", "1", "2026-01-01T00:02Z")))
        await conn.send(update("order_created", multi, order_id=multi["id"]))
        await conn.drain_forever()

    for server in serve(handler):
        async with (
            await client_for(server) as client,
            client.order_stream(keepalive=BEAT) as stream,
        ):
            assert stream.url == f"ws://127.0.0.1:{server.port}/prefix/ws/orders/"
            got = await first(stream, 5)
    kinds = [u.update_type for u in got]
    assert kinds == [
        OrderUpdateType.ORDER_CREATED,
        OrderUpdateType.ORDER_FILL_RECEIVED,
        OrderUpdateType.ORDER_COMPLETED,
        "order_celebrated",  # an update type the SDK does not know stays a string
        OrderUpdateType.ORDER_CREATED,
    ]
    fill = got[1]
    assert isinstance(fill.order, Order)
    assert fill.order.executed_qty == Decimal("0.5")
    assert fill.order_id == ORDER_ID
    assert fill.raw["data"]["update_type"] == "order_fill_received"
    assert fill.received_at.tzinfo is not None
    assert got[2].order is None
    assert isinstance(got[4].order, MultiOrder)
    assert got[4].order_id == multi["id"]
    assert TOKEN not in repr(stream)


async def test_a_bad_token_close_4001_is_an_authentication_error() -> None:
    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        await conn.close(4001, "invalid token")

    for server in serve(handler):
        async with (
            await client_for(server) as client,
            client.order_stream(keepalive=BEAT) as stream,
        ):
            with anyio.fail_after(LIMIT), pytest.raises(AuthenticationError) as caught:
                await stream.__anext__()
    assert caught.value.status_code == 4001
    assert "4001" in str(caught.value)
    assert "invalid token" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert len(server.connections) == 1  # a refused token is not retried


@pytest.mark.parametrize(
    ("status", "error"), [(404, StreamUnavailableError), (401, AuthenticationError)]
)
async def test_a_refused_upgrade_says_so_on_entering(status: int, error: type[Exception]) -> None:
    async def handler(conn: Conn, index: int) -> None:
        raise AssertionError("refused connections run no handler")

    for server in serve(handler, refuse=status):
        async with await client_for(server) as client:
            with anyio.fail_after(LIMIT), pytest.raises(error) as caught:
                async with client.order_stream():
                    pass
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert "Not found" in caught.value.text  # type: ignore[attr-defined]


async def test_after_a_drop_it_reconnects_resubscribes_and_resyncs_open_orders(
    rest: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    other = "7f1c0b4e-0000-4000-8000-000000000001"
    done = "7f1c0b4e-0000-4000-8000-000000000002"

    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        if index == 0:
            await conn.send(update("order_activated", at("ACTIVE", "0", "2026-01-01T00:00:01Z")))
            await conn.send(
                update(
                    "order_completed", {**ORDER, "id": done, "status": "COMPLETE"}, order_id=done
                )
            )
            conn.abort()  # no close frame: the connection just breaks
            return
        # The second connection: the client resynced over REST before reading this.
        await conn.send(update("order_completed", at("COMPLETE", "5", "2026-01-01T00:05Z")))
        await conn.drain_forever()

    for server in serve(handler):
        async with await client_for(server) as client:
            rest.get(f"{server.url}/prefix/api/order/{ORDER_ID}").respond(
                json=at("ACTIVE", "2.5", "2026-01-01T00:03Z")
            )
            rest.get(f"{server.url}/prefix/api/order/{other}").respond(
                json={**ORDER, "id": other, "status": "COMPLETE", "executed_qty": "1"}
            )
            async with client.order_stream(keepalive=BEAT) as stream:
                stream.follow([other])  # asked for, never seen on the stream
                with caplog.at_level(logging.WARNING, logger="taas_async"):
                    got = await first(stream, 5)
                assert stream.reconnects == 1
    assert [(u.update_type, u.order_id) for u in got[:2]] == [
        (OrderUpdateType.ORDER_ACTIVATED, ORDER_ID),
        (OrderUpdateType.ORDER_COMPLETED, done),
    ]
    # After the gap: the open orders as REST has them (the one that ended is not asked for).
    resynced = {u.order_id: u for u in got[2:4]}
    assert {u.update_type for u in got[2:4]} == {OrderUpdateType.RESYNC}
    assert set(resynced) == {ORDER_ID, other}
    assert resynced[ORDER_ID].order is not None
    assert resynced[ORDER_ID].order.executed_qty == Decimal("2.5")
    assert resynced[other].is_terminal
    assert (got[4].update_type, got[4].order_id) == (OrderUpdateType.ORDER_COMPLETED, ORDER_ID)
    assert {r.request.url.path for r in rest.calls} == {
        f"/prefix/api/order/{ORDER_ID}",
        f"/prefix/api/order/{other}",
    }
    second = server.connections[1].received
    assert [json.loads(m)["command"] for m in second[:2]] == ["authenticate", "subscribe"]
    assert "reconnecting" in caplog.text
    assert TOKEN not in caplog.text


async def test_keep_alives_go_out_on_the_clients_clock_while_it_waits() -> None:
    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        keep_alives = 0
        while keep_alives < 5:
            assert json.loads(await conn.receive()) == {"command": "keep_alive"}
            keep_alives += 1
        await conn.send(update("order_paused", at("PAUSED", "0", "2026-01-01T00:00Z")))
        await conn.drain_forever()

    for server in serve(handler):
        async with (
            await client_for(server) as client,
            client.order_stream(keepalive=BEAT) as stream,
        ):
            start = client._timer.current_time()
            [paused] = await first(stream, 1)
            waited = client._timer.current_time() - start
    assert paused.update_type == OrderUpdateType.ORDER_PAUSED
    assert waited >= 5 * BEAT
    # A ping with each (the server reads the last one after the keep-alive):
    # the pongs are what prove a quiet peer alive.
    assert server.connections[0].pings >= 4
    assert len(server.connections) == 1


async def silent_then_canceled(conn: Conn, index: int) -> None:
    """The first connection goes silent (a dead peer); the next one brings an update."""
    await subscribed(conn)
    if index == 0:
        conn.silent = True  # reads, but answers no ping and sends nothing: a dead peer
        await conn.drain_forever()
        return
    await conn.send(update("order_canceled", at("CANCELED", "0", "2026-01-01T00:09Z")))
    await conn.drain_forever()


async def test_a_silent_connection_is_replaced(rest: respx.MockRouter) -> None:
    [canceled], server, stream = await read(silent_then_canceled, 1)
    assert stream.reconnects == 1
    assert canceled.update_type == OrderUpdateType.ORDER_CANCELED
    first_connection = server.connections[0]
    # Keep-alives went out, and pings, none answered: then it was given up.
    assert first_connection.received.count('{"command": "keep_alive"}') >= 2
    assert first_connection.pings >= 2


def aborted_first(then: Callable[[Conn], Awaitable[None]]) -> Callable[[Conn, int], Any]:
    """A handler: the first connection broken after subscribing, ``then`` on the next ones."""

    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        if index == 0:
            conn.abort()
            return
        await then(conn)

    return handler


async def read_in_slices(stream: OrderStream, slice_s: float) -> OrderUpdate:
    """The next update, read as a caller checking a flag does: in short timed reads."""
    with anyio.fail_after(LIMIT):
        while True:
            with anyio.move_on_after(slice_s):
                return await stream.__anext__()


async def test_a_silent_connection_is_replaced_when_read_in_short_slices(
    rest: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    # Each read restarted the count of silence: a caller whose reads were shorter than
    # three keep-alive rounds stayed on a dead connection for ever.
    for server in serve(silent_then_canceled):
        async with (
            await client_for(server) as client,
            client.order_stream(keepalive=BEAT) as stream,
        ):
            with caplog.at_level(logging.WARNING, logger="taas_async"):
                canceled = await read_in_slices(stream, BEAT / 2)
    assert canceled.update_type == OrderUpdateType.ORDER_CANCELED
    assert stream.reconnects == 1
    assert "order stream silent for" in caplog.text  # given up as silent, nothing else


async def test_a_reconnect_waits_out_its_backoff_across_short_reads(
    rest: respx.MockRouter,
) -> None:
    # A read cut short during the backoff began the wait again, and counted one more
    # failure: reads shorter than the backoff never reconnected.
    async def canceled(conn: Conn) -> None:
        await conn.send(update("order_canceled", at("CANCELED", "0", "2026-01-01T00:09Z")))
        await conn.drain_forever()

    for server in serve(aborted_first(canceled)):
        slow = Backoff(initial=0.2, maximum=0.2, jitter=False)
        async with (
            await client_for(server, slow) as client,
            client.order_stream(keepalive=BEAT) as stream,
        ):
            update_read = await read_in_slices(stream, 0.05)
    assert update_read.update_type == OrderUpdateType.ORDER_CANCELED
    assert stream.reconnects == 1


@pytest.mark.parametrize("slice_s", [None, BEAT / 2], ids=["read-whole", "read-in-slices"])
async def test_a_connection_alive_a_keep_alive_round_starts_the_backoff_over(
    rest: respx.MockRouter, slice_s: float | None
) -> None:
    # Only an order update reset the count: on a quiet account a connection up for hours
    # still counted as a failure, and each later drop waited longer, up to the cap.
    async def quiet(conn: Conn) -> None:
        await conn.drain_forever()  # answers pings: alive, with nothing to say

    for server in serve(aborted_first(quiet)):
        async with (
            await client_for(server) as client,
            client.order_stream(keepalive=BEAT) as stream,
        ):
            with anyio.move_on_after(BEAT * 6):
                while True:  # each read whole, or cut short as a caller checking a flag
                    with anyio.move_on_after(slice_s):
                        await stream.__anext__()
            assert stream.reconnects == 1
            assert stream._failures == 0  # what the next backoff counts from


async def test_an_error_frame_does_not_start_the_backoff_over(rest: respx.MockRouter) -> None:
    # Any message reset the backoff: a server answering the subscription with an
    # error frame and closing was reconnected to at the first delay, for ever.
    opened: list[float] = []

    async def handler(conn: Conn, index: int) -> None:
        opened.append(time.monotonic())
        await subscribed(conn)
        if index < 5:
            await conn.send(json.dumps({"type": "error", "message": "try later"}))
            await conn.close(1011, "internal error")
            return
        await conn.send(update("order_canceled", at("CANCELED", "0", "2026-01-01T00:09Z")))
        await conn.drain_forever()

    for server in serve(handler):
        doubling = Backoff(initial=0.01, maximum=1.0, jitter=False)
        async with (
            await client_for(server, doubling) as client,
            client.order_stream(keepalive=BEAT) as stream,
        ):
            [canceled] = await first(stream, 1)
    assert canceled.update_type == OrderUpdateType.ORDER_CANCELED
    assert stream.reconnects == 5
    # Each reconnect waited twice the one before: 0.01, 0.02, 0.04, 0.08, 0.16 s.
    assert opened[5] - opened[4] >= 0.16
    assert opened[4] - opened[3] >= 0.08


async def test_a_bad_message_is_raised_with_its_text_and_the_stream_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        await conn.send("{not json")
        await conn.send(json.dumps({"type": "order_update", "data": {"update_type": "x"}}))
        await conn.send(update("order_activated", {**ORDER, "executed_qty": "lots"}))
        await conn.send(json.dumps({"type": "error", "message": "unknown command"}))
        await conn.send(update("order_activated", at("ACTIVE", "0", "2026-01-01T00:00Z")))
        await conn.drain_forever()

    errors: list[ResponseDecodeError] = []
    for server in serve(handler):
        async with (
            await client_for(server) as client,
            client.order_stream(keepalive=BEAT) as stream,
        ):
            with anyio.fail_after(LIMIT), caplog.at_level(logging.DEBUG, logger="taas_async"):
                while True:
                    try:
                        good = await stream.__anext__()
                        break
                    except ResponseDecodeError as exc:
                        errors.append(exc)
    assert [e.text for e in errors][:2] == [
        "{not json",
        '{"type": "order_update", "data": {"update_type": "x"}}',
    ]
    assert len(errors) == 3
    assert "executed_qty" in " ".join(errors[2].errors)
    assert good.update_type == OrderUpdateType.ORDER_ACTIVATED
    assert "unknown command" in caplog.text  # an error message from the server is logged


async def test_an_update_older_than_one_seen_is_skipped() -> None:
    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        await conn.send(update("order_fill_received", at("ACTIVE", "2", "2026-01-01T00:02Z")))
        await conn.send(update("order_fill_received", at("ACTIVE", "1", "2026-01-01T00:01Z")))
        await conn.send(update("order_completed", at("COMPLETE", "5", "2026-01-01T00:05Z")))
        await conn.drain_forever()

    got, _, _ = await read(handler, 2)
    assert [u.order.executed_qty for u in got if u.order] == [Decimal(2), Decimal(5)]


async def test_keepalive_must_be_positive() -> None:
    from taas_async import RequestValidationError

    async with AsyncClient("https://taas.test", TOKEN) as client:
        with pytest.raises(RequestValidationError, match="keepalive"):
            client.order_stream(keepalive=0)


@needs_tinyproxy
async def test_behind_a_proxy_the_stream_goes_through_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The proxy the environment sets is the stream's way out too: a CONNECT
    # tunnel (the proxy sees no more than the host and port), as https requests take.
    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        await conn.send(update("order_activated", at("ACTIVE", "0", "2026-01-01T00:00Z")))
        await conn.drain_forever()

    with TinyProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        for server in serve(handler):
            async with await client_for(server) as client, client.order_stream() as stream:
                [activated] = await first(stream, 1)
            port = httpx.URL(server.url).port
        assert proxy.requests == [f"CONNECT 127.0.0.1:{port}"]
    assert activated.update_type == OrderUpdateType.ORDER_ACTIVATED


@needs_tinyproxy
async def test_a_proxy_that_refuses_the_stream_is_a_proxy_error_asked_once() -> None:
    # Wrong credentials get the same answer every time (and may lock the account
    # out): no retries, no reconnect loop.
    async def handler(conn: Conn, index: int) -> None:
        await conn.drain_forever()

    with TinyProxy(auth=("desk", "right")) as proxy:
        for server in serve(handler):
            async with AsyncClient(
                server.url,
                TOKEN,
                allow_insecure_http=True,
                proxy=proxy.url_with("desk", "wrong"),
                backoff=Backoff(initial=0.01, maximum=0.02),
            ) as client:
                with anyio.fail_after(LIMIT), pytest.raises(ProxyError) as caught:
                    async with client.order_stream():
                        pass
        assert len(proxy.requests) == 1
    assert caught.value.proxy_status in (401, 407)
    assert "wrong" not in str(caught.value)


@needs_tinyproxy
async def test_a_proxy_that_refuses_the_reconnect_ends_the_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The proxy goes down under the stream, and comes back wanting other
    # credentials: one refusal ends the stream (no reconnect loop against it).
    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        await conn.send(update("order_activated", at("ACTIVE", "0", "2026-01-01T00:00Z")))
        await conn.drain_forever()

    for server in serve(handler):
        with TinyProxy(auth=("desk", "old")) as before:
            client = AsyncClient(
                server.url,
                TOKEN,
                allow_insecure_http=True,
                proxy=before.url_with("desk", "old"),
                backoff=Backoff(initial=0.01, maximum=0.02),
            )
            async with client, client.order_stream(keepalive=BEAT) as stream:
                [activated] = await first(stream, 1)
                before.stop()  # the tunnel goes with it
                with TinyProxy(auth=("desk", "new"), port=before.port) as after:
                    with anyio.fail_after(LIMIT), pytest.raises(ProxyError) as caught:
                        await first(stream, 1)
                    assert len(after.requests) == 1
    assert activated.update_type == OrderUpdateType.ORDER_ACTIVATED
    assert caught.value.proxy_status in (401, 407)


@pytest.mark.parametrize("setup", ["http_client(trust_env=False)", "transport=httpx's"])
async def test_where_requests_ignore_the_environment_the_stream_does_too(
    monkeypatch: pytest.MonkeyPatch, setup: str
) -> None:
    # Their requests go direct: so does the stream, not through HTTP_PROXY.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there

    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        await conn.send(update("order_activated", at("ACTIVE", "0", "2026-01-01T00:00Z")))
        await conn.drain_forever()

    for server in serve(handler):
        http = httpx.AsyncClient(trust_env=False)
        given: dict[str, Any] = {"http_client": http}
        if setup.startswith("transport"):  # httpx reads no proxy beside a transport
            given = {"transport": httpx.AsyncHTTPTransport()}
        async with (
            http,
            AsyncClient(server.url, TOKEN, allow_insecure_http=True, **given) as client,
            client.order_stream() as stream,
        ):
            [activated] = await first(stream, 1)
    assert activated.update_type == OrderUpdateType.ORDER_ACTIVATED


async def test_a_transport_with_httpx_proxy_is_not_gone_around() -> None:
    transport = httpx.AsyncHTTPTransport(proxy="http://u:secret@proxy.invalid:3128")
    async with AsyncClient("https://taas.test", TOKEN, transport=transport) as client:
        with pytest.raises(StreamUnavailableError, match="httpx's proxy") as caught:
            async with client.order_stream():
                pass
    assert "secret" not in str(caught.value)


async def test_an_http_client_with_proxies_is_not_gone_around() -> None:
    # httpx's own proxy mounts send requests where a connection of the stream's
    # own cannot follow: it says so (watch_orders then polls through them).
    async with (
        httpx.AsyncClient(proxy="http://proxy.invalid:3128") as http,
        AsyncClient("https://taas.test", TOKEN, http_client=http) as client,
    ):
        with pytest.raises(StreamUnavailableError, match=r"mounts \(proxies\); pass proxy="):
            async with client.order_stream():
                pass


async def test_a_transport_that_cannot_open_websockets_is_not_gone_around() -> None:
    # A test double or a wrapper sees every request: the stream does not
    # connect behind its back; it says so, and watch_orders polls through it.
    order = {**ORDER, "status": "COMPLETE"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=order))
    async with AsyncClient("https://taas.test", TOKEN, transport=transport) as client:
        with pytest.raises(StreamUnavailableError, match="MockTransport"):
            async with client.order_stream():
                pass
        with anyio.fail_after(LIMIT):
            seen = [o async for o in client.watch_orders([ORDER_ID])]
    assert [o.status for o in seen] == ["COMPLETE"]


async def test_an_end_older_than_a_state_seen_is_still_delivered() -> None:
    # Only an older state of a running order is skipped: an end, never.
    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        await conn.send(update("order_fill_received", at("ACTIVE", "2", "2026-01-01T00:02Z")))
        await conn.send(update("order_completed", at("COMPLETE", "5", "2026-01-01T00:01:59Z")))
        await conn.drain_forever()

    got, _, _ = await read(handler, 2)
    assert got[1].update_type == OrderUpdateType.ORDER_COMPLETED
    assert got[1].is_terminal


#: Another order's update: what a test reads last, to know the ones before it were read.
OTHER_ID = "7f1c0b4e-0000-4000-8000-00000000000b"
LAST = update(
    "order_activated", {**at("ACTIVE", "0", "2026-01-01T00:09Z"), "id": OTHER_ID}, order_id=OTHER_ID
)


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        pytest.param(
            [
                ("order_completed", "COMPLETE", "5", "00:02"),
                ("order_fill_received", "ACTIVE", "5", "00:02"),
            ],
            ["COMPLETE 5"],
            id="a-running-state-stamped-as-the-end",  # the sandbox stamps the last fill so
        ),
        pytest.param(
            [
                ("order_completed", "COMPLETE", "5", "00:02"),
                ("order_fill_received", "ACTIVE", "6", "00:03"),
            ],
            ["COMPLETE 5"],
            id="a-running-state-after-the-end",  # an end is final, whatever comes after
        ),
        pytest.param(
            [
                ("order_fill_received", "ACTIVE", "2", "00:02"),
                ("order_fill_received", "ACTIVE", "1", "00:02"),
            ],
            ["ACTIVE 2"],
            id="the-same-time-less-filled",
        ),
        pytest.param(
            [
                ("order_fill_received", "ACTIVE", "1", "00:02"),
                ("order_fill_received", "ACTIVE", "2", "00:02"),
            ],
            ["ACTIVE 1", "ACTIVE 2"],
            id="the-same-time-more-filled",  # control: news
        ),
        pytest.param(
            [
                ("order_completed", "COMPLETE", "5", "00:02"),
                ("order_completed", "COMPLETE", "5", "00:02"),
            ],
            ["COMPLETE 5", "COMPLETE 5"],
            id="an-end-twice",  # control: an end is never skipped
        ),
    ],
)
async def test_a_state_older_than_one_read_is_skipped(
    sent: list[tuple[str, str, str, str]], expected: list[str]
) -> None:
    # After a resync the REST reply (the order's end) can come before the updates that
    # waited on the socket: the last fill, stamped with the end's own time. It was
    # handed out after the end, so a caller keeping the latest state kept ACTIVE.
    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        for kind, status, executed, minute in sent:
            await conn.send(update(kind, at(status, executed, f"2026-01-01T{minute}Z")))
        await conn.send(LAST)
        await conn.drain_forever()

    got, _, _ = await read(handler, len(expected) + 1)
    assert [f"{u.order.status} {u.order.executed_qty}" for u in got[:-1]] == expected  # type: ignore[union-attr]
    assert got[-1].order_id == OTHER_ID


async def test_a_resync_survives_an_order_the_api_no_longer_shows(rest: respx.MockRouter) -> None:
    gone = "7f1c0b4e-0000-4000-8000-00000000000a"

    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        if index == 0:
            conn.abort()
            return
        await conn.drain_forever()

    for server in serve(handler):
        async with await client_for(server) as client:
            rest.get(f"{server.url}/prefix/api/order/{ORDER_ID}").respond(
                json=at("COMPLETE", "5", "2026-01-01T00:05Z")
            )
            rest.get(f"{server.url}/prefix/api/order/{gone}").respond(
                404, json={"detail": "Not found."}
            )
            async with client.order_stream(keepalive=BEAT) as stream:
                stream.follow([ORDER_ID, gone.upper()])  # any spelling of the id
                with anyio.fail_after(LIMIT):
                    with pytest.raises(NotFoundError):
                        await stream.__anext__()  # that order's error, once
                    resynced = await stream.__anext__()  # and the stream goes on
    assert (resynced.update_type, resynced.order_id) == (OrderUpdateType.RESYNC, ORDER_ID)
    assert resynced.is_terminal


async def test_a_busy_server_refusing_the_reconnect_is_tried_again(rest: respx.MockRouter) -> None:
    async def handler(conn: Conn, index: int) -> None:
        await subscribed(conn)
        if index == 0:
            conn.abort()
            return
        await conn.send(update("order_completed", at("COMPLETE", "5", "2026-01-01T00:05Z")))
        await conn.drain_forever()

    def refuse(index: int) -> int | None:
        return 503 if index in (1, 2) else None  # a deploy: refused twice, then back

    [done], server, stream = await read(handler, 1, refuse=refuse)
    assert stream.reconnects == 1
    assert done.update_type == OrderUpdateType.ORDER_COMPLETED
    assert len(server.connections) == 4


async def test_a_reply_that_is_not_a_websocket_handshake_is_a_connection_error() -> None:
    async def handler(conn: Conn, index: int) -> None:
        raise AssertionError("no handshake: no handler")

    for server in serve(handler, refuse=GARBAGE):
        async with AsyncClient(
            server.url, TOKEN, allow_insecure_http=True, max_retries=0
        ) as client:
            with anyio.fail_after(LIMIT), pytest.raises(APIConnectionError, match="handshake"):
                async with client.order_stream():
                    pass
