"""httpx transports that do not collapse under fan-out.

httpx's default pool (httpcore) rescans every connection for every queued
request (encode/httpx#3215): with 64 requests in flight it spends more time
assigning connections than sending. The transports here keep httpx's client
API (``httpx.AsyncClient(transport=...)``) and its error classes:

- :class:`H11PoolTransport`: a small HTTP/1.1 keep-alive pool on h11 (an
  httpx dependency) with O(1) checkout: plain asyncio protocols on asyncio,
  anyio streams on trio. No new dependency.
- :class:`SplitPoolTransport`: several httpx pools, each holding a share of
  the connection limits, so each one's rescans stay short. asyncio and trio.
- :class:`AiohttpTransport`: an ``aiohttp.ClientSession`` behind httpx.
  asyncio only; needs the ``aiohttp`` extra.

Error classification, which the SDK's order safety rests on (an order POST is
resent only when it provably never left the client)::

    httpx.PoolTimeout          no connection was free in time       never sent
    httpx.ConnectError         refused, DNS failure, TLS handshake  never sent
    httpx.ConnectTimeout       the connection was not established   never sent
    httpx.UnsupportedProtocol  not an http(s) URL                   never sent
    httpx.LocalProtocolError   the request could not be encoded     never sent
    httpx.WriteError           the connection broke while sending   may have reached the server
    httpx.WriteTimeout         sending stalled                      may have reached the server
    httpx.ReadError            the connection broke while reading   may have reached the server
    httpx.ReadTimeout          no reply in time                     may have reached the server
    httpx.RemoteProtocolError  closed without a (complete) reply    may have reached the server

A connection that was established counts as "may have reached the server"
whatever happens next, even when the server resets it before reading: the
client cannot tell "reset before reading" from "read, acted on, then reset".

Every transport here reads each reply body whole before returning it (the
SDK reads every reply whole anyway), so a connection goes back to the pool,
or is closed, before the response is handed to httpx; a cancelled request
closes its connection. Content-Encoding is left to httpx, as with its own
transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import math
import select
import socket
import ssl
import time
import typing
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.lowlevel
import h11
import httpx

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_LIMITS", "AiohttpTransport", "H11PoolTransport", "SplitPoolTransport"]

#: The SDK's limits: as many keep-alive connections as connections.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)

_READ_SIZE = 65536
_Origin = tuple[bytes, bytes, int]  # scheme, host, port


def _ssl_context(verify: ssl.SSLContext | bool | str) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    return httpx.create_ssl_context(verify=verify)


def _origin(url: httpx.URL) -> _Origin:
    scheme = url.raw_scheme
    if scheme not in (b"http", b"https"):
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme.decode('ascii')!r}")
    if not url.raw_host:
        raise httpx.UnsupportedProtocol(f"no host in URL {url}")
    return scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80)


def _timeouts(request: httpx.Request) -> dict[str, float | None]:
    timeouts: dict[str, float | None] = request.extensions.get("timeout") or {}
    return timeouts


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------- h11 pool


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
            raise httpx.WriteError(_describe(exc)) from exc

    async def read(self, timeout: float | None) -> bytes:
        """The next bytes from the server; ``b""`` at end of stream."""
        try:
            if timeout is None:
                return await self._stream.receive(_READ_SIZE)
            with anyio.fail_after(timeout):
                return await self._stream.receive(_READ_SIZE)
        except anyio.EndOfStream:
            return b""
        except TimeoutError as exc:
            raise httpx.ReadTimeout(f"no data from the server for {timeout} s") from exc
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise httpx.ReadError(_describe(exc)) from exc

    def idle_ok(self) -> bool:
        """Nothing to read on an idle connection: no EOF, no reset, no stray bytes."""
        return not _is_readable(self._sock)

    async def aclose(self) -> None:
        await anyio.aclose_forcefully(self._stream)


def _is_readable(sock: Any) -> bool:
    """Whether the kernel holds something to read (bytes, EOF or a reset): unusable when idle.

    ``sock`` is a socket or anything with ``fileno()`` (asyncio's and uvloop's
    transport sockets); a closed one counts as readable.
    """
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover (Windows)
    return bool(readable)


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
        if self._buffered > _READ_SIZE * 4 and self._transport is not None:
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
            raise httpx.WriteError(_describe(self._error) if self._error else "connection closed")
        transport.write(data)
        while self._paused and not self._lost:
            self._drained = self._loop.create_future()
            await self._wait(self._drained, timeout, httpx.WriteTimeout, "sending stalled")
        if self._lost:
            raise httpx.WriteError(_describe(self._error) if self._error else "connection lost")

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
            raise httpx.ReadError(_describe(self._error)) from self._error
        return b""

    async def _wait(
        self,
        future: asyncio.Future[None],
        timeout: float | None,
        error: type[httpx.TimeoutException],
        what: str,
    ) -> None:
        if timeout is None:
            await future
            return
        timer = self._loop.call_later(timeout, _expire, future, error, f"{what} for {timeout} s")
        try:
            await future
        finally:
            timer.cancel()

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
            or _is_readable(transport.get_extra_info("socket"))
        )

    async def aclose(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(RuntimeError):  # its event loop is closed
                self._transport.abort()


def _expire(
    future: asyncio.Future[None], error: type[httpx.TimeoutException], message: str
) -> None:
    if not future.done():
        future.set_exception(error(message))


_IO = _StreamIO | _ProtocolIO


class _Connection:
    """One HTTP/1.1 connection: its I/O and its h11 state machine."""

    __slots__ = ("h11", "idle_since", "io", "origin")

    def __init__(self, origin: _Origin, io: _IO) -> None:
        self.origin = origin
        self.io = io
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0


class _Waiter:
    """A request waiting for a connection: it is handed one, or a slot to open one."""

    __slots__ = ("abandoned", "conn", "event", "fresh", "origin", "slot")

    def __init__(self, origin: _Origin, *, fresh: bool) -> None:
        self.origin = origin
        self.fresh = fresh  # wants a new connection, never a used one
        self.event = anyio.Event()
        self.conn: _Connection | None = None
        self.slot = False
        self.abandoned = False


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
    """HTTP/1.1 keep-alive pool on h11 with O(1) checkout: asyncio and trio.

    Example::

        async with httpx.AsyncClient(transport=H11PoolTransport()) as client:
            await client.get("https://app.tread.fi/api/orders/")

    On asyncio each connection is a plain ``asyncio.Protocol``; elsewhere
    (trio) an anyio stream. Connections are kept per origin (scheme, host,
    port), reused last in, first out, and dropped if they expired or the
    server closed them while idle. When all ``limits.max_connections`` are in
    use, requests wait in FIFO order up to the pool timeout
    (``httpx.PoolTimeout``). HTTP/1.1 only: no HTTP/2, proxies or Unix
    sockets. Reply bodies are read whole.

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
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._n_idle = 0
        self._n_open = 0  # connections open or being opened: the slots in use
        self._conns: set[_Connection] = set()
        self._waiters: deque[_Waiter] = deque()
        self._closed = False
        self._use_streams = False  # tests: anyio streams on asyncio too

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on a pooled connection and return the reply, read whole."""
        origin = _origin(request.url)
        timeouts = _timeouts(request)
        conn = await self._acquire(origin, timeouts, fresh=FRESH_CONNECTION in request.extensions)
        # From here on the connection is established: whatever fails, the
        # request may have reached the server.
        try:
            response, reusable = await _exchange(conn.h11, conn.io, request, timeouts)
        except BaseException:
            await self._forget(conn).io.aclose()
            raise
        closing = self._checkin(conn) if reusable else self._forget(conn)
        if closing is not None:
            await closing.io.aclose()
        return response

    async def aclose(self) -> None:
        """Close every connection, idle or in use; later requests fail."""
        self._closed = True
        conns, self._conns = self._conns, set()
        self._idle.clear()
        self._n_idle = 0
        while self._waiters:
            self._waiters.popleft().event.set()  # neither a connection nor a slot: closed
        for conn in conns:
            await conn.io.aclose()
        await anyio.lowlevel.checkpoint()  # let asyncio finish closing the sockets

    # ------------------------------------------------------------------ the pool

    async def _acquire(
        self, origin: _Origin, timeouts: dict[str, float | None], *, fresh: bool
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
        self, origin: _Origin, timeouts: dict[str, float | None], *, fresh: bool
    ) -> _Connection:
        waiter = _Waiter(origin, fresh=fresh)
        self._waiters.append(waiter)
        pool_timeout = timeouts.get("pool")
        try:
            if pool_timeout is None:
                await waiter.event.wait()
            else:
                with anyio.move_on_after(pool_timeout):
                    await waiter.event.wait()
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

    async def _open(self, origin: _Origin, timeouts: dict[str, float | None]) -> _Connection:
        """Open a connection in a slot already reserved; the slot is freed on failure."""
        try:
            io = await self._connect(origin, timeouts.get("connect"))
        except BaseException:
            self._free_slot()
            raise
        conn = _Connection(origin, io)
        self._conns.add(conn)
        return conn

    async def _connect(self, origin: _Origin, timeout: float | None) -> _IO:
        scheme, raw_host, port = origin
        host = raw_host.decode("ascii")
        context = None
        if scheme == b"https":
            if self._ssl is None:
                self._ssl = _ssl_context(self._verify)
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
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {_describe(exc)}") from exc

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
                waiter.event.set()
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
                waiter.event.set()
                return None
            # A waiter for another origin, or for a new connection: this one makes room.
            self._conns.discard(conn)
            waiter.slot = True
            waiter.event.set()
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


# --------------------------------------------------------------------------- one exchange


async def _exchange(
    h: h11.Connection, io: _IO, request: httpx.Request, timeouts: dict[str, float | None]
) -> tuple[httpx.Response, bool]:
    """Send the request, read the reply whole; also says if the connection is reusable."""
    await _send_request(h, io, request, timeouts.get("write"))
    try:
        head, content = await _receive_response(h, io, timeouts.get("read"), request)
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc)) from exc
    reusable = h.our_state is h11.DONE and h.their_state is h11.DONE
    if reusable:
        h.start_next_cycle()
    response = httpx.Response(
        status_code=head.status_code,
        headers=head.headers.raw_items(),
        stream=httpx.ByteStream(content),
        extensions={"http_version": b"HTTP/" + head.http_version, "reason_phrase": head.reason},
    )
    return response, reusable


async def _send_request(
    h: h11.Connection, io: _IO, request: httpx.Request, timeout: float | None
) -> None:
    # Everything is encoded before the first byte is written, so that an
    # encoding error (LocalProtocolError) means nothing was sent.
    try:
        parts = [
            h.send(
                h11.Request(
                    method=request.method,
                    target=request.url.raw_path,
                    headers=request.headers.raw,
                )
            )
        ]
        try:
            body: bytes | None = request.content
        except httpx.RequestNotRead:
            body = None
        if body is not None:
            if body:
                parts.append(h.send(h11.Data(data=body)))
            parts.append(h.send(h11.EndOfMessage()))
    except h11.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc)) from exc
    if body is not None and len(body) > _READ_SIZE:  # large: no copy of the body
        for part in parts:
            if part:
                await io.write(part, timeout)
    else:  # small: the whole request in one write
        await io.write(b"".join(part for part in parts if part), timeout)
    if body is None:  # a streamed body
        stream = request.stream
        assert isinstance(stream, httpx.AsyncByteStream)  # noqa: S101 (an async client's)
        chunks = stream.__aiter__()
        try:
            async for chunk in chunks:
                if chunk:
                    await io.write(_join(h.send(h11.Data(data=chunk)), None), timeout)
            end = h.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:  # part of the request is out already
            raise httpx.WriteError(f"request body does not match its framing: {exc}") from exc
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:  # an abandoned async generator makes trio warn
                await close()
        if end:
            await io.write(end, timeout)


async def _receive_response(
    h: h11.Connection, io: _IO, timeout: float | None, request: httpx.Request
) -> tuple[h11.Response, bytes]:
    while True:
        event = h.next_event()
        if event is h11.NEED_DATA:
            chunk = await io.read(timeout)
            if not chunk and h.their_state is h11.SEND_RESPONSE:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            h.receive_data(chunk)
        elif isinstance(event, h11.Response):
            break
        elif not isinstance(event, h11.InformationalResponse):
            raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} event")
    # The server answered: should the body now break off (or outlast the
    # caller's deadline), the caller still knows what the status was.
    request.extensions[REPLY_STATUS] = event.status_code
    limit: int | None = request.extensions.get(MAX_REPLY_SIZE)
    cap = None if limit is None else ReplyCap(limit, event.status_code, event.headers.raw_items())
    chunks: list[bytes] = []
    while True:
        part = h.next_event()
        if part is h11.NEED_DATA:
            h.receive_data(await io.read(timeout))
        elif isinstance(part, h11.Data):
            if cap is None:
                chunks.append(part.data)
            else:
                cap.add(part.data)
        elif isinstance(part, h11.EndOfMessage):
            break
        else:
            raise httpx.RemoteProtocolError(f"unexpected {type(part).__name__} event")
    if cap is not None:
        return event, cap.body()
    return event, chunks[0] if len(chunks) == 1 else b"".join(chunks)


#: Request extension our transports set once a reply's status line has come,
#: before its body is read (they read it whole before returning).
REPLY_STATUS = "taas_reply_status"

#: Request extension: the most bytes of reply body to read (an int). Past it,
#: the transport stops reading, closes the connection and raises
#: :class:`ReplyTooLarge`. Without it, bodies are read whole, whatever size.
MAX_REPLY_SIZE = "taas_max_reply_size"


class ReplyTooLarge(httpx.TransportError):
    """A reply body longer than the request's ``MAX_REPLY_SIZE``: not read further.

    ``status_code`` and ``headers`` are the reply's; ``head`` the first bytes
    of its body (at most 64 KiB).
    """

    def __init__(
        self, limit: int, *, status_code: int, headers: list[tuple[bytes, bytes]], head: bytes
    ) -> None:
        super().__init__(f"the reply is larger than {limit} bytes")
        self.limit = limit
        self.status_code = status_code
        self.headers = headers
        self.head = head


_HEAD = 65536  # bytes of an oversized body kept for the error


class ReplyCap:
    """Collects a reply body up to ``limit`` bytes; past it, :class:`ReplyTooLarge`.

    A body whose Content-Length is already over the limit is read only as far
    as the 64 KiB its error keeps.
    """

    __slots__ = ("_chunks", "_headers", "_limit", "_over", "_size", "_status", "_stop")

    def __init__(self, limit: int, status_code: int, headers: list[tuple[bytes, bytes]]) -> None:
        self._limit = limit
        self._status = status_code
        self._headers = headers
        declared = next((v for k, v in headers if k.lower() == b"content-length"), b"")
        self._over = declared.strip().isdigit() and int(declared) > limit
        self._stop = min(limit, _HEAD - 1) if self._over else limit
        self._chunks: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes) -> None:
        """One more part of the body."""
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size > self._stop:
            raise self._error()

    def body(self) -> bytes:
        """The whole body, once it has ended."""
        if self._over:  # it ended before the head was full
            raise self._error()
        chunks = self._chunks
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _error(self) -> ReplyTooLarge:
        head = bytearray()
        for chunk in self._chunks:
            head += chunk[: _HEAD - len(head)]
        return ReplyTooLarge(
            self._limit, status_code=self._status, headers=self._headers, head=bytes(head)
        )


#: Request extension: send this request on a new connection, not a pooled one.
#: The SDK sets it on every attempt that follows a failure after which the
#: server may have acted (a retry, an order lookup, a resend), so that a pooled
#: connection the server has closed meanwhile cannot fail that one too.
FRESH_CONNECTION = "taas_fresh_connection"


def _join(head: bytes | None, more: bytes | None) -> bytes:
    return (head or b"") + (more or b"")


# --------------------------------------------------------------------------- split httpcore pool


class _Body(httpx.AsyncByteStream):
    """A request body iterated without an async generator.

    httpcore abandons the body's iterator when a send fails; an abandoned
    async generator makes trio warn (ResourceWarning) when it is collected.
    """

    def __init__(self, content: bytes) -> None:
        self._content = content

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _Once(self._content)


class _Once:
    """An async iterator over one chunk (none if empty)."""

    def __init__(self, content: bytes) -> None:
        self._content: bytes | None = content or None

    def __aiter__(self) -> _Once:
        return self

    async def __anext__(self) -> bytes:
        content, self._content = self._content, None
        if content is None:
            raise StopAsyncIteration
        return content


class _Chunks:
    """An async iterator over a large body in slices, without copying it."""

    def __init__(self, content: bytes, size: int = _READ_SIZE) -> None:
        self._view = memoryview(content)
        self._size = size
        self._offset = 0

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        start = self._offset
        if start >= len(self._view):
            raise StopAsyncIteration
        self._offset = start + self._size
        return bytes(self._view[start : self._offset])


class _CountedStream(httpx.AsyncByteStream):
    """A reply body that tells its pool when it is closed (the connection is free)."""

    def __init__(self, inner: httpx.AsyncByteStream, busy: list[int], index: int) -> None:
        self._inner = inner
        self._busy = busy
        self._index = index
        self._open = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if self._open:
                self._open = False
                self._busy[self._index] -= 1


class SplitPoolTransport(httpx.AsyncBaseTransport):
    """Several ``httpx.AsyncHTTPTransport`` pools sharing the limits: asyncio and trio.

    httpcore's cost per request grows with the connections and requests of
    its pool; ``pools`` small pools keep that short. Each request goes to the
    least busy pool (the first one when idle, so sequential requests reuse one
    warm connection). ``limits`` are divided between the pools, so
    ``max_connections`` still bounds the total; a request waits for its own
    pool (``httpx.PoolTimeout``) even if another has room. A request that asks
    for a new connection (the SDK's follow-ups after a broken one) goes
    through a lane of its own that keeps no connection alive, outside those
    limits.

    Example::

        transport = SplitPoolTransport(pools=16, limits=httpx.Limits(max_connections=100))
        async with httpx.AsyncClient(transport=transport) as client:
            ...

    Args:
        pools: how many pools (at most ``max_connections``).
        limits: the limits for all pools together.
        verify: TLS verification, one SSL context for all pools.
        options: passed on to each ``httpx.AsyncHTTPTransport`` (``http2``,
            ``retries``, ``local_address``, ...).

    """

    def __init__(
        self,
        pools: int = 16,
        *,
        limits: httpx.Limits = DEFAULT_LIMITS,
        verify: ssl.SSLContext | bool | str = True,
        **options: Any,
    ) -> None:
        if not _is_int(pools) or pools < 1:
            raise ValueError(f"pools must be an integer >= 1, got {pools!r}")
        if limits.max_connections is not None:
            pools = min(pools, limits.max_connections)
        connections = _shares(limits.max_connections, pools)
        keepalive = _shares(limits.max_keepalive_connections, pools)
        context = _ssl_context(verify)
        self._transports = [
            httpx.AsyncHTTPTransport(
                verify=context,
                limits=httpx.Limits(
                    max_connections=connections[i],
                    max_keepalive_connections=keepalive[i],
                    keepalive_expiry=limits.keepalive_expiry,
                ),
                **options,
            )
            for i in range(pools)
        ]
        # httpcore cannot be told to open a new connection for one request:
        # a pool that keeps none alive can.
        self._fresh = httpx.AsyncHTTPTransport(
            verify=context,
            limits=httpx.Limits(max_connections=connections[0], max_keepalive_connections=0),
            **options,
        )
        self._busy = [0] * pools

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the least busy pool."""
        with contextlib.suppress(httpx.RequestNotRead):
            request.stream = _Body(request.content)
        if FRESH_CONNECTION in request.extensions:
            return await _typed(self._fresh.handle_async_request(request))
        busy = self._busy
        index = busy.index(min(busy))
        busy[index] += 1
        try:
            response = await _typed(self._transports[index].handle_async_request(request))
        except BaseException:
            busy[index] -= 1
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)  # noqa: S101 (an async transport's)
        response.stream = _CountedStream(stream, busy, index)
        return response

    async def aclose(self) -> None:
        """Close every pool."""
        for transport in [*self._transports, self._fresh]:
            await transport.aclose()


