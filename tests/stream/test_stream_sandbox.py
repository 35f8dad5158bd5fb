"""The order stream end to end against the sandbox: in process on its jumping clock, and over TCP.

What the stream promises, on the venue double: 100 orders placed with
``place_orders`` followed to COMPLETE on one stream, every update in order
per order; the stream dropped mid-run and every terminal state still
delivered; a bad token gives ``AuthenticationError``; keep-alives hold a
quiet stream open past the server's 30 s idle limit (sandbox time). On
asyncio, trio and uvloop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from decimal import Decimal
from typing import Any

import anyio
import pytest
from request_kwargs import sandbox_order_request

from taas_async import (
    AsyncClient,
    AuthenticationError,
    Order,
    OrderStatus,
    OrderUpdate,
    OrderUpdateType,
    PlaceOrderRequest,
    StreamUnavailableError,
)
from taas_async.sandbox import Sandbox, SandboxServer

pytestmark = pytest.mark.anyio

#: Real seconds any one test may take: the jumping clock makes sandbox time free.
LIMIT = 20


def twaps(n: int, duration: int = 60) -> list[PlaceOrderRequest]:
    return [sandbox_order_request(base_asset_qty="0.01", duration=duration) for _ in range(n)]


def in_order(updates: list[Order]) -> None:
    """Per order: fills never go back, and nothing follows its end."""
    by_order: dict[str, list[Order]] = {}
    for order in updates:
        by_order.setdefault(str(order.id), []).append(order)
    for snapshots in by_order.values():
        filled = [o.executed_qty or Decimal(0) for o in snapshots]
        assert filled == sorted(filled), filled
        ends = [i for i, o in enumerate(snapshots) if o.is_terminal]
        assert ends == [len(snapshots) - 1], [o.status for o in snapshots]


async def test_100_orders_followed_to_complete_on_one_stream(taas_sandbox: Sandbox) -> None:
    async with taas_sandbox.client() as client:
        placed = await client.place_orders(twaps(100))
        orders = [o for o in placed if isinstance(o, Order)]
        assert len(orders) == 100
        seen: list[Order] = []
        with anyio.fail_after(LIMIT):
            async for order in client.watch_orders(orders, stream=True):
                seen.append(order)
    in_order(seen)
    final = {o.id: o for o in seen}
    assert len(final) == 100
    assert {o.status for o in final.values()} == {OrderStatus.COMPLETE}
    assert all(o.executed_qty == Decimal("0.01") for o in final.values())
    # One stream; one list request for the hundred orders' state at the start, and
    # again every 30 s (the stream does not acknowledge a subscription): no GET per order.
    gets = [e for e in taas_sandbox.exchanges if e.method == "GET"]
    assert all(e.path.endswith("/api/orders/") for e in gets)
    assert 1 <= len(gets) <= 1 + 60 // 30


async def test_a_long_twap_is_followed_without_a_drop_between_sparse_updates(
    taas_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # A 30-minute TWAP fills once a minute: between two updates the client must keep
    # the stream alive (every 8 s on the sandbox's jumping clock). The clock used to
    # jump past keep-alives while a read was wound up, and the sandbox dropped the
    # stream as idle (reconnected and resynchronised, but logged four times).
    caplog.set_level(logging.WARNING, logger="taas_async")
    async with taas_sandbox.client() as client:
        (order,) = await client.place_orders(twaps(1, duration=1800))
        assert isinstance(order, Order)
        with anyio.fail_after(LIMIT):
            seen = [o async for o in client.watch_orders([order], stream=True)]
    assert seen[-1].status == OrderStatus.COMPLETE
    assert not [r.getMessage() for r in caplog.records if "reconnect" in r.getMessage()]


async def test_every_update_arrives_in_the_order_the_engine_made_it(
    taas_sandbox: Sandbox,
) -> None:
    async with taas_sandbox.client() as client, client.order_stream() as stream:
        placed = await client.place_orders(twaps(3, duration=5))
        ids = {o.id for o in placed if isinstance(o, Order)}
        kinds: dict[str, list[Any]] = {i: [] for i in ids if i}
        with anyio.fail_after(LIMIT):
            async for update in stream:
                kinds[update.order_id].append(update.update_type)
                if all(k and k[-1] == OrderUpdateType.ORDER_COMPLETED for k in kinds.values()):
                    break
    for sequence in kinds.values():
        assert sequence[:2] == [OrderUpdateType.ORDER_CREATED, OrderUpdateType.ORDER_ACTIVATED]
        assert sequence[-1] == OrderUpdateType.ORDER_COMPLETED
        assert set(sequence[2:-1]) == {OrderUpdateType.ORDER_FILL_RECEIVED}
        assert len(sequence) == 2 + 5 + 1  # one fill a second for 5 s


async def test_a_drop_mid_run_loses_no_terminal_state(taas_sandbox: Sandbox) -> None:
    async with taas_sandbox.client() as client, client.order_stream() as stream:
        placed = await client.place_orders(twaps(20, duration=30))
        ids = {str(o.id) for o in placed if isinstance(o, Order)}
        stream.follow(ids)
        ended: dict[str, OrderUpdate] = {}
        dropped = False
        with anyio.fail_after(LIMIT):
            async for update in stream:
                if not dropped and update.update_type == OrderUpdateType.ORDER_FILL_RECEIVED:
                    # Gone, with no close frame; while it is down the orders run on.
                    assert taas_sandbox.drop_streams() == 1
                    dropped = True
                if update.is_terminal:
                    ended[update.order_id] = update
                if set(ended) == ids:
                    break
        assert stream.reconnects >= 1
    assert {u.order.status for u in ended.values() if u.order} == {OrderStatus.COMPLETE}


async def test_a_bad_token_is_an_authentication_error(taas_sandbox: Sandbox) -> None:
    transport = taas_sandbox.transport()
    client = AsyncClient(
        taas_sandbox.url, "not-the-token", transport=transport, allow_insecure_http=True
    )
    async with client:
        # The 4001 comes while subscribing or on the first read, as the server is quick.
        with anyio.fail_after(LIMIT), pytest.raises(AuthenticationError) as caught:
            async with client.order_stream() as stream:
                await stream.__anext__()
    assert caught.value.status_code == 4001
    assert "not-the-token" not in str(caught.value)


async def test_keep_alives_hold_a_quiet_stream_open_past_30_s(taas_sandbox: Sandbox) -> None:
    clock = taas_sandbox.clock
    async with taas_sandbox.client() as client, client.order_stream() as stream:
        start = taas_sandbox.now()
        # 95 s of sandbox time: three of the server's idle limits.
        with anyio.fail_after(LIMIT), pytest.raises(TimeoutError), client._timer.fail_after(95):
            await stream.__anext__()
        assert (taas_sandbox.now() - start).total_seconds() >= 95
        assert stream.reconnects == 0
        # The same connection still delivers.
        await client.place_order(twaps(1)[0])
        with anyio.fail_after(LIMIT):
            created = await stream.__anext__()
        assert created.update_type == OrderUpdateType.ORDER_CREATED
        assert stream.reconnects == 0
    assert clock is client._timer


async def test_without_keep_alives_the_server_drops_it_at_30_s(taas_sandbox: Sandbox) -> None:
    # The same quiet stream with keep-alives slower than the idle limit: dropped, and
    # (nothing to resync) reconnected: the limit is real, and the client rides it.
    async with taas_sandbox.client() as client, client.order_stream(keepalive=45) as stream:
        with anyio.fail_after(LIMIT), pytest.raises(TimeoutError), client._timer.fail_after(100):
            await stream.__anext__()
        assert stream.reconnects >= 1


async def test_a_sandbox_without_a_stream_is_polled(taas_sandbox: Sandbox) -> None:
    taas_sandbox.faults.stream_refuse = 404
    async with taas_sandbox.client() as client:
        with pytest.raises(StreamUnavailableError):
            async with client.order_stream():
                pass
        placed = await client.place_orders(twaps(3, duration=10))
        orders = [o for o in placed if isinstance(o, Order)]
        with anyio.fail_after(LIMIT):
            seen = [o async for o in client.watch_orders(orders)]
    assert {o.status for o in seen[-3:]} == {OrderStatus.COMPLETE}
    polls = [e for e in taas_sandbox.exchanges if e.path.endswith("/api/orders/")]
    assert len(polls) >= 10  # one list request a second for all three


async def test_over_tcp_the_stream_follows_orders_on_a_fast_clock() -> None:
    with SandboxServer(Sandbox(speed=60)) as server:
        async with AsyncClient(server.url, server.token, allow_insecure_http=True) as client:
            placed = await client.place_orders(twaps(10, duration=60))
            orders = [o for o in placed if isinstance(o, Order)]
            with anyio.fail_after(LIMIT):
                seen = [o async for o in client.watch_orders(orders, stream=True)]
    in_order(seen)
    assert {o.status for o in {o.id: o for o in seen}.values()} == {OrderStatus.COMPLETE}
    gets = [e for e in server.sandbox.exchanges if e.method == "GET"]
    assert len(gets) <= 2  # the state at the start (and a check at 30 s); then only the stream


async def test_orders_that_end_while_the_stream_is_down_arrive_as_resyncs(
    taas_sandbox: Sandbox,
) -> None:
    async with taas_sandbox.client() as client, client.order_stream() as stream:
        placed = await client.place_orders(twaps(5, duration=10))
        orders = [o for o in placed if isinstance(o, Order)]
        stream.follow(orders)
        ended: dict[str, OrderUpdate] = {}
        with anyio.fail_after(LIMIT):
            first_update = await stream.__anext__()
            assert first_update.update_type == OrderUpdateType.ORDER_CREATED
            # Down, and refused (a deploy) for a minute of sandbox time: the
            # 10 s orders all end while nothing can be heard of them.
            taas_sandbox.faults.stream_refuse = 503
            assert taas_sandbox.drop_streams() == 1
            dropped_at = taas_sandbox.now()

            async def reopen() -> None:
                await taas_sandbox.clock.sleep(60)  # type: ignore[attr-defined]
                taas_sandbox.faults.stream_refuse = None

            async with anyio.create_task_group() as group:
                group.start_soon(reopen)
                async for update in stream:
                    if update.is_terminal:
                        ended[update.order_id] = update
                    if len(ended) == len(orders):
                        break
        assert stream.reconnects == 1
    assert {u.update_type for u in ended.values()} == {OrderUpdateType.RESYNC}
    assert {u.order.status for u in ended.values() if u.order} == {OrderStatus.COMPLETE}
    assert (taas_sandbox.now() - dropped_at).total_seconds() >= 60


async def watch_through_a_drop(
    sandbox: Sandbox, *, duration: int, refuse: int | None = None
) -> tuple[list[tuple[dt.datetime, Order]], int]:
    """Watch one TWAP to its end on the stream (polls of 1 s); at its first fill the stream
    is dropped, its reconnects refused with ``refuse`` if given.

    Every snapshot with the sandbox time it came at, and the index of the one at the drop.
    """
    async with sandbox.client() as client:
        [order] = await client.place_orders(twaps(1, duration=duration))
        assert isinstance(order, Order)
        seen: list[tuple[dt.datetime, Order]] = []
        drop = None
        with anyio.fail_after(LIMIT):
            async for snapshot in client.watch_orders([order], poll_interval=1.0, stream=True):
                seen.append((sandbox.now(), snapshot))
                if drop is None and (snapshot.executed_qty or 0) > 0:
                    sandbox.faults.stream_refuse = refuse
                    assert sandbox.drop_streams(1012, "restart") == 1
                    drop = len(seen) - 1
    assert drop is not None
    return seen, drop


async def test_a_watch_polls_every_poll_interval_while_its_stream_is_refused(
    taas_sandbox: Sandbox,
) -> None:
    # The stream drops mid-watch and every reconnect is refused (503: a deploy). The
    # watch waited for its 30 s check, so a state reached the caller up to 30 s late;
    # it polls every poll_interval while the stream is down, as when it had none.
    seen, drop = await watch_through_a_drop(taas_sandbox, duration=60, refuse=503)
    dropped_at = seen[drop][0]
    in_order([o for _, o in seen])
    after = [(at, o) for at, o in seen if at > dropped_at]
    assert after[-1][1].status == OrderStatus.COMPLETE
    assert len(after) >= 10
    # Each state after the drop reached the caller within a poll of the server making it.
    late = [(at - o.updated_at).total_seconds() for at, o in after if o.updated_at]
    assert max(late) <= 1.5, late
    polls = [e for e in taas_sandbox.exchanges if e.method == "GET" and e.at > dropped_at]
    down_for = (after[-1][0] - dropped_at).total_seconds()
    assert len(polls) >= 0.8 * down_for  # about one a second while the stream was down


async def test_after_a_drop_a_watch_fetches_only_its_own_orders_again(
    taas_sandbox: Sandbox,
) -> None:
    # The stream brings every order of the account; a watch's stream resynced all it
    # had seen: a one-order watch beside 40 orders placed elsewhere (no custom id)
    # sent 41 GETs on each reconnect.
    async with taas_sandbox.client() as client:
        [mine] = await client.place_orders(twaps(1, duration=600))
        assert isinstance(mine, Order)
        seen = 0
        before = 0
        watch = client.watch_orders([mine], stream=True)
        with anyio.fail_after(LIMIT):
            async with contextlib.aclosing(watch):
                async for _ in watch:
                    seen += 1
                    if seen == 1:  # another program trading on the same account
                        for _ in range(40):
                            taas_sandbox.engine.place_order(sandbox_order_request(duration=600))
                    if seen == 4:
                        before = len(taas_sandbox.exchanges)
                        assert taas_sandbox.drop_streams(1012, "restart") == 1
                    if seen == 5:
                        break
    gets = [e for e in taas_sandbox.exchanges[before:] if e.method == "GET"]
    own = [
        e for e in gets if e.path.endswith(f"/api/order/{mine.id}") or "custom_order" in str(e.url)
    ]
    assert own  # the watched order's own resync
    assert gets == own  # and nothing else


async def test_a_watch_whose_resync_is_slower_than_its_poll_keeps_its_stream(
    taas_sandbox: Sandbox,
) -> None:
    # REST slower (1.5 s) than poll_interval (1 s), the stream dropped: a watch that cut
    # every read at poll_interval cut the resync's GETs too, restarted it for ever and
    # saw the order every 30 s (4 snapshots in 120 s). A connected stream is read whole.
    taas_sandbox.faults.latency = 1.5
    seen, drop = await watch_through_a_drop(taas_sandbox, duration=120)
    after_drop = [o for _, o in seen[drop + 1 :]]
    in_order(after_drop)
    assert after_drop[-1].status == OrderStatus.COMPLETE
    assert len(after_drop) >= 20  # every fill, about one each 4 s, as before the drop
