"""HTTP/1.1 on the wire: the pool's request heads and its reply parsing, and the SDK's direct way.

A scripted server on 127.0.0.1 reads each request whole and answers with
the bytes a test gives (in pieces as small as one byte), so that every
reply shape the parser meets can be written out. Every wait is bounded.
"""

from __future__ import annotations

import gzip
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from unittest import mock

import anyio
import attrs
import httpx
import pytest
from conftest import BACKENDS, TOKEN, backend_param, load

from taas_async import (
    APIConnectionError,
    AsyncClient,
    Backoff,
    Order,
    RateLimitError,
    ResponseTooLargeError,
)
from taas_async._transports import H11PoolTransport

LIMIT = 10.0  # seconds: the bound on every wait in this file
ORDER = load("seed_order.json").encode()
ORDER_ID = json.loads(ORDER)["id"]

Answer = Callable[[int, bytes], "Scripted"]


@attrs.define
class Scripted:
    """What the server sends for one request: bytes (in pieces of ``piece``), then maybe a close."""

    data: bytes
    piece: int = 0  # 0: all at once
    close: bool = False
    delay: float = 0.0  # seconds before answering


def ok(body: bytes = ORDER, *, extra: bytes = b"", piece: int = 0) -> Scripted:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: %d\r\n%s\r\n" % (len(body), extra)
    return Scripted(head + body, piece=piece)


@attrs.define
class RawServer:
    """A threaded server: reads each request (head and body), answers as ``answer`` says."""

    answer: Answer
    requests: list[bytes] = attrs.field(factory=list)  # each request as it came, head and body
    accepted: int = 0
    _sock: socket.socket = attrs.field(factory=socket.socket)
    _stop: threading.Event = attrs.field(factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self) -> None:
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        threading.Thread(target=self._serve, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.accepted += 1
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        conn.settimeout(LIMIT)
        with conn:
            try:
                self._exchanges(conn)
            except OSError:  # the client reset the connection, or stopped reading
                return

    def _exchanges(self, conn: socket.socket) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buffer) < length:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            body, buffer = buffer[:length], buffer[length:]
            self.requests.append(head + b"\r\n\r\n" + body)
            scripted = self.answer(len(self.requests) - 1, head)
            time.sleep(scripted.delay)
            step = scripted.piece or max(1, len(scripted.data))
            for i in range(0, len(scripted.data), step):
                conn.sendall(scripted.data[i : i + step])
            if scripted.close:
                return


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], RawServer]]:
    servers: list[RawServer] = []

    def start(answer: Answer) -> RawServer:
        server = RawServer(answer)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(
    params=[
        pytest.param(name, marks=backend_param(name).marks)
        for name in ("asyncio", "trio", "uvloop")
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return BACKENDS[request.param]


pytestmark = pytest.mark.anyio


def headers_of(raw: bytes) -> list[tuple[str, str]]:
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    return [
        (name, value.strip())
        for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:])
    ]


async def get_order(url: str, **kwargs: object) -> Order:
    async with AsyncClient(url, TOKEN, allow_insecure_http=True, **kwargs) as client:  # type: ignore[arg-type]
        with anyio.fail_after(LIMIT):
            return await client.get_order(ORDER_ID)


# --------------------------------------------------------------------------- reply shapes


async def test_a_reply_in_one_byte_pieces_reads_as_a_whole(
    serve: Callable[[Answer], RawServer],
) -> None:
    server = serve(lambda i, head: ok(extra=b"X-Request-Id: r-1\r\n", piece=1))
    order = await get_order(server.url)
    assert str(order.id) == ORDER_ID


async def test_an_informational_reply_is_skipped(serve: Callable[[Answer], RawServer]) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    server = serve(lambda i, head: Scripted(interim + ok().data))
    order = await get_order(server.url)
    assert str(order.id) == ORDER_ID


