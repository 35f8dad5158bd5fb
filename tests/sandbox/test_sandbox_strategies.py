"""Each strategy of the sandbox fills its own way, exactly and reproducibly.

One fill-curve test per strategy (docs/sandbox.md, "Strategies"), the
execution parameters' effects, fees and the perp basis. Curves are read
off the engine on the virtual clock. Where a test needs the schedule
itself, free of ``schedule_discretion``'s opportunism, it keeps the price
pinned worse than the arrival price before every step (prices move at most
0.1% a second, so a pin 1% away holds for the step).

The strategy names and parameters are the TaaS docs' (API-FACTS §3.1, §4);
a resumed order "carries on from current market conditions and does not
try to catch up" (API-FACTS §3.5).
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest

from taas_async import (
    AmendOrderRequest,
    ChildOrder,
    OrderInChain,
    OrderStatus,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    Side,
)
from taas_async.sandbox import DEFAULT_START, LOT, Pair, Sandbox, SimOrder, _render
from taas_async.sandbox._market import FeeTable

ETH = Pair.parse("ETH-USDT")
PERP = Pair.parse("ETH:PERP-USDT")
SECOND = dt.timedelta(seconds=1)
BPS = Decimal(10_000)
NOON = 43_200


def request(**fields: Any) -> PlaceOrderRequest:
    """A buy of 20 ETH on "mock"; keyword arguments add or replace fields (None drops one)."""
    body: dict[str, Any] = {
        "accounts": ["mock"],
        "pair": "ETH-USDT",
        "side": "buy",
        "base_asset_qty": "20",
    }
    body.update(fields)
    return PlaceOrderRequest(**{k: v for k, v in body.items() if v is not None})


def place(sandbox: Sandbox, **fields: Any) -> SimOrder:
    """Place on the engine and start it (the next sync starts a new order)."""
    order = sandbox.engine.place_order(request(**fields))
    sandbox.advance(0)
    return order


def round6(value: Decimal) -> Decimal:
    """Six significant digits: the simulator's price tick."""
    return value.quantize(Decimal(1).scaleb(value.adjusted() - 5))


def run_against_the_price(
    sandbox: Sandbox, order: SimOrder, seconds: int, *, away: Decimal
) -> list[Decimal]:
    """Step a second at a time with ETH pinned ``away`` (e.g. 1.01) times the arrival price.

    Returns the executed quantity after each second.
    """
    assert order.arrival_price is not None
    seen = []
    for _ in range(seconds):
        sandbox.set_token_price("ETH", order.arrival_price * away)
        sandbox.advance(1)
        seen.append(order.executed_qty)
    return seen


WORSE, BETTER = Decimal("1.01"), Decimal("0.99")  # for a buy


# --------------------------------------------------------------------------- scheduled curves


def twap(k: int, n: int) -> Decimal:
    return Decimal(k) / n


def implementation_shortfall(k: int, n: int) -> Decimal:
    return 1 - (Decimal(n - k) / n) ** 2


def target_time(k: int, n: int) -> Decimal:
    return (Decimal(k) / n) ** 2


@pytest.mark.parametrize(
    ("strategy", "curve"),
    [("TWAP", twap), ("IS", implementation_shortfall), ("Target Time", target_time)],
)
def test_scheduled_curve_per_strategy(strategy: str, curve: Any) -> None:
    """20 slices over 20 s; with the price never better than on arrival, exactly the curve."""
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    order = place(sandbox, strategy=strategy, duration=20)
    seen = run_against_the_price(sandbox, order, 20, away=WORSE)
    assert seen == [(20 * curve(k, 20)).quantize(LOT, ROUND_DOWN) for k in range(1, 21)]
    assert order.status is OrderStatus.COMPLETE
    assert order.executed_qty == 20
    grew = [k for k in range(1, 21) if seen[k - 1] > (seen[k - 2] if k > 1 else 0)]
    assert [f.time for f in order.fills] == [DEFAULT_START + k * SECOND for k in grew]


def test_is_front_loads_and_target_time_back_loads_against_twap() -> None:
    """At 25% of the time: IS 43.75%, TWAP 25%, Target Time 6.25% (even with discretion)."""
    filled = {}
    for strategy in ("IS", "TWAP", "Target Time"):
        sandbox = Sandbox()
        order = place(sandbox, strategy=strategy, duration=20)
        sandbox.advance(5)  # the walk, with the default schedule_discretion (0.08)
        filled[strategy] = order.executed_qty / 20
    assert filled["IS"] >= Decimal("0.4375")
    assert Decimal("0.25") <= filled["TWAP"] <= Decimal("0.33")
    assert Decimal("0.0625") <= filled["Target Time"] <= Decimal("0.1425")
    assert filled["IS"] > filled["TWAP"] > filled["Target Time"]


