"""A loopback HTTP/1.1 server that misbehaves on request, for the resilience suites.

Pure test code (not shipped). :class:`FaultServer` listens on ``127.0.0.1`` on a
free port, in a daemon thread with its own asyncio event loop, so a test on
either asyncio or trio talks to it over a real socket. Requests are parsed
(and replies written) with h11. Replies come from an ASGI app (a tiny
``{"ok": true}`` app unless one is given, e.g. ``Sandbox().app``) unless a
:class:`Fault` says otherwise: refuse or reset the connection (RST, via
``SO_LINGER(1, 0)``) before or after the app ran, cut the reply mid-body, stall,
answer another status, truncate the JSON, lie about the content type.

Everything the server saw is measured server-side (``requests``,
``faults_applied``, ``in_flight``, ...) and can be read from the test thread.

Example::

    sandbox = Sandbox()
    with FaultServer(app=sandbox.app) as server:
        server.plan(Fault("reset_after_forward", method="POST", path="/api/orders/"))
        async with AsyncClient(server.url, sandbox.token) as client:
            ...
        server.wait_idle(5)
        assert len(server.requests) == 2
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from types import TracebackType
from typing import Any, Literal
from urllib.parse import unquote

import attrs
import h11

__all__ = ["Fault", "FaultKind", "FaultServer", "refused_url"]

FaultKind = Literal[
    "refuse",
    "close_on_accept",
    "close_before_reply",
    "reset_before_reply",
    "reset_after_forward",
    "reset_mid_body",
    "stall",
    "status",
    "status_after_forward",
    "truncated_json",
    "wrong_content_type",
    "oversized",
    "oversized_after_forward",
]
_KINDS = frozenset(FaultKind.__args__)  # type: ignore[attr-defined]
_AT_ACCEPT = frozenset({"refuse", "close_on_accept"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

MAX_REQUEST = 4 << 20  # a request larger than this closes the connection
READ_CHUNK = 65536
MID_BODY_PAUSE = 0.05  # lets the client read the partial reply before the RST arrives


@attrs.frozen
class Fault:
    """One way to misbehave on one request (see the module docstring).

    ``method`` and ``path`` narrow which requests take it (``path`` is a
    prefix of the request's path and query, e.g. ``"/api/orders/"``).

    - ``refuse``: RST a new connection right after accept, before reading it;
      on an already open (keep-alive) connection, RST as soon as the request
      line and headers arrived. Never forwarded, never counted in ``requests``.
    - ``close_on_accept``: as ``refuse``, with a plain close (FIN) instead of a RST.
    - ``close_before_reply``: read the whole request, do not forward it, close (FIN).
    - ``reset_before_reply``: read the whole request, do not forward it, RST.
    - ``reset_after_forward``: forward to the app (an order IS placed), RST.
    - ``reset_mid_body``: forward, send status line, headers and half the
      body, RST.
    - ``stall``: forward, sleep ``seconds``, then send the app's reply (if the
      client is still there).
    - ``status``: reply ``status`` with ``body``/``headers``/``content_type``,
      not forwarded.
    - ``status_after_forward``: forward, then reply as ``status`` does.
    - ``truncated_json``: forward, reply 200 ``application/json`` with the
      first half of the app's body (Content-Length matches: framing is fine,
      the JSON is not).
    - ``wrong_content_type``: forward, reply the app's status and body with
      ``Content-Type: text/html``.
    - ``oversized``: not forwarded; reply ``status`` with a JSON body (a
      string) of ``size`` bytes, written a chunk at a
      time (the server never holds it whole), with a Content-Length or, if
      ``chunked``, chunked. ``oversized_after_forward``: forward first (an
      order IS placed), then the same.
    """

    kind: FaultKind
    status: int = 500
    body: bytes | str = b""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    content_type: str = "text/html"
    seconds: float = 0.0
    method: str | None = None
    path: str | None = None
    size: int = 0
    chunked: bool = False

    def __attrs_post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if not 100 <= self.status <= 599:
            raise ValueError(f"not an HTTP status: {self.status!r}")
        if self.seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {self.seconds!r}")

    def matches(self, method: str | None, target: str | None) -> bool:
        """Whether this fault applies to a request (None: not known yet, e.g. at accept)."""
        if self.method is not None and (method is None or self.method.upper() != method):
            return False
        return self.path is None or (target is not None and target.startswith(self.path))

    def body_bytes(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else bytes(self.body)


@attrs.frozen
class _Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def refused_url() -> str:
    """A ``http://127.0.0.1:PORT/`` URL on a port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


