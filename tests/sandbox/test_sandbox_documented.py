"""Rules of the TaaS docs the sandbox follows: priced pairs.

Each test cites the API-FACTS section the rule comes from. Everything runs in
process through the real SDK client on the sandbox's virtual clock:
``sandbox.advance()`` moves time, nothing sleeps, nothing leaves the process.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from taas_async import (
    BadRequestError,
    ChildOrder,
    OrderInChain,
    OrderStatus,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    SetLeverageRequest,
    Strategy,
)
from taas_async.sandbox import DEFAULT_START, PriceFeed, Sandbox

ROOT = Path(__file__).resolve().parents[2]


def order_request(**changes: Any) -> PlaceOrderRequest:
    """A TWAP buy of 1 ETH-USDT on "mock" over 60 s; keyword arguments replace fields."""
    fields: dict[str, Any] = {
        "accounts": ["mock"],
        "pair": "ETH-USDT",
        "side": "buy",
        "duration": 60,
        "base_asset_qty": "1",
        "strategy": "TWAP",
    }
    fields.update(changes)
    if Strategy(fields["strategy"]).is_simple:  # a simple order has no duration
        fields.pop("duration")
    return PlaceOrderRequest(**{k: v for k, v in fields.items() if v is not None})


def leg(name: str, priority: int, **changes: Any) -> OrderInChain:
    return OrderInChain(
        order_request=order_request(custom_order_id=name, **changes), priority=priority
    )


async def bad_request(awaitable: Any) -> BadRequestError:
    with pytest.raises(BadRequestError) as info:
        await awaitable
    return info.value


# --------------------------------------------------------------------------- pairs


def unknown(pair: str, tokens: str) -> str:
    feed = PriceFeed(0, DEFAULT_START)
    return (
        f"unknown pair {pair!r}: the sandbox has no price for {tokens}"
        f" (it knows {', '.join(feed.known_tokens())}; set_price gives a token a price)"
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

    sandbox.set_price("zzzq", 2)
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
