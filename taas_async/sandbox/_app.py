"""The simulator's HTTP face: a plain ASGI application.

It answers every endpoint of the TaaS API on the server's paths, checks the
``Token`` header (401), validates bodies and queries with the same field
rules the SDK documents (400 with ``{field: [messages]}``), reads list
parameters comma-joined or repeated, pages the orders list, answers 404/405
for what does not exist, and records every exchange.
Fault knobs (:class:`Faults`) fail chosen requests or slow every one down.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from decimal import Decimal, localcontext
from typing import Any, Protocol, TypeVar, get_args, get_origin
from urllib.parse import parse_qsl

import anyio
import attrs
import httpx

from taas_async._codec import decode_json
from taas_async._endpoints import ENDPOINTS
from taas_async._exceptions import RequestValidationError
from taas_async._requests import (
    AmendOrderRequest,
    BalancesQuery,
    CloseBalancesRequest,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    OrderIdRequest,
    OrderMessagesRequest,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    SetLeverageRequest,
)
from taas_async.sandbox import _render as render
from taas_async.sandbox._clock import AutojumpClock
from taas_async.sandbox._engine import Engine
from taas_async.sandbox._records import EXACT, SandboxError

__all__ = ["Exchange", "FaultRule", "Faults", "SandboxApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_Reply = tuple[int, Any]
_T = TypeVar("_T")
_F = TypeVar("_F", GetOrdersRequest, GetMultiOrdersRequest)


def _is_list(kind: Any) -> bool:
    return get_origin(kind) is list or any(get_origin(arg) is list for arg in get_args(kind))


#: The query parameters that are lists, read off the SDK's query models, so a
#: new list filter is one here too: statuses, account_names, custom_order_ids, ...
_LIST_PARAMS = frozenset(
    field.name
    for model in (GetOrdersRequest, GetMultiOrdersRequest, BalancesQuery)
    for field in attrs.fields(model)
    if _is_list(field.type)
)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_BODY = 1 << 20  # a larger body is refused (413), as a real front end would


@attrs.frozen
class Exchange:
    """One request the sandbox received and the reply it gave."""

    method: str
    url: httpx.URL
    headers: httpx.Headers
    content: bytes
    status: int
    reply: bytes
    at: dt.datetime  # simulated time of arrival

    @property
    def path(self) -> str:
        """The request path (percent-encoded, as sent)."""
        return self.url.raw_path.decode().split("?")[0]

    def json(self) -> Any:
        """The reply body decoded (decimals exact), or None when it had none."""
        return decode_json(self.reply) if self.reply else None


@attrs.define
class FaultRule:
    """Fail the next ``remaining`` matching requests with ``status``.

    ``after=True`` lets the request take effect first (an order is placed)
    and then answers with the failure: a reply lost on the way back.
    """

    status: int
    remaining: int
    body: Any = None
    headers: dict[str, str] = attrs.field(factory=dict)
    content_type: str = "application/json"
    method: str | None = None
    path: str | None = None
    after: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request (path matched as a substring)."""
        return (
            self.remaining > 0
            and (self.method is None or self.method == method)
            and (self.path is None or self.path in path)
        )


def _delay(_: object, __: object, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e9:
        raise ValueError(f"stream_delay is seconds: a finite number >= 0, got {value!r}")


def _refusal(_: object, __: object, value: Any) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 200 <= value <= 599
    ):
        raise ValueError(f"stream_refuse is None or an HTTP status 200-599, got {value!r}")


