"""WebSocket connections for the order stream, and what a transport offers to open one.

The SDK speaks to a WebSocket one text message at a time through
:class:`WebSocket`. A transport that can open one has a
``connect_websocket(url, headers, timeout)`` method (:class:`WebSocketOpener`):
the default transport opens it on a connection made as its HTTP connections
are (TLS settings, happy eyeballs) and speaks the WebSocket protocol over it
with wsproto (sans-I/O, from the authors of h11: it runs on asyncio, uvloop
and trio alike); the sandbox's in-process transport hands out a pipe to the
sandbox, no socket.

A connection ends in :class:`WebSocketClosedError` (the close code and reason;
1006 when it broke without a close frame); an upgrade the server answers
with an HTTP status instead is :class:`WebSocketRefusedError`.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Sequence
from typing import Protocol

import anyio
import httpx
import wsproto
import wsproto.events as ev
import wsproto.utilities

__all__ = [
    "ABNORMAL_CLOSURE",
    "WebSocket",
    "WebSocketClosedError",
    "WebSocketOpener",
    "WebSocketRefusedError",
    "WsprotoSocket",
]

#: The close code for a connection that ended without a close frame (RFC 6455 §7.1.5).
ABNORMAL_CLOSURE = 1006
#: How much of a refused upgrade's body is kept.
_MAX_REFUSAL_BODY = 64 * 1024


class WebSocketClosedError(Exception):
    """The WebSocket is closed: by the server (its code), or broken (1006)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"WebSocket closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


class WebSocketRefusedError(Exception):
    """The server answered the upgrade with an HTTP reply instead (e.g. 404: no stream here)."""

    def __init__(self, status_code: int, body: bytes = b"") -> None:
        super().__init__(f"the server refused the WebSocket upgrade with HTTP {status_code}")
        self.status_code = status_code
        self.body = body


