"""Resilience under load: cancellation, ``max_concurrency``, ``rate_limit``.

Every test talks to a real HTTP/1.1 server on 127.0.0.1 (``tests/faultserver.py``,
its own thread and event loop) on asyncio and on trio. Limits are measured on the
server side (``peak_in_flight``, ``arrivals``), which the client cannot flatter:
the server counts a request from the moment it is fully received until its reply
is fully written (or its connection closes), so its count is never more than the
number of requests the client really has in flight.

The connection pool is the client's default transport (``H11PoolTransport``);
its private counters are read to prove nothing leaked:

- ``_conns``: every established connection (idle or in use);
- ``_n_idle``: the idle ones (so ``len(_conns) - _n_idle`` are in use);
- ``_n_open``: the pool slots taken (connections open or being opened);
- ``_waiters``: requests waiting for a connection (``abandoned`` once cancelled).
"""

from __future__ import annotations

import collections
import gc
import random
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any

import anyio
import httpx
import pytest
from faultserver import Fault, FaultServer

from taas_async import (
    AsyncClient,
    Backoff,
    ConfigurationError,
    InternalServerError,
    Order,
    PlaceOrderRequest,
    RequestValidationError,
    TaaSError,
)
from taas_async._transports import H11PoolTransport
from taas_async.sandbox import Sandbox

pytestmark = pytest.mark.anyio

TOKEN = "tok-resilience-limits"
MAX_CONNECTIONS = 32
LIMITS = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
OK = {"ok": True}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy in the environment would swap the default transport for httpx's own."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)


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


def windows(arrivals: list[float], width: float) -> tuple[int, int]:
    """Most and fewest arrivals in a window of ``width`` s starting at any arrival.

    Only windows that end before the last arrival count for the fewest.
    """
    arrivals = sorted(arrivals)
    most, fewest = 0, len(arrivals)
    end = 0
    for start, t in enumerate(arrivals):
        while end < len(arrivals) and arrivals[end] < t + width:
            end += 1
        most = max(most, end - start)
        if t + width <= arrivals[-1]:
            fewest = min(fewest, end - start)
    return most, fewest


def check_span(arrivals: list[float], rate: float, burst: int = 1) -> float:
    """First to last arrival matches the rate: within 10% (+ 0.1 s of scheduling slack)."""
    span = max(arrivals) - min(arrivals)
    expected = (len(arrivals) - burst) / rate
    assert 0.9 * expected <= span <= 1.1 * expected + 0.1, (len(arrivals), span, expected)
    return span


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
    more than its burst by cancelled waiters (the next 100 arrive too fast); a
    cancellation turned into an error. (Token debt left by cancelled waiters:
    ``test_cancelled_token_waiters_leave_no_debt``.)
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

        # The next 100 requests all succeed, within the limits.
        await anyio.sleep(0.05)  # a token bucket refills to its burst
        server.reset_stats()
        started = time.monotonic()
        with anyio.fail_after(20):
            results = await gather(
                [partial(client.request, "GET", f"api/after/{i}") for i in range(100)]
            )
        elapsed = time.monotonic() - started
        assert results == [OK] * 100
        assert server.count("GET", "/api/after/") == 100
        if "max_concurrency" in options:
            assert server.peak_in_flight == options["max_concurrency"]
        else:
            assert server.peak_in_flight <= MAX_CONNECTIONS
        if "rate_limit" in options:
            rate, burst = options["rate_limit"], options["rate_limit_burst"]
            check_span(server.arrivals, rate, burst)
            # A bucket still owing the cancelled waiters' reservations would make the
            # first of these wait for seconds.
            assert elapsed <= 1.1 * (100 - burst) / rate + 0.5, elapsed
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


async def test_cancelled_token_waiters_leave_no_debt(server: FaultServer) -> None:
    """200 callers cancelled while queued for rate tokens: the next call goes at once.

    ``rate_limit=50``: the 200 would need 4 s of tokens. Catches: a bucket that
    hands each waiter a future slot and does not take it back on cancellation
    (the next call would wait ~4 s behind the cancelled ones), or a lock or
    queue entry left behind by a cancelled waiter (the next call hangs).
    """
    rate = 50.0
    async with AsyncClient(server.url, TOKEN, rate_limit=rate) as client:
        with anyio.move_on_after(0.2):
            async with anyio.create_task_group() as group:
                for index in range(200):
                    group.start_soon(client.request, "GET", f"api/queued/{index}")
        sent = server.count("GET", "/api/queued/")
        assert sent < 50  # most were still waiting for a token when cancelled
        started = time.monotonic()
        with anyio.fail_after(5):
            assert await client.request("GET", "api/next") == OK
        waited = time.monotonic() - started
    print(f"\ncancelled token waiters: {200 - sent} cancelled, next call after {waited:.3f} s")
    # One token interval (20 ms) plus the request itself; generous for a loaded machine.
    assert waited < 0.5, waited


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


