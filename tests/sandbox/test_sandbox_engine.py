"""The sandbox's execution engine and HTTP face, driven through the real SDK client in process.

Everything runs on the sandbox's virtual clock: ``sandbox.advance()`` moves
time, nothing sleeps (except the latency knob's own test), nothing touches
the network. Amounts are compared as exact ``Decimal``.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from request_kwargs import sandbox_order_request

from taas_async import (
    AmendOrderRequest,
    APIStatusError,
    Asset,
    AsyncClient,
    AuthenticationError,
    Backoff,
    BadRequestError,
    ChildOrder,
    ConflictError,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    InternalServerError,
    MultiOrderStatus,
    NotFoundError,
    Order,
    OrderInChain,
    OrderOutcomeUnknownError,
    OrderStatus,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    SetLeverageRequest,
    Side,
    TaaSError,
)
from taas_async.sandbox import DEFAULT_START, LOT, MAX_SLICES, Pair, Sandbox

SECOND = dt.timedelta(seconds=1)
PERP = "ETH:PERP-USDT"


# --------------------------------------------------------------------------- helpers


def order_request(**changes: Any) -> PlaceOrderRequest:
    """A 60 s TWAP buy of 1 ETH-USDT on "mock"; keyword arguments replace fields."""
    return sandbox_order_request(**changes)


def slice_price(sandbox: Sandbox, pair: str, side: str) -> Decimal:
    """Where an algorithm's slice trades now, at the default engine_passiveness (0.02)."""
    market = sandbox.engine.market
    return market.algo_price(Pair.parse(pair), Side(side), Decimal("0.02"), sandbox.now())


def fee_of(order: Order) -> Decimal:
    """The sum of an order's fill fees, which the reply's total_fee must be."""
    fees = sum((fill["fee"] for fill in order.placements), Decimal(0))
    assert order.total_fee == fees
    return fees


def on_schedule(executed: Decimal | None, size: str, slices: int, of: int = MAX_SLICES) -> bool:
    """A TWAP at the defaults has filled ``slices`` of its ``of``, or up to 8% of it more.

    Its ``schedule_discretion`` (0.08) lets it trade that far ahead of the
    schedule while the price beats the arrival price; never behind it.
    """
    assert executed is not None
    scheduled = Decimal(size) * slices / of
    return scheduled <= executed <= scheduled + Decimal(size) * Decimal("0.08")


def total(order: Order, key: str) -> Decimal:
    """Sum of one figure (qty, notional) over an order's fills."""
    return sum((fill[key] for fill in order.placements), Decimal(0))