async def _typed(sending: Awaitable[httpx.Response]) -> httpx.Response:
    """Await an httpcore exchange; any failure is an httpx error.

    httpcore's own bugs surface untyped (on uvloop, a connection reset while
    it opens raises AttributeError from anyio): typed here, and conservatively
    "may have reached the server".
    """
    try:
        return await sending
    except httpx.HTTPError:
        raise
    except Exception as exc:
        raise httpx.ReadError(f"the HTTP stack failed: {_describe(exc)}") from exc


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shares(total: int | None, parts: int) -> list[int | None]:
    if total is None:
        return [None] * parts
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


# --------------------------------------------------------------------------- aiohttp


class _Phase:
    """How far one request got inside aiohttp: whether a connection was established."""

    __slots__ = ("connected", "fresh", "transport")

    def __init__(self, *, fresh: bool) -> None:
        self.connected = False
        self.fresh = fresh  # the request wants a new connection (FRESH_CONNECTION)
        self.transport: asyncio.BaseTransport | None = None


_PHASE: contextvars.ContextVar[_Phase] = contextvars.ContextVar("taas_async_aiohttp_phase")


class _Resend(Exception):  # noqa: N818 (a signal, not an error)
    """aiohttp was about to send a request again on a new connection."""


_connector_class: Any = None