async def test_a_body_that_runs_to_the_close_is_read_whole_and_the_connection_dropped(
    serve: Callable[[Answer], RawServer],
) -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + ORDER
    server = serve(lambda i, head: Scripted(reply, close=True))
    async with httpx.AsyncClient(transport=H11PoolTransport()) as client:
        with anyio.fail_after(LIMIT):
            first = await client.get(server.url + "/a")
            second = await client.get(server.url + "/b")
    assert first.content == second.content == ORDER
    assert server.accepted == 2


async def test_bytes_after_the_reply_keep_its_connection_out_of_the_pool(
    serve: Callable[[Answer], RawServer],
) -> None:
    server = serve(
        lambda i, head: Scripted(ok().data + (b"HTTP/1.1 200 OK\r\n" if i == 0 else b""))
    )
    async with httpx.AsyncClient(transport=H11PoolTransport()) as client:
        with anyio.fail_after(LIMIT):
            first = await client.get(server.url + "/a")
            second = await client.get(server.url + "/b")
    assert first.content == second.content == ORDER
    assert server.accepted == 2  # the first connection held a stray reply: not reused


async def test_a_whole_second_reply_after_ours_is_never_read_as_ours(
    serve: Callable[[Answer], RawServer],
) -> None:
    stray = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
    server = serve(lambda i, head: Scripted(ok().data + stray) if i < 2 else ok())
    heard: list[int] = []

    async def status_heard(request: httpx.Request) -> None:
        heard.append(request.extensions.get("taas_reply_status", 0))

    order = await get_order(server.url, max_retries=0)  # direct
    assert str(order.id) == ORDER_ID
    async with httpx.AsyncClient(transport=H11PoolTransport()) as client:
        with anyio.fail_after(LIMIT):
            first = await client.get(server.url + "/a")
            second = await client.get(server.url + "/b")
    assert first.status_code == second.status_code == 200
    assert first.content == ORDER
    assert server.accepted == 3  # each connection with a stray reply was dropped


async def test_trailers_are_not_read_as_headers(serve: Callable[[Answer], RawServer]) -> None:
    body = ORDER
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"%x\r\n%s\r\n0\r\nContent-Type: text/plain\r\nX-Trailer: t\r\n"
        b"Set-Cookie: s=1\r\n\r\n" % (len(body), body)
    )
    server = serve(lambda i, head: Scripted(reply))
    async with AsyncClient(server.url, TOKEN, allow_insecure_http=True) as client:
        with anyio.fail_after(LIMIT):
            order = await client.get_order(ORDER_ID)
        assert not client._http.cookies  # the trailer's cookie was not taken
    assert str(order.id) == ORDER_ID
    async with httpx.AsyncClient(transport=H11PoolTransport()) as http:
        with anyio.fail_after(LIMIT):
            response = await http.get(server.url)
    assert response.headers["content-type"] == "application/json"
    assert "x-trailer" not in response.headers


@pytest.mark.parametrize(
    ("reply", "connections"),
    [
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 2),  # 1.0: closes by default
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 1),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 1),  # no body, and nothing to wait for
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 1),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 2),
    ],
)
async def test_which_replies_leave_their_connection_reusable(
    serve: Callable[[Answer], RawServer], reply: bytes, connections: int
) -> None:
    # The server keeps every connection open: only the reply says whether it may be reused.
    server = serve(lambda i, head: Scripted(reply))
    async with httpx.AsyncClient(transport=H11PoolTransport()) as client:
        with anyio.fail_after(LIMIT):
            first = await client.get(server.url + "/a")
            second = await client.get(server.url + "/b")
    assert first.status_code == second.status_code
    assert server.accepted == connections


@pytest.mark.parametrize("sent", [b"abc", b"abcdefgh"])
async def test_a_streamed_body_that_breaks_its_content_length_is_a_write_error(
    serve: Callable[[Answer], RawServer], sent: bytes
) -> None:
    server = serve(lambda i, head: ok())

    class Body:  # not an async generator: nothing left half-run for trio to warn about
        def __aiter__(self) -> AsyncIterator[bytes]:
            return self

        async def __anext__(self) -> bytes:
            if not hasattr(self, "done"):
                self.done = True
                return sent
            raise StopAsyncIteration

    async with httpx.AsyncClient(transport=H11PoolTransport()) as client:
        with pytest.raises(httpx.WriteError, match="framing"), anyio.fail_after(LIMIT):
            await client.post(server.url, content=Body(), headers={"Content-Length": "5"})