def fill_time(fill: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(fill["created_at"].replace("Z", "+00:00"))


async def holdings(client: AsyncClient, account: str = "mock") -> dict[str, Asset]:
    """An account's assets by symbol, through GET /api/balances/."""
    balances = await client.get_balances(account_names=[account])
    assert list(balances) == [account]
    return {asset.symbol: asset for asset in balances[account].assets}


def size(assets: dict[str, Asset], symbol: str) -> Decimal:
    asset = assets.get(symbol)
    if asset is None:
        return Decimal(0)
    assert type(asset.size) is Decimal
    return asset.size


def assert_exact_figures(order: Order) -> None:
    """Every execution figure and fill amount is a Decimal, and they add up exactly."""
    for value in (order.executed_qty, order.executed_notional, order.pct_filled):
        assert type(value) is Decimal
    for fill in order.placements:
        for key in ("qty", "price", "notional"):
            assert type(fill[key]) is Decimal, (key, fill)
        assert fill["qty"] > 0
        assert fill["qty"] == fill["qty"].quantize(LOT)  # whole lots
        assert fill["notional"] == fill["qty"] * fill["price"]
    assert order.executed_qty == total(order, "qty")
    assert order.executed_notional == total(order, "notional")
    if order.placements:
        assert type(order.executed_price) is Decimal
        assert order.executed_price == (order.executed_notional / order.executed_qty).quantize(LOT)
    else:
        assert order.executed_price is None


async def status_error(awaitable: Any, cls: type[APIStatusError] = BadRequestError) -> Any:
    with pytest.raises(cls) as info:
        await awaitable
    return info.value


# --------------------------------------------------------------------------- 1. lifecycle


async def run_lifecycle(sandbox: Sandbox) -> None:
    qty = Decimal("1.23456789")
    async with sandbox.client() as client:
        placed = await client.place_order(order_request(duration=60, base_asset_qty=qty))
        start = sandbox.now()
        assert start == DEFAULT_START
        assert placed.status == OrderStatus.SCHEDULED
        assert placed.active is False
        assert placed.time_start == start
        assert placed.time_end == start + 60 * SECOND
        assert placed.base_asset_qty == qty
        assert placed.placements == []
        assert placed.executed_qty == 0
        assert placed.pct_filled == 0
        assert_exact_figures(placed)

        # The next request starts it: no time needs to pass.
        order = await client.get_order(placed.id)
        assert order.status == OrderStatus.ACTIVE
        assert order.active is True
        assert order.placements == []

        previous = order
        steps = 0
        while order.status == OrderStatus.ACTIVE and steps < 200:
            sandbox.advance(0.7)
            steps += 1
            order = await client.get_order(placed.id)
            now = sandbox.now()
            assert_exact_figures(order)
            assert order.executed_qty >= previous.executed_qty
            assert order.executed_notional >= previous.executed_notional
            assert order.pct_filled >= previous.pct_filled
            # Fills are only ever appended, never rewritten.
            assert order.placements[: len(previous.placements)] == previous.placements
            assert all(fill_time(f) <= now for f in order.placements)
            if now < start + 60 * SECOND:
                assert order.status == OrderStatus.ACTIVE
                assert order.executed_qty < qty
            previous = order

        # 60 / 0.7 = 85.7: the 86th step (t = 60.2 s) sees it complete.
        assert steps == 86
        assert order.status == OrderStatus.COMPLETE
        assert order.active is False
        assert order.time_start == start
        assert order.time_end == start + 60 * SECOND
        assert order.executed_qty == qty
        assert total(order, "qty") == qty
        assert order.pct_filled == Decimal("100.00")
        # One slice every 2 s, on schedule: at most 30 fills (a slice ahead of the
        # schedule on a good price leaves the next ones less, or nothing, to do).
        times = [fill_time(f) for f in order.placements]
        assert len(times) <= MAX_SLICES
        assert set(times) <= {start + 2 * k * SECOND for k in range(1, MAX_SLICES + 1)}
        assert times == sorted(set(times))
        assert times[-1] == start + 60 * SECOND

        summary = await client.get_order_summary(placed.id)
        assert summary.status == OrderStatus.COMPLETE
        assert summary.executed_qty == qty
        assert summary.executed_notional == order.executed_notional
        assert summary.executed_price == order.executed_price
        assert summary.pct_filled == Decimal("100.00")

        # Nothing happens to a complete order any more.
        sandbox.advance(600)
        later = await client.get_order(placed.id)
        assert later.placements == order.placements
        assert later.executed_qty == qty
        assert later.status == OrderStatus.COMPLETE

        messages = [m.message for m in await client.get_order_messages([placed.id])]
        assert messages[:2] == ["order accepted", "order started (TWAP)"]
        assert messages[-1] == "order complete: 100.00% filled"
        assert len(messages) == 2 + len(order.placements) + 1


@pytest.mark.anyio
async def test_twap_lifecycle_on_the_virtual_clock(anyio_backend: str) -> None:
    await run_lifecycle(Sandbox())


# --------------------------------------------------------------------------- 2. conservation


@pytest.mark.asyncio
@pytest.mark.parametrize("side", ["buy", "sell"])
async def test_spot_fills_conserve_value_at_fill_prices(side: str) -> None:
    sandbox = Sandbox()
    sign = 1 if side == "buy" else -1
    async with sandbox.client() as client:
        before = await holdings(client)
        placed = await client.place_order(
            order_request(side=side, duration=10, base_asset_qty="2.5")
        )
        previous, seen = before, 0
        for _ in range(10):  # ten slices, one a second (one may have nothing left to do)
            sandbox.advance(1)
            order = await client.get_order(placed.id)
            now = await holdings(client)
            d_eth = size(now, "ETH") - size(previous, "ETH")
            d_usdt = size(now, "USDT") - size(previous, "USDT")
            new = order.placements[seen:]
            assert len(new) <= 1
            if new:
                [fill] = new
                assert fill_time(fill) == sandbox.now()
                # The price of its moment: the mid, plus the spread it crosses.
                assert fill["price"] == slice_price(sandbox, "ETH-USDT", side)
                assert fill["fee"] == fill["notional"] * 2 / 10_000  # Mock: 2 bps
                assert d_eth == sign * fill["qty"]
                assert d_eth * fill["price"] + d_usdt == -fill["fee"]  # the fee, in USDT
            else:
                assert (d_eth, d_usdt) == (0, 0)
            previous, seen = now, len(order.placements)

        assert order.status == OrderStatus.COMPLETE
        assert_exact_figures(order)
        after = await holdings(client)
        assert size(after, "ETH") - size(before, "ETH") == sign * Decimal("2.5")
        fees = fee_of(order)
        assert fees > 0
        assert size(after, "USDT") - size(before, "USDT") == -sign * order.executed_notional - fees
        assert sum((f["qty"] * f["price"] for f in order.placements), Decimal(0)) == -sign * (
            size(after, "USDT") - size(before, "USDT") + fees
        )
        for untouched in ("BTC", "SOL"):
            assert size(after, untouched) == size(before, untouched)


async def run_perp_round_trip(sandbox: Sandbox) -> None:
    async with sandbox.client() as client:
        opened = await client.place_order(
            order_request(accounts=["perp"], pair=PERP, duration=5, base_asset_qty="3")
        )
        usdt = Decimal(50_000)
        prev_size = prev_cost = prev_fees = Decimal(0)
        for _ in range(5):
            sandbox.advance(1)
            order = await client.get_order(opened.id)
            assets = await holdings(client, "perp")
            price = sandbox.price(PERP)  # the perp's mid: spot times 1 + basis
            fill = order.placements[-1]
            position = assets[PERP]
            assert position.asset_type == "position"
            assert position.size == order.executed_qty  # a buy: positive
            assert position.notional == position.size * price
            assert position.leverage == 1
            fees = fee_of(order)
            assert fees == order.executed_notional * 4 / 10_000  # Binance: 4 bps
            assert size(assets, "USDT") == usdt - fees  # opening moves no cash but the fees
            assert position.unrealized_profit == position.size * price - order.executed_notional
            # The account's equity at this fill's price is what it was before the fill,
            # less the fill's fee.
            if fill_time(fill) == sandbox.now():
                at_fill = fill["price"]
                equity_before = usdt - prev_fees + prev_size * at_fill - prev_cost
                cost = order.executed_notional  # the position's cost: what opened it
                equity_after = size(assets, "USDT") + position.size * at_fill - cost
                assert equity_after == equity_before - fill["fee"]
            prev_size, prev_cost, prev_fees = position.size, order.executed_notional, fees
        assert order.status == OrderStatus.COMPLETE
        assert prev_size == 3

        # Close at a pinned price: the profit is realized into USDT, the position goes.
        sandbox.set_token_price("ETH", 3300)
        taker = sandbox.engine.market.taker_price(
            Pair.parse(PERP), Side.SELL, Decimal(3), sandbox.now()
        )
        closed = await client.place_order(
            order_request(
                accounts=["perp"], pair=PERP, side="sell", strategy="Market", base_asset_qty="3"
            )
        )
        closed = await client.get_order(closed.id)
        assert closed.status == OrderStatus.COMPLETE
        assert [f["price"] for f in closed.placements] == [taker]
        assets = await holdings(client, "perp")
        assert PERP not in assets
        pnl = 3 * taker - order.executed_notional
        fees = fees + fee_of(closed)
        assert size(assets, "USDT") == usdt + pnl - fees
        assert pnl > 0  # the walk stays within 0.5% of 3000 over 5 s
        position = sandbox.engine.accounts["perp"].positions[PERP]
        assert (position.size, position.cost) == (0, 0)

        # A sell opens a short: the size is signed.
        short = await client.place_order(
            order_request(
                accounts=["perp"], pair=PERP, side="sell", strategy="Market", base_asset_qty="2"
            )
        )
        short = await client.get_order(short.id)
        assets = await holdings(client, "perp")
        assert assets[PERP].size == Decimal(-2)
        mid = sandbox.price(PERP)
        assert assets[PERP].unrealized_profit == Decimal(-2) * mid + short.executed_notional
        assert size(assets, "USDT") == usdt + pnl - fees - fee_of(short)


@pytest.mark.anyio
async def test_perp_position_and_realized_pnl(anyio_backend: str) -> None:
    await run_perp_round_trip(Sandbox(accounts={"perp": ("Binance", {"USDT": 50_000})}))


# --------------------------------------------------------------------------- 3. cancel


@pytest.mark.asyncio
async def test_cancel_stops_fills_and_is_idempotent() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(order_request(duration=60, base_asset_qty="3"))
        sandbox.advance(20)
        result = await client.cancel_order(placed.id)
        assert result.success is True
        assert result.order_id == placed.id
        assert result.message == f"order {placed.id} canceled"
        canceled = await client.get_order(placed.id)
        assert canceled.status == OrderStatus.CANCELED
        assert canceled.failure_reason == "canceled by user"
        assert canceled.time_end == DEFAULT_START + 20 * SECOND
        assert on_schedule(canceled.executed_qty, "3", 10)  # 10 of 30 slices, or a bit ahead
        assert_exact_figures(canceled)
        balances = await holdings(client)

        sandbox.advance(600)
        later = await client.get_order(placed.id)
        assert later.executed_qty == canceled.executed_qty
        assert later.placements == canceled.placements
        assert later.status == OrderStatus.CANCELED
        assert later.time_end == canceled.time_end
        after = await holdings(client)
        assert {s: a.size for s, a in after.items()} == {s: a.size for s, a in balances.items()}

        again = await client.cancel_order(placed.id)
        assert again.success is True
        assert again.message == f"order {placed.id} was already canceled"

        done = await client.place_order(order_request(strategy="Market"))
        assert (await client.get_order(done.id)).status == OrderStatus.COMPLETE
        error = await status_error(client.cancel_order(done.id))
        assert error.status_code == 400
        assert "COMPLETE" in error.message


# --------------------------------------------------------------------------- 4. pause / resume


@pytest.mark.asyncio
async def test_pause_holds_fills_and_delays_the_end() -> None:
    sandbox = Sandbox()
    start = DEFAULT_START
    async with sandbox.client() as client:
        placed = await client.place_order(order_request(duration=60, base_asset_qty="3"))
        sandbox.advance(20)
        paused = await client.pause_order(placed.id)
        assert paused.success is True
        assert paused.message == f"order {placed.id} paused"
        at_pause = await client.get_order(placed.id)
        assert at_pause.status == OrderStatus.PAUSED
        assert at_pause.active is False
        assert on_schedule(at_pause.executed_qty, "3", 10)
        balances = await holdings(client)

        error = await status_error(client.pause_order(placed.id))
        assert error.message == f"order {placed.id} is PAUSED, not ACTIVE"

        sandbox.advance(30)  # paused for 30 s
        held = await client.get_order(placed.id)
        assert held.status == OrderStatus.PAUSED
        assert held.placements == at_pause.placements
        after = await holdings(client)
        assert {s: a.size for s, a in after.items()} == {s: a.size for s, a in balances.items()}

        resumed = await client.resume_order(placed.id)
        assert resumed.success is True
        error = await status_error(client.resume_order(placed.id))
        assert error.message == f"order {placed.id} is ACTIVE, not PAUSED"

        sandbox.advance(39)  # t = 89: past the planned end (60), 1 s short of the new one
        running = await client.get_order(placed.id)
        assert running.status == OrderStatus.ACTIVE
        assert running.executed_qty < 3
        assert all(
            not start + 20 * SECOND < fill_time(f) <= start + 50 * SECOND
            for f in running.placements
        )
        sandbox.advance(1)
        done = await client.get_order(placed.id)
        assert done.status == OrderStatus.COMPLETE
        assert done.time_end == start + 90 * SECOND  # planned end + the 30 s paused
        assert done.executed_qty == 3
        assert_exact_figures(done)

        error = await status_error(client.pause_order(placed.id))
        assert error.status_code == 400
        assert error.message == f"order {placed.id} is COMPLETE, not ACTIVE"


# --------------------------------------------------------------------------- 5. amend


@pytest.mark.asyncio
async def test_amend_duration_longer_completes_at_the_new_end() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(order_request(duration=60, base_asset_qty="2"))
        sandbox.advance(30)
        result = await client.amend_order(
            AmendOrderRequest(order_id=placed.id, changes={"duration": 120})
        )
        assert result.success is True
        amended = await client.get_order(placed.id)
        assert amended.duration == 120
        assert amended.time_end == DEFAULT_START + 120 * SECOND
        previous = amended
        for _ in range(89):  # up to t = 119
            sandbox.advance(1)
            order = await client.get_order(placed.id)
            assert order.status == OrderStatus.ACTIVE
            assert order.executed_qty >= previous.executed_qty
            previous = order
        assert previous.executed_qty < 2
        sandbox.advance(1)
        done = await client.get_order(placed.id)
        assert done.status == OrderStatus.COMPLETE
        assert done.time_end == DEFAULT_START + 120 * SECOND
        assert done.executed_qty == 2
        assert_exact_figures(done)


@pytest.mark.asyncio
async def test_amend_duration_down_to_the_time_run_completes_at_once() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(order_request(duration=60, base_asset_qty="2"))
        sandbox.advance(30)
        await client.amend_order(AmendOrderRequest(order_id=placed.id, changes={"duration": 30}))
        done = await client.get_order(placed.id)
        assert done.status == OrderStatus.COMPLETE
        assert done.time_end == DEFAULT_START + 30 * SECOND
        assert done.executed_qty == 2
        error = await status_error(
            client.amend_order(AmendOrderRequest(order_id=placed.id, changes={"duration": 90}))
        )
        assert error.message == f"order {placed.id} is COMPLETE: it cannot be amended"


@pytest.mark.asyncio
async def test_amend_quantity_up_fills_to_the_new_total() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(order_request(duration=60, base_asset_qty="1"))
        sandbox.advance(30)
        half = await client.get_order(placed.id)
        assert on_schedule(half.executed_qty, "1", 15)
        await client.amend_order(
            AmendOrderRequest(order_id=placed.id, changes={"base_asset_qty": "3.3"})
        )
        sandbox.advance(2)  # the next slice catches up with the new schedule
        caught_up = await client.get_order(placed.id)
        assert on_schedule(caught_up.executed_qty, "3.3", 16)  # 3.3 * 16 / 30 = 1.76
        sandbox.advance(28)
        done = await client.get_order(placed.id)
        assert done.status == OrderStatus.COMPLETE
        assert done.base_asset_qty == Decimal("3.3")
        assert done.executed_qty == Decimal("3.3")
        assert total(done, "qty") == Decimal("3.3")
        assert done.pct_filled == Decimal("100.00")
        assert done.time_end == DEFAULT_START + 60 * SECOND


@pytest.mark.asyncio
async def test_amend_rejections() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(order_request(duration=60, base_asset_qty="1"))
        sandbox.advance(30)

        filled = sandbox.engine.orders[placed.id].executed_qty
        assert on_schedule(filled, "1", 15)
        below = await status_error(
            client.amend_order(
                AmendOrderRequest(order_id=placed.id, changes={"base_asset_qty": "0.4"})
            )
        )
        assert below.status_code == 400
        assert below.field_errors == {
            "changes": [f"the quantity cannot go below what has filled ({filled})"]
        }

        pair = await status_error(
            client.amend_order(AmendOrderRequest(order_id=placed.id, changes={"pair": "BTC-USDT"}))
        )
        assert pair.body == {"changes.pair": ["cannot be amended"]}

        unit = await status_error(
            client.amend_order(
                AmendOrderRequest(
                    order_id=placed.id,
                    changes={"base_asset_qty": None, "quote_asset_qty": "1000"},
                )
            )
        )
        assert unit.field_errors == {
            "changes": ["the quantity must stay in the same unit (base or quote)"]
        }

        shorter = await status_error(
            client.amend_order(AmendOrderRequest(order_id=placed.id, changes={"duration": 29}))
        )
        assert shorter.field_errors == {
            "changes.duration": ["cannot be shorter than the time already executed"]
        }

        missing = await status_error(
            client.amend_order(
                AmendOrderRequest(order_id="no-such-order", changes={"duration": 90})
            ),
            NotFoundError,
        )
        assert missing.status_code == 404

        # Nothing of that changed the order.
        order = await client.get_order(placed.id)
        assert (order.pair, order.duration, order.base_asset_qty) == ("ETH-USDT", 60, 1)
        assert order.status == OrderStatus.ACTIVE


# --------------------------------------------------------------------------- 6. chained


def chain_leg(name: str, priority: int, duration: int) -> OrderInChain:
    return OrderInChain(
        order_request=order_request(duration=duration, base_asset_qty=1, custom_order_id=name),
        priority=priority,
    )


async def run_chain(sandbox: Sandbox) -> None:
    start = DEFAULT_START
    async with sandbox.client() as client:
        chain = await client.place_chained_order(
            PlaceChainedOrderRequest(
                orders_in_chain=[
                    chain_leg("second", 2, 10),
                    chain_leg("first-short", 1, 20),
                    chain_leg("third", 3, 5),
                    chain_leg("first-long", 1, 40),
                ]
            )
        )
        assert chain.status == "SUBMITTED"
        # Legs in the order they run.
        names = [o.custom_order_id for o in chain.orders]
        assert names == ["first-short", "first-long", "second", "third"]
        assert {o.parent_order for o in chain.orders} == {chain.id}
        assert {o.status for o in chain.orders} == {OrderStatus.SCHEDULED}
        placed = {o.custom_order_id: o for o in chain.orders}
        assert placed["first-short"].time_start == start
        assert placed["first-long"].time_start == start
        assert placed["second"].time_start is None
        assert placed["third"].time_start is None
        ids = {name: o.id for name, o in placed.items()}

        async def legs() -> dict[str, Order]:
            return {name: await client.get_order(i) for name, i in ids.items()}

        def statuses(now: dict[str, Order]) -> dict[str, str]:
            return {name: o.status for name, o in now.items()}

        sandbox.advance(0)
        now = await legs()
        assert statuses(now) == {
            "first-short": "ACTIVE",
            "first-long": "ACTIVE",  # same priority: they run together
            "second": "SCHEDULED",
            "third": "SCHEDULED",
        }

        sandbox.advance(20)
        now = await legs()
        assert statuses(now) == {
            "first-short": "COMPLETE",
            "first-long": "ACTIVE",
            "second": "SCHEDULED",
            "third": "SCHEDULED",
        }
        assert now["first-short"].time_end == start + 20 * SECOND

        sandbox.advance(19)
        now = await legs()
        assert now["second"].status == OrderStatus.SCHEDULED
        assert now["second"].time_start is None
        assert now["second"].placements == []

        sandbox.advance(1)  # t = 40: the last priority-1 leg ends, priority 2 starts
        now = await legs()
        assert now["first-long"].status == OrderStatus.COMPLETE
        assert now["first-long"].time_end == start + 40 * SECOND
        assert now["second"].status == OrderStatus.ACTIVE
        assert now["second"].time_start == now["first-long"].time_end
        assert now["third"].status == OrderStatus.SCHEDULED

        sandbox.advance(10)
        now = await legs()
        assert now["second"].status == OrderStatus.COMPLETE
        assert now["second"].time_end == start + 50 * SECOND
        assert now["third"].status == OrderStatus.ACTIVE
        assert now["third"].time_start == start + 50 * SECOND
        assert min(fill_time(f) for f in now["second"].placements) > start + 40 * SECOND

        sandbox.advance(5)
        now = await legs()
        assert set(statuses(now).values()) == {"COMPLETE"}
        assert now["third"].time_end == start + 55 * SECOND
        for order in now.values():
            assert order.executed_qty == 1
            assert_exact_figures(order)

        messages = await client.get_order_messages([ids["second"]])
        assert [m.message for m in messages[:3]] == [
            "order accepted",
            "waiting for the previous orders of its chain",
            "order started (TWAP)",
        ]
        assert messages[2].created_at == start + 40 * SECOND


@pytest.mark.anyio
async def test_chained_legs_start_in_priority_order(anyio_backend: str) -> None:
    await run_chain(Sandbox())


@pytest.mark.asyncio
async def test_a_chain_whose_running_leg_is_paused_is_paused() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        chain = await client.place_chained_order(
            PlaceChainedOrderRequest(
                orders_in_chain=[chain_leg("first", 1, 60), chain_leg("second", 2, 10)]
            )
        )
        ids = {o.custom_order_id: o.id for o in chain.orders}
        sandbox.advance(10)
        assert sandbox.engine.chains[chain.id].status == "ACTIVE"
        await client.pause_order(ids["first"])  # "second" still waits, SCHEDULED
        assert sandbox.engine.chains[chain.id].status == "PAUSED"
        await client.resume_order(ids["first"])
        assert sandbox.engine.chains[chain.id].status == "ACTIVE"


@pytest.mark.asyncio
async def test_cancelling_a_running_leg_cancels_the_waiting_legs() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        chain = await client.place_chained_order(
            PlaceChainedOrderRequest(
                orders_in_chain=[
                    chain_leg("later", 2, 10),
                    chain_leg("running", 1, 60),
                    chain_leg("sibling", 1, 30),
                    chain_leg("last", 3, 10),
                ]
            )
        )
        ids = {o.custom_order_id: o.id for o in chain.orders}
        sandbox.advance(10)
        await client.cancel_order(ids["running"])
        canceled_at = DEFAULT_START + 10 * SECOND

        sandbox.advance(100)
        now = {name: await client.get_order(i) for name, i in ids.items()}
        assert now["running"].status == OrderStatus.CANCELED
        assert now["running"].failure_reason == "canceled by user"
        running = now["running"]
        for name in ("later", "last"):
            assert now[name].status == OrderStatus.CANCELED
            assert now[name].failure_reason == (  # it names the leg that stopped the chain
                f"chain {chain.id} stopped: order {running.id} (priority 1) ended CANCELED"
                f" with {running.pct_filled}% filled ({running.executed_qty} of 1 ETH)"
            )
            assert now[name].time_end == canceled_at
            assert now[name].placements == []
            assert now[name].executed_qty == 0
        # A leg of the same priority was already running: it is not "later", it completes.
        assert now["sibling"].status == OrderStatus.COMPLETE
        assert now["sibling"].executed_qty == 1

        # Each waiting leg is canceled once (one log line each).
        for name in ("later", "last"):
            lines = [m.message for m in await client.get_order_messages([ids[name]])]
            assert lines == [
                "order accepted",
                "waiting for the previous orders of its chain",
                "order canceled: 0.00% filled",
            ]
        again = await client.cancel_order(ids["later"])
        assert again.message == f"order {ids['later']} was already canceled"


# --------------------------------------------------------------------------- 7. multi


@pytest.mark.asyncio
async def test_multi_order_children_run_together() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        multi = await client.place_multi_order(
            PlaceMultiOrderRequest(
                accounts=["mock"],
                duration=30,
                strategy="TWAP",
                child_orders=[
                    ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty="1.5"),
                    ChildOrder(pair="BTC-USDT", side="sell", base_asset_qty="0.25"),
                    ChildOrder(pair="BTC-USDT", side="buy", base_asset_qty="0.1", account="test"),
                ],
            )
        )
        assert multi.status == "SUBMITTED"
        assert multi.duration == 30
        assert len(multi.child_order_ids) == 3
        children = [await client.get_order(i) for i in multi.child_order_ids]
        assert [c.parent_order for c in children] == [multi.id] * 3
        assert [(c.pair, c.side, c.base_asset_qty) for c in children] == [
            ("ETH-USDT", "buy", Decimal("1.5")),
            ("BTC-USDT", "sell", Decimal("0.25")),
            ("BTC-USDT", "buy", Decimal("0.1")),
        ]
        assert [c.account_names for c in children] == [["mock"], ["mock"], ["test"]]
        assert {c.strategy for c in children} == {"TWAP"}
        assert {c.duration for c in children} == {30}

        sandbox.advance(0)
        assert (await client.get_multi_order(multi.id)).status == "ACTIVE"
        assert {(await client.get_order(i)).status for i in multi.child_order_ids} == {"ACTIVE"}

        sandbox.advance(30)
        done = await client.get_multi_order(multi.id)
        assert done.status == "COMPLETE"
        children = [await client.get_order(i) for i in multi.child_order_ids]
        assert [c.status for c in children] == ["COMPLETE"] * 3
        assert [c.executed_qty for c in children] == [
            Decimal("1.5"),
            Decimal("0.25"),
            Decimal("0.1"),
        ]
        assert {c.time_end for c in children} == {DEFAULT_START + 30 * SECOND}
        error = await status_error(client.cancel_multi_order(multi.id))
        assert error.message == f"multi order {multi.id} is COMPLETE"


