"""Every error the SDK raises.

The tree::

    TaaSError
    ├── ConfigurationError (also ValueError)      bad client settings
    ├── ClientClosedError (also RuntimeError)     request on a closed client
    ├── RequestValidationError (also ValueError)  bad input, nothing was sent
    ├── APIConnectionError                        no HTTP reply
    │   ├── APITimeoutError
    │   └── ProxyError                            the proxy refused: nothing was sent
    ├── APIStatusError                            HTTP error reply (>= 400, or a 3xx redirect)
    │   ├── BadRequestError                 400
    │   ├── AuthenticationError             401 (and the order stream's close code 4001)
    │   ├── PermissionDeniedError           403
    │   ├── NotFoundError                   404
    │   ├── ConflictError                   409
    │   ├── UnprocessableEntityError        422
    │   ├── RateLimitError                  429
    │   └── InternalServerError             >= 500
    ├── ResponseDecodeError                       2xx that is not the JSON we expect
    │   └── ResponseTooLargeError                 a reply past max_response_size
    ├── OrderOutcomeUnknownError                  order POST that may or may not have landed
    ├── StreamUnavailableError                    no order stream: the WebSocket upgrade refused
    └── WaitTimeoutError (also TimeoutError)      an order still running when a wait ran out

Errors carry their context as attributes. None of them ever holds the auth
token: URLs never contain it, request headers are not kept, and httpx's
exceptions (whose request carries the headers) are not chained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Keys a Django REST Framework style body uses for something other than a field.
_NON_FIELD_KEYS = frozenset({"message", "error", "errors", "detail", "non_field_errors", "code"})

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "OrderOutcomeUnknownError",
    "PermissionDeniedError",
    "ProxyError",
    "RateLimitError",
    "RequestValidationError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "StreamUnavailableError",
    "TaaSError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
]


class TaaSError(Exception):
    """Base class of every error raised by taas-async.

    An error from a call that places orders by ``custom_order_id``
    (``place_order``, each item of ``place_orders``, ``place_multi_order``,
    ``place_chained_order``, ``request()`` to those paths) names them:
    ``custom_order_id`` is the id the order was sent with (yours, or the one
    generated for the call and reused by every attempt), ``custom_order_ids``
    every id the call sent (each leg's, for a chained order). Look an order
    up by it before placing it again. Both are empty for other calls (among
    them ``close_balances``, whose orders the server names), and for an
    error raised before an id was given (a request that failed validation).
    """

    #: The ``custom_order_id`` of the order the failed call placed (None: not an
    #: order call, or a chained order of several: see ``custom_order_ids``).
    custom_order_id: str | None = None
    #: Every ``custom_order_id`` the failed call sent (empty: not an order call).
    custom_order_ids: Sequence[str] = ()


class ConfigurationError(TaaSError, ValueError):
    """The client was configured wrongly (missing URL or token, bad timeout, ...)."""


class ClientClosedError(TaaSError, RuntimeError):
    """A request was made on a client that has been closed."""


class RequestValidationError(TaaSError, ValueError):
    """Invalid input: the request was rejected before anything was sent.

    ``errors`` maps each bad field (a dotted path such as
    ``child_orders[1].pair``) to the reasons it was rejected.
    """

    errors: dict[str, list[str]]

    def __init__(self, errors: Mapping[str, Sequence[str]], *, model: str | None = None) -> None:
        self.errors = {field: list(reasons) for field, reasons in errors.items()}
        self.model = model
        super().__init__(self._render())

    @property
    def fields(self) -> list[str]:
        """The names of the rejected fields, in the order they were found."""
        return list(self.errors)

    def _render(self) -> str:
        head = f"invalid {self.model}" if self.model else "invalid request"
        parts = [f"{field}: {'; '.join(reasons)}" for field, reasons in self.errors.items()]
        return f"{head}: " + " | ".join(parts)


class APIConnectionError(TaaSError):
    """The request got no HTTP reply (connection refused, reset, DNS, ...).

    ``may_have_reached_server`` is False only when the request provably never
    left the client (the connection was never established); otherwise the
    server may have received and acted on it.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        may_have_reached_server: bool,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url
        self.may_have_reached_server = may_have_reached_server
        #: The status of a reply whose body then broke off (None: no status
        #: line came). A 2xx here means the server accepted the request.
        self.reply_status: int | None = None


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, write, read or waiting for a pooled connection)."""


class ProxyError(APIConnectionError):
    """The proxy refused to pass the request on, or broke off before it did.

    Nothing reached the TaaS server (``may_have_reached_server`` is False,
    so an order is safely sent again). ``proxy_status`` is the proxy's answer
    to ``CONNECT`` (407 or 401: its credentials; 403: its rules forbid the
    host or port; 5xx: it could not reach the server), or None when it closed
    the connection or did not answer in HTTP. ``proxy_url`` never holds the
    proxy's credentials.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        proxy_url: str | None,
        proxy_status: int | None,
    ) -> None:
        super().__init__(message, method=method, url=url, may_have_reached_server=False)
        self.proxy_url = proxy_url
        self.proxy_status = proxy_status


