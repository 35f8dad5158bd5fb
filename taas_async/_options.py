"""The client's settings: defaults, the "not passed" sentinel, timeouts, the secret token.

Plain values and checks, no I/O: the engine reads them, the endpoint methods
take them per call.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Generic, TypeVar

import httpx

from taas_async._exceptions import ConfigurationError

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
