"""Real sockets on 127.0.0.1: timeouts, connection failures, connection reuse, the path prefix.

A :class:`FaultServer` (its own thread and event loop) stands in for TaaS,
answering from a small app that records each request's headers; each test
plans how it misbehaves. Every test runs on asyncio, trio and uvloop; every
wait is bounded; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import attrs
import httpx
import pytest
from conftest import TOKEN, load
from faultserver import Fault, FaultServer, Message, Scope, refused_url

from taas_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    NotFoundError,
    Order,
)

pytestmark = pytest.mark.anyio

LIMIT = 10.0  # seconds: the bound on every wait in this file
ORDER = load("seed_order.json").encode()


@attrs.define
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@attrs.define
class RecordingApp:
    """200 with ``body`` (the seed order) to every request, recording what came in."""

    body: bytes = ORDER
    seen: list[Seen] = attrs.field(factory=list)

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope["query_string"].decode("latin-1")
        target = scope["raw_path"].decode("latin-1") + ("?" + query if query else "")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append(Seen(scope["method"], target, headers, body))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


@pytest.fixture
def app() -> RecordingApp:
    return RecordingApp()


@pytest.fixture
def server(app: RecordingApp) -> Iterator[FaultServer]:
    with FaultServer(app=app) as running:
        yield running
        assert running.errors == []


def url_of(server: FaultServer) -> str:
    return server.url + "prefix"


async def _until(predicate: Callable[[], bool], timeout: float = LIMIT) -> None:
    """Poll ``predicate`` (state of the server's thread: no event to wait on)."""
    with anyio.fail_after(timeout):
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.01)


# --------------------------------------------------------------------------- basics


async def test_prefix_and_headers_reach_the_server(server: FaultServer, app: RecordingApp) -> None:
    async with AsyncClient(url_of(server), TOKEN, extra_headers={"X-Team": "quant"}) as client:
        with anyio.fail_after(LIMIT):
            order = await client.get_order("abc")
    assert isinstance(order, Order)
    assert order.id == "d3ca321a-d25c-4cee-8a0f-3f74d239c90d"
    [seen] = app.seen
    assert seen.method == "GET"
    assert seen.target == "/prefix/api/order/abc"
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["authorization"] == f"Token {TOKEN}"
    assert seen.headers["user-agent"].startswith("taas-async/")
    assert seen.headers["x-team"] == "quant"
    assert seen.headers["accept"] == "application/json"


async def test_ids_cannot_change_the_path_on_the_wire(
    server: FaultServer, app: RecordingApp
) -> None:
    async with AsyncClient(url_of(server), TOKEN) as client:
        for order_id in ("a/b", "../../admin", "x?y=1#frag", "50%", "ä b"):
            with anyio.fail_after(LIMIT):
                await client.get_order(order_id)
    targets = [s.target for s in app.seen]
    assert targets == [
        "/prefix/api/order/a%2Fb",
        "/prefix/api/order/..%2F..%2Fadmin",
        "/prefix/api/order/x%3Fy%3D1%23frag",
        "/prefix/api/order/50%25",
        "/prefix/api/order/%C3%A4%20b",
    ]


async def test_query_and_body_reach_the_server(server: FaultServer, app: RecordingApp) -> None:
    app.body = b'{"message": "ok"}'
    async with AsyncClient(url_of(server), TOKEN) as client:
        with anyio.fail_after(LIMIT):
            await client.request("GET", "api/balances/", params={"a": ["x", "y"]})
            await client.pause_order("abc")
    get, post = app.seen
    url = urlsplit(get.target)
    assert url.path == "/prefix/api/balances/"
    assert parse_qs(url.query) == {"a": ["x,y"]}
    assert post.method == "POST"
    assert post.target == "/prefix/api/pause_order/"
    assert post.headers["content-type"] == "application/json"
    assert post.body == b'{"order_id":"abc"}'


# --------------------------------------------------------------------------- connection reuse


