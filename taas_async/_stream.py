"""The live order stream: the TaaS WebSocket (``/ws/orders/``), typed and reconnecting.

``OrderStream`` connects, authenticates (a message after connecting: the
token never goes in a URL, where proxies and access logs keep it),
subscribes, and yields :class:`~taas_async.OrderUpdate` objects. It does
its work while the caller waits for the next update: keep-alives go out on
the client's timer (the sandbox's clock under autojump), a connection that
went quiet or dropped is replaced with the client's backoff, and after a
gap every order it has seen that was still open is fetched over REST and
yielded as a ``RESYNC`` update, so no terminal state is missed. Nothing
runs in the background between two updates: a stream left unread for 30 s
is dropped by the server and reconnected (and resynchronised) on the next read.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from taas_async import _models as m
from taas_async import _wire
from taas_async._enums import OrderUpdateType
from taas_async._exceptions import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ResponseDecodeError,
    StreamUnavailableError,
    TaaSError,
)
from taas_async._logs import logger
from taas_async._policy import proxy_refused, transient
from taas_async._timer import LOOP_TIMER
from taas_async._transports import AiohttpTransport, H11PoolTransport, proxy_of, transports_of
from taas_async._transports._proxy import default_context
from taas_async._transports._websocket import (
    WebSocket,
    WebSocketClosedError,
    WebSocketOpener,
    WebSocketRefusedError,
)
from taas_async._updates import StateMark, next_mark, older_state, parse_update
from taas_async._wire import canonical_id

if TYPE_CHECKING:
    from taas_async._client import AsyncClient

__all__ = ["DEFAULT_KEEPALIVE", "OrderStream", "StreamChanged", "stream_url"]


#: Seconds between keep-alives: the server drops a connection idle for 30 s
#: and asks for one every 5 to 10 s.
DEFAULT_KEEPALIVE = 8.0
#: Keep-alive rounds with nothing heard (no message, no pong) before the
#: connection counts as dead and is replaced.
_QUIET_ROUNDS = 3
#: The close code the server uses for a token that is invalid.
_BAD_TOKEN = 4001
_SUBSCRIBE = json.dumps({"command": "subscribe", "data_type": "user_orders"})
_KEEP_ALIVE = json.dumps({"command": "keep_alive"})
_UTC = dt.timezone.utc
#: Transports that reach the network as a direct connection would.
_NETWORK = (httpx.AsyncHTTPTransport, AiohttpTransport)


def stream_url(base_url: str) -> str:
    """The order stream's URL beside the API's: ``https://host/p/`` -> ``wss://host/p/ws/orders/``."""
    url = httpx.URL(base_url)
    scheme = "wss" if url.scheme == "https" else "ws"
    return str(url.copy_with(scheme=scheme)) + "ws/orders/"


def _opener_of(client: AsyncClient) -> tuple[WebSocketOpener | None, WebSocketOpener | None]:
    """(how to open the stream, a transport of our own to close later).

    The client's transport when it opens WebSockets; a direct connection when
    it is a network transport that cannot (httpx's own, aiohttp's); None for
    any other (a test double, a wrapper): the stream must not go around it.
    """
    transports = transports_of(client._http)
    for transport in transports:
        if hasattr(transport, "connect_websocket"):
            return transport, None
    if all(t is None or type(t) in _NETWORK for t in transports):
        # Direct, as those requests go: a proxy they take (httpx's mounts for the
        # environment's, or a transport built with proxy=) is refused in _proxied.
        # SSL_CERT_FILE is trusted when the client reads the environment.
        tls = default_context(True, trust_env=client._http.trust_env)
        own = H11PoolTransport(verify=tls, trust_env=False)
        return own, own
    return None, None