@pytest.mark.asyncio
async def test_multi_order_documented_fields_follow_its_legs() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        multi = await client.place_multi_order(
            PlaceMultiOrderRequest(
                accounts=["mock"],
                duration=30,
                strategy="TWAP",
                child_orders=[
                    ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty="2"),
                    ChildOrder(pair="ETH:PERP-USDT", side="sell", base_asset_qty="1"),
                ],
            )
        )
        sandbox.advance(15)
        half = await client.get_multi_order(multi.id, include_child_orders=True)
        legs = half.child_orders
        assert [o.id for o in legs] == multi.child_order_ids
        assert half.status == half.calculated_status == MultiOrderStatus.ACTIVE
        assert (half.is_active, half.is_paused, half.completely_filled) == (True, False, False)
        assert half.pair_list == ["ETH-USDT", "ETH:PERP-USDT"]
        assert half.pairs == "ETH-USDT,ETH:PERP-USDT"
        assert half.buy_token_list == ["ETH", "USDT"]
        assert half.sell_token == "USDT, ETH"
        assert half.sell_token_amount_list == [o.sell_token_amount for o in legs]
        bought, sold = (o.executed_notional for o in legs)
        assert bought is not None
        assert sold is not None
        assert bought > 0
        assert sold > 0
        assert half.executed_notional == bought + sold
        assert half.notional_exposure == abs(bought - sold)
        assert half.pct_filled == sum(o.pct_filled or 0 for o in legs) / 2
        assert 0 < half.pct_filled < 100

        await client.pause_order(legs[0].id)
        one_paused = await client.get_multi_order(multi.id)
        assert one_paused.status == "ACTIVE"  # the other leg still runs
        await client.pause_order(legs[1].id)
        paused = await client.get_multi_order(multi.id)
        assert paused.status == "PAUSED"
        assert (paused.is_active, paused.is_paused) == (False, True)
        assert paused.child_orders == []  # not asked for
        await client.resume_order(legs[0].id)
        await client.resume_order(legs[1].id)

        sandbox.advance(30)
        done = await client.get_multi_order(multi.id)
        assert done.effective_status is MultiOrderStatus.COMPLETE
        assert done.is_terminal
        assert (done.is_active, done.completely_filled, done.pct_filled) == (False, True, 100)