async def test_rate_limit_holds_over_five_seconds(server: FaultServer) -> None:
    """``rate_limit=40`` shared by 20 tasks hammering for 5 s: 200 requests within 10%.

    Catches: a bucket per task (20x the rate), one that saves up more than its
    burst (a burst at the start: any 1 s window over 45), a wrong refill rate
    (the 5 s count off by more than 10%), a stalled bucket (a 1 s window under 35).
    """
    rate = 40.0
    calls = 0
    async with AsyncClient(server.url, TOKEN, rate_limit=rate) as client:

        async def hammer() -> None:
            nonlocal calls
            while True:
                assert await client.request("GET", "api/rate") == OK
                calls += 1

        with anyio.move_on_after(5.4):
            async with anyio.create_task_group() as group:
                for _ in range(20):
                    group.start_soon(hammer)
    arrivals = sorted(server.arrivals)
    start = arrivals[0]
    in_five = sum(1 for t in arrivals if t < start + 5.0)
    most, fewest = windows(arrivals, 1.0)
    print(
        f"\nrate_limit=40: {in_five} requests in the first 5 s ({in_five / 5:.1f}/s), "
        f"1 s windows {fewest}..{most}, {calls} calls done"
    )
    assert 0.9 * 5 * rate <= in_five <= 1.1 * 5 * rate, in_five
    assert most <= 1.1 * rate + 1, most
    assert fewest >= 0.9 * rate - 1, fewest


async def test_rate_limit_holds_at_a_high_rate() -> None:
    """``rate_limit=250`` (burst 1) for 2 s: 500 requests within 10%.

    Catches: a bucket that loses the time it oversleeps. The event loop wakes a
    sleeper a little late (~1 ms); a bucket that refills from the wake-up time
    and caps at its burst of 1 loses that time on every token, so the achieved
    rate falls further below the limit the higher the limit (-14% at 200/s).
    """
    rate, seconds = 250.0, 2.0
    with FaultServer(delay=0.005) as server:
        async with AsyncClient(server.url, TOKEN, rate_limit=rate) as client:

            async def hammer() -> None:
                while True:
                    assert await client.request("GET", "api/fast") == OK

            with anyio.move_on_after(seconds + 0.3):
                async with anyio.create_task_group() as group:
                    for _ in range(20):
                        group.start_soon(hammer)
        arrivals = sorted(server.arrivals)
        assert server.errors == []
    counted = sum(1 for t in arrivals if t < arrivals[0] + seconds)
    print(f"\nrate_limit=250: {counted} requests in the first 2 s ({counted / seconds:.1f}/s)")
    assert 0.9 * seconds * rate <= counted <= 1.1 * seconds * rate, counted


async def test_rate_limit_counts_every_retry(server: FaultServer) -> None:
    """Half the attempts get a 503 and are retried at once: every attempt takes a token.

    Catches: retries that skip the bucket (they would arrive faster than 50/s).
    """
    rate = 50.0
    server.set_random(0.5, [Fault("status", status=503)], seed=3)
    async with AsyncClient(
        server.url, TOKEN, rate_limit=rate, max_retries=10, backoff=Backoff.none()
    ) as client:
        results = await gather([partial(client.request, "GET", f"api/r/{i}") for i in range(20)])
    assert results == [OK] * 20
    arrivals = server.arrivals
    assert len(arrivals) > 30  # retries happened
    span = check_span(arrivals, rate)
    print(f"\nretries under rate_limit=50: {len(arrivals)} attempts in {span:.3f} s")


async def test_rate_limit_shared_by_two_place_orders() -> None:
    """Two ``place_orders`` at once on a client with ``rate_limit=50``: 50/s together.

    Catches: a limiter per call (two buckets: 100/s).
    """
    rate = 50.0
    sandbox = Sandbox()
    with FaultServer(app=sandbox.app, delay=0.005) as server:
        async with AsyncClient(server.url, sandbox.token, rate_limit=rate) as client:
            batches: dict[str, list[Any]] = {}

            async def place(name: str) -> None:
                batches[name] = await client.place_orders([order(i, name) for i in range(30)])

            async with anyio.create_task_group() as group:
                group.start_soon(place, "a")
                group.start_soon(place, "b")
        assert all(isinstance(result, Order) for batch in batches.values() for result in batch)
        arrivals = server.arrivals
        assert len(arrivals) == 60
        span = check_span(arrivals, rate)
        assert server.errors == []
    print(f"\ntwo place_orders under rate_limit=50: 60 orders in {span:.3f} s")


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