def _proxied(client: AsyncClient) -> str | None:
    """Why the stream cannot follow the client's way out (httpx's proxies), or None.

    The SDK's own transport (H11PoolTransport) takes the stream through its
    proxy; httpx's proxies (an ``http_client``'s mounts, or a transport built
    with ``proxy=``) send requests where the stream, on a connection of its
    own, cannot follow.
    """
    mounts = getattr(client._http, "_mounts", {})
    if not client._owns_http and any(t is not None for t in mounts.values()):
        return "the http_client given routes requests through mounts (proxies)"
    for transport in transports_of(client._http):
        if not isinstance(transport, H11PoolTransport) and proxy_of(transport, client.base_url):
            return "the transport given goes through httpx's proxy"
    return None


class OrderStream:
    """Live updates of the user's orders, from the TaaS order stream.

    Made by :meth:`AsyncClient.order_stream`; use it as an async context
    manager, and iterate it::

        async with client.order_stream() as stream:
            async for update in stream:
                print(update.update_type, update.order_id, update.order)

    Entering connects: :class:`StreamUnavailableError` when the server has
    no stream (it refused the upgrade), :class:`AuthenticationError` when it
    answers the upgrade with 401, :class:`APIConnectionError` when no
    connection could be made within the client's retries. A token refused
    after connecting (close code 4001) is an :class:`AuthenticationError`
    raised from the iteration. One task reads a stream at a time.

    Any other drop is repaired while you iterate: the stream reconnects with
    the client's :class:`Backoff`, subscribes again, and yields a ``RESYNC``
    update (the order as the REST API gives it now) for every order it has
    seen, or was asked to :meth:`follow`, that was still open: such an
    order's end is never missed. An order's updates come in the order the
    server sent them (an older state of a running order is skipped); after
    a resync the same state may come twice. An order the REST API no longer
    shows is dropped from the resync, its error raised from the iteration.
    A message that is not valid JSON of the expected shape is raised from
    the iteration as
    :class:`ResponseDecodeError` (the raw text kept) and the stream goes on.
    """

    def __init__(self, client: AsyncClient, *, keepalive: float = DEFAULT_KEEPALIVE) -> None:
        self._client = client
        self._timer = client._timer
        self._url = httpx.URL(stream_url(client.base_url))
        self._keepalive = keepalive
        self._ws: WebSocket | None = None
        self._ready: collections.deque[m.OrderUpdate | TaaSError] = collections.deque()
        # Orders to resync after a gap: id (canonical) -> (its model, its custom_order_id).
        self._following: dict[str, tuple[type[m.Order] | type[m.MultiOrder], str | None]] = {}
        # Serving watch_orders (_serve_a_watch): only follow()ed orders are resynced,
        # and each change of connection is raised (StreamChanged).
        self._for_watch = False
        self._alive_count = 0  # what was heard at the last keep-alive round (backoff reset)
        self._failures = 0  # reconnects since the last order update: the backoff's count
        self._reconnect_at: float | None = None  # when the pending reconnect may be tried
        #: Per order seen (canonical id), what tells an older state: see ``mark_of``.
        self._last_update: dict[str, StateMark] = {}
        self._next_keepalive = 0.0
        self._heard_at = 0.0
        self._heard_count = 0
        self._quiet = 0.0  # silence heard in earlier reads since the last message or pong
        self._closed = False
        self._resync_due = False
        self._opener, self._own = _opener_of(client)
        #: How many times the stream reconnected after a drop.
        self.reconnects: int = 0

    @property
    def url(self) -> str:
        """The stream's URL (``wss://<server>/ws/orders/``)."""
        return str(self._url)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> OrderStream:
        try:
            await self._connect(retries=self._client.max_retries)
        except BaseException:
            await self.aclose()  # a transport of its own, if it made one
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection (idempotent)."""
        self._closed = True
        ws, self._ws = self._ws, None
        with anyio.CancelScope(shield=True):  # closed even when the caller was cancelled
            if ws is not None:
                await ws.aclose(1000)
            if self._own is not None:
                await self._own.aclose()  # type: ignore[attr-defined]

    def follow(self, orders: Iterable[str | m.Order | tuple[str, str | None]]) -> None:
        """Resynchronise these (single) orders after a gap too, as if their updates had been seen.

        Ids, :class:`Order` objects, or ``(id, custom_order_id)`` pairs: a
        known ``custom_order_id`` lets a resync list a hundred orders a request.
        """
        for item in orders:
            if isinstance(item, m.Order):
                order_id, custom = item.id, item.custom_order_id
            elif isinstance(item, tuple):
                order_id, custom = item
            else:
                order_id, custom = item, None
            key = canonical_id(order_id)
            known = self._following.get(key, (m.Order, None))[1]
            self._following[key] = (m.Order, custom or known)

    # ------------------------------------------------------------------ iteration

    def __aiter__(self) -> OrderStream:
        return self

    async def __anext__(self) -> m.OrderUpdate:
        while True:
            if self._ready:
                item = self._ready.popleft()
                if isinstance(item, TaaSError):
                    raise item
                return item
            if self._closed:
                raise StopAsyncIteration
            if self._ws is None:
                await self._reconnect()
                if self._for_watch and not self._ready:
                    raise StreamChanged  # up again (or the resync failed: down again)
                continue
            if self._resync_due:  # a resync cut short (the caller's timeout) goes on now
                await self._resync()
                continue
            ws = self._ws
            try:
                text = await self._receive(ws)
            except WebSocketClosedError as exc:
                self._ws = None
                with anyio.CancelScope(shield=True):
                    await ws.aclose()  # what is left of it: the socket
                if exc.code == _BAD_TOKEN:
                    self._closed = True
                    raise _bad_token(self.url, exc.reason) from None
                if not self._closed:
                    logger.warning(
                        "order stream closed (%s %s); reconnecting",
                        exc.code,
                        exc.reason or "no reason given",
                        extra={"taas_close_code": exc.code},
                    )
                    if self._for_watch:
                        raise StreamChanged from None
                continue
            if self._take(text):
                self._failures = 0  # a connection that delivers updates: the backoff starts over

    async def _receive(self, ws: WebSocket) -> str:
        """The next message; keep-alives go out on the timer while it is awaited.

        Silence is counted only while a read waits (time the caller spends
        between reads is not the connection's), and it adds up over reads
        until a message or a pong comes: a caller reading in short slices
        (``move_on_after(1)`` around each) still has a dead connection found.
        """
        timer = self._timer
        if ws.heard != self._heard_count:  # heard something since: silence starts over
            self._heard_count = ws.heard
            self._quiet = 0.0
        self._heard_at = timer.current_time() - self._quiet
        try:
            return await self._read(ws)
        finally:
            heard = ws.heard != self._heard_count
            self._quiet = 0.0 if heard else timer.current_time() - self._heard_at

    async def _read(self, ws: WebSocket) -> str:
        timer = self._timer
        if timer.current_time() >= self._next_keepalive:
            await self._keep_alive(ws)
        if ws.ready:  # read already: no wait, nothing to time
            return await ws.receive()
        if timer is LOOP_TIMER:
            # The loop's own clock: a deadline on the read itself, no task.
            while True:
                with anyio.move_on_at(self._next_keepalive) as waited:
                    return await ws.receive()
                if waited.cancelled_caught:
                    await self._keep_alive(ws)
        # Another clock (the sandbox's jumping one) sees only waits on it: the
        # keep-alives wait in a task of their own while the read goes on.
        text = ""
        closed: WebSocketClosedError | None = None
        # The sandbox's clock keeps still while a request is in flight (busy()): so too
        # while the keep-alive task winds down after a read, turns of the loop that
        # touch no clock, in which it would otherwise jump past the next keep-alive.
        busy: Callable[[], contextlib.AbstractContextManager[None]] | None = getattr(
            timer, "busy", None
        )
        try:
            with contextlib.ExitStack() as winding_down:
                async with anyio.create_task_group() as group:

                    async def beat() -> None:
                        while True:
                            await timer.sleep_until(self._next_keepalive)
                            await self._keep_alive(ws)

                    group.start_soon(beat)
                    try:
                        text = await ws.receive()
                    except WebSocketClosedError as exc:  # raised out here, not in a group
                        closed = exc
                    if busy is not None:
                        winding_down.enter_context(busy())
                    group.cancel_scope.cancel()
        except BaseException as exc:
            # What the timer raises in the keep-alive task (a virtual clock's
            # deadline) reaches the caller's scope as itself, not in a group.
            inner = _alone(exc)
            if inner is exc:
                raise
            raise inner from None
        if closed is not None:
            raise closed
        return text

    async def _keep_alive(self, ws: WebSocket) -> None:
        """Send a keep-alive and a ping; close a connection that stayed quiet too long."""
        now = self._timer.current_time()
        self._next_keepalive = now + self._keepalive
        if ws.heard != self._heard_count:  # a message or a pong since the last round
            self._heard_count = ws.heard
            self._heard_at = now
        if ws.heard != self._alive_count:  # heard from since the last round, however read
            self._alive_count = ws.heard
            self._failures = 0  # alive a keep-alive round: the backoff starts over
        elif now - self._heard_at > _QUIET_ROUNDS * self._keepalive:
            # Nothing, not even a pong, for three rounds: the connection is dead.
            logger.warning("order stream silent for %.0f s; reconnecting", now - self._heard_at)
            await ws.aclose(1001, "no reply to keep-alives")  # the read in progress ends
            return
        try:
            await ws.send(_KEEP_ALIVE)
            await ws.ping()
        except WebSocketClosedError:
            return  # the read in progress sees the close

    # ------------------------------------------------------------------ connecting

    async def _connect(self, *, retries: int) -> None:
        """Connect, authenticate and subscribe, retrying a failed connection ``retries`` times."""
        failures = 0
        while True:
            try:
                ws = await self._open()
            except APIConnectionError as exc:
                failures += 1
                if failures > retries or proxy_refused(exc):
                    raise
                await self._timer.sleep(self._client.backoff.delay(failures))
                continue
            if self._closed:  # closed by another task meanwhile: not left open
                with anyio.CancelScope(shield=True):
                    await ws.aclose()
                return
            self._ws = ws
            break
        now = self._timer.current_time()
        self._heard_at = now
        self._heard_count = self._alive_count = 0
        self._quiet = 0.0
        self._next_keepalive = now + self._keepalive

    async def _open(self) -> WebSocket:
        proxied = _proxied(self._client)
        if proxied is not None:
            # Connecting around the proxy would bypass what the network asks for.
            raise StreamUnavailableError(
                f"the order stream cannot follow the client's proxies: {proxied}; pass"
                " proxy= to AsyncClient (or to H11PoolTransport) instead",
                url=self.url,
                status_code=0,
                text="",
            )
        if self._opener is None:
            names = ", ".join(type(t).__name__ for t in transports_of(self._client._http))
            raise StreamUnavailableError(
                f"the client's transport ({names}) cannot open a WebSocket",
                url=self.url,
                status_code=0,
                text="",
            )
        timeout = self._client._timeout.connect
        try:
            ws = await self._opener.connect_websocket(self._url, [], timeout)
        except WebSocketRefusedError as exc:
            raise _refused(exc, self.url) from None
        except httpx.ProxyError as exc:
            # The proxy refused the tunnel: typed, and its proxy_status says whether
            # asking again can help (_connect and _reconnect stop on a 4xx).
            raise _wire.connection_error(exc, "GET", self.url) from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise APITimeoutError(
                f"no order stream connection within {timeout} s",
                method="GET",
                url=self.url,
                may_have_reached_server=False,
            ) from exc
        except (httpx.TransportError, WebSocketClosedError, OSError) as exc:
            raise APIConnectionError(
                f"cannot open the order stream at {self.url}: {exc}",
                method="GET",
                url=self.url,
                may_have_reached_server=False,
            ) from exc
        try:
            # The token is never bound to a name (tracebacks with locals print those).
            await ws.send(
                json.dumps({"command": "authenticate", "token": self._client._token.reveal()})
            )
            await ws.send(_SUBSCRIBE)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await ws.aclose()
            if not isinstance(exc, WebSocketClosedError):
                raise
            if exc.code == _BAD_TOKEN:
                raise _bad_token(self.url, exc.reason) from None
            raise APIConnectionError(
                f"the order stream closed while subscribing: {exc}",
                method="GET",
                url=self.url,
                may_have_reached_server=True,
            ) from None
        return ws

    async def _reconnect(self) -> None:
        """After a drop: back off, connect again (refusals end the stream), then resync.

        The backoff counts every reconnect since the last order update (or
        keep-alive round answered): a server that accepts and closes at once
        (after an error frame, say) is not hammered. A wait cut short (the
        caller's timeout) is taken up again, to the same moment, by the next
        read: a caller reading in slices shorter than the backoff still
        reconnects. A connection attempt or a resync cut short starts over.
        """
        while True:
            if self._reconnect_at is None:
                self._failures += 1
                delay = self._client.backoff.delay(self._failures)
                self._reconnect_at = self._timer.current_time() + delay
            await self._timer.sleep_until(self._reconnect_at)
            # Cut short (the caller's timeout) while connecting: tried again at once by
            # the next read, not counted as a failure.
            try:
                await self._connect(retries=0)
                self._reconnect_at = None
                break
            except APIConnectionError as exc:
                self._reconnect_at = None
                if proxy_refused(exc):  # its credentials or rules: it would only say no again
                    self._closed = True
                    raise
                logger.warning("order stream: reconnecting failed (%s); trying again", exc.message)
                if self._for_watch:  # the watch polls while the backoff runs
                    raise StreamChanged from None
            except (StreamUnavailableError, AuthenticationError):
                self._reconnect_at = None
                self._closed = True
                raise
            if self._closed:
                return
        self.reconnects += 1
        self._resync_due = True
        await self._resync()

    # ------------------------------------------------------------------ resync

    async def _resync(self) -> None:
        """Every order seen open before the gap, as the REST API gives it now, as RESYNC updates.

        Single orders are listed a hundred to a request where their
        ``custom_order_id`` is known. An order the API no longer shows (404,
        403) or answers for unreadably is dropped from the resync and its
        error raised from the iteration; the others go on. A failure that
        may pass drops the connection, to reconnect and resync again.
        """
        from taas_async._watching import snapshots  # noqa: PLC0415 (it imports this module)

        singles = {i: custom for i, (kind, custom) in self._following.items() if kind is m.Order}
        multis = [i for i, (kind, _) in self._following.items() if kind is m.MultiOrder]
        received_at = dt.datetime.now(_UTC)
        found: dict[str, m.Order | m.MultiOrder] = {}
        try:
            try:
                found.update(await snapshots(self._client, singles))
            except TaaSError as exc:
                if transient(exc):
                    raise
                # One order failed them all: one by one, each with its own outcome.
                for order_id in singles:
                    await self._resync_one(order_id, self._client.get_order, found)
            for multi_id in multis:
                await self._resync_one(multi_id, self._client.get_multi_order, found)
        except TaaSError as exc:
            # The server is struggling: drop the connection and try it all again.
            logger.warning("order stream: resync failed (%s); reconnecting", exc)
            ws, self._ws = self._ws, None
            if ws is not None:
                with anyio.CancelScope(shield=True):
                    await ws.aclose(1001)
            return
        self._resync_due = False
        for order_id, order in found.items():
            if not self._note(order_id, order, None):
                continue  # older than what was yielded already
            self._ready.append(
                m.OrderUpdate(
                    order_id=order_id,
                    update_type=OrderUpdateType.RESYNC,
                    order=order,
                    received_at=received_at,
                    raw=order.raw,
                )
            )

    async def _resync_one(
        self,
        order_id: str,
        fetch: Any,
        found: dict[str, m.Order | m.MultiOrder],
    ) -> None:
        """Fetch one order for a resync; an error that will not pass is queued, the id dropped."""
        try:
            found[order_id] = await fetch(order_id)
        except TaaSError as exc:
            if transient(exc):
                raise
            self._following.pop(order_id, None)
            logger.warning("order stream: cannot resync order %s (%s)", order_id, exc)
            self._ready.append(exc)

    # ------------------------------------------------------------------ messages

    def _take(self, text: str) -> bool:
        """Queue the update a message holds (or the error it is); True if it was an update."""
        received_at = dt.datetime.now(_UTC)
        try:
            update = parse_update(text, received_at, url=self.url, token=self._client._token)
        except ResponseDecodeError as exc:
            self._ready.append(exc)
            return False
        if update is None:  # an acknowledgement, or the server's error frame
            return False
        if update.order is not None and not self._note(
            update.order_id, update.order, update.update_type
        ):
            logger.debug("order stream: an update older than one seen, skipped: %s", text[:200])
            return True
        self._ready.append(update)
        return True

    def _note(
        self, order_id: str, order: m.Order | m.MultiOrder, kind: OrderUpdateType | str | None
    ) -> bool:
        """Remember ``order``'s state; False when it is an older state of a running order.

        An end (COMPLETE, CANCELED) is never skipped, whatever its time says.
        """
        order_id = canonical_id(order_id)
        seen = self._last_update.get(order_id)
        if older_state(seen, order):
            return False
        self._last_update[order_id] = next_mark(seen, order)
        if order.is_terminal:
            self._following.pop(order_id, None)
        elif not self._for_watch or order_id in self._following:
            known = self._following.get(order_id, (type(order), None))[1]
            self._following[order_id] = (type(order), order.custom_order_id or known)
        return True

    @property
    def connected(self) -> bool:
        """Whether the stream has a connection now (False while it reconnects, or closed)."""
        return self._ws is not None and not self._closed

    def _serve_a_watch(self) -> None:
        """Serve ``watch_orders``: resync only what it follows, report each change.

        The account's other orders are none of a watch's business; and a watch
        polls while its stream is down and reads it differently once it is up,
        so each drop, failed attempt and return is raised (StreamChanged).
        """
        self._for_watch = True

    def _attempt_due(self) -> bool:
        """Down, and the next read tries to connect at once (its backoff is over)."""
        at = self._reconnect_at
        return self._ws is None and at is not None and self._timer.current_time() >= at

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._ws is not None else "reconnecting"
        return f"<OrderStream {self.url} {state} following={len(self._following)}>"


class StreamChanged(Exception):  # noqa: N818 (a signal, not an error)
    """The stream's connection dropped, failed to come back, or came back (``_for_watch``).

    Nothing is lost: the next read goes on from where the stream stands.
    """


def _refused(exc: WebSocketRefusedError, url: str) -> TaaSError:
    """The typed error for an upgrade the server answered with ``exc.status_code``."""
    text = exc.body.decode("utf-8", "replace")
    if exc.status_code == 401:
        return AuthenticationError(
            "the order stream refused the token (HTTP 401)",
            status_code=401,
            method="GET",
            url=url,
            body=None,
            text=text,
        )
    if exc.status_code >= 500 or exc.status_code == 429:
        # Overloaded or restarting (a deploy behind a load balancer): it may pass.
        return APIConnectionError(
            f"the order stream's server answered the upgrade with HTTP {exc.status_code}",
            method="GET",
            url=url,
            may_have_reached_server=True,
        )
    return StreamUnavailableError(
        f"no order stream at {url}: the server answered the upgrade with HTTP {exc.status_code}",
        url=url,
        status_code=exc.status_code,
        text=text[:1000],
    )


def _bad_token(url: str, reason: str) -> AuthenticationError:
    return AuthenticationError(
        "the order stream refused the token (close code 4001" + (f": {reason})" if reason else ")"),
        status_code=_BAD_TOKEN,
        method="GET",
        url=url,
        body=None,
        text=reason,
    )


def _alone(exc: BaseException) -> BaseException:
    """The one exception inside (nested) exception groups of one, else ``exc``."""
    while isinstance(getattr(exc, "exceptions", None), tuple) and len(exc.exceptions) == 1:  # type: ignore[attr-defined]
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    return exc