@pytest.mark.asyncio
async def test_multi_orders_list_filters_and_pages_newest_first() -> None:
    sandbox = Sandbox()
    legs = [ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty="1")]
    async with sandbox.client() as client:
        placed = [
            await client.place_multi_order(
                PlaceMultiOrderRequest(
                    accounts=["mock"],
                    duration=30 * (i + 1),
                    strategy="TWAP",
                    child_orders=legs,
                    custom_order_id=f"batch-{i}",
                )
            )
            for i in range(3)
        ]
        await client.cancel_multi_order(placed[1].id)
        sandbox.advance(45)  # the first (30 s) is COMPLETE, the third still ACTIVE
        newest_first = [m.id for m in reversed(placed)]
        assert [m.id async for m in client.iter_multi_orders()] == newest_first
        page = await client.get_multi_orders(GetMultiOrdersRequest(page_size=2, page_number=2))
        assert (page.count, page.num_pages, [m.id for m in page]) == (3, 2, [placed[0].id])
        by_status = await client.get_multi_orders(
            GetMultiOrdersRequest(statuses=["COMPLETED", "CANCELED"])  # COMPLETED: COMPLETE
        )
        assert [m.id for m in by_status] == [placed[1].id, placed[0].id]
        by_id = await client.get_multi_orders(GetMultiOrdersRequest(custom_order_ids=["batch-2"]))
        assert [m.id for m in by_id] == [placed[2].id]
        assert by_id[0].child_orders == []
        with_legs = await client.get_multi_orders(
            GetMultiOrdersRequest(custom_order_ids=["batch-2"], include_child_orders=True)
        )
        assert [o.id for o in with_legs[0].child_orders] == placed[2].child_order_ids
        later = DEFAULT_START + 1000 * SECOND
        assert len(await client.get_multi_orders(GetMultiOrdersRequest(after=later))) == 0
        past_the_end = await status_error(
            client.get_multi_orders(GetMultiOrdersRequest(page_number=3, page_size=2)),
            NotFoundError,
        )
        assert past_the_end.body == {"detail": "Invalid page."}
        bad = await status_error(
            client.request("GET", "api/multi_orders/", params={"include_child_orders": "maybe"})
        )
        assert bad.status_code == 400
        assert bad.body == {"include_child_orders": ["must be true or false"]}


