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
import ipaddress
import math
import socket
import ssl
import time
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
    REPLY_STATUS,
    Origin,
    TransportClosedError,
    describe,
    origin_of,
    timeouts_of,
)
from taas_async._transports._http11 import Outgoing, Reply, encode_request, exchange
from taas_async._transports._io import IO, ProtocolIO, StreamIO, awaited
from taas_async._transports._proxy import (
    CertTypes,
    Proxy,
    ProxyRefused,
    ProxyTypes,
    Routes,
    VerifyTypes,
    absolute_form,
    default_context,
    open_tunnel,
    ssl_settings,
)
from taas_async._transports._websocket import WsprotoSocket

__all__ = ["H11PoolTransport"]


class _Connection:
    """One HTTP/1.1 connection: where it goes, its I/O, since when it is idle."""

    __slots__ = ("idle_since", "io", "origin")

    def __init__(self, origin: Origin, io: IO) -> None:
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
            await awaited(future, timeout, _time_up)


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
    (``httpx.PoolTimeout``). HTTP/1.1 only: no HTTP/2 or Unix sockets. Reply
    bodies are read whole; replies are parsed by llhttp (``httptools``).

    Through an ``http://`` proxy (or an ``https://`` one, TLS to the proxy
    itself), ``https://`` requests go in a ``CONNECT`` tunnel per pooled
    connection (TLS inside it, to the target, checked against the target's
    name) and ``http://`` ones in absolute form. A
    proxy's refusal is ``httpx.ProxyError``, raised before anything reached
    the target; connecting to the proxy and through it counts against the
    connect timeout.

    Args:
        limits: connection limits (``max_keepalive_connections`` caps idle ones).
        verify: TLS verification, as httpx reads it: True (the CA bundle, or
            ``SSL_CERT_FILE``/``SSL_CERT_DIR`` with ``trust_env``), False,
            a CA bundle file or directory, or an ``ssl.SSLContext``.
        cert: a client certificate (mutual TLS): a file holding it and its
            key, ``(cert file, key file)`` or ``(cert file, key file, password)``.
        trust_env: read proxies (``HTTP_PROXY``, ``HTTPS_PROXY``,
            ``ALL_PROXY``, ``NO_PROXY``) and ``SSL_CERT_FILE``/``SSL_CERT_DIR``
            from the environment.
        proxy: an ``http://`` or ``https://`` proxy for every request
            (credentials in its URL are sent as ``Proxy-Authorization``), or
            an ``httpx.Proxy`` (its ``ssl_context`` checks an https proxy;
            else ``verify`` does); it replaces the environment's proxies and
            ``NO_PROXY``.

    Raises:
        ConfigurationError: a CA path, certificate or proxy that cannot be used.

    """

    def __init__(
        self,
        *,
        limits: httpx.Limits = DEFAULT_LIMITS,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        trust_env: bool = True,
        proxy: ProxyTypes | None = None,
    ) -> None:
        self._max = limits.max_connections if limits.max_connections is not None else math.inf
        self._max_idle = (
            limits.max_keepalive_connections
            if limits.max_keepalive_connections is not None
            else math.inf
        )
        self._expiry = limits.keepalive_expiry
        self._trust_env = bool(trust_env)
        # A context, or the CA path (None: certifi's) to build one from at the first https.
        self._ssl: ssl.SSLContext | str | None = ssl_settings(
            verify, cert, trust_env=self._trust_env
        )
        self._routes = Routes(proxy, trust_env=self._trust_env)
        self._proxied = self._routes.any
        self._proxies: dict[Origin, Proxy | None] = {}  # by origin, as the routes said
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
        proxy = self._proxy_for(origin) if self._proxied and origin[0] == b"http" else None
        if proxy is not None:  # plain http through a proxy: the request goes to it, in full
            outgoing = _forwarded(outgoing, origin, proxy)
        conn = await self._acquire(origin, timeouts, fresh=fresh)
        # From here on the connection is established: whatever fails, the
        # request may have reached the server.
        try:
            reply = await exchange(conn.io, outgoing, timeouts, limit=limit, on_status=on_status)
        except BaseException:
            await self._forget(conn).io.aclose()
            raise
        if proxy is not None and reply.status_code == 407 and _asks_proxy_auth(reply):
            # The proxy's own answer (407 with Proxy-Authenticate, RFC 9110): it kept
            # the request, credentials missing or wrong.
            await self._forget(conn).io.aclose()
            raise ProxyRefused(
                f"the proxy {proxy.url} refused the request: 407 Proxy Authentication Required"
                " (check the credentials in the proxy URL; nothing was sent to the target)",
                status_code=407,
                proxy=proxy.url,
            )
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

    def proxy_for(self, url: httpx.URL | str) -> str | None:
        """The proxy requests to ``url`` go through (its URL, without credentials), or None.

        Raises:
            ConfigurationError: the environment's proxy for that scheme cannot be used.

        """
        url = httpx.URL(url)
        if url.scheme in ("ws", "wss"):
            url = url.copy_with(scheme="https" if url.scheme == "wss" else "http")
        proxy = self._proxy_for(origin_of(url)) if self._proxied else None
        return None if proxy is None else proxy.url

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
                raise TransportClosedError("this H11PoolTransport is closed")
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
            raise TransportClosedError("this H11PoolTransport is closed")
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
        io = await self._connect((scheme, host, port), timeout, tunnel=True)
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

    def _proxy_for(self, origin: Origin) -> Proxy | None:
        try:
            return self._proxies[origin]
        except KeyError:
            proxy = self._proxies[origin] = self._routes.proxy_for(origin)
            return proxy

    async def _connect(self, origin: Origin, timeout: float | None, *, tunnel: bool = False) -> IO:
        """A connection to ``origin``, TLS set up, all within ``timeout``.

        Direct, or through the origin's proxy: in a tunnel for https (and for
        ``tunnel``: a WebSocket), else a plain connection to the proxy.
        """
        scheme, raw_host, port = origin
        host = raw_host.decode("ascii")
        context = None
        if scheme == b"https":
            context = self._tls()
        proxy = self._proxy_for(origin) if self._proxied else None
        where = f"{host}:{port}"
        try:
            with anyio.fail_after(timeout):
                if proxy is None:
                    return await self._dial(host, port, context)
                where = f"the proxy {proxy.url} (for {host}:{port})"
                io = await self._dial_proxy(proxy)
                where = f"{host}:{port} through the proxy {proxy.url}"
                try:
                    if context is not None or tunnel:
                        await open_tunnel(io, origin, proxy)
                    if context is not None:
                        io = await io.start_tls(context, host)
                except BaseException:
                    await io.aclose()
                    raise
                return io
        except TimeoutError as exc:  # before OSError: TimeoutError is one
            raise httpx.ConnectTimeout(f"no connection to {where} within {timeout} s") from exc
        except (  # refused, DNS, a TLS handshake that failed or that the peer cut short
            OSError,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            anyio.EndOfStream,
        ) as exc:
            raise httpx.ConnectError(f"cannot connect to {where}: {describe(exc)}") from exc

    def _tls(self) -> ssl.SSLContext:
        """The client's TLS context, built at the first https connection if not before."""
        if not isinstance(self._ssl, ssl.SSLContext):
            self._ssl = default_context(self._ssl or True, trust_env=False)
        return self._ssl

    async def _dial_proxy(self, proxy: Proxy) -> IO:
        """A connection to the proxy: TCP, and TLS to it for an ``https://`` proxy.

        TLS to an https proxy, then to an https target inside its tunnel, runs
        on anyio streams on every event loop (asyncio's start_tls over a TLS
        transport is not available everywhere; anyio's TLS wraps any stream).
        """
        scheme, raw_host, port = proxy.origin
        host = raw_host.decode("ascii")
        if scheme != b"https":
            return await self._dial(host, port, None)
        context = proxy.ssl_context or self._tls()
        stream = await anyio.connect_tcp(
            host, port, ssl_context=context, tls_standard_compatible=False
        )
        return StreamIO(stream)

    async def _dial(self, host: str, port: int, context: ssl.SSLContext | None) -> IO:
        """A TCP connection to ``host:port`` (TLS on it with ``context``)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # trio
            loop = None
        if loop is not None and not self._use_streams:
            target, delay = await _happy_eyeballs_target(loop, host, port)
            race: dict[str, Any] = {}
            if delay is not None and isinstance(loop, asyncio.BaseEventLoop):
                # asyncio's own loop races the addresses; uvloop's takes no
                # such argument and tries them one after another.
                race["happy_eyeballs_delay"] = delay
            _, protocol = await loop.create_connection(
                lambda: ProtocolIO(loop),
                target,
                port,
                ssl=context,
                server_hostname=host if context else None,
                **race,
            )
            return protocol
        if context is None:
            return StreamIO(await anyio.connect_tcp(host, port))
        stream = await anyio.connect_tcp(
            host, port, ssl_context=context, tls_standard_compatible=False
        )
        return StreamIO(stream)

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


def _asks_proxy_auth(reply: Reply) -> bool:
    return any(name.lower() == b"proxy-authenticate" for name, _ in reply.headers)


def _forwarded(outgoing: Outgoing, origin: Origin, proxy: Proxy) -> Outgoing:
    """``outgoing`` as a proxy takes it: the target in absolute form, the proxy's fields added."""
    return Outgoing(
        outgoing.method,
        absolute_form(outgoing.head, origin, proxy),
        outgoing.body,
        keep_alive=outgoing.keep_alive,
        stream=outgoing.stream,
        chunked=outgoing.chunked,
        length=outgoing.length,
    )