def vwap_fraction(start: int, duration: int, k: int, n: int = 30) -> Decimal:
    """The documented profile: weight NOON**2 + 3 (s - NOON)**2 at each slice's middle second."""

    def weight(j: int) -> int:
        second = (start + (2 * j - 1) * duration // (2 * n)) % 86_400
        return NOON * NOON + 3 * (second - NOON) ** 2

    return Decimal(sum(weight(j) for j in range(1, k + 1))) / sum(
        weight(j) for j in range(1, n + 1)
    )


@pytest.mark.parametrize(("hour", "front_loaded"), [(0, True), (12, False)])
def test_vwap_follows_the_intraday_volume_profile(hour: int, front_loaded: bool) -> None:
    """12 h from midnight, volume falls toward noon: VWAP fills ahead of TWAP. From noon, behind."""
    sandbox = Sandbox()
    sandbox.advance(hour * 3600)
    order = place(sandbox, strategy="VWAP", duration=12 * 3600)
    start = int(order.time_start.timestamp())  # type: ignore[union-attr]
    for k in (5, 15, 25):  # slices of 24 minutes
        sandbox.advance(order.time_start + k * 1440 * SECOND - sandbox.now())  # type: ignore[operator]
        schedule = vwap_fraction(start, 12 * 3600, k)
        share = order.executed_qty / 20
        # On schedule, or ahead of it by up to the discretion (0.08); never behind.
        assert schedule - LOT <= share <= schedule + Decimal("0.08") + LOT
        assert (schedule > Decimal(k) / 30) is front_loaded
    sandbox.advance(12 * 3600)
    assert (order.status, order.executed_qty) == (OrderStatus.COMPLETE, 20)
    # Halfway: the profile's integral, 68.75% from midnight, 31.25% from noon (to a slice).
    halfway = Decimal("0.6875") if front_loaded else Decimal("0.3125")
    assert abs(vwap_fraction(start, 12 * 3600, 15) - halfway) < Decimal("0.01")


def test_vwap_of_the_same_order_differs_by_time_of_day() -> None:
    def run(hour: int) -> list[Decimal]:
        sandbox = Sandbox()
        sandbox.advance(hour * 3600)
        sandbox.set_token_price("ETH", 3000)
        order = place(sandbox, strategy="VWAP", duration=7200)
        return run_against_the_price(sandbox, order, 3600, away=WORSE)[239::240]

    at_midnight, at_noon = run(0), run(12)
    assert at_midnight != at_noon
    assert at_midnight[-1] > Decimal(10) > at_noon[-1]  # halfway: ahead of TWAP, behind it


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(("tilt", "curve"), [("1", implementation_shortfall), ("-1", target_time)])
def test_alpha_tilt_bends_the_schedule(tilt: str, curve: Any) -> None:
    """f + a f (1 - f): a TWAP tilted by +1 runs the IS curve, by -1 the Target Time one."""
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    order = place(sandbox, strategy="TWAP", duration=20, alpha_tilt=tilt)
    seen = run_against_the_price(sandbox, order, 20, away=WORSE)
    assert seen == [(20 * curve(k, 20)).quantize(LOT, ROUND_DOWN) for k in range(1, 21)]


def test_alpha_tilt_half_way() -> None:
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    order = place(sandbox, strategy="TWAP", duration=20, alpha_tilt="0.5")
    seen = run_against_the_price(sandbox, order, 10, away=WORSE)
    assert seen[4] == 20 * (Decimal("0.25") + Decimal("0.5") * Decimal("0.25") * Decimal("0.75"))


@pytest.mark.parametrize("discretion", ["0.02", "0.08", "0.3"])
def test_schedule_discretion_goes_ahead_on_a_good_price(discretion: str) -> None:
    """A price better than on arrival: schedule plus discretion, short of the last slice."""
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    order = place(sandbox, strategy="TWAP", duration=20, schedule_discretion=discretion)
    seen = run_against_the_price(sandbox, order, 20, away=BETTER)
    ahead = [min(Decimal(k) + 20 * Decimal(discretion), Decimal(19)) for k in range(1, 20)]
    assert seen == [*ahead, 20]
    behind = Sandbox()
    behind.set_token_price("ETH", 3000)
    other = place(behind, strategy="TWAP", duration=20, schedule_discretion=discretion)
    assert run_against_the_price(behind, other, 20, away=WORSE) == list(range(1, 21))


def slice_price(mid: Decimal, side: Side, passiveness: str) -> Decimal:
    """An algorithm's price: mid moved 1 bp x (1 - 2 passiveness) against its side."""
    sign = 1 if side is Side.BUY else -1
    return round6(mid * (1 + sign * (1 - 2 * Decimal(passiveness)) / BPS))


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
@pytest.mark.parametrize("passiveness", ["0", "0.02", "0.5", "1"])
def test_engine_passiveness_sets_the_slice_price(side: Side, passiveness: str) -> None:
    sandbox = Sandbox()
    order = place(
        sandbox, strategy="TWAP", duration=10, side=side.value, engine_passiveness=passiveness
    )
    for _ in range(10):
        sandbox.advance(1)
        if order.fills and order.fills[-1].time == sandbox.now():
            assert order.fills[-1].price == slice_price(
                sandbox.price("ETH-USDT"), side, passiveness
            )
    assert order.status is OrderStatus.COMPLETE


def test_a_passive_order_lags_its_schedule_and_finishes_at_its_end() -> None:
    """Above one half, a slice fills 1.5 - passiveness of what it owes; the last takes the rest."""
    runs = {}
    for passiveness in ("0.5", "0.75", "1"):
        sandbox = Sandbox()
        sandbox.set_token_price("ETH", 3000)
        order = place(sandbox, strategy="TWAP", duration=20, engine_passiveness=passiveness)
        runs[passiveness] = run_against_the_price(sandbox, order, 20, away=WORSE)
        assert order.status is OrderStatus.COMPLETE
    assert runs["0.5"] == list(range(1, 21))  # on schedule
    # Passiveness 1: half of what is owed each second: 0.5, then (2 - 0.5) / 2 = 0.75, ...
    assert runs["1"][:3] == [Decimal("0.5"), Decimal("1.25"), Decimal("2.125")]
    assert runs["0.75"][0] == Decimal("0.75")
    for k in range(19):
        assert runs["1"][k] < runs["0.75"][k] < runs["0.5"][k]
    assert runs["1"][-1] == runs["0.75"][-1] == 20


# --------------------------------------------------------------------------- POV


def test_pov_trades_its_share_of_the_simulated_volume() -> None:
    """Every 5 s: pov_target of the market's volume over those seconds, in whole lots."""
    market_volume = []
    fills = {}
    for target in ("0.05", "0.1"):
        sandbox = Sandbox()
        order = place(sandbox, strategy="TWAP", pov_target=target, base_asset_qty="1000")
        assert order.request.duration is None
        for step in range(1, 7):
            sandbox.advance(5)
            start, end = sandbox.now() - 5 * SECOND, sandbox.now()
            volume = sandbox.engine.market.volume(ETH, start, end)
            if target == "0.1":
                market_volume.append(volume)
            assert len(order.fills) == step
            assert order.fills[-1].qty == (Decimal(target) * volume).quantize(LOT, ROUND_DOWN)
        fills[target] = [f.qty for f in order.fills]
        assert order.status is OrderStatus.ACTIVE  # no fixed end
    for small, large in zip(fills["0.05"], fills["0.1"], strict=True):
        assert abs(2 * small - large) <= 2 * LOT
    assert len(set(market_volume)) == len(market_volume)  # the volume varies, seeded


def test_market_volume_is_the_documented_profile() -> None:
    """10,000 USD a second x day_weight / (2 NOON**2) x the second's factor (0.5 to 1.5)."""
    sandbox = Sandbox()
    market = sandbox.engine.market
    at = DEFAULT_START + 7 * SECOND
    second = int(at.timestamp())
    noise = market.noise(ETH, second)
    assert 500 <= noise <= 1500
    weight = NOON * NOON + 3 * (second % 86_400 - NOON) ** 2
    usd = Decimal(10_000) * weight / (2 * NOON * NOON) * noise / 1000
    expected = (usd / sandbox.engine.prices.usd("ETH", at)).quantize(LOT, ROUND_DOWN)
    assert market.volume(ETH, at - SECOND, at) == expected
    assert market.volume(ETH, at, at) == 0
    noises = {market.noise(ETH, s) for s in range(second, second + 200)}
    assert min(noises) < 600
    assert max(noises) > 1400
    window = range(second, second + 50)
    assert [market.noise(PERP, s) for s in window] != [market.noise(ETH, s) for s in window]
    other = Sandbox(seed=1).engine.market
    assert [other.noise(ETH, s) for s in window] != [market.noise(ETH, s) for s in window]


def test_pov_limit_caps_the_participation() -> None:
    capped, plain = Sandbox(), Sandbox()
    a = place(capped, strategy="TWAP", pov_target="0.2", pov_limit="0.1", base_asset_qty="1000")
    b = place(plain, strategy="TWAP", pov_target="0.1", base_asset_qty="1000")
    capped.advance(30)
    plain.advance(30)
    assert [f.qty for f in a.fills] == [f.qty for f in b.fills]
    assert len(a.fills) == 6


def test_pov_limit_caps_each_slice_of_a_scheduled_order() -> None:
    """A TWAP owing 1 ETH a second on a market trading ~6.7: 5% of it holds slices back."""
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    order = place(sandbox, strategy="TWAP", duration=20, pov_limit="0.05")
    for _ in range(20):
        sandbox.set_token_price("ETH", 3030)  # worse than on arrival: no going ahead
        sandbox.advance(1)
        now = sandbox.now()
        cap = (Decimal("0.05") * sandbox.engine.market.volume(ETH, now - SECOND, now)).quantize(
            LOT, ROUND_DOWN
        )
        assert order.fills[-1].time == now
        assert order.fills[-1].qty == cap  # always behind: every slice fills its cap
    assert order.status is OrderStatus.COMPLETE
    assert 0 < order.executed_qty < 20
    assert order.failure_reason == "the participation limit (pov_limit) held back part of the order"


def test_pov_completes_when_filled_and_a_duration_is_its_deadline() -> None:
    sandbox = Sandbox()
    small = place(sandbox, strategy="IS", pov_target="0.1", base_asset_qty="5")
    capped = place(sandbox, strategy="IS", pov_target="0.01", base_asset_qty="500", duration=60)
    sandbox.advance(600)
    assert (small.status, small.executed_qty) == (OrderStatus.COMPLETE, 5)
    assert small.time_end is not None
    assert small.time_end < DEFAULT_START + 60 * SECOND
    assert capped.status is OrderStatus.COMPLETE
    assert capped.time_end == DEFAULT_START + 60 * SECOND
    assert 0 < capped.executed_qty < 500
    assert capped.failure_reason == "the duration ran out before the order filled"
    assert len(capped.fills) == 12


@pytest.mark.asyncio
async def test_a_pov_order_reply_has_no_duration_and_no_planned_end() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(
            request(strategy="VWAP", pov_target="0.1", base_asset_qty="1000")
        )
        sandbox.advance(10)
        order = await client.get_order(placed.id)
    assert order.status == OrderStatus.ACTIVE
    assert (order.duration, order.time_end, order.pov_target) == (None, None, Decimal("0.1"))
    assert len(order.placements) == 2


# --------------------------------------------------------------------------- Market, IOC


def taker_price(mid: Decimal, side: Side, qty: Decimal, usd: Decimal) -> Decimal:
    """The touch (1 bp) plus the impact of walking a book of 25,000 USD per bp."""
    sign = 1 if side is Side.BUY else -1
    return round6(mid * (1 + sign * (1 + qty * usd / 50_000) / BPS))


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_market_fills_at_once_with_slippage_growing_with_size(side: Side) -> None:
    prices = {}
    for qty in ("1", "100", "1000"):
        sandbox = Sandbox()
        sandbox.set_token_price("ETH", 3000)
        order = place(sandbox, strategy="Market", side=side.value, base_asset_qty=qty)
        [fill] = order.fills
        assert order.status is OrderStatus.COMPLETE
        assert order.arrival_price == 3000
        assert fill.qty == Decimal(qty)
        assert fill.price == taker_price(Decimal(3000), side, Decimal(qty), Decimal(3000))
        assert fill.time == order.time_end == DEFAULT_START
        prices[qty] = fill.price
    worse = [prices["1"], prices["100"], prices["1000"]]
    assert worse == (sorted(worse) if side is Side.BUY else sorted(worse, reverse=True))
    # 1000 ETH (3M USD) walks 60 bps into the book, plus the touch: 61 bps.
    assert abs(prices["1000"] - 3000) == Decimal("18.30")


def test_ioc_fills_the_liquidity_at_its_limit_and_cancels_the_rest() -> None:
    """The book holds 25,000 USD a bp beyond the touch: 3 bps of room find 2 bps, 50,000 USD."""
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    limit = Decimal("3000.90")  # mid + 3 bps
    order = place(sandbox, strategy="IOC", base_asset_qty="100", limit_price=limit)
    [fill] = order.fills
    assert fill.qty == Decimal("16.66666666")  # 50,000 USD of ETH, whole lots down
    assert fill.price == taker_price(Decimal(3000), Side.BUY, fill.qty, Decimal(3000))
    assert fill.price <= limit
    assert order.status is OrderStatus.CANCELED
    assert order.failure_reason == "IOC: the rest found no liquidity at its limit"
    assert 0 < order.pct_filled < 100
    sandbox.advance(600)
    assert order.fills == [fill]  # the rest never fills


def test_ioc_within_the_book_completes_and_without_a_limit_takes_it_all() -> None:
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    roomy = place(sandbox, strategy="IOC", side="sell", base_asset_qty="10", limit_price="2990")
    anything = place(sandbox, strategy="IOC", base_asset_qty="5000")
    assert (roomy.status, roomy.executed_qty) == (OrderStatus.COMPLETE, 10)
    assert roomy.fills[0].price >= 2990
    assert (anything.status, anything.executed_qty) == (OrderStatus.COMPLETE, 5000)


# --------------------------------------------------------------------------- Limit


@pytest.mark.parametrize(("side", "limit", "through"), [("buy", 2950, 2940), ("sell", 3050, 3060)])
def test_limit_rests_until_the_price_reaches_it_and_fills_there(
    side: str, limit: int, through: int
) -> None:
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    order = place(sandbox, strategy="Limit", side=side, limit_price=limit)
    sandbox.advance(5)
    assert (order.status, order.fills) == (OrderStatus.ACTIVE, [])
    sandbox.engine.prices.set_price("ETH", Decimal(through), sandbox.now())
    sandbox.advance(0)
    [fill] = order.fills
    assert (fill.qty, fill.price, fill.time) == (20, limit, DEFAULT_START + 5 * SECOND)
    assert order.status is OrderStatus.COMPLETE


def test_a_marketable_limit_fills_at_once_at_the_limit_or_better() -> None:
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    order = place(sandbox, strategy="Limit", limit_price="3100")
    [fill] = order.fills
    assert fill.price == taker_price(Decimal(3000), Side.BUY, Decimal(20), Decimal(3000))
    assert fill.price < 3100
    assert order.status is OrderStatus.COMPLETE


def test_a_limit_fills_at_the_first_second_the_walk_reaches_it() -> None:
    """The engine skips the seconds the price cannot reach the limit in, and misses none."""
    for seed in range(3):
        for offset in (-40, -15, 15, 40):  # limits 0.4% to 1.3% away
            probe = Sandbox(seed=seed)
            start = probe.now()
            limit = Decimal(3000 + offset)
            side = "buy" if offset < 0 else "sell"
            first = None
            for second in range(1, 1800):
                mid = probe.engine.prices.price(ETH, start + second * SECOND)
                if (mid <= limit) if side == "buy" else (mid >= limit):
                    first = second
                    break
            sandbox = Sandbox(seed=seed)
            order = place(sandbox, strategy="Limit", side=side, limit_price=limit)
            sandbox.advance(1800)
            if first is None:
                assert order.fills == []
            else:
                assert [(f.time, f.price) for f in order.fills] == [(start + first * SECOND, limit)]


def test_a_limit_without_duration_is_still_active_after_ten_days() -> None:
    sandbox = Sandbox()
    order = place(sandbox, strategy="Limit", limit_price="1")
    sandbox.advance(10 * 86_400)
    assert order.status is OrderStatus.ACTIVE
    assert order.fills == []
    assert order.time_end is None
    assert order.failure_reason == ""


def test_amending_a_limit_price_places_it_anew() -> None:
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    order = place(sandbox, strategy="Limit", limit_price="2000")
    sandbox.advance(10)
    sandbox.engine.amend_order(
        AmendOrderRequest(order_id=order.id, changes={"limit_price": "4000"})
    )
    sandbox.advance(0)
    [fill] = order.fills
    assert fill.time == DEFAULT_START + 10 * SECOND
    assert fill.price < 4000  # it took the book, at the market
    assert order.status is OrderStatus.COMPLETE


def test_a_paused_limit_does_not_fill_and_resumes_from_the_market_as_it_is() -> None:
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    order = place(sandbox, strategy="Limit", limit_price="2950")
    sandbox.engine.pause_order(order.id)
    sandbox.set_token_price("ETH", 2900)
    sandbox.advance(60)
    assert (order.status, order.fills) == (OrderStatus.PAUSED, [])
    sandbox.engine.resume_order(order.id)
    sandbox.advance(0)
    [fill] = order.fills
    # Placed again into a market already below it: it takes the book there, not at 2950.
    mid = sandbox.price("ETH-USDT")
    assert fill.price == taker_price(mid, Side.BUY, Decimal(20), mid)
    assert fill.price < 2950


# --------------------------------------------------------------------------- Iceberg


def test_iceberg_shows_one_slice_at_a_time_each_within_five_percent() -> None:
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    order = place(sandbox, strategy="Iceberg", base_asset_qty="10", limit_price="2900")
    factors = order.slice_factors
    assert len(factors) == 10
    assert sum(factors) == 10_000
    assert all(950 <= f <= 1050 for f in factors)
    assert len(set(factors)) > 1  # randomised, from the seeded generator
    sandbox.advance(30)  # 30 steps of at most 0.1% cannot reach 2900
    assert order.fills == []  # resting at 2900

    sandbox.set_token_price("ETH", 2890)
    sandbox.advance(0)  # the visible slice fills at its limit
    sandbox.set_token_price("ETH", 3000)  # and the market leaves before the next one shows
    sandbox.advance(30)
    [first] = order.fills
    assert (first.price, first.time) == (2900, DEFAULT_START + 30 * SECOND)
    assert first.qty == Decimal(factors[0]) / 1000

    sandbox.set_token_price("ETH", 2890)
    sandbox.advance(20)
    assert order.status is OrderStatus.COMPLETE
    sizes = [f.qty for f in order.fills]
    assert sum(sizes) == 10
    assert sizes == [Decimal(f) / 1000 for f in factors]
    assert all(Decimal("0.95") <= s <= Decimal("1.05") for s in sizes)
    times = [f.time for f in order.fills]
    assert all(b - a >= SECOND for a, b in itertools.pairwise(times))  # one visible at a time
    assert all(f.price <= 2900 for f in order.fills)


def test_iceberg_slices_of_an_odd_amount_add_up_exactly() -> None:
    sandbox = Sandbox(seed=5)
    order = place(sandbox, strategy="Iceberg", base_asset_qty="1.23456789", limit_price="4000")
    sandbox.advance(20)
    share = Decimal("0.123456789")
    assert order.status is OrderStatus.COMPLETE
    assert sum(f.qty for f in order.fills) == Decimal("1.23456789")
    assert len(order.fills) == 10
    low, high = share * Decimal("0.95") - 10 * LOT, share * Decimal("1.05")
    assert all(low <= f.qty <= high for f in order.fills)


@pytest.mark.parametrize("new_total", ["25", "4.5"])
def test_amending_an_iceberg_resizes_its_slices(new_total: str) -> None:
    sandbox = Sandbox()
    order = place(sandbox, strategy="Iceberg", base_asset_qty="10", limit_price="4000")
    sandbox.advance(3)  # marketable: a slice a second, four so far
    assert len(order.fills) == 4
    sandbox.engine.amend_order(
        AmendOrderRequest(order_id=order.id, changes={"base_asset_qty": new_total})
    )
    sandbox.advance(20)
    assert order.status is OrderStatus.COMPLETE
    assert sum(f.qty for f in order.fills) == order.executed_qty == Decimal(new_total)
    later = [f.qty for f in order.fills[4:]]
    share = Decimal(new_total) / 10
    assert all(share * Decimal("0.95") <= q <= share * Decimal("1.05") for q in later[1:])


# --------------------------------------------------------------------------- groups, resume


def test_multi_order_and_chain_legs_fill_by_their_strategy() -> None:
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    multi = sandbox.engine.place_multi_order(
        PlaceMultiOrderRequest(
            accounts=["mock"],
            duration=20,
            strategy="IS",
            child_orders=[ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty="20")],
        )
    )
    chain = sandbox.engine.place_chained_order(
        PlaceChainedOrderRequest(
            orders_in_chain=[
                OrderInChain(order_request=request(strategy="Limit", limit_price="1"), priority=1),
                OrderInChain(order_request=request(strategy="Market"), priority=2),
            ]
        )
    )
    sandbox.advance(0)
    [leg] = multi.children
    seen = run_against_the_price(sandbox, leg, 5, away=WORSE)
    assert seen[-1] == 20 * implementation_shortfall(5, 20)  # 8.75, not TWAP's 5
    resting, waiting = chain.legs
    sandbox.advance(3600)
    assert (resting.status, resting.fills) == (OrderStatus.ACTIVE, [])
    assert waiting.time_start is None


