"""The fast transports (taas_async._transports) against real sockets on 127.0.0.1.

A threaded HTTP/1.1 server stands in for TaaS, so the same server serves
asyncio and trio tests; each test sets how it misbehaves. The point of most
tests is the error class: ``ConnectError``/``ConnectTimeout``/``PoolTimeout``
only when nothing of the request left the client, a read/write/protocol error
whenever a connection was established (the request may have reached the
server), which is what the SDK's order safety rests on.

Every wait is bounded; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import select
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import attrs
import httpx
import pytest
from conftest import BACKENDS, TOKEN, backend_param, order_request

from taas_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Backoff,
    OrderOutcomeUnknownError,
)
from taas_async._transports import AiohttpTransport, H11PoolTransport

LIMIT = 10.0  # seconds: the bound on every wait in this file

# Not connected, so never sent: may_have_reached_server=False in the SDK.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# A connection was established: the request may have reached the server.
MAYBE_SENT = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


# --------------------------------------------------------------------------- the server


@attrs.define
class Seen:
    """One request as the server read it."""

    connection: int
    method: str
    target: str
    headers: list[tuple[str, str]]  # raw names, in order
    body: bytes


@attrs.define
class Server:
    """A threaded HTTP/1.1 keep-alive server; ``mode`` says how it behaves.

    ok                  200 with a JSON echo, two ``X-Dup`` headers, reason "OK Fine"
    gzip                200 with a gzip-encoded JSON body
    reset_on_accept     RST right after accept, racing the client's connect()
    reset_before_reading RST 0.1 s after accept, the request unread in the socket buffer
    close_after_request read the request, then FIN without a reply
    reset_after_request read the request, then RST without a reply
    reset_mid_body      send the head and part of the body, then RST
    chunked             200 with a chunked body
    close_each          200 with ``Connection: close``, then close
    stall               read the request, never reply
    never_read          accept, then never read (the client's writes stall)
    slow                reply after ``delay`` seconds (closes early if the client does)
    reset_order_posts   read a POST, then RST without a reply; answer the order lookup
                        ``GET /api/orders/?custom_order_ids=...`` with the orders
                        carrying those ids if ``order_landed``, else with none
    """

    mode: str = "ok"
    delay: float = 0.5
    order_landed: bool = False
    tls: ssl.SSLContext | None = None
    accepted: int = 0
    open_connections: int = 0
    requests: list[Seen] = attrs.field(factory=list)
    _sock: socket.socket | None = None
    _stop: threading.Event = attrs.field(factory=threading.Event)
    _threads: list[threading.Thread] = attrs.field(factory=list)
    _conns: list[socket.socket] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self._sock is not None
        port: int = self._sock.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = "localhost" if self.tls else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(512)
        self._sock.settimeout(0.05)
        self._spawn(self._accept_loop)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(LIMIT)
        assert self._sock is not None
        self._sock.close()

    def wait_until(self, predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + LIMIT
        while not predicate():
            assert time.monotonic() < deadline, "server condition not reached in time"
            time.sleep(0.01)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self.open_connections += 1
                self._conns.append(conn)
                number = self.accepted
            self._spawn(self._serve, conn, number)

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            if self.tls is not None:
                conn.settimeout(LIMIT)
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError):
                    return
            conn.settimeout(0.1)
            if self.mode == "reset_on_accept":
                _reset(conn)
                return
            if self.mode == "never_read":
                while not self._stop.wait(0.05):
                    pass
                return
            if self.mode == "reset_before_reading":
                time.sleep(0.1)
                _reset(conn)
                return
            buffer = b""
            for _ in range(10_000):  # bounded: requests per connection
                seen, buffer = self._read_request(conn, number, buffer)
                if seen is None:
                    return
                if not self._reply(conn, seen):
                    return
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with self._lock:
                self.open_connections -= 1

    def _recv(self, conn: socket.socket) -> bytes | None:
        """Bytes from the client; b"" at EOF; None when the server stops."""
        while not self._stop.is_set():
            try:
                return conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return b""
        return None

    def _read_request(
        self, conn: socket.socket, number: int, buffer: bytes
    ) -> tuple[Seen | None, bytes]:
        while b"\r\n\r\n" not in buffer:
            data = self._recv(conn)
            if not data:
                return None, b""
            buffer += data
            if buffer.startswith(b"\x16"):  # a TLS handshake: answer as plain HTTP would
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                return None, b""
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines)]
        names = {n.lower(): v for n, v in headers}
        if names.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in buffer:
                    data = self._recv(conn)
                    if not data:
                        return None, b""
                    buffer += data
                size_line, _, buffer = buffer.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(buffer) < size + 2:
                    data = self._recv(conn)
                    if not data:
                        return None, b""
                    buffer += data
                body += buffer[:size]
                buffer = buffer[size + 2 :]
                if size == 0:
                    break
        else:
            length = int(names.get("content-length", "0"))
            while len(buffer) < length:
                data = self._recv(conn)
                if not data:
                    return None, b""
                buffer += data
            body, buffer = buffer[:length], buffer[length:]
        seen = Seen(number, method, target, headers, body)
        with self._lock:
            self.requests.append(seen)
        return seen, buffer

    def _reply(self, conn: socket.socket, seen: Seen) -> bool:
        """Answer one request; False to end the connection."""
        mode = self.mode
        if mode == "close_after_request":
            return False
        if mode == "reset_after_request" or (mode == "reset_order_posts" and seen.method == "POST"):
            _reset(conn)
            return False
        if mode == "reset_order_posts":
            return self._reply_to_lookup(conn, seen)
        if mode == "stall":
            while not self._stop.wait(0.05):
                pass
            return False
        if mode == "slow" and _closed_within(conn, self.delay):
            return False
        echo = {"method": seen.method, "target": seen.target, "body": seen.body.hex()}
        if seen.target.startswith("/big"):
            echo["pad"] = "x" * 3_000_000
        payload = json.dumps(echo).encode()
        extra = b"X-Dup: a\r\nX-Dup: b\r\n"
        if mode == "gzip":
            payload = gzip.compress(payload)
            extra = b"Content-Encoding: gzip\r\n"
        if mode == "close_each":
            extra = b"Connection: close\r\n"
        if mode == "chunked":
            framing = b"Transfer-Encoding: chunked\r\n"
            third = len(payload) // 3
            parts = [payload[:third], payload[third : 2 * third], payload[2 * third :], b""]
            body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)
        else:
            framing = b"Content-Length: " + str(len(payload)).encode() + b"\r\n"
            body = payload
        head = (
            b"HTTP/1.1 200 OK Fine\r\nContent-Type: application/json\r\n"
            + extra
            + framing
            + b"\r\n"
        )
        if seen.method == "HEAD":
            body = b""
        if mode == "reset_mid_body":
            conn.sendall(head + body[:5])
            time.sleep(0.05)
            _reset(conn)
            return False
        try:
            conn.sendall(head + body)
        except OSError:
            return False
        return mode != "close_each"

    def _reply_to_lookup(self, conn: socket.socket, seen: Seen) -> bool:
        ids = parse_qs(urlsplit(seen.target).query)["custom_order_ids"][0].split(",")
        orders = [
            {"id": f"landed-{cid}", "status": "ACTIVE", "custom_order_id": cid}
            for cid in (ids if self.order_landed else [])
        ]
        payload = json.dumps({"orders": orders, "count": len(orders), "num_pages": 1}).encode()
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        try:
            conn.sendall(head % len(payload) + payload)
        except OSError:
            return False
        return True


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _closed_within(conn: socket.socket, seconds: float) -> bool:
    """Wait up to ``seconds``; True as soon as the client closes its end."""
    readable, _, _ = select.select([conn], [], [], seconds)
    if not readable:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for localhost (cert file, key file), made with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", key, "-out", cert, "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[str, str]) -> Iterator[Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    srv = Server(tls=context)
    srv.start()
    yield srv
    srv.stop()


def refused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------- transports x backends

MakeTransport = Callable[..., httpx.AsyncBaseTransport]


def _h11_streams(**kwargs: Any) -> H11PoolTransport:
    transport = H11PoolTransport(**kwargs)
    transport._use_streams = True  # the anyio-stream code path, on asyncio
    return transport


FACTORIES: dict[str, MakeTransport] = {
    "h11": H11PoolTransport,
    "h11_streams": _h11_streams,
    "aiohttp": AiohttpTransport,
}
CASES = [
    ("h11", "asyncio"),
    ("h11", "trio"),
    ("h11", "uvloop"),
    ("h11_streams", "asyncio"),
    ("aiohttp", "asyncio"),
    ("aiohttp", "uvloop"),
]


@pytest.fixture(
    params=[
        pytest.param((name, backend), id=f"{name}-{backend}", marks=backend_param(backend).marks)
        for name, backend in CASES
    ]
)
def case(request: pytest.FixtureRequest) -> tuple[str, str]:
    param: tuple[str, str] = request.param
    return param


@pytest.fixture
def anyio_backend(case: tuple[str, str]) -> Any:
    return BACKENDS[case[1]]


@pytest.fixture
def make(case: tuple[str, str]) -> MakeTransport:
    if case[0] == "aiohttp":
        pytest.importorskip("aiohttp")  # the optional extra
    return FACTORIES[case[0]]


def timeout(read: float = 5.0, pool: float = 5.0) -> httpx.Timeout:
    return httpx.Timeout(5.0, read=read, pool=pool)


async def fails_with(
    transport: httpx.AsyncBaseTransport, url: str, **kwargs: Any
) -> httpx.TransportError:
    async with httpx.AsyncClient(transport=transport, timeout=kwargs.pop("timeout", None)) as c:
        with pytest.raises(httpx.TransportError) as info:
            with anyio.fail_after(LIMIT):
                await c.request(kwargs.pop("method", "GET"), url, **kwargs)
    return info.value


# --------------------------------------------------------------------------- round trips

pytestmark = pytest.mark.anyio


async def test_get_and_post_round_trip(make: MakeTransport, server: Server) -> None:
    body = bytes(range(256)) + b'{"qty": "5"}'
    async with httpx.AsyncClient(transport=make(), timeout=timeout()) as client:
        got = await client.get(server.url + "/api/order/a%2Fb?x=1&y=%20")
        posted = await client.post(
            server.url + "/api/orders/",
            content=body,
            headers=[("X-Multi", "1"), ("X-Multi", "2"), ("Content-Type", "application/json")],
        )
    assert got.status_code == 200
    assert got.reason_phrase == "OK Fine"
    assert got.http_version == "HTTP/1.1"
    assert got.json()["target"] == "/api/order/a%2Fb?x=1&y=%20"  # the path exactly as built
    assert got.headers.get_list("x-dup") == ["a", "b"]  # header multiplicity kept
    assert bytes.fromhex(posted.json()["body"]) == body
    get_seen, post_seen = server.requests
    assert get_seen.method == "GET"
    assert get_seen.body == b""
    assert post_seen.body == body
    assert [v for n, v in post_seen.headers if n.lower() == "x-multi"] == ["1", "2"]


async def test_large_reply(make: MakeTransport, server: Server) -> None:
    async with httpx.AsyncClient(transport=make(), timeout=timeout()) as client:
        for mode in ("ok", "chunked", "gzip"):
            server.mode = mode
            response = await client.get(server.url + "/big")
            assert len(response.json()["pad"]) == 3_000_000
    assert server.accepted == 1


async def test_headers_on_the_wire_are_httpx_own(make: MakeTransport, server: Server) -> None:
    """Every header httpx builds goes out as is, and nothing else: no transport extras."""
    request_kwargs: dict[str, Any] = {
        "content": b'{"a": 1}',
        "headers": {"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"},
    }
    async with httpx.AsyncClient(timeout=timeout()) as reference:
        await reference.post(server.url + "/api/orders/", **request_kwargs)
    async with httpx.AsyncClient(transport=make(), timeout=timeout()) as client:
        await client.post(server.url + "/api/orders/", **request_kwargs)
    expected, actual = server.requests
    assert sorted(actual.headers) == sorted(expected.headers)
    assert actual.body == expected.body


async def test_streamed_request_body(make: MakeTransport, server: Server) -> None:
    async def chunks() -> Any:
        for part in (b"ab", b"", b"cd"):
            yield part

    async with httpx.AsyncClient(transport=make(), timeout=timeout()) as client:
        response = await client.post(server.url + "/upload", content=chunks())
    assert bytes.fromhex(response.json()["body"]) == b"abcd"


async def test_gzip_reply_is_decoded_once(make: MakeTransport, server: Server) -> None:
    server.mode = "gzip"
    async with httpx.AsyncClient(transport=make(), timeout=timeout()) as client:
        response = await client.get(server.url + "/api/orders/")
    assert response.headers["content-encoding"] == "gzip"
    assert response.json()["target"] == "/api/orders/"


async def test_chunked_reply_and_head(make: MakeTransport, server: Server) -> None:
    async with httpx.AsyncClient(transport=make(), timeout=timeout()) as client:
        head = await client.head(server.url + "/api/orders/")
        got = await client.get(server.url + "/api/orders/")
        server.mode = "chunked"
        chunked = await client.get(server.url + "/api/orders/")
        again = await client.get(server.url + "/api/orders/")
    assert head.status_code == 200
    assert head.content == b""
    assert got.json()["method"] == "GET"
    assert chunked.json() == again.json() == got.json()
    assert server.accepted == 1  # HEAD and chunked replies leave the connection reusable


async def test_connection_close_replies(make: MakeTransport, server: Server) -> None:
    server.mode = "close_each"
    async with httpx.AsyncClient(transport=make(), timeout=timeout()) as client:
        for _ in range(3):
            assert (await client.get(server.url + "/")).status_code == 200
    assert server.accepted == 3


async def test_https_round_trip(
    make: MakeTransport, tls_server: Server, certificate: tuple[str, str]
) -> None:
    verify = ssl.create_default_context(cafile=certificate[0])
    async with httpx.AsyncClient(transport=make(verify=verify), timeout=timeout()) as client:
        for _ in range(2):
            response = await client.post(tls_server.url + "/api/orders/", content=b"{}")
            assert response.json()["body"] == b"{}".hex()
    assert tls_server.accepted == 1


async def test_untrusted_certificate_is_a_connect_error(
    make: MakeTransport, tls_server: Server
) -> None:
    error = await fails_with(make(), tls_server.url + "/api/orders/", method="POST")
    assert isinstance(error, httpx.ConnectError)
    assert tls_server.requests == []


async def test_tls_to_a_plain_server_is_a_connect_error(
    make: MakeTransport, server: Server
) -> None:
    url = server.url.replace("http://", "https://") + "/api/orders/"
    error = await fails_with(make(), url, method="POST")
    assert isinstance(error, httpx.ConnectError)  # the handshake failed: nothing was sent
    assert server.requests == []


async def test_keep_alive_reuses_one_connection(make: MakeTransport, server: Server) -> None:
    async with httpx.AsyncClient(transport=make(), timeout=timeout()) as client:
        for _ in range(5):
            assert (await client.get(server.url + "/")).status_code == 200
    assert server.accepted == 1
    assert {seen.connection for seen in server.requests} == {1}


async def test_idle_connection_closed_by_server_is_not_reused(
    make: MakeTransport, server: Server
) -> None:
    async with httpx.AsyncClient(transport=make(), timeout=timeout()) as client:
        assert (await client.get(server.url + "/")).status_code == 200
        server.wait_until(lambda: len(server._conns) == 1)
        server._conns[0].shutdown(socket.SHUT_RDWR)  # the server drops the idle connection
        server.wait_until(lambda: server.open_connections == 0)
        await anyio.sleep(0.05)
        assert (await client.get(server.url + "/")).status_code == 200
    assert server.accepted == 2


# --------------------------------------------------------------------------- never sent


async def test_connection_refused_is_a_connect_error(make: MakeTransport) -> None:
    error = await fails_with(make(), f"http://127.0.0.1:{refused_port()}/api/orders/")
    assert isinstance(error, httpx.ConnectError)


async def test_connect_timeout(make: MakeTransport) -> None:
    # A listener that never accepts, its backlog full: further SYNs go unanswered.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            await anyio.sleep(0.05)
            probe = socket.socket()
            probe.settimeout(0.2)
            try:
                probe.connect(("127.0.0.1", port))
            except TimeoutError:
                pass
            else:
                pytest.skip("this kernel answers SYNs beyond the backlog")
            finally:
                probe.close()
            error = await fails_with(
                make(), f"http://127.0.0.1:{port}/", timeout=httpx.Timeout(5.0, connect=0.3)
            )
        finally:
            for filler in fillers:
                filler.close()
    assert isinstance(error, httpx.ConnectTimeout)


async def test_pool_exhaustion_is_a_pool_timeout(make: MakeTransport, server: Server) -> None:
    server.mode = "slow"
    server.delay = 1.0
    transport = make(limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
    async with httpx.AsyncClient(transport=transport, timeout=timeout(pool=0.2)) as client:
        results: list[BaseException | httpx.Response] = []

        async def call() -> None:
            try:
                results.append(await client.get(server.url + "/"))
            except httpx.HTTPError as exc:
                results.append(exc)

        with anyio.fail_after(LIMIT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await anyio.to_thread.run_sync(server.wait_until, lambda: len(server.requests) == 1)
                tg.start_soon(call)
    assert len(results) == 2
    pool_timeout, response = results
    assert isinstance(pool_timeout, httpx.PoolTimeout)
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert len(server.requests) == 1  # the second request never left the client


# --------------------------------------------------------------------------- maybe sent


async def test_reset_after_accept_before_reading(make: MakeTransport, server: Server) -> None:
    """The server resets a connection it never read from: the request may have reached it.

    The request sat in the server's socket buffer: the client wrote it on an
    established connection and cannot tell "reset unread" from "read, acted
    on, then reset". Only a connection never established proves the request
    never left.
    """
    server.mode = "reset_before_reading"
    error = await fails_with(make(), server.url + "/api/orders/", method="POST", content=b"{}")
    assert isinstance(error, MAYBE_SENT)
    assert not isinstance(error, NEVER_SENT)


async def test_reset_racing_the_connect(make: MakeTransport, server: Server) -> None:
    """A reset at once, after accept: either class can be right, by what the client saw.

    If the reset arrives before the client's connect() completes, connect()
    itself fails and nothing was written: ConnectError, safe to resend. If the
    connection completed first, the request was written: a read/write error.
    """
    server.mode = "reset_on_accept"
    for _ in range(5):
        error = await fails_with(make(), server.url + "/api/orders/", method="POST", content=b"{}")
        assert isinstance(error, (httpx.ConnectError, *MAYBE_SENT))
        assert not isinstance(error, httpx.TimeoutException)


@pytest.mark.parametrize("mode", ["close_after_request", "reset_after_request"])
async def test_no_reply_after_the_request_was_read(
    make: MakeTransport, server: Server, mode: str
) -> None:
    server.mode = mode
    for method in ("GET", "POST"):
        error = await fails_with(make(), server.url + "/api/orders/", method=method)
        assert isinstance(error, MAYBE_SENT)
        assert not isinstance(error, NEVER_SENT)
    # Never resent behind our back (aiohttp would retry a GET on a new connection).
    assert [seen.method for seen in server.requests] == ["GET", "POST"]


async def test_reset_mid_body(make: MakeTransport, server: Server) -> None:
    server.mode = "reset_mid_body"
    error = await fails_with(make(), server.url + "/api/orders/")
    assert isinstance(error, MAYBE_SENT)
    assert not isinstance(error, NEVER_SENT)


async def test_stall_past_the_read_timeout(make: MakeTransport, server: Server) -> None:
    server.mode = "stall"
    started = time.monotonic()
    error = await fails_with(make(), server.url + "/api/orders/", timeout=timeout(read=0.3))
    assert isinstance(error, httpx.ReadTimeout)
    assert time.monotonic() - started < 3.0


# aiohttp has no write timeout: test_aiohttp_stalled_send_is_bounded covers it instead.
WRITE_TIMEOUT_CASES = [c for c in CASES if c[0] != "aiohttp"]


@pytest.mark.parametrize(
    "case",
    WRITE_TIMEOUT_CASES,
    ids=[f"{name}-{backend}" for name, backend in WRITE_TIMEOUT_CASES],
    indirect=True,
)
async def test_send_stalls_past_the_write_timeout(make: MakeTransport, server: Server) -> None:
    """A server that stops reading: WriteTimeout, the request may have reached it."""
    server.mode = "never_read"
    error = await fails_with(
        make(),
        server.url + "/api/orders/",
        method="POST",
        content=b"x" * 32_000_000,  # more than the socket buffers hold
        timeout=httpx.Timeout(5.0, write=0.3),
    )
    assert isinstance(error, httpx.WriteTimeout)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_aiohttp_stalled_send_is_bounded(anyio_backend: str, server: Server) -> None:
    """aiohttp starts its read timeout only once the body is out; the SDK's deadline holds."""
    pytest.importorskip("aiohttp")
    server.mode = "never_read"
    transport = AiohttpTransport()
    async with AsyncClient(server.url, TOKEN, transport=transport, timeout=0.5) as client:
        with pytest.raises(APITimeoutError) as info, anyio.fail_after(LIMIT):
            await client.request("POST", "api/upload/", json={"pad": "x" * 32_000_000})
    assert info.value.may_have_reached_server is True


# --------------------------------------------------------------------------- cancellation


async def test_cancelling_in_flight_requests_leaks_nothing(
    make: MakeTransport, server: Server
) -> None:
    server.mode = "slow"
    server.delay = 5.0
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    async with httpx.AsyncClient(transport=make(limits=limits), timeout=timeout()) as client:
        with anyio.move_on_after(LIMIT) as scope:
            async with anyio.create_task_group() as tg:
                for _ in range(200):
                    tg.start_soon(client.get, server.url + "/")
                await anyio.to_thread.run_sync(
                    server.wait_until, lambda: len(server.requests) == 10
                )
                tg.cancel_scope.cancel()
        assert not scope.cancelled_caught
        # Every connection of a cancelled request is closed, none left half-used.
        await anyio.to_thread.run_sync(server.wait_until, lambda: server.open_connections == 0)
        server.mode = "ok"
        responses: list[httpx.Response] = []

        async def call() -> None:
            responses.append(await client.get(server.url + "/", timeout=timeout(pool=3.0)))

        with anyio.fail_after(LIMIT):
            async with anyio.create_task_group() as tg:
                for _ in range(30):  # more than max_connections: the slots all came back
                    tg.start_soon(call)
    assert [r.status_code for r in responses] == [200] * 30
    assert server.accepted <= 20


# --------------------------------------------------------------------------- through the SDK


async def test_sdk_order_reset_after_sending_is_reconciled_and_found(
    make: MakeTransport, server: Server
) -> None:
    server.mode = "reset_order_posts"
    server.order_landed = True
    async with AsyncClient(server.url, TOKEN, transport=make(), backoff=Backoff.none()) as client:
        with anyio.fail_after(LIMIT):
            order = await client.place_order(order_request())
    # The reset came after the request was sent: looked up, found, not sent again.
    post, lookup = server.requests
    assert (post.method, lookup.method) == ("POST", "GET")
    sent_id = json.loads(post.body)["custom_order_id"]
    assert lookup.target == f"/api/orders/?custom_order_ids={sent_id}&page_size=100"
    assert order.id == f"landed-{sent_id}"
    assert order.custom_order_id == sent_id


async def test_sdk_order_reset_after_sending_is_looked_up_before_every_resend(
    make: MakeTransport, server: Server
) -> None:
    server.mode = "reset_order_posts"  # the order never lands
    async with AsyncClient(server.url, TOKEN, transport=make(), backoff=Backoff.none()) as client:
        with pytest.raises(OrderOutcomeUnknownError) as info, anyio.fail_after(LIMIT):
            await client.place_order(order_request())  # max_retries=2
    assert [seen.method for seen in server.requests] == ["POST", "GET"] * 3
    posts = [seen for seen in server.requests if seen.method == "POST"]
    assert len({seen.body for seen in posts}) == 1  # resent as is: the same custom_order_id
    sent_id = json.loads(posts[0].body)["custom_order_id"]
    assert info.value.custom_order_id == sent_id
    cause = info.value.__cause__
    assert isinstance(cause, APIConnectionError)
    assert cause.may_have_reached_server is True


async def test_sdk_refused_never_reached_the_server(make: MakeTransport) -> None:
    async with AsyncClient(f"http://127.0.0.1:{refused_port()}", TOKEN, transport=make()) as c:
        with pytest.raises(APIConnectionError) as info, anyio.fail_after(LIMIT):
            await c.place_order(order_request())
    assert not isinstance(info.value, OrderOutcomeUnknownError)
    assert info.value.may_have_reached_server is False


async def test_sdk_round_trip(make: MakeTransport, server: Server) -> None:
    async with AsyncClient(server.url + "/prefix", TOKEN, transport=make()) as client:
        body = await client.request("GET", "api/orders/")
    assert body["target"] == "/prefix/api/orders/"
    (seen,) = server.requests
    assert ("Authorization", f"Token {TOKEN}") in seen.headers


# --------------------------------------------------------------------------- transport specifics


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_aiohttp_transport_refuses_trio_clearly(anyio_backend: str) -> None:
    pytest.importorskip("aiohttp")
    transport = AiohttpTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(RuntimeError, match="asyncio only"):
            await client.get("http://127.0.0.1:1/")


def test_aiohttp_transport_names_the_extra_when_aiohttp_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # import aiohttp -> ImportError
    with pytest.raises(ImportError, match=r"taas-async\[aiohttp\]"):
        AiohttpTransport()