def _tracking_connector() -> type[aiohttp.TCPConnector]:
    """A TCPConnector that records, per request, that a connection was established."""
    global _connector_class  # noqa: PLW0603 (built once, after aiohttp is imported)
    if _connector_class is None:
        import aiohttp  # noqa: PLC0415 (optional dependency)

        class TrackingConnector(aiohttp.TCPConnector):
            async def connect(
                self,
                req: aiohttp.ClientRequest,
                traces: list[aiohttp.tracing.Trace],
                timeout: aiohttp.ClientTimeout,
            ) -> aiohttp.connector.Connection:
                phase = _PHASE.get(None)
                if phase is not None and phase.connected:
                    # aiohttp retries idempotent requests on a new connection when
                    # the first one broke: never send a request twice (SPEC).
                    raise _Resend
                conn = await super().connect(req, traces, timeout)
                if phase is not None:
                    phase.connected = True
                    phase.transport = conn.transport
                return conn

            async def _get(self, key: Any, *args: Any) -> Any:
                # A pooled connection, unless the request wants a new one or the
                # server has closed it (aiohttp only sees that once its event
                # loop runs: the kernel is asked directly).
                phase = _PHASE.get(None)
                if phase is not None and phase.fresh:
                    return None
                while True:
                    conn = await super()._get(key, *args)
                    if conn is None:
                        return None
                    transport = conn.transport
                    if transport is None or not _is_readable(transport.get_extra_info("socket")):
                        return conn
                    conn.close()  # closed by the server: not handed out

        _connector_class = TrackingConnector
    cls: type[aiohttp.TCPConnector] = _connector_class
    return cls