def test_a_resumed_order_does_not_catch_up() -> None:
    sandbox = Sandbox()
    sandbox.set_token_price("ETH", 3000)
    order = place(sandbox, strategy="TWAP", duration=20)
    assert run_against_the_price(sandbox, order, 5, away=WORSE)[-1] == 5
    sandbox.engine.pause_order(order.id)
    sandbox.advance(30)
    sandbox.engine.resume_order(order.id)
    # One slice a second goes on from where it stopped: the paused 30 s are not owed.
    assert run_against_the_price(sandbox, order, 3, away=WORSE) == [6, 7, 8]
    sandbox.advance(12)
    assert (order.status, order.time_end) == (OrderStatus.COMPLETE, DEFAULT_START + 50 * SECOND)


def test_a_resumed_pov_order_does_not_trade_the_volume_it_missed() -> None:
    sandbox = Sandbox()
    order = place(sandbox, strategy="TWAP", pov_target="0.1", base_asset_qty="1000")
    sandbox.advance(5)
    sandbox.engine.pause_order(order.id)
    sandbox.advance(60)
    sandbox.engine.resume_order(order.id)
    resumed = sandbox.now()
    sandbox.advance(5)
    assert len(order.fills) == 2
    volume = sandbox.engine.market.volume(ETH, resumed, resumed + 5 * SECOND)
    assert order.fills[-1].qty == (Decimal("0.1") * volume).quantize(LOT, ROUND_DOWN)


