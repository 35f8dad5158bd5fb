"""The client's settings: defaults, the "not passed" sentinel, timeouts, the secret token.

Plain values and checks, no I/O: the engine reads them, the endpoint methods
take them per call; the checks ``AsyncClient`` makes of its arguments when made.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

import httpx

from taas_async._exceptions import ConfigurationError

if TYPE_CHECKING:
    from taas_async._transports._proxy import CertTypes, ProxyTypes, VerifyTypes

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DEFAULT_TIMEOUT",
    "USE_CLIENT_DEFAULT",
    "TimeoutTypes",
]

T = TypeVar("T")

#: Short connect, bounded read/write/pool wait, in seconds.
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)

TimeoutTypes = float | httpx.Timeout

#: The largest reply body read by default: 16 MiB (a page of 1,000 orders is
#: about 2 MiB).
DEFAULT_MAX_RESPONSE_SIZE = 16 * 1024 * 1024


class _UseClientDefault(enum.Enum):
    """Sentinel type: "not passed", as opposed to an explicit value."""

    USE_CLIENT_DEFAULT = "USE_CLIENT_DEFAULT"

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


#: Default of per-call ``timeout=`` and ``max_retries=``: use the client's.
USE_CLIENT_DEFAULT = _UseClientDefault.USE_CLIENT_DEFAULT

#: A per-call timeout, or the client's.
CallTimeout = TimeoutTypes | _UseClientDefault
#: Per-call retries, or the client's.
CallRetries = int | _UseClientDefault


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


def is_instance(value: object, cls: type | tuple[type, ...]) -> bool:
    """``isinstance`` for typed arguments: callers without a type checker pass anything."""
    return isinstance(value, cls)


def positive_seconds(value: object) -> bool:
    """A positive, finite number of seconds (``inf`` is as unbounded as None)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def check_timeout(timeout: object) -> httpx.Timeout:
    """A client or per-call ``timeout=`` as an ``httpx.Timeout`` with every part bounded."""
    if isinstance(timeout, httpx.Timeout):
        values = timeout.as_dict().values()
        if any(t is None for t in values):
            raise ConfigurationError("every timeout must be bounded: None is not allowed")
        if not all(positive_seconds(t) for t in values):
            raise ConfigurationError(
                f"every timeout must be a positive, finite number of seconds, got {timeout!r}"
            )
        return timeout
    if positive_seconds(timeout):
        assert isinstance(timeout, (int, float))  # noqa: S101 (narrowing for mypy)
        return httpx.Timeout(
            float(timeout), connect=min(float(timeout), DEFAULT_TIMEOUT.connect or 5.0)
        )
    raise ConfigurationError(
        f"timeout must be a positive number of seconds or an httpx.Timeout, got {timeout!r}"
    )


def check_count(name: str, value: object, *, minimum: int, what: str = "an integer") -> int:
    """An integer option of at least ``minimum`` (typed, for callers without a type checker)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be {what} >= {minimum}, got {value!r}")
    return value


def check_flag(name: str, value: object) -> bool:
    """A True/False option."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


def merged_headers(defaults: httpx.Headers, ours: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """The client's default headers with ours on top, as ``build_request`` merges them."""
    headers = httpx.Headers(defaults)
    headers.update(ours)
    return headers.raw


# --------------------------------------------------------------------------- checks at construction


def url_and_token(url: str | None, auth_token: str | None) -> tuple[str, str]:
    """The base URL and the token, from the arguments or the environment, checked."""
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
    # UnicodeEncodeError (or a transport's encoding error) would quote the whole token.
    if not is_instance(token, str) or not all("!" <= c <= "~" for c in token):
        raise ConfigurationError(
            "auth_token must be a string of printable ASCII characters without whitespace"
        )
    return url, token


def timeout_of(timeout: TimeoutTypes, http_client: httpx.AsyncClient | None) -> TimeoutTypes:
    """The client's timeout: the one given, else an injected http_client's, else the default.

    An ``http_client`` is used as it was built, its timeout included: a
    ``timeout=`` beside it would silently win over it, so it is refused.
    ``DEFAULT_TIMEOUT`` itself (the parameter's default) is "not given".
    """
    if http_client is None:
        return timeout
    if timeout is not DEFAULT_TIMEOUT:
        raise ConfigurationError(
            "pass timeout= either to the http_client or to AsyncClient, not both:"
            " an http_client is used with its own timeout"
        )
    if any(part is None for part in http_client.timeout.as_dict().values()):
        raise ConfigurationError(
            f"the http_client's timeout must be bounded in every part, got"
            f" {http_client.timeout!r}: a call must not wait for ever"
        )
    return http_client.timeout


def refuse_network_settings_beside(
    http_client: httpx.AsyncClient | None,
    transport: httpx.AsyncBaseTransport | None,
    *,
    verify: VerifyTypes,
    cert: CertTypes | None,
    trust_env: bool,
    proxy: ProxyTypes | None,
) -> None:
    """verify/cert/trust_env/proxy build the client's own transport: refused beside another.

    Given with an ``http_client`` or a ``transport``, they would be silently
    ignored (httpx ignores them beside a transport): a private CA or a proxy
    that is not used is a failure found late, or a request that goes around
    the proxy.
    """
    if http_client is None and transport is None:
        return
    given = [
        name
        for name, changed in (
            ("verify", verify is not True),
            ("cert", cert is not None),
            ("trust_env", not trust_env),
            ("proxy", proxy is not None),
        )
        if changed
    ]
    if given:
        beside = "http_client" if http_client is not None else "transport"
        names = ", ".join(f"{name}=" for name in given)
        raise ConfigurationError(
            f"{names} configure the transport AsyncClient builds, and {beside}= replaces it:"
            f" set them on the {beside} you pass (e.g. H11PoolTransport({given[0]}=...))"
        )
