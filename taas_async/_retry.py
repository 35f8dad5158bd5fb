"""Retry timing and client-side limits: :class:`Backoff`, the concurrency cap, the token bucket.

What is retried, and when an order is looked up instead of resent, is decided
in the choke point (``AsyncClient._send``); this module only says how long to
wait and makes requests wait their turn.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import attrs

from taas_async._exceptions import ClientClosedError, ConfigurationError
from taas_async._timer import Timer

__all__ = ["Backoff"]


def _seconds(*, allow_zero: bool) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        ok = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (value >= 0 if allow_zero else value > 0)
        )
        if not ok:
            bound = ">= 0" if allow_zero else "> 0"
            raise ConfigurationError(
                f"Backoff.{attribute.name} must be a finite number {bound}, got {value!r}"
            )

    return check


def _multiplier(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value < math.inf:
        raise ConfigurationError(f"Backoff.multiplier must be a finite number >= 1, got {value!r}")


def _flag(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"Backoff.{attribute.name} must be True or False, got {value!r}")


@attrs.frozen
class Backoff:
    """How long to wait before retrying: capped exponential backoff with jitter.

    The n-th retry waits ``min(maximum, initial * multiplier ** (n - 1))``;
    with ``jitter`` a random amount between half that and all of it, so that
    many clients failing together do not retry together.

    A ``Retry-After`` from the server (seconds or an HTTP date) is always
    honoured: the wait is the longer of the two. A ``Retry-After`` longer
    than ``max_retry_after`` is not slept through: the error is raised at
    once, with ``retry_after`` set, for the caller to decide.

    Example::

        AsyncClient(url, token, max_retries=5, backoff=Backoff(initial=0.5, maximum=10))
        AsyncClient(url, token, backoff=Backoff.none())  # tests: retry at once

    """

    initial: float = attrs.field(default=0.25, validator=_seconds(allow_zero=True))
    maximum: float = attrs.field(default=8.0, validator=_seconds(allow_zero=True))
    multiplier: float = attrs.field(default=2.0, validator=_multiplier)
    jitter: bool = attrs.field(default=True, validator=_flag)
    max_retry_after: float = attrs.field(default=30.0, validator=_seconds(allow_zero=True))

    @classmethod
    def none(cls) -> Backoff:
        """No waiting between attempts (a ``Retry-After`` is still honoured, up to 30 s)."""
        return cls(initial=0.0, maximum=0.0, jitter=False)

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        ceiling = min(self.maximum, self.initial * self.multiplier ** min(retry - 1, 64))
        if self.jitter and ceiling > 0:
            return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (timing, not security)
        return ceiling


class _TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; each request takes one.

    Waiters queue on one lock, so tokens go out in arrival order. A waiter
    cancelled while it waits takes no token.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._updated: float | None = None
        self._lock: anyio.Lock | None = None

    def _refill(self, now: float) -> None:
        if self._updated is not None:
            # A clock that went back (a sandbox reset) refills nothing, never a debt.
            gained = max(0.0, now - self._updated) * self._rate
            self._tokens = min(self._burst, self._tokens + gained)
        self._updated = now

    async def take(self, timer: Timer) -> None:
        if self._lock is None:  # created on first use, inside the event loop that uses it
            self._lock = anyio.Lock()
        async with self._lock:
            now = timer.current_time()
            self._refill(now)
            if self._tokens < 1.0:
                # Sleep until the token is due and count from then, not from
                # the (always a little later) wake-up: else every token costs
                # the loop's lateness too, and the rate falls short of the limit.
                due = now + (1.0 - self._tokens) / self._rate
                await timer.sleep_until(due)
                self._tokens, self._updated = 1.0, due
            self._tokens -= 1.0


class _Limits:
    """The client-wide cap on requests in flight and the optional rate limit.

    :meth:`close` ends every wait for them at once: a call queued behind a
    slow rate limit learns that the client was closed now, not at its turn.
    """

    def __init__(self, max_concurrency: int | None, rate: float | None, burst: int) -> None:
        self.max_concurrency = max_concurrency
        self._semaphore: anyio.Semaphore | None = None
        self._bucket = _TokenBucket(rate, burst) if rate is not None else None
        self.active = max_concurrency is not None or rate is not None
        self._waits: set[anyio.CancelScope] = set()
        self._closed = False

    def close(self) -> None:
        """End every wait for a slot, now and from now on, in :class:`ClientClosedError`."""
        self._closed = True
        for scope in self._waits:
            scope.cancel()

    @asynccontextmanager
    async def slot(self, timer: Timer) -> AsyncIterator[None]:
        """Hold a place among the requests in flight, then take a rate token.

        Raises:
            ClientClosedError: closed before the slot was had (nothing is held).

        """
        if self._semaphore is None and self.max_concurrency is not None:
            self._semaphore = anyio.Semaphore(self.max_concurrency)
        semaphore = self._semaphore
        with self._waiting():
            if semaphore is not None:
                await semaphore.acquire()
            try:
                if self._bucket is not None:
                    await self._bucket.take(timer)
            except BaseException:
                if semaphore is not None:
                    semaphore.release()
                raise
        try:
            yield
        finally:
            if semaphore is not None:
                semaphore.release()

    @contextmanager
    def _waiting(self) -> Iterator[None]:
        """A wait :meth:`close` can end: ClientClosedError instead of whatever it waited for."""
        if self._closed:
            raise ClientClosedError(_CLOSED_WAITING)
        scope = anyio.CancelScope()
        self._waits.add(scope)
        try:
            with scope:
                yield
        finally:
            self._waits.discard(scope)
        if scope.cancelled_caught:
            raise ClientClosedError(_CLOSED_WAITING)


_CLOSED_WAITING = "the client was closed while this call waited to be sent"


def check_limits(
    max_concurrency: object, rate_limit: object, rate_limit_burst: object
) -> tuple[int | None, float | None, int]:
    """Validate the client's limit options (typed, for callers without a type checker)."""
    if max_concurrency is not None and (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or max_concurrency < 1
    ):
        raise ConfigurationError(
            f"max_concurrency must be None or an integer >= 1, got {max_concurrency!r}"
        )
    if rate_limit is not None and (
        isinstance(rate_limit, bool)
        or not isinstance(rate_limit, (int, float))
        or not math.isfinite(rate_limit)
        or rate_limit <= 0
    ):
        raise ConfigurationError(
            "rate_limit must be None or a positive number of requests per second,"
            f" got {rate_limit!r}"
        )
    if (
        isinstance(rate_limit_burst, bool)
        or not isinstance(rate_limit_burst, int)
        or rate_limit_burst < 1
    ):
        raise ConfigurationError(
            f"rate_limit_burst must be an integer >= 1, got {rate_limit_burst!r}"
        )
    return (
        max_concurrency,
        None if rate_limit is None else float(rate_limit),
        rate_limit_burst,
    )
