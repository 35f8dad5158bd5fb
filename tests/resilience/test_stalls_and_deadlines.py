"""Exchanges over a real socket that stall, trickle, refuse or mislabel their body.

A one-behaviour HTTP/1.1 server on 127.0.0.1 stands in for TaaS. Each failure
becomes one typed error with no httpx exception in its chain (its request
holds the token); one deadline bounds the whole exchange, however steadily
the bytes trickle in; and an order POST that may have landed is looked up by
its custom_order_id, never sent again. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import attrs
import httpx
import pytest
import pytest_asyncio
from conftest import GENERATED_ID, TOKEN, order_request

from taas_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Backoff,
    OrderOutcomeUnknownError,
    TaaSError,
)

LIMIT = 10.0  # seconds: the bound on every await against a real socket


# --------------------------------------------------------------------------- the server


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


# --------------------------------------------------------------------------- stalls and refusals


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


# --------------------------------------------------------------------------- mislabelled bodies


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


# --------------------------------------------------------------------------- one deadline


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
