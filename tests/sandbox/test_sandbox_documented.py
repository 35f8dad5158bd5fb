"""Rules of the TaaS docs the sandbox follows: chains, the 24-hour pause, priced pairs.

Each test cites the API-FACTS section the rule comes from. Everything runs in
process through the real SDK client on the sandbox's virtual clock:
``sandbox.advance()`` moves time, nothing sleeps, nothing leaves the process.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from request_kwargs import sandbox_order_request

from taas_async import (
    AmendOrderRequest,
    AsyncClient,
    BadRequestError,
    ChildOrder,
    Order,
    OrderInChain,
    OrderStatus,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    SetLeverageRequest,
)
from taas_async.sandbox import DEFAULT_START, PriceFeed, Sandbox

ROOT = Path(__file__).resolve().parents[2]
SECOND = dt.timedelta(seconds=1)
DAY = dt.timedelta(hours=24)
MICROSECOND = dt.timedelta(microseconds=1)
PAUSE_EXPIRED = "paused for more than 24 hours: canceled automatically"


def order_request(**changes: Any) -> PlaceOrderRequest:
    """A 60 s TWAP buy of 1 ETH-USDT on "mock"; keyword arguments replace fields."""
    return sandbox_order_request(**changes)


def leg(name: str, priority: int, **changes: Any) -> OrderInChain:
    return OrderInChain(
        order_request=order_request(custom_order_id=name, **changes), priority=priority
    )


async def place_chain(client: AsyncClient, *legs: OrderInChain) -> tuple[str, dict[str, str]]:
    """Place a chain; its id and its legs' ids by name (``custom_order_id``)."""
    chain = await client.place_chained_order(PlaceChainedOrderRequest(orders_in_chain=list(legs)))
    assert chain.id is not None
    return chain.id, {o.custom_order_id or "": o.id for o in chain.orders}


async def bad_request(awaitable: Any) -> BadRequestError:
    with pytest.raises(BadRequestError) as info:
        await awaitable
    return info.value


def stop_reason(chain_id: str, stopper: Order, unit: str = "ETH") -> str:
    """The failure_reason of the legs a chain canceled: it names the leg that stopped it."""
    return (
        f"chain {chain_id} stopped: order {stopper.id} (priority 1) ended {stopper.status!s}"
        f" with {stopper.pct_filled}% filled ({stopper.executed_qty} of 1 {unit})"
    )


# --------------------------------------------------------------------------- chains


@pytest.mark.asyncio
async def test_a_leg_its_limit_held_back_stops_the_chain() -> None:
    """A leg that ends COMPLETE but partly filled stops the chain (API-FACTS §3.7)."""
    sandbox = Sandbox()
    async with sandbox.client() as client:
        chain_id, ids = await place_chain(
            client,
            leg("held", 1, limit_price="3300"),  # above the price: it fills, until...
            leg("next", 2, side="sell"),
        )
        sandbox.advance(30)
        sandbox.set_token_price("ETH", 4000)  # ... the price passes the limit: the rest held back
        sandbox.advance(30)
        held = await client.get_order(ids["held"])
        assert held.status == OrderStatus.COMPLETE
        assert held.pct_filled is not None
        assert 0 < held.pct_filled < 100
        assert held.failure_reason == "the limit price held back part of the order"

        sandbox.advance(120)  # long after the next leg would have ended
        later = await client.get_order(ids["next"])
        assert later.status == OrderStatus.CANCELED
        assert later.failure_reason == stop_reason(chain_id, held)
        assert later.time_start is None  # it never started
        assert later.time_end == DEFAULT_START + 60 * SECOND  # canceled as the leg ended
        assert later.placements == []
        chain = sandbox.engine.chains[chain_id]
        assert (chain.status, chain.failure_reason) == ("CANCELED", stop_reason(chain_id, held))
        # The stopping leg's log says so (the error of the chain).
        (last,) = (await client.get_order_messages([ids["held"]]))[-1:]
        assert (last.level, last.message) == (
            "error",
            f"{stop_reason(chain_id, held)}; 1 later orders canceled",
        )


