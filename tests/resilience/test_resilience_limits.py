"""Resilience under load: cancellation, ``max_concurrency``, ``rate_limit``.

On asyncio, trio and uvloop. The cancellation and concurrency tests talk to a
real HTTP/1.1 server on 127.0.0.1 (``tests/faultserver.py``, its own thread and
event loop). Concurrency is measured on the server side (``peak_in_flight``),
which the client cannot flatter: the server counts a request from the moment it
is fully received until its reply is fully written (or its connection closes),
so its count is never more than the number of requests the client really has
in flight.

Rates are never measured in wall-clock time (a loaded machine would fail them):
the rate-limit tests run on the sandbox's virtual clock, which records when
each request arrived, exactly; where a real server is needed, the client waits
for its tokens on a :class:`StepTimer` and only counts are asserted.

The connection pool is the client's default transport (``H11PoolTransport``);
its private counters are read to prove nothing leaked:

- ``_conns``: every established connection (idle or in use);
- ``_n_idle``: the idle ones (so ``len(_conns) - _n_idle`` are in use);
- ``_n_open``: the pool slots taken (connections open or being opened);
- ``_waiters``: requests waiting for a connection (``abandoned`` once cancelled).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import gc
import random
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from faultserver import Fault, FaultServer

from taas_async import (
    AsyncClient,
    Backoff,
    ClientClosedError,
    ConfigurationError,
    InternalServerError,
    Order,
    PlaceOrderRequest,
    RequestValidationError,
    TaaSError,
)
from taas_async._transports import H11PoolTransport
from taas_async.sandbox import AutojumpClock, Sandbox

pytestmark = pytest.mark.anyio

TOKEN = "tok-resilience-limits"
MAX_CONNECTIONS = 32
LIMITS = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
OK = {"ok": True}


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(delay=0.01) as running:
        yield running
        assert running.errors == []


# ---------------------------------------------------------------------- helpers


def pool_of(client: AsyncClient) -> H11PoolTransport:
    """The client's default transport (the pool whose counters we read)."""
    transport = client._http._transport
    assert isinstance(transport, H11PoolTransport), transport
    return transport


def pool_state(pool: H11PoolTransport) -> dict[str, int]:
    open_ = len(pool._conns)
    return {
        "open": open_,
        "idle": pool._n_idle,
        "in_use": open_ - pool._n_idle,
        "slots": pool._n_open,
        "waiting": sum(not waiter.abandoned for waiter in pool._waiters),
        "idle_listed": sum(len(stack) for stack in pool._idle.values()),
    }


def pool_settled(state: dict[str, int], server: FaultServer) -> bool:
    return (
        server.in_flight == 0
        and state["in_use"] == 0
        and state["waiting"] == 0
        and state["slots"] == state["open"]
        # a socket the pool forgot without closing stays open on the server
        and server.open_connections <= state["open"]
    )


async def wait_until(condition: Callable[[], bool], limit: float) -> bool:
    """Poll ``condition`` (the server lives in another thread) until true or ``limit`` s."""
    with anyio.move_on_after(limit):
        while True:
            if condition():
                return True
            await anyio.sleep(0.01)
    return condition()


async def settle(
    pool: H11PoolTransport, server: FaultServer, limit: float = 10.0
) -> dict[str, int]:
    """Wait until nothing is in flight anywhere; then check the pool's books balance."""
    await wait_until(lambda: pool_settled(pool_state(pool), server), limit)
    state = pool_state(pool)
    detail = f"pool {state}, server open={server.open_connections} in_flight={server.in_flight}"
    assert pool_settled(state, server), "did not settle: " + detail
    assert state["idle"] == state["idle_listed"] == state["open"], detail
    assert state["open"] <= MAX_CONNECTIONS, detail
    assert server.open_connections <= MAX_CONNECTIONS, detail
    return state


def unclosed_resources() -> list[str]:
    """Collect garbage; the ResourceWarnings it raises: sockets nobody closed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


async def gather(calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run every call at once; results in order (any exception fails the test)."""
    results: list[Any] = [None] * len(calls)

    async def run(index: int) -> None:
        results[index] = await calls[index]()

    async with anyio.create_task_group() as group:
        for index in range(len(calls)):
            group.start_soon(run, index)
    return results


