"""The in-process order stream: a WebSocket that is a pair of in-memory queues, no socket.

:func:`pipe` gives two ends: :class:`PipeSocket`, the SDK's
:class:`~taas_async._transports._websocket.WebSocket` for the client, and
the server's end the sandbox's stream session runs on. A close travels as
it would over a network: the messages sent before it are read first, then
the reader gets :class:`~taas_async._transports._websocket.WebSocketClosedError`
with the closer's code and reason; a connection dropped without a close is
code 1006, and what was not read yet is lost.

The client's ``send()`` returns once the sandbox has read the message, so
a ``subscribe`` is in effect by then (over a network it would be soon after).

On an :class:`~taas_async.sandbox.AutojumpClock` a message in the pipe
holds the clock still until its reader has it, so time cannot jump between
the sandbox sending an update and the client seeing it. Towards the
sandbox every message holds (the sandbox's session always reads); towards
the client a message holds only while the client waits in ``receive()``:
a client busy elsewhere (waiting for an order over REST, say) finds the
messages queued when it comes back, and the clock goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel

from taas_async._transports._websocket import ABNORMAL_CLOSURE, WebSocketClosedError
from taas_async.sandbox._clock import AutojumpClock, Clock

__all__ = ["ClientGoneError", "PipeSocket", "ServerEnd", "pipe", "spawn"]

_log = logging.getLogger("taas_async.sandbox")
#: The in-process session tasks running on asyncio (a task nobody holds may be collected).
_TASKS: set[asyncio.Task[None]] = set()


class ClientGoneError(Exception):
    """The client has gone: nothing sent to it arrives any more."""


class _Channel:
    """One direction of a pipe: messages in order, then an end (the error its reader gets)."""

    def __init__(self, clock: Clock, *, hold_all: bool) -> None:
        self._clock = clock if isinstance(clock, AutojumpClock) else None
        self._hold_all = hold_all  # every message holds the clock, not only one awaited
        self._items: deque[str] = deque()
        self._taken: deque[anyio.Event] = deque()  # one per message sent with put(wait=True)
        self._end: WebSocketClosedError | None = None
        self._reader: anyio.Event | None = None
        self._held = 0

    @property
    def ended(self) -> WebSocketClosedError | None:
        """How the channel ended, or None while it is open."""
        return self._end

    def put(self, text: str, *, tell: bool = False) -> anyio.Event | None:
        """Queue a message; with ``tell``, an event set once the reader has it."""
        self._items.append(text)
        taken = None
        if tell:
            taken = anyio.Event()
            self._taken.append(taken)
        if self._clock is not None and (
            self._hold_all or (self._reader is not None and not self._held)
        ):
            self._clock.hold()
            self._held += 1
        self._wake()
        return taken

    def end(self, error: WebSocketClosedError, *, discard: bool = False) -> None:
        if self._end is None:
            self._end = error
        if discard:
            self._items.clear()
            while self._taken:  # lost, but no sender waits for ever
                self._taken.popleft().set()
            if self._reader is None:  # nobody is about to settle the holds
                self._release(self._held)
        if self._clock is not None and self._reader is not None and not self._held:
            self._clock.hold()  # the waiting reader sees the end before time moves on
            self._held += 1
        self._wake()

    def _wake(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.set()

    def _release(self, n: int) -> None:
        for _ in range(n):
            self._held -= 1
            if self._clock is not None:
                self._clock.release()

    async def get(self) -> str:
        """The next message; once none is left after the end, the end's error."""
        if self._reader is not None:
            raise RuntimeError("another task is receiving on this stream already")
        await anyio.lowlevel.checkpoint()
        try:
            while not self._items:
                if self._end is not None:
                    raise self._end
                event = self._reader = anyio.Event()
                try:
                    await event.wait()
                finally:
                    if self._reader is event:
                        self._reader = None
            if self._taken:
                self._taken.popleft().set()
            return self._items.popleft()
        finally:  # the reader runs: what held the clock for it is done
            self._release(self._held - (len(self._items) if self._hold_all else 0))