async def ok_app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """The default app: 200 ``{"ok": true}`` to every HTTP request."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = json.dumps({"ok": True}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _ClientGone(Exception):
    """The peer closed or reset the connection."""


class FaultServer:
    """A real HTTP/1.1 server on 127.0.0.1 that injects :class:`Fault` s.

    Use as a context manager; ``url`` is ``http://127.0.0.1:PORT/``.

    Args:
        app: the ASGI app answering requests (default: 200 ``{"ok": true}``).
        delay: seconds every fully received request waits in the server loop
            before the app (or its fault) runs.
        close_after: close each connection (a plain FIN, no ``Connection:
            close`` header) right after its ``close_after``-th full reply, as
            load balancers and proxies do after N requests (1: after every reply).
        idle_timeout: close a connection that has served a request and then
            waits this many seconds for its next one, as load balancers do with
            idle keep-alive connections.
        tls: serve HTTPS with this context; ``url`` is then
            ``https://localhost:PORT/`` (the name a test certificate carries).

    """

    def __init__(
        self,
        app: ASGIApp | None = None,
        *,
        delay: float = 0.0,
        close_after: int | None = None,
        idle_timeout: float | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay!r}")
        if close_after is not None and close_after < 1:
            raise ValueError(f"close_after must be >= 1, got {close_after!r}")
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be > 0, got {idle_timeout!r}")
        self.app: ASGIApp = app if app is not None else ok_app
        self.delay = delay
        self.close_after = close_after
        self.idle_timeout = idle_timeout
        self.tls = tls
        self.url = ""
        self.port = 0
        self._lock = threading.Lock()
        self._planned: list[Fault] = []
        self._random: tuple[float, tuple[Fault, ...], random.Random] | None = None
        self._requests: list[tuple[str, str, bytes]] = []
        self._arrivals: list[float] = []
        self._faults_applied: list[str] = []
        self._in_flight = 0
        self._peak_in_flight = 0
        self._open_connections = 0
        self._connections_accepted = 0
        self._errors: list[str] = []
        # owned by the server thread
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._phases: dict[asyncio.StreamWriter, list[Any]] = {}  # writer -> [peer, phase, served]

    # ------------------------------------------------------------------ faults

    def plan(self, *faults: Fault) -> None:
        """Queue faults: each matching request takes the first matching one left."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"not a Fault: {fault!r}")
        with self._lock:
            self._planned.extend(faults)

    def set_random(self, rate: float, kinds: Sequence[Fault], seed: int) -> None:
        """Fault each request matching one of ``kinds`` with probability ``rate``.

        The fault is drawn (seeded RNG) among the ``kinds`` matching the
        request. Planned faults go first.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {rate!r}")
        if not kinds:
            raise ValueError("set_random needs at least one fault kind")
        with self._lock:
            self._random = (rate, tuple(kinds), random.Random(seed))

    def clear(self) -> None:
        """No more faults (planned or random)."""
        with self._lock:
            self._planned.clear()
            self._random = None

    @property
    def planned(self) -> list[Fault]:
        """Planned faults not taken yet."""
        with self._lock:
            return list(self._planned)

    def _take(self, method: str | None, target: str | None) -> Fault | None:
        """The fault for this request (None: none), recorded as applied."""
        with self._lock:
            for i, fault in enumerate(self._planned):
                if fault.matches(method, target):
                    del self._planned[i]
                    self._faults_applied.append(fault.kind)
                    return fault
            if self._random is None or method is None:
                return None
            rate, kinds, rng = self._random
            candidates = [k for k in kinds if k.matches(method, target)]
            if not candidates or rng.random() >= rate:
                return None
            fault = rng.choice(candidates)
            self._faults_applied.append(fault.kind)
            return fault

    def _take_refusal(self) -> Fault | None:
        """At accept: the first planned refusal (RST or FIN) that needs no request to match."""
        with self._lock:
            for i, fault in enumerate(self._planned):
                if fault.kind in _AT_ACCEPT and fault.method is None and fault.path is None:
                    del self._planned[i]
                    self._faults_applied.append(fault.kind)
                    return fault
            return None

    # ------------------------------------------------------------------ measurements

    @property
    def requests(self) -> list[tuple[str, str, bytes]]:
        """(method, path+query, body) of every request fully received, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def arrivals(self) -> list[float]:
        """``time.monotonic()`` when each request was fully received."""
        with self._lock:
            return list(self._arrivals)

    @property
    def faults_applied(self) -> list[str]:
        """The kind of every fault applied, in order."""
        with self._lock:
            return list(self._faults_applied)

    @property
    def in_flight(self) -> int:
        """Requests fully received and not yet fully answered (or their connection closed)."""
        with self._lock:
            return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        with self._lock:
            return self._peak_in_flight

    @property
    def open_connections(self) -> int:
        with self._lock:
            return self._open_connections

    @property
    def connections_accepted(self) -> int:
        with self._lock:
            return self._connections_accepted

    @property
    def errors(self) -> list[str]:
        """Unexpected exceptions raised while serving (the server's or the app's bugs)."""
        with self._lock:
            return list(self._errors)

    def connections(self) -> list[tuple[int | None, str, int]]:
        """(client port, phase, requests received) of every open connection (diagnostics).

        Phases: ``accepted``, ``idle`` (waiting for a request), ``receiving``,
        ``answering``.
        """
        loop = self._loop
        if loop is None or not loop.is_running():
            return []

        async def snapshot() -> list[tuple[int | None, str, int]]:
            return [(p[0], p[1], p[2]) for p in self._phases.values()]

        return asyncio.run_coroutine_threadsafe(snapshot(), loop).result(timeout=5)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many received requests match ``method`` and the ``path`` prefix."""
        return sum(
            1
            for m, target, _ in self.requests
            if (method is None or m == method.upper()) and (path is None or target.startswith(path))
        )

    def reset_stats(self) -> None:
        """Forget the requests, arrivals and faults seen; peaks restart from now."""
        with self._lock:
            self._requests.clear()
            self._arrivals.clear()
            self._faults_applied.clear()
            self._peak_in_flight = self._in_flight
            self._connections_accepted = 0

    def wait_idle(self, timeout: float) -> None:
        """Block until no request is in flight; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._in_flight == 0:
                    return
                left = self._in_flight
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{left} requests still in flight after {timeout} s")
            time.sleep(0.005)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> FaultServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("FaultServer already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        thread = threading.Thread(target=self._run, args=(loop,), name="FaultServer", daemon=True)
        self._thread = thread
        thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), loop)
        try:
            self.port = future.result(timeout=10)
        except BaseException:
            self._halt()
            raise
        where = "https://localhost" if self.tls is not None else "http://127.0.0.1"
        self.url = f"{where}:{self.port}/"

    def stop(self) -> None:
        """Close every connection, stop the loop, join the thread (idempotent)."""
        loop = self._loop
        if loop is None or self._thread is None:
            return
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout=10)
        self._halt()

    def _halt(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        if loop is not None and not loop.is_running() and not loop.is_closed():
            loop.close()
        self._loop = None
        self._thread = None

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(
            self._accepted, "127.0.0.1", 0, backlog=512, ssl=self.tls
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        server = self._server
        if server is not None:
            server.close()
        for writer in list(self._writers):
            _reset(writer)
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=5)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=5)

    # ------------------------------------------------------------------ one connection

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        self._phases[writer] = [peer[1] if peer else None, "accepted", 0]
        with self._lock:
            self._open_connections += 1
            self._connections_accepted += 1
        try:
            refusal = self._take_refusal()
            if refusal is not None:
                if refusal.kind == "refuse":
                    _reset(writer)
                return  # close_on_accept: the finally below closes it (FIN)
            await self._serve(reader, writer)
        except (_ClientGone, ConnectionError, h11.RemoteProtocolError, asyncio.CancelledError):
            _reset(writer)
        except Exception as exc:  # a bug in here (or in the app): cut the connection, keep it
            _reset(writer)
            with self._lock:
                self._errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            self._writers.discard(writer)
            self._phases.pop(writer, None)
            self._handlers.discard(task)
            with self._lock:
                self._open_connections -= 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST)
        phase = self._phases[writer]
        while True:  # one iteration per request; ends when the connection does
            phase[1] = "idle"
            if self.idle_timeout is None or phase[2] == 0:
                # The idle timeout is for keep-alive connections between requests: a
                # new one always waits for its first (however loaded the machine is).
                head = await _next_event(conn, reader)
            else:
                try:
                    head = await asyncio.wait_for(_next_event(conn, reader), self.idle_timeout)
                except asyncio.TimeoutError:
                    return  # idle too long: closed with a FIN, as a load balancer does
            phase[1] = "receiving"
            if isinstance(head, h11.ConnectionClosed):
                return
            if not isinstance(head, h11.Request):
                raise h11.RemoteProtocolError(f"unexpected {head!r}")
            method = head.method.decode("ascii")
            target = head.target.decode("latin-1")
            planned = self.planned
            refusal = next(
                (f for f in planned if f.kind in _AT_ACCEPT and f.matches(method, target)), None
            )
            if refusal is not None and self._take_refusal_for(refusal):
                if refusal.kind == "refuse":
                    _reset(writer)
                return
            body = bytearray()
            while True:
                event = await _next_event(conn, reader)
                if isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > MAX_REQUEST:
                        raise h11.RemoteProtocolError("request too large")
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    raise _ClientGone(f"connection ended mid-request: {event!r}")
            with self._lock:
                self._requests.append((method, target, bytes(body)))
                self._arrivals.append(time.monotonic())
                self._in_flight += 1
                self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            phase[1] = "answering"
            phase[2] += 1
            try:
                keep = await self._answer_watching(conn, reader, writer, head, bytes(body))
            finally:
                with self._lock:
                    self._in_flight -= 1
            if not keep or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            if self.close_after is not None and phase[2] >= self.close_after:
                return  # closed right after a full reply, without "Connection: close"
            conn.start_next_cycle()

    def _take_refusal_for(self, fault: Fault) -> bool:
        with self._lock:
            for i, planned in enumerate(self._planned):
                if planned is fault:
                    del self._planned[i]
                    self._faults_applied.append(fault.kind)
                    return True
            return False

    async def _answer_watching(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        head: h11.Request,
        body: bytes,
    ) -> bool:
        """Answer one request while watching for the client going away.

        Returns whether the connection can serve another request. If the
        client closes or resets the connection first, the answer is
        abandoned (cancelled) and the request stops counting as in flight.
        """
        answer = asyncio.ensure_future(self._answer(conn, writer, head, body))
        watch = asyncio.ensure_future(reader.read(READ_CHUNK))
        try:
            done, _ = await asyncio.wait({answer, watch}, return_when=asyncio.FIRST_COMPLETED)
            if watch in done and answer not in done:
                try:
                    data = watch.result()
                except (ConnectionError, OSError):
                    data = b""
                if not data:  # the client went away: abandon the answer
                    answer.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await answer
                    raise _ClientGone("client closed the connection while waiting")
                conn.receive_data(data)  # pipelined bytes: kept for the next cycle
                return await answer
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watch
            return answer.result()
        finally:
            for task in (answer, watch):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _answer(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, head: h11.Request, body: bytes
    ) -> bool:
        """Apply the fault (if any) and reply; returns whether the connection stays open."""
        method = head.method.decode("ascii")
        target = head.target.decode("latin-1")
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        fault = self._take(method, target)
        kind = fault.kind if fault is not None else None
        if fault is not None and kind in ("refuse", "reset_before_reply"):
            _reset(writer)
            return False
        if fault is not None and kind in ("close_on_accept", "close_before_reply"):
            return False  # the connection's handler closes it (FIN)
        if fault is not None and kind == "status":
            await _send(conn, writer, _fault_reply(fault))
            return True
        if fault is not None and kind == "oversized":
            await _send_oversized(conn, writer, fault)
            return True
        reply = await self._call_app(head, body, writer)
        if kind == "oversized_after_forward":
            assert fault is not None
            await _send_oversized(conn, writer, fault)
            return True
        if fault is None:
            await _send(conn, writer, reply)
            return True
        if kind == "reset_after_forward":
            _reset(writer)
            return False
        if kind == "reset_mid_body":
            half = reply.body[: len(reply.body) // 2]
            headers = _with_length(reply.headers, len(reply.body))
            _write(conn, writer, h11.Response(status_code=reply.status, headers=headers))
            _write(conn, writer, h11.Data(data=half))
            await writer.drain()
            await asyncio.sleep(MID_BODY_PAUSE)
            _reset(writer)
            return False
        if kind == "stall":
            await asyncio.sleep(fault.seconds)
            await _send(conn, writer, reply)
            return True
        if kind == "status_after_forward":
            await _send(conn, writer, _fault_reply(fault))
            return True
        if kind == "truncated_json":
            cut = reply.body[: len(reply.body) // 2]
            headers = [(k, v) for k, v in reply.headers if k.lower() not in (b"content-type",)] + [
                (b"content-type", b"application/json")
            ]
            await _send(conn, writer, _Reply(200, headers, cut))
            return True
        if kind == "wrong_content_type":
            headers = [(k, v) for k, v in reply.headers if k.lower() != b"content-type"]
            headers.append((b"content-type", b"text/html; charset=utf-8"))
            await _send(conn, writer, _Reply(reply.status, headers, reply.body))
            return True
        raise AssertionError(f"unhandled fault kind {kind!r}")

    async def _call_app(
        self, head: h11.Request, body: bytes, writer: asyncio.StreamWriter
    ) -> _Reply:
        """Run the ASGI app on one request and collect its reply."""
        target = head.target
        raw_path, _, query = target.partition(b"?")
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": head.http_version.decode("ascii"),
            "method": head.method.decode("ascii"),
            "scheme": "http",
            "path": unquote(raw_path.decode("latin-1")),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in head.headers],
            "client": (peer[0], peer[1]),
            "server": ("127.0.0.1", self.port),
        }
        sent_body = False
        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # nothing more, ever: like a client that waits
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        await self.app(scope, receive, send)
        return _Reply(status, headers, b"".join(chunks))


