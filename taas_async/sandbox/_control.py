"""The sandbox's control plane: steer a running sandbox over HTTP, from any language.

Fixed paths under ``/_sandbox/`` at the server's root, whatever the API's
``base_path``, guarded by the sandbox's token (``Authorization: Token ...``,
or ``?token=`` for a browser). JSON in, JSON out; a bad body is a 400
``{field: [messages]}`` as in the API. Control requests are neither recorded
as exchanges nor subject to the fault knobs: a script can always steer.

==========================  ===================================================
``GET  /_sandbox/``         the dashboard (HTML)
``GET  /_sandbox/state``    time, clock, orders, balances, latest exchanges
``POST /_sandbox/advance``  ``{"seconds": n}``: move the clock forward
``POST /_sandbox/price``    ``{"pair": "ETH-USDT", "price": "3100.5"}``
``GET  /_sandbox/faults``   the faults set
``POST /_sandbox/faults``   ``{"fail_next": {...}, "latency": s, "stream_delay": s,
                            "stream_refuse": status, "clear": true}``
``POST /_sandbox/reset``    back to the state at construction
``GET  /_sandbox/exchanges`` the latest exchanges (``?limit=N``, default 100)
``POST /_sandbox/streams/drop`` ``{"code": 4000 | null, "reason": "..."}``: close
                            every open order stream
==========================  ===================================================

A ``websocket`` scope goes to the order stream (``<base_path>/ws/orders/``).
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import httpx

from taas_async._codec import decode_json
from taas_async._fields import PAIR_PATTERN
from taas_async._numbers import to_decimal
from taas_async.sandbox import _render as render
from taas_async.sandbox._app import (
    MAX_BODY,
    Exchange,
    Faults,
    Receive,
    SandboxApp,
    Scope,
    Send,
    _Request,
    read_body,
    request_headers,
    send_reply,
)
from taas_async.sandbox._clock import RealTimeClock, VirtualClock
from taas_async.sandbox._dashboard import dashboard_page, refused_page
from taas_async.sandbox._prices import STABLECOINS, Pair
from taas_async.sandbox._records import EXACT, MAX_AMOUNT, SandboxError, bad_field
from taas_async.sandbox._streams import close_problems

if TYPE_CHECKING:
    from taas_async.sandbox._records import Account, SimOrder
    from taas_async.sandbox._sandbox import Sandbox

__all__ = ["CONTROL_PREFIX", "ControlPlane"]

#: Where the control plane lives, at the server's root.
CONTROL_PREFIX = "/_sandbox"
MAX_ADVANCE = 7 * 86_400  # seconds per call: prices walk a step a second, up to a week at once
MAX_LATENCY = 60  # seconds
MAX_STREAM_DELAY = 86_400  # sandbox seconds
MAX_FAIL_COUNT = 1_000_000
MAX_FAULT_HEADERS = 50
DEFAULT_EXCHANGES = 100
MAX_EXCHANGES = 10_000
STATE_ORDERS = 100  # the newest orders the state carries
STATE_EXCHANGES = 20  # the latest exchanges the state carries
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?")
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "content-type"})
_JSON_HEADERS = {"cache-control": "no-store"}

_Reply = tuple[int, bytes, str, dict[str, str]]
_Handler = Callable[["_Call"], tuple[int, Any]]


def parse_pair(text: Any) -> Pair:
    """A pair as the API spells it (``ETH-USDT``, ``ETH:PERP-USDT``).

    Raises:
        ValueError: anything else.

    """
    if not isinstance(text, str) or not re.fullmatch(PAIR_PATTERN, text):
        raise ValueError(f"must be a pair such as 'ETH-USDT', got {text!r:.60}")
    return Pair.parse(text)


class _Call:
    """One control request: its query, headers and body."""

    def __init__(self, query: dict[str, str], headers: httpx.Headers, body: bytes) -> None:
        self.query = query
        self.headers = headers
        self.body = body

    def json(self, allowed: frozenset[str], *, empty_ok: bool = False) -> dict[str, Any]:
        """The body as a JSON object with no field but ``allowed`` (an empty body: ``{}``)."""
        if empty_ok and not self.body.strip():
            return {}
        data = SandboxApp._json(_Request(self.query, self.headers, self.body))
        unknown = {name: ["unknown field"] for name in data if name not in allowed}
        if unknown:
            raise SandboxError(400, unknown)
        return data


class ControlPlane:
    """The sandbox's ASGI app: the control plane and dashboard under ``/_sandbox/``.

    Everything else (the API, under its ``base_path``) goes to ``api``, the
    :class:`SandboxApp`. ``Sandbox.app`` is one of these, so the in-process
    transport, uvicorn and the pytest fixtures all serve both.
    """

    def __init__(self, sandbox: Sandbox, api: SandboxApp) -> None:
        base = sandbox.base_path
        if base == CONTROL_PREFIX or base.startswith(CONTROL_PREFIX + "/"):
            raise ValueError(f"base_path {base!r} would hide the API behind the control plane")
        self.sandbox = sandbox
        self.api = api
        self._routes: dict[str, dict[str, _Handler]] = {
            "": {"GET": self._dashboard},
            "state": {"GET": self._state},
            "advance": {"POST": self._advance},
            "price": {"POST": self._price},
            "faults": {"GET": self._faults, "POST": self._set_faults},
            "reset": {"POST": self._reset},
            "exchanges": {"GET": self._exchanges},
            "streams/drop": {"POST": self._drop_streams},
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "websocket":
            await self.sandbox.streams.serve_asgi(scope, receive, send)
            return
        if scope["type"] != "http" or not (
            path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")
        ):
            await self.api(scope, receive, send)
            return
        body = await read_body(receive)
        query: bytes = scope.get("query_string", b"")
        status, reply, content_type, extra = self.respond(
            scope["method"], path, query, request_headers(scope), body
        )
        await send_reply(send, status, reply, content_type, extra)

    async def serve(
        self, method: str, path: str, url: httpx.URL, headers: httpx.Headers, body: bytes
    ) -> tuple[int, bytes, str, dict[str, str]]:
        """One request by the in-process way in: a control request here, the rest to the API."""
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return self.respond(method, path, url.query, headers, body)
        return await self.api.serve(method, path, url, headers, body)

    def respond(
        self, method: str, path: str, query: bytes, headers: httpx.Headers, body: bytes
    ) -> _Reply:
        """Status, body, content type and extra headers for one control request."""
        with localcontext(EXACT):  # the venue's arithmetic, whatever the caller's context
            return self._respond(method, path, query, headers, body)

    def _respond(
        self, method: str, path: str, query: bytes, headers: httpx.Headers, body: bytes
    ) -> _Reply:
        params = dict(parse_qsl(query.decode("latin-1")))
        rest = path[len(CONTROL_PREFIX) :]
        name = rest[1:].removesuffix("/") if rest.startswith("/") else rest
        try:
            handlers = self._routes.get(name)
            if handlers is None:
                raise SandboxError(404, {"detail": "Not found."})
            self._authenticate(headers, params)
            if len(body) > MAX_BODY:
                raise SandboxError(413, {"detail": "Request body too large."})
            handler = handlers.get(method)
            if handler is None:
                raise SandboxError(405, {"detail": f'Method "{method}" not allowed.'})
            status, payload = handler(_Call(params, headers, body))
        except SandboxError as exc:
            if name == "" and exc.status == 401:
                return 401, refused_page(exc.body["detail"]), "text/html; charset=utf-8", {}
            status, payload = exc.status, exc.body
        if isinstance(payload, _Page):
            return status, payload.html, "text/html; charset=utf-8", payload.headers
        return status, render.dumps(payload), "application/json", dict(_JSON_HEADERS)

    def _authenticate(self, headers: httpx.Headers, params: Mapping[str, str]) -> None:
        expected = self.sandbox.token.encode()
        header = headers.get("authorization")
        given = params.get("token")
        if header is None and given is None:
            raise SandboxError(401, {"detail": "Authentication credentials were not provided."})
        # Either way in will do; compared in constant time (the token guards the venue).
        if header is not None and hmac.compare_digest(
            header.encode("latin-1"), b"Token " + expected
        ):
            return
        if given is not None and hmac.compare_digest(given.encode(), expected):
            return
        raise SandboxError(401, {"detail": "Invalid token."})

    # ------------------------------------------------------------------ endpoints

    def _dashboard(self, _: _Call) -> tuple[int, Any]:
        nonce = secrets.token_urlsafe(16)
        headers = {
            # Only the page's own script and style run, and it talks to this server only.
            "content-security-policy": (
                f"default-src 'none'; script-src 'nonce-{nonce}'; "
                f"style-src 'nonce-{nonce}'; connect-src 'self'; img-src 'self' data:; "
                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            ),
            "referrer-policy": "no-referrer",  # the URL carries the token
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",
        }
        return 200, _Page(dashboard_page(nonce), headers)

    def _state(self, _: _Call) -> tuple[int, Any]:
        sandbox = self.sandbox
        now = sandbox.now()
        orders = sorted(sandbox.engine.orders.values(), key=lambda o: o.seq, reverse=True)
        return 200, {
            "now": render.timestamp(now),
            "clock": self._clock(),
            "order_count": len(orders),
            "orders": [_order(o) for o in orders[:STATE_ORDERS]],
            "balances": {a.name: _account(a) for a in sandbox.engine.accounts.values()},
            "exchanges": [self._exchange(e) for e in sandbox.exchanges[-STATE_EXCHANGES:]],
            "faults": _faults(sandbox.faults),
            "streams": sandbox.streams.open,
        }

    def _advance(self, call: _Call) -> tuple[int, Any]:
        data = call.json(frozenset({"seconds"}))
        seconds = _number(data, "seconds", maximum=Decimal(MAX_ADVANCE), unit="seconds")
        step = dt.timedelta(microseconds=int(seconds.scaleb(6)))
        try:
            self.sandbox.now() + step
        except OverflowError:
            raise bad_field("seconds", "would move the clock past the year 9999") from None
        self.sandbox.advance(step)
        return 200, {"now": render.timestamp(self.sandbox.now()), "clock": self._clock()}

    def _price(self, call: _Call) -> tuple[int, Any]:
        data = call.json(frozenset({"pair", "price"}))
        problems: dict[str, list[str]] = {}
        pair = None
        try:
            pair = parse_pair(_required(data, "pair"))
            if pair.base in STABLECOINS:
                problems["pair"] = [f"{pair.base} is a stablecoin: its price is 1"]
        except ValueError as exc:
            problems["pair"] = [str(exc)]
        except SandboxError as exc:
            problems.update(exc.body)
        try:
            price = _decimal(data, "price")
        except SandboxError as exc:
            problems.update(exc.body)
        if problems or pair is None:
            raise SandboxError(400, problems)
        now_price = self.sandbox.set_price(pair.symbol, price)
        return 200, {
            "pair": pair.symbol,
            "price": format(now_price.normalize(), "f"),  # six digits at most: exact
            "now": render.timestamp(self.sandbox.now()),
        }

    def _faults(self, _: _Call) -> tuple[int, Any]:
        return 200, _faults(self.sandbox.faults)

    def _set_faults(self, call: _Call) -> tuple[int, Any]:
        data = call.json(
            frozenset({"fail_next", "latency", "stream_delay", "stream_refuse", "clear"})
        )
        if not data:
            raise SandboxError(
                400,
                {
                    "non_field_errors": [
                        "give at least one of fail_next, latency, stream_delay, stream_refuse,"
                        " clear"
                    ]
                },
            )
        problems: dict[str, list[str]] = {}
        clear = data.get("clear", False)
        if not isinstance(clear, bool):
            problems["clear"] = ["must be true or false"]
        latency = None
        if "latency" in data:
            try:
                latency = _number(data, "latency", maximum=Decimal(MAX_LATENCY), unit="seconds")
            except SandboxError as exc:
                problems.update(exc.body)
        delay = None
        if "stream_delay" in data:
            try:
                delay = _number(
                    data, "stream_delay", maximum=Decimal(MAX_STREAM_DELAY), unit="seconds"
                )
            except SandboxError as exc:
                problems.update(exc.body)
        refuse = data.get("stream_refuse")
        if refuse is not None and (
            isinstance(refuse, bool) or not isinstance(refuse, int) or not 200 <= refuse <= 599
        ):
            problems["stream_refuse"] = ["must be an HTTP status from 200 to 599, or null"]
        rule: dict[str, Any] | None = None
        if "fail_next" in data:
            rule, rule_problems = _fault_rule(data["fail_next"])
            problems.update(rule_problems)
        if problems:
            raise SandboxError(400, problems)
        faults = self.sandbox.faults
        if clear:
            faults.clear()
        if latency is not None:
            faults.latency = float(latency)  # seconds (virtual on an autojump clock)
        if delay is not None:
            faults.stream_delay = float(delay)
        if "stream_refuse" in data:
            faults.stream_refuse = refuse
        if rule is not None:
            faults.fail_next(**rule)
        return 200, _faults(faults)

    def _reset(self, call: _Call) -> tuple[int, Any]:
        call.json(frozenset(), empty_ok=True)
        self.sandbox.reset()
        return 200, {"reset": True, "now": render.timestamp(self.sandbox.now())}

    def _drop_streams(self, call: _Call) -> tuple[int, Any]:
        data = call.json(frozenset({"code", "reason"}), empty_ok=True)
        code, reason = data.get("code"), data.get("reason", "")
        problems = close_problems(code, reason)
        if problems:
            raise SandboxError(400, {field: [text] for field, text in problems.items()})
        return 200, {"dropped": self.sandbox.drop_streams(code, reason)}

    def _exchanges(self, call: _Call) -> tuple[int, Any]:
        limit = SandboxApp._int(call.query, "limit", DEFAULT_EXCHANGES, MAX_EXCHANGES)
        return 200, [self._exchange(e) for e in self.sandbox.exchanges[-limit:]]

    # ------------------------------------------------------------------ shapes

    def _clock(self) -> dict[str, Any]:
        clock = self.sandbox.clock
        if isinstance(clock, VirtualClock):
            return {"mode": "virtual", "speed": None}
        if isinstance(clock, RealTimeClock):
            return {"mode": "real-time", "speed": clock.speed}
        return {"mode": type(clock).__name__, "speed": None}

    def _exchange(self, exchange: Exchange) -> dict[str, Any]:
        """One exchange, never its headers (the Authorization header is a secret)."""
        return {
            "at": render.timestamp(exchange.at),
            "method": exchange.method,
            "path": exchange.path,
            "query": _redacted(exchange.url.query, self.sandbox.token),
            "status": exchange.status,
            "request": _body(exchange.content),
            "reply": _body(exchange.reply),
        }


def _redacted(query: bytes, token: str) -> str:
    """A query with every ``token`` parameter, and any value holding the token, masked.

    Read as the server decodes it, so ``tok%65n=...`` is masked too.
    """
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    if not any(k.lower() == "token" or (token and token in v) for k, v in pairs):
        return query.decode("latin-1")
    return urlencode(
        [
            (k, "[redacted]" if k.lower() == "token" or (token and token in v) else v)
            for k, v in pairs
        ],
        safe=",:[]",
    )


class _Page:
    """An HTML reply and its headers."""

    def __init__(self, html: bytes, headers: dict[str, str]) -> None:
        self.html = html
        self.headers = headers


# --------------------------------------------------------------------------- validation


def _required(data: Mapping[str, Any], field: str) -> Any:
    if field not in data:
        raise bad_field(field, "is required")
    return data[field]


def _number(data: Mapping[str, Any], field: str, *, maximum: Decimal, unit: str) -> Decimal:
    """A JSON number from 0 to ``maximum`` (exact: JSON numbers arrive as int or Decimal)."""
    value = _required(data, field)
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise bad_field(field, f"must be a number of {unit}")
    number = Decimal(value) if isinstance(value, int) else value
    if not 0 <= number <= maximum:
        raise bad_field(field, f"must be from 0 to {maximum} {unit}")
    return number


def _decimal(data: Mapping[str, Any], field: str) -> Decimal:
    """A positive decimal below ``MAX_AMOUNT``, from a string or a JSON number, exactly."""
    value = _required(data, field)
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise bad_field(field, "must be a number or a string of one")
    try:
        number = to_decimal(value)
    except (ValueError, TypeError) as exc:
        raise bad_field(field, str(exc)) from None
    if not 0 < number < MAX_AMOUNT:
        raise bad_field(field, f"must be > 0 and below {MAX_AMOUNT:E}")
    return number


def _fault_rule(spec: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``fail_next``'s object as :meth:`Faults.fail_next` keyword arguments, or the problems."""
    if not isinstance(spec, dict):
        return {}, {"fail_next": ["must be an object"]}
    problems: dict[str, list[str]] = {}

    def bad(name: str, message: str) -> None:
        problems[f"fail_next.{name}"] = [message]

    known = {"count", "status", "body", "headers", "content_type", "method", "path", "after"}
    for name in spec:
        if name not in known:
            bad(name, "unknown field")
    count = spec.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_FAIL_COUNT:
        bad("count", f"must be a whole number from 1 to {MAX_FAIL_COUNT}")
    status = spec.get("status", 500)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        bad("status", "must be an HTTP status from 100 to 599")
    headers = spec.get("headers", {})
    if not isinstance(headers, dict) or len(headers) > MAX_FAULT_HEADERS:
        bad("headers", f"must be an object of at most {MAX_FAULT_HEADERS} names to strings")
    else:
        for key, value in headers.items():
            if not _HEADER_NAME.fullmatch(key):
                bad("headers", f"{key!r:.60} is not a header name")
            elif key.lower() in _FRAMING:
                bad("headers", f"{key} is the sandbox's to set (content_type sets the type)")
            elif not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
                bad("headers", f"the value of {key} must be printable ASCII text")
    content_type = spec.get("content_type")
    if content_type is not None and (
        not isinstance(content_type, str)
        or not content_type
        or not _HEADER_VALUE.fullmatch(content_type)
    ):
        bad("content_type", "must be a media type such as 'text/html'")
    method = spec.get("method")
    if method is not None and (not isinstance(method, str) or method.upper() not in _METHODS):
        bad("method", f"must be one of {', '.join(sorted(_METHODS))}")
    path = spec.get("path")
    if path is not None and (not isinstance(path, str) or not path or len(path) > 1000):
        bad("path", "must be a piece of the request path, such as 'api/orders/'")
    after = spec.get("after", False)
    if not isinstance(after, bool):
        bad("after", "must be true or false")
    rule = {
        "n": count,
        "status": status,
        "body": spec.get("body"),
        "headers": headers,
        "content_type": content_type,
        "method": method,
        "path": path,
        "after": after,
    }
    return rule, problems


