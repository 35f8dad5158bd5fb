"""The in-process way in: an httpx transport that hands requests straight to the app."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import httpx

from taas_async._transports._answering import Answer, AnsweringTransport
from taas_async._transports._websocket import WebSocket, WebSocketRefusedError
from taas_async.sandbox._app import reply_headers
from taas_async.sandbox._clock import AutojumpClock, Clock

__all__ = ["InProcessTransport"]


class _Serves(Protocol):
    async def serve(
        self, method: str, path: str, url: httpx.URL, headers: httpx.Headers, body: bytes
    ) -> tuple[int, bytes, str, dict[str, str]]: ...


class _Streams(Protocol):
    async def connect(self, url: httpx.URL) -> WebSocket: ...


class InProcessTransport(AnsweringTransport):
    """An httpx transport to a sandbox in the same process: no socket, no ASGI round.

    The request goes to the app's ``serve`` as it is (its URL and headers
    are not parsed again), which answers it (and records an API exchange)
    exactly as the ASGI app does for a server: the API and the control plane.

    On an :class:`~taas_async.sandbox.AutojumpClock` a request in flight
    holds the clock still (time jumps only when everything waits), and its
    read timeout runs on the sandbox's clock: a fault latency longer than the
    timeout ends in ``httpx.ReadTimeout``, as it would over a network.

    httpx calls :meth:`handle_async_request`; the SDK's own sandbox client
    calls :meth:`answer` directly (the same request, without httpx's
    ``Request`` and ``Response``). A subclass that overrides
    ``handle_async_request`` is always called through httpx.

    :meth:`connect_websocket` opens the order stream (``ws://<any host>/ws/orders/``,
    under the sandbox's ``base_path``) as an in-memory pipe to the sandbox.
    """

    def __init__(self, app: _Serves, clock: Clock, *, streams: _Streams | None = None) -> None:
        self._app = app
        self._clock = clock
        self._streams = streams

    async def connect_websocket(
        self, url: httpx.URL, headers: Sequence[tuple[str, str]], timeout: float | None
    ) -> WebSocket:
        """Open the sandbox's order stream in process: a pipe, no socket.

        ``headers`` and ``timeout`` are accepted for the transport interface's
        sake: nothing in process reads headers or takes time to connect. The
        token goes in the URL (``?token=``) or in an ``authenticate`` command.

        Raises:
            WebSocketRefusedError: not the stream's path (404), the
                ``faults.stream_refuse`` status, or a transport with no streams.

        """
        if self._streams is None:
            raise WebSocketRefusedError(404, b'{"detail":"Not found."}')
        return await self._streams.connect(url)

    async def answer(
        self,
        method: str,
        url: httpx.URL,
        headers: httpx.Headers,
        body: bytes,
        timeouts: dict[str, float | None],
    ) -> Answer:
        """Answer one request; on an autojump clock, within its read timeout.

        Raises:
            httpx.ReadTimeout: on an autojump clock, the fault latency outlasted
                the read timeout (on the sandbox's clock).

        """
        clock = self._clock
        if not isinstance(clock, AutojumpClock):
            return await self._answer(method, url, headers, body)
        read = timeouts.get("read")
        with clock.busy():
            try:
                with clock.fail_after(read):
                    return await self._answer(method, url, headers, body)
            except TimeoutError:
                raise httpx.ReadTimeout(f"no reply within {read} s of the sandbox's time") from None

    async def _answer(
        self, method: str, url: httpx.URL, headers: httpx.Headers, body: bytes
    ) -> Answer:
        status, reply, content_type, extra = await self._app.serve(
            method, url.path, url, headers, body
        )
        return status, reply_headers(reply, content_type, extra), reply

    def __repr__(self) -> str:
        return f"<InProcessTransport clock={self._clock!r}>"