@pytest.mark.asyncio
async def test_cancel_multi_order_cancels_live_children() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        multi = await client.place_multi_order(
            PlaceMultiOrderRequest(
                accounts=["mock"],
                duration=60,
                strategy="TWAP",
                child_orders=[
                    ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty="3"),
                    ChildOrder(pair="SOL-USDT", side="sell", base_asset_qty="30"),
                ],
            )
        )
        first, second = multi.child_order_ids
        sandbox.advance(10)
        await client.cancel_order(second)  # one child ends by itself
        sandbox.advance(10)
        result = await client.cancel_multi_order(multi.id)
        assert result.success is True
        assert result.message == f"multi order {multi.id} canceled (1 child orders)"
        sandbox.advance(100)
        assert (await client.get_multi_order(multi.id)).status == "CANCELED"
        eth = await client.get_order(first)
        assert eth.status == OrderStatus.CANCELED
        assert eth.failure_reason == "multi order canceled by user"
        assert on_schedule(eth.executed_qty, "3", 10)  # 20 s of 60
        assert eth.time_end == DEFAULT_START + 20 * SECOND
        sol = await client.get_order(second)
        assert sol.failure_reason == "canceled by user"
        assert on_schedule(sol.executed_qty, "30", 5)
        again = await client.cancel_multi_order(multi.id)
        assert again.message == f"multi order {multi.id} canceled (0 child orders)"


# --------------------------------------------------------------------------- 8. instant and limit


@pytest.mark.asyncio
async def test_market_and_ioc_fill_at_once_or_not_at_all() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        sandbox.advance(7)
        placed = await client.place_order(
            order_request(strategy="Market", base_asset_qty="2", duration=300)
        )
        mid = sandbox.price("ETH-USDT")
        # The touch (1 bp) and the impact of 2 ETH on a book of $25k a bp, to the tick.
        slippage_bps = 1 + 2 * mid / (2 * 25_000)
        price = (mid * (1 + slippage_bps / 10_000)).quantize(Decimal("0.01"))
        market = await client.get_order(placed.id)
        assert market.status == OrderStatus.COMPLETE
        assert [(f["qty"], f["price"]) for f in market.placements] == [(Decimal(2), price)]
        assert market.time_end == market.time_start == DEFAULT_START + 7 * SECOND
        assert market.executed_notional == 2 * price

        ioc = await client.place_order(
            order_request(strategy="IOC", side="sell", base_asset_qty="1", limit_price="1")
        )
        ioc = await client.get_order(ioc.id)
        assert ioc.status == OrderStatus.COMPLETE
        assert ioc.limit_price == 1
        assert len(ioc.placements) == 1

        missed = await client.place_order(
            order_request(strategy="IOC", base_asset_qty="1", limit_price="1")
        )
        missed = await client.get_order(missed.id)
        assert missed.status == OrderStatus.CANCELED
        assert missed.failure_reason == "the limit price was not reached"
        assert missed.placements == []
        assert missed.executed_qty == 0

        # A tiny quote-sized market order: its one fill rounds to whole lots, below
        # 100.00% of the target; it filled, so it completes (it is not "missed").
        sandbox.set_token_price("BTC", 60_000)
        tiny = await client.place_order(
            order_request(
                strategy="Market", pair="BTC-USDT", base_asset_qty=None, quote_asset_qty="0.5"
            )
        )
        tiny = await client.get_order(tiny.id)
        assert tiny.status == OrderStatus.COMPLETE
        assert tiny.failure_reason == ""
        # Sized at the touch (60006.0): 0.5 / 60006 = 0.0000083325, whole lots down.
        assert [f["qty"] for f in tiny.placements] == [Decimal("0.00000833")]
        assert tiny.executed_notional == Decimal("0.00000833") * Decimal("60006.0")
        assert tiny.pct_filled == Decimal("99.97")


@pytest.mark.asyncio
async def test_a_simple_order_has_no_duration_and_takes_none_by_amend() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(
            order_request(strategy="Limit", limit_price="100", base_asset_qty="1")
        )
        assert placed.duration is None  # the docs: simple orders do not use one
        assert placed.raw["duration"] is None
        sandbox.advance(1)
        refused = await status_error(
            client.amend_order(AmendOrderRequest(order_id=placed.id, changes={"duration": 900}))
        )
        assert refused.field_errors == {
            "duration": ["not used by Limit orders (a simple order): leave it out"]
        }


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("side", "limit", "fills"),
    [
        ("buy", "1500", True),  # a buy above 1500: worse than the limit, so it trades
        ("buy", "6000", False),  # every price is better than 6000: a reverse limit waits
        ("sell", "6000", True),  # a sell below 6000: worse, it trades
        ("sell", "1500", False),
    ],
)
async def test_a_reverse_limit_trades_only_at_prices_worse_than_it(
    side: str, limit: str, fills: bool
) -> None:
    # ETH starts at 3000 and moves at most 0.1% a second: far from either limit.
    sandbox = Sandbox()
    async with sandbox.client() as client:
        reverse = await client.place_order(
            order_request(side=side, limit_price=limit, is_reverse_limit_price=True)
        )
        plain = await client.place_order(order_request(side=side, limit_price=limit))
        sandbox.advance(60)
        reverse_end = await client.get_order(reverse.id)
        plain_end = await client.get_order(plain.id)
    assert reverse_end.pct_filled == (100 if fills else 0)
    assert plain_end.pct_filled == (0 if fills else 100)  # the ordinary limit: the opposite
    prices = [f.price for f in sandbox.engine.orders[reverse.id].fills]
    assert (0 < len(prices) <= MAX_SLICES) if fills else prices == []
    assert all((p > Decimal(limit)) if side == "buy" else (p < Decimal(limit)) for p in prices)


