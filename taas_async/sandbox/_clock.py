"""Clocks for the simulator: virtual (advanced by hand) or real time x speed."""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Protocol

__all__ = ["DEFAULT_START", "Clock", "RealTimeClock", "VirtualClock"]

#: Where a virtual clock starts unless told otherwise: runs are reproducible.
DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class Clock(Protocol):
    """What the engine needs of a clock: the current, timezone-aware time."""

    def now(self) -> dt.datetime:
        """The current simulated time (timezone-aware)."""
        ...


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"the clock needs a timezone-aware start, got {value!r}")
    return value.astimezone(dt.timezone.utc)


class VirtualClock:
    """A clock that moves only when told to: deterministic tests.

    Example::

        clock = VirtualClock()
        clock.advance(30)  # 30 simulated seconds pass at once
    """

    def __init__(self, start: dt.datetime = DEFAULT_START) -> None:
        self._now = _aware(start)
        self._start = self._now

    def now(self) -> dt.datetime:
        """The current virtual time."""
        return self._now

    def advance(self, seconds: float | dt.timedelta) -> None:
        """Move time forward (never backward).

        Raises:
            ValueError: a negative or non-finite step.

        """
        step = seconds if isinstance(seconds, dt.timedelta) else dt.timedelta(seconds=seconds)
        if step < dt.timedelta(0):
            raise ValueError(f"time only moves forward, got {seconds!r}")
        self._now += step

    def reset(self) -> None:
        """Go back to the time the clock started at (a sandbox's reset)."""
        self._now = self._start

    def __repr__(self) -> str:
        return f"<VirtualClock {self._now.isoformat()}>"


class RealTimeClock:
    """Wall-clock time sped up ``speed`` times (``speed=60``: a minute per second).

    :meth:`advance` jumps it forward on top of that: it goes on running from
    the later time (a demo need not wait for the end of a long order).
    """

    def __init__(self, speed: float = 1.0, start: dt.datetime | None = None) -> None:
        if not speed > 0 or speed == float("inf"):
            raise ValueError(f"speed must be a positive, finite number, got {speed!r}")
        self.speed = speed
        self._start = _aware(start) if start is not None else dt.datetime.now(dt.timezone.utc)
        self._t0 = time.monotonic()
        self._offset = dt.timedelta(0)  # the sum of every advance()

    def now(self) -> dt.datetime:
        """Start time plus the real time elapsed since, times ``speed``, plus every advance."""
        elapsed = dt.timedelta(seconds=(time.monotonic() - self._t0) * self.speed)
        return self._start + elapsed + self._offset

    def advance(self, seconds: float | dt.timedelta) -> None:
        """Jump time forward (never backward); it keeps running from there.

        Raises:
            ValueError: a negative or non-finite step.

        """
        if isinstance(seconds, float) and not math.isfinite(seconds):
            raise ValueError(f"time moves by a finite step, got {seconds!r}")
        step = seconds if isinstance(seconds, dt.timedelta) else dt.timedelta(seconds=seconds)
        if step < dt.timedelta(0):
            raise ValueError(f"time only moves forward, got {seconds!r}")
        self._offset += step

    def __repr__(self) -> str:
        return f"<RealTimeClock speed={self.speed}>"
