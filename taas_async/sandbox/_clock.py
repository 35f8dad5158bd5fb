"""Clocks for the simulator: virtual (by hand, or jumping when all waits), or real time x speed."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import heapq
import itertools
import math
import sys
import time
from collections.abc import Iterator
from typing import Protocol

import anyio
import anyio.lowlevel
import attrs

__all__ = ["DEFAULT_START", "AutojumpClock", "Clock", "RealTimeClock", "VirtualClock"]

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


class _Expired(BaseException):
    """A wait crossed the deadline of a :meth:`AutojumpClock.fail_after` scope.

    A ``BaseException``, like the cancellation anyio's own ``fail_after``
    delivers: code between the wait and the scope (``except Exception``, a
    request timeout's ``except TimeoutError``) must not take it for its own.
    """

    def __init__(self, scope: object) -> None:
        super().__init__("virtual deadline reached")
        self.scope = scope


@attrs.define(eq=False)
class _Waiter:
    deadline: float
    seq: int
    done: bool = False
    gone: bool = False

    def __lt__(self, other: _Waiter) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


#: Deadlines of the enclosing ``fail_after`` scopes: (clock, deadline, scope), innermost
#: last. Each clock heeds its own only: two sandboxes' times are different scales.
_DEADLINES: contextvars.ContextVar[tuple[tuple[object, float, object], ...]] = (
    contextvars.ContextVar("taas_sandbox_deadlines", default=())
)
#: How many times in a row a waiting task yields to the event loop, seeing nothing
#: else happen on this clock, before it concludes that every task is waiting.
_IDLE_ROUNDS = 3


def _task_id() -> int:
    """The running task's id, as ``anyio.get_current_task().id`` gives it, for less.

    Asked on every request and every wait through an autojump clock: 0.24 µs
    against anyio's 1.3 µs on asyncio, 0.6 against 1.0 on trio.
    """
    try:
        task: object = asyncio.current_task()
    except RuntimeError:  # no asyncio loop in this thread
        task = None
    if task is None:  # trio's task (trio, or trio in guest mode on an asyncio loop)
        trio_lowlevel = sys.modules.get("trio.lowlevel")  # loaded already when trio runs
        if trio_lowlevel is None:
            raise RuntimeError("the autojump clock was used outside any task")
        task = trio_lowlevel.current_task()  # RuntimeError outside trio's tasks too
    return id(task)


class _Deadline:
    """One :meth:`AutojumpClock.fail_after` scope (a class: cheaper than a generator)."""

    __slots__ = ("_clock", "_deadline", "_held", "_seconds", "_token")

    def __init__(self, clock: AutojumpClock, deadline: float, seconds: float) -> None:
        self._clock = clock
        self._deadline = deadline
        self._seconds = seconds
        self._held = False
        self._token: contextvars.Token[tuple[tuple[object, float, object], ...]] | None = None

    def __enter__(self) -> object:
        self._token = _DEADLINES.set((*_DEADLINES.get(), (self._clock, self._deadline, self)))
        return self

    def expire(self) -> _Expired:
        """The exception a wait raises at this deadline; time stands still until it lands here.

        On its way to this scope it may cross task groups and cancel other
        waits (a keep-alive's sleep, a socket read), several turns of the
        loop in which nothing touches the clock: time must not jump on then,
        past what the scope's owner would do next (send a keep-alive, poll).
        """
        if not self._held:
            self._held = True
            self._clock.hold()
        return _Expired(self)

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        assert self._token is not None  # noqa: S101 (entered before it exits)
        _DEADLINES.reset(self._token)
        if self._held:
            self._held = False
            self._clock.release()
        if isinstance(exc, _Expired) and exc.scope is self:
            raise TimeoutError(f"{self._seconds} s of virtual time passed") from None


_NO_DEADLINE = contextlib.nullcontext()


class AutojumpClock(VirtualClock):
    """A virtual clock that jumps ahead whenever everything is waiting on it.

    Like trio's ``MockClock(autojump_threshold=0)``: a task that sleeps on
    this clock (the SDK's backoff, ``Retry-After``, rate limit and polling,
    through the sandbox's in-process client; the sandbox's fault latency)
    registers its deadline and yields to the event loop. When a few turns of
    the loop pass with no request in flight, no new wait and nothing else
    touching the clock, time jumps to the earliest deadline and its sleepers
    wake. Order fills fall due on the way, so a one-hour TWAP waited on with
    ``wait_for_order`` completes in well under a second of real time.

    Unlike trio's, it cannot see tasks that run without touching the
    sandbox: a task busy with other work (its own sleeps, other I/O) does
    not hold the clock still. Everything that goes through the in-process
    client does.

    :meth:`advance` still moves it by hand. Works on asyncio, uvloop and trio.
    """

    def __init__(self, start: dt.datetime = DEFAULT_START) -> None:
        super().__init__(start)
        self._origin = self._now
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._activity = 0  # bumped by every event that may lead to more work
        self._busy = 0  # requests in flight through the in-process transport
        self._held: dict[int, int] = {}  # task id -> how many of them that task holds
        self._dead = 0  # waits cancelled while still in the heap

    # ------------------------------------------------------------------ reading

    def current_time(self) -> float:
        """Virtual seconds since the clock's start (the SDK's monotonic time)."""
        return (self._now - self._origin).total_seconds()

    def advance(self, seconds: float | dt.timedelta) -> None:
        """Move time forward by hand; sleepers whose deadline passed wake up."""
        super().advance(seconds)
        self._activity += 1

    def reset(self) -> None:
        """Back to the start (a sandbox's reset), the waits' scale going on unbroken.

        :meth:`current_time` never goes backwards (the SDK's deadlines and
        its rate limit count on it): a wait pending across the reset ends
        after as much of the new time as it had left of the old.
        """
        ran = self._now - self._origin
        super().reset()
        self._origin = self._now - ran
        self._activity += 1

    @property
    def waiting(self) -> int:
        """How many waits on this clock are pending."""
        return sum(1 for w in self._waiters if not (w.done or w.gone))

    # ------------------------------------------------------------------ activity

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Mark a request in flight: time does not jump until it is answered."""
        task = _task_id()
        self._busy += 1
        self._held[task] = self._held.get(task, 0) + 1
        self._activity += 1
        try:
            yield
        finally:
            self._held[task] -= 1
            if not self._held[task]:
                del self._held[task]
            self._busy -= 1
            self._activity += 1

    def hold(self) -> None:
        """Keep time still until :meth:`release`, whatever task waits meanwhile.

        For work in flight that belongs to no task yet: a message on its way
        through an in-process stream to a reader about to wake for it.
        """
        self._busy += 1
        self._activity += 1

    def release(self) -> None:
        """End one :meth:`hold`."""
        if self._busy <= 0:
            raise RuntimeError("release() without a hold()")
        self._busy -= 1
        self._activity += 1

    # ------------------------------------------------------------------ waiting

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of virtual time."""
        await self.sleep_until(self.current_time() + max(0.0, seconds))

    async def sleep_until(self, deadline: float) -> None:
        """Wait until virtual time reaches ``deadline``, jumping there if all else waits.

        Raises:
            TimeoutError: through the enclosing :meth:`fail_after` scope, when
                its deadline comes first.

        """
        expired: _Deadline | None = None
        for clock, limit, scope in _DEADLINES.get():
            if clock is self and limit < deadline:
                assert isinstance(scope, _Deadline)  # noqa: S101 (only fail_after adds them)
                deadline, expired = limit, scope
        waiter = _Waiter(deadline, next(self._seq))
        if deadline > self.current_time():
            heapq.heappush(self._waiters, waiter)
            self._activity += 1
            # A request that sleeps (the fault latency) waits on the clock like
            # any other task: its own in-flight mark must not hold time still.
            held = self._held.get(_task_id(), 0)
            self._busy -= held
            try:
                await self._wait(waiter)
            finally:
                waiter.gone = True
                self._busy += held
                if not waiter.done:  # cancelled: still in the heap
                    self._forget_dead()
        else:
            await anyio.lowlevel.checkpoint()
        if expired is not None:
            raise expired.expire()

    async def _wait(self, waiter: _Waiter) -> None:
        while True:
            seen = self._activity
            for _ in range(_IDLE_ROUNDS):
                await anyio.lowlevel.checkpoint()
                if self._due(waiter):
                    return
            if self._activity == seen and not self._busy:
                self._jump()
                if self._due(waiter):  # it was the earliest: on at once
                    return

    def _due(self, waiter: _Waiter) -> bool:
        """Woken by a jump, or passed by :meth:`advance`."""
        return waiter.done or self.current_time() >= waiter.deadline

    def _forget_dead(self) -> None:
        """Drop cancelled waits once they are most of the heap (timeouts that never fired)."""
        self._dead += 1
        if self._dead > len(self._waiters) // 2:
            self._waiters = [w for w in self._waiters if not w.gone]
            heapq.heapify(self._waiters)
            self._dead = 0

    def _jump(self) -> None:
        """Move to the earliest live deadline and wake everyone due by it."""
        waiters = self._waiters
        while waiters and waiters[0].gone:
            heapq.heappop(waiters)
            self._dead = max(0, self._dead - 1)
        if not waiters:
            return
        target = waiters[0].deadline
        if target > self.current_time():
            self._now = max(self._now, self._origin + dt.timedelta(seconds=target))
        while waiters and waiters[0].deadline <= target:
            heapq.heappop(waiters).done = True
        self._activity += 1

    def fail_after(self, seconds: float | None) -> contextlib.AbstractContextManager[object]:
        """A scope whose virtual waits end in ``TimeoutError`` after ``seconds``.

        Only waits on this clock count: virtual time passes nowhere else.
        """
        if seconds is None:
            return _NO_DEADLINE
        return _Deadline(self, self.current_time() + seconds, seconds)

    def __repr__(self) -> str:
        return f"<AutojumpClock {self._now.isoformat()}>"