@pytest.mark.asyncio
async def test_an_order_waits_for_its_start_datetime() -> None:
    sandbox = Sandbox()
    start = DEFAULT_START + 120 * SECOND
    async with sandbox.client() as client:
        placed = await client.place_order(order_request(start_datetime=start, duration=30))
        assert placed.time_start == start
        sandbox.advance(119)
        waiting = await client.get_order(placed.id)
        assert (waiting.status, waiting.executed_qty) == (OrderStatus.SCHEDULED, 0)
        sandbox.advance(1)
        assert (await client.get_order(placed.id)).status == OrderStatus.ACTIVE
        sandbox.advance(30)
        done = await client.get_order(placed.id)
        assert (done.status, done.pct_filled) == (OrderStatus.COMPLETE, 100)
        assert done.time_end == start + 30 * SECOND
        assert all(f.time > start for f in sandbox.engine.orders[placed.id].fills)
        # A start in the past is now.
        late = await client.place_order(order_request(start_datetime=DEFAULT_START))
        assert late.time_start == DEFAULT_START + 150 * SECOND


@pytest.mark.asyncio
async def test_limit_never_reached_rests_without_fills() -> None:
    # A Limit order has no duration: it rests until filled or canceled (it used
    # to run out after a default 600 s and say COMPLETE at 0%).
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(
            order_request(strategy="Limit", limit_price="100", base_asset_qty="1")
        )
        before = await holdings(client)
        sandbox.advance(3600)
        waiting = await client.get_order(placed.id)
        assert waiting.status == OrderStatus.ACTIVE
        assert waiting.placements == []
        assert waiting.time_end is None  # no planned end
        assert waiting.executed_qty == 0
        assert waiting.executed_price is None
        after = await holdings(client)
        assert {s: a.size for s, a in after.items()} == {s: a.size for s, a in before.items()}
        await client.cancel_order(placed.id)
        end = await client.get_order(placed.id)
        assert (end.status, end.pct_filled) == (OrderStatus.CANCELED, 0)
        assert end.time_end == DEFAULT_START + 3600 * SECOND


@pytest.mark.asyncio
async def test_limit_holds_slices_back_then_catches_up() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        sandbox.set_token_price("ETH", 3500)
        placed = await client.place_order(
            order_request(duration=30, base_asset_qty="3", limit_price="3200")
        )
        sandbox.advance(10)  # the walk stays within 1% of 3500: above the limit
        held = await client.get_order(placed.id)
        assert held.status == OrderStatus.ACTIVE
        assert held.placements == []
        sandbox.set_token_price("ETH", 3000)
        sandbox.advance(1)  # slice 11 falls due and owes the ten before it too
        caught = await client.get_order(placed.id)
        [fill] = caught.placements
        # 11 of 30 slices (1.1), and 3000 beats the arrival price (3500) so much that
        # the order goes ahead by its schedule_discretion, 8% of it: 0.24 more.
        assert fill["qty"] == Decimal("1.34")
        assert fill["price"] <= 3200
        assert caught.executed_qty == Decimal("1.34")


# --------------------------------------------------------------------------- 9. quote quantities


@pytest.mark.asyncio
@pytest.mark.parametrize("side", ["buy", "sell"])
async def test_quote_asset_qty_fills_to_the_quote_target(side: str) -> None:
    sandbox = Sandbox()
    target = Decimal(10_000)
    async with sandbox.client() as client:
        sandbox.set_token_price("ETH", 2500)
        placed = await client.place_order(
            order_request(side=side, duration=30, base_asset_qty=None, quote_asset_qty=target)
        )
        # Buying spends the quote target; selling spends base worth it now.
        assert placed.sell_token_amount == (target if side == "buy" else Decimal(4))
        assert placed.quote_asset_qty == target
        sandbox.advance(30)
        done = await client.get_order(placed.id)
        assert done.status == OrderStatus.COMPLETE
        assert_exact_figures(done)
        last_price = done.placements[-1]["price"]
        assert abs(done.executed_notional - target) <= LOT * last_price
        assert done.executed_notional != 0
        assert done.pct_filled == Decimal("100.00")


@pytest.mark.asyncio
async def test_sell_token_amount_estimates() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        sandbox.set_token_price("ETH", 2500)
        buy = await client.place_order(order_request(base_asset_qty="2"))
        sell = await client.place_order(order_request(side="sell", base_asset_qty="2"))
        spend = await client.place_order(
            order_request(base_asset_qty=None, sell_token_amount="1234.5")
        )
        assert (buy.sell_token, buy.sell_token_amount) == ("USDT", Decimal(5000))
        assert (sell.sell_token, sell.sell_token_amount) == ("ETH", Decimal(2))
        assert (spend.sell_token, spend.sell_token_amount) == ("USDT", Decimal("1234.5"))
        sandbox.advance(60)
        spent = await client.get_order(spend.id)
        # A buy measured in what it sells fills to that much quote.
        assert (
            abs(spent.executed_notional - Decimal("1234.5")) <= LOT * spent.placements[-1]["price"]
        )


# --------------------------------------------------------------------------- 10. determinism


async def scripted_run(seed: int) -> Any:
    sandbox = Sandbox(seed=seed)
    async with sandbox.client() as client:
        twap = await client.place_order(order_request(duration=10, base_asset_qty="1.1"))
        market = await client.place_order(
            order_request(pair="BTC-USDT", side="sell", strategy="Market", base_asset_qty="0.5")
        )
        multi = await client.place_multi_order(
            PlaceMultiOrderRequest(
                accounts=["mock"],
                duration=5,
                strategy="TWAP",
                child_orders=[ChildOrder(pair="SOL-USDT", side="buy", base_asset_qty="3")],
            )
        )
        sandbox.advance(12)
        orders = [await client.get_order(i) for i in (twap.id, market.id, *multi.child_order_ids)]
        balances = await client.get_balances()
    return (
        multi.id,
        [(o.id, o.placements, o.executed_notional) for o in orders],
        {name: [(a.symbol, a.size) for a in b.assets] for name, b in balances.items()},
        {name: a.id for name, a in sandbox.engine.accounts.items()},
    )


@pytest.mark.asyncio
async def test_same_seed_same_run_other_seed_other_run() -> None:
    first, again, other = await scripted_run(7), await scripted_run(7), await scripted_run(8)
    assert first == again

    def ids(run: Any) -> list[str]:
        return [run[0], *(o[0] for o in run[1]), *run[3].values()]

    def prices(run: Any) -> list[Decimal]:
        return [f["price"] for o in run[1] for f in o[1]]

    assert not set(ids(first)) & set(ids(other))
    assert prices(first) != prices(other)
    assert len(prices(first)) == len(prices(other)) == 10 + 1 + 5


# --------------------------------------------------------------------------- 11. HTTP


@pytest.mark.asyncio
async def test_authentication() -> None:
    sandbox = Sandbox()
    async with AsyncClient(
        sandbox.url, "wrong", transport=sandbox.transport(), allow_insecure_http=True
    ) as client:
        error = await status_error(client.get_balances(), AuthenticationError)
    assert error.status_code == 401
    assert error.body == {"detail": "Invalid token."}
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=sandbox.url) as raw:
        reply = await raw.get("/api/orders/")
    assert reply.status_code == 401
    assert reply.json() == {"detail": "Authentication credentials were not provided."}
    assert [e.status for e in sandbox.exchanges] == [401, 401]
    assert sandbox.engine.orders == {}


