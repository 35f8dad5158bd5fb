"""``AsyncClient``: coroutine endpoint methods over one choke point.

Every request goes through :meth:`AsyncClient._send`: validate, build (URL,
headers, body, timeout), send, log, map errors, decode, structure. Endpoint
methods only describe the call (a :class:`_Call`); retries, rate limits and
order reconciliation belong in ``_send`` and need no endpoint changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import enum
import json
import logging
import math
import os
import platform
import re
import time
import urllib.request
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

import anyio
import attrs
import httpx

from taas_async import _converter, _wire
from taas_async import _models as m
from taas_async import _requests as r
from taas_async._enums import OrderStatus, Strategy
from taas_async._exceptions import (
    APIConnectionError,
    APIStatusError,
    ClientClosedError,
    ConfigurationError,
    OrderOutcomeUnknownError,
    RateLimitError,
    RequestValidationError,
    ResponseDecodeError,
    ResponseTooLargeError,
    TaaSError,
    WaitTimeoutError,
)
from taas_async._retry import Backoff, _Limits, check_limits
from taas_async._transport import (
    DEFAULT_LIMITS,
    FRESH_CONNECTION,
    MAX_REPLY_SIZE,
    REPLY_STATUS,
    AiohttpTransport,
    H11PoolTransport,
    ReplyCap,
    ReplyTooLarge,
    SplitPoolTransport,
    _Body,
)
from taas_async._version import __version__

__all__ = [
    "DEFAULT_FAN_OUT",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DEFAULT_TIMEOUT",
    "USE_CLIENT_DEFAULT",
    "AsyncClient",
    "TimeoutTypes",
]

T = TypeVar("T")
logger = logging.getLogger("taas_async")

#: Short connect, bounded read/write/pool wait, in seconds.
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)

TimeoutTypes = float | httpx.Timeout

#: How many requests ``place_orders`` and ``cancel_orders`` keep in flight by default.
DEFAULT_FAN_OUT = 32

#: The largest reply body read by default: 16 MiB (a page of 1,000 orders is
#: about 2 MiB).
DEFAULT_MAX_RESPONSE_SIZE = 16 * 1024 * 1024


class _UseClientDefault(enum.Enum):
    """Sentinel type: "not passed", as opposed to an explicit value."""

    USE_CLIENT_DEFAULT = "USE_CLIENT_DEFAULT"

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


#: Default of per-call ``timeout=``: use the client's timeout.
USE_CLIENT_DEFAULT = _UseClientDefault.USE_CLIENT_DEFAULT

_CallKind = Literal["read", "cancel", "write", "order"]


class _ClientState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class _Secret(Generic[T]):
    """Holds the auth token (or headers carrying it); its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


@attrs.frozen
class _Call(Generic[T]):
    """One API call, described without I/O.

    ``kind`` tells the choke point what is safe to retry: ``read``
    (idempotent), ``cancel`` (idempotent, checked when a retry is refused),
    ``write`` (changes state), ``order`` (creates orders: reconciled).
    """

    method: str
    path: str
    parse: Callable[[Any], T]
    kind: _CallKind
    # A request model: validated right before sending, then encoded as the
    # JSON body or (``send_as="query"``) the query string.
    request: Any = None
    send_as: Literal["json", "query"] = "json"
    # Raw query and body, for ``AsyncClient.request`` (no model).
    params: Mapping[str, str] | None = None
    body: Any = None
    allow_empty: bool = False
    timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT
    max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT
    # The request was validated as a whole just before (place_orders checks the
    # batch up front): not again in _build.
    checked: bool = False
    # Send every attempt on a new connection (an order lookup after a connection
    # failure: the pooled ones may be closed by the server too).
    fresh_connection: bool = False


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_ORDER_CREATING_PATHS = frozenset(
    {"api/orders/", "api/multi_orders/", "api/chained_orders/", "api/close_balances/"}
)


def _transient_status(status: int | None) -> bool:
    """Throttled (429) or a server error (5xx): a read (or a cancel) is tried again."""
    return status is not None and (status == 429 or status >= 500)


def _transient(error: TaaSError) -> bool:
    """A failure that may pass: no reply, a timeout, a 5xx, a 429."""
    return isinstance(error, APIConnectionError) or _transient_status(_status_of(error))


# Cancels: DELETE of one order or one multi order (a GET of the same path tells the state).
_CANCEL_PATH = re.compile(r"api/(order|multi_order)/[^/?#]+")
_ORDER_ID_PREFIX = "taas-"


def _new_custom_order_id() -> str:
    """A fresh ``custom_order_id`` for an order the caller gave none (37 characters)."""
    return _ORDER_ID_PREFIX + uuid.uuid4().hex


def _fix_order_ids(path: str, body: Any) -> list[str]:
    """Give every order in an order-creating body a ``custom_order_id``; return them all.

    The caller's ids are kept; the others are generated here, once per logical
    call, so every attempt of the call sends the same ones.
    """
    if not isinstance(body, dict):
        return []
    if path in ("api/orders/", "api/multi_orders/"):
        body["custom_order_id"] = body.get("custom_order_id") or _new_custom_order_id()
        return [body["custom_order_id"]]
    ids: list[str] = []
    if path == "api/chained_orders/" and isinstance(body.get("orders_in_chain"), list):
        for entry in body["orders_in_chain"]:
            leg = entry.get("order_request") if isinstance(entry, dict) else None
            if isinstance(leg, dict):
                leg["custom_order_id"] = leg.get("custom_order_id") or _new_custom_order_id()
                ids.append(leg["custom_order_id"])
    return ids


def _outcome_unknown(
    call: _Call[Any],
    ids: list[str],
    cause: TaaSError,
    why: str = "",
    lookup_error: TaaSError | None = None,
) -> OrderOutcomeUnknownError:
    if len(ids) == 1:
        hint = f"look it up with custom_order_id={ids[0]!r} before placing it again"
    elif ids:
        hint = f"look its legs up with custom_order_ids={','.join(ids)} before placing it again"
    else:
        hint = "it carries no custom_order_id: look for its orders before placing it again"
    if _accepted(cause):
        status = getattr(cause, "status_code", None) or getattr(cause, "reply_status", None)
        what = f"the server accepted the order (HTTP {status}) but its reply was lost"
    else:
        what = "the order may or may not have been placed"
    return OrderOutcomeUnknownError(
        f"{call.method} /{call.path}: {what} ({cause}){'; ' + why if why else ''}; {hint}",
        request=call.request if call.request is not None else call.body,
        custom_order_id=ids[0] if len(ids) == 1 else None,
        custom_order_ids=ids,
        lookup_error=lookup_error,
    )


def _accepted(error: TaaSError) -> bool:
    """The server answered 2xx (accepted the order) but the reply could not be read."""
    if isinstance(error, ResponseDecodeError):
        return 200 <= error.status_code < 300
    if isinstance(error, APIConnectionError):
        return error.reply_status is not None and 200 <= error.reply_status < 300
    return False