class _Slots:
    """At most ``size`` requests at once; FIFO waiters; a timeout raises ``PoolTimeout``."""

    def __init__(self, size: float, loop: asyncio.AbstractEventLoop) -> None:
        self._free = size
        self._loop = loop
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self, timeout: float | None) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        timer = None
        if timeout is not None:
            timer = self._loop.call_later(timeout, self._expire, waiter, timeout)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # granted just as we were cancelled: pass it on
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _expire(self, waiter: asyncio.Future[None], timeout: float) -> None:
        if not waiter.done():
            waiter.set_exception(
                httpx.PoolTimeout(f"no connection free within {timeout} s (pool timeout)")
            )

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``aiohttp.ClientSession`` behind httpx: asyncio only (the ``aiohttp`` extra).

    Example::

        async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
            ...

    The session is created on first use and bound to that event loop. httpx
    keeps doing what its client does (cookies, redirects: none here, content
    decoding); aiohttp only moves bytes: no cookie jar, no decompression, no
    environment proxies, no headers of its own, no retries. aiohttp has no
    write timeout: sending counts against the read timeout. Connections are
    capped at ``limits.max_connections``; idle ones expire after
    ``limits.keepalive_expiry``.

    Args:
        limits: connection limits.
        verify: TLS verification, as for ``httpx.AsyncHTTPTransport``.

    Raises:
        ImportError: aiohttp is not installed.

    """

    def __init__(
        self,
        *,
        limits: httpx.Limits = DEFAULT_LIMITS,
        verify: ssl.SSLContext | bool | str = True,
    ) -> None:
        try:
            import aiohttp  # noqa: PLC0415, F401 (optional dependency)
        except ImportError:
            raise ImportError(
                "AiohttpTransport needs aiohttp: pip install 'taas-async[aiohttp]'"
            ) from None
        self._limits = limits
        self._verify = verify
        self._session: aiohttp.ClientSession | None = None
        self._slots: _Slots | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def _start(self) -> tuple[aiohttp.ClientSession, _Slots]:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "AiohttpTransport runs on asyncio only; under trio use H11PoolTransport"
            ) from None
        if self._closed:
            raise RuntimeError("this AiohttpTransport is closed")
        if self._session is not None and self._slots is not None:
            if loop is not self._loop:
                raise RuntimeError("this AiohttpTransport is bound to another event loop")
            return self._session, self._slots
        import aiohttp  # noqa: PLC0415 (optional dependency)

        limits = self._limits
        keepalive: Any = limits.keepalive_expiry if limits.keepalive_expiry is not None else 3600.0
        connector = _tracking_connector()(
            limit=0,  # _Slots limits connections and times out the wait (PoolTimeout)
            limit_per_host=0,
            keepalive_timeout=keepalive,
            ssl=_ssl_context(self._verify),
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
            auto_decompress=False,  # httpx decodes, as with its own transport
            trust_env=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None),
            requote_redirect_url=False,
        )
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False  # no silent resend (_Resend guards too)
        size = limits.max_connections if limits.max_connections is not None else math.inf
        self._session, self._slots, self._loop = session, _Slots(size, loop), loop
        return session, self._slots

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` with aiohttp and return the reply, read whole."""
        session, slots = self._start()
        timeouts = _timeouts(request)
        await slots.acquire(timeouts.get("pool"))
        try:
            return await self._send(session, request, timeouts)
        finally:
            slots.release()

    async def _send(
        self,
        session: aiohttp.ClientSession,
        request: httpx.Request,
        timeouts: dict[str, float | None],
    ) -> httpx.Response:
        import aiohttp  # noqa: PLC0415 (optional dependency)
        import yarl  # noqa: PLC0415

        _origin(request.url)  # UnsupportedProtocol, as httpx's transport raises
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        # aiohttp frames a chunked body itself and refuses the header alongside.
        chunked = any(
            k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers
        )
        if chunked:
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None,  # the wait for a slot is ours (PoolTimeout)
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
            ceil_threshold=math.inf,  # exact timeouts, not rounded up to whole seconds
        )
        phase = _Phase(fresh=FRESH_CONNECTION in request.extensions)
        token = _PHASE.set(phase)
        response = None
        try:
            response = await session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),  # the path exactly as httpx built it
                headers=headers,
                # aiohttp warns about bodies over 1 MiB as bytes: stream those.
                data=_Chunks(body) if len(body) > 2**20 else body or None,
                chunked=chunked or None,
                allow_redirects=False,
                timeout=timeout,
                server_hostname=request.extensions.get("sni_hostname"),
            )
            request.extensions[REPLY_STATUS] = response.status  # before the body
            content = await _read_aiohttp_body(response, request.extensions.get(MAX_REPLY_SIZE))
        except BaseException as exc:
            if response is not None:
                response.close()  # mid-body: the connection cannot be reused
            transport = phase.transport
            if isinstance(transport, asyncio.Transport) and transport.is_closing():
                # aiohttp closes a failed connection gracefully, which waits for
                # unsent bytes a stalled server never takes: close it now.
                transport.abort()
            mapped = _map_aiohttp_error(exc, phase, timeouts)
            if mapped is None:
                raise
            raise mapped from exc
        finally:
            _PHASE.reset(token)
        response.release()
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=httpx.ByteStream(content),
            extensions=extensions,
        )

    async def aclose(self) -> None:
        """Close the aiohttp session and its connections."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


async def _read_aiohttp_body(response: aiohttp.ClientResponse, limit: int | None) -> bytes:
    """The whole body, or :class:`ReplyTooLarge` once it passes ``limit``."""
    if limit is None:
        return await response.read()
    cap = ReplyCap(limit, response.status, list(response.raw_headers))
    async for chunk in response.content.iter_chunked(_READ_SIZE):
        cap.add(chunk)
    return cap.body()


def _map_aiohttp_error(
    exc: BaseException, phase: _Phase, timeouts: dict[str, float | None]
) -> httpx.TransportError | None:
    """The httpx error for an aiohttp failure, by how far the request got."""
    import aiohttp  # noqa: PLC0415 (optional dependency)

    if isinstance(exc, ReplyTooLarge):
        return exc
    if isinstance(exc, _Resend):
        return httpx.RemoteProtocolError(
            "the connection broke after the request was sent (not resending it)"
        )
    if not isinstance(exc, aiohttp.ClientError | OSError | asyncio.TimeoutError):
        return None  # cancellation, and anything that is not a transport failure
    text = _describe(exc)
    if not phase.connected:  # nothing of this request left the client
        if isinstance(exc, asyncio.TimeoutError):
            return httpx.ConnectTimeout(f"no connection within {timeouts.get('connect')} s")
        if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
            return httpx.UnsupportedProtocol(text)
        return httpx.ConnectError(text)
    if isinstance(exc, asyncio.TimeoutError):
        return httpx.ReadTimeout(f"no data from the server for {timeouts.get('read')} s")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(text)
    if isinstance(exc, aiohttp.ClientConnectionResetError):
        return httpx.WriteError(text)
    return httpx.ReadError(text)