# --------------------------------------------------------------------------- fees


@pytest.mark.parametrize(
    ("exchange", "bps"), [("Mock", 2), ("OKX", 5), ("Binance", 4), ("Kraken", 5)]
)
def test_each_fill_pays_its_venue_fee_rate(exchange: str, bps: int) -> None:
    sandbox = Sandbox(accounts={"acct": (exchange, {"USDT": 100_000})})
    order = place(sandbox, accounts=["acct"], strategy="TWAP", duration=10, base_asset_qty="3")
    sandbox.advance(10)
    assert order.fills
    for fill in order.fills:
        assert fill.fee == fill.notional * bps / BPS
    assert order.total_fee == sum(f.fee for f in order.fills)


def test_fee_rates_are_configurable() -> None:
    sandbox = Sandbox(fee_bps={"Mock": "0.5", "*": 10})
    order = place(sandbox, strategy="Market", base_asset_qty="1")
    other = place(
        sandbox, accounts=["test"], strategy="Market", pair="BTC-USDT", base_asset_qty="1"
    )
    assert order.total_fee == order.executed_notional * Decimal("0.5") / BPS
    assert other.total_fee == other.executed_notional * 10 / BPS  # OKX falls to "*"
    free = Sandbox(fee_bps={})
    assert place(free, strategy="Market").total_fee == 0
    for bad in (-1, 10_000):
        with pytest.raises(ValueError, match="fee rate for 'Mock'"):
            Sandbox(fee_bps={"Mock": bad})
    with pytest.raises(ValueError, match="fee rate"):
        FeeTable({"Mock": Decimal("NaN")})


