"""What goes on the wire, with no I/O: URLs, headers, error mapping, decoding.

The client's choke point calls these; they are plain functions so they can
be tested and reused (retries, the sandbox) without a network.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import math
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx

from taas_async import _codec, _converter
from taas_async._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    ProxyError,
    RateLimitError,
    RequestValidationError,
    ResponseDecodeError,
    UnprocessableEntityError,
    message_from_body,
)
from taas_async._transports._http11 import NAME_PATTERN

__all__ = [
    "base_url",
    "connection_error",
    "decode_success",
    "path_id",
    "relative_path",
    "status_error",
]

T = TypeVar("T")

_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "cf-ray")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = re.compile(NAME_PATTERN)  # an RFC 9110 field-name, as the transport checks it


# --------------------------------------------------------------------------- URLs


def base_url(url: str) -> str:
    """Normalise the TaaS base URL: http(s), a host, and a path that ends in ``/``.

    The path is kept (``https://h/taas`` serves ``https://h/taas/api/...``),
    unlike 1.2.9's ``urljoin``, which dropped it.
    """
    # Errors quote the url only up to any query, fragment or credentials: a
    # token pasted into the url must not end up in the error.
    shown = _shown_url(url)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigurationError(f"invalid TaaS url {shown}: {type(exc).__name__}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(f"invalid TaaS url {shown}: expected http(s)://host[:port][/path]")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ConfigurationError(f"invalid TaaS url {shown}: port out of range")
    if parsed.query or parsed.fragment:
        raise ConfigurationError(f"invalid TaaS url {shown}: no query or fragment allowed")
    if parsed.userinfo:
        raise ConfigurationError("invalid TaaS url: credentials belong in auth_token, not the url")
    path = parsed.raw_path.decode("ascii")
    if not path.endswith("/"):
        path += "/"
    return str(parsed.copy_with(raw_path=path.encode("ascii")))


def sends_token_in_clear(base: str) -> bool:
    """Whether ``base`` is plain ``http://`` to a host other than this machine (loopback)."""
    url = httpx.URL(base)
    if url.scheme != "http":
        return False
    host = url.host.lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it could resolve anywhere
        return True


def _shown_url(url: object) -> str:
    if not isinstance(url, str):
        return f"of type {type(url).__name__}"
    text = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = text.rpartition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = "***@" + rest.split("@", 1)[1]
    return repr(f"{scheme}{sep}{rest}")


#: Ids seen lately, as canonical_id gives them: a watch over the stream asks
#: for the same thousand ids thousands of times a second. Bounded: emptied when full.
_CANONICAL: dict[str, str] = {}
_MAX_CANONICAL = 16_384
_MAX_KEPT_ID = 64


def canonical_id(order_id: object) -> str:
    """An id as the SDK compares ids: a UUID in its canonical (lowercase) form, else as given.

    The server answers with its own spelling of an id: ``7F1C...`` asked for
    comes back as ``7f1c...``.
    """
    text = str(order_id)
    found = _CANONICAL.get(text)
    if found is not None:
        return found
    try:
        canonical = str(uuid.UUID(text))
    except ValueError:
        canonical = text
    if canonical == text:
        canonical = text  # one string kept, not two equal ones
    if len(text) <= _MAX_KEPT_ID:  # an id a server made up past any id's length: not kept
        if len(_CANONICAL) >= _MAX_CANONICAL:
            _CANONICAL.clear()
        _CANONICAL[text] = canonical
    return canonical


def path_id(value: str | uuid.UUID, *, name: str = "order_id") -> str:
    """An id made safe for a path segment: it can never change the path.

    Raises:
        RequestValidationError: empty, ``.``/``..``, control characters, or not a string.

    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise RequestValidationError({name: [f"expected a string id, got {type(value).__name__}"]})
    if not value or value.strip() != value:
        raise RequestValidationError({name: ["must be non-empty without surrounding spaces"]})
    if value in (".", "..") or _CONTROL.search(value):
        raise RequestValidationError({name: [f"not a valid id: {value!r}"]})
    return quote(value, safe="")  # "/", "?", "#", "%" are all escaped


def relative_path(path: str) -> str:
    """Check a caller-given API path for :meth:`AsyncClient.request`.

    Raises:
        RequestValidationError: absolute URLs, ``..`` segments, query strings or fragments.

    """
    problems = []
    if "://" in path or path.startswith("//"):
        problems.append("must be a path on the TaaS server, not a URL")
    if "?" in path or "#" in path:
        problems.append("pass query parameters as params=, not in the path")
    # Encoded dots too: a proxy that decodes %2e%2e would leave the base path.
    decoded = path.lower().replace("%2e", ".")
    if any(segment in (".", "..") for segment in decoded.replace("\\", "/").split("/")):
        problems.append("'.' and '..' segments are not allowed")
    if "\\" in path:
        problems.append("backslashes are not allowed")
    if _CONTROL.search(path) or " " in path:
        problems.append("spaces and control characters are not allowed")
    if problems:
        raise RequestValidationError({"path": problems})
    return path.lstrip("/")


# --------------------------------------------------------------------------- errors


def connection_error(
    exc: httpx.HTTPError, method: str, url: str, *, exact: bool = True
) -> APIConnectionError:
    """Map an httpx error, saying whether the request may have reached the server.

    Only a failure to connect proves the request never left; anything later
    (a reset, a read timeout, a reply httpx could not decode) may follow a
    request the server received and acted on. ``exact=False``: the transport
    is not known to raise connect errors only before sending (httpx-aiohttp
    reports a connection lost after sending as ``ConnectTimeout``), so no
    error proves anything.
    """
    if not isinstance(exc, httpx.TransportError):  # e.g. a reply body httpx cannot decode
        message = f"{method} {url}: {type(exc).__name__} after the request was sent: {exc}"
        return APIConnectionError(message, method=method, url=url, may_have_reached_server=True)
    if exact and isinstance(exc, httpx.ProxyError):
        # Raised while connecting through the proxy, before the request went out.
        status = getattr(exc, "status_code", None)
        detail = str(exc) if status is not None else f"ProxyError: {exc}"
        return ProxyError(
            f"{method} {url}: {detail}",
            method=method,
            url=url,
            proxy_url=getattr(exc, "proxy", None),
            proxy_status=status if isinstance(status, int) else None,
        )
    never_sent = exact and isinstance(
        exc,
        httpx.ConnectError
        | httpx.ConnectTimeout
        | httpx.PoolTimeout
        | httpx.UnsupportedProtocol
        | httpx.LocalProtocolError,
    )
    kind = type(exc).__name__
    detail = str(exc) or kind
    where = "before sending" if never_sent else "after the request may have been sent"
    message = f"{method} {url}: {kind} {where}: {detail}"
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return cls(message, method=method, url=url, may_have_reached_server=not never_sent)


def deadline_error(deadline: float, method: str, url: str) -> APITimeoutError:
    """The whole exchange outlasted its deadline (a server trickling bytes)."""
    return APITimeoutError(
        f"{method} {url}: no complete reply within {deadline:g} s (the sum of the timeouts)",
        method=method,
        url=url,
        may_have_reached_server=True,
    )


def retry_after(headers: Mapping[str, str], now: dt.datetime | None = None) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = (when - (now or dt.datetime.now(dt.timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class ReplyLike(Protocol):
    """What error mapping and decoding read of a reply: an ``httpx.Response`` has it all."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...

    @property
    def text(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


def _decode_body(response: ReplyLike) -> tuple[bool, Any]:
    """(is_json, body): the decoded JSON, or the raw text when it is not JSON."""
    text = response.text
    if not text.strip():
        return False, text
    try:
        return True, _codec.decode_json(response.content)
    except ValueError:
        return False, text


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The server's id for the exchange (``X-Request-ID`` or a like header), if it sent one."""
    return next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None)


def status_error(response: ReplyLike, method: str, url: str) -> APIStatusError:
    """The typed error for a reply with a non-2xx status; it keeps the raw body."""
    status = response.status_code
    is_json, body = _decode_body(response)
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        message = f"unexpected redirect to {location!r}" if location else "unexpected redirect"
    else:
        message = message_from_body(body, response.text, is_json=is_json)
    request_id = request_id_of(response.headers)
    if status in _STATUS_ERRORS:
        cls = _STATUS_ERRORS[status]
    elif status >= 500:
        cls = InternalServerError
    else:
        cls = APIStatusError
    kwargs: dict[str, Any] = {
        "status_code": status,
        "method": method,
        "url": url,
        "body": body,
        "text": response.text,
        "headers": dict(response.headers),
        "request_id": request_id,
    }
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=retry_after(response.headers), **kwargs)
    return cls(message, **kwargs)


