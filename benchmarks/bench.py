#!/usr/bin/env python3
"""taas-async benchmark: the SDK's own cost against raw aiohttp, on asyncio, uvloop and trio.

    python benchmarks/bench.py [--quick] [--out benchmarks/results] [--rounds 3]
                               [--loops asyncio,uvloop,trio]
                               [--only get20,get0,proxy,iter,place,decode]
                               [--check] [--no-pin] [--no-chart]

Starts ``server.py`` in its own process (pinned to its own core when there are
two or more), then measures raw aiohttp and the SDK side by side, per event
loop, in interleaved rounds:

- ``get_order`` against a 20 ms and a 0 ms server at 1, 16, 64, 256 and
  1,024 in flight: throughput, and CPU per call (at 1 and 64 in flight);
- ``get_order`` at 64 in flight through a local proxy (tinyproxy) to the
  server's HTTPS port, in ``CONNECT`` tunnels, a private CA trusted: throughput;
- ``place_orders`` of 10,000 orders against the 20 ms server, each contender
  in a fresh process: throughput, CPU and memory (peak RSS growth);
- ``iter_orders`` through a list of 1,000 orders: CPU per order;
- and, without I/O, a 1,000-order page from bytes to typed ``Order``s
  against ``json.loads`` of the same bytes.

Each goal row is a ratio SDK ÷ raw aiohttp (min / median / max of the rounds,
judged on the median). On trio the SDK runs alone (aiohttp cannot): its rows
are informational, held against raw aiohttp on asyncio. Prints markdown
tables and writes them to ``OUT/bench.md``, and a chart to ``OUT/bench.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import _harness as h
import _proxied
import _report as rp
import httpx
from _decode import measure_decode
from _placing import measure_place
from server import order_body

import taas_async

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results"
LEVELS = (1, 16, 64, 256, 1024)

#: Distributions whose versions the report names.
DISTRIBUTIONS = (
    "taas-async",
    "httpx",
    "httptools",
    "anyio",
    "attrs",
    "cattrs",
    "aiohttp",
    "uvloop",
    "trio",
    "matplotlib",
)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ====================================================================== the plan


def calls_for(latency_ms: float, concurrency: int, quick: bool) -> int:
    """Calls per measurement: both sides do the same number, about a second's worth."""
    if latency_ms > 0:
        # What the 100-connection pool allows at that latency, for ~0.8 s (quick 0.15 s).
        ideal = min(concurrency, h.POOL_LIMIT) / (latency_ms / 1000.0)
        return max(10, concurrency, round(ideal * (0.15 if quick else 0.8)))
    if quick:
        return max(200, concurrency)
    return max(1500 if concurrency == 1 else 3000, 4 * concurrency)


WORKLOADS = ("get20", "get0", "proxy", "iter", "place", "decode")


def plan(args: argparse.Namespace) -> list[rp.Workload]:
    """Every workload with I/O, in the order of a round (``--only`` picks some)."""
    workloads = [
        rp.Workload(f"get20-{c}", "get", 20.0, c, calls_for(20.0, c, args.quick)) for c in LEVELS
    ]
    workloads += [
        rp.Workload(f"get0-{c}", "get", 0.0, c, calls_for(0.0, c, args.quick)) for c in LEVELS
    ]
    workloads += [
        rp.Workload(
            f"proxy-{latency:g}",
            "proxy",
            latency,
            rp.PROXY_CONCURRENCY,
            calls_for(latency, rp.PROXY_CONCURRENCY, args.quick),
        )
        for latency in rp.PROXY_LATENCIES
    ]
    workloads.append(rp.Workload("iter", "iter", 0.0, 1, args.walks))
    workloads.append(rp.Workload("place", "place", 20.0, args.place_concurrency, args.orders))
    return [w for w in workloads if w.key.split("-")[0] in args.only]


def contenders(loops: Sequence[str], round_: int) -> list[tuple[str, str]]:
    """(loop, side) in the round's order: aiohttp, SDK, aiohttp, SDK, ... reversed every other.

    The SDK on trio comes right after the asyncio pair it is held against.
    """
    ranked = sorted(loops, key=("asyncio", "trio", "uvloop").index)
    order = [(loop, side) for loop in ranked for side in rp.sides(loop)]
    return order[::-1] if round_ % 2 else order