def _status_of(error: TaaSError) -> int | None:
    return error.status_code if isinstance(error, APIStatusError) else None


def _on_a_new_connection(request: httpx.Request) -> None:
    """Send ``request`` on a new connection, and close that one after the reply.

    Our transports open a new connection for it (``FRESH_CONNECTION``). Any
    HTTP/1.1 stack honours ``Connection: close``: the connection that carried
    this request is not reused, so the next follow-up cannot pick it up after
    the server closed it (the server may well close a connection right after
    each reply; that is often why this request is a follow-up at all).
    """
    request.extensions[FRESH_CONNECTION] = True
    request.headers["Connection"] = "close"


def _broke_connection(error: TaaSError) -> bool:
    """A connection failed after the request may have gone out on it (reset, EOF, timeout)."""
    return isinstance(error, APIConnectionError) and error.may_have_reached_server


def _never_left(error: TaaSError) -> bool:
    """The request provably never reached the server: safe to send again as is."""
    if isinstance(error, APIConnectionError):
        return not error.may_have_reached_server
    return _status_of(error) == 429  # refused by the server's throttle, not acted on


def _retry_after_of(error: TaaSError) -> float | None:
    if isinstance(error, RateLimitError):
        return error.retry_after
    if isinstance(error, APIStatusError):
        return _wire.retry_after(httpx.Headers(error.headers or {}))
    return None


def _within(seconds: float) -> contextlib.AbstractAsyncContextManager[object]:
    """A deadline that raises ``TimeoutError``: asyncio's own where it has one.

    ``asyncio.timeout`` (Python 3.11+) costs a third of an anyio cancel scope,
    a tenth of the SDK's own CPU per call; anyio's scope serves trio (and 3.10).
    """
    if _ASYNCIO_TIMEOUT is not None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # trio
            pass
        else:
            return _ASYNCIO_TIMEOUT(seconds)
    return _AnyioDeadline(seconds)


_ASYNCIO_TIMEOUT: Callable[[float], contextlib.AbstractAsyncContextManager[object]] | None = (
    getattr(asyncio, "timeout", None)
)


class _AnyioDeadline:
    __slots__ = ("_scope",)

    def __init__(self, seconds: float) -> None:
        self._scope = anyio.fail_after(seconds)

    async def __aenter__(self) -> object:
        return self._scope.__enter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return self._scope.__exit__(*exc_info)


def _deadline(request: httpx.Request) -> float:
    parts = request.extensions.get("timeout", {})
    return float(sum(t for t in parts.values() if t is not None)) or 60.0


def _positive_seconds(value: object) -> bool:
    # inf is as unbounded as None; 0 and negatives time out at once.
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _check_timeout(timeout: object) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        values = timeout.as_dict().values()
        if any(t is None for t in values):
            raise ConfigurationError("every timeout must be bounded: None is not allowed")
        if not all(_positive_seconds(t) for t in values):
            raise ConfigurationError(
                f"every timeout must be a positive, finite number of seconds, got {timeout!r}"
            )
        return timeout
    if _positive_seconds(timeout):
        assert isinstance(timeout, (int, float))  # noqa: S101 (narrowing for mypy)
        return httpx.Timeout(
            float(timeout), connect=min(float(timeout), DEFAULT_TIMEOUT.connect or 5.0)
        )
    raise ConfigurationError(
        f"timeout must be a positive number of seconds or an httpx.Timeout, got {timeout!r}"
    )