@pytest.mark.asyncio
async def test_one_partly_filled_leg_stops_the_chain_though_its_batch_mate_fills() -> None:
    """Batch n+1 starts only once *every* order of batch n fully filled (API-FACTS §3.7)."""
    sandbox = Sandbox()
    async with sandbox.client() as client:
        chain_id, ids = await place_chain(
            client,
            leg("full", 1, duration=60),
            leg("held", 1, duration=30, limit_price="3300"),
            leg("next", 2, side="sell"),
            leg("last", 3, side="sell"),
        )
        sandbox.advance(10)
        sandbox.set_token_price("ETH", 4000)
        sandbox.advance(20)  # t = 30: "held" ends partly filled; "full" runs on
        held = await client.get_order(ids["held"])
        assert held.status == OrderStatus.COMPLETE
        assert held.pct_filled is not None
        assert held.pct_filled < 100
        assert sandbox.engine.chains[chain_id].status == "CANCELED"  # stopped already
        for name in ("next", "last"):
            later = await client.get_order(ids[name])
            assert (later.status, later.time_end) == (
                OrderStatus.CANCELED,
                DEFAULT_START + 30 * SECOND,
            )
            assert later.failure_reason == stop_reason(chain_id, held)

        sandbox.advance(30)
        full = await client.get_order(ids["full"])  # its own batch: it runs to the end
        assert (full.status, full.pct_filled) == (OrderStatus.COMPLETE, 100)
        for name in ("next", "last"):
            assert (await client.get_order(ids[name])).placements == []


@pytest.mark.asyncio
async def test_an_ioc_leg_that_does_not_fill_stops_the_chain() -> None:
    """An IOC leg canceled unfilled: the later legs never start (API-FACTS §3.7)."""
    sandbox = Sandbox()
    async with sandbox.client() as client:
        chain_id, ids = await place_chain(
            client,
            leg("ioc", 1, strategy="IOC", limit_price="1000"),  # far under the price
            leg("next", 2),
        )
        sandbox.advance(60)
        ioc = await client.get_order(ids["ioc"])
        assert ioc.status == OrderStatus.CANCELED
        assert ioc.failure_reason == "the limit price was not reached"
        later = await client.get_order(ids["next"])
        assert later.status == OrderStatus.CANCELED
        assert later.failure_reason == (
            f"chain {chain_id} stopped: order {ioc.id} (priority 1) ended CANCELED"
            " with 0.00% filled (0 of 1 ETH)"
        )
        assert later.placements == []


@pytest.mark.asyncio
async def test_the_next_batch_starts_once_every_leg_of_the_batch_filled() -> None:
    """Legs sized in base or in quote count as filled at 100% (API-FACTS §3.7)."""
    sandbox = Sandbox()
    async with sandbox.client() as client:
        chain_id, ids = await place_chain(
            client,
            leg("base", 1, duration=20),
            leg("quote", 1, duration=40, base_asset_qty=None, quote_asset_qty="1000.5"),
            leg("next", 2, side="sell", duration=10),
        )
        sandbox.advance(39)
        assert (await client.get_order(ids["next"])).time_start is None
        sandbox.advance(1)
        quote = await client.get_order(ids["quote"])
        assert (quote.status, quote.pct_filled) == (OrderStatus.COMPLETE, 100)
        nxt = await client.get_order(ids["next"])
        assert nxt.status == OrderStatus.ACTIVE
        assert nxt.time_start == quote.time_end == DEFAULT_START + 40 * SECOND
        sandbox.advance(10)
        assert sandbox.engine.chains[chain_id].status == "COMPLETE"
        assert sandbox.engine.chains[chain_id].failure_reason == ""


def docs_blocks(marker: str) -> list[str]:
    """The python blocks of docs/sandbox.md that contain ``marker``."""
    text = (ROOT / "docs" / "sandbox.md").read_text()
    return [b for b in re.findall(r"```python\n(.*?)\n```", text, flags=re.S) if marker in b]


def run_docs_example(block: str) -> None:
    """Run a docs example as the README's is run: its body inside ``async def main()``."""
    imports = [line for line in block.splitlines() if line.startswith(("from ", "import "))]
    body = [line for line in block.splitlines() if not line.startswith(("from ", "import "))]
    source = "\n".join([*imports, "async def main():", *("    " + line for line in body)])
    namespace: dict[str, Any] = {}
    exec(compile(source, "docs/sandbox.md", "exec"), namespace)
    anyio.run(namespace["main"])