@pytest.mark.asyncio
async def test_not_found_and_bad_requests() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        missing = await status_error(
            client.get_order("0b2a4c1e-0000-4000-8000-000000000000"), NotFoundError
        )
        assert missing.body == {"detail": "order 0b2a4c1e-0000-4000-8000-000000000000 not found."}
        await status_error(client.request("GET", "api/no_such_thing/"), NotFoundError)

        bad = await status_error(
            client.request(
                "POST",
                "api/orders/",
                json={
                    "accounts": [],
                    "pair": "ETH_USDT",
                    "side": "up",
                    "strategy": "TWAP",
                    "duration": 60,
                    "base_asset_qty": "1",
                },
            )
        )
        assert bad.status_code == 400
        assert set(bad.body) == {"accounts", "pair", "side"}
        assert all(
            isinstance(v, list) and v and all(isinstance(m, str) for m in v)
            for v in bad.body.values()
        )
        assert bad.field_errors == bad.body
        assert bad.body["side"] == ["must be one of 'buy', 'sell', got 'up'"]

        ghost = await status_error(client.place_order(order_request(accounts=["ghost"])))
        assert ghost.field_errors == {"accounts": ["unknown account 'ghost'"]}
        assert sandbox.engine.orders == {}


@pytest.mark.asyncio
async def test_orders_pages_filters_and_iteration() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = []
        for n in range(1, 8):
            account = "test" if n >= 6 else "mock"
            placed.append(
                await client.place_order(order_request(accounts=[account], custom_order_id=f"c{n}"))
            )
            sandbox.advance(1)
        await client.cancel_order(placed[1].id)
        newest_first = [o.id for o in reversed(placed)]

        everything = await client.get_all_orders()
        assert [o.id for o in everything.orders] == newest_first
        assert (everything.count, everything.num_pages) == (7, 1)

        page1 = await client.get_all_orders(GetOrdersRequest(page_size=3))
        assert [o.id for o in page1.orders] == newest_first[:3]
        assert (page1.count, page1.num_pages) == (7, 3)
        page3 = await client.get_all_orders(GetOrdersRequest(page_size=3, page=3))
        assert [o.id for o in page3.orders] == newest_first[6:]
        await status_error(
            client.get_all_orders(GetOrdersRequest(page_size=3, page=4)), NotFoundError
        )
        too_big = await status_error(client.get_all_orders(GetOrdersRequest(page_size=1001)))
        assert list(too_big.field_errors) == ["page_size"]

        sent = len(sandbox.exchanges)
        seen = [o.id async for o in client.iter_orders(GetOrdersRequest(page_size=3))]
        assert seen == newest_first
        asked = [dict(e.url.params) for e in sandbox.exchanges[sent:]]
        assert asked == [{"page": str(p), "page_size": "3"} for p in (1, 2, 3)]

        def ids(page: Any) -> list[str | None]:
            return [o.custom_order_id for o in page.orders]

        canceled = await client.get_all_orders(GetOrdersRequest(statuses=["CANCELED"]))
        assert ids(canceled) == ["c2"]
        active = await client.get_all_orders(GetOrdersRequest(statuses=["ACTIVE", "COMPLETE"]))
        assert ids(active) == ["c7", "c6", "c5", "c4", "c3", "c1"]
        chosen = await client.get_all_orders(GetOrdersRequest(custom_order_ids=["c1", "c5"]))
        assert ids(chosen) == ["c5", "c1"]
        on_test = await client.get_all_orders(GetOrdersRequest(account_names=["test"]))
        assert ids(on_test) == ["c7", "c6"]
        both = await client.get_all_orders(
            GetOrdersRequest(account_names=["mock"], statuses=["ACTIVE"], page_size=2)
        )
        assert ids(both) == ["c5", "c4"]
        assert (both.count, both.num_pages) == (4, 2)


@pytest.mark.asyncio
async def test_fail_next_fails_that_many_calls() -> None:
    sandbox = Sandbox()
    async with sandbox.client(max_retries=0) as client:
        rule = sandbox.faults.fail_next(2, status=503)
        for _ in range(2):
            error = await status_error(client.get_balances(), InternalServerError)
            assert isinstance(error, APIStatusError)
            assert isinstance(error, TaaSError)
            assert error.status_code == 503
            assert error.body == {"detail": "sandbox fault: HTTP 503"}
        assert rule.remaining == 0
        balances = await client.get_balances()
        assert set(balances) == {"mock", "test"}
    assert [e.status for e in sandbox.exchanges] == [503, 503, 200]


@pytest.mark.asyncio
async def test_fail_after_the_order_took_effect() -> None:
    sandbox = Sandbox()

    def trail() -> list[tuple[str, str, int]]:
        """What the client sent since the last call, as (method, path?query, status)."""
        seen = [(x.method, x.url.raw_path.decode(), x.status) for x in sandbox.exchanges]
        sandbox.exchanges.clear()
        return seen

    async with sandbox.client(max_retries=0, backoff=Backoff.none()) as client:
        # The order took effect, then a 500: the SDK looks it up by its id and returns it.
        sandbox.faults.fail_next(1, status=500, method="POST", path="api/orders/", after=True)
        order = await client.place_order(order_request(custom_order_id="lost-reply-1"))
        assert order.custom_order_id == "lost-reply-1"
        assert order.status == OrderStatus.ACTIVE
        assert trail() == [
            ("POST", "/api/orders/", 500),
            ("GET", "/api/orders/?custom_order_ids=lost-reply-1&page_size=100", 200),
        ]
        found = await client.get_all_orders(GetOrdersRequest(custom_order_ids=["lost-reply-1"]))
        assert [o.id for o in found.orders] == [order.id]  # placed once
        trail()

        # A gateway failure after the fact, and the lookup fails too: the outcome is unknown.
        sandbox.faults.fail_next(2, status=502, path="api/orders/", after=True)
        with pytest.raises(OrderOutcomeUnknownError) as info:
            await client.place_order(order_request(custom_order_id="lost-reply-2"))
        assert info.value.custom_order_id == "lost-reply-2"
        assert trail() == [
            ("POST", "/api/orders/", 502),
            ("GET", "/api/orders/?custom_order_ids=lost-reply-2&page_size=100", 502),
        ]
        found = await client.get_all_orders(GetOrdersRequest(custom_order_ids=["lost-reply-2"]))
        assert len(found.orders) == 1

        # Without after=True the request never reaches the engine: the lookup finds
        # nothing; with no retry left the outcome is unknown, and nothing was placed.
        sandbox.faults.fail_next(1, status=500, path="api/orders/")
        with pytest.raises(OrderOutcomeUnknownError) as info:
            await client.place_order(order_request(custom_order_id="never-placed"))
        assert "not found" in str(info.value)
        assert type(info.value.__cause__) is InternalServerError
        found = await client.get_all_orders(GetOrdersRequest(custom_order_ids=["never-placed"]))
        assert found.orders == []
        assert len(sandbox.engine.orders) == 2
        trail()

        # With a retry left, the same request (same id) is sent again, and placed once.
        sandbox.faults.fail_next(1, status=500, path="api/orders/")
        order = await client.place_order(
            order_request(custom_order_id="placed-on-resend"), max_retries=1
        )
        assert order.custom_order_id == "placed-on-resend"
        assert trail() == [
            ("POST", "/api/orders/", 500),
            ("GET", "/api/orders/?custom_order_ids=placed-on-resend&page_size=100", 200),
            ("POST", "/api/orders/", 201),
        ]
        assert len(sandbox.engine.orders) == 3


