"""``AiohttpTransport``: an ``aiohttp.ClientSession`` behind httpx (the ``aiohttp`` extra)."""

from __future__ import annotations

import asyncio
import contextvars
import math
import ssl
from collections import deque
from typing import TYPE_CHECKING, Any

import httpx

from taas_async._transports._common import (
    DEFAULT_LIMITS,
    FRESH_CONNECTION,
    MAX_REPLY_SIZE,
    READ_SIZE,
    REPLY_STATUS,
    ReplyCap,
    ReplyTooLarge,
    TransportClosedError,
    describe,
    is_readable,
    origin_of,
    timeouts_of,
)
from taas_async._transports._proxy import default_context

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport"]


class _Chunks:
    """An async iterator over a large body in slices, without copying it."""

    def __init__(self, content: bytes, size: int = READ_SIZE) -> None:
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
                    # the first one broke: never send a request twice.
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
                    if transport is None or not is_readable(transport.get_extra_info("socket")):
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
            raise TransportClosedError("this AiohttpTransport is closed")
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
            ssl=default_context(self._verify, trust_env=True),
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
        timeouts = timeouts_of(request)
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

        origin_of(request.url)  # UnsupportedProtocol, as httpx's transport raises
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
    async for chunk in response.content.iter_chunked(READ_SIZE):
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
    text = describe(exc)
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
