"""``H11PoolTransport``: the SDK's default transport, an HTTP/1.1 keep-alive pool.

httpx's default pool (httpcore) rescans every connection for every queued
request (encode/httpx#3215): with 64 requests in flight it spends more time
assigning connections than sending. This pool checks a connection out in
O(1): plain asyncio protocols on asyncio (and uvloop), anyio streams on trio.
It reads each reply body whole before returning it, so a connection goes
back to the pool, or is closed, before the response reaches httpx; a
cancelled request closes its connection. Content-Encoding is left to httpx.
Requests and replies go through :mod:`._http11` (replies parsed by llhttp).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import socket
import ssl
import time
import typing
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import httpx

from taas_async._transports._common import (
    DEFAULT_LIMITS,
    FRESH_CONNECTION,
    MAX_REPLY_SIZE,
    READ_SIZE,
    REPLY_STATUS,
    Origin,
    describe,
    is_readable,
    origin_of,
    ssl_context,
    timeouts_of,
)
from taas_async._transports._http11 import Outgoing, Reply, encode_request, exchange
from taas_async._transports._websocket import WsprotoSocket

__all__ = ["H11PoolTransport"]


class _StreamIO:
    """Bytes in and out of one connection, on anyio streams (trio, or any anyio backend)."""

    __slots__ = ("_sock", "_stream")

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream
        self._sock: socket.socket | None = stream.extra(  # noqa: S610 (anyio, not Django)
            anyio.abc.SocketAttribute.raw_socket, None
        )

    async def write(self, data: bytes, timeout: float | None) -> None:
        try:
            if timeout is None:
                await self._stream.send(data)
            else:
                with anyio.fail_after(timeout):
                    await self._stream.send(data)
        except TimeoutError as exc:  # before OSError: TimeoutError is one
            raise httpx.WriteTimeout(f"sending stalled for {timeout} s") from exc
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise httpx.WriteError(describe(exc)) from exc

    async def read(self, timeout: float | None) -> bytes:
        """The next bytes from the server; ``b""`` at end of stream."""
        try:
            if timeout is None:
                return await self._stream.receive(READ_SIZE)
            with anyio.fail_after(timeout):
                return await self._stream.receive(READ_SIZE)
        except anyio.EndOfStream:
            return b""
        except TimeoutError as exc:
            raise httpx.ReadTimeout(f"no data from the server for {timeout} s") from exc
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise httpx.ReadError(describe(exc)) from exc

    def idle_ok(self) -> bool:
        """Nothing to read on an idle connection: no EOF, no reset, no stray bytes."""
        return not is_readable(self._sock)

    async def aclose(self) -> None:
        await anyio.aclose_forcefully(self._stream)


class _ProtocolIO(asyncio.Protocol):
    """Bytes in and out of one connection, as an asyncio protocol: no stream layer.

    The transport keeps reading while the connection is idle, so a server's
    close is seen at once (``idle_ok``).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._chunks: list[bytes] = []
        self._eof = False
        self._lost = False
        self._error: Exception | None = None
        self._reader: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._paused = False
        self._buffered = 0
        self._reading_paused = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not asyncio.Transport subclasses).
        self._transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > READ_SIZE * 4 and self._transport is not None:
            self._transport.pause_reading()  # until read() takes it: bounded memory
            self._reading_paused = True
        self._wake_reader()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake_reader()
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._eof = True
        self._error = exc
        self._wake_reader()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _wake_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    # the connection's I/O
    async def write(self, data: bytes, timeout: float | None) -> None:
        transport = self._transport
        if transport is None or self._lost or transport.is_closing():
            raise httpx.WriteError(describe(self._error) if self._error else "connection closed")
        transport.write(data)
        while self._paused and not self._lost:
            self._drained = self._loop.create_future()
            await self._wait(self._drained, timeout, httpx.WriteTimeout, "sending stalled")
        if self._lost:
            raise httpx.WriteError(describe(self._error) if self._error else "connection lost")

    async def read(self, timeout: float | None) -> bytes:
        """The next bytes from the server; ``b""`` at end of stream."""
        if not self._chunks and not self._eof:
            self._reader = self._loop.create_future()
            await self._wait(self._reader, timeout, httpx.ReadTimeout, "no data from the server")
        if self._chunks:
            chunks = self._chunks
            self._chunks = []
            self._buffered = 0
            if self._reading_paused and self._transport is not None:
                self._reading_paused = False
                self._transport.resume_reading()
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if self._error is not None:
            raise httpx.ReadError(describe(self._error)) from self._error
        return b""

    async def _wait(
        self,
        future: asyncio.Future[None],
        timeout: float | None,
        error: type[httpx.TimeoutException],
        what: str,
    ) -> None:
        await _awaited(future, timeout, _expire, error, f"{what} for {timeout} s")

    def idle_ok(self) -> bool:
        """Nothing came in on an idle connection: no EOF, no reset, no stray bytes.

        The socket itself is asked too: a server's close that the kernel has
        received but the event loop has not yet delivered (the usual case
        when a request follows the previous reply at once) shows up there.
        """
        transport = self._transport
        return not (
            self._eof
            or self._chunks
            or transport is None
            or transport.is_closing()
            or self._loop is not asyncio.get_running_loop()  # a pool shared across loops
            or is_readable(transport.get_extra_info("socket"))
        )

    async def aclose(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(RuntimeError):  # its event loop is closed
                self._transport.abort()


async def _awaited(
    future: asyncio.Future[None], timeout: float | None, expire: Callable[..., None], *args: Any
) -> None:
    """Await ``future``; once ``timeout`` seconds have passed, ``expire(future, *args)`` runs."""
    if timeout is None:
        await future
        return
    timer = future.get_loop().call_later(timeout, expire, future, *args)
    try:
        await future
    finally:
        timer.cancel()


def _expire(
    future: asyncio.Future[None], error: type[httpx.TimeoutException], message: str
) -> None:
    if not future.done():
        future.set_exception(error(message))


_IO = _StreamIO | _ProtocolIO


class _Connection:
    """One HTTP/1.1 connection: where it goes, its I/O, since when it is idle."""

    __slots__ = ("idle_since", "io", "origin")

    def __init__(self, origin: Origin, io: _IO) -> None:
        self.origin = origin
        self.io = io
        self.idle_since = 0.0


class _Waiter:
    """A request waiting for a connection: it is handed one, or a slot to open one.

    On asyncio it waits on a plain future with a timer (an anyio event and
    cancel scope cost a fifth of the CPU of a call when a thousand wait);
    elsewhere (trio) on an anyio event.
    """

    __slots__ = ("_event", "_future", "abandoned", "conn", "fresh", "origin", "slot")

    def __init__(self, origin: Origin, *, fresh: bool) -> None:
        self.origin = origin
        self.fresh = fresh  # wants a new connection, never a used one
        self.conn: _Connection | None = None
        self.slot = False
        self.abandoned = False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # trio
            self._future: asyncio.Future[None] | None = None
            self._event: anyio.Event | None = anyio.Event()
        else:
            self._future = loop.create_future()
            self._event = None

    def wake(self) -> None:
        """It has been handed a connection or a slot, or the pool closed."""
        if self._future is not None:
            if not self._future.done():
                self._future.set_result(None)
        elif self._event is not None:
            self._event.set()

    async def wait(self, timeout: float | None) -> None:
        """Until woken, or ``timeout`` seconds have passed."""
        future = self._future
        if future is None:
            assert self._event is not None  # noqa: S101 (one or the other)
            with anyio.move_on_after(math.inf if timeout is None else timeout):
                await self._event.wait()
        else:
            await _awaited(future, timeout, _time_up)


def _time_up(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _happy_eyeballs_target(
    loop: asyncio.AbstractEventLoop, host: str, port: int
) -> tuple[str, float | None]:
    """Where to connect, and whether to race addresses (Happy Eyeballs, RFC 8305).

    Racing is only worth it with several addresses, and asyncio's race
    (``staggered_race``, Python 3.11) leaks the socket it connected when the
    caller is cancelled at the wrong moment: so one address is connected to
    directly, without a race.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host, None
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if len(addresses) == 1:
        return str(addresses[0]), None
    return host, 0.25  # none (an error follows) or several: let asyncio race them


class H11PoolTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive pool with O(1) checkout: asyncio and trio.

    Example::

        async with httpx.AsyncClient(transport=H11PoolTransport()) as client:
            await client.get("https://app.tread.fi/api/orders/")

    On asyncio each connection is a plain ``asyncio.Protocol``; elsewhere
    (trio) an anyio stream. Connections are kept per origin (scheme, host,
    port), reused last in, first out, and dropped if they expired or the
    server closed them while idle. When all ``limits.max_connections`` are in
    use, requests wait in FIFO order up to the pool timeout
    (``httpx.PoolTimeout``). HTTP/1.1 only: no HTTP/2, proxies or Unix
    sockets. Reply bodies are read whole; replies are parsed by llhttp
    (``httptools``).

    Args:
        limits: connection limits (``max_keepalive_connections`` caps idle ones).
        verify: TLS verification, as for ``httpx.AsyncHTTPTransport``.

    """

    def __init__(
        self,
        *,
        limits: httpx.Limits = DEFAULT_LIMITS,
        verify: ssl.SSLContext | bool | str = True,
    ) -> None:
        self._max = limits.max_connections if limits.max_connections is not None else math.inf
        self._max_idle = (
            limits.max_keepalive_connections
            if limits.max_keepalive_connections is not None
            else math.inf
        )
        self._expiry = limits.keepalive_expiry
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._idle: dict[Origin, list[_Connection]] = {}
        self._n_idle = 0
        self._n_open = 0  # connections open or being opened: the slots in use
        self._conns: set[_Connection] = set()
        self._waiters: deque[_Waiter] = deque()
        self._closed = False
        self._use_streams = False  # tests: anyio streams on asyncio too

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on a pooled connection and return the reply, read whole."""
        origin = origin_of(request.url)
        outgoing = encode_request(request)

        def heard(status: int) -> None:
            # The server answered: should the body now break off (or outlast the
            # caller's deadline), the caller still knows what the status was.
            request.extensions[REPLY_STATUS] = status

        reply = await self.round_trip(
            origin,
            outgoing,
            timeouts_of(request),
            fresh=FRESH_CONNECTION in request.extensions,
            limit=request.extensions.get(MAX_REPLY_SIZE),
            on_status=heard,
        )
        return httpx.Response(
            status_code=reply.status_code,
            headers=reply.headers,
            stream=httpx.ByteStream(reply.content),
            extensions={
                "http_version": b"HTTP/" + reply.http_version.encode("ascii"),
                "reason_phrase": reply.reason,
            },
        )

    async def round_trip(
        self,
        origin: Origin,
        outgoing: Outgoing,
        timeouts: dict[str, float | None],
        *,
        fresh: bool = False,
        limit: int | None = None,
        on_status: Callable[[int], None] | None = None,
    ) -> Reply:
        """One request on a pooled connection (a new one if ``fresh``), its reply read whole.

        The SDK's own path: no ``httpx.Request`` or ``httpx.Response`` is made.
        Errors are httpx's, classified as :meth:`handle_async_request`'s are.
        """
        conn = await self._acquire(origin, timeouts, fresh=fresh)
        # From here on the connection is established: whatever fails, the
        # request may have reached the server.
        try:
            reply = await exchange(conn.io, outgoing, timeouts, limit=limit, on_status=on_status)
        except BaseException:
            await self._forget(conn).io.aclose()
            raise
        handed_over = reply.reusable and bool(self._waiters)
        closing = self._checkin(conn) if reply.reusable else self._forget(conn)
        if closing is not None:
            await closing.io.aclose()
        elif handed_over:
            # The connection went straight to a request waiting for it: let that
            # request go out before this reply is decoded, so that a saturated
            # pool's connections do not idle while replies are decoded. (A cancel
            # or a deadline landing here is no different from one landing on the
            # exchange's last read.)
            await anyio.lowlevel.checkpoint()
        return reply

    async def aclose(self) -> None:
        """Close every connection, idle or in use; later requests fail."""
        self._closed = True
        conns, self._conns = self._conns, set()
        self._idle.clear()
        self._n_idle = 0
        while self._waiters:
            self._waiters.popleft().wake()  # neither a connection nor a slot: closed
        for conn in conns:
            await conn.io.aclose()
        await anyio.lowlevel.checkpoint()  # let asyncio finish closing the sockets

    # ------------------------------------------------------------------ the pool

    async def _acquire(
        self, origin: Origin, timeouts: dict[str, float | None], *, fresh: bool
    ) -> _Connection:
        while True:
            if self._closed:
                raise RuntimeError("this H11PoolTransport is closed")
            stack = None if fresh else self._idle.get(origin)
            if stack:
                conn = stack.pop()
                self._n_idle -= 1
                if self._fresh(conn):
                    return conn
                await self._forget(conn).io.aclose()  # stale: free its slot, look again
            elif self._n_open < self._max:
                self._n_open += 1
                return await self._open(origin, timeouts)
            elif self._n_idle:
                # The slots are held by idle connections (to other origins, or
                # used ones when a fresh one is wanted): free one.
                await self._forget(self._evict_idle()).io.aclose()
            else:
                return await self._wait(origin, timeouts, fresh=fresh)

    async def _wait(
        self, origin: Origin, timeouts: dict[str, float | None], *, fresh: bool
    ) -> _Connection:
        waiter = _Waiter(origin, fresh=fresh)
        self._waiters.append(waiter)
        pool_timeout = timeouts.get("pool")
        try:
            await waiter.wait(pool_timeout)
        except BaseException:
            waiter.abandoned = True
            if waiter.conn is not None:
                closing = self._checkin(waiter.conn)
                if closing is not None:
                    await closing.io.aclose()
            elif waiter.slot:
                self._free_slot()
            raise
        conn = waiter.conn
        if conn is not None:
            if conn.io.idle_ok():
                return conn
            # Handed over straight from its last reply, and the server has closed
            # it since: open a new one in its slot.
            self._conns.discard(conn)
            await conn.io.aclose()
            return await self._open(origin, timeouts)
        if waiter.slot:
            return await self._open(origin, timeouts)
        waiter.abandoned = True
        if self._closed:
            raise RuntimeError("this H11PoolTransport is closed")
        raise httpx.PoolTimeout(f"no connection free within {pool_timeout} s (pool timeout)")

    async def connect_websocket(
        self, url: httpx.URL, headers: Sequence[tuple[str, str]], timeout: float | None
    ) -> WsprotoSocket:
        """A WebSocket to ``url`` (``ws``/``wss``) on a connection of its own, outside the pool.

        Connected as the pool's connections are (the same TLS settings): a
        connect failure is ``httpx.ConnectError`` or ``httpx.ConnectTimeout``,
        a reply other than the upgrade :class:`WebSocketRefusedError`.
        """
        scheme = {b"ws": b"http", b"wss": b"https"}.get(url.raw_scheme)
        if scheme is None:
            raise httpx.UnsupportedProtocol(f"not a WebSocket URL: {url.scheme}://...")
        _, host, port = origin_of(url.copy_with(scheme=scheme.decode("ascii")))
        io = await self._connect((scheme, host, port), timeout)
        return await WsprotoSocket.handshake(io, url, headers, timeout)

    async def _open(self, origin: Origin, timeouts: dict[str, float | None]) -> _Connection:
        """Open a connection in a slot already reserved; the slot is freed on failure."""
        try:
            io = await self._connect(origin, timeouts.get("connect"))
        except BaseException:
            self._free_slot()
            raise
        conn = _Connection(origin, io)
        self._conns.add(conn)
        return conn

    async def _connect(self, origin: Origin, timeout: float | None) -> _IO:
        scheme, raw_host, port = origin
        host = raw_host.decode("ascii")
        context = None
        if scheme == b"https":
            if self._ssl is None:
                self._ssl = ssl_context(self._verify)
            context = self._ssl
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # trio
            loop = None
        try:
            with anyio.fail_after(timeout):
                if loop is not None and not self._use_streams:
                    target, delay = await _happy_eyeballs_target(loop, host, port)
                    race: dict[str, Any] = {}
                    if delay is not None and isinstance(loop, asyncio.BaseEventLoop):
                        # asyncio's own loop races the addresses; uvloop's takes no
                        # such argument and tries them one after another.
                        race["happy_eyeballs_delay"] = delay
                    _, protocol = await loop.create_connection(
                        lambda: _ProtocolIO(loop),
                        target,
                        port,
                        ssl=context,
                        server_hostname=host if context else None,
                        **race,
                    )
                    return protocol
                if context is None:
                    return _StreamIO(await anyio.connect_tcp(host, port))
                stream = await anyio.connect_tcp(
                    host, port, ssl_context=context, tls_standard_compatible=False
                )
                return _StreamIO(stream)
        except TimeoutError as exc:  # before OSError: TimeoutError is one
            raise httpx.ConnectTimeout(
                f"no connection to {host}:{port} within {timeout} s"
            ) from exc
        except (OSError, anyio.BrokenResourceError) as exc:  # refused, DNS, TLS handshake
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {describe(exc)}") from exc

    def _fresh(self, conn: _Connection) -> bool:
        if self._expiry is not None and time.monotonic() - conn.idle_since > self._expiry:
            return False
        return conn.io.idle_ok()

    def _evict_idle(self) -> _Connection:
        for stack in self._idle.values():
            if stack:
                self._n_idle -= 1
                return stack.pop(0)  # the oldest
        raise AssertionError("no idle connection to evict")  # pragma: no cover

    def _free_slot(self) -> None:
        """A connection closed (or never opened): give its slot to the next waiter."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.abandoned:
                waiter.slot = True
                waiter.wake()
                return
        self._n_open -= 1

    def _checkin(self, conn: _Connection) -> _Connection | None:
        """Return a reusable connection; gives back one the caller must close, if any."""
        if self._closed:
            return self._forget(conn)
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.abandoned:
                continue
            if waiter.origin == conn.origin and not waiter.fresh:
                waiter.conn = conn
                waiter.wake()
                return None
            # A waiter for another origin, or for a new connection: this one makes room.
            self._conns.discard(conn)
            waiter.slot = True
            waiter.wake()
            return conn
        if self._n_idle >= self._max_idle:
            return self._forget(conn)
        conn.idle_since = time.monotonic()
        self._idle.setdefault(conn.origin, []).append(conn)
        self._n_idle += 1
        return None

    def _forget(self, conn: _Connection) -> _Connection:
        """Take a connection out of the pool (freeing its slot); the caller closes it."""
        if conn in self._conns:
            self._conns.discard(conn)
            self._free_slot()
        return conn