@pytest.mark.asyncio
async def test_reading_a_chain_back_as_the_docs_show() -> None:
    """The docs' way to read a chain (its legs, its status) agrees with the engine (§3.7)."""
    (helpers,) = docs_blocks("def chain_status")
    namespace: dict[str, Any] = {}
    exec(compile(helpers, "docs/sandbox.md", "exec"), namespace)
    chain_legs, chain_status = namespace["chain_legs"], namespace["chain_status"]

    sandbox = Sandbox()
    async with sandbox.client() as client:
        chain_id, ids = await place_chain(
            client,
            leg("first", 1, start_datetime=DEFAULT_START + 10 * SECOND),
            leg("second", 2, side="sell"),
            leg("third", 3),
        )
        other, _ = await place_chain(client, leg("x", 1), leg("y", 2))

        async def check(expected: str) -> list[Order]:
            legs = await chain_legs(client, chain_id)
            assert chain_status(legs) == sandbox.engine.chains[chain_id].status == expected
            return legs

        legs = await check("SUBMITTED")
        assert [o.id for o in legs] == [ids["first"], ids["second"], ids["third"]]
        assert {o.parent_order_id for o in legs} == {chain_id} != {other}
        sandbox.advance(30)  # the first leg started at 10 s
        await check("ACTIVE")
        await client.pause_order(ids["first"])
        await check("PAUSED")
        await client.resume_order(ids["first"])
        sandbox.advance(40)  # the first leg filled; the second starts
        legs = await check("ACTIVE")
        assert [str(o.status) for o in legs] == ["COMPLETE", "ACTIVE", "SCHEDULED"]
        await client.cancel_order(ids["second"])
        legs = await check("CANCELED")
        assert legs[2].status == OrderStatus.CANCELED  # the third never ran

        _, ids = await place_chain(client, leg("a", 1, duration=5), leg("b", 2, duration=5))
        sandbox.advance(10)
        assert chain_status([await client.get_order(i) for i in ids.values()]) == "COMPLETE"


def test_the_docs_chain_example_runs() -> None:
    """The docs' chained-order example runs as written, with its helpers (API-FACTS §3.7)."""
    (helpers,) = docs_blocks("def chain_status")
    (example,) = docs_blocks("chain_status(legs) ==")
    run_docs_example(helpers + "\n" + example)


# --------------------------------------------------------------------------- pause


@pytest.mark.asyncio
async def test_an_order_paused_for_24_hours_is_canceled_then() -> None:
    """Paused for more than 24 hours: canceled automatically, at pause + 24 h (API-FACTS §3.5)."""
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(order_request())
        sandbox.advance(10)
        await client.pause_order(placed.id)
        paused_at = DEFAULT_START + 10 * SECOND
        filled = (await client.get_order(placed.id)).executed_qty

        sandbox.advance(DAY - MICROSECOND)
        assert (await client.get_order(placed.id)).status == OrderStatus.PAUSED
        sandbox.advance(MICROSECOND)
        order = await client.get_order(placed.id)
        assert order.status == OrderStatus.CANCELED
        assert order.failure_reason == PAUSE_EXPIRED
        assert order.time_end == paused_at + DAY
        assert order.executed_qty == filled
        messages = await client.get_order_messages([placed.id])
        assert [(m.level, m.message, m.created_at) for m in messages[-2:]] == [
            ("warning", f"order {PAUSE_EXPIRED}", paused_at + DAY),
            ("info", f"order canceled: {order.pct_filled}% filled", paused_at + DAY),
        ]
        resumed = await bad_request(client.resume_order(placed.id))
        assert resumed.body == {"error": f"order {placed.id} is CANCELED, not PAUSED"}