# ---------------------------------------------------------------------- helpers


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    """The next h11 event, reading from the socket as needed (EOF -> ConnectionClosed)."""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await reader.read(READ_CHUNK)
            except (ConnectionError, OSError) as exc:
                raise _ClientGone(str(exc)) from exc
            conn.receive_data(data)  # b"" tells h11 about EOF
            continue
        if event is h11.PAUSED:
            raise h11.RemoteProtocolError("pipelined request while answering")
        return event


def _with_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    kept = [
        (k, v) for k, v in headers if k.lower() not in (b"content-length", b"transfer-encoding")
    ]
    return [*kept, (b"content-length", str(length).encode())]


def _fault_reply(fault: Fault) -> _Reply:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in fault.headers.items()]
    if not any(k.lower() == b"content-type" for k, _ in headers):
        headers.append((b"content-type", fault.content_type.encode("latin-1")))
    return _Reply(fault.status, headers, fault.body_bytes())


def _write(conn: h11.Connection, writer: asyncio.StreamWriter, event: Any) -> None:
    data = conn.send(event)
    if data:
        writer.write(data)


async def _send(conn: h11.Connection, writer: asyncio.StreamWriter, reply: _Reply) -> None:
    headers = _with_length(reply.headers, len(reply.body))
    _write(conn, writer, h11.Response(status_code=reply.status, headers=headers))
    if reply.body:
        _write(conn, writer, h11.Data(data=reply.body))
    _write(conn, writer, h11.EndOfMessage())
    await writer.drain()


async def _send_oversized(conn: h11.Connection, writer: asyncio.StreamWriter, fault: Fault) -> None:
    """A valid JSON string of ``fault.size`` bytes, one chunk at a time."""
    headers = [(b"content-type", b"application/json")]
    if not fault.chunked:
        headers.append((b"content-length", str(fault.size).encode()))
    _write(conn, writer, h11.Response(status_code=fault.status, headers=headers))
    left = fault.size - 2
    _write(conn, writer, h11.Data(data=b'"'))
    chunk = b"x" * READ_CHUNK
    while left > 0:
        part = chunk if left >= len(chunk) else chunk[:left]
        _write(conn, writer, h11.Data(data=part))
        left -= len(part)
        await writer.drain()  # raises once the client has gone
    _write(conn, writer, h11.Data(data=b'"'))
    _write(conn, writer, h11.EndOfMessage())
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort the connection with an RST (SO_LINGER on, timeout 0), dropping unsent data."""
    transport = writer.transport
    if transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