def run_one(
    work: rp.Workload,
    loop: str,
    side: str,
    targets: dict[float, h.Target],
    proxied: dict[float, h.Target],
    server: h.ServerProcess,
    timeout: float,
) -> h.Outcome:
    target = targets[work.latency_ms] if work.kind != "proxy" else proxied[work.latency_ms]
    if work.kind == "place":
        return measure_place(side, loop, target, work.n, work.concurrency, timeout)
    if work.kind == "iter":
        pages = -(-h.LIST_ORDERS // h.LIST_PAGE_SIZE)
        return h.measure(
            loop,
            h.raw_pages if side == rp.RAW else h.sdk_pages,
            target,
            server,
            n=work.n,
            warm=1,
            concurrency=1,
            timeout=timeout,
            calls_per_unit=pages,
            items_per_unit=h.LIST_ORDERS,
        )
    return h.measure(
        loop,
        h.raw_get if side == rp.RAW else h.sdk_get,
        target,
        server,
        n=work.n,
        warm=min(max(work.concurrency, 10), 256),
        concurrency=work.concurrency,
        timeout=timeout,
    )


def check_server(targets: Sequence[h.Target], body: bytes) -> None:
    """Every listener answers an order GET and POST with the seed order, and lists orders."""
    with httpx.Client(timeout=10, trust_env=False) as client:
        for target in targets:
            for response in (
                client.get(target.order_url, headers=h.RAW_HEADERS),
                client.post(f"{target.base_url}/api/orders/", headers=h.RAW_HEADERS, json={}),
            ):
                if response.status_code != 200 or response.content != body:
                    raise RuntimeError(f"the benchmark server answered {response!r}")
            page = client.get(f"{target.base_url}/api/orders/", params={"page": 1})
            if page.status_code != 200 or len(page.json()["orders"]) != h.LIST_PAGE_SIZE:
                raise RuntimeError(f"the benchmark server's list answered {page!r}")


def check_proxied(targets: Sequence[h.Target], body: bytes) -> None:
    """Every HTTPS listener answers an order GET through the proxy, its CA trusted."""
    for target in targets:
        with httpx.Client(timeout=10, proxy=target.proxy, verify=target.ca or True) as client:
            response = client.get(target.order_url, headers=h.RAW_HEADERS)
        if response.status_code != 200 or response.content != body:
            raise RuntimeError(f"the benchmark server, through the proxy, answered {response!r}")


# ====================================================================== machine


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info(pinning: str) -> list[str]:
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs"
        f" ({_cpu_model()}), Python {platform.python_version()}",
        f"platform: {platform.platform()}; load average at start: {load}; {pinning}",
        f"taas_async measured: {Path(taas_async.__file__).resolve().parent}",
        "versions: " + ", ".join(f"{d} {_version(d)}" for d in DISTRIBUTIONS),
    ]


