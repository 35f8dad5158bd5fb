"""The sandbox's clock that jumps: ``Sandbox(autojump=True)`` and the SDK's waits on it.

Every SDK wait (backoff, ``Retry-After``, the rate limit, ``watch_order``'s
polling) and the sandbox's fault latency run on the sandbox's clock through
its in-process client; time jumps to the next deadline whenever everything
waits. Nothing here sleeps in real time: a test that did would take hours.
How fast it is in wall time is measured by ``benchmarks/autojump.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import itertools
import sys
import time
from decimal import Decimal

import anyio
import anyio.lowlevel
import pytest

from taas_async import (
    APITimeoutError,
    AsyncClient,
    Backoff,
    OrderStatus,
    PlaceOrderRequest,
    WaitTimeoutError,
)
from taas_async.sandbox import AccountSpec, AutojumpClock, Sandbox, VirtualClock
from taas_async.sandbox import _render as render
from taas_async.sandbox._clock import _task_id

pytestmark = pytest.mark.anyio

HOUR = 3600
#: A gross bound on real time: a test that polled on real time would need an hour.
REAL_SECONDS = 5


def twap(seconds: int, qty: int = 1, account: str = "mock") -> PlaceOrderRequest:
    return PlaceOrderRequest(
        accounts=[account],
        pair="ETH-USDT",
        side="buy",
        duration=seconds,
        base_asset_qty=qty,
        strategy="TWAP",
    )


def elapsed(sandbox: Sandbox, since: dt.datetime) -> float:
    return (sandbox.now() - since).total_seconds()


# --------------------------------------------------------------------------- waiting on orders


async def test_wait_for_order_on_a_one_hour_twap(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    start = sandbox.now()
    began = time.monotonic()
    async with sandbox.client() as client:
        placed = await client.place_order(twap(HOUR))
        with anyio.fail_after(REAL_SECONDS):  # a clock that stood still would hang here
            done = await client.wait_for_order(placed.id)  # polls every (virtual) second
    assert time.monotonic() - began < REAL_SECONDS
    assert done.status is OrderStatus.COMPLETE
    assert done.executed_qty == 1
    assert HOUR <= elapsed(sandbox, start) <= HOUR + 2  # it ended within a poll of its end
    polls = [e for e in sandbox.exchanges if e.method == "GET"]
    assert HOUR <= len(polls) <= HOUR + 2  # one GET a virtual second, as asked


async def test_many_orders_waited_on_at_once_end_at_their_own_times(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    start = sandbox.now()
    seen: dict[str, float] = {}
    async with sandbox.client() as client:
        orders = [await client.place_order(twap(60 * (i + 1))) for i in range(20)]

        async def wait(order_id: str) -> None:
            done = await client.wait_for_order(order_id, poll_interval=5)
            assert done.status is OrderStatus.COMPLETE
            seen[order_id] = elapsed(sandbox, start)

        with anyio.fail_after(REAL_SECONDS):
            async with anyio.create_task_group() as group:
                for order in orders:
                    group.start_soon(wait, order.id)
    for i, order in enumerate(orders):
        assert 60 * (i + 1) <= seen[order.id] <= 60 * (i + 1) + 5
    assert elapsed(sandbox, start) <= 20 * 60 + 5


async def test_a_wait_times_out_on_the_sandbox_clock(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    async with sandbox.client() as client:
        placed = await client.place_order(twap(HOUR))
        start = sandbox.now()
        with pytest.raises(WaitTimeoutError) as caught, anyio.fail_after(REAL_SECONDS):
            await client.wait_for_order(placed.id, timeout=90, poll_interval=10)
    assert elapsed(sandbox, start) == 90  # the deadline cut the last 10 s poll wait short
    assert caught.value.last is not None
    assert caught.value.last.status is OrderStatus.ACTIVE


# --------------------------------------------------------------------------- the client's own waits


async def test_retry_after_passes_on_the_sandbox_clock(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    sandbox.faults.fail_next(1, status=429, headers={"Retry-After": "30"}, method="GET")
    start = sandbox.now()
    async with sandbox.client() as client:
        balances = await client.get_balances()
    assert "mock" in balances
    assert 30 <= elapsed(sandbox, start) < 31
    assert [e.status for e in sandbox.exchanges] == [429, 200]


async def test_backoff_between_retries_passes_on_the_sandbox_clock(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    sandbox.faults.fail_next(2, status=503, method="GET")
    start = sandbox.now()
    backoff = Backoff(initial=10, maximum=100, jitter=False)
    async with sandbox.client(backoff=backoff) as client:
        await client.get_balances()
    assert elapsed(sandbox, start) == backoff.delay(1) + backoff.delay(2)
    arrivals = [e.at for e in sandbox.exchanges]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(arrivals)] == [
        backoff.delay(1),
        backoff.delay(2),
    ]


async def test_the_rate_limit_spaces_requests_on_the_sandbox_clock(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    start = sandbox.now()
    async with sandbox.client(rate_limit=0.5) as client:  # one request every 2 s
        for _ in range(5):
            await client.get_balances()
    arrivals = [(e.at - start).total_seconds() for e in sandbox.exchanges]
    assert arrivals == [0, 2, 4, 6, 8]


async def test_fault_latency_is_virtual(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    sandbox.faults.latency = 45
    start = sandbox.now()
    began = time.monotonic()
    async with sandbox.client(timeout=60) as client:
        await client.get_balances()
        await client.get_balances()
    assert elapsed(sandbox, start) == 90
    assert time.monotonic() - began < REAL_SECONDS


async def test_latency_beyond_the_read_timeout_times_out_on_the_sandbox_clock(
    anyio_backend: str,
) -> None:
    sandbox = Sandbox(autojump=True)
    sandbox.faults.latency = 300
    start = sandbox.now()
    async with sandbox.client(timeout=20, max_retries=0) as client:
        with pytest.raises(APITimeoutError):
            await client.get_balances()
    assert elapsed(sandbox, start) == 20


async def test_advance_by_hand_still_works_and_wakes_sleepers(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    clock = sandbox.clock
    assert isinstance(clock, AutojumpClock)
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(1000)
        woke.append(clock.current_time())

    async with anyio.create_task_group() as group:
        group.start_soon(sleeper)
        while not clock.waiting:  # let it start and register its deadline
            await anyio.lowlevel.checkpoint()
        sandbox.advance(1500)  # past its deadline: it wakes at once, time stays put
    assert woke == [1500]


# --------------------------------------------------------------------------- the clock itself


async def test_a_reset_replays_from_the_start_without_jumping_ahead(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    start = sandbox.now()
    async with sandbox.client(rate_limit=10) as client:
        await client.get_balances()
        sandbox.advance(HOUR)
        await client.get_balances()
        sandbox.reset()
        assert sandbox.now() == start
        placed = await client.place_order(twap(60))  # the rate limit owes nothing
        assert sandbox.now() - start <= dt.timedelta(seconds=0.1)
        done = await client.wait_for_order(placed.id)
    assert done.time_end is not None
    assert done.time_end - start <= dt.timedelta(seconds=61)


async def test_a_wait_pending_across_a_reset_ends_on_the_new_time(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    clock = sandbox.clock
    assert isinstance(clock, AutojumpClock)
    start = sandbox.now()
    sandbox.advance(HOUR)
    woke: list[dt.datetime] = []

    async def sleeper() -> None:
        await clock.sleep(10)
        woke.append(sandbox.now())

    async with anyio.create_task_group() as group:
        group.start_soon(sleeper)
        while not clock.waiting:
            await anyio.lowlevel.checkpoint()
        before = clock.current_time()
        sandbox.reset()
        assert clock.current_time() == before  # the SDK's scale never goes back
    assert woke == [start + dt.timedelta(seconds=10)]


async def test_cancelled_waits_do_not_pile_up(anyio_backend: str) -> None:
    clock = AutojumpClock()
    for _ in range(100):
        with anyio.move_on_after(0):  # cancelled at once: a timeout that never fires
            await clock.sleep(1_000_000)
    assert clock.waiting == 0
    assert len(clock._waiters) <= 2
    await clock.sleep(5)
    assert clock.current_time() == 5


async def test_time_does_not_jump_while_a_request_is_in_flight(anyio_backend: str) -> None:
    clock = AutojumpClock()
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(10)
        woke.append(clock.current_time())

    async with anyio.create_task_group() as group:
        with clock.busy():
            group.start_soon(sleeper)
            for _ in range(50):
                await anyio.lowlevel.checkpoint()
            assert woke == []
            assert clock.current_time() == 0
    assert woke == [10]


async def test_fail_after_ends_a_wait_at_its_own_deadline(anyio_backend: str) -> None:
    clock = AutojumpClock()
    with pytest.raises(TimeoutError), clock.fail_after(30):
        await clock.sleep(100)
    assert clock.current_time() == 30
    with clock.fail_after(30):  # a wait within the deadline is untouched
        await clock.sleep(10)
    assert clock.current_time() == 40


async def test_time_stands_still_while_a_deadline_unwinds_to_its_scope(anyio_backend: str) -> None:
    # The order stream's read: a keep-alive's sleep in one task, a socket read in
    # another, under the watch's deadline. The deadline cuts the sleep; cancelling
    # the read takes turns of the loop that touch no clock. Meanwhile the server's
    # idle deadline (30 s) waits too: time must not jump there before the scope has
    # its TimeoutError (it used to, and the server dropped the stream as idle).
    clock = AutojumpClock()
    landed: float | None = None
    async with anyio.create_task_group() as outer:
        outer.start_soon(clock.sleep, 30)  # the server's idle deadline
        try:
            with clock.fail_after(2):
                try:
                    await clock.sleep(8)  # the next keep-alive, cut at the deadline
                finally:  # unwinding: other waits cancelled, turns that touch no clock
                    with anyio.CancelScope(shield=True):
                        for _ in range(20):
                            await anyio.lowlevel.checkpoint()
        except TimeoutError:
            landed = clock.current_time()
        outer.cancel_scope.cancel()
    assert landed == 2
    await clock.sleep(1)  # the hold ended with the scope: time moves again
    assert clock.current_time() == 3


async def test_an_inner_scope_does_not_take_an_outer_deadline(anyio_backend: str) -> None:
    clock = AutojumpClock()
    inner_timed_out = False

    async def nested() -> None:
        nonlocal inner_timed_out
        with clock.fail_after(5):
            try:
                with clock.fail_after(50):
                    await clock.sleep(100)
            except TimeoutError:
                inner_timed_out = True  # would be wrong: the outer deadline came first
                raise

    with pytest.raises(TimeoutError):
        await nested()
    assert not inner_timed_out
    assert clock.current_time() == 5


async def test_a_deadline_binds_only_its_own_clocks_waits(anyio_backend: str) -> None:
    ours, other = AutojumpClock(), AutojumpClock()
    other.advance(1000)  # another sandbox's time, on another scale
    with ours.fail_after(30):
        await other.sleep(100)  # not ours: our deadline does not cut it short
    assert other.current_time() == 1100
    assert ours.current_time() == 0


async def test_sleepers_wake_in_deadline_order(anyio_backend: str) -> None:
    clock = AutojumpClock()
    order: list[tuple[int, float]] = []

    async def sleeper(n: int, seconds: float) -> None:
        await clock.sleep(seconds)
        order.append((n, clock.current_time()))

    async with anyio.create_task_group() as group:
        for n, seconds in enumerate([30, 10, 20, 10]):
            group.start_soon(sleeper, n, seconds)
    assert sorted(order, key=lambda x: x[1]) == order
    assert sorted(order) == [(0, 30), (1, 10), (2, 20), (3, 10)]


def test_autojump_excludes_the_other_clocks() -> None:
    with pytest.raises(ValueError, match="at most one of clock, speed and autojump"):
        Sandbox(autojump=True, speed=60)
    with pytest.raises(ValueError, match="at most one"):
        Sandbox(autojump=True, clock=VirtualClock())
    with pytest.raises(TypeError, match="autojump must be True or False"):
        Sandbox(autojump="yes")  # type: ignore[arg-type]


async def test_without_autojump_the_clock_moves_only_by_hand(anyio_backend: str) -> None:
    sandbox = Sandbox()
    start = sandbox.now()
    async with sandbox.client() as client:
        placed = await client.place_order(twap(HOUR))
        with pytest.raises(WaitTimeoutError):  # real time: 0.2 s pass, the sandbox's none
            await client.wait_for_order(placed.id, timeout=0.2, poll_interval=0.05)
    assert sandbox.now() == start


# --------------------------------------------------------------------------- the in-process reply


def test_an_unchanged_order_is_answered_from_its_kept_json() -> None:
    sandbox = Sandbox()
    app = sandbox.app.api

    def fresh(order_id: str) -> bytes:
        return render.dumps(render.order(sandbox.engine.orders[order_id]))

    def served(order_id: str) -> bytes:
        status, body = app.get_order(None, order_id)  # type: ignore[arg-type]
        assert status == 200
        assert isinstance(body, bytes)
        return body

    order = sandbox.engine.place_order(twap(600, qty=3))
    steps = [
        lambda: None,
        lambda: sandbox.advance(1),
        lambda: sandbox.advance(100),
        lambda: sandbox.engine.amend_order(_amend(order.id, base_asset_qty=Decimal(4))),
        # Two amendments in the same instant: the second must not be served the first's JSON.
        lambda: sandbox.engine.amend_order(_amend(order.id, base_asset_qty=Decimal("4.0"))),
        lambda: sandbox.engine.amend_order(_amend(order.id, base_asset_qty=Decimal(5))),
        lambda: sandbox.engine.pause_order(order.id),
        lambda: sandbox.engine.resume_order(order.id),
        lambda: sandbox.advance(60),
        lambda: sandbox.engine.cancel_order(order.id),
        lambda: sandbox.advance(600),
    ]
    for step in steps:
        step()
        first = served(order.id)
        assert first == fresh(order.id)
        assert served(order.id) is first  # asked again unchanged: the very JSON kept


def _amend(order_id: str, **changes: object) -> object:
    from taas_async import AmendOrderRequest

    return AmendOrderRequest(order_id=order_id, changes=changes)


# --------------------------------------------------------------------------- ergonomics


def test_sandbox_client_takes_async_clients_keyword_arguments() -> None:
    ours = inspect.signature(Sandbox.client).parameters
    theirs = inspect.signature(AsyncClient.__init__).parameters
    # Everything but what the sandbox itself decides (where, who, and how it is reached).
    wired = {"self", "url", "auth_token", "http_client", "limits", "allow_insecure_http"}
    wired |= {"verify", "cert", "trust_env", "proxy"}  # it is reached in process
    assert set(ours) - {"self"} == set(theirs) - wired
    for name, param in ours.items():
        if name != "self":
            assert param.kind is inspect.Parameter.KEYWORD_ONLY
            assert param.default == theirs[name].default, name
            assert param.annotation == theirs[name].annotation, name


async def test_sandbox_client_passes_its_options_on(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    async with sandbox.client(max_retries=0, extra_headers={"X-Desk": "7"}) as client:
        assert client.max_retries == 0
        await client.get_balances()
    assert sandbox.exchanges[-1].headers["x-desk"] == "7"


def test_accounts_take_an_account_spec_or_a_tuple() -> None:
    sandbox = Sandbox(
        accounts={
            "desk": AccountSpec("Binance", {"USDT": 50_000, "BTC": "1.5"}, account_id="acc-1"),
            "old": ("OKX", {"USDT": 10}),
        }
    )
    desk = sandbox.engine.accounts["desk"]
    assert (desk.exchange, desk.id, desk.tokens) == (
        "Binance",
        "acc-1",
        {"USDT": Decimal(50_000), "BTC": Decimal("1.5")},
    )
    assert sandbox.engine.accounts["old"].tokens == {"USDT": Decimal(10)}


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        (
            {"desk": "Binance"},
            r"accounts\['desk'\] must be AccountSpec\(exchange, \{token: amount\}\)",
        ),
        ({"desk": ("Binance",)}, r"accounts\['desk'\] must be AccountSpec"),
        ({"desk": ("Binance", {"USDT": 1}, "x")}, r"accounts\['desk'\] must be AccountSpec"),
        ({"desk": (7, {"USDT": 1})}, r"accounts\['desk'\]: the exchange must be a non-empty str"),
        (
            {"desk": ("Binance", [("USDT", 1)])},
            r"\]: the holdings must be a mapping",
        ),
        ({"desk": ("Binance", {"USDT": "lots"})}, r"accounts\['desk'\]\['USDT'\]"),
        ({"desk": ("Binance", {"USDT": float("nan")})}, r"accounts\['desk'\]\['USDT'\]"),
        ({"": ("Binance", {})}, r"each key is an account name"),
        (["desk"], r"accounts must be a mapping"),
    ],
)
def test_a_wrong_accounts_shape_says_what_is_expected(accounts: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Sandbox(accounts=accounts)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- whose wait it is


async def test_the_clock_tells_tasks_apart_as_anyio_does(anyio_backend: str) -> None:
    ids: list[tuple[int, int]] = []

    async def record() -> None:
        ids.append((_task_id(), anyio.get_current_task().id))
        await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(record)
    await record()
    assert all(ours == anyio_id for ours, anyio_id in ids)
    assert len({ours for ours, _ in ids}) == 4


@pytest.mark.parametrize("trio_loaded", [False, True])
def test_outside_any_task_the_clock_says_so(
    trio_loaded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a plain callback of the loop: a RuntimeError, whether trio is loaded or not."""
    if not trio_loaded:  # as on a machine without trio: nothing to import
        monkeypatch.delitem(sys.modules, "trio.lowlevel", raising=False)
        monkeypatch.setitem(sys.modules, "trio", None)  # an import of trio would fail
    else:
        pytest.importorskip("trio.lowlevel")
    raised: list[BaseException] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def callback() -> None:
            try:
                _task_id()
            except BaseException as exc:
                raised.append(exc)
            done.set_result(None)

        loop.call_soon(callback)
        await done

    asyncio.run(main())
    assert len(raised) == 1
    assert type(raised[0]) is RuntimeError


def test_trio_tasks_in_guest_mode_on_asyncio_are_told_apart() -> None:
    # Under trio's guest mode asyncio.current_task() is None for every trio task:
    # taken as the id, it would merge their holds on the clock and stop it jumping.
    trio = pytest.importorskip("trio")
    ids: list[tuple[int, int]] = []

    async def record() -> None:
        ids.append((_task_id(), anyio.get_current_task().id))
        await trio.lowlevel.checkpoint()

    async def trio_main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(record)
            nursery.start_soon(record)

    async def host() -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[object] = loop.create_future()
        trio.lowlevel.start_guest_run(
            trio_main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            done_callback=lambda outcome: done.set_result(outcome.unwrap()),
        )
        await asyncio.wait_for(done, 10)

    asyncio.run(host())
    assert len(ids) == 2
    assert all(ours == anyio_id for ours, anyio_id in ids)
    assert ids[0][0] != ids[1][0]
