"""The sandbox's jumping clock: how much real time a long wait costs.

``wait_for_order`` on a one-hour TWAP against ``Sandbox(autojump=True)``,
polling every virtual second (the default): 3,600 polls. Printed per event
loop, side by side in one run: the wall time (min / median / max of
``--rounds``, default 3, rounds interleaved across the loops), and for the
median round the virtual time, virtual ÷ wall, the polls and the wall time
per poll.

    .venv/bin/python benchmarks/autojump.py [--rounds 3] [--hours 1]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import time
from collections.abc import Callable, Coroutine
from typing import Any

from taas_async import OrderStatus, PlaceOrderRequest
from taas_async.sandbox import Sandbox


async def one_wait(hours: float) -> tuple[float, float, int]:
    """(wall seconds, virtual seconds, polls) of one wait_for_order."""
    sandbox = Sandbox(autojump=True)
    start = sandbox.now()
    async with sandbox.client() as client:
        placed = await client.place_order(
            PlaceOrderRequest(
                accounts=["mock"],
                pair="ETH-USDT",
                side="buy",
                duration=round(hours * 3600),
                base_asset_qty=1,
                strategy="TWAP",
            )
        )
        began = time.perf_counter()
        done = await client.wait_for_order(placed.id)
        wall = time.perf_counter() - began
    assert done.status is OrderStatus.COMPLETE
    polls = sum(1 for e in sandbox.exchanges if e.method == "GET")
    return wall, (sandbox.now() - start).total_seconds(), polls


def runners() -> dict[str, Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]]:
    found: dict[str, Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]] = {
        "asyncio": lambda main: asyncio.run(main())
    }
    if importlib.util.find_spec("uvloop"):
        import uvloop  # noqa: PLC0415

        found["uvloop"] = lambda main: uvloop.run(main())
    if importlib.util.find_spec("trio"):
        import trio  # noqa: PLC0415

        found["trio"] = trio.run
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    loops = runners()
    rounds: dict[str, list[tuple[float, float, int]]] = {name: [] for name in loops}
    for _ in range(args.rounds):
        for name, run in loops.items():
            rounds[name].append(run(lambda: one_wait(args.hours)))
    print(f"wait_for_order, {args.hours:g} h TWAP, poll 1 s, {args.rounds} rounds")
    header = ("loop", "wall s: min / median / max", "virtual s", "virtual/wall", "polls", "µs/poll")
    print("{:<8} {:>27} {:>10} {:>13} {:>6} {:>8}".format(*header))
    for name, results in rounds.items():
        results.sort()
        wall, virtual, polls = results[len(results) // 2]
        walls = f"{results[0][0]:.3f} / {wall:.3f} / {results[-1][0]:.3f}"
        print(
            f"{name:<8} {walls:>27} {virtual:>10.0f} {virtual / wall:>13,.0f}"
            f" {polls:>6} {wall / polls * 1e6:>8.0f}"
        )


if __name__ == "__main__":
    main()