@pytest.mark.asyncio
async def test_pause_expiries_happen_in_time_order_within_one_step() -> None:
    """One long step cancels each paused order at its own deadline, in time (API-FACTS §3.5)."""
    sandbox = Sandbox()
    async with sandbox.client() as client:
        early = await client.place_order(order_request(duration=600))
        late = await client.place_order(order_request(duration=600))
        chain_id, ids = await place_chain(client, leg("paused", 1), leg("waiting", 2))
        sandbox.advance(10)
        await client.pause_order(early.id)
        await client.pause_order(ids["paused"])
        sandbox.advance(20)
        await client.pause_order(late.id)

        sandbox.advance(3 * DAY)  # every deadline falls inside this one step
        ends = {
            name: (o.status, o.time_end)
            for name, o in [
                ("early", await client.get_order(early.id)),
                ("late", await client.get_order(late.id)),
                ("paused", await client.get_order(ids["paused"])),
                ("waiting", await client.get_order(ids["waiting"])),
            ]
        }
    ten, thirty = DEFAULT_START + 10 * SECOND + DAY, DEFAULT_START + 30 * SECOND + DAY
    assert ends == {
        "early": (OrderStatus.CANCELED, ten),
        "late": (OrderStatus.CANCELED, thirty),
        "paused": (OrderStatus.CANCELED, ten),
        "waiting": (OrderStatus.CANCELED, ten),  # the chain stopped with its paused leg
    }
    assert sandbox.engine.chains[chain_id].status == "CANCELED"


@pytest.mark.asyncio
async def test_a_resume_ends_the_24_hours_and_a_new_pause_starts_them_again() -> None:
    """The 24 hours run from the latest pause, not the first (API-FACTS §3.5)."""
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(order_request(duration=600))
        sandbox.advance(10)
        await client.pause_order(placed.id)
        sandbox.advance(23 * 3600)
        await client.resume_order(placed.id)
        sandbox.advance(10)
        await client.pause_order(placed.id)
        second_pause = DEFAULT_START + (10 + 23 * 3600 + 10) * SECOND
        sandbox.advance(23 * 3600)  # 46 h after the first pause: still paused
        assert (await client.get_order(placed.id)).status == OrderStatus.PAUSED
        sandbox.advance(3600)
        order = await client.get_order(placed.id)
    assert (order.status, order.time_end) == (OrderStatus.CANCELED, second_pause + DAY)


@pytest.mark.asyncio
async def test_amending_a_paused_order_keeps_its_deadline() -> None:
    """An amend while paused does not restart the 24 hours (API-FACTS §3.5)."""
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(order_request(duration=600))
        sandbox.advance(10)
        await client.pause_order(placed.id)
        sandbox.advance(12 * 3600)
        await client.amend_order(AmendOrderRequest(order_id=placed.id, changes={"duration": 1200}))
        sandbox.advance(12 * 3600)
        order = await client.get_order(placed.id)
    assert order.duration == 1200
    assert (order.status, order.time_end) == (
        OrderStatus.CANCELED,
        DEFAULT_START + 10 * SECOND + DAY,
    )


@pytest.mark.asyncio
async def test_target_time_orders_cannot_be_paused() -> None:
    """Target Time orders cannot be paused: a 400 saying so (API-FACTS §3.5)."""
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(order_request(strategy="Target Time"))
        sandbox.advance(10)
        refused = await bad_request(client.pause_order(placed.id))
        assert refused.body == {"error": "Target Time orders cannot be paused"}
        assert (await client.get_order(placed.id)).status == OrderStatus.ACTIVE
        sandbox.advance(50)
        assert (await client.get_order(placed.id)).status == OrderStatus.COMPLETE


# --------------------------------------------------------------------------- pairs


def unknown(pair: str, tokens: str) -> str:
    feed = PriceFeed(0, DEFAULT_START)
    return (
        f"unknown pair {pair!r}: the sandbox has no price for {tokens}"
        f" (it knows {', '.join(feed.known_tokens())};"
        " Sandbox.set_price or set_token_price gives a token a price)"
    )


@pytest.mark.parametrize(
    ("pair", "tokens"),
    [
        ("ZZZQ-USDT", "ZZZQ"),
        ("ETH-ZZZQ", "ZZZQ"),
        ("ZZZQ:PERP-USDT", "ZZZQ"),
        ("ZZZQ-QQQZ", "ZZZQ or QQQZ"),
    ],
)
@pytest.mark.asyncio
async def test_an_order_on_an_unknown_pair_is_refused(pair: str, tokens: str) -> None:
    """A pair the sandbox has no price for is a 400 naming ``pair`` (API-FACTS §3.1)."""
    sandbox = Sandbox()
    async with sandbox.client() as client:
        refused = await bad_request(client.place_order(order_request(pair=pair)))
    assert refused.body == {"pair": [unknown(pair, tokens)]}
    assert sandbox.engine.orders == {}


