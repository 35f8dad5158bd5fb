"""``place_orders`` of many orders, one contender in a fresh process: rate, CPU and memory.

The parent (``bench.py``) calls :func:`measure_place`, which runs this file as
a script in a new interpreter (the same executable, the same ``taas_async``,
the parent's CPU affinity), so that each contender's peak RSS is its own:

1. build the inputs (raw aiohttp: the order bodies as dicts; the SDK:
   ``PlaceOrderRequest`` objects), open the client, warm it up with one
   round of placements at full concurrency (pool open);
2. ``gc.collect()``, then read the resident set size (``VmRSS``): the
   baseline; the peak is reset to it there (``/proc/self/clear_refs``);
3. place every order (raw: ``json.dumps`` each body, POST it, read and
   ``json.loads`` the reply; SDK: ``place_orders(requests,
   max_concurrency=C)``), timed (wall and process CPU), every result kept;
4. with the results still held, read the peak RSS (``VmHWM``, the
   process's own high-water mark): the growth is peak minus baseline.
   It prints one JSON line (an ``Outcome``).

Not ``ru_maxrss``: on Linux a child inherits its parent's peak through fork
and exec, so every child would read the harness's own size.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _harness as h

import taas_async
from taas_async import PlaceOrderRequest

HERE = Path(__file__).resolve().parent


def _status_kib(field: str) -> float:
    """A ``/proc/self/status`` figure in KiB (Linux), NaN where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return math.nan


def reset_peak_rss() -> None:
    """Start the peak RSS afresh from the current RSS (Linux >= 4.0), if allowed."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def current_rss_kib() -> float:
    """This process's resident set now."""
    return _status_kib("VmRSS")


def peak_rss_kib() -> float:
    """This process's peak resident set (``VmHWM``; else ``ru_maxrss``).

    Not ``ru_maxrss`` first: on Linux it keeps the parent's peak across
    fork and exec, so a child of a 70 MB harness reads at least 70 MB.
    """
    peak = _status_kib("VmHWM")
    if math.isnan(peak):
        value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = value / 1024 if sys.platform == "darwin" else float(value)  # bytes on macOS
    return peak


def sdk_requests(n: int, prefix: str) -> list[PlaceOrderRequest]:
    return [
        PlaceOrderRequest(
            accounts=["mock"],
            pair="ETH-USDT",
            side="buy",
            duration=300,
            base_asset_qty=5,
            strategy="TWAP",
            custom_order_id=f"{prefix}-{i}",
        )
        for i in range(n)
    ]


def raw_bodies(n: int, prefix: str) -> list[dict[str, Any]]:
    return [{**h.RAW_ORDER_BODY, "custom_order_id": f"{prefix}-{i}"} for i in range(n)]


async def _raw(target: h.Target, orders: int, concurrency: int) -> tuple[h.Outcome, list[Any]]:
    warm_bodies, bodies = raw_bodies(concurrency, "warm"), raw_bodies(orders, "raw")
    headers = {**h.RAW_HEADERS, "Content-Type": "application/json"}
    failures = h.Failures()
    async with h.raw_session(target) as session:
        endpoint = f"{target.base_url}/api/orders/"

        def placer(inputs: list[dict[str, Any]], results: list[Any]) -> Any:
            async def call(i: int) -> None:
                data = json.dumps(inputs[i]).encode()
                async with session.post(endpoint, data=data, headers=headers) as response:
                    reply = await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}")
                results[i] = json.loads(reply)

            return call

        warm: list[Any] = [None] * concurrency
        await h.fan_out(placer(warm_bodies, warm), concurrency, concurrency, failures)
        if failures.count:
            return h.Outcome(error=f"warm-up failed: {failures.first}"), []
        del warm
        results: list[Any] = [None] * orders
        call = placer(bodies, results)
        gc.collect()
        reset_peak_rss()
        base, cpu0, t0 = current_rss_kib(), time.process_time(), time.perf_counter()
        await h.fan_out(call, orders, concurrency, failures)
        t1, cpu1, peak = time.perf_counter(), time.process_time(), peak_rss_kib()
    return _outcome(orders, t1 - t0, cpu1 - cpu0, base, peak, failures), results


async def _sdk(target: h.Target, orders: int, concurrency: int) -> tuple[h.Outcome, list[Any]]:
    warm_requests, requests = sdk_requests(concurrency, "warm"), sdk_requests(orders, "sdk")
    failures = h.Failures()
    async with h.sdk_client(target) as client:
        for result in await client.place_orders(warm_requests, max_concurrency=concurrency):
            if isinstance(result, Exception):
                return h.Outcome(error=f"warm-up failed: {result!r}"[:200]), []
        gc.collect()
        reset_peak_rss()
        base, cpu0, t0 = current_rss_kib(), time.process_time(), time.perf_counter()
        results = await client.place_orders(requests, max_concurrency=concurrency)
        t1, cpu1, peak = time.perf_counter(), time.process_time(), peak_rss_kib()
    for result in results:
        if isinstance(result, Exception):
            failures.add(result)
    return _outcome(orders, t1 - t0, cpu1 - cpu0, base, peak, failures), results


def _outcome(
    orders: int, wall: float, cpu: float, base: float, peak: float, failures: h.Failures
) -> h.Outcome:
    return h.Outcome(
        calls=orders,
        items=orders,
        wall_s=wall,
        cpu_s=cpu,
        failures=failures.count,
        error=failures.first,
        rss_base_kib=base,
        rss_peak_kib=peak,
    )


def child(spec: dict[str, Any]) -> h.Outcome:
    run = _sdk if spec["side"] == "sdk" else _raw

    async def main() -> tuple[h.Outcome, list[Any]]:
        return await run(h.Target(spec["port"]), spec["orders"], spec["concurrency"])

    outcome, results = h.run_on(spec["loop"], main)
    if outcome.ok and len(results) != spec["orders"]:  # and the results lived until here
        outcome.error = f"{len(results)} results for {spec['orders']} orders"
    return outcome


def measure_place(
    side: str, loop: str, target: h.Target, orders: int, concurrency: int, timeout: float
) -> h.Outcome:
    """One contender placing ``orders`` orders, in a fresh interpreter (see the module doc)."""
    spec = {
        "side": side,
        "loop": loop,
        "port": target.port,
        "orders": orders,
        "concurrency": concurrency,
    }
    env = dict(os.environ)
    # The child imports the very taas_async this process measures.
    package_root = str(Path(taas_async.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run(
            [sys.executable, str(HERE / "_placing.py"), json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return h.Outcome(error=f"timed out ({timeout:g} s)")
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return h.Outcome(error=f"exit {done.returncode}: {tail}"[:200])
    return h.Outcome.from_json(lines[-1])


if __name__ == "__main__":
    try:
        print(child(json.loads(sys.argv[1])).to_json())
    except Exception as exc:
        print(h.Outcome(error=f"{type(exc).__name__}: {exc}"[:200]).to_json())