async def test_sequential_requests_reuse_one_connection(server: FaultServer) -> None:
    async with AsyncClient(url_of(server), TOKEN) as client:
        for _ in range(20):
            with anyio.fail_after(LIMIT):
                await client.get_order("abc")
        assert server.connections_accepted == 1
        assert server.open_connections == 1
    assert len(server.requests) == 20
    # aclose() really closes the pool: the server sees the connection end.
    await _until(lambda: server.open_connections == 0)


async def test_error_replies_keep_the_connection(server: FaultServer) -> None:
    not_found = Fault("status", status=404, body='{"detail": "Not found."}')
    server.plan(*[not_found] * 5)
    async with AsyncClient(url_of(server), TOKEN, max_retries=0) as client:
        for _ in range(5):
            with pytest.raises(NotFoundError), anyio.fail_after(LIMIT):
                await client.get_order("abc")
    assert server.connections_accepted == 1
    assert len(server.requests) == 5


async def test_concurrent_requests_are_bounded_by_limits(server: FaultServer) -> None:
    limits = httpx.Limits(max_connections=2)
    async with AsyncClient(url_of(server), TOKEN, limits=limits) as client:
        with anyio.fail_after(LIMIT):
            async with anyio.create_task_group() as group:
                for _ in range(12):
                    group.start_soon(client.get_order, "abc")
    assert len(server.requests) == 12
    assert 1 <= server.connections_accepted <= 2


async def test_injected_http_client_pool_is_used_and_left_open(server: FaultServer) -> None:
    async with httpx.AsyncClient() as http:
        async with AsyncClient(url_of(server), TOKEN, http_client=http) as client:
            for _ in range(3):
                with anyio.fail_after(LIMIT):
                    await client.get_order("abc")
        assert not http.is_closed
        assert server.open_connections == 1  # our aclose() left their pool alone
        with anyio.fail_after(LIMIT):
            response = await http.get(url_of(server) + "/api/order/abc")
        assert response.status_code == 200
    assert server.connections_accepted == 1
    await _until(lambda: server.open_connections == 0)


# --------------------------------------------------------------------------- timeouts


async def _expect_timeout(
    server: FaultServer, client: AsyncClient, **kwargs: Any
) -> APITimeoutError:
    server.plan(Fault("stall", seconds=LIMIT))
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info, anyio.fail_after(LIMIT):
        await client.get_order("abc", **kwargs)
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 10.0, elapsed  # generous: shared machines are noisy
    err = info.value
    assert err.may_have_reached_server is True
    assert err.method == "GET"
    assert err.url == url_of(server) + "/api/order/abc"
    assert TOKEN not in str(err)
    assert len(server.requests) == 1  # it did reach the server
    return err


async def test_per_client_timeout_on_a_stalled_server(server: FaultServer) -> None:
    async with AsyncClient(url_of(server), TOKEN, timeout=0.3, max_retries=0) as client:
        err = await _expect_timeout(server, client)
        assert "ReadTimeout" in str(err)
        # The client is still usable afterwards.
        with anyio.fail_after(LIMIT):
            assert (await client.get_order("abc")).id


async def test_per_call_timeout_on_a_stalled_server(server: FaultServer) -> None:
    async with AsyncClient(url_of(server), TOKEN, max_retries=0) as client:  # default: 15 s
        await _expect_timeout(server, client, timeout=0.3)


async def test_per_call_httpx_timeout_on_a_stalled_server(server: FaultServer) -> None:
    async with AsyncClient(url_of(server), TOKEN, max_retries=0, timeout=30) as client:
        await _expect_timeout(server, client, timeout=httpx.Timeout(5.0, read=0.3))