def order(index: int, prefix: str = "lim") -> PlaceOrderRequest:
    return PlaceOrderRequest(
        accounts=["mock"],
        pair="ETH-USDT",
        side="buy",
        duration=60,
        base_asset_qty="0.01",
        strategy="TWAP",
        custom_order_id=f"{prefix}-{index}",
    )


#: A gross bound on real time, to fail a hang rather than wait for ever (nothing is timed).
REAL_SECONDS = 30
#: How late :class:`LateClock` wakes its sleepers, in microseconds of virtual time.
LATE_US = 1_000


class LateClock(AutojumpClock):
    """An autojump clock that wakes every sleeper 1 ms (virtual) after its deadline.

    A real event loop is always a little late; this one is late by exactly
    ``LATE_US``, so what a bucket does with that lateness shows exactly.
    """

    async def sleep_until(self, deadline: float) -> None:
        """Wait until ``LATE_US`` after ``deadline`` (a deadline already past: at once)."""
        if deadline > self.current_time():
            deadline += LATE_US / 1e6
        await super().sleep_until(deadline)


class StepTimer:
    """A client's timer where time stands still until the client waits, then steps there.

    For a client on a real server: its rate limit hands out tokens at once
    in real time, and each token past the burst is one recorded wait
    (:attr:`deadlines`), whatever the machine's speed. Only one task may be
    waiting at a time (the bucket's lock holder; no backoff).
    """

    def __init__(self, start: float = 0.0) -> None:
        self.start = self.now = start
        self.deadlines: list[float] = []

    def current_time(self) -> float:
        """The time of the last wait's deadline (or the start)."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Step ``seconds`` ahead."""
        await self.sleep_until(self.now + max(0.0, seconds))

    async def sleep_until(self, deadline: float) -> None:
        """Record ``deadline`` and step to it at once."""
        self.deadlines.append(deadline)
        self.now = max(self.now, deadline)
        await anyio.lowlevel.checkpoint()

    def fail_after(self, seconds: float | None) -> contextlib.AbstractContextManager[object]:
        """Not for these tests (only ``watch_order`` uses it)."""
        raise NotImplementedError("StepTimer.fail_after")