def test_spot_balances_move_by_notional_and_fee_to_the_last_digit() -> None:
    sandbox = Sandbox()
    mock = sandbox.engine.accounts["mock"]
    before = dict(mock.tokens)
    buy = place(sandbox, strategy="VWAP", duration=30, base_asset_qty="1.23456789")
    sell = place(sandbox, strategy="IS", duration=30, side="sell", base_asset_qty="0.5")
    sandbox.advance(30)
    for order in (buy, sell):
        assert order.status is OrderStatus.COMPLETE
        for fill in order.fills:
            assert fill.notional == fill.qty * fill.price
    fees = buy.total_fee + sell.total_fee
    assert fees > 0
    assert mock.tokens["ETH"] - before["ETH"] == Decimal("1.23456789") - Decimal("0.5")
    # Bought: notional plus fee out; sold: notional less fee in.
    spent = buy.executed_notional + buy.total_fee - (sell.executed_notional - sell.total_fee)
    assert before["USDT"] - mock.tokens["USDT"] == spent
    assert before["USDT"] - mock.tokens["USDT"] == (
        buy.executed_notional - sell.executed_notional + fees
    )


def test_perp_fees_leave_the_quote_token_and_the_position_keeps_its_cost() -> None:
    sandbox = Sandbox(accounts={"perp": ("OKX", {"USDT": 10_000})})
    account = sandbox.engine.accounts["perp"]
    opened = place(
        sandbox, accounts=["perp"], pair=PERP.symbol, strategy="Market", base_asset_qty="2"
    )
    position = account.positions[PERP.symbol]
    assert (position.size, position.cost) == (2, opened.executed_notional)
    assert account.tokens["USDT"] == 10_000 - opened.total_fee
    closed = place(
        sandbox,
        accounts=["perp"],
        pair=PERP.symbol,
        strategy="Market",
        side="sell",
        base_asset_qty="2",
    )
    pnl = closed.executed_notional - opened.executed_notional
    assert account.tokens["USDT"] == 10_000 + pnl - opened.total_fee - closed.total_fee
    assert opened.total_fee == opened.executed_notional * 5 / BPS