@pytest.mark.asyncio
async def test_a_multi_or_chained_leg_on_an_unknown_pair_is_refused_by_its_path() -> None:
    """Multi and chain legs name their own field (API-FACTS §3.6, §3.7); nothing is placed."""
    sandbox = Sandbox()
    async with sandbox.client() as client:
        multi = await bad_request(
            client.place_multi_order(
                PlaceMultiOrderRequest(
                    accounts=["mock"],
                    duration=60,
                    strategy="TWAP",
                    child_orders=[
                        ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty=1),
                        ChildOrder(pair="ZZZQ-USDT", side="sell", base_asset_qty=1),
                        ChildOrder(pair="BTC-QQQZ", side="sell", base_asset_qty=1),
                    ],
                )
            )
        )
        chain = await bad_request(
            client.place_chained_order(
                PlaceChainedOrderRequest(
                    orders_in_chain=[
                        leg("ok", 2),
                        leg("unknown", 1, pair="ZZZQ:PERP-USDT"),
                    ]
                )
            )
        )
    assert multi.body == {
        "child_orders[1].pair": [unknown("ZZZQ-USDT", "ZZZQ")],
        "child_orders[2].pair": [unknown("BTC-QQQZ", "QQQZ")],
    }
    assert chain.body == {
        "orders_in_chain[1].order_request.pair": [unknown("ZZZQ:PERP-USDT", "ZZZQ")]
    }
    assert (sandbox.engine.orders, sandbox.engine.multis, sandbox.engine.chains) == ({}, {}, {})


@pytest.mark.asyncio
async def test_set_leverage_on_an_unknown_pair_is_refused() -> None:
    """``set_leverage`` names ``pair`` when the sandbox has no price for it (API-FACTS §3.10)."""
    sandbox = Sandbox()
    account = sandbox.engine.accounts["mock"]
    async with sandbox.client() as client:
        refused = await bad_request(
            client.set_leverage(
                SetLeverageRequest(account_ids=[account.id], pair="ZZZQ:PERP-USDT", leverage=3)
            )
        )
    assert refused.body == {"pair": [unknown("ZZZQ:PERP-USDT", "ZZZQ")]}
    assert account.leverage == {}


@pytest.mark.asyncio
async def test_set_price_makes_a_token_known() -> None:
    """A token given a price trades, and close_balances closes it (API-FACTS §3.1, §3.10)."""
    sandbox = Sandbox(accounts={})
    with pytest.raises(ValueError, match="no price for ZZZQ"):
        sandbox.add_account("holder", {"USDT": 100, "ZZZQ": 5})  # close_balances could not
    with pytest.raises(ValueError, match="no price for 'ZZZQ'"):
        sandbox.price("ZZZQ-USDT")

    sandbox.set_token_price("zzzq", 2)
    assert sandbox.price("ZZZQ-USDT") == 2
    sandbox.add_account("holder", {"USDT": 100, "ZZZQ": 5})
    async with sandbox.client() as client:
        bought = await client.place_order(
            order_request(accounts=["holder"], pair="ZZZQ-USDT", duration=10, base_asset_qty=5)
        )
        result = await client.close_balances(1000, account_names=["holder"])
        sandbox.advance(300)
        closing = [await client.get_order(i) for i in result.order_ids]
        assert (await client.get_order(bought.id)).status == OrderStatus.COMPLETE
    assert [(o.pair, o.side, o.base_asset_qty) for o in closing] == [("ZZZQ-USDT", "sell", 5)]
    assert {o.status for o in closing} == {OrderStatus.COMPLETE}


def test_every_pair_of_the_docs_and_examples_is_known() -> None:
    """The pairs users copy from README, docs and examples all trade in a fresh sandbox.

    (A test placing an order on an unknown pair fails by itself: a 400.)
    """
    pair = re.compile(r"""["']([A-Z0-9]+(?::[A-Z0-9_]+)?-[A-Z0-9]+)["']""")
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "examples").rglob("*.py")]
    found = {m for path in files for m in pair.findall(path.read_text(encoding="utf-8"))}
    assert {"ETH-USDT", "BTC-USDT", "SOL-USDT", "ETH:PERP-USDT"} <= found
    assert PriceFeed(0, DEFAULT_START).pair_problems({p: p for p in sorted(found)}) == {}