# --------------------------------------------------------------------------- success


def decode_success(
    response: ReplyLike,
    method: str,
    url: str,
    parse: Callable[[Any], T],
    *,
    allow_empty: bool,
    accepted_order: bool = False,
) -> T:
    """Decode a 2xx reply and structure it with ``parse``.

    ``accepted_order``: the reply answers an order-creating POST, so the
    server accepted the order even if its reply cannot be read; the error
    says so, lest the caller place it again.

    Raises:
        ResponseDecodeError: empty (where a body is required), not JSON, or the wrong shape.

    """

    def fail(message: str, errors: list[str] | None = None) -> ResponseDecodeError:
        if accepted_order:
            message += (
                f" (the server ACCEPTED this order request with HTTP {response.status_code}:"
                " the order exists, do not place it again; the reply is in .text)"
            )
        return ResponseDecodeError(
            message,
            method=method,
            url=url,
            status_code=response.status_code,
            text=response.text,
            errors=errors or [],
        )

    content = response.content
    if not content.strip():
        if allow_empty:
            return parse(None)
        raise fail("empty body where JSON was expected")
    content_type = response.headers.get("content-type", "")
    if content_type and "json" not in content_type.lower():
        raise fail(f"expected a JSON reply, got content type {content_type!r}")
    try:
        body = _codec.decode_json(content)
    except ValueError as exc:
        raise fail(f"reply is not valid JSON: {exc}") from None
    try:
        return parse(body)
    except _converter.ShapeError as exc:
        raise fail(
            "reply does not have the expected shape: " + "; ".join(exc.errors), exc.errors
        ) from None


