"""The order stream the sandbox serves at ``<base_path>/ws/orders/``: one session per connection.

A session speaks the TaaS order stream's protocol over a :class:`Duplex`
(the in-process pipe, or an ASGI WebSocket under uvicorn: the same code
serves both):

- authentication by ``?token=`` in the URL or ``{"command": "authenticate",
  "token": ...}``; a token given but wrong closes with 4001, and so does a
  ``subscribe`` before any valid token ("not authenticated");
- nothing is sent before ``{"command": "subscribe", "data_type":
  "user_orders"}``; from then on every update of the venue's orders made
  after it, ``{"type": "order_update", "data": {...}}``, in the order the
  engine made them; ``unsubscribe`` stops them; ``keep_alive`` does nothing
  but count as activity;
- a connection that sends nothing for 30 s is closed with 1001: 30 s of
  sandbox time on a virtual clock (the in-process client's own timers run
  on it too), 30 s of real time on a real-time clock (a client's keep-alive
  timer runs on real time: at ``speed=60`` sandbox time would drop it after
  half a real second); a malformed or unknown command gets ``{"type":
  "error", "message": ...}`` and the connection stays open.

Time: the session waits on the sandbox's clock for the earlier of the
engine's next event and its idle deadline (an autojump clock jumps there),
is woken as soon as the engine adds an update (an API call placed an
order), and then syncs the engine and sends what is due. On a real-time
clock it sleeps the matching real time, a quarter second at most; on a
virtual clock it is woken by ``Sandbox.advance()``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

import anyio
import httpx

from taas_async._codec import decode_json
from taas_async._transports._websocket import WebSocketRefusedError
from taas_async.sandbox._clock import AutojumpClock, RealTimeClock
from taas_async.sandbox._pipe import ClientGoneError, PipeSocket, pipe, spawn

if TYPE_CHECKING:
    from taas_async.sandbox._app import Receive, Scope, Send
    from taas_async.sandbox._feed import Feed
    from taas_async.sandbox._sandbox import Sandbox

__all__ = ["IDLE_LIMIT", "STREAM_PATH", "Duplex", "StreamHub"]

#: Where the stream lives, under the API's ``base_path``.
STREAM_PATH = "/ws/orders/"
#: A connection that sends nothing for this long is closed (real time on a real-time clock).
IDLE_LIMIT = dt.timedelta(seconds=30)
#: Updates sent in a row before the session lets the server's other tasks run.
_TURN = 64
#: Real seconds at most between two looks at a clock the session cannot wait on.
POLL = 0.25
#: The longest client message read (a command is a few dozen bytes).
MAX_MESSAGE = 64 * 1024
#: The longest close reason a WebSocket close frame carries, in UTF-8 bytes.
MAX_REASON = 123

INVALID_TOKEN = 4001
GOING_AWAY = 1001
INTERNAL_ERROR = 1011
SERVICE_RESTART = 1012
IDLE_REASON = 'idle for 30 s: send {"command": "keep_alive"} every 5 to 10 s'
LAG_REASON = "fell too far behind the updates: resync over REST and reconnect"
ABRUPT_REASON = "dropped by the sandbox (abruptly, as far as a server can)"
NOT_AUTHENTICATED = "not authenticated: give ?token= or send the authenticate command first"
#: Close codes a server may send (RFC 6455 7.4: not 1004-1006 nor 1015; 3000-4999 are free).
_SENDABLE = frozenset({*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)})
_GONE = (-1, "")  # the client went away: nothing to close
_real_now = time.monotonic  # a real-time clock's idle limit runs on this


class Duplex(Protocol):
    """One accepted connection, text messages both ways, as a session sees it."""

    async def receive(self) -> str | None:
        """The client's next message; None once the client is gone."""
        ...

    async def send(self, text: str) -> None:
        """Send one message (``ClientGoneError``: the client is gone)."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close with a close frame (never raises for a client already gone)."""
        ...

    async def abort(self) -> None:
        """End the connection without a close frame, or as near to that as the server can."""
        ...