async def test_a_request_with_two_framings_is_refused_before_connecting(
    serve: Callable[[Answer], RawServer],
) -> None:
    server = serve(lambda i, head: ok())
    request = httpx.Request(
        "POST", server.url, content=b"abc", headers={"Transfer-Encoding": "chunked"}
    )
    async with httpx.AsyncClient(transport=H11PoolTransport()) as client:
        with pytest.raises(httpx.LocalProtocolError), anyio.fail_after(LIMIT):
            await client.send(request)
    assert server.accepted == 0


@pytest.mark.parametrize("way", ["direct", "through httpx"])
async def test_the_status_of_a_reply_whose_body_broke_off_is_kept(
    serve: Callable[[Answer], RawServer], way: str
) -> None:
    head = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    server = serve(lambda i, h: Scripted(head + ORDER[:100], close=True))
    http = httpx.AsyncClient(transport=H11PoolTransport()) if way != "direct" else None
    with pytest.raises(APIConnectionError) as info:
        await get_order(server.url, max_retries=0, http_client=http)
    if http is not None:
        await http.aclose()
    assert info.value.reply_status == 201
    assert info.value.may_have_reached_server is True


async def test_a_body_cut_short_is_a_protocol_error_that_may_have_reached_the_server(
    serve: Callable[[Answer], RawServer],
) -> None:
    reply = ok().data[:-10]
    server = serve(lambda i, head: Scripted(reply, close=True))
    with pytest.raises(APIConnectionError) as info:
        await get_order(server.url, max_retries=0)
    assert info.value.may_have_reached_server is True
    assert "RemoteProtocolError" in str(info.value)
    assert "body was complete" in str(info.value)


@pytest.mark.parametrize(
    "garbage",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
    ],
)
async def test_a_malformed_reply_is_a_protocol_error(
    serve: Callable[[Answer], RawServer], garbage: bytes
) -> None:
    server = serve(lambda i, head: Scripted(garbage, close=True))
    with pytest.raises(APIConnectionError) as info:
        await get_order(server.url, max_retries=0)
    assert info.value.may_have_reached_server is True
    assert "RemoteProtocolError" in str(info.value)


async def test_a_switch_of_protocol_is_refused(serve: Callable[[Answer], RawServer]) -> None:
    switch = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    server = serve(lambda i, head: Scripted(switch, close=True))
    with pytest.raises(APIConnectionError) as info:
        await get_order(server.url, max_retries=0)
    assert "RemoteProtocolError" in str(info.value)


async def test_a_reply_past_the_size_limit_stops_being_read(
    serve: Callable[[Answer], RawServer],
) -> None:

    server = serve(lambda i, head: ok(b"[" + b"1," * 5000 + b"1]", piece=1000))
    with pytest.raises(ResponseTooLargeError) as info:
        await get_order(server.url, max_retries=0, max_response_size=4096)
    assert info.value.status_code == 200


# --------------------------------------------------------------------------- request heads


