"""A tour of taas-async against the built-in TaaS sandbox (no server, no account needed).

It places a TWAP order, a multi order (a perp hedge against spot) and a
chained order, follows their fills to completion on the live order stream, and prints the balances
before and after. The sandbox runs on real time sped up ``--speed`` times
(default 60: a simulated minute per second), so the tour takes a few seconds.
Then a second sandbox, on a virtual clock, runs four algorithms and a Market
order side by side over six hours: how fast each fills, at what price
against the price on arrival, and the fees.

    python examples/tour.py [--speed 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from decimal import Decimal

import anyio

from taas_async import (
    AsyncClient,
    Balance,
    Order,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
)
from taas_async.sandbox import Sandbox

ACCOUNT = "mock"
WAIT_LIMIT = 600  # real seconds: a bound on every wait, so the tour never hangs


def show(value: Decimal | None, places: str = "0.0001") -> str:
    return "-" if value is None else f"{value.quantize(Decimal(places)):,f}"


def holdings(balances: dict[str, Balance]) -> dict[str, Decimal]:
    return {a.symbol: a.size or Decimal(0) for a in balances[ACCOUNT].assets}


def print_balances(title: str, sizes: dict[str, Decimal]) -> None:
    print(f"\n{title} ({ACCOUNT})")
    for symbol, size in sizes.items():
        print(f"  {symbol:<15} {show(size):>22}")


async def follow(client: AsyncClient, label: str, order_ids: Sequence[str]) -> list[Order]:
    """Follow the orders on the live order stream until each ends, printing each change."""
    last: dict[str, Order] = {}
    # On the stream when the server has one (the sandbox does), else polling.
    async for order in client.watch_orders(order_ids, timeout=WAIT_LIMIT, poll_interval=0.5):
        last[str(order.id)] = order
        print(
            f"  [{label}] {order.pair:<14} {order.side!s:<4} {order.status!s:<9}"
            f" filled {show(order.executed_qty, '0.00000001'):>12}"
            f" ({show(order.pct_filled, '0.01'):>6}%)"
            f" avg {show(order.executed_price, '0.01'):>10}"
        )
    return [last[str(order_id)] for order_id in order_ids]


async def tour(speed: float, seed: int) -> None:
    sandbox = Sandbox(speed=speed, seed=seed)
    print(f"TaaS sandbox in process: {speed:g}x real time, seed {seed}")
    async with sandbox.client() as client:
        before = holdings(await client.get_balances(account_names=[ACCOUNT]))
        print_balances("Balances before", before)

        print("\n1. TWAP: buy 2 ETH over 2 minutes")
        twap = await client.place_order(
            PlaceOrderRequest(
                accounts=[ACCOUNT],
                pair="ETH-USDT",
                side="buy",
                base_asset_qty="2",
                duration=120,
                strategy="TWAP",
                custom_order_id="tour-twap-1",
            )
        )
        print(f"  placed {twap.id}: {twap.status}, sells about {show(twap.sell_token_amount)} USDT")
        await follow(client, "twap", [twap.id])

        print("\n2. Multi order: short 5 ETH perp against buying 5 ETH spot, 2 minutes")
        multi = await client.place_multi_order(
            PlaceMultiOrderRequest(
                accounts=[ACCOUNT],
                duration=120,
                strategy="TWAP",
                child_orders=[
                    {"pair": "ETH:PERP-USDT", "side": "sell", "base_asset_qty": "5"},
                    {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": "5"},
                ],
            )
        )
        print(f"  placed {multi.id}: {multi.status}, {len(multi.child_order_ids)} child orders")
        await follow(client, "multi", multi.child_order_ids)
        print(f"  multi order: {(await client.get_multi_order(multi.id)).status}")

        print("\n3. Chained order: buy 40 SOL first (priority 1), then sell 0.5 BTC")
        chain = await client.place_chained_order(
            PlaceChainedOrderRequest(
                orders_in_chain=[
                    {
                        "priority": 2,
                        "order_request": {
                            "accounts": [ACCOUNT],
                            "pair": "BTC-USDT",
                            "side": "sell",
                            "base_asset_qty": "0.5",
                            "duration": 60,
                            "strategy": "TWAP",
                        },
                    },
                    {
                        "priority": 1,
                        "order_request": {
                            "accounts": [ACCOUNT],
                            "pair": "SOL-USDT",
                            "side": "buy",
                            "base_asset_qty": "40",
                            "duration": 60,
                            "strategy": "TWAP",
                        },
                    },
                ]
            )
        )
        legs = await follow(client, "chain", [leg.id for leg in chain.orders])
        first, second = legs
        print(f"  {first.pair} ended at {first.time_end};", end=" ")
        print(f"{second.pair} started at {second.time_start}")

        after = holdings(await client.get_balances(account_names=[ACCOUNT]))
        print_balances("Balances after", after)
        print("\nChange")
        for symbol in after:
            delta = after[symbol] - before.get(symbol, Decimal(0))
            if delta:
                sign = "+" if delta > 0 else ""
                print(f"  {symbol:<15} {sign + show(delta):>22}")


STRATEGIES = ("TWAP", "VWAP", "IS", "Target Time", "Market")
SIDE_BY_SIDE_QTY = "50"
SIX_HOURS = 6 * 3600


async def side_by_side(seed: int) -> None:
    """The same buy by each strategy, on a virtual clock: progress, price, fees."""
    print(
        f"\n4. Strategies side by side: buy {SIDE_BY_SIDE_QTY} ETH each,"
        " over 6 hours from 00:00 UTC (a second sandbox, on a virtual clock)"
    )
    sandbox = Sandbox(seed=seed)
    async with sandbox.client() as client:
        arrival = sandbox.price("ETH-USDT")
        placed: dict[str, Order] = {}
        for strategy in STRATEGIES:
            placed[strategy] = await client.place_order(
                PlaceOrderRequest(
                    accounts=[ACCOUNT],
                    pair="ETH-USDT",
                    side="buy",
                    base_asset_qty=SIDE_BY_SIDE_QTY,
                    duration=None if strategy == "Market" else SIX_HOURS,
                    strategy=strategy,
                )
            )
        filled: dict[str, list[Decimal]] = {s: [] for s in STRATEGIES}
        for _ in range(4):
            sandbox.advance(SIX_HOURS // 4)
            for strategy, order in placed.items():
                now = await client.get_order(order.id)
                filled[strategy].append(now.pct_filled or Decimal(0))
        print(f"  arrival price {show(arrival, '0.01')} USDT")
        print(
            f"  {'strategy':<12} {'filled at 1.5 h':>15} {'3 h':>7} {'4.5 h':>7} {'6 h':>7}"
            f" {'avg price':>10} {'vs arrival':>11} {'fees USDT':>10}"
        )
        for strategy, order in placed.items():
            final = await client.get_order(order.id)
            price = final.executed_price or arrival
            bps = (price - arrival) / arrival * 10_000  # a buy: above arrival costs
            marks = [f"{show(p, '0.1')}%" for p in filled[strategy]]
            print(
                f"  {strategy:<12} {marks[0]:>15} {marks[1]:>7} {marks[2]:>7} {marks[3]:>7}"
                f" {show(price, '0.01'):>10} {show(bps, '0.1') + ' bp':>11}"
                f" {show(final.total_fee, '0.01'):>10}"
            )


async def main_tour(speed: float, seed: int) -> None:
    await tour(speed, seed)
    await side_by_side(seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=60.0, help="simulated s per real s")
    parser.add_argument("--seed", type=int, default=0, help="seed of prices and ids")
    args = parser.parse_args(argv)
    anyio.run(main_tour, args.speed, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