def close_problems(code: object, reason: object) -> dict[str, str]:
    """What is wrong with a close a server would send (``code`` None: abrupt), by field."""
    problems = {}
    if code is not None and (
        isinstance(code, bool) or not isinstance(code, int) or code not in _SENDABLE
    ):
        problems["code"] = (
            f"a close code is 1000-1003, 1007-1014 or 3000-4999 (null: abrupt), got {code!r:.40}"
        )
    if not isinstance(reason, str) or len(reason.encode()) > MAX_REASON:
        problems["reason"] = f"a close reason is a string of at most {MAX_REASON} bytes of UTF-8"
    return problems


class StreamHub:
    """The open order streams of one sandbox: open, wake, drop, count.

    ``Sandbox.streams`` is one. The engine's feed wakes every stream when it
    gets an update; ``Sandbox.advance()`` wakes them too (a virtual clock
    moved: idle deadlines and delayed updates may be due).
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._sessions: set[_Session] = set()

    @property
    def open(self) -> int:
        """How many streams are open (a dropped one no longer counts)."""
        return len(self._sessions)

    def wake(self) -> None:
        """Have every stream look at the engine and the clock again."""
        for session in list(self._sessions):
            session.wake()

    def drop(self, code: int | None = None, reason: str = "") -> int:
        """Close every open stream now: with ``code``, or abruptly (None); how many.

        Raises:
            ValueError: a close code or reason a WebSocket cannot send.

        """
        problems = close_problems(code, reason)
        if problems:
            raise ValueError("; ".join(problems.values()))
        sessions = list(self._sessions)
        self._sessions.clear()
        for session in sessions:
            session.end(code, reason)
        return len(sessions)

    def trim(self, feed: Feed) -> None:
        """Let ``feed`` forget what every stream reading it has sent."""
        cursors = [s.cursor for s in self._sessions if s.feed is feed]
        feed.trim(min(cursors, default=feed.next_seq))

    # ------------------------------------------------------------------ ways in

    def refusal(self, path: str) -> tuple[int, bytes] | None:
        """The HTTP reply an upgrade to ``path`` gets instead of a stream, if any."""
        base = self.sandbox.base_path + STREAM_PATH
        if path not in (base, base.rstrip("/")):
            return 404, b'{"detail":"Not found."}'
        status = self.sandbox.faults.stream_refuse
        if status is not None:
            return status, json.dumps({"detail": f"sandbox fault: HTTP {status}"}).encode()
        return None

    def open_session(self, duplex: Duplex, token: str | None) -> _Session:
        """A session for an accepted connection, counted as open from now; run it next."""
        session = _Session(self, duplex, token)
        self._sessions.add(session)
        return session

    def closed(self, session: _Session) -> None:
        """``session`` has ended."""
        self._sessions.discard(session)

    async def connect(self, url: httpx.URL) -> PipeSocket:
        """An in-process stream to ``url``: the client's end; the session runs in a task.

        Raises:
            WebSocketRefusedError: not the stream's path, or ``faults.stream_refuse`` set.

        """
        refused = self.refusal(url.path)
        if refused is not None:
            raise WebSocketRefusedError(*refused)
        client, server = pipe(self.sandbox.clock)
        session = self.open_session(server, url.params.get("token"))
        spawn(session.run, name=f"taas-sandbox-stream-{id(session):x}")
        try:
            await anyio.lowlevel.checkpoint()
        except BaseException:
            # Cancelled before the caller had its end: closed here, so the session
            # ends as for any client that goes away (not at the idle limit).
            with anyio.CancelScope(shield=True):
                await client.aclose(1001, "the caller went away while connecting")
            raise
        return client

    async def serve_asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve an ASGI ``websocket`` scope: refuse it, or accept it and run its session."""
        if (await receive())["type"] != "websocket.connect":
            return
        refused = self.refusal(scope["path"])
        if refused is not None:
            status, body = refused
            if "websocket.http.response" in scope.get("extensions", {}):
                start = {"type": "websocket.http.response.start", "status": status}
                headers = [(b"content-type", b"application/json")]
                await send({**start, "headers": headers})
                await send({"type": "websocket.http.response.body", "body": body})
            else:  # a server without the extension answers 403
                await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        token = next((value for key, value in query if key == "token"), None)
        await self.open_session(_AsgiDuplex(receive, send), token).run()

    def __repr__(self) -> str:
        return f"<StreamHub open={self.open}>"