# ====================================================================== main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, 1 round: a smoke test")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3; quick 1)")
    parser.add_argument("--loops", default=",".join(h.LOOPS), help="asyncio,uvloop,trio")
    parser.add_argument("--orders", type=int, help="place_orders size (10000; quick 1000)")
    parser.add_argument(
        "--place-concurrency", type=int, default=64, help="place_orders in flight, both sides"
    )
    parser.add_argument("--walks", type=int, help="iter_orders list walks (10; quick 2)")
    parser.add_argument(
        "--only",
        default=",".join(WORKLOADS),
        help="run only these workloads (others' rows read n/a): " + ",".join(WORKLOADS),
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where bench.md/png go")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a client failed (goals are not checked)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client CPUs")
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds per measurement, at most"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.orders = args.orders or (1000 if quick else 10_000)
    args.walks = args.walks or (2 if quick else 10)
    args.decode_orders = 1000
    args.decode_repeats = 2 if quick else 5
    args.decode_min_time = 0.02 if quick else 0.1
    args.loops = [loop.strip() for loop in args.loops.split(",") if loop.strip()]
    unknown = set(args.loops) - set(h.LOOPS)
    if unknown or not args.loops:
        parser.error(f"--loops: choose among {', '.join(h.LOOPS)}")
    args.only = {w.strip() for w in args.only.split(",") if w.strip()}
    if args.only - set(WORKLOADS) or not args.only:
        parser.error(f"--only: choose among {', '.join(WORKLOADS)}")
    if min(args.rounds, args.orders, args.walks, args.place_concurrency) < 1:
        parser.error("--rounds, --orders, --walks and --place-concurrency must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    # Loopback only: never through a proxy from the environment.
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = "127.0.0.1,localhost"
    server_cpu, pin, pinning = h.pin_cpus(not args.no_pin)
    notes, loops = [], []
    for loop in args.loops:
        missing = h.loop_missing(loop)
        if missing:
            notes.append(f"{missing}: its rows are skipped")
        else:
            loops.append(loop)
    if h.aiohttp is None:
        notes.append("aiohttp not installed: no baseline, every ratio is n/a")
    workloads = plan(args)
    lacking = _proxied.missing()
    if lacking and any(w.kind == "proxy" for w in workloads):
        notes.append(f"{lacking}: the proxy rows are skipped")
        workloads = [w for w in workloads if w.kind != "proxy"]
    place = rp.Workload("place", "place", 20.0, args.place_concurrency, args.orders)
    run = rp.Run(
        machine=machine_info(pinning),
        settings={
            "rounds": args.rounds,
            "pool": h.POOL_LIMIT,
            "pinning": pinning,
            "place_orders": args.orders,
            "place_concurrency": args.place_concurrency,
            "list_orders": h.LIST_ORDERS,
            "page_size": h.LIST_PAGE_SIZE,
            "decode_orders": args.decode_orders,
        },
        loops=loops,
        workloads=workloads,
        rows=rp.issue_rows(LEVELS, place, args.decode_orders),
        notes=notes,
    )
    with contextlib.ExitStack() as stack:
        proxy, tls = None, None
        if any(w.kind == "proxy" for w in workloads):
            files = stack.enter_context(_proxied.certificates())
            tls = (files.cert, files.key)
            # tinyproxy shares the server's core: the client's is the one measured.
            proxy = stack.enter_context(_proxied.local_proxy(server_cpu))
        server = stack.enter_context(h.ServerProcess([20.0, 0.0], server_cpu, tls))
        pin()  # the place_orders children inherit this affinity
        targets = {20.0: h.Target(server.ports[0]), 0.0: h.Target(server.ports[1])}
        proxied = {}
        if proxy is not None:
            proxied = {
                20.0: h.Target(server.ports[2], proxy=proxy, ca=files.ca),
                0.0: h.Target(server.ports[3], proxy=proxy, ca=files.ca),
            }
        progress(f"server pid {server.pid} on ports {server.ports} ({pinning})")
        check_server(list(targets.values()), order_body())
        check_proxied(list(proxied.values()), order_body())
        for round_ in range(args.rounds):
            for work in workloads:
                for loop, side in contenders(loops, round_):
                    if side == rp.RAW and h.aiohttp is None:
                        continue
                    outcome = run_one(work, loop, side, targets, proxied, server, args.timeout)
                    run.outcomes.setdefault((work.key, loop, side), []).append(outcome)
                    progress(
                        f"  [{round_ + 1}/{args.rounds}] {work.title} {loop} {side}:"
                        f" {rp.num(outcome.rate)} calls/s,"
                        f" {rp.num(outcome.cpu_us, 1)} µs CPU each"
                        + ("" if outcome.ok else f" [{outcome.status()}]")
                    )
    if "decode" in args.only:
        progress("decoding a page ...")
        run.decode = measure_decode(
            args.decode_orders, args.rounds, args.decode_repeats, args.decode_min_time
        )
    run.machine.append(f"benchmark runtime: {time.perf_counter() - started:.1f} s")
    text = rp.render(run)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.md").write_text(text + "\n")
    if not args.no_chart:
        try:
            rp.write_chart(run, args.out / "bench.png")
        except ImportError:
            progress("matplotlib not installed: no chart")
    progress(f"wrote {args.out / 'bench.md'} in {time.perf_counter() - started:.1f} s")
    broken = [
        f"{key[0]} {key[1]} {key[2]}: {o.status()}"
        for key, outcomes in run.outcomes.items()
        for o in outcomes
        if not o.ok
    ]
    if run.decode is not None and run.decode.error:
        broken.append(f"decode: {run.decode.error}")
    if broken:
        progress("clients that failed:\n  " + "\n  ".join(broken))
    return 1 if args.check and broken else 0


if __name__ == "__main__":
    sys.exit(main())
