"""What every transport of the SDK shares, and the SDK's side of the transport seam.

The SDK's transports keep httpx's client API (``httpx.AsyncClient(transport=...)``)
and its error classes. Error classification, which the SDK's order safety
rests on (an order POST is resent only when it provably never left the
client)::

    httpx.PoolTimeout          no connection was free in time       never sent
    httpx.ConnectError         refused, DNS failure, TLS handshake  never sent
    httpx.ConnectTimeout       the connection was not established   never sent
    httpx.UnsupportedProtocol  not an http(s) URL                   never sent
    httpx.LocalProtocolError   the request could not be encoded     never sent
    TransportClosedError       the transport is closed              never sent
    httpx.WriteError           the connection broke while sending   may have reached the server
    httpx.WriteTimeout         sending stalled                      may have reached the server
    httpx.ReadError            the connection broke while reading   may have reached the server
    httpx.ReadTimeout          no reply in time                     may have reached the server
    httpx.RemoteProtocolError  closed without a (complete) reply    may have reached the server

A connection that was established counts as "may have reached the server"
whatever happens next, even when the server resets it before reading: the
client cannot tell "reset before reading" from "read, acted on, then reset".

The SDK talks to its transports through request extensions: it asks for a
new connection (``FRESH_CONNECTION``) and caps a reply's size
(``MAX_REPLY_SIZE``); they report a reply's status before its body
(``REPLY_STATUS``). On its own client and pool it skips httpx's objects and
calls ``H11PoolTransport.round_trip`` with the same three things as arguments.
"""

from __future__ import annotations

import select
from collections.abc import AsyncIterator
from http.cookiejar import CookieJar
from typing import Any

import httpx

__all__ = [
    "DEFAULT_LIMITS",
    "FRESH_CONNECTION",
    "MAX_REPLY_SIZE",
    "READ_SIZE",
    "REPLY_STATUS",
    "Body",
    "Origin",
    "OwnHttpClient",
    "ReplyCap",
    "ReplyTooLarge",
    "TransportClosedError",
    "describe",
    "is_readable",
    "origin_of",
    "timeouts_of",
]

#: The SDK's limits: as many keep-alive connections as connections.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)

READ_SIZE = 65536
Origin = tuple[bytes, bytes, int]  # scheme, host, port


def origin_of(url: httpx.URL) -> Origin:
    """(scheme, host, port) of an http(s) URL; ``httpx.UnsupportedProtocol`` otherwise."""
    scheme = url.raw_scheme
    if scheme not in (b"http", b"https"):
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme.decode('ascii')!r}")
    if not url.raw_host:
        raise httpx.UnsupportedProtocol(f"no host in URL {url}")
    return scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80)


def timeouts_of(request: httpx.Request) -> dict[str, float | None]:
    """The request's timeouts, as httpx passes them to a transport."""
    parts: dict[str, float | None] = request.extensions.get("timeout") or {}
    return parts


def describe(exc: BaseException) -> str:
    """An exception in a few words, for an httpx error's message."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_readable(sock: Any) -> bool:
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


#: Request extension our transports set once a reply's status line has come,
#: before its body is read (they read it whole before returning).
REPLY_STATUS = "taas_reply_status"

#: Request extension: the most bytes of reply body to read (an int). Past it,
#: the transport stops reading, closes the connection and raises
#: :class:`ReplyTooLarge`. Without it, bodies are read whole, whatever size.
MAX_REPLY_SIZE = "taas_max_reply_size"


class TransportClosedError(RuntimeError):
    """The transport is closed: a request that meets this was not sent."""


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
        declared = b""
        for name, value in headers:
            if name.lower() == b"content-length":
                declared = value
                break
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


class Body(httpx.AsyncByteStream):
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


class _ReplyCookies(httpx.Cookies):
    """httpx's cookie jar, skipping the replies that set no cookie.

    Reading a reply's cookies builds a urllib request and an email message
    from its headers: a sixth of the SDK's own CPU per call, spent on an API
    that authenticates by token and sets none. A reply that does set one is
    read as httpx reads it.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep the cookies a reply sets, if it sets any."""
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class OwnHttpClient(httpx.AsyncClient):
    """The ``httpx.AsyncClient`` an ``AsyncClient`` builds for itself: httpx's, with that jar."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cookies = {}  # the setter wraps it in a jar

    @property
    def cookies(self) -> httpx.Cookies:
        """The client's cookie jar (empty unless the server sets a cookie)."""
        return self._reply_cookies

    @cookies.setter
    def cookies(
        self, cookies: httpx.Cookies | CookieJar | dict[str, str] | list[tuple[str, str]]
    ) -> None:
        self._reply_cookies = _ReplyCookies(cookies)