@attrs.define
class Faults:
    """Knobs that make the sandbox misbehave on purpose, for tests.

    Example::

        sandbox.faults.fail_next(2, status=503, headers={"Retry-After": "1"})
        sandbox.faults.latency = 0.05  # seconds before each reply (virtual on an autojump clock)
        sandbox.faults.stream_delay = 2  # sandbox seconds before each order stream update
        sandbox.faults.stream_refuse = 503  # order stream upgrades get this HTTP status
    """

    latency: float = 0.0
    rules: list[FaultRule] = attrs.field(factory=list)
    stream_delay: float = attrs.field(default=0.0, validator=_delay)
    stream_refuse: int | None = attrs.field(default=None, validator=_refusal)

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
        method: str | None = None,
        path: str | None = None,
        after: bool = False,
    ) -> FaultRule:
        """Answer the next ``n`` matching requests with ``status``.

        ``body`` is JSON-encoded unless it is ``str``/``bytes`` (then sent as
        is, ``text/html`` unless ``content_type`` says otherwise); by default
        it is ``{"detail": "sandbox fault: HTTP <status>"}``. ``method`` and
        ``path`` (a substring such as ``"api/orders/"``) narrow the match.
        """
        if n < 1 or not 100 <= status <= 599:
            raise ValueError(f"need n >= 1 and an HTTP status, got n={n!r}, status={status!r}")
        if content_type is None:
            content_type = "text/html" if isinstance(body, (str, bytes)) else "application/json"
        rule = FaultRule(
            status=status,
            remaining=n,
            body={"detail": f"sandbox fault: HTTP {status}"} if body is None else body,
            headers=dict(headers or {}),
            content_type=content_type,
            method=method.upper() if method else None,
            path=path,
            after=after,
        )
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Drop every rule, the latency and the order stream's faults."""
        self.rules.clear()
        self.latency = 0.0
        self.stream_delay = 0.0
        self.stream_refuse = None

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first rule matching this request, counted as used."""
        for rule in self.rules:
            if rule.matches(method, path):
                rule.remaining -= 1
                return rule
        return None


@attrs.frozen
class _Request:
    """What a handler reads: the query, the headers, the body (the route chose the handler)."""

    query: dict[str, str]
    headers: httpx.Headers
    body: bytes


class _Routes:
    """(method, pattern) -> handler, with 405 for a known path and another method."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., _Reply]]] = []

    def add(self, method: str, pattern: str, handler: Callable[..., _Reply]) -> None:
        self._routes.append((method, re.compile(pattern + "/?"), handler))

    def find(self, method: str, route: str) -> tuple[Callable[..., _Reply], tuple[str, ...]]:
        allowed = False
        for m, pattern, handler in self._routes:
            match = pattern.fullmatch(route)
            if match:
                if m == method:
                    return handler, match.groups()
                allowed = True
        if allowed:
            raise SandboxError(405, {"detail": f'Method "{method}" not allowed.'})
        raise SandboxError(404, {"detail": "Not found."})


_ID = r"([^/]+)"


class Venue(Protocol):
    """What the app serves: a :class:`~taas_async.sandbox.Sandbox` (or anything like it)."""

    token: str
    base_path: str
    engine: Engine
    faults: Faults

    def record(self, exchange: Exchange) -> None:
        """Keep one exchange (request and reply) for inspection."""


