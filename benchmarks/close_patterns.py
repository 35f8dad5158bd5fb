#!/usr/bin/env python3
"""Placements against servers that close keep-alive connections: placed / unknown / duplicated.

    python benchmarks/close_patterns.py [--idle 1.0] [--transports h11,aiohttp,httpx]
                                        [--loops asyncio,trio,uvloop] [--patterns ...]

Not a speed benchmark: a count of outcomes under the connection closes that
load balancers and proxies make, with the SDK's default settings
(``max_retries=2``, the default backoff). The server is the test suite's
FaultServer (``tests/faultserver.py``) in its own thread, with the sandbox
behind it, closing each connection right after its 1st, 2nd or 10th full
reply (no ``Connection: close`` header), or after ``--idle`` seconds idle.
For each transport, loop and pattern: 30 sequential ``place_order`` calls,
then 120 mixed (60 sequential, 60 through ``place_orders``); with the idle
pattern, sequential calls are spaced around the idle timeout (0.6x to 1.4x,
seeded). Prints one markdown table; duplicates are counted on the venue.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from faultserver import FaultServer

from taas_async import (
    AiohttpTransport,
    AsyncClient,
    H11PoolTransport,
    Order,
    OrderOutcomeUnknownError,
    PlaceOrderRequest,
)
from taas_async.sandbox import Sandbox

TRANSPORTS: dict[str, Callable[[], httpx.AsyncBaseTransport]] = {
    "h11": H11PoolTransport,
    "aiohttp": AiohttpTransport,
    "httpx": httpx.AsyncHTTPTransport,
}
PATTERNS = ("each", "2nd", "10th", "idle")


def order(index: int) -> PlaceOrderRequest:
    return PlaceOrderRequest(
        accounts=["mock"],
        pair="ETH-USDT",
        side="buy",
        duration=60,
        base_asset_qty="0.01",
        strategy="TWAP",
        custom_order_id=f"close-{index}",
    )


async def run_case(transport: str, pattern: str, mixed: bool, idle: float) -> dict[str, Any]:
    sandbox = Sandbox()
    kwargs: dict[str, Any] = (
        {"idle_timeout": idle}
        if pattern == "idle"
        else {"close_after": {"each": 1, "2nd": 2, "10th": 10}[pattern]}
    )
    rng = random.Random(1) if pattern == "idle" else None
    results: list[Any] = []
    started = time.perf_counter()
    with FaultServer(app=sandbox.app, **kwargs) as server:
        async with AsyncClient(
            server.url, sandbox.token, transport=TRANSPORTS[transport]()
        ) as client:
            for index in range(60 if mixed else 30):
                try:
                    results.append(await client.place_order(order(index)))
                except Exception as exc:
                    results.append(exc)
                if rng is not None:
                    await anyio.sleep(idle * rng.uniform(0.6, 1.4))
            if mixed:
                results += await client.place_orders([order(i) for i in range(60, 120)])
        lookups = server.count("GET", "/api/orders/")
        connections = server.connections_accepted
    ids = collections.Counter(o.request.custom_order_id for o in sandbox.engine.orders.values())
    return {
        "placed": sum(isinstance(r, Order) for r in results),
        "unknown": sum(isinstance(r, OrderOutcomeUnknownError) for r in results),
        "other": sum(
            isinstance(r, Exception) and not isinstance(r, OrderOutcomeUnknownError)
            for r in results
        ),
        "duplicated": sum(n - 1 for n in ids.values()),
        "lookups": lookups,
        "connections": connections,
        "seconds": time.perf_counter() - started,
        "of": len(results),
    }


def run_on(loop: str, transport: str, pattern: str, mixed: bool, idle: float) -> dict[str, Any]:
    async def case() -> dict[str, Any]:
        return await run_case(transport, pattern, mixed, idle)

    if loop == "trio":
        import trio  # noqa: PLC0415 (optional)

        result: dict[str, Any] = trio.run(case)
        return result
    if loop == "uvloop":
        import uvloop  # noqa: PLC0415 (optional)

        return uvloop.run(case())
    return asyncio.run(case())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=1.0, help="idle timeout, seconds")
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    parser.add_argument("--loops", default="asyncio,trio,uvloop")
    parser.add_argument("--patterns", default=",".join(PATTERNS))
    args = parser.parse_args(argv)
    print(
        "| transport | loop | server closes | run | placed | outcome unknown | other errors"
        " | duplicated | lookups | connections | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for transport in args.transports.split(","):
        for loop in args.loops.split(","):
            if transport == "aiohttp" and loop == "trio":
                continue  # asyncio only
            for pattern in args.patterns.split(","):
                for mixed in (False, True):
                    r = run_on(loop, transport, pattern, mixed, args.idle)
                    what = {
                        "each": "after each reply",
                        "2nd": "after the 2nd reply",
                        "10th": "after the 10th reply",
                        "idle": f"after {args.idle:g} s idle",
                    }[pattern]
                    print(
                        f"| {transport} | {loop} | {what} | {'120 mixed' if mixed else '30 seq'}"
                        f" | {r['placed']}/{r['of']} | {r['unknown']} | {r['other']}"
                        f" | {r['duplicated']} | {r['lookups']} | {r['connections']}"
                        f" | {r['seconds']:.1f} |",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