class PipeSocket:
    """The client's end of an in-process stream: the SDK's ``WebSocket``, no socket."""

    def __init__(self, to_client: _Channel, to_server: _Channel) -> None:
        self._in = to_client
        self._out = to_server
        self._closed: WebSocketClosedError | None = None
        #: Bumped for every message received and every ping (answered at once in process).
        self.heard = 0

    async def send(self, text: str) -> None:
        """Send one text message; returns once the sandbox has read it.

        So a ``subscribe`` is in effect when its ``send`` returns.
        :class:`WebSocketClosedError` once either side closed.
        """
        await anyio.lowlevel.checkpoint()
        self._check()
        taken = self._out.put(text, tell=True)
        assert taken is not None  # noqa: S101 (asked for)
        await taken.wait()

    @property
    def ready(self) -> bool:
        """Whether a message is waiting: :meth:`receive` will not wait."""
        return bool(self._in._items)

    async def receive(self) -> str:
        """The next message (:class:`WebSocketClosedError` when the stream ends)."""
        if self._closed is not None:
            raise self._closed
        text = await self._in.get()
        self.heard += 1
        return text

    async def ping(self) -> None:
        """In process the sandbox is always there: a ping is answered at once."""
        await anyio.lowlevel.checkpoint()
        self._check()
        self.heard += 1

    def _check(self) -> None:
        if self._closed is not None:
            raise self._closed
        if self._out.ended is not None:  # the sandbox closed (or dropped) the stream
            raise self._out.ended

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code``; what the sandbox sent and was not read is dropped."""
        if self._closed is None:
            self._closed = WebSocketClosedError(code, reason)
            self._out.end(WebSocketClosedError(code, reason))
            self._in.end(self._closed, discard=True)
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        state = "open" if self._closed is None and self._out.ended is None else "closed"
        return f"<PipeSocket {state}>"


class ServerEnd:
    """The sandbox's end of an in-process stream (what a stream session runs on)."""

    def __init__(self, to_client: _Channel, to_server: _Channel) -> None:
        self._out = to_client
        self._in = to_server

    async def receive(self) -> str | None:
        """The client's next message; None once it has closed."""
        try:
            return await self._in.get()
        except WebSocketClosedError:
            return None

    async def send(self, text: str) -> None:
        """Queue one message for the client (:class:`ClientGoneError` once it has closed)."""
        if self._out.ended is not None:
            raise ClientGoneError
        self._out.put(text)
        await anyio.lowlevel.checkpoint()

    async def close(self, code: int, reason: str) -> None:
        """Close: the client reads what was sent, then this code and reason."""
        error = WebSocketClosedError(code, reason)
        self._out.end(error)
        self._in.end(error, discard=True)
        await anyio.lowlevel.checkpoint()

    async def abort(self) -> None:
        """Drop the connection without a close: the client gets 1006, unread messages are lost."""
        error = WebSocketClosedError(ABNORMAL_CLOSURE, "the sandbox dropped the connection")
        self._out.end(error, discard=True)
        self._in.end(error, discard=True)
        await anyio.lowlevel.checkpoint()


def pipe(clock: Clock) -> tuple[PipeSocket, ServerEnd]:
    """A new in-process stream: the client's end and the sandbox's."""
    to_client = _Channel(clock, hold_all=False)
    to_server = _Channel(clock, hold_all=True)
    return PipeSocket(to_client, to_server), ServerEnd(to_client, to_server)


def spawn(run: Callable[[], Awaitable[None]], name: str) -> None:
    """Run ``run()`` in a task of its own: the in-process stream's server side.

    Not a child of the caller's task (the caller only connects) and not in
    its context (a deadline the caller set on the sandbox's clock is not the
    session's). On trio a system task, on asyncio (and uvloop) a plain task;
    either ends with the event loop at the latest. An error in it is logged.
    """

    async def guarded() -> None:
        try:
            await run()
        except Exception:  # noqa: BLE001 (a server task has no caller to raise to: log it)
            _log.exception("the sandbox's in-process order stream failed")

    trio = sys.modules.get("trio")
    if trio is not None and _in_trio(trio):
        trio.lowlevel.spawn_system_task(guarded, name=name, context=contextvars.Context())
        return
    loop = asyncio.get_running_loop()
    task = contextvars.Context().run(loop.create_task, guarded(), name=name)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


def _in_trio(trio: object) -> bool:
    try:
        trio.lowlevel.current_trio_token()  # type: ignore[attr-defined]
    except RuntimeError:
        return False
    return True
