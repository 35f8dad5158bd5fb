"""What the client's own waits run on: the event loop's clock, or a simulated one.

Backoff between attempts, ``Retry-After``, the rate limit and the polling of
``watch_order`` all wait through a :class:`Timer`. By default that is the
event loop's clock (anyio: asyncio, uvloop or trio, a trio ``MockClock``
included). The sandbox's in-process client swaps in the sandbox's clock, so
that under ``Sandbox(autojump=True)`` a one-hour wait passes in no real time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

import anyio

__all__ = ["LOOP_TIMER", "LoopTimer", "Timer"]


class Timer(Protocol):
    """A monotonic clock the client can read and sleep on."""

    def current_time(self) -> float:
        """Seconds on a monotonic scale (only differences mean anything)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Wait until :meth:`current_time` reaches ``deadline``."""
        ...

    def fail_after(self, seconds: float | None) -> contextlib.AbstractContextManager[object]:
        """A scope whose waits end in ``TimeoutError`` once ``seconds`` have passed."""
        ...


class LoopTimer:
    """The event loop's clock, through anyio."""

    def current_time(self) -> float:
        """The event loop's time."""
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        """``anyio.sleep``."""
        await anyio.sleep(seconds)

    async def sleep_until(self, deadline: float) -> None:
        """``anyio.sleep_until``."""
        await anyio.sleep_until(deadline)

    @contextlib.contextmanager
    def fail_after(self, seconds: float | None) -> Iterator[object]:
        """``anyio.fail_after``: cancels whatever the scope is waiting on."""
        with anyio.fail_after(seconds) as scope:
            yield scope

    def __repr__(self) -> str:
        return "<LoopTimer>"


#: The default timer of every client.
LOOP_TIMER = LoopTimer()