async def test_a_header_that_cannot_go_out_is_refused_before_connecting(
    serve: Callable[[Answer], RawServer],
) -> None:
    server = serve(lambda i, head: ok())
    async with httpx.AsyncClient(transport=H11PoolTransport()) as client:
        with pytest.raises(httpx.LocalProtocolError) as info, anyio.fail_after(LIMIT):
            await client.get(server.url, headers={"X-Secret": "sk-12345\r\nInjected: yes"})
    assert "X-Secret" in str(info.value)
    assert "sk-12345" not in str(info.value)  # a value may be a token: never shown
    assert server.accepted == 0


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("GET", {"params": {"statuses": ["ACTIVE", "PAUSED"], "page": 2}}),
        ("POST", {"json": {"order_id": "o-1", "qty": "1.5"}}),
        ("POST", {}),  # no body: Content-Length: 0, as httpx sends it
        ("PUT", {}),
        ("DELETE", {}),
    ],
)
async def test_the_direct_way_sends_what_httpx_sends(
    serve: Callable[[Answer], RawServer], method: str, kwargs: dict[str, object]
) -> None:
    server = serve(lambda i, head: ok())
    http = httpx.AsyncClient(transport=H11PoolTransport())
    for client_kwargs in ({}, {"http_client": http}):  # the SDK's own client: direct; a caller's
        async with AsyncClient(server.url, TOKEN, max_retries=0, **client_kwargs) as client:  # type: ignore[arg-type]
            with anyio.fail_after(LIMIT):
                await client.request(method, "api/things/", **kwargs)  # type: ignore[arg-type]
    await http.aclose()
    direct, through_httpx = server.requests
    assert direct.split(b"\r\n")[0] == through_httpx.split(b"\r\n")[0]
    assert sorted(headers_of(direct)) == sorted(headers_of(through_httpx))
    assert direct.partition(b"\r\n\r\n")[2] == through_httpx.partition(b"\r\n\r\n")[2]
    assert ("Authorization", f"Token {TOKEN}") in headers_of(direct)
    assert headers_of(direct)[0][0] == "Host"
    if method in ("POST", "PUT") and not kwargs:
        assert ("Content-Length", "0") in headers_of(direct)


async def test_a_retry_after_a_broken_connection_asks_once_for_a_close(
    serve: Callable[[Answer], RawServer],
) -> None:
    server = serve(lambda i, head: Scripted(b"", close=True) if i % 2 == 0 else ok())
    http = httpx.AsyncClient(transport=H11PoolTransport())
    await get_order(server.url, max_retries=1, backoff=Backoff(initial=0))
    await get_order(server.url, max_retries=1, backoff=Backoff(initial=0), http_client=http)
    await http.aclose()
    first, retry, first_httpx, retry_httpx = (headers_of(r) for r in server.requests)
    assert [v for k, v in first if k.lower() == "connection"] == ["keep-alive"]
    assert [v for k, v in retry if k.lower() == "connection"] == ["close"]
    assert sorted(first) == sorted(first_httpx)
    assert sorted(retry) == sorted(retry_httpx)


async def test_the_sdk_own_client_does_not_go_through_httpx_send(
    serve: Callable[[Answer], RawServer], httpx_sends: list[httpx.Request]
) -> None:
    calls = httpx_sends
    server = serve(lambda i, head: ok())
    await get_order(server.url)
    assert calls == []
    http = httpx.AsyncClient(transport=H11PoolTransport())
    async with http:
        await get_order(server.url, http_client=http)
    assert len(calls) == 1  # a caller's client: through httpx, hooks and all
    async with AsyncClient(
        server.url, TOKEN, allow_insecure_http=True, transport=httpx.AsyncHTTPTransport()
    ) as c:
        with anyio.fail_after(LIMIT):
            await c.get_order(ORDER_ID)
    assert len(calls) == 2  # another transport: through httpx


async def test_a_spy_on_the_pool_instance_sees_every_request(
    serve: Callable[[Answer], RawServer],
) -> None:
    server = serve(lambda i, head: ok())
    transport = H11PoolTransport()
    real = transport.handle_async_request
    with mock.patch.object(transport, "handle_async_request", side_effect=real) as spy:
        async with AsyncClient(
            server.url, TOKEN, allow_insecure_http=True, transport=transport
        ) as client:
            with anyio.fail_after(LIMIT):
                await client.get_order(ORDER_ID)
                await client.get_order(ORDER_ID)
    assert spy.call_count == len(server.requests) == 2


# --------------------------------------------------------------------------- httpx's own work


async def test_a_compressed_reply_is_decoded(serve: Callable[[Answer], RawServer]) -> None:
    server = serve(lambda i, head: ok(gzip.compress(ORDER), extra=b"Content-Encoding: gzip\r\n"))
    order = await get_order(server.url)
    assert str(order.id) == ORDER_ID