class APIStatusError(TaaSError):
    """The server answered with an HTTP error status (>= 400).

    ``body`` is the decoded JSON when the reply was JSON, else the raw text;
    ``text`` is always the raw text. ``message`` is the human-readable reason
    extracted from whichever error shape the server used.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str,
        url: str,
        body: Any,
        text: str,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.method = method
        self.url = url
        self.body = body
        self.text = text
        self.headers: dict[str, str] = dict(headers or {})
        self.request_id = request_id
        rid = f" [request id {request_id}]" if request_id else ""
        super().__init__(f"{method} {url} -> HTTP {status_code}: {message}{rid}")


class BadRequestError(APIStatusError):
    """HTTP 400. ``field_errors`` maps field names to the server's messages, when it sent them."""

    @property
    def field_errors(self) -> dict[str, list[str]]:
        """Per-field messages from a ``{"field": ["message", ...]}`` body (else empty)."""
        return field_errors_from_body(self.body)


class AuthenticationError(APIStatusError):
    """HTTP 401: the token is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the token may not do this."""


class NotFoundError(APIStatusError):
    """HTTP 404: no such order, multi order or endpoint."""


class ConflictError(APIStatusError):
    """HTTP 409: the request conflicts with the current state (e.g. a duplicate id)."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: well-formed but semantically rejected."""


class RateLimitError(APIStatusError):
    """HTTP 429. ``retry_after`` is the server's ``Retry-After`` in seconds, if it sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """HTTP 5xx: the server (or a proxy in front of it) failed."""


class ResponseDecodeError(TaaSError):
    """A 2xx reply that is not JSON, or not of the shape the SDK expects.

    ``text`` keeps the raw body; ``errors`` lists the problems with a JSON
    path each, and the reason where there is one (``invalid value for type,
    expected int | None: not a whole number: 'abc' @ $.duration``).
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status_code: int,
        text: str,
        errors: Sequence[str] = (),
    ) -> None:
        self.message = message
        self.method = method
        self.url = url
        self.status_code = status_code
        self.text = text
        self.errors: list[str] = list(errors)
        super().__init__(f"{method} {url} -> HTTP {status_code}: {message}")


class ResponseTooLargeError(ResponseDecodeError):
    """A reply longer than the client's ``max_response_size``: not read further.

    The connection was closed after at most the limit plus one read buffer.
    ``text`` keeps the first 64 KiB; ``limit`` is the limit in bytes. For an
    order POST answered 2xx the order was accepted (it is looked up, never
    sent again).
    """

    def __init__(
        self, message: str, *, method: str, url: str, status_code: int, text: str, limit: int
    ) -> None:
        super().__init__(message, method=method, url=url, status_code=status_code, text=text)
        self.limit = limit