class WebSocket(Protocol):
    """One open WebSocket, text messages both ways."""

    #: Bumped for every frame received (messages, pings, pongs): a liveness count.
    heard: int

    async def send(self, text: str) -> None:
        """Send one text message (:class:`WebSocketClosedError` once closed)."""
        ...

    @property
    def ready(self) -> bool:
        """Whether a message has arrived already: :meth:`receive` will not wait."""
        ...

    async def receive(self) -> str:
        """The next text message (:class:`WebSocketClosedError` when the connection ends)."""
        ...

    async def ping(self) -> None:
        """Ask the peer for a pong (it bumps :attr:`heard` when it arrives)."""
        ...

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` (idempotent; never raises for a connection already gone)."""
        ...


class WebSocketOpener(Protocol):
    """A transport that can open a WebSocket."""

    async def connect_websocket(
        self, url: httpx.URL, headers: Sequence[tuple[str, str]], timeout: float | None
    ) -> WebSocket:
        """Open a WebSocket to ``url`` (``ws``/``wss``) within ``timeout`` seconds.

        Raises:
            httpx.ConnectError, httpx.ConnectTimeout: no connection.
            WebSocketRefusedError: the server answered with an HTTP status.
            WebSocketClosedError: the connection ended during the handshake.

        """
        ...


class _ByteIO(Protocol):
    """A connection of the default transport (``_h11``)."""

    async def write(self, data: bytes, timeout: float | None) -> None: ...

    async def read(self, timeout: float | None) -> bytes: ...

    async def aclose(self) -> None: ...


class WsprotoSocket:
    """The WebSocket protocol (wsproto) over one of the default transport's connections."""

    def __init__(self, io: _ByteIO, connection: wsproto.WSConnection, write_timeout: float | None):
        self._io = io
        self._ws = connection
        self._write_timeout = write_timeout
        self._lock = anyio.Lock()
        self._parts: list[str] = []
        self._messages: collections.deque[str] = collections.deque()
        self._closed: WebSocketClosedError | None = None
        self.heard = 0

    @classmethod
    async def handshake(
        cls,
        io: _ByteIO,
        url: httpx.URL,
        headers: Sequence[tuple[str, str]],
        timeout: float | None,
    ) -> WsprotoSocket:
        """Upgrade ``io`` to a WebSocket for ``url``; the caller bounds the time it takes."""
        ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        target = url.raw_path.decode("ascii")
        request = ev.Request(
            host=url.netloc.decode("ascii"),
            target=target,
            extra_headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        )
        try:
            await io.write(ws.send(request), timeout)
            refused: ev.RejectConnection | None = None
            body = bytearray()
            while True:
                data = await io.read(timeout)
                ws.receive_data(data or None)
                for event in ws.events():
                    if isinstance(event, ev.AcceptConnection):
                        return cls(io, ws, timeout)
                    if isinstance(event, ev.RejectConnection):
                        refused = event
                        if not event.has_body:
                            raise WebSocketRefusedError(event.status_code)
                    elif isinstance(event, ev.RejectData):
                        body += event.data[: _MAX_REFUSAL_BODY - len(body)]
                        if event.body_finished and refused is not None:
                            raise WebSocketRefusedError(refused.status_code, bytes(body))
                if not data:
                    if refused is not None:
                        raise WebSocketRefusedError(refused.status_code, bytes(body))
                    raise WebSocketClosedError(ABNORMAL_CLOSURE, "closed during the handshake")
        except wsproto.utilities.ProtocolError as exc:  # not a WebSocket server's reply
            await io.aclose()
            raise httpx.RemoteProtocolError(f"not a WebSocket handshake reply: {exc}") from exc
        except BaseException:
            await io.aclose()
            raise

    async def send(self, text: str) -> None:
        """Send one text message."""
        await self._write(ev.Message(data=text))

    async def ping(self) -> None:
        """Send a ping frame."""
        await self._write(ev.Ping())

    async def _write(self, event: ev.Event) -> None:
        if self._closed is not None:
            raise self._closed
        try:
            data = self._ws.send(event)
        except wsproto.utilities.LocalProtocolError:
            raise WebSocketClosedError(ABNORMAL_CLOSURE, "the connection is closing") from None
        async with self._lock:
            try:
                await self._io.write(data, self._write_timeout)
            except httpx.TransportError as exc:
                raise self._broken(str(exc)) from exc

    @property
    def ready(self) -> bool:
        """Whether a whole message has been read already: :meth:`receive` will not wait."""
        return bool(self._messages)

    async def receive(self) -> str:
        """The next text message; answers pings on the way.

        Every message that came in one read is decoded at once and kept:
        the next calls return them without waiting (:attr:`ready`).
        """
        # Frames that came with the handshake's reply are in wsproto already.
        await self._take_events()
        while not self._messages:
            if self._closed is not None:
                raise self._closed
            try:
                data = await self._io.read(None)
            except httpx.TransportError as exc:
                raise self._broken(str(exc)) from exc
            if not data:
                raise self._broken("the connection ended without a close frame")
            self._ws.receive_data(data)
            await self._take_events()
        return self._messages.popleft()

    async def _take_events(self) -> None:
        """Decode every frame wsproto holds: messages kept, pings answered, a close noted."""
        if self._closed is not None:
            return
        pongs: list[ev.Event] = []
        for event in self._ws.events():
            self.heard += 1
            if isinstance(event, ev.Message):
                text = (
                    event.data
                    if isinstance(event.data, str)
                    else bytes(event.data).decode("utf-8", "replace")
                )
                self._parts.append(text)
                if event.message_finished:
                    self._messages.append("".join(self._parts))
                    self._parts.clear()
            elif isinstance(event, ev.Ping):
                pongs.append(event.response())
            elif isinstance(event, ev.CloseConnection):
                self._closed = WebSocketClosedError(event.code, event.reason or "")
                if self._ws.state is wsproto.connection.ConnectionState.REMOTE_CLOSING:
                    # Answer the close, as the protocol asks; the peer may be gone already.
                    with contextlib.suppress(httpx.TransportError):
                        await self._io.write(self._ws.send(event.response()), 1.0)
                await self._io.aclose()
                break  # the messages before the close are still delivered
        for pong in pongs:
            if self._closed is None:
                await self._write(pong)

    def _broken(self, why: str) -> WebSocketClosedError:
        if self._closed is None:
            self._closed = WebSocketClosedError(ABNORMAL_CLOSURE, why)
        return self._closed

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame if the connection is open, then close the connection."""
        if self._closed is None:
            self._closed = WebSocketClosedError(code, reason)
            if self._ws.state is wsproto.connection.ConnectionState.OPEN:
                with contextlib.suppress(
                    httpx.TransportError, wsproto.utilities.LocalProtocolError
                ):
                    await self._write_quietly(ev.CloseConnection(code=code, reason=reason))
        await self._io.aclose()

    async def _write_quietly(self, event: ev.Event) -> None:
        data = self._ws.send(event)
        with anyio.move_on_after(1.0):  # a stalled peer does not hold up the close
            await self._io.write(data, 1.0)

    def __repr__(self) -> str:
        return f"<WsprotoSocket state={self._ws.state.name}>"
