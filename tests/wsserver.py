"""A loopback WebSocket server that follows a script, for the order stream's tests.

Pure test code (not shipped). :class:`WSServer` listens on ``127.0.0.1`` on a
free port, in a daemon thread with its own asyncio event loop, so a test on
asyncio, uvloop or trio talks to it over a real socket. The WebSocket
protocol is wsproto's (server side). Each connection runs the test's
``handler(conn, index)`` coroutine in the server's loop: it reads what the
client sent, sends messages, closes with a code, breaks the connection, or
goes silent (pings unanswered). What each connection received is kept.

``refuse`` answers the upgrade with an HTTP status (for every connection, or
per connection index when callable; :data:`GARBAGE`: not HTTP at all).

Example::

    async def handler(conn: Conn, index: int) -> None:
        assert json.loads(await conn.receive())["command"] == "authenticate"
        await conn.send(json.dumps({"type": "order_update", ...}))
        await conn.close(4001, "bad token")

    with WSServer(handler) as server:
        async with AsyncClient(server.url, TOKEN) as client: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import wsproto
import wsproto.events as ev

__all__ = ["GARBAGE", "Conn", "WSServer"]

Handler = Callable[["Conn", int], Awaitable[None]]
#: ``refuse`` value: answer the upgrade with bytes that are not HTTP at all.
GARBAGE = -1


class Conn:
    """One client connection, seen from the server."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int
    ) -> None:
        self.index = index
        self.reader = reader
        self.writer = writer
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        self.received: list[str] = []  # every text message, in order
        self.pings = 0
        self.silent = False  # True: pings go unanswered (a dead peer)
        self.path = ""
        self.closed = asyncio.Event()

    async def _handshake(self, refuse: int | None) -> bool:
        while True:
            data = await self.reader.read(65536)
            if not data:
                return False
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, ev.Request):
                    self.path = event.target
                    if refuse == GARBAGE:
                        self.writer.write(b"HELLO, this is not HTTP\r\n\r\n")
                        await self.writer.drain()
                        return False
                    if refuse is not None:
                        body = b'{"detail": "Not found."}'
                        self.writer.write(
                            self.ws.send(
                                ev.RejectConnection(
                                    status_code=refuse,
                                    headers=[(b"content-length", str(len(body)).encode())],
                                    has_body=True,
                                )
                            )
                            + self.ws.send(ev.RejectData(data=body))
                        )
                        await self.writer.drain()
                        return False
                    self.writer.write(self.ws.send(ev.AcceptConnection()))
                    await self.writer.drain()
                    return True

    async def receive(self) -> str:
        """The next text message from the client (pings answered unless silent)."""
        parts: list[str] = []
        while True:
            for event in self.ws.events():
                if isinstance(event, ev.TextMessage):
                    parts.append(event.data)
                    if event.message_finished:
                        text = "".join(parts)
                        self.received.append(text)
                        return text
                elif isinstance(event, ev.Ping):
                    self.pings += 1
                    if not self.silent:
                        self.writer.write(self.ws.send(event.response()))
                        await self.writer.drain()
                elif isinstance(event, ev.CloseConnection):
                    self.closed.set()
                    raise ConnectionError(f"client closed ({event.code})")
            data = await self.reader.read(65536)
            if not data:
                self.closed.set()
                raise ConnectionError("client went away")
            self.ws.receive_data(data)

    async def drain_forever(self) -> None:
        """Read (and answer pings) until the client goes."""
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                await self.receive()

    async def send(self, text: str) -> None:
        """Send one text message."""
        self.writer.write(self.ws.send(ev.Message(data=text)))
        await self.writer.drain()

    async def close(self, code: int, reason: str = "") -> None:
        """Close with ``code`` and drop the connection."""
        self.writer.write(self.ws.send(ev.CloseConnection(code=code, reason=reason)))
        await self.writer.drain()
        self.abort()

    def abort(self) -> None:
        """Break the connection without a close frame (RST)."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
        self.writer.transport.abort()
        self.closed.set()


class WSServer:
    """A scripted WebSocket server on 127.0.0.1 in a thread of its own."""

    def __init__(
        self,
        handler: Handler,
        *,
        refuse: int | Callable[[int], int | None] | None = None,
        slow: Callable[[int], float] | None = None,
    ) -> None:
        self.handler = handler
        self.refuse = refuse
        self.slow = slow  # connection index -> seconds before the upgrade is read
        self.connections: list[Conn] = []
        self.errors: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The HTTP base URL whose ``ws/orders/`` this server answers."""
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(reader, writer, len(self.connections))
        self.connections.append(conn)
        try:
            if self.slow is not None:
                await asyncio.sleep(self.slow(conn.index))  # a server slow to accept
            refuse = self.refuse(conn.index) if callable(self.refuse) else self.refuse
            if await conn._handshake(refuse):
                await self.handler(conn, conn.index)
        except (ConnectionError, OSError):
            pass
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            conn.closed.set()
            writer.transport.abort()

    def __enter__(self) -> WSServer:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        )
        self._server = started.result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def run(self, coro: Awaitable[Any]) -> Any:
        """Run ``coro`` in the server's loop (from the test thread) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)  # type: ignore[arg-type]

    def __exit__(self, *exc_info: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for conn in self.connections:
                conn.writer.transport.abort()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