@pytest.mark.asyncio
async def test_multi_order_legs_carry_its_id_so_a_lost_reply_is_reconciled() -> None:
    # Sandbox rule: a multi order's legs carry its custom_order_id, so a lookup
    # by that id finds them and, through parent_order, the multi order.
    sandbox = Sandbox()
    async with sandbox.client(max_retries=0, backoff=Backoff.none()) as client:
        sandbox.faults.fail_next(1, status=502, method="POST", path="api/multi_orders/", after=True)
        multi = await client.place_multi_order(
            PlaceMultiOrderRequest(
                accounts=["mock"],
                duration=60,
                strategy="TWAP",
                child_orders=[
                    ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty="3"),
                    ChildOrder(pair="SOL-USDT", side="sell", base_asset_qty="30"),
                ],
                custom_order_id="multi-lost-1",
            )
        )
        assert list(sandbox.engine.multis) == [multi.id]  # placed once, returned
        legs = await client.get_all_orders(GetOrdersRequest(custom_order_ids=["multi-lost-1"]))
        assert len(legs.orders) == 2
        assert {o.parent_order for o in legs.orders} == {multi.id}
        assert sorted(o.id for o in legs.orders) == sorted(multi.child_order_ids)
    assert [(x.method, x.url.path, x.status) for x in sandbox.exchanges] == [
        ("POST", "/api/multi_orders/", 502),
        ("GET", "/api/orders/", 200),
        ("GET", f"/api/multi_order/{multi.id}", 200),
        ("GET", "/api/orders/", 200),
    ]


@pytest.mark.asyncio
async def test_fault_narrowing_by_path_and_method() -> None:
    sandbox = Sandbox()
    async with sandbox.client(max_retries=0) as client:
        placed = await client.place_order(order_request())
        sandbox.faults.fail_next(1, status=503, path="api/balances")
        assert (await client.get_order(placed.id)).id == placed.id
        await status_error(client.get_balances(), InternalServerError)
        await client.get_balances()

        sandbox.faults.fail_next(1, status=409, method="delete")
        await client.get_order(placed.id)
        await client.pause_order(placed.id)
        await client.resume_order(placed.id)
        conflict = await status_error(client.cancel_order(placed.id), ConflictError)
        assert conflict.status_code == 409
        assert (await client.get_order(placed.id)).status == OrderStatus.ACTIVE  # not canceled
        await client.cancel_order(placed.id)
        assert (await client.get_order(placed.id)).status == OrderStatus.CANCELED


@pytest.mark.asyncio
async def test_html_fault_keeps_raw_text() -> None:
    sandbox = Sandbox()
    page = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
    async with sandbox.client(max_retries=0) as client:
        sandbox.faults.fail_next(1, status=502, body=page)
        error = await status_error(client.get_balances(), InternalServerError)
    assert error.status_code == 502
    assert error.body == page
    assert error.text == page
    assert "502 Bad Gateway" in error.message
    assert sandbox.exchanges[-1].reply == page.encode()


@pytest.mark.asyncio
async def test_latency_knob_delays_replies_in_real_time_only() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        await client.get_balances()  # warm up
        sandbox.faults.latency = 0.05
        before = sandbox.now()
        started = time.perf_counter()
        await client.get_balances()
        assert time.perf_counter() - started >= 0.05
        assert sandbox.now() == before  # the virtual clock did not move
        sandbox.faults.clear()
        assert sandbox.faults.latency == 0


# --------------------------------------------------------------------------- 12. leverage, closing


@pytest.mark.asyncio
async def test_set_leverage_sticks() -> None:
    sandbox = Sandbox()
    account = sandbox.engine.accounts["mock"]
    async with sandbox.client() as client:
        result = await client.set_leverage(
            SetLeverageRequest(account_ids=[account.id], pair=PERP, leverage=5)
        )
        assert result.success is True
        placed = await client.place_order(
            order_request(pair=PERP, strategy="Market", base_asset_qty="2")
        )
        order = await client.get_order(placed.id)
        sandbox.advance(30)
        position = (await holdings(client))[PERP]
        assert position.leverage == 5
        assert position.size == 2
        assert position.initial_margin == abs(position.notional) / 5
        assert position.unrealized_profit == position.notional - order.executed_notional
        assert account.leverage == {PERP: Decimal(5)}

        unknown = await status_error(
            client.set_leverage(SetLeverageRequest(account_ids=["nope"], pair=PERP, leverage=2))
        )
        assert unknown.field_errors == {"account_ids": ["unknown account ids: nope"]}
        assert (await holdings(client))[PERP].leverage == 5


@pytest.mark.asyncio
async def test_close_balances_flattens_up_to_max_notional() -> None:
    sandbox = Sandbox(accounts={"closer": ("Mock", {"USDT": 10_000, "ETH": 5, "SOL": 10})})
    async with sandbox.client() as client:
        short = await client.place_order(
            order_request(
                accounts=["closer"], pair=PERP, side="sell", strategy="Market", base_asset_qty="1"
            )
        )
        short = await client.get_order(short.id)
        assert (await holdings(client, "closer"))[PERP].size == -1

        result = await client.close_balances(6000, account_names=["closer"])
        assert result.message == "opened 3 orders to close balances"
        closing = {}
        for order_id in result.order_ids:
            order = await client.get_order(order_id)
            closing[order.pair] = order
        assert {p: (o.side, o.base_asset_qty) for p, o in closing.items()} == {
            "ETH-USDT": ("sell", Decimal(2)),  # 6000 / 3000: capped
            "SOL-USDT": ("sell", Decimal(10)),  # 1500 < 6000: all of it
            PERP: ("buy", Decimal(1)),
        }
        assert closing[PERP].pos_side == "short"
        assert {o.notes for o in closing.values()} == {"close_balances"}
        assert {o.strategy for o in closing.values()} == {"TWAP"}
        assert {o.duration for o in closing.values()} == {300}

        sandbox.advance(300)
        closing = {p: await client.get_order(o.id) for p, o in closing.items()}
        assert {o.status for o in closing.values()} == {OrderStatus.COMPLETE}
        after = await holdings(client, "closer")
        assert size(after, "ETH") == 3
        assert size(after, "SOL") == 0
        assert PERP not in after
        cash = (
            Decimal(10_000)
            + closing["ETH-USDT"].executed_notional
            + closing["SOL-USDT"].executed_notional
            + short.executed_notional
            - closing[PERP].executed_notional
            - fee_of(short)
            - sum((fee_of(o) for o in closing.values()), Decimal(0))
        )
        assert size(after, "USDT") == cash


@pytest.mark.asyncio
async def test_exchanges_keep_only_the_latest() -> None:
    sandbox = Sandbox(max_exchanges=3)
    async with sandbox.client(max_retries=0) as client:
        for name in ("mock", "test", "mock", "test", "mock"):
            await client.get_balances(account_names=[name])
    assert [x.url.params["account_names"] for x in sandbox.exchanges] == ["mock", "test", "mock"]
    quiet = Sandbox(max_exchanges=0)
    async with quiet.client() as client:
        await client.get_balances()
    assert quiet.exchanges == []
    with pytest.raises(ValueError, match="max_exchanges"):
        Sandbox(max_exchanges=-1)


@pytest.mark.asyncio
async def test_a_callers_decimal_context_does_not_round_the_venue() -> None:
    import decimal

    sandbox = Sandbox()
    async with sandbox.client() as client:
        with decimal.localcontext(decimal.Context(prec=4)):  # a caller's coarse context
            placed = await client.place_order(
                order_request(base_asset_qty="1.23456789", duration=30)
            )
            sandbox.advance(31)
            done = await client.get_order(placed.id)
    assert done.status == OrderStatus.COMPLETE
    assert done.executed_qty == Decimal("1.23456789")
    for fill in done.placements:
        assert fill["notional"] == fill["qty"] * fill["price"]
    assert done.executed_notional == sum(f["notional"] for f in done.placements)