async def test_a_cookie_the_server_sets_goes_back_with_the_next_request(
    serve: Callable[[Answer], RawServer],
) -> None:
    server = serve(
        lambda i, head: ok(extra=b"Set-Cookie: session=s1; Path=/\r\n" if i == 0 else b"")
    )
    async with AsyncClient(server.url, TOKEN, allow_insecure_http=True) as client:
        with anyio.fail_after(LIMIT):
            await client.get_order(ORDER_ID)
            await client.get_order(ORDER_ID)
    first, second = (headers_of(r) for r in server.requests)
    assert not any(k.lower() == "cookie" for k, _ in first)
    assert ("Cookie", "session=s1") in [(k.title(), v) for k, v in second]


async def test_httpx_log_line_is_written_for_every_exchange(
    serve: Callable[[Answer], RawServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(lambda i, head: ok())
    with caplog.at_level(logging.INFO, logger="httpx"):
        await get_order(server.url)
    (record,) = [r for r in caplog.records if r.name == "httpx"]
    assert record.getMessage() == (
        f'HTTP Request: GET {server.url}/api/order/{ORDER_ID} "HTTP/1.1 200 OK"'
    )
    assert TOKEN not in record.getMessage()


async def test_an_error_reply_reads_the_same_either_way(
    serve: Callable[[Answer], RawServer],
) -> None:
    body = b'{"detail": "Slow down, caf\xc3\xa9."}'
    reply = (
        b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json; charset=utf-8\r\n"
        b"Retry-After: 0\r\nX-Request-Id: r-1\r\nX-Trace: a\r\nx-trace: b\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    server = serve(lambda i, head: Scripted(reply))
    errors = []
    for http in (None, httpx.AsyncClient(transport=H11PoolTransport())):
        with pytest.raises(RateLimitError) as info:
            await get_order(server.url, max_retries=0, http_client=http)
        errors.append(info.value)
        if http is not None:
            await http.aclose()
    direct, through_httpx = errors
    for error in errors:
        assert error.retry_after == 0.0
        assert error.request_id == "r-1"
        assert error.text == body.decode()
        assert error.headers["x-trace"] == "a, b"
    assert direct.headers == through_httpx.headers
    assert direct.body == through_httpx.body
    assert str(direct) == str(through_httpx)


@pytest.mark.parametrize(
    "anyio_backend",
    # trio runs the tasks woken together in an order it shuffles on purpose:
    # there, the waiting request goes first about half the time.
    [
        pytest.param(BACKENDS[name], marks=backend_param(name).marks)
        for name in ("asyncio", "uvloop")
    ],
)
async def test_a_connection_handed_over_sends_the_next_request_before_the_reply_goes_on(
    serve: Callable[[Answer], RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One connection, two requests: when the first reply is in, the waiting request
    # goes out before the first caller decodes anything (a saturated pool's
    # connections must not idle while replies are decoded).
    from taas_async._transports import _h11

    events: list[str] = []
    real_exchange = _h11.exchange

    async def spied(io: object, outgoing: _h11.Outgoing, *args: object, **kwargs: object) -> object:
        events.append("sent " + outgoing.head.split(b" ")[1].decode())
        return await real_exchange(io, outgoing, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_h11, "exchange", spied)
    server = serve(lambda i, head: Scripted(ok().data, delay=0.3 if i == 0 else 0.0))
    transport = H11PoolTransport(limits=httpx.Limits(max_connections=1))
    async with httpx.AsyncClient(transport=transport) as client:

        async def get(path: str) -> None:
            await client.get(server.url + path)
            events.append("done " + path)

        with anyio.fail_after(LIMIT):
            async with anyio.create_task_group() as group:
                group.start_soon(get, "/a")
                await anyio.sleep(0.05)  # /a holds the one connection; /b waits for it
                group.start_soon(get, "/b")
    assert events == ["sent /a", "sent /b", "done /a", "done /b"]
    assert server.accepted == 1