async def test_per_call_timeout_overrides_a_short_client_timeout(
    server: FaultServer, app: RecordingApp
) -> None:
    app.body = json.dumps({"message": "ok"}).encode()
    server.delay = 0.5  # longer than the client's timeout, shorter than the call's
    async with AsyncClient(url_of(server), TOKEN, max_retries=0, timeout=0.3) as client:
        # A generous per-call timeout is honoured too (it is not clamped to the client's).
        with anyio.fail_after(LIMIT):
            assert await client.request("GET", "api/x", timeout=5) == {"message": "ok"}


async def test_an_injected_http_clients_timeout_is_honoured(server: FaultServer) -> None:
    # The case: a 0.1 s http_client against a server answering in 0.5 s used to
    # succeed after 0.53 s (the SDK's own 15 s read timeout went with every request).
    async with (
        httpx.AsyncClient(timeout=0.3) as http,
        AsyncClient(url_of(server), TOKEN, http_client=http, max_retries=0) as client,
    ):
        assert client._timeout == http.timeout
        err = await _expect_timeout(server, client)
        assert "ReadTimeout" in str(err)
        # A per-call timeout= still wins for that call.
        server.delay = 0.5
        with anyio.fail_after(LIMIT):
            assert (await client.get_order("abc", timeout=5)).id


async def test_an_injected_http_clients_limits_are_honoured(server: FaultServer) -> None:
    limits = httpx.Limits(max_connections=1)
    async with (
        httpx.AsyncClient(limits=limits) as http,
        AsyncClient(url_of(server), TOKEN, http_client=http) as client,
    ):
        with anyio.fail_after(LIMIT):
            async with anyio.create_task_group() as group:
                for _ in range(6):
                    group.start_soon(client.get_order, "abc")
    assert len(server.requests) == 6
    assert server.connections_accepted == 1  # its pool of one, not the SDK's hundred


# --------------------------------------------------------------------------- broken connections


@pytest.mark.parametrize("kind", ["close_before_reply", "reset_before_reply"])
async def test_connection_dropped_before_reply(server: FaultServer, kind: Any) -> None:
    server.plan(Fault(kind))
    async with AsyncClient(url_of(server), TOKEN, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as info, anyio.fail_after(LIMIT):
            await client.get_order("abc")
        assert time.monotonic() - started < 5.0
        err = info.value
        assert not isinstance(err, APITimeoutError)
        assert err.may_have_reached_server is True
        assert "after the request may have been sent" in str(err)
        assert len(server.requests) == 1
        # A dropped connection does not poison the pool.
        with anyio.fail_after(LIMIT):
            assert (await client.get_order("abc")).id


async def test_connection_closed_on_accept(server: FaultServer) -> None:
    server.plan(Fault("close_on_accept"))
    async with AsyncClient(url_of(server), TOKEN, max_retries=0) as client:
        with pytest.raises(APIConnectionError) as info, anyio.fail_after(LIMIT):
            await client.get_order("abc")
    # The request bytes may have been written before the close was seen: be conservative.
    assert info.value.may_have_reached_server is True
    assert server.requests == []


async def test_connection_refused() -> None:
    url = refused_url() + "prefix"
    async with AsyncClient(url, TOKEN, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as info, anyio.fail_after(LIMIT):
            await client.get_order("abc")
        assert time.monotonic() - started < 5.0
    err = info.value
    assert not isinstance(err, APITimeoutError)
    assert err.may_have_reached_server is False
    assert "before sending" in str(err)
    assert err.url == url + "/api/order/abc"
    # httpx's exception is named in the message but not chained: its request holds the token.
    assert "ConnectError" in str(err)
    assert err.__cause__ is None
    assert err.__context__ is None
    assert TOKEN not in str(err)


async def test_plain_http_by_the_name_localhost(server: FaultServer, app: RecordingApp) -> None:
    """Loopback needs no allow_insecure_http, named or numbered; the token arrives as sent."""
    async with AsyncClient(f"http://localhost:{server.port}/prefix", TOKEN) as client:
        with anyio.fail_after(LIMIT):
            await client.get_order("abc")
    assert app.seen[0].headers["authorization"] == f"Token {TOKEN}"