#: Header fields that frame the request or steer the connection: the client
#: sets them itself (two Content-Length fields, or a Transfer-Encoding beside
#: one, would be read differently by different servers).
_CLIENT_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "expect"}
)


def check_headers(extra: Mapping[str, str] | None) -> dict[str, str]:
    """Validate ``extra_headers``: strings, no line breaks, no ``Authorization``.

    Nor a field the client sets itself (``Host``, ``Content-Length``,
    ``Transfer-Encoding``, ``Connection``, ``TE``, ``Upgrade``, ``Expect``),
    nor a value with spaces at either end (HTTP strips them: not what was set).
    """
    headers: dict[str, str] = {}
    items: list[tuple[object, object]] = list((extra or {}).items())
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError("extra_headers must map strings to strings")
        if not _TOKEN.fullmatch(name):
            raise ConfigurationError(f"extra header name {name!r} is not a valid HTTP token")
        if not all(" " <= c <= "~" for c in value):
            # httpx would fail on every request (UnicodeEncodeError) or split the header.
            raise ConfigurationError(f"extra header {name!r}: value must be printable ASCII")
        if value != value.strip(" "):
            raise ConfigurationError(f"extra header {name!r}: value has spaces at an end")
        if name.lower() == "authorization":
            raise ConfigurationError("set the token with auth_token, not extra_headers")
        if name.lower() in _CLIENT_HEADERS:
            raise ConfigurationError(f"extra header {name!r}: the client sets it itself")
        headers[name] = value
    return headers
