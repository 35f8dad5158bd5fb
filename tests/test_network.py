"""Real sockets on 127.0.0.1: timeouts, connection failures, connection reuse, the path prefix.

A small asyncio HTTP/1.1 server stands in for TaaS; each test sets how it
behaves. Every wait is bounded; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
import pytest
import pytest_asyncio
from conftest import TOKEN, load

from taas_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    NotFoundError,
    Order,
)

Mode = Literal["json", "stall", "close", "reset", "close_on_accept", "404"]
LIMIT = 10.0  # seconds: the bound on every await in this file


@attrs.define
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@attrs.define
class FakeTaaS:
    """An HTTP/1.1 keep-alive server whose behaviour ``mode`` can be switched per test."""

    mode: Mode = "json"
    body: bytes = attrs.field(factory=lambda: load("seed_order.json").encode())
    accepted: int = 0
    open_connections: int = 0
    requests: list[Seen] = attrs.field(factory=list)
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = attrs.field(factory=list)
    _tasks: set[asyncio.Task[None]] = attrs.field(factory=set)
    _stop: asyncio.Event = attrs.field(factory=asyncio.Event)

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/prefix"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        self._stop.set()
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.wait_for(self._server.wait_closed(), LIMIT)
        if self._tasks:
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), LIMIT)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        self.open_connections += 1
        self._writers.append(writer)
        try:
            if self.mode == "close_on_accept":
                return
            for _ in range(1000):  # bounded: at most this many requests per connection
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {}
                for line in lines:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                self.requests.append(Seen(method, target, headers, body))
                if self.mode == "stall":
                    await self._stop.wait()  # never answers; released at teardown
                    return
                if self.mode == "close":
                    return  # FIN after reading the request, no reply
                if self.mode == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()  # RST
                    return
                status = b"404 Not Found" if self.mode == "404" else b"200 OK"
                payload = b'{"detail": "Not found."}' if self.mode == "404" else self.body
                writer.write(
                    b"HTTP/1.1 " + status + b"\r\n"
                    b"Content-Type: application/json\r\n"
                    b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
                )
                await writer.drain()
        except ConnectionError:
            return
        finally:
            self.open_connections -= 1
            writer.close()
            self._tasks.discard(task)


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeTaaS]:
    fake = FakeTaaS()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def _closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _until(predicate: object, timeout: float = LIMIT) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- basics


@pytest.mark.asyncio
async def test_prefix_and_headers_reach_the_server(server: FakeTaaS) -> None:
    async with AsyncClient(server.url, TOKEN, extra_headers={"X-Team": "quant"}) as client:
        order = await asyncio.wait_for(client.get_order("abc"), LIMIT)
    assert isinstance(order, Order)
    assert order.id == "d3ca321a-d25c-4cee-8a0f-3f74d239c90d"
    [seen] = server.requests
    assert seen.method == "GET"
    assert seen.target == "/prefix/api/order/abc"
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["authorization"] == f"Token {TOKEN}"
    assert seen.headers["user-agent"].startswith("taas-async/")
    assert seen.headers["x-team"] == "quant"
    assert seen.headers["accept"] == "application/json"


@pytest.mark.asyncio
async def test_ids_cannot_change_the_path_on_the_wire(server: FakeTaaS) -> None:
    async with AsyncClient(server.url, TOKEN) as client:
        for order_id in ("a/b", "../../admin", "x?y=1#frag", "50%", "ä b"):
            await asyncio.wait_for(client.get_order(order_id), LIMIT)
    targets = [s.target for s in server.requests]
    assert targets == [
        "/prefix/api/order/a%2Fb",
        "/prefix/api/order/..%2F..%2Fadmin",
        "/prefix/api/order/x%3Fy%3D1%23frag",
        "/prefix/api/order/50%25",
        "/prefix/api/order/%C3%A4%20b",
    ]


@pytest.mark.asyncio
async def test_query_and_body_reach_the_server(server: FakeTaaS) -> None:
    server.body = b'{"message": "ok"}'
    async with AsyncClient(server.url, TOKEN) as client:
        await asyncio.wait_for(
            client.request("GET", "api/balances/", params={"a": ["x", "y"]}), LIMIT
        )
        await asyncio.wait_for(client.pause_order("abc"), LIMIT)
    get, post = server.requests
    url = urlsplit(get.target)
    assert url.path == "/prefix/api/balances/"
    assert parse_qs(url.query) == {"a": ["x,y"]}
    assert post.method == "POST"
    assert post.target == "/prefix/api/pause_order/"
    assert post.headers["content-type"] == "application/json"
    assert post.body == b'{"order_id":"abc"}'


# --------------------------------------------------------------------------- connection reuse


@pytest.mark.asyncio
async def test_sequential_requests_reuse_one_connection(server: FakeTaaS) -> None:
    async with AsyncClient(server.url, TOKEN) as client:
        for _ in range(20):
            await asyncio.wait_for(client.get_order("abc"), LIMIT)
        assert server.accepted == 1
        assert server.open_connections == 1
    assert len(server.requests) == 20
    # aclose() really closes the pool: the server sees the connection end.
    await _until(lambda: server.open_connections == 0)


@pytest.mark.asyncio
async def test_error_replies_keep_the_connection(server: FakeTaaS) -> None:
    server.mode = "404"
    async with AsyncClient(server.url, TOKEN, max_retries=0) as client:
        for _ in range(5):
            with pytest.raises(NotFoundError):
                await asyncio.wait_for(client.get_order("abc"), LIMIT)
    assert server.accepted == 1
    assert len(server.requests) == 5


@pytest.mark.asyncio
async def test_concurrent_requests_are_bounded_by_limits(server: FakeTaaS) -> None:
    async with AsyncClient(server.url, TOKEN, limits=httpx.Limits(max_connections=2)) as client:
        await asyncio.wait_for(asyncio.gather(*(client.get_order("abc") for _ in range(12))), LIMIT)
    assert len(server.requests) == 12
    assert 1 <= server.accepted <= 2


@pytest.mark.asyncio
async def test_injected_http_client_pool_is_used_and_left_open(server: FakeTaaS) -> None:
    async with httpx.AsyncClient() as http:
        async with AsyncClient(server.url, TOKEN, http_client=http) as client:
            for _ in range(3):
                await asyncio.wait_for(client.get_order("abc"), LIMIT)
        assert not http.is_closed
        assert server.open_connections == 1  # our aclose() left their pool alone
        response = await asyncio.wait_for(http.get(server.url + "/api/order/abc"), LIMIT)
        assert response.status_code == 200
    assert server.accepted == 1
    await _until(lambda: server.open_connections == 0)


# --------------------------------------------------------------------------- timeouts


async def _expect_timeout(
    server: FakeTaaS, client: AsyncClient, **kwargs: object
) -> APITimeoutError:
    server.mode = "stall"
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        await asyncio.wait_for(client.get_order("abc", **kwargs), LIMIT)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 10.0, elapsed  # generous: shared machines are noisy
    err = info.value
    assert err.may_have_reached_server is True
    assert err.method == "GET"
    assert err.url == server.url + "/api/order/abc"
    assert TOKEN not in str(err)
    assert len(server.requests) == 1  # it did reach the server
    return err


@pytest.mark.asyncio
async def test_per_client_timeout_on_a_stalled_server(server: FakeTaaS) -> None:
    async with AsyncClient(server.url, TOKEN, timeout=0.3, max_retries=0) as client:
        err = await _expect_timeout(server, client)
        assert "ReadTimeout" in str(err)
        # The client is still usable afterwards.
        server.mode = "json"
        assert (await asyncio.wait_for(client.get_order("abc"), LIMIT)).id


@pytest.mark.asyncio
async def test_per_call_timeout_on_a_stalled_server(server: FakeTaaS) -> None:
    async with AsyncClient(server.url, TOKEN, max_retries=0) as client:  # default: read 15 s
        await _expect_timeout(server, client, timeout=0.3)


@pytest.mark.asyncio
async def test_per_call_httpx_timeout_on_a_stalled_server(server: FakeTaaS) -> None:
    async with AsyncClient(server.url, TOKEN, max_retries=0, timeout=30) as client:
        await _expect_timeout(server, client, timeout=httpx.Timeout(5.0, read=0.3))


@pytest.mark.asyncio
async def test_per_call_timeout_overrides_a_short_client_timeout(server: FakeTaaS) -> None:
    server.body = b'{"message": "ok"}'
    async with AsyncClient(server.url, TOKEN, max_retries=0, timeout=0.3) as client:
        server.mode = "json"
        # A generous per-call timeout is honoured too (it is not clamped to the client's).
        assert await asyncio.wait_for(client.request("GET", "api/x", timeout=5), LIMIT) == {
            "message": "ok"
        }


# --------------------------------------------------------------------------- broken connections


@pytest.mark.parametrize("mode", ["close", "reset"])
@pytest.mark.asyncio
async def test_connection_dropped_before_reply(server: FakeTaaS, mode: Mode) -> None:
    server.mode = mode
    async with AsyncClient(server.url, TOKEN, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as info:
            await asyncio.wait_for(client.get_order("abc"), LIMIT)
        assert time.monotonic() - started < 5.0
        err = info.value
        assert not isinstance(err, APITimeoutError)
        assert err.may_have_reached_server is True
        assert "after the request may have been sent" in str(err)
        assert len(server.requests) == 1
        # A dropped connection does not poison the pool.
        server.mode = "json"
        assert (await asyncio.wait_for(client.get_order("abc"), LIMIT)).id


@pytest.mark.asyncio
async def test_connection_closed_on_accept(server: FakeTaaS) -> None:
    server.mode = "close_on_accept"
    async with AsyncClient(server.url, TOKEN, max_retries=0) as client:
        with pytest.raises(APIConnectionError) as info:
            await asyncio.wait_for(client.get_order("abc"), LIMIT)
    # The request bytes may have been written before the close was seen: be conservative.
    assert info.value.may_have_reached_server is True


@pytest.mark.asyncio
async def test_connection_refused() -> None:
    port = _closed_port()
    async with AsyncClient(f"http://127.0.0.1:{port}/prefix", TOKEN, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as info:
            await asyncio.wait_for(client.get_order("abc"), LIMIT)
        assert time.monotonic() - started < 5.0
    err = info.value
    assert not isinstance(err, APITimeoutError)
    assert err.may_have_reached_server is False
    assert "before sending" in str(err)
    assert err.url == f"http://127.0.0.1:{port}/prefix/api/order/abc"
    # httpx's exception is named in the message but not chained: its request holds the token.
    assert "ConnectError" in str(err)
    assert err.__cause__ is None
    assert err.__context__ is None
    assert TOKEN not in str(err)