class OrderOutcomeUnknownError(TaaSError):
    """An order POST may or may not have reached the server, and no reply came back.

    Look the order up by ``custom_order_id`` (``get_all_orders`` with
    ``GetOrdersRequest(custom_order_ids=[...])``) before placing it again.
    """

    def __init__(
        self,
        message: str,
        *,
        request: Any,
        custom_order_id: str | None,
        custom_order_ids: Sequence[str] | None = None,
        lookup_error: TaaSError | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.custom_order_id = custom_order_id
        #: Every id the call sent: the order's, or each leg's of a chained order.
        self.custom_order_ids: list[str] = list(
            custom_order_ids or ([custom_order_id] if custom_order_id else [])
        )
        #: Why looking the order up failed, when it did (``__cause__`` is the
        #: failure of the order request itself).
        self.lookup_error = lookup_error


class WaitTimeoutError(TaaSError, TimeoutError):
    """``wait_for_order`` / ``watch_order`` ran out of time before the order ended.

    The order is still live on the server: ``last`` is the latest snapshot
    seen (None if no poll completed); ``last_error`` the error of the latest
    poll that failed, if one did (the watch rode through it).
    """

    def __init__(
        self,
        message: str,
        *,
        order_id: str,
        last: Any,
        last_error: TaaSError | None = None,
        still_open: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.order_id = order_id
        self.last = last
        self.last_error = last_error
        #: ``watch_orders``: every order still open, id -> its latest snapshot
        #: (None when none came); for one order, that order.
        self.still_open: dict[str, Any] = (
            dict(still_open) if still_open is not None else {order_id: last}
        )


class StreamUnavailableError(TaaSError):
    """The server has no order stream here: it refused the WebSocket upgrade.

    ``status_code`` is the HTTP status it answered with (404: no such
    endpoint), ``text`` the start of its reply. ``watch_orders`` polls instead.
    """

    def __init__(self, message: str, *, url: str, status_code: int, text: str) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status_code = status_code
        self.text = text


def _as_text(value: Any, depth: int = 0) -> str:
    if depth > 20:  # a pathologically nested body must not exhaust the stack;
        return ""  # a blank message falls back to a snippet of the raw text
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(_as_text(v, depth + 1) for v in value)
    if isinstance(value, dict):
        for key in ("message", "detail", "error", "msg"):
            if key in value:
                return _as_text(value[key], depth + 1)
        return ", ".join(f"{k}: {_as_text(v, depth + 1)}" for k, v in value.items())
    return str(value)


def field_errors_from_body(body: Any) -> dict[str, list[str]]:
    """Per-field messages from a ``{"field": ["msg", ...]}`` error body (else empty)."""
    if not isinstance(body, dict):
        return {}
    if isinstance(body.get("errors"), dict):  # {"errors": {"pair": ["..."]}}
        return field_errors_from_body(body["errors"])
    out: dict[str, list[str]] = {}
    for key, value in body.items():
        if key in _NON_FIELD_KEYS or not isinstance(key, str):
            continue
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[key] = list(value)
        elif isinstance(value, str):
            out[key] = [value]
        elif isinstance(value, (list, dict)):
            out[key] = [_as_text(value)]
    return out


def message_from_body(body: Any, text: str, *, is_json: bool) -> str:
    """The human-readable reason in an error reply, whatever its shape.

    Handles ``{"message": ...}``, ``{"error": ...}``, ``{"errors": [...] | str}``,
    ``{"detail": ...}``, ``{"field": ["msg"]}``, a bare JSON string, and non-JSON
    text (an HTML error page from a proxy gives its ``<title>``). Never raises.
    """
    if not is_json:
        return _html_or_text(text)
    # An extracted message that is blank (``{"errors": [[]]}``) says nothing: show the body.
    message = _message_from_json(body)
    if not message.strip():
        return _snippet(text)
    return message if len(message) <= 1000 else message[:997] + "..."  # the body is in .text


def _message_from_json(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("message", "error", "errors", "detail", "non_field_errors"):
            value = body.get(key)
            if value not in (None, "", [], {}):
                return _as_text(value)
        fields = field_errors_from_body(body)
        if fields:
            return "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
        return ""
    if isinstance(body, str):
        return _snippet(body)
    if isinstance(body, list) and body:
        return _as_text(body)
    return ""


def _html_or_text(text: str) -> str:
    lowered = text.lower()
    start = lowered.find("<title>")
    if start != -1:
        end = lowered.find("</title>", start)
        if end != -1:
            title = " ".join(text[start + len("<title>") : end].split())
            if title:
                return title
    return _snippet(text)


def _snippet(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    if not flat:
        return "(empty body)"
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
