"""Bytes in and out of one connection of the pool: an asyncio protocol, or an anyio stream.

:class:`ProtocolIO` is a plain ``asyncio.Protocol`` (asyncio and uvloop: no
stream layer); :class:`StreamIO` an anyio byte stream (trio, or any anyio
backend). Both raise httpx's errors, say whether an idle connection is still
usable (``idle_ok``), and can start TLS on a connection already open (inside
a proxy's tunnel).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import typing
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import httpx
from anyio.streams.tls import TLSStream

from taas_async._transports._common import READ_SIZE, describe, is_readable

__all__ = ["IO", "ProtocolIO", "StreamIO", "awaited"]


class StreamIO:
    """Bytes in and out of one connection, on anyio streams (trio, or any anyio backend)."""

    __slots__ = ("_loop", "_sock", "_stream")

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream
        self._sock: socket.socket | None = stream.extra(  # noqa: S610 (anyio, not Django)
            anyio.abc.SocketAttribute.raw_socket, None
        )
        self._loop = _asyncio_loop()  # None on trio

    async def write(self, data: bytes, timeout: float | None) -> None:
        try:
            if timeout is None:
                await self._stream.send(data)
            else:
                with anyio.fail_after(timeout):
                    await self._stream.send(data)
        except TimeoutError as exc:  # before OSError: TimeoutError is one
            raise httpx.WriteTimeout(f"sending stalled for {timeout} s") from exc
        except (
            OSError,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            anyio.EndOfStream,  # a TLS stream whose peer closed
        ) as exc:
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
        """Nothing to read on an idle connection: no EOF, no reset, no stray bytes.

        Nor an asyncio loop other than the one it was opened on (a pool shared
        across loops: that loop may be closed).
        """
        return self._loop is _asyncio_loop() and not is_readable(self._sock)

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> StreamIO:
        """TLS on this connection (a proxy's tunnel), end to end with ``server_hostname``."""
        stream = await TLSStream.wrap(
            self._stream,
            hostname=server_hostname,
            ssl_context=context,
            standard_compatible=False,
        )
        return StreamIO(stream)

    async def aclose(self) -> None:
        if self._loop is not _asyncio_loop():
            # Opened on another asyncio loop (closed, most likely): nothing can be
            # done there. Its socket goes when its transport is collected.
            return
        await anyio.aclose_forcefully(self._stream)


class ProtocolIO(asyncio.Protocol):
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
        await awaited(future, timeout, _expire, error, f"{what} for {timeout} s")

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

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> ProtocolIO:
        """TLS on this connection (a proxy's tunnel), end to end with ``server_hostname``."""
        transport = self._transport
        assert transport is not None  # noqa: S101 (connected)
        upgraded = await self._loop.start_tls(
            transport, self, context, server_hostname=server_hostname
        )
        if upgraded is None:  # the connection closed during the handshake
            raise ConnectionResetError("the connection closed during the TLS handshake")
        self._transport = upgraded
        return self

    async def aclose(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(RuntimeError):  # its event loop is closed
                self._transport.abort()


async def awaited(
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


IO = StreamIO | ProtocolIO


def _asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or None (trio)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