@pytest.mark.asyncio
async def test_replies_carry_the_fees() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(request(strategy="TWAP", duration=10))
        sandbox.advance(10)
        order = await client.get_order(placed.id)
        summary = await client.get_order_summary(placed.id)
    fees = [fill["fee"] for fill in order.placements]
    assert all(type(f) is Decimal and f > 0 for f in fees)
    assert order.total_fee == summary.total_fee == sum(fees)
    assert order.total_fee == order.executed_notional * 2 / BPS
    assert order.average_executed_price == order.executed_price


# --------------------------------------------------------------------------- basis


def test_a_perp_trades_at_spot_times_one_plus_its_basis() -> None:
    sandbox = Sandbox()
    prices = sandbox.engine.prices
    for token in ("ETH", "BTC", "SOL"):
        pair = Pair.parse(f"{token}:PERP-USDT")
        spot = prices.price(Pair.parse(f"{token}-USDT"), sandbox.now())
        basis = prices.basis_bps(token, sandbox.now())
        assert Decimal(-5) <= basis <= 30
        assert prices.price(pair, sandbox.now()) == round6(spot * (1 + basis / BPS))
    bases = {prices.basis_bps(t, sandbox.now()) for t in ("ETH", "BTC", "SOL", "BNB", "XRP")}
    assert len(bases) > 1  # one per token
    by_seed = {Sandbox(seed=s).engine.prices.basis_bps("ETH", DEFAULT_START) for s in range(5)}
    assert len(by_seed) > 1  # drawn from the seed
    assert Sandbox(seed=3).engine.prices.basis_bps("ETH", DEFAULT_START) == Sandbox(
        seed=3
    ).engine.prices.basis_bps("ETH", DEFAULT_START)
    sandbox.set_token_price("ETH", 2000)
    basis = prices.basis_bps("ETH", sandbox.now())
    assert sandbox.price(PERP.symbol) == round6(2000 * (1 + basis / BPS))
    assert sandbox.price(PERP.symbol) != sandbox.price("ETH-USDT")