class Flaky(httpx.AsyncBaseTransport):
    """The sandbox in process, answering a seeded ``share`` of the requests with a 503.

    The 503 is the sandbox's own fault (planned just before the request goes
    in), so the failed attempt is recorded in ``sandbox.exchanges`` like any other.
    """

    def __init__(self, sandbox: Sandbox, share: float, seed: int) -> None:
        self._sandbox = sandbox
        self._inner = sandbox.transport()
        self._share = share
        self._rng = random.Random(seed)
        self.failed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Plan a 503 for this request (or not), then hand it to the sandbox."""
        if self._rng.random() < self._share:
            self._sandbox.faults.fail_next(1, status=503)
            self.failed += 1
        return await self._inner.handle_async_request(request)


async def hammer(sandbox: Sandbox, rate: float, seconds: float) -> None:
    """20 tasks call ``get_balances`` back to back for ``seconds`` of the sandbox's time.

    On a client with ``rate_limit=rate``. They stop after 1,000 requests in all:
    a limiter that does not limit would keep the virtual clock still for ever.
    """
    clock = sandbox.clock
    assert isinstance(clock, AutojumpClock)
    async with sandbox.client(rate_limit=rate) as client:

        async def calls() -> None:
            while len(sandbox.exchanges) < 1000:
                await client.get_balances()

        with anyio.fail_after(REAL_SECONDS):
            async with anyio.create_task_group() as group:
                for _ in range(20):
                    group.start_soon(calls)
                await clock.sleep(seconds)
                group.cancel_scope.cancel()


def arrival_us(sandbox: Sandbox) -> list[int]:
    """When each request reached the sandbox, in virtual microseconds from the first."""
    times = [exchange.at for exchange in sandbox.exchanges]
    return [(t - times[0]) // dt.timedelta(microseconds=1) for t in times]


# ---------------------------------------------------------------------- A. cancellation

STORM = 1000

CANCEL_CONFIGS: dict[str, dict[str, Any]] = {
    "unlimited": {},
    "max_concurrency": {"max_concurrency": 8},
    "rate_limit": {"rate_limit": 400.0, "rate_limit_burst": 10},
}


async def storm(client: AsyncClient, rng: random.Random) -> dict[int, str]:
    """1,000 GETs, each cancelled at a seeded random moment (a few run to the end).

    Every task is started first and waits for a common signal, so the random
    deadlines count from the same moment. Returns the outcome of every call that
    was *not* cancelled: "ok", or "status 503" when every attempt got a 503. Any
    other exception fails the test (a cancellation turned into an error, say).
    """
    outcomes: dict[int, str] = {}
    go = anyio.Event()

    async def call(index: int) -> None:
        try:
            body = await client.request("GET", f"api/storm/{index}")
        except InternalServerError as exc:  # a 503 on every attempt
            outcomes[index] = f"status {exc.status_code}"
        else:
            outcomes[index] = "ok" if body == OK else f"body {body!r}"

    async def with_deadline(index: int, seconds: float | None) -> None:
        await go.wait()
        with anyio.move_on_after(seconds):
            await call(index)

    async def cancelled_together(members: list[int], after: float) -> None:
        await go.wait()
        async with anyio.create_task_group() as group:
            for index in members:
                group.start_soon(call, index)
            await anyio.sleep(after)
            group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        batch: list[int] = []
        for index in range(STORM):
            roll = rng.random()
            if roll < 0.1:  # runs to the end
                group.start_soon(with_deadline, index, None)
            elif roll < 0.2:  # cancelled almost at once: waiting for a limiter or the pool
                group.start_soon(with_deadline, index, rng.uniform(0, 0.002))
            elif roll < 0.7:  # anywhere: waiting, mid-request, in backoff
                group.start_soon(with_deadline, index, rng.uniform(0, 0.3))
            else:  # a whole task group cancelled at once
                batch.append(index)
                if len(batch) == 25:
                    group.start_soon(cancelled_together, batch, rng.uniform(0, 0.3))
                    batch = []
        if batch:
            group.start_soon(cancelled_together, batch, rng.uniform(0, 0.3))
        go.set()
    return outcomes


@pytest.mark.parametrize("config", list(CANCEL_CONFIGS))
async def test_cancelling_anywhere_leaks_nothing(server: FaultServer, config: str) -> None:
    """1,000 calls cancelled at random points leave no connection, slot or token behind.

    Catches: a pool connection not closed (or its slot not freed) when the task
    is cancelled mid-request (in_use / slots / server-side open connections, an
    unclosed socket collected); a cancelled pool waiter that keeps its place; a
    concurrency slot lost to a cancellation (the survivors hang: fail_after) or
    released twice (the next 100 exceed 8 in flight); a token bucket left with
    more than its burst by cancelled waiters (fewer than 90 of the next 100 wait
    for a token); a cancellation turned into an error. (Token debt left by
    cancelled waiters: ``test_cancelled_token_waiters_leave_no_debt``.)
    """
    options = CANCEL_CONFIGS[config]
    client = AsyncClient(
        server.url,
        TOKEN,
        limits=LIMITS,
        max_retries=3,
        backoff=Backoff(initial=0.01, maximum=0.04),
        **options,
    )
    async with client:
        pool = pool_of(client)
        # A warm pool: every connection open, so requests reach the server at once.
        assert (
            await gather(
                [lambda: client.request("GET", "api/warm") for _ in range(MAX_CONNECTIONS)]
            )
            == [OK] * MAX_CONNECTIONS
        )
        server.reset_stats()
        # A quarter of the requests get a 503 (not forwarded): the call retries after a
        # short backoff, so some are cancelled while they sleep.
        server.set_random(0.25, [Fault("status", status=503)], seed=20240601)
        with anyio.fail_after(30):  # a lost slot or connection would hang the survivors
            outcomes = await storm(client, random.Random(f"storm-{config}"))

        cancelled = STORM - len(outcomes)
        reached = {int(target.rsplit("/", 1)[1]) for _, target, _ in server.requests}
        cancelled_after_sending = reached - set(outcomes)
        counts = collections.Counter(outcomes.values())
        assert counts["ok"] > 0, counts
        assert set(counts) <= {"ok", "status 503"}, counts
        assert cancelled > 0
        # Some were cancelled after their request reached the server (mid-request
        # or in backoff), not only while waiting for their turn.
        assert cancelled_after_sending, (cancelled, len(reached))
        faulted = server.faults_applied.count("status")
        assert faulted > 0

        server.clear()
        assert unclosed_resources() == []
        storm_state = await settle(pool, server)

        # The next 100 requests all succeed, within the limits. The client now waits
        # on a StepTimer starting a (virtual) second after the storm: whatever the
        # machine's speed, a sound bucket is full again, and every wait is recorded.
        server.reset_stats()
        timer = StepTimer(start=anyio.current_time() + 1.0)
        client._timer = timer
        started = time.monotonic()
        with anyio.fail_after(20):
            results = await gather(
                [partial(client.request, "GET", f"api/after/{i}") for i in range(100)]
            )
        elapsed = time.monotonic() - started  # printed, not asserted
        assert results == [OK] * 100
        assert server.count("GET", "/api/after/") == 100
        if "max_concurrency" in options:
            assert server.peak_in_flight == options["max_concurrency"]
        else:
            assert server.peak_in_flight <= MAX_CONNECTIONS
        if "rate_limit" in options:
            rate, burst = options["rate_limit"], options["rate_limit_burst"]
            # The burst goes at once, then one token every 1/rate s. A bucket left with
            # more than its burst would let more go at once (fewer waits); one still
            # owing the cancelled waiters' reservations would make the first wait late.
            expected = [timer.start + i / rate for i in range(1, 101 - burst)]
            assert timer.deadlines == pytest.approx(expected, abs=1e-9)
        else:
            assert timer.deadlines == []  # no limiter, no backoff: nothing waited
        after_state = await settle(pool, server)
    print(
        f"\n{config}: cancelled={cancelled} (after sending: {len(cancelled_after_sending)}) "
        f"outcomes={dict(counts)} 503s={faulted} "
        f"pool after storm={storm_state} after next 100={after_state} "
        f"server open={server.open_connections} peak={server.peak_in_flight} "
        f"next 100 in {elapsed:.3f}s"
    )
    # Closing the client closes every connection it had.
    assert await wait_until(lambda: server.open_connections == 0, 5), server.open_connections


async def test_cancelling_while_connecting_leaks_no_socket(server: FaultServer) -> None:
    """Requests cancelled while their connection is being opened leave no socket open.

    No keep-alive, so every request opens a connection; deadlines of 0-100 ms
    cancel most of them, some mid-connect. Catches: a connection established after its
    caller was cancelled and then dropped without being closed (a ResourceWarning
    when it is collected, and a socket the server still sees open).
    """
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=0)
    rng = random.Random(5)
    async with AsyncClient(server.url, TOKEN, limits=limits, max_retries=0) as client:
        pool = pool_of(client)
        done = 0
        go = anyio.Event()

        async def call(index: int, seconds: float) -> None:
            nonlocal done
            await go.wait()
            with anyio.move_on_after(seconds):
                assert await client.request("GET", f"api/connect/{index}") == OK
                done += 1

        async with anyio.create_task_group() as group:
            for index in range(300):
                group.start_soon(call, index, rng.uniform(0, 0.1))
            go.set()
        leaked = unclosed_resources()
        assert leaked == [], f"{len(leaked)} sockets never closed, e.g. {leaked[0]}"
        state = await settle(pool, server)
        assert state["open"] == 0  # nothing kept alive
        assert await client.request("GET", "api/connect/after") == OK
    assert await wait_until(lambda: server.open_connections == 0, 5), server.open_connections
    print(f"\nconnect cancellation: {300 - done} of 300 cancelled, pool {state}")


async def test_cancelled_token_waiters_leave_no_debt() -> None:
    """200 callers cancelled while queued for rate tokens: the next call gets the next token.

    ``rate_limit=50`` on the sandbox's virtual clock: the 200 would need 4 s of
    tokens; they are cancelled at 0.21 s. Catches: a bucket that hands each
    waiter a future slot and does not take it back on cancellation (the next
    call would wait ~4 s behind the cancelled ones), or a lock or queue entry
    left behind by a cancelled waiter (the next call hangs: the real-time guard).
    """
    sandbox = Sandbox(autojump=True)
    clock = sandbox.clock
    assert isinstance(clock, AutojumpClock)
    async with sandbox.client(rate_limit=50) as client:
        with anyio.fail_after(REAL_SECONDS):
            async with anyio.create_task_group() as group:
                for _ in range(200):
                    group.start_soon(client.get_balances)
                await clock.sleep(0.21)  # between two tokens: a waiter is mid-sleep
                group.cancel_scope.cancel()
            sent = len(sandbox.exchanges)
            await client.get_balances()
    arrivals = arrival_us(sandbox)
    print(f"\ncancelled token waiters: {200 - sent} cancelled, next call at {arrivals[-1]} us")
    assert arrivals == [i * 20_000 for i in range(sent + 1)]  # one token every 20 ms, as before
    assert sent == 11  # 0 to 0.2 s; the rest were still waiting for a token when cancelled


# ---------------------------------------------------------------------- B. max_concurrency


@pytest.mark.parametrize(("limit", "tasks", "delay"), [(5, 150, 0.02), (1, 100, 0.01)])
async def test_max_concurrency_is_reached_never_exceeded(
    limit: int, tasks: int, delay: float
) -> None:
    """``max_concurrency=N`` with many tasks: the server sees exactly N at a time at most.

    Catches: no limiter (peak = pool size), a limiter released before the reply
    is read or shared per task (peak > N), a limiter stuck below N (peak < N).
    """
    with FaultServer(delay=delay) as server:
        async with AsyncClient(server.url, TOKEN, limits=LIMITS, max_concurrency=limit) as client:
            results = await gather(
                [partial(client.request, "GET", f"api/c/{i}") for i in range(tasks)]
            )
            assert results == [OK] * tasks
            assert server.count("GET", "/api/c/") == tasks
            assert server.peak_in_flight == limit
            # No more connections than slots: a connection goes back to the pool
            # before its slot is given to the next request.
            assert server.connections_accepted <= limit
            print(f"\nmax_concurrency={limit}: peak in flight {server.peak_in_flight}")
        assert server.errors == []


async def test_client_limit_wins_over_place_orders() -> None:
    """``place_orders(max_concurrency=50)`` on a client capped at 4: 4 in flight at most.

    Catches: place_orders bypassing the client's limiter (peak 50).
    """
    sandbox = Sandbox()
    with FaultServer(app=sandbox.app, delay=0.02) as server:
        async with AsyncClient(server.url, sandbox.token, max_concurrency=4) as client:
            results = await client.place_orders([order(i) for i in range(60)], max_concurrency=50)
        assert all(isinstance(result, Order) for result in results), results
        assert server.count("POST", "/api/orders/") == 60
        assert server.peak_in_flight == 4
        assert server.errors == []
    print(f"\nplace_orders(50) on a client capped at 4: peak in flight {server.peak_in_flight}")


async def test_retries_and_lookups_respect_max_concurrency() -> None:
    """Retried GETs, resent orders and reconciliation lookups all count against the cap.

    Catches: a retry or a ``GET /api/orders/?custom_order_ids=`` lookup that is
    sent outside the limiter (peak > 3).
    """
    sandbox = Sandbox()
    faults = [
        Fault("status", status=503, method="GET", path="/api/balances/"),  # GET retried
        Fault("status", status=503, method="POST", path="/api/orders/"),  # not placed: resent
        # placed, then a 500: looked up and found
        Fault("status_after_forward", status=500, method="POST", path="/api/orders/"),
    ]
    with FaultServer(app=sandbox.app, delay=0.01) as server:
        server.set_random(0.3, faults, seed=7)
        async with AsyncClient(
            server.url, sandbox.token, max_concurrency=3, max_retries=6, backoff=Backoff.none()
        ) as client:
            balances: list[Any] = []

            async def read(_: int) -> None:
                balances.append(await client.get_balances(account_names=["mock"]))

            async with anyio.create_task_group() as group:
                for i in range(30):
                    group.start_soon(read, i)
                placed = await client.place_orders([order(i, "retry") for i in range(40)])
        assert len(balances) == 30
        assert all(isinstance(result, Order) for result in placed), placed
        assert len({result.id for result in placed if isinstance(result, Order)}) == 40
        lookups = server.count("GET", "/api/orders/?")
        posts = server.count("POST", "/api/orders/")
        gets = server.count("GET", "/api/balances/")
        assert lookups > 0
        assert posts > 40
        assert gets > 30
        assert server.peak_in_flight == 3
        assert server.errors == []
    print(
        f"\nretries under max_concurrency=3: {posts} POSTs, {lookups} lookups, {gets} GETs, "
        f"faults {collections.Counter(server.faults_applied)}, peak {server.peak_in_flight}"
    )


async def test_backoff_does_not_hold_a_slot(server: FaultServer) -> None:
    """A call sleeping in backoff leaves its slot to others (``max_concurrency=1``).

    Catches: a slot held across the backoff sleep (the second call would have to
    wait for the first one's retry: the order would be first, first, second).
    """
    server.plan(Fault("status", status=503, path="/api/first"))
    async with AsyncClient(
        server.url,
        TOKEN,
        max_concurrency=1,
        max_retries=1,
        backoff=Backoff(initial=0.5, maximum=0.5, jitter=False),
    ) as client:
        results: dict[str, Any] = {}

        async def call(name: str) -> None:
            results[name] = await client.request("GET", f"api/{name}")

        async with anyio.create_task_group() as group:
            group.start_soon(call, "first")
            assert await wait_until(lambda: bool(server.faults_applied), 5)  # first got its 503
            group.start_soon(call, "second")
    assert results == {"first": OK, "second": OK}
    assert [target for _, target, _ in server.requests] == [
        "/api/first",
        "/api/second",
        "/api/first",
    ]


# ---------------------------------------------------------------------- C. rate_limit
#
# Counted on virtual time, exactly: the sandbox's in-process client waits for its
# tokens on the sandbox's AutojumpClock, and every request is recorded with its
# virtual arrival time. A rate per wall-clock second would measure the machine.


async def test_rate_limit_holds_over_five_seconds() -> None:
    """``rate_limit=40`` shared by 20 tasks hammering for 5 s: one request every 25 ms.

    Catches: a bucket per task (20 requests at once, 20x the rate), one that
    saves up more than its burst (several at the start), a wrong refill rate
    (the spacing is off), a stalled bucket (a gap).
    """
    sandbox = Sandbox(autojump=True)
    await hammer(sandbox, rate=40.0, seconds=5.41)  # between two tokens: no tie to break
    arrivals = arrival_us(sandbox)
    in_five = sum(1 for t in arrivals if t < 5_000_000)
    print(f"\nrate_limit=40: {in_five} requests in the first 5 virtual seconds")
    assert in_five == 200
    assert arrivals == [i * 25_000 for i in range(217)]  # 0 to 5.4 s


async def test_rate_limit_holds_at_a_high_rate() -> None:
    """``rate_limit=250`` (burst 1) for 2 s on a loop that wakes 1 ms late: 500 requests.

    Catches: a bucket that loses the time it oversleeps. An event loop wakes a
    sleeper a little late (~1 ms); a bucket that refills from the wake-up time
    and caps at its burst of 1 loses that time on every token, so the achieved
    rate falls further below the limit the higher the limit (here a token
    every 5 ms instead of 4: 200/s). The clock below is that loop, made exact.
    """
    sandbox = Sandbox(clock=LateClock())
    await hammer(sandbox, rate=250.0, seconds=2.2025)  # ends at 2.2035 s: between two tokens
    arrivals = arrival_us(sandbox)
    counted = sum(1 for t in arrivals if t < 2_000_000)
    print(f"\nrate_limit=250, waking 1 ms late: {counted} requests in the first 2 virtual s")
    # The first token is there at once; each next one is due 4 ms after the one
    # before and arrives 1 ms after it is due, the lateness not carried over.
    assert counted == 500
    assert arrivals == [0] + [i * 4_000 + LATE_US for i in range(1, 551)]  # to 2.201 s


async def test_rate_limit_counts_every_retry() -> None:
    """Half the attempts get a 503 and are retried at once: every attempt takes a token.

    Catches: retries that skip the bucket (a retry would arrive in the same
    instant as the attempt it repeats, not 20 ms later).
    """
    rate = 50.0
    sandbox = Sandbox(autojump=True)
    flaky = Flaky(sandbox, share=0.5, seed=3)
    async with sandbox.client(
        rate_limit=rate, max_retries=10, backoff=Backoff.none(), transport=flaky
    ) as client:
        with anyio.fail_after(REAL_SECONDS):
            results = await gather([client.get_balances for _ in range(20)])
    assert all("mock" in balances for balances in results)
    statuses = collections.Counter(exchange.status for exchange in sandbox.exchanges)
    print(f"\nretries under rate_limit=50: attempts {dict(statuses)}")
    assert statuses[200] == 20
    assert statuses[503] == flaky.failed > 10  # retries happened
    assert arrival_us(sandbox) == [i * 20_000 for i in range(20 + flaky.failed)]


async def test_rate_limit_counts_every_retry_over_a_real_connection(
    server: FaultServer,
) -> None:
    """Through a real server, 503s and dropped connections: one token per attempt sent.

    Counts only, no timing: the client waits on a :class:`StepTimer`, so each
    token past the first is one wait, and the server counts the attempts it got.
    Catches: a retry after a connection error (or a 503) that skips the bucket
    (more attempts than tokens), or a token taken twice per attempt (fewer).
    """
    rate = 50.0
    server.set_random(
        0.5,
        [Fault("status", status=503), Fault("reset_before_reply"), Fault("close_before_reply")],
        seed=3,
    )
    timer = StepTimer()
    async with AsyncClient(
        server.url, TOKEN, rate_limit=rate, max_retries=10, backoff=Backoff.none()
    ) as client:
        client._timer = timer
        with anyio.fail_after(REAL_SECONDS):
            results = await gather(
                [partial(client.request, "GET", f"api/r/{i}") for i in range(20)]
            )
    assert results == [OK] * 20
    attempts = len(server.requests)
    faults = collections.Counter(server.faults_applied)
    print(f"\nretries over a real connection: {attempts} attempts, faults {dict(faults)}")
    assert set(faults) == {"status", "reset_before_reply", "close_before_reply"}
    assert attempts == 20 + faults.total()
    # Tokens after the first came one wait each, due 20 ms apart.
    assert timer.deadlines == pytest.approx([i / rate for i in range(1, attempts)], abs=1e-9)


async def test_rate_limit_shared_by_two_place_orders() -> None:
    """Two ``place_orders`` at once on a client with ``rate_limit=50``: 50/s together.

    Catches: a limiter per call (two buckets: two orders in each 20 ms, 100/s).
    """
    rate = 50.0
    sandbox = Sandbox(autojump=True)
    async with sandbox.client(rate_limit=rate) as client:
        batches: dict[str, list[Any]] = {}

        async def place(name: str) -> None:
            batches[name] = await client.place_orders([order(i, name) for i in range(30)])

        with anyio.fail_after(REAL_SECONDS):
            async with anyio.create_task_group() as group:
                group.start_soon(place, "a")
                group.start_soon(place, "b")
    assert all(isinstance(result, Order) for batch in batches.values() for result in batch)
    assert [exchange.method for exchange in sandbox.exchanges] == ["POST"] * 60
    assert arrival_us(sandbox) == [i * 20_000 for i in range(60)]


@pytest.mark.parametrize("limit", ["rate_limit", "max_concurrency"])
async def test_closing_the_client_ends_every_wait_for_its_limits_at_once(limit: str) -> None:
    """Calls queued for the client's limits learn of its close now, not at their turn.

    Each ends in ClientClosedError and sends nothing. The waits would
    otherwise outlast the real-time guard: a rate token every 100 s, or the
    one slot held by a call the server keeps waiting on a virtual clock that
    nobody moves.
    """
    sandbox = Sandbox()
    if limit == "rate_limit":
        client = sandbox.client(rate_limit=0.01, max_retries=0)
    else:
        sandbox.faults.latency = 30  # on a clock that stands still: held for ever
        client = sandbox.client(max_concurrency=1, max_retries=0, timeout=60)
    refused: list[ClientClosedError] = []
    answered: list[object] = []

    async def call() -> None:
        try:
            answered.append(await client.get_balances())
        except ClientClosedError as exc:
            refused.append(exc)

    with anyio.fail_after(REAL_SECONDS):
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(call)
            for _ in range(100):  # every call started: one through, four queued
                await anyio.lowlevel.checkpoint()
            assert not refused
            await client.aclose()
            while len(refused) < 4:
                await anyio.lowlevel.checkpoint()
            group.cancel_scope.cancel()  # the call the server still holds, if any
    for exc in refused:
        assert "closed while this call waited to be sent" in str(exc)
    assert len(sandbox.exchanges) == (1 if limit == "rate_limit" else 0)
    with pytest.raises(ClientClosedError):
        await client.get_balances()


# ---------------------------------------------------------------------- D. validation


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_concurrency", 0),
        ("max_concurrency", -3),
        ("max_concurrency", 2.5),
        ("max_concurrency", True),
        ("max_concurrency", "4"),
        ("rate_limit", 0),
        ("rate_limit", -1.0),
        ("rate_limit", float("nan")),
        ("rate_limit", float("inf")),
        ("rate_limit", "10"),
        ("rate_limit", True),
        ("rate_limit_burst", 0),
        ("rate_limit_burst", -1),
        ("rate_limit_burst", True),
        ("rate_limit_burst", "2"),
        ("rate_limit_burst", 1.5),
    ],
)
async def test_bad_limit_options_are_configuration_errors(option: str, value: Any) -> None:
    """A bad limit fails at construction, naming the option and the value.

    Catches: a limit accepted and silently ignored (or failing later, mid-request).
    """
    with pytest.raises(ConfigurationError) as caught:
        AsyncClient("http://127.0.0.1:9/", TOKEN, **{option: value})
    assert option in str(caught.value)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize("value", [-1, 1.5, True, "2"])
async def test_bad_per_call_max_retries_is_rejected_before_sending(
    server: FaultServer, value: Any
) -> None:
    """``max_retries=`` per call must be an int >= 0; nothing is sent otherwise."""
    async with AsyncClient(server.url, TOKEN) as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.request("GET", "api/x", max_retries=value)
        with pytest.raises(RequestValidationError) as caught_order:
            await client.get_order("abc", max_retries=value)
    for exc in (caught.value, caught_order.value):
        assert isinstance(exc, TaaSError)
        assert "max_retries" in exc.errors, exc.errors
        assert repr(value) in str(exc)
    assert server.requests == []


async def test_good_limit_options_are_accepted(server: FaultServer) -> None:
    """The smallest sensible values work, and None means no limit."""
    for options in (
        {"max_concurrency": 1},
        {"max_concurrency": None, "rate_limit": None},
        {"rate_limit": 1000, "rate_limit_burst": 5},
        {"rate_limit": 0.5},
    ):
        async with AsyncClient(server.url, TOKEN, **options) as client:
            assert await client.request("GET", "api/ok", max_retries=0) == OK
    assert server.count("GET", "/api/ok") == 4