# --------------------------------------------------------------------------- shapes


def _text(value: Decimal | None) -> str | None:
    """A decimal as exact text (plain notation), for any language's JSON reader."""
    return None if value is None else format(value, "f")


def _order(order: SimOrder) -> dict[str, Any]:
    unit, total = order.target
    return {
        "id": order.id,
        "account": order.account.name,
        "pair": order.pair.symbol,
        "side": order.side.value,
        "strategy": order.strategy.value,
        "status": order.status.value,
        "target": {"unit": unit, "amount": _text(total)},
        "pct_filled": _text(order.pct_filled),
        "executed_qty": _text(order.executed_qty),
        "executed_notional": _text(order.executed_notional),
        "executed_price": _text(order.executed_price),
        "created_at": render.timestamp(order.created_at),
        "parent_order": order.parent_order,
        "notes": order.request.notes,
    }


def _account(account: Account) -> dict[str, Any]:
    return {
        "exchange": account.exchange,
        "tokens": {symbol: _text(amount) for symbol, amount in account.tokens.items()},
        "positions": {
            symbol: {"size": _text(p.size), "cost": _text(p.cost)}
            for symbol, p in account.positions.items()
            if p.size
        },
    }


def _faults(faults: Faults) -> dict[str, Any]:
    return {
        "latency": faults.latency,
        "stream_delay": faults.stream_delay,
        "stream_refuse": faults.stream_refuse,
        "fail_next": [
            {
                "count": rule.remaining,
                "status": rule.status,
                "body": rule.body.decode("utf-8", "replace")
                if isinstance(rule.body, bytes)
                else rule.body,
                "headers": rule.headers,
                "content_type": rule.content_type,
                "method": rule.method,
                "path": rule.path,
                "after": rule.after,
            }
            for rule in faults.rules
            if rule.remaining > 0
        ],
    }


def _body(content: bytes) -> Any:
    """A request or reply body: as JSON when it is JSON, else as text, or None when empty."""
    if not content:
        return None
    try:
        return decode_json(content)
    except (ValueError, UnicodeDecodeError):
        return content.decode("utf-8", "replace")