def test_the_basis_drifts_slowly_within_its_bounds() -> None:
    sandbox = Sandbox(seed=11)
    prices = sandbox.engine.prices
    seen = [prices.basis_bps("SOL", DEFAULT_START + minute * 60 * SECOND) for minute in range(3000)]
    assert all(abs(b - a) <= Decimal("0.1") for a, b in itertools.pairwise(seen))
    assert all(Decimal(-10) <= b <= 50 for b in seen)
    assert len(set(seen)) > 10


def test_spot_and_perp_legs_fill_at_different_prices_and_balances_use_the_perp_price() -> None:
    sandbox = Sandbox()
    multi = sandbox.engine.place_multi_order(
        PlaceMultiOrderRequest(
            accounts=["mock"],
            duration=10,
            strategy="TWAP",
            child_orders=[
                ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty="3"),
                ChildOrder(pair=PERP.symbol, side="buy", base_asset_qty="3"),
            ],
        )
    )
    prices = sandbox.engine.prices
    for _ in range(10):
        sandbox.advance(1)
        now = sandbox.now()
        spot_mid, perp_mid = sandbox.price("ETH-USDT"), sandbox.price(PERP.symbol)
        assert perp_mid == round6(spot_mid * (1 + prices.basis_bps("ETH", now) / BPS))
        for leg, mid in zip(multi.children, (spot_mid, perp_mid), strict=True):
            if leg.fills and leg.fills[-1].time == now:
                assert leg.fills[-1].price == slice_price(mid, Side.BUY, "0.02")
    spot, perp = multi.children
    assert spot.executed_price != perp.executed_price  # the same side, a basis apart
    mock = sandbox.engine.accounts["mock"]
    assert mock.positions[PERP.symbol].size == 3
    [asset] = [
        a
        for a in _render.balances(sandbox.engine, [mock])["mock"]["assets"]
        if a["symbol"] == PERP.symbol
    ]
    assert asset["notional"] == 3 * sandbox.price(PERP.symbol)
    assert asset["notional"] != 3 * sandbox.price("ETH-USDT")