class _AsgiDuplex:
    """A session's connection over ASGI (uvicorn with wsproto)."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send

    async def receive(self) -> str | None:
        while True:
            message = await self._receive()
            if message["type"] == "websocket.receive":
                text = message.get("text")
                if text is None:
                    text = bytes(message.get("bytes") or b"").decode("utf-8", "replace")
                return str(text)
            if message["type"] == "websocket.disconnect":
                return None

    async def send(self, text: str) -> None:
        try:
            await self._send({"type": "websocket.send", "text": text})
        except OSError as exc:  # uvicorn's ClientDisconnected
            raise ClientGoneError from exc

    async def close(self, code: int, reason: str) -> None:
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except OSError:
            return  # gone already

    async def abort(self) -> None:
        # ASGI has no way to cut a connection: the nearest is a close saying so.
        await self.close(INTERNAL_ERROR, ABRUPT_REASON)


class _Session:
    """One connection's conversation: commands in, updates out, on the sandbox's time."""

    def __init__(self, hub: StreamHub, duplex: Duplex, token: str | None) -> None:
        self._hub = hub
        self._sandbox = hub.sandbox
        self._duplex = duplex
        self._token = token
        self._authenticated = False
        #: The feed read from while subscribed, and the number of the next update to send.
        self.feed: Feed | None = None
        self.cursor: int = 0
        self._heard_at = self._sandbox.now()  # the last message from the client
        self._heard_real = _real_now()  # the same, in real time
        self._ending: tuple[int | None, str] | None = None  # how to end: (code or None, reason)
        self._woken = False
        self._scope: anyio.CancelScope | None = None
        self._thread = threading.get_ident()  # the event loop's: wake only from there
        self._lock = anyio.Lock(fast_acquire=True)

    # ------------------------------------------------------------------ from outside

    def wake(self) -> None:
        """Look again at the engine and the clock (now, if asleep)."""
        self._woken = True
        if self._scope is not None and threading.get_ident() == self._thread:
            self._scope.cancel()

    def end(self, code: int | None, reason: str) -> None:
        """Close with ``code`` (None: abruptly) as soon as the session runs."""
        if self._ending is None:
            self._ending = (code, reason)
        self.wake()

    def _over(self) -> bool:
        """Whether the session is ending (a task may have decided so while another awaited)."""
        return self._ending is not None

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """Serve the connection until either side ends it."""
        try:
            if self._token is not None and not self._valid(self._token):
                self._ending = (INVALID_TOKEN, "invalid token")
            else:
                self._authenticated = self._token is not None
                async with anyio.create_task_group() as group:
                    group.start_soon(self._listen)
                    await self._serve()
                    group.cancel_scope.cancel()
        except BaseException:  # a failure, or the server shutting down: no client waits on
            self._ending = (INTERNAL_ERROR, "the sandbox's stream session ended")
            await self._close()
            raise
        else:
            await self._close()
        finally:
            self._unsubscribe()
            self._hub.closed(self)

    async def _close(self) -> None:
        code, reason = self._ending or _GONE
        if (code, reason) == _GONE:  # nobody to tell; closing still frees the connection
            code, reason = 1000, ""
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):  # a stalled peer
            try:
                if code is None:
                    await self._duplex.abort()
                else:
                    await self._duplex.close(code, reason)
            except Exception:  # noqa: BLE001 (closing is the last thing: nothing is left to tell)
                return

    async def _listen(self) -> None:
        """Read the client's messages until it goes or a command ends the session."""
        try:
            while not self._over():
                text = await self._duplex.receive()
                if text is None:
                    self.end(*_GONE)
                    return
                self._heard_at, self._heard_real = self._sandbox.now(), _real_now()
                reply = self._command(text)
                if reply is not None and not self._over():
                    await self._send(json.dumps({"type": "error", "message": reply}))
        except ClientGoneError:
            self.end(*_GONE)

    async def _serve(self) -> None:
        """Send updates as they fall due, close when idle; until the session ends."""
        try:
            while not self._over():
                self._woken = False
                now = self._sandbox.now()
                idle_at = self._idle_at(now)
                pending = await self._deliver(min(now, idle_at))
                if self._over():
                    break
                if now >= idle_at:
                    self.end(GOING_AWAY, IDLE_REASON)
                elif not self._woken:
                    due = self._sandbox.engine.next_due() if self.feed is not None else None
                    await self._sleep_until(min(t for t in (idle_at, pending, due) if t))
        except ClientGoneError:
            self.end(*_GONE)

    def _idle_at(self, now: dt.datetime) -> dt.datetime:
        """When the connection counts as idle, in sandbox time."""
        clock = self._sandbox.clock
        if isinstance(clock, RealTimeClock):  # real seconds left, at the clock's speed
            left = IDLE_LIMIT.total_seconds() - (_real_now() - self._heard_real)
            return now + dt.timedelta(seconds=max(0.0, left) * clock.speed)
        return self._heard_at + IDLE_LIMIT

    async def _deliver(self, until: dt.datetime) -> dt.datetime | None:
        """Send the updates due by ``until``; when the next one is due, if one waits."""
        feed = self.feed
        if feed is None:
            return None
        updates = feed.since(self.cursor)
        if updates is None:
            self.end(INTERNAL_ERROR, LAG_REASON)
            return None
        delay = dt.timedelta(seconds=self._sandbox.faults.stream_delay)
        for sent, update in enumerate(updates, 1):
            if update.time + delay > until:
                return update.time + delay
            await self._send(update.text)
            self.cursor = update.seq + 1
            if self.feed is not feed or self._over():
                return None
            if sent % _TURN == 0:  # a long burst lets the server's other work in now and then
                await anyio.lowlevel.checkpoint()
        self._hub.trim(feed)
        return None

    async def _sleep_until(self, when: dt.datetime) -> None:
        """Wait until ``when`` in sandbox time, or until woken."""
        clock = self._sandbox.clock
        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                if isinstance(clock, AutojumpClock):
                    seconds = (when - clock.now()).total_seconds()
                    await clock.sleep_until(clock.current_time() + seconds)
                elif isinstance(clock, RealTimeClock):
                    seconds = (when - clock.now()).total_seconds() / clock.speed
                    await anyio.sleep(min(POLL, max(0.0, seconds)))
                else:  # moved by hand (advance() wakes the session), or a clock of the caller's
                    await anyio.sleep(POLL)
            finally:
                self._scope = None

    async def _send(self, text: str) -> None:
        # The listener's error replies and the updates take turns. Taken without a
        # checkpoint when free (most sends): not a turn of the loop for every update
        # of a burst of thousands (_deliver yields every _TURN instead).
        async with self._lock:
            await self._duplex.send(text)

    # ------------------------------------------------------------------ commands

    def _valid(self, token: str) -> bool:
        given = token.encode("utf-8", "surrogatepass")  # JSON may hold a lone surrogate
        return hmac.compare_digest(given, self._sandbox.token.encode())

    def _command(self, text: str) -> str | None:
        """Act on one client message; an error message to send back, if it was not understood."""
        if len(text) > MAX_MESSAGE:
            return f"message too long: at most {MAX_MESSAGE} characters"
        try:
            data: Any = decode_json(text)
        except ValueError:
            return 'not JSON: send an object such as {"command": "keep_alive"}'
        if not isinstance(data, dict) or not isinstance(data.get("command"), str):
            return 'a message is a JSON object with a "command" string'
        command = data["command"]
        if command == "keep_alive":
            return None
        if command == "authenticate":
            token = data.get("token")
            if not isinstance(token, str) or not token:
                return 'authenticate needs a "token" (a non-empty string)'
            if self._valid(token):
                self._authenticated = True
            else:
                self.end(INVALID_TOKEN, "invalid token")
            return None
        if command in ("subscribe", "unsubscribe"):
            if command == "subscribe" and not self._authenticated:
                self.end(INVALID_TOKEN, NOT_AUTHENTICATED)
                return None
            if data.get("data_type") != "user_orders":
                return f'{command} needs "data_type": "user_orders"'
            if command == "subscribe":
                self._subscribe()
            else:
                self._unsubscribe()
            return None
        return f"unknown command {command[:40]!r}: authenticate, subscribe, unsubscribe, keep_alive"

    def _subscribe(self) -> None:
        if self.feed is not None:
            return
        engine = self._sandbox.engine
        engine.sync()  # what fell due before now is not news
        self.feed = engine.feed
        self.feed.readers += 1
        self.cursor = self.feed.next_seq
        self.wake()  # wait for the engine's events from now on

    def _unsubscribe(self) -> None:
        if self.feed is not None:
            self.feed.readers -= 1
            self.feed = None