class AsyncClient:
    """Asynchronous TaaS client: one connection pool, typed requests and replies.

    Example::

        async with AsyncClient(url="https://app.tread.fi", auth_token="...") as client:
            order = await client.place_order(PlaceOrderRequest(
                accounts=["mock"], pair="ETH-USDT", side="buy", duration=300,
                base_asset_qty=5, strategy="TWAP"))

    Args:
        url: base URL of the TaaS instance; falls back to ``$TAAS_URL``. A path
            prefix is kept (``https://h/taas``).
        auth_token: API token, sent as ``Authorization: Token ...``; falls back
            to ``$TAAS_AUTH_TOKEN``. Never shown in a repr, log or error.
        timeout: seconds or an ``httpx.Timeout``; default 5 s connect, 15 s
            read/write/pool. Every endpoint also takes ``timeout=`` per call.
        max_retries: how many times a failed call may be retried (default 2);
            every endpoint also takes ``max_retries=`` per call. What is
            retried, and how an order is never placed twice, is in
            ``docs/resilience.md``.
        backoff: how long to wait between attempts (:class:`Backoff`);
            ``Backoff.none()`` retries at once (tests).
        max_concurrency: at most this many requests of this client in flight
            at once, shared by every task using it (None: no cap beyond the
            connection pool's).
        rate_limit: at most this many requests a second (a token bucket shared
            by every task using the client; every attempt takes a token).
        rate_limit_burst: how many requests may go at once after a quiet spell.
        extra_headers: sent with every request (not ``Authorization``).
        http_client: an ``httpx.AsyncClient`` to use as is; the caller owns it
            and we never close it.
        transport: an httpx transport for the client we create (tests, the
            sandbox, alternative back ends). Default: :class:`H11PoolTransport`,
            which does not collapse under fan-out (httpx's own pool does), on
            asyncio and trio; httpx's own transport when a proxy is set in the
            environment (``HTTPS_PROXY`` and friends), which only it honours.
        limits: connection limits for the client we create (default 100
            connections, all kept alive).
        max_response_size: the most bytes of a reply body to read (default
            16 MiB); a longer reply is not read further and raises
            :class:`ResponseTooLargeError`.
        allow_insecure_http: allow a plain ``http://`` URL to a host that is
            not this machine. Off by default: the token would travel
            unencrypted. Loopback (``127.0.0.1``, ``::1``, ``localhost``)
            needs no permission.

    """

    def __init__(
        self,
        url: str | None = None,
        auth_token: str | None = None,
        *,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        backoff: Backoff | None = None,
        max_concurrency: int | None = None,
        rate_limit: float | None = None,
        rate_limit_burst: int = 1,
        extra_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limits: httpx.Limits | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        allow_insecure_http: bool = False,
    ) -> None:
        url = url if url is not None else os.environ.get("TAAS_URL")
        token = auth_token if auth_token is not None else os.environ.get("TAAS_AUTH_TOKEN")
        missing = [
            name
            for name, value in (
                ("url (or $TAAS_URL)", url),
                ("auth_token (or $TAAS_AUTH_TOKEN)", token),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError("missing " + " and ".join(missing))
        assert url is not None  # noqa: S101 (narrowing for mypy)
        assert token is not None  # noqa: S101
        # Printable ASCII only: anything else cannot go in a header, and httpx's
        # UnicodeEncodeError (or h11's error) would quote the whole token.
        if not _is_instance(token, str) or not all("!" <= c <= "~" for c in token):
            raise ConfigurationError(
                "auth_token must be a string of printable ASCII characters without whitespace"
            )
        if _is_instance(max_retries, bool) or not _is_instance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        if http_client is not None and (transport is not None or limits is not None):
            raise ConfigurationError("pass either http_client or transport/limits, not both")
        if (
            not _is_instance(max_response_size, int)
            or _is_instance(max_response_size, bool)
            or max_response_size < 1
        ):
            raise ConfigurationError(
                f"max_response_size must be a number of bytes >= 1, got {max_response_size!r}"
            )
        self.max_response_size = max_response_size
        if backoff is not None and not _is_instance(backoff, Backoff):
            raise ConfigurationError(f"backoff must be a Backoff, got {type(backoff).__name__}")
        self._limits = _Limits(*check_limits(max_concurrency, rate_limit, rate_limit_burst))

        self._base_url = _wire.base_url(url)
        if not _is_instance(allow_insecure_http, bool):
            raise ConfigurationError(
                f"allow_insecure_http must be True or False, got {allow_insecure_http!r}"
            )
        if not allow_insecure_http and _wire.sends_token_in_clear(self._base_url):
            raise ConfigurationError(
                f"refusing to send the auth token unencrypted to {self._base_url}: use https://,"
                " or pass allow_insecure_http=True if the network in between is trusted"
            )
        self._token = _Secret(token)
        self._timeout = _check_timeout(timeout)
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        headers = _wire.check_headers(extra_headers)
        # A caller's User-Agent goes first; ours always follows it.
        theirs = [headers.pop(k) for k in list(headers) if k.lower() == "user-agent"]
        self._extra_headers = headers
        self._user_agent = " ".join(
            [
                *theirs,
                f"taas-async/{__version__} httpx/{httpx.__version__}",
                f"{platform.python_implementation()}/{platform.python_version()}",
            ]
        )
        self._owns_http = http_client is None
        limits = limits or DEFAULT_LIMITS
        if http_client is None and transport is None and not _environment_proxies():
            transport = H11PoolTransport(limits=limits)  # httpx ignores limits= beside it
        self._http = http_client or httpx.AsyncClient(
            transport=transport,
            timeout=self._timeout,
            limits=limits,
            follow_redirects=False,  # never replay an order POST to another URL
        )
        # Whether a connect error from this transport proves the request never left.
        self._exact_errors = _reports_connect_errors_exactly(self._http)
        # The client's default headers with ours on top, as build_request merges
        # them; they carry the token, so they are kept as secret as it is.
        self._merged_headers = _Secret(
            {
                has_body: _merged(self._http.headers, self._headers(has_body=has_body))
                for has_body in (False, True)
            }
        )
        self._state = _ClientState.OPEN

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """The normalised base URL (always ends in ``/``)."""
        return self._base_url

    @property
    def is_closed(self) -> bool:
        """True once :meth:`aclose` has been called."""
        return self._state is _ClientState.CLOSED

    async def aclose(self) -> None:
        """Close the connection pool (unless it was injected). Safe to call twice."""
        if self._state is _ClientState.CLOSED:
            return
        self._state = _ClientState.CLOSED
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        if self._state is _ClientState.CLOSED:
            raise ClientClosedError("this AsyncClient is closed; create a new one")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self.is_closed else "open"
        return f"<AsyncClient url={self._base_url!r} {state}>"

    # ------------------------------------------------------------------ the choke point

    def _headers(self, *, has_body: bool) -> dict[str, str]:
        headers = {
            "Authorization": f"Token {self._token.reveal()}",
            "User-Agent": self._user_agent,
            "Accept": "application/json",
            **self._extra_headers,
        }
        if has_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _build(self, call: _Call[Any]) -> tuple[httpx.Request, list[str]]:
        """Everything before I/O: re-validate, encode, URL, headers, timeout.

        Also the ``custom_order_id`` of every order the call creates, fixed
        here once: every attempt sends this same request.
        """
        params, body = call.params, call.body
        if call.request is not None:
            if not call.checked:
                call.request.validate()  # cross-field rules, and lists mutated in place
            if call.send_as == "query":
                params = _converter.to_query(call.request)
            else:
                body = _converter.to_wire(call.request)
        ids: list[str] = []
        if call.kind == "order":
            if call.request is None:  # a caller's raw body: never changed in place
                body = copy.deepcopy(body)
            ids = _fix_order_ids(call.path.split("?")[0], body)
        content = None
        if body is not None:
            try:
                content = _converter.encode_json(body)
            except (TypeError, ValueError) as exc:
                raise RequestValidationError({"body": [str(exc)]}) from None
        timeout = (
            self._timeout if call.timeout is USE_CLIENT_DEFAULT else _check_timeout(call.timeout)
        )
        url = self._base_url + call.path  # base ends in "/"; the path is checked
        if self._owns_http and not self._http.cookies:
            # What build_request would make, without merging the client's
            # defaults into our headers again on every call (a fifth of the
            # SDK's own CPU per call). Once the server sets a cookie, the
            # client's jar must go along: then build_request does it.
            request = httpx.Request(
                call.method,
                url,
                params=params,
                content=content,
                headers=self._merged_headers.reveal()[content is not None],
                extensions={"timeout": timeout.as_dict()},
            )
        else:
            request = self._http.build_request(
                call.method,
                url,
                params=params,
                content=content,
                headers=self._headers(has_body=content is not None),
                timeout=timeout,
            )
        if content:
            # httpx's body stream is an async generator, which httpcore abandons
            # when a send fails (trio then warns as it is collected): a plain
            # iterator instead. Our transports read request.content directly.
            request.stream = _Body(content)
        if call.fresh_connection:
            _on_a_new_connection(request)
        return request, ids

    async def _send(self, call: _Call[T]) -> T:
        """Send one call and return its structured result. Every request passes here.

        Retries by what the call is (``call.kind``) and by what happened:

        - read, cancel: again on any connection failure or timeout, 429, 502,
          503, 504; a cancel refused after an attempt that may have worked is
          checked against the order's state.
        - write: again only when the request provably never left, or on 429.
        - order: the same request (same ``custom_order_id``) again only when it
          provably never left, or on 429; after anything that may have
          reached the server, the order is looked up by its id: returned if
          it landed, sent again if it did not, ``OrderOutcomeUnknownError``
          if that cannot be told.
        """
        if self._state is _ClientState.CLOSED:
            raise ClientClosedError("this AsyncClient is closed; create a new one")
        if self._http.is_closed:  # an injected http_client its owner has closed
            raise ClientClosedError("the http_client given to this AsyncClient is closed")
        retries = self._retries(call)
        request, ids = self._build(call)
        attempt = 0
        # The latest failure after which the server may have acted on this call.
        maybe_done: TaaSError | None = None
        while True:
            attempt += 1
            if attempt > 1 and (self.is_closed or self._http.is_closed):
                closed = ClientClosedError("the client was closed while this call was retrying")
                if call.kind == "order" and maybe_done is not None:
                    raise _outcome_unknown(call, ids, maybe_done, str(closed)) from closed
                raise closed
            outcome = await self._exchange(request, call, attempt)
            if not isinstance(outcome, TaaSError):
                return outcome
            error: TaaSError = outcome
            status = _status_of(error)
            if call.kind == "order":
                if _never_left(error):
                    if attempt <= retries:
                        await self._pause(
                            call, error, attempt, retries, must_go_on=maybe_done is not None
                        )
                        continue
                    if maybe_done is None:
                        raise error  # provably not placed
                    # An earlier attempt may yet land: look once more, never guess.
                    return await self._reconciled(call, ids, maybe_done, final=True)
                if status is not None and status < 500:
                    if maybe_done is not None:  # e.g. "duplicate custom_order_id"
                        return await self._reconciled(call, ids, maybe_done, final=True)
                    raise error
                # It may have been placed: a reset or timeout after sending, a
                # 5xx, or a 2xx whose body could not be read.
                maybe_done = error
                if not ids:  # nothing to look it up by
                    raise _outcome_unknown(call, ids, error) from error
                await self._pause(call, error, attempt, retries, lookup=True)
                final = attempt > retries or _accepted(error)
                landed = await self._reconciled(call, ids, error, final=final)
                if landed is not _NOT_FOUND:
                    return landed
                continue  # looked up and not there: send it again
            refused = status is not None and 400 <= status < 500 and status != 429
            if call.kind == "cancel" and maybe_done is not None and refused:
                return await self._already_cancelled(call, error)
            idempotent = call.kind in ("read", "cancel")
            retryable = _transient(error) if idempotent else _never_left(error)
            if not retryable or attempt > retries:
                raise error
            if not _never_left(error):
                maybe_done = error
            await self._pause(call, error, attempt, retries)

    def _retries(self, call: _Call[Any]) -> int:
        value = call.max_retries
        if value is USE_CLIENT_DEFAULT:
            return self.max_retries
        if _is_instance(value, bool) or not _is_instance(value, int) or value < 0:
            raise RequestValidationError(
                {"max_retries": [f"must be an integer >= 0, got {value!r}"]}
            )
        return value

    async def _exchange(
        self, request: httpx.Request, call: _Call[T], attempt: int
    ) -> T | TaaSError:
        """One attempt: its structured result, or the typed error it ended in (returned)."""
        try:
            response = await self._attempt(request, call, attempt=attempt)
        except ResponseTooLargeError as exc:
            return exc
        except APIConnectionError as exc:
            if exc.may_have_reached_server:
                # The connection failed under this request. If it was a pooled one the
                # server had closed, the next pooled one may be closed too: whatever
                # follows (a retry, a lookup, a resend) goes on a new connection.
                _on_a_new_connection(request)
            return exc
        url = str(request.url)
        if not response.is_success:
            return _wire.status_error(response, call.method, url)
        try:
            return _wire.decode_success(
                response,
                call.method,
                url,
                call.parse,
                allow_empty=call.allow_empty,
                accepted_order=call.kind == "order",
            )
        except ResponseDecodeError as exc:
            return exc

    async def _pause(
        self,
        call: _Call[Any],
        error: TaaSError,
        attempt: int,
        retries: int,
        *,
        lookup: bool = False,
        must_go_on: bool = False,
    ) -> None:
        """Wait before the next attempt (or the order lookup), logging why.

        A ``Retry-After`` longer than ``backoff.max_retry_after`` raises
        ``error`` instead, unless the call must go on (an order lookup, or a
        resend after an attempt that may have placed the order): then the
        wait is capped.
        """
        delay = self.backoff.delay(attempt)
        retry_after = _retry_after_of(error)
        if retry_after is not None:
            if retry_after > self.backoff.max_retry_after:
                if not (lookup or must_go_on):
                    raise error
                retry_after = self.backoff.max_retry_after
            delay = max(delay, retry_after)
        what = (
            "looking the order up by custom_order_id"
            if lookup
            else f"retrying (attempt {attempt + 1} of {retries + 1})"
        )
        logger.warning(
            "%s /%s failed (%s); %s in %.2f s",
            call.method,
            call.path,
            _short(error),
            what,
            delay,
            extra={
                "taas_method": call.method,
                "taas_path": "/" + call.path,
                "taas_retry_in": delay,
            },
        )
        if delay > 0:
            await anyio.sleep(delay)

    async def _reconciled(
        self, call: _Call[T], ids: list[str], cause: TaaSError, *, final: bool
    ) -> T:
        """Look the call's orders up by ``custom_order_id``; return what landed.

        Returns ``_NOT_FOUND`` when a single order provably did not land and
        may be sent again (``final=False``); raises
        :class:`OrderOutcomeUnknownError` whenever it cannot tell.
        """
        path = call.path.split("?")[0]
        if not ids:
            raise _outcome_unknown(call, ids, cause) from cause
        try:
            page = await self._send(
                _Call(
                    "GET",
                    "api/orders/",
                    _converter.parser(m.OrdersPage),
                    "read",
                    request=r.GetOrdersRequest(custom_order_ids=ids, page_size=100),
                    send_as="query",
                    timeout=call.timeout,
                    max_retries=call.max_retries,
                    fresh_connection=_broke_connection(cause),
                )
            )
        except TaaSError as exc:
            # The attempt's error stays the cause (its body, its request id);
            # the lookup's is kept beside it.
            raise _outcome_unknown(
                call, ids, cause, f"looking it up failed: {exc}", lookup_error=exc
            ) from cause
        found = [order for order in page.orders if order.custom_order_id in ids]
        if len(found) != len(page.orders):
            # Orders that do not match: the filter was ignored, so "not found" means nothing.
            raise _outcome_unknown(
                call, ids, cause, "the order list did not filter by custom_order_ids"
            ) from cause
        if (page.num_pages or 1) > 1:
            raise _outcome_unknown(
                call, ids, cause, "more than a page of orders carry these custom_order_ids"
            ) from cause
        legs = {order.custom_order_id: order for order in found}
        # The legs of one multi order share its id; anywhere else, one id is one order.
        if len(legs) != len(found) and path != "api/multi_orders/":
            raise _outcome_unknown(
                call, ids, cause, "several orders carry the same custom_order_id"
            ) from cause
        body: Any
        if path == "api/orders/":
            if not found:
                if final:
                    raise _outcome_unknown(call, ids, cause, "not found (yet)") from cause
                return _NOT_FOUND  # type: ignore[no-any-return]
            body = found[0].raw
        else:
            # Multi and chained orders are never sent again on "not found": the
            # API does not say their legs are listed under the call's ids.
            parents = {order.parent_order for order in found}
            if (
                not found
                or None in parents
                or len(parents) != 1
                or (path == "api/chained_orders/" and len(found) != len(ids))
            ):
                raise _outcome_unknown(
                    call, ids, cause, f"found {len(found)} of its orders"
                ) from cause
            (parent,) = parents
            assert parent is not None  # noqa: S101 (narrowing for mypy)
            if path == "api/multi_orders/":
                try:
                    body = await self.request(
                        "GET",
                        f"api/multi_order/{_wire.path_id(parent, name='parent_order')}",
                        timeout=call.timeout,
                        max_retries=call.max_retries,
                    )
                except TaaSError as exc:
                    raise _outcome_unknown(
                        call,
                        ids,
                        cause,
                        f"fetching multi order {parent} failed: {exc}",
                        lookup_error=exc,
                    ) from cause
            else:  # a chain: rebuilt from its legs, in the order they were sent
                body = {"id": parent, "orders": [legs[i].raw for i in ids]}
        logger.warning(
            "%s /%s: the order landed (custom_order_id=%s); returning it, not sending it again",
            call.method,
            call.path,
            ",".join(ids),
        )
        return call.parse(body)

    async def _already_cancelled(self, call: _Call[T], error: TaaSError) -> T:
        """A cancel retried after an attempt that may have worked, now refused: check the order.

        If it is CANCELED, the earlier attempt did it: success. Otherwise the
        refusal stands.
        """
        if not _CANCEL_PATH.fullmatch(call.path):
            raise error
        try:
            state = await self.request("GET", call.path, timeout=call.timeout)
        except TaaSError:
            raise error from None
        status = state.get("status") if isinstance(state, dict) else None
        if status != OrderStatus.CANCELED.value:
            raise error
        order_id = call.path.rsplit("/", 1)[1]
        logger.warning(
            "%s /%s refused (%s) but the order is CANCELED: an earlier attempt cancelled it",
            call.method,
            call.path,
            _short(error),
        )
        return call.parse(
            {
                "message": f"already cancelled (an earlier attempt went through; the retry got"
                f" HTTP {_status_of(error)})",
                "success": True,
                "order_id": order_id,
            }
        )

    async def _attempt(
        self, request: httpx.Request, call: _Call[Any], *, attempt: int
    ) -> httpx.Response:
        """One HTTP exchange, logged; transport failures become typed errors.

        httpx's read timeout restarts with every chunk, so a server trickling
        bytes could hold a call open for ever: the whole exchange also runs
        under one deadline, the sum of the timeout's parts.

        The client's limits (``max_concurrency``, ``rate_limit``) are waited
        for first, outside that deadline; the slot is held until the reply
        has been read (or the attempt failed or was cancelled).
        """
        if not self._limits.active:
            return await self._exchange_once(request, call, attempt)
        async with self._limits.slot():
            return await self._exchange_once(request, call, attempt)

    async def _exchange_once(
        self, request: httpx.Request, call: _Call[Any], attempt: int
    ) -> httpx.Response:
        started = time.perf_counter()
        error: APIConnectionError | ResponseTooLargeError | None = None
        deadline = _deadline(request)
        status: int | None = None  # of a reply whose body then broke off
        request.extensions.pop(REPLY_STATUS, None)  # not an earlier attempt's
        request.extensions[MAX_REPLY_SIZE] = self.max_response_size  # our transports stop there
        try:
            async with _within(deadline):
                # Never follow redirects, even on an injected client that would: an
                # order POST must not be replayed to another URL. auth=None: an
                # injected client's own auth must not replace our token.
                response = await self._http.send(
                    request, follow_redirects=False, auth=None, stream=True
                )
                status = response.status_code
                try:
                    await _read_capped(response, self.max_response_size)
                finally:
                    await response.aclose()
        except ReplyTooLarge as exc:
            error = _too_large(exc, call.method, str(request.url))
            failure = "too large"
        except httpx.HTTPError as exc:
            error = _wire.connection_error(
                exc, call.method, str(request.url), exact=self._exact_errors
            )
            failure = type(exc).__name__
        except TimeoutError:
            error = _wire.deadline_error(deadline, call.method, str(request.url))
            failure = "deadline"
        if isinstance(error, ResponseTooLargeError):
            self._log(call, error.status_code, started, attempt, error=failure)
            raise error
        if error is not None:
            # A 2xx status line proves the server accepted the request, even if
            # its body was then lost: an order must not be sent again. Our
            # transports read a reply whole, so they record its status apart.
            error.reply_status = status or request.extensions.get(REPLY_STATUS)
            self._log(call, error.reply_status, started, attempt, error=failure)
            # Raised outside the except block so that neither __cause__ nor
            # __context__ holds httpx's exception: its request carries the token.
            raise error
        self._log(call, response.status_code, started, attempt)
        return response

    def _log(
        self,
        call: _Call[Any],
        status: int | None,
        started: float,
        attempt: int,
        *,
        error: str | None = None,
    ) -> None:
        latency_ms = (time.perf_counter() - started) * 1000.0
        # A 3xx is raised as an error too, and so is a 2xx whose body broke off.
        ok = error is None and status is not None and 200 <= status < 300
        level = logging.DEBUG if ok else logging.WARNING
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "%s /%s status=%s latency=%.1fms attempt=%d%s",
                call.method,
                call.path,
                status if status is not None else "N/A",
                latency_ms,
                attempt,
                f" error={error}" if error else "",
                extra={
                    "taas_method": call.method,
                    "taas_path": "/" + call.path,
                    "taas_status": status,
                    "taas_latency_ms": latency_ms,
                    "taas_attempt": attempt,
                },
            )

    # ------------------------------------------------------------------ orders

    async def place_order(
        self,
        request: r.PlaceOrderRequest,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.Order:
        """Place a single order (``POST /api/orders/``).

        The order carries a ``custom_order_id`` (yours, or one generated for
        this call): if the reply is lost, the order is looked up by it rather
        than placed twice (``docs/resilience.md``).
        """
        _expect(request, r.PlaceOrderRequest)
        return await self._send(self._place_order_call(request, timeout, max_retries))

    def _place_order_call(
        self,
        request: r.PlaceOrderRequest,
        timeout: TimeoutTypes | _UseClientDefault,
        max_retries: int | _UseClientDefault,
        *,
        checked: bool = False,
    ) -> _Call[m.Order]:
        return _Call(
            "POST",
            "api/orders/",
            _converter.parser(m.Order),
            "order",
            request=request,
            timeout=timeout,
            max_retries=max_retries,
            checked=checked,
        )

    async def get_order(
        self,
        order_id: str | uuid.UUID,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.Order:
        """Fetch one order (``GET /api/order/{id}``)."""
        return await self._send(
            _Call(
                "GET",
                f"api/order/{_wire.path_id(order_id)}",
                _converter.parser(m.Order),
                "read",
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def get_order_summary(
        self,
        order_id: str | uuid.UUID,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.OrderSummary:
        """Fetch an order's execution summary (``GET /api/order_summary/{id}``)."""
        return await self._send(
            _Call(
                "GET",
                f"api/order_summary/{_wire.path_id(order_id)}",
                _converter.parser(m.OrderSummary),
                "read",
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def cancel_order(
        self,
        order_id: str | uuid.UUID,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.ActionResult:
        """Cancel an order (``DELETE /api/order/{id}``); 200 with a body and 204 both succeed."""
        return await self._send(
            _Call(
                "DELETE",
                f"api/order/{_wire.path_id(order_id)}",
                _converter.action_result,
                "cancel",
                allow_empty=True,
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def amend_order(
        self,
        request: r.AmendOrderRequest,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.ActionResult:
        """Change a live order (``POST /api/amend_order/``)."""
        _expect(request, r.AmendOrderRequest)
        return await self._send(
            _Call(
                "POST",
                "api/amend_order/",
                _converter.action_result,
                "write",
                request=request,
                allow_empty=True,
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def pause_order(
        self,
        order_id: str | uuid.UUID,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.ActionResult:
        """Pause an order (``POST /api/pause_order/``)."""
        return await self._order_action("api/pause_order/", order_id, timeout, max_retries)

    async def resume_order(
        self,
        order_id: str | uuid.UUID,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.ActionResult:
        """Resume a paused order (``POST /api/resume_order/``)."""
        return await self._order_action("api/resume_order/", order_id, timeout, max_retries)

    async def _order_action(
        self,
        path: str,
        order_id: str | uuid.UUID,
        timeout: TimeoutTypes | _UseClientDefault,
        max_retries: int | _UseClientDefault,
    ) -> m.ActionResult:
        request = r.OrderIdRequest(order_id=order_id)
        return await self._send(
            _Call(
                "POST",
                path,
                _converter.action_result,
                "write",
                request=request,
                allow_empty=True,
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def get_all_orders(
        self,
        request: r.GetOrdersRequest | None = None,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.OrdersPage:
        """One page of orders (``GET /api/orders/``); filters in a :class:`GetOrdersRequest`."""
        request = request if request is not None else r.GetOrdersRequest()
        _expect(request, r.GetOrdersRequest)
        return await self._send(
            _Call(
                "GET",
                "api/orders/",
                _converter.parser(m.OrdersPage),
                "read",
                request=request,
                send_as="query",
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def iter_orders(
        self,
        request: r.GetOrdersRequest | None = None,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> AsyncIterator[m.Order]:
        """Every order matching ``request``, fetching pages lazily as you iterate.

        Starts at ``request.page`` (default 1). When the server says how many
        pages (``num_pages``) or orders (``count``) there are, iteration goes
        on until those are reached, even if it caps ``page_size`` below ours;
        otherwise it stops on a short or empty page.

        Raises:
            ResponseDecodeError: the server repeats a page (it ignores ``page``),
                which would otherwise loop or duplicate orders.

        """
        request = request if request is not None else r.GetOrdersRequest()
        _expect(request, r.GetOrdersRequest)
        page_number = request.page or 1
        page_size = request.page_size or 100
        seen = served_size = 0
        previous_ids: list[str] | None = None
        while True:
            page = await self.get_all_orders(
                attrs.evolve(request, page=page_number, page_size=page_size),
                timeout=timeout,
                max_retries=max_retries,
            )
            ids = [order.id for order in page.orders]
            if ids and ids == previous_ids:
                raise ResponseDecodeError(
                    f"page {page_number} repeats page {page_number - 1}: the server ignores"
                    " 'page'; stopping rather than yielding duplicate orders",
                    method="GET",
                    url=self._base_url + "api/orders/",
                    status_code=200,
                    # The page as decoded (a number too long to send back stays text).
                    text=json.dumps(page.raw, default=str),
                )
            previous_ids = ids
            served_size = served_size or len(ids)
            for order in page.orders:
                yield order
            seen += len(ids)
            if not ids:
                return
            if page.num_pages is not None:
                if page_number >= page.num_pages:
                    return
            elif page.count is not None:
                # Orders on the pages before the first one we asked for, at the server's size.
                skipped = ((request.page or 1) - 1) * served_size
                if skipped + seen >= page.count:
                    return
            elif len(ids) < page_size:
                return
            page_number += 1

    # ------------------------------------------------------------------ fan-out

    async def place_orders(
        self,
        requests: Iterable[r.PlaceOrderRequest],
        *,
        max_concurrency: int = DEFAULT_FAN_OUT,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> list[m.Order | Exception]:
        """Place many orders concurrently, at most ``max_concurrency`` in flight.

        Every request is checked first: if any is invalid, one
        :class:`RequestValidationError` names each bad item (``[3].pair``) and
        nothing is sent. Then the results come back in input order: the
        :class:`Order` placed, or the exception that item raised. One failure
        never stops or loses the others; an :class:`OrderOutcomeUnknownError`
        among the results means "look this one up before placing it again".

        Cancelling the caller cancels the placements still pending; those
        already sent may have landed (set ``custom_order_id`` to find them).

        Example::

            results = await client.place_orders(requests, max_concurrency=64)
            failed = [(req, res) for req, res in zip(requests, results)
                      if isinstance(res, Exception)]
        """
        batch = _checked_batch(requests, _request_problems, "requests")
        return await _fan_out(
            batch,
            # Each request was validated just now, in the batch: not twice.
            lambda request: self._send(
                self._place_order_call(request, timeout, max_retries, checked=True)
            ),
            max_concurrency,
        )

    async def cancel_orders(
        self,
        order_ids: Iterable[str | uuid.UUID],
        *,
        max_concurrency: int = DEFAULT_FAN_OUT,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> list[m.ActionResult | Exception]:
        """Cancel many orders concurrently; results (or each one's error) in input order.

        Every id is checked first (nothing is sent if one is invalid); one
        failure never stops the others; cancelling the caller cancels the
        cancels still pending.
        """
        ids = _checked_batch(order_ids, _id_problems, "order_ids")
        return await _fan_out(
            ids,
            lambda order_id: self.cancel_order(order_id, timeout=timeout, max_retries=max_retries),
            max_concurrency,
        )

    # ------------------------------------------------------------------ tracking

    async def watch_order(
        self,
        order_id: str | uuid.UUID,
        *,
        poll_interval: float = 1.0,
        timeout: float | None = None,
    ) -> AsyncGenerator[m.Order, None]:
        """Yield a snapshot of an order now, then whenever its status or fills change.

        Polls ``get_order`` every ``poll_interval`` seconds and stops after
        yielding the order COMPLETE or CANCELED. ``timeout`` bounds the whole
        watch (None: as long as the order runs); when it runs out,
        :class:`WaitTimeoutError` is raised with the last snapshot and the
        last error.

        A poll that fails for a reason that may pass (no reply, a timeout, a
        5xx, a 429), after its own retries, does not end the watch: it polls
        again after the client's backoff (at least ``poll_interval``, and any
        ``Retry-After``), logging a warning each time, for as long as
        ``timeout`` allows. Any other error (401, 403, 404, a reply that
        cannot be read) ends it at once.

        Example::

            async for order in client.watch_order(order.id, poll_interval=0.5):
                print(order.status, order.executed_qty, order.pct_filled)
        """
        poll = _positive("poll_interval", poll_interval)
        deadline = None if timeout is None else anyio.current_time() + _positive("timeout", timeout)
        key = str(order_id)
        last: m.Order | None = None
        seen: tuple[Any, ...] | None = None
        last_error: TaaSError | None = None
        failures = 0  # polls in a row that failed
        wait = 0.0
        while True:
            try:
                with anyio.fail_after(
                    None if deadline is None else deadline - anyio.current_time()
                ):
                    await anyio.sleep(wait)
                    order = await self.get_order(order_id)
            except TimeoutError:
                raise WaitTimeoutError(
                    f"order {key} is still {getattr(last, 'status', 'unknown')} after {timeout} s"
                    + (f" (last error: {last_error})" if last_error else ""),
                    order_id=key,
                    last=last,
                    last_error=last_error,
                ) from None
            except TaaSError as exc:
                if not _transient(exc):
                    raise
                failures += 1
                last_error = exc
                wait = max(poll, self.backoff.delay(failures), _retry_after_of(exc) or 0.0)
                logger.warning(
                    "watching order %s: GET failed (%s); polling again in %.2f s",
                    key,
                    _short(exc),
                    wait,
                    extra={"taas_order_id": key, "taas_retry_in": wait},
                )
                continue
            failures = 0
            wait = poll
            last = order
            state = _progress(order)
            if state != seen:
                seen = state
                yield order
            if order.is_terminal:
                return

    async def wait_for_order(
        self,
        order_id: str | uuid.UUID,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> m.Order:
        """Poll an order until it is COMPLETE or CANCELED and return that final snapshot.

        Raises:
            WaitTimeoutError: ``timeout`` seconds passed first (the order is
                still live; ``.last`` is the latest snapshot).

        """
        watch = self.watch_order(order_id, poll_interval=poll_interval, timeout=timeout)
        async with contextlib.aclosing(watch) as snapshots:  # closed now, not by the GC
            async for order in snapshots:
                if order.is_terminal:
                    return order
        raise AssertionError("unreachable: watch_order ends on a terminal order")

    async def get_order_messages(
        self,
        order_ids: Iterable[str | uuid.UUID],
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> list[m.OrderMessage]:
        """Engine messages for some orders (``POST /api/order_messages/``)."""
        request = r.OrderMessagesRequest(order_ids=order_ids)
        return await self._send(
            _Call(
                "POST",
                "api/order_messages/",
                _converter.order_messages,
                "read",
                request=request,
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    # ------------------------------------------------------------------ multi and chained orders

    async def place_multi_order(
        self,
        request: r.PlaceMultiOrderRequest,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.MultiOrder:
        """Place a multi order (``POST /api/multi_orders/``)."""
        _expect(request, r.PlaceMultiOrderRequest)
        return await self._send(
            _Call(
                "POST",
                "api/multi_orders/",
                _converter.parser(m.MultiOrder),
                "order",
                request=request,
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def get_multi_order(
        self,
        multi_order_id: str | uuid.UUID,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.MultiOrder:
        """Fetch a multi order (``GET /api/multi_order/{id}``)."""
        path = f"api/multi_order/{_wire.path_id(multi_order_id, name='multi_order_id')}"
        return await self._send(
            _Call(
                "GET",
                path,
                _converter.parser(m.MultiOrder),
                "read",
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def cancel_multi_order(
        self,
        multi_order_id: str | uuid.UUID,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.ActionResult:
        """Cancel a multi order (``DELETE /api/multi_order/{id}``); 200 and 204 both succeed."""
        path = f"api/multi_order/{_wire.path_id(multi_order_id, name='multi_order_id')}"
        return await self._send(
            _Call(
                "DELETE",
                path,
                _converter.action_result,
                "cancel",
                allow_empty=True,
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def place_chained_order(
        self,
        request: r.PlaceChainedOrderRequest,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.ChainedOrder:
        """Place orders that run one after another (``POST /api/chained_orders/``)."""
        _expect(request, r.PlaceChainedOrderRequest)
        return await self._send(
            _Call(
                "POST",
                "api/chained_orders/",
                _converter.parser(m.ChainedOrder),
                "order",
                request=request,
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    # ------------------------------------------------------------------ balances and leverage

    async def get_balances(
        self,
        exchange_names: Iterable[str] | None = None,
        account_names: Iterable[str] | None = None,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> dict[str, m.Balance]:
        """Balances per account name (``GET /api/balances/``); filters are comma-joined."""
        query = r.BalancesQuery(exchange_names=exchange_names, account_names=account_names)
        return await self._send(
            _Call(
                "GET",
                "api/balances/",
                _converter.parser(dict[str, m.Balance]),
                "read",
                request=query,
                send_as="query",
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def close_balances(
        self,
        max_notional: Decimal | int | str | float,
        account_names: Iterable[str] | None = None,
        preferred_strategy: Strategy | str | None = None,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.CloseBalancesResult:
        """Open orders that flatten balances up to ``max_notional`` (``POST /api/close_balances/``).

        This creates orders; it is never retried blindly.
        """
        request = r.CloseBalancesRequest(
            max_notional=max_notional,
            account_names=account_names,
            preferred_strategy=preferred_strategy,
        )
        return await self._send(
            _Call(
                "POST",
                "api/close_balances/",
                _converter.parser(m.CloseBalancesResult),
                "order",
                request=request,
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    async def set_leverage(
        self,
        request: r.SetLeverageRequest,
        *,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> m.ActionResult:
        """Set leverage for a pair on some accounts (``POST /api/set_leverage/``)."""
        _expect(request, r.SetLeverageRequest)
        return await self._send(
            _Call(
                "POST",
                "api/set_leverage/",
                _converter.action_result,
                "write",
                request=request,
                allow_empty=True,
                timeout=timeout,
                max_retries=max_retries,
            )
        )

    # ------------------------------------------------------------------ escape hatch

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Any:
        """Call an endpoint the SDK does not wrap yet; returns the decoded JSON.

        ``path`` is relative to the base URL (``"api/new_thing/"``). List
        parameters are comma-joined; decimals in ``params`` and ``json`` are
        sent in plain notation (strings in ``json``). A POST to an
        order-creating path gets the same outcome-unknown handling as
        :meth:`place_order`.
        """
        if not _is_instance(method, str) or method.upper() not in _METHODS:
            raise RequestValidationError({"method": [f"unsupported HTTP method {method!r}"]})
        method = method.upper()
        path = _wire.relative_path(path)
        query = _converter.query_params(params or {})
        kind: _CallKind = "read" if method == "GET" else "write"
        if method == "POST" and path.split("?")[0] in _ORDER_CREATING_PATHS:
            kind = "order"
        return await self._send(
            _Call(
                method,
                path,
                _identity,
                kind,
                params=query or None,
                body=json,
                allow_empty=True,
                timeout=timeout,
                max_retries=max_retries,
            )
        )


async def _read_capped(response: httpx.Response, limit: int) -> None:
    """``response.aread()``, stopping at ``limit`` bytes (raw or decoded) with ReplyTooLarge.

    Our transports stop reading at the limit themselves; httpx's own streams
    the body, so it is counted here as it is decoded.
    """
    cap = ReplyCap(limit, response.status_code, response.headers.raw)
    chunks = response.aiter_bytes()
    try:
        async for chunk in chunks:
            cap.add(chunk)
    except ReplyTooLarge:
        # Stop here: closing the response closes the connection, so the rest
        # of the body is never read. The generators httpx stacks over the
        # body must still run to their end (they fail on the closed
        # connection), or trio warns as it collects them half-way.
        await response.aclose()
        with contextlib.suppress(Exception):  # the error raised below says what happened
            async for _ in chunks:
                pass
        raise
    response._content = cap.body()  # where aread() keeps what it read


def _too_large(exc: ReplyTooLarge, method: str, url: str) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"the reply (HTTP {exc.status_code}) is larger than max_response_size={exc.limit}"
        " bytes; it was not read further",
        method=method,
        url=url,
        status_code=exc.status_code,
        text=exc.head.decode("utf-8", "replace"),
        limit=exc.limit,
    )


def _merged(defaults: httpx.Headers, ours: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    headers = httpx.Headers(defaults)
    headers.update(ours)
    return headers.raw


#: Transports whose ConnectError/ConnectTimeout/PoolTimeout come only before
#: anything was sent (tests/test_transport.py holds them to it).
_EXACT_TRANSPORTS = (
    H11PoolTransport,
    SplitPoolTransport,
    AiohttpTransport,
    httpx.AsyncHTTPTransport,
)


def _reports_connect_errors_exactly(http: httpx.AsyncClient) -> bool:
    """Whether every transport of ``http`` raises connect errors only before sending.

    A transport we do not know may report a connection lost after sending as
    a connect error (httpx-aiohttp does): then no error proves an order POST
    never left, and every failure is reconciled instead of resent.
    """
    transports = [getattr(http, "_transport", None), *getattr(http, "_mounts", {}).values()]
    return all(t is None or type(t) in _EXACT_TRANSPORTS for t in transports)


def _short(error: TaaSError) -> str:
    """What went wrong, in a few words, for a log line (no URL: it is logged apart)."""
    status = _status_of(error)
    if status is not None:
        return f"HTTP {status}"
    if isinstance(error, APIConnectionError):
        reached = "may have reached the server" if error.may_have_reached_server else "not sent"
        return f"{type(error).__name__}, {reached}"
    return type(error).__name__


def _environment_proxies() -> bool:
    """Whether the environment sets an HTTP(S) proxy (which only httpx's transport honours)."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def _progress(order: m.Order) -> tuple[Any, ...]:
    """What ``watch_order`` compares: status and every execution figure."""
    return (
        order.status,
        order.executed_qty,
        order.executed_notional,
        order.pct_filled,
        len(order.placements),
    )


def _positive(name: str, value: object) -> float:
    if not _positive_seconds(value):
        raise RequestValidationError(
            {name: [f"must be a positive, finite number of seconds, got {value!r}"]}
        )
    return float(value)  # type: ignore[arg-type]


_Item = TypeVar("_Item")


def _id_problems(order_id: Any) -> dict[str, list[str]]:
    try:
        _wire.path_id(order_id)
    except RequestValidationError as exc:
        return {"": [reason for reasons in exc.errors.values() for reason in reasons]}
    return {}


def _request_problems(request: Any) -> dict[str, list[str]]:
    if not isinstance(request, r.PlaceOrderRequest):
        return {"": [f"expected PlaceOrderRequest, got {type(request).__name__}"]}
    try:
        request.validate()
    except RequestValidationError as exc:
        return {f".{field}": reasons for field, reasons in exc.errors.items()}
    return {}


def _checked_batch(
    items: Iterable[_Item], problems_of: Callable[[Any], dict[str, list[str]]], name: str
) -> list[_Item]:
    """The items as a list, each one checked: one error names every bad item, nothing is sent."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise RequestValidationError({name: [f"expected an iterable, got {type(items).__name__}"]})
    batch = list(items)
    problems = {
        f"[{index}]{suffix}": reasons
        for index, item in enumerate(batch)
        for suffix, reasons in problems_of(item).items()
    }
    if problems:
        raise RequestValidationError(problems, model=name)
    return batch


async def _fan_out(
    items: list[_Item],
    call: Callable[[_Item], Awaitable[T]],
    max_concurrency: int,
) -> list[T | Exception]:
    """Run ``call`` on every item, ``max_concurrency`` at a time; results in input order."""
    if not _is_instance(max_concurrency, int) or isinstance(max_concurrency, bool):
        raise RequestValidationError({"max_concurrency": ["must be an integer >= 1"]})
    if max_concurrency < 1:
        raise RequestValidationError({"max_concurrency": [f"must be >= 1, got {max_concurrency}"]})
    results: list[Any] = [_PENDING] * len(items)
    indices = iter(range(len(items)))

    async def worker() -> None:
        for index in indices:  # shared: each index is taken by exactly one worker
            try:
                results[index] = await call(items[index])
            except Exception as exc:  # noqa: BLE001, PERF203 (returned for that item, never dropped)
                results[index] = exc

    async with anyio.create_task_group() as group:
        for _ in range(min(max_concurrency, len(items))):
            group.start_soon(worker)
    return results


_PENDING: Any = object()
# _reconciled: the order was looked up and is not on the server.
_NOT_FOUND: Any = object()


def _is_instance(value: object, cls: type) -> bool:
    # Runtime checks of typed arguments: callers without a type checker pass anything.
    return isinstance(value, cls)


def _identity(body: Any) -> Any:
    return body


def _expect(request: object, cls: type) -> None:
    if not isinstance(request, cls):
        raise RequestValidationError(
            {"request": [f"expected {cls.__name__}, got {type(request).__name__}"]}
        )