class SandboxApp:
    """The ASGI application of a :class:`~taas_async.sandbox.Sandbox`.

    Its routes are the SDK's endpoint rows: each row's method and path go to
    the handler of the same name, so the SDK and the sandbox cannot disagree
    on where an endpoint lives.
    """

    def __init__(self, sandbox: Venue) -> None:
        self.sandbox = sandbox
        self._routes = _Routes()
        # order id -> (the state it was rendered in, its JSON): polling an order
        # that has not changed (most polls of a long order) costs no rendering.
        self._rendered: dict[str, tuple[tuple[Any, ...], bytes]] = {}
        for row in ENDPOINTS.values():
            handler = getattr(self, row.name, None)
            if handler is None:  # a row added without its sandbox handler
                raise TypeError(f"the sandbox has no handler for the endpoint {row.name!r}")
            pattern = re.sub(r"\{\w+\}", _ID, row.path.rstrip("/"))
            self._routes.add(row.method, pattern, handler)

    @property
    def engine(self) -> Engine:
        """The venue's engine (read on each use: a reset gives the sandbox a new one)."""
        return self.sandbox.engine

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"the TaaS sandbox speaks HTTP only, not {scope['type']}")
        body = await read_body(receive)
        headers = request_headers(scope)
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        url = httpx.URL(
            f"{scope.get('scheme', 'http')}://{headers.get('host', 'sandbox')}"
            + raw_path.decode("latin-1")
            + (f"?{query.decode('latin-1')}" if query else "")
        )
        status, reply, content_type, extra = await self.serve(
            scope["method"], scope["path"], url, headers, body
        )
        await send_reply(send, status, reply, content_type, extra)

    def forget_replies(self) -> None:
        """Drop the kept order JSON (a reset: the orders it was kept for are gone)."""
        self._rendered.clear()

    async def serve(
        self, method: str, path: str, url: httpx.URL, headers: httpx.Headers, body: bytes
    ) -> tuple[int, bytes, str, dict[str, str]]:
        """Answer one request and record the exchange: the ASGI and in-process ways in.

        Returns the status, the body, its content type and any extra headers.
        ``path`` is the decoded path, ``url`` the request's URL as sent.
        """
        status, reply, content_type, extra = await self.respond(
            method, path, url.query, headers, body
        )
        self.sandbox.record(
            Exchange(method, url, headers, body, status, reply, self.engine.clock.now())
        )
        return status, reply, content_type, extra

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def respond(
        self, method: str, path: str, query: bytes, headers: httpx.Headers, body: bytes
    ) -> tuple[int, bytes, str, dict[str, str]]:
        """Status, body, content type and extra headers for one request."""
        faults = self.sandbox.faults
        if faults.latency > 0:
            clock = self.engine.clock
            # On an autojump clock the latency is virtual: no real time passes.
            await (clock.sleep if isinstance(clock, AutojumpClock) else anyio.sleep)(faults.latency)
        rule = faults.take(method, path)
        if rule is not None and not rule.after:
            return _fault_reply(rule)
        status, payload = self._handle(method, path, query, headers, body)
        if rule is not None:  # it took effect; the caller only sees the failure
            return _fault_reply(rule)
        reply = payload if isinstance(payload, bytes) else render.dumps(payload)
        return status, reply, "application/json", {}

    def _handle(
        self, method: str, path: str, query: bytes, headers: httpx.Headers, body: bytes
    ) -> _Reply:
        with localcontext(EXACT):
            return self._dispatch(method, path, query, headers, body)

    def _dispatch(
        self, method: str, path: str, query: bytes, headers: httpx.Headers, body: bytes
    ) -> _Reply:
        try:
            base = self.sandbox.base_path
            if not path.startswith(base + "/"):
                raise SandboxError(404, {"detail": "Not found."})
            route = path[len(base) + 1 :]
            self._authenticate(headers)
            if len(body) > MAX_BODY:
                raise SandboxError(413, {"detail": "Request body too large."})
            handler, args = self._routes.find(method, route)
            request = _Request(_parse_query(query), headers, body)
            return handler(request, *args)
        except SandboxError as exc:
            return exc.status, exc.body
        except RequestValidationError as exc:
            return 400, exc.errors

    def _authenticate(self, headers: httpx.Headers) -> None:
        given = headers.get("authorization")
        if given is None:
            raise SandboxError(401, {"detail": "Authentication credentials were not provided."})
        if given != f"Token {self.sandbox.token}":
            raise SandboxError(401, {"detail": "Invalid token."})

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _json(request: _Request) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/json"):
            raise SandboxError(
                415, {"detail": f'Unsupported media type "{content_type}" in request.'}
            )
        try:
            body = decode_json(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SandboxError(400, {"detail": f"JSON parse error - {exc}"}) from None
        if not isinstance(body, dict):
            raise SandboxError(
                400,
                {
                    "non_field_errors": [
                        f"Invalid data. Expected a dictionary, but got {type(body).__name__}."
                    ]
                },
            )
        return body

    @staticmethod
    def _list(query: Mapping[str, str], name: str) -> list[str] | None:
        value = query.get(name)
        if value is None:
            return None
        return [v for v in value.split(",") if v] or None

    @staticmethod
    def _int(query: Mapping[str, str], name: str, default: int, maximum: int) -> int:
        text = query.get(name)
        if text is None:
            return default
        # ASCII digits only ("²".isdigit() is true, and int() of it fails), and no more
        # of them than the maximum has: int() of 5000 digits would be a ValueError.
        if not (text.isascii() and text.isdigit() and len(text) <= len(str(maximum))):
            raise SandboxError(400, {name: [f"must be a whole number from 1 to {maximum}"]})
        if not 1 <= int(text) <= maximum:
            raise SandboxError(400, {name: [f"must be a whole number from 1 to {maximum}"]})
        return int(text)

    @classmethod
    def _page(
        cls, items: list[_T], query: Mapping[str, str], page_field: str
    ) -> tuple[list[_T], int, int]:
        """One page of ``items`` as the query asks (404 past the end), the count, the pages."""
        page = cls._int(query, page_field, 1, 1_000_000)
        size = cls._int(query, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        num_pages = max(1, math.ceil(len(items) / size))
        if page > num_pages:
            raise SandboxError(404, {"detail": "Invalid page."})
        return items[(page - 1) * size : page * size], len(items), num_pages

    @classmethod
    def _filters(cls, model: type[_F], query: Mapping[str, str], *lists: str) -> _F:
        """A list's filters read by the SDK's own request model (a 400 when one is bad)."""
        fields: dict[str, Any] = {"before": query.get("before"), "after": query.get("after")}
        for name in ("statuses", "custom_order_ids", *lists):
            fields[name] = cls._list(query, name)
        return model(**fields)

    @staticmethod
    def _bool(query: Mapping[str, str], name: str) -> bool:
        text = query.get(name, "false").lower()
        if text not in ("true", "false", "1", "0"):
            raise SandboxError(400, {name: ["must be true or false"]})
        return text in ("true", "1")

    # ------------------------------------------------------------------ endpoints

    def place_order(self, request: _Request) -> _Reply:
        """POST /api/orders/."""
        order = self.engine.place_order(PlaceOrderRequest(**self._json(request)))
        return 201, render.order(order)

    def get_all_orders(self, request: _Request) -> _Reply:
        """GET /api/orders/: filters, then one page, newest first."""
        q = request.query
        filters = self._filters(GetOrdersRequest, q, "account_names")
        orders = self.engine.list_orders(filters)
        chunk, count, num_pages = self._page(orders, q, "page")
        return 200, {
            "orders": [render.order(o) for o in chunk],
            "count": count,
            "num_pages": num_pages,
        }

    def get_order(self, _: _Request, order_id: str) -> _Reply:
        """GET /api/order/{id} (the JSON kept while the order does not change)."""
        order = self.engine.order(order_id)
        state = render.order_state(order)
        kept = self._rendered.get(order.id)
        if kept is not None and _same(kept[0], state):
            return 200, kept[1]
        reply = render.dumps(render.order(order))
        self._rendered[order.id] = (state, reply)
        return 200, reply

    def cancel_order(self, _: _Request, order_id: str) -> _Reply:
        """DELETE /api/order/{id}."""
        message = self.engine.cancel_order(order_id)
        return 200, {"message": message, "success": True, "order_id": order_id}

    def get_order_summary(self, _: _Request, order_id: str) -> _Reply:
        """GET /api/order_summary/{id}."""
        return 200, render.order_summary(self.engine.order(order_id))

    def amend_order(self, request: _Request) -> _Reply:
        """POST /api/amend_order/."""
        order = self.engine.amend_order(AmendOrderRequest(**self._json(request)))
        return 200, {"message": f"order {order.id} amended", "success": True, "order_id": order.id}

    def pause_order(self, request: _Request) -> _Reply:
        """POST /api/pause_order/."""
        order_id = OrderIdRequest(**self._json(request)).order_id
        message = self.engine.pause_order(order_id)
        return 200, {"message": message, "success": True, "order_id": order_id}

    def resume_order(self, request: _Request) -> _Reply:
        """POST /api/resume_order/."""
        order_id = OrderIdRequest(**self._json(request)).order_id
        message = self.engine.resume_order(order_id)
        return 200, {"message": message, "success": True, "order_id": order_id}

    def get_order_messages(self, request: _Request) -> _Reply:
        """POST /api/order_messages/."""
        ids = OrderMessagesRequest(**self._json(request)).order_ids
        return 200, [render.message(m) for m in self.engine.order_messages(ids)]

    def place_multi_order(self, request: _Request) -> _Reply:
        """POST /api/multi_orders/."""
        multi = self.engine.place_multi_order(PlaceMultiOrderRequest(**self._json(request)))
        return 201, render.multi_order(multi)

    def get_multi_order(self, request: _Request, multi_id: str) -> _Reply:
        """GET /api/multi_order/{id}, with its legs when ``include_child_orders=true``."""
        children = self._bool(request.query, "include_child_orders")
        return 200, render.multi_order(self.engine.multi_order(multi_id), children=children)

    def get_multi_orders(self, request: _Request) -> _Reply:
        """GET /api/multi_orders/: filters, then one page (``page_number``), newest first."""
        q = request.query
        filters = self._filters(GetMultiOrdersRequest, q)
        multis = self.engine.list_multi_orders(filters)
        children = self._bool(q, "include_child_orders")
        chunk, count, pages = self._page(multis, q, "page_number")
        return 200, {
            "multi_orders": [render.multi_order(m, children=children) for m in chunk],
            "count": count,
            "num_pages": pages,
        }

    def cancel_multi_order(self, _: _Request, multi_id: str) -> _Reply:
        """DELETE /api/multi_order/{id}."""
        message = self.engine.cancel_multi_order(multi_id)
        return 200, {"message": message, "success": True, "order_id": multi_id}

    def place_chained_order(self, request: _Request) -> _Reply:
        """POST /api/chained_orders/."""
        chain = self.engine.place_chained_order(PlaceChainedOrderRequest(**self._json(request)))
        return 201, render.chained_order(chain)

    def get_balances(self, request: _Request) -> _Reply:
        """GET /api/balances/."""
        q = request.query
        query = BalancesQuery(
            exchange_names=self._list(q, "exchange_names"),
            account_names=self._list(q, "account_names"),
        )
        accounts = self.engine.balances(query.exchange_names, query.account_names)
        return 200, render.balances(self.engine, accounts)

    def close_balances(self, request: _Request) -> _Reply:
        """POST /api/close_balances/."""
        orders = self.engine.close_balances(CloseBalancesRequest(**self._json(request)))
        return 200, {
            "message": f"opened {len(orders)} orders to close balances",
            "order_ids": [o.id for o in orders],
        }

    def set_leverage(self, request: _Request) -> _Reply:
        """POST /api/set_leverage/."""
        req = SetLeverageRequest(**self._json(request))
        accounts = self.engine.set_leverage(req)
        return 200, {
            "message": f"leverage {req.leverage} set on {req.pair} for {len(accounts)} accounts",
            "success": True,
        }


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two :func:`~taas_async.sandbox._render.order_state` tuples render alike."""
    return len(a) == len(b) and all(map(_same_item, a, b))


def _same_item(x: object, y: object) -> bool:
    if x is y:
        return True
    if type(x) is not type(y):
        return False
    if isinstance(x, Decimal):  # 1.0 == 1.00, but they are written differently
        return isinstance(y, Decimal) and x.as_tuple() == y.as_tuple()
    if isinstance(x, (str, int, dt.datetime, enum.Enum)):
        return x == y
    return False  # anything else (the request): only the very same object


def _parse_query(raw: bytes) -> dict[str, str]:
    """A query string as name -> value, a list parameter's values joined by commas.

    A list comes comma-joined (``statuses=ACTIVE,CANCELED``, as the TaaS docs
    write it), repeated (``statuses=ACTIVE&statuses=CANCELED``, what
    ``requests`` makes of a list, as ``taas_api`` 1.2.9 sends it) or both; each
    value counts. Any other parameter given twice is a 400 naming it, never a
    silent pick of one of its values.
    """
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw.decode("latin-1")):
        values.setdefault(name, []).append(value)
    repeated = {
        name: [f"given {len(given)} times: a single value is expected"]
        for name, given in values.items()
        if len(given) > 1 and name not in _LIST_PARAMS
    }
    if repeated:
        raise SandboxError(400, repeated)
    return {name: ",".join(given) for name, given in values.items()}


async def read_body(receive: Receive) -> bytes:
    """A request's body; reading stops past ``MAX_BODY`` (the handler then answers 413)."""
    body = b""
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        body += chunk
        if not message.get("more_body") or len(body) > MAX_BODY:
            return body


def request_headers(scope: Scope) -> httpx.Headers:
    """The headers of an ASGI HTTP scope."""
    return httpx.Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]])


def reply_headers(
    reply: bytes, content_type: str, extra: Mapping[str, str]
) -> list[tuple[bytes, bytes]]:
    """A reply's headers: its content type and length, then the extra ones."""
    return [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(reply)).encode()),
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()),
    ]


async def send_reply(
    send: Send, status: int, reply: bytes, content_type: str, extra: Mapping[str, str]
) -> None:
    """Send a whole reply: status, content type and length, the extra headers, the body."""
    response_headers = reply_headers(reply, content_type, extra)
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": reply})


def _fault_reply(rule: FaultRule) -> tuple[int, bytes, str, dict[str, str]]:
    if isinstance(rule.body, bytes):
        body = rule.body
    elif isinstance(rule.body, str):
        body = rule.body.encode()
    else:
        body = render.dumps(rule.body)
    return rule.status, body, rule.content_type, dict(rule.headers)
