#!/usr/bin/env python3
"""taas-async benchmarks: throughput, CPU per call and structuring cost, in one run.

    python benchmarks/bench.py [--requests 2000] [--concurrency 64] [--latency-ms 20]
                               [--quick] [--out benchmarks/results]

Starts ``server.py`` (a small HTTP/1.1 keep-alive server) in a separate process,
on its own core when there are two or more, then measures, one client after
another against that server:

1. throughput: N ``GET /api/order/{id}`` with C in flight against the server
   answering after ``--latency-ms``: raw aiohttp, raw httpx (default
   transport), httpx + httpx-aiohttp transport, every SDK configuration's
   ``get_order`` and ``place_orders`` (POSTs), and taas-api-client 1.2.9
   (sequential; it opens a new connection per call);
2. CPU per call: one request at a time against a 0 ms listener of the same
   server, ``time.process_time()`` of this process per call: raw httpx vs the
   SDK's ``get_order`` on the same httpx client and transport, per SDK
   configuration;
3. structuring: µs per ``structure(decode_json(body), Order)`` vs
   ``json.loads(body)`` of the seed order body (min of timeit repeats).

Prints markdown tables with ratios, goals and PASS/MISS, and writes the same
to ``OUT/bench.md`` and a chart to ``OUT/bench.png``.

SDK variants are pluggable: add an entry to :func:`sdk_configs`, a name and a
callable ``(url, token) -> AsyncClient``. Transports that
``taas_async._transports`` exports are picked up automatically.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import importlib
import importlib.metadata
import importlib.util
import inspect
import itertools
import json
import math
import os
import platform
import select
import subprocess
import sys
import threading
import time
import timeit
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from taas_async import AsyncClient, Order, PlaceOrderRequest
from taas_async._codec import decode_json
from taas_async._converter import structure

try:
    import aiohttp
except ImportError:  # pragma: no cover - optional
    aiohttp = None  # type: ignore[assignment]
try:
    import httpx_aiohttp
except ImportError:  # pragma: no cover - optional
    httpx_aiohttp = None  # type: ignore[assignment]
try:
    import taas_api
except ImportError:  # pragma: no cover - optional
    taas_api = None  # type: ignore[assignment]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED_ORDER = ROOT / "tests" / "data" / "seed_order.json"
DEFAULT_OUT = HERE / "results"
SERVER = HERE / "server.py"

TOKEN = "bench-token-0123456789"
ORDER_ID = "d3ca321a-d25c-4cee-8a0f-3f74d239c90d"
RAW_HEADERS = {"Authorization": f"Token {TOKEN}", "Accept": "application/json"}
#: What AsyncClient configures by default (httpx's own default keeps only 20 alive).
SDK_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)
RAW_TIMEOUT = 30.0
#: What the SDK's place_orders sends in the benchmark, for the raw POST baseline.
RAW_ORDER_BODY = {
    "accounts": ["mock"],
    "pair": "ETH-USDT",
    "side": "buy",
    "duration": 300,
    "base_asset_qty": "5",
    "strategy": "TWAP",
}

#: Goals from the issue: (comparison, threshold).
GOAL_VS_AIOHTTP = (">=", 0.75)
GOAL_VS_HTTPX = (">=", 8.0)
GOAL_VS_LEGACY = (">=", 40.0)
GOAL_CPU = ("<=", 1.25)
GOAL_STRUCTURING = ("<=", 3.0)

#: Transports of ``taas_async._transports`` tried first (then any other exported transport).
KNOWN_TRANSPORTS = ("H11PoolTransport", "AiohttpTransport")

#: Distributions whose versions the report names.
DISTRIBUTIONS = (
    "taas-async",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "attrs",
    "cattrs",
    "aiohttp",
    "httpx-aiohttp",
    "taas-api-client",
    "requests",
    "urllib3",
    "matplotlib",
)


def order_body(path: Path = SEED_ORDER) -> bytes:
    """The seed order, compact: the bytes ``server.py`` serves."""
    return json.dumps(json.loads(path.read_text()), separators=(",", ":")).encode()


class ServerProcess:
    """``server.py`` in a child process, driven through pipes; stopped with bounded waits."""

    def __init__(self, latencies_ms: Sequence[float], cpu: int | None) -> None:
        self._args = [sys.executable, str(SERVER)]
        self._args += [f"--latency-ms={latency:g}" for latency in latencies_ms]
        if cpu is not None:
            self._args.append(f"--cpu={cpu}")
        self.ports: list[int] = []

    def __enter__(self) -> ServerProcess:
        self._proc = subprocess.Popen(
            self._args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        try:
            self.ports = self._ask(None, timeout=60)
            if not isinstance(self.ports, list) or not self.ports:
                raise RuntimeError(f"the benchmark server said {self.ports!r}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _ask(self, command: bytes | None, timeout: float) -> Any:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        if command is not None:
            self._proc.stdin.write(command + b"\n")
        line = bytearray()
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):  # bounded by the deadline
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._proc.stdout], [], [], left)[0]:
                raise RuntimeError("the benchmark server did not answer in time")
            chunk = self._proc.stdout.read(1)
            if not chunk:
                raise RuntimeError(f"the benchmark server exited ({self._proc.poll()})")
            line += chunk
        return json.loads(line)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def cpu(self) -> float:
        """The server process's CPU seconds so far (NaN if it does not answer)."""
        try:
            return float(self._ask(b"cpu", timeout=5))
        except (OSError, RuntimeError, ValueError):
            return math.nan

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):
            assert self._proc.stdin is not None
            self._proc.stdin.write(b"stop\n")
            self._proc.stdin.close()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


@dataclass(frozen=True)
class Target:
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def order_url(self) -> str:
        return f"{self.base_url}/api/order/{ORDER_ID}"


# ====================================================================== SDK configurations


@dataclass(frozen=True)
class SdkConfig:
    """One way to build the SDK client. ``make`` runs inside the event loop."""

    name: str
    make: Callable[[str, str], AsyncClient]


def _transport_classes() -> tuple[list[tuple[str, type]], list[str]]:
    """Transports exported by ``taas_async._transports``, if that module exists."""
    try:
        module = importlib.import_module("taas_async._transports")
    except ImportError as exc:
        if exc.name == "taas_async._transports":
            return [], ["taas_async._transports: not present (SDK transports skipped)"]
        return [], [f"taas_async._transports failed to import: {exc!r}"]
    except Exception as exc:
        return [], [f"taas_async._transports failed to import: {exc!r}"]
    names = [n for n in KNOWN_TRANSPORTS if hasattr(module, n)]
    for name, value in vars(module).items():
        if (
            not name.startswith("_")
            and name not in names
            and inspect.isclass(value)
            and issubclass(value, httpx.AsyncBaseTransport)
            and value.__module__ == module.__name__
        ):
            names.append(name)
    found = [(n, getattr(module, n)) for n in names]
    notes = [f"taas_async._transports: {', '.join(names) or 'no transports exported'}"]
    return found, notes


def _default_transport_class() -> type | None:
    """The transport class AsyncClient builds when given none (without opening anything)."""
    client = AsyncClient("http://127.0.0.1:9", "x")
    return type(getattr(client._http, "_transport", None))


def sdk_configs() -> tuple[list[SdkConfig], list[str]]:
    """Every SDK variant to measure, and notes on what was (not) found."""
    configs = [
        SdkConfig("sdk (default transport)", AsyncClient),
        SdkConfig(
            "sdk + httpx's own transport",
            lambda url, token: AsyncClient(
                url,
                token,
                transport=httpx.AsyncHTTPTransport(
                    limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
                ),
            ),
        ),
    ]
    notes: list[str] = []
    default = _default_transport_class()
    if httpx_aiohttp is not None:
        configs.append(
            SdkConfig(
                "sdk + httpx-aiohttp transport",
                lambda url, token: AsyncClient(
                    url, token, transport=httpx_aiohttp.AiohttpTransport()
                ),
            )
        )
    else:
        notes.append("httpx-aiohttp not installed: its SDK configuration is skipped")
    classes, found_notes = _transport_classes()
    notes += found_notes
    for name, cls in classes:
        if cls is default:
            continue  # measured as "sdk (default transport)"
        configs.append(
            SdkConfig(
                f"sdk + taas_async {name}",
                lambda url, token, cls=cls: AsyncClient(url, token, transport=cls()),
            )
        )
    return configs, notes


def describe_transport(http: object) -> str:
    transport = getattr(http, "_transport", None)
    if transport is None:
        return "?"
    cls = type(transport)
    module = cls.__module__.split(".")[0]
    return f"{module}.{cls.__qualname__}"


# ====================================================================== throughput


@dataclass
class BatchResult:
    failures: int = 0
    first_error: str = ""

    def fail(self, exc: BaseException) -> None:
        self.failures += 1
        if not self.first_error:
            self.first_error = f"{type(exc).__name__}: {exc}"[:200]


Batch = Callable[[int], Awaitable[BatchResult]]


@dataclass
class Session:
    batch: Batch
    transport: str


def fan_out(call: Callable[[], Awaitable[Any]], concurrency: int) -> Batch:
    """``n`` calls with ``concurrency`` workers taking the next call as they finish."""

    async def batch(n: int) -> BatchResult:
        result = BatchResult()
        remaining = n

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                try:
                    await call()
                except Exception as exc:
                    result.fail(exc)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
        return result

    return batch


#: (target, concurrency, total requests the session will be asked for) -> session.
Opener = Callable[[Target, int, int], contextlib.AbstractAsyncContextManager[Session]]


@dataclass(frozen=True)
class Contender:
    name: str
    kind: str  # "baseline", "sdk", "legacy"
    open: Opener | None = None  # None: the synchronous taas-api-client
    config: str = ""  # the SDK configuration, for SDK rows
    op: str = ""  # "get_order" or "place_orders", for SDK rows
    loop: str = "asyncio"  # or "uvloop"

    def row(self, **fields: Any) -> ThroughputRow:
        return ThroughputRow(
            self.name, self.kind, config=self.config, op=self.op, loop=self.loop, **fields
        )


@contextlib.asynccontextmanager
async def open_raw_aiohttp(target: Target, concurrency: int, total: int) -> AsyncIterator[Session]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=RAW_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        url = target.order_url

        async def call() -> Any:
            async with session.get(url, headers=RAW_HEADERS) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
            return json.loads(body)

        yield Session(fan_out(call, concurrency), f"aiohttp.TCPConnector(limit={concurrency})")


@contextlib.asynccontextmanager
async def open_raw_aiohttp_post(
    target: Target, concurrency: int, total: int
) -> AsyncIterator[Session]:
    """Raw aiohttp doing the SDK's place_orders work: POST an order body, json.loads the reply."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=RAW_TIMEOUT)
    headers = {**RAW_HEADERS, "Content-Type": "application/json"}
    numbers = itertools.count()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        url = f"{target.base_url}/api/orders/"

        async def call() -> Any:
            body = json.dumps({**RAW_ORDER_BODY, "custom_order_id": f"raw-{next(numbers)}"})
            async with session.post(url, data=body.encode(), headers=headers) as response:
                reply = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
            return json.loads(reply)

        yield Session(fan_out(call, concurrency), f"aiohttp.TCPConnector(limit={concurrency})")


def raw_httpx_opener(make: Callable[[], httpx.AsyncClient]) -> Opener:
    @contextlib.asynccontextmanager
    async def open_raw_httpx(
        target: Target, concurrency: int, total: int
    ) -> AsyncIterator[Session]:
        async with make() as client:
            url = target.order_url

            async def call() -> Any:
                response = await client.get(url, headers=RAW_HEADERS)
                response.raise_for_status()
                return json.loads(response.content)

            yield Session(fan_out(call, concurrency), describe_transport(client))

    return open_raw_httpx


def sdk_get_opener(config: SdkConfig) -> Opener:
    @contextlib.asynccontextmanager
    async def open_sdk_get(target: Target, concurrency: int, total: int) -> AsyncIterator[Session]:
        async with config.make(target.base_url, TOKEN) as client:
            yield Session(
                fan_out(lambda: client.get_order(ORDER_ID), concurrency),
                describe_transport(getattr(client, "_http", None)),
            )

    return open_sdk_get


def _order_requests(n: int) -> list[PlaceOrderRequest]:
    return [
        PlaceOrderRequest(
            accounts=["mock"],
            pair="ETH-USDT",
            side="buy",
            duration=300,
            base_asset_qty=5,
            strategy="TWAP",
            custom_order_id=f"bench-{i}",
        )
        for i in range(n)
    ]


HAS_PLACE_ORDERS = hasattr(AsyncClient, "place_orders")
PLACE_LABEL = "place_orders" if HAS_PLACE_ORDERS else "place_order x gather+semaphore"


def sdk_place_opener(config: SdkConfig) -> Opener:
    @contextlib.asynccontextmanager
    async def open_sdk_place(
        target: Target, concurrency: int, total: int
    ) -> AsyncIterator[Session]:
        # Built (and validated) up front: constructing requests is not timed.
        unused = _order_requests(total)
        async with config.make(target.base_url, TOKEN) as client:

            async def batch(n: int) -> BatchResult:
                requests = unused[:n]
                del unused[:n]
                if len(requests) < n:
                    raise RuntimeError("more orders asked for than prepared")
                result = BatchResult()
                if HAS_PLACE_ORDERS:
                    outcomes = await client.place_orders(requests, max_concurrency=concurrency)
                else:
                    semaphore = asyncio.Semaphore(concurrency)

                    async def one(request: PlaceOrderRequest) -> Any:
                        async with semaphore:
                            return await client.place_order(request)

                    outcomes = await asyncio.gather(
                        *(one(r) for r in requests), return_exceptions=True
                    )
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        result.fail(outcome)
                return result

            yield Session(batch, describe_transport(getattr(client, "_http", None)))

    return open_sdk_place


@dataclass
class ThroughputRow:
    name: str
    kind: str
    transport: str = ""
    requests: int = 0
    wall_s: float = math.nan
    client_cpu_s: float = math.nan
    server_cpu_s: float = math.nan
    failures: int = 0
    error: str = ""
    note: str = ""
    config: str = ""
    op: str = ""
    loop: str = "asyncio"
    skipped: bool = False
    rates: list[float] = field(default_factory=list)  # of every successful round

    @property
    def ok(self) -> bool:
        return self.requests > 0 and self.failures == 0 and not self.error

    @property
    def rate(self) -> float:
        done = self.requests - self.failures
        return done / self.wall_s if self.wall_s > 0 and done > 0 else math.nan


async def _measure_async(
    contender: Contender,
    target: Target,
    server: ServerProcess,
    n: int,
    warm: int,
    concurrency: int,
    budget_s: float,
    row_timeout: float,
) -> ThroughputRow:
    assert contender.open is not None
    row = contender.row(requests=n)
    async with contender.open(target, concurrency, warm + 2 * concurrency + n) as session:
        row.transport = session.transport
        warmed = await asyncio.wait_for(session.batch(warm), row_timeout)
        if warmed.failures:
            row.error = f"warm-up failed: {warmed.first_error}"
            return row
        # A probe at full pool (the warm-up opened the connections) sizes the
        # run: a slow client gets what fits in the budget, at least 4 rounds of
        # `concurrency`. The rate is what counts.
        floor = 4 * concurrency
        if n > floor:
            probe = 2 * concurrency
            t0 = time.perf_counter()
            probed = await asyncio.wait_for(session.batch(probe), row_timeout)
            rate = probe / max(time.perf_counter() - t0, 1e-9)
            if probed.failures:
                row.error = f"warm-up failed: {probed.first_error}"
                return row
            if rate * budget_s < n:
                n = row.requests = max(floor, int(rate * budget_s))
        gc.collect()
        server0, cpu0, t0 = server.cpu(), time.process_time(), time.perf_counter()
        result = await asyncio.wait_for(session.batch(n), row_timeout)
        t1, cpu1, server1 = time.perf_counter(), time.process_time(), server.cpu()
    row.wall_s, row.client_cpu_s, row.server_cpu_s = t1 - t0, cpu1 - cpu0, server1 - server0
    row.failures, row.error = result.failures, result.first_error
    return row


def measure_throughput(
    contender: Contender,
    target: Target,
    server: ServerProcess,
    n: int,
    concurrency: int,
    budget_s: float,
    row_timeout: float,
) -> ThroughputRow:
    warm = min(n, max(concurrency, 10))
    try:
        return run_on(
            contender.loop,
            _measure_async(contender, target, server, n, warm, concurrency, budget_s, row_timeout),
        )
    except asyncio.TimeoutError:
        return contender.row(error=f"timed out ({row_timeout} s)")
    except Exception as exc:
        return contender.row(error=f"{type(exc).__name__}: {exc}")


def run_on(loop: str, coroutine: Awaitable[Any]) -> Any:
    """Run ``coroutine`` on a new asyncio or uvloop event loop."""
    if loop == "uvloop":
        import uvloop  # noqa: PLC0415 (optional: a row is skipped without it)

        return uvloop.run(coroutine)  # type: ignore[arg-type]
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def best_round(rows: list[ThroughputRow]) -> ThroughputRow:
    """The fastest successful round, knowing every round's rate; else the last failure."""
    good = [r for r in rows if r.ok]
    if not good:
        return rows[-1]
    best = max(good, key=lambda r: r.rate)
    best.rates = [r.rate for r in good]
    return best


def measure_legacy(target: Target, server: ServerProcess, n: int, budget_s: float) -> ThroughputRow:
    """taas-api-client 1.2.9: synchronous, one ``requests.get`` (new connection) per call."""
    row = ThroughputRow("taas-api-client 1.2.9 (sequential)", "legacy", "requests (new conn/call)")
    if taas_api is None:
        row.note, row.skipped = "skipped: taas-api-client not installed", True
        return row
    client = taas_api.Client(url=target.base_url, auth_token=TOKEN)

    def run() -> None:
        try:
            for _ in range(3):
                client.get_order(ORDER_ID)
            gc.collect()
            server0, cpu0, t0 = server.cpu(), time.process_time(), time.perf_counter()
            done = 0
            while done < n and time.perf_counter() - t0 < budget_s:
                order = client.get_order(ORDER_ID)
                if order.get("id") != ORDER_ID:
                    raise RuntimeError(f"unexpected reply {order!r:.80}")
                done += 1
            row.wall_s = time.perf_counter() - t0
            row.client_cpu_s, row.server_cpu_s = time.process_time() - cpu0, server.cpu() - server0
            row.requests = done
        except Exception as exc:
            row.error = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=run, name="taas-api-client", daemon=True)
    thread.start()
    thread.join(budget_s + 30)
    if thread.is_alive():
        row.error = "did not finish in time"
    row.note = f"{row.requests} calls"
    return row


# ====================================================================== CPU per call


@dataclass
class CpuRow:
    name: str
    transport: str = ""
    calls: int = 0
    raw_cpu_us: float = math.nan
    sdk_cpu_us: float = math.nan
    raw_wall_us: float = math.nan
    sdk_wall_us: float = math.nan
    error: str = ""

    @property
    def ratio(self) -> float:
        return self.sdk_cpu_us / self.raw_cpu_us if self.raw_cpu_us > 0 else math.nan


async def _measure_cpu_async(config: SdkConfig, target: Target, n: int, repeats: int) -> CpuRow:
    row = CpuRow(config.name, calls=n)
    async with config.make(target.base_url, TOKEN) as client:
        # Raw httpx on the SDK's own httpx client: the same transport, pool and
        # timeouts by construction, whatever the configuration builds.
        http = getattr(client, "_http", None)
        fresh = not isinstance(http, httpx.AsyncClient)
        if fresh:
            http = httpx.AsyncClient(limits=SDK_LIMITS, timeout=RAW_TIMEOUT)
        row.transport = describe_transport(http) + (" (fresh raw client)" if fresh else "")
        url = target.order_url

        async def raw() -> Any:
            response = await http.get(url, headers=RAW_HEADERS)
            response.raise_for_status()
            return json.loads(response.content)

        async def sdk() -> Any:
            return await client.get_order(ORDER_ID)

        try:
            for _ in range(min(n, 50)):
                await raw()
                await sdk()
            best: dict[str, tuple[float, float]] = {}
            for rep in range(repeats):
                order = [("raw", raw), ("sdk", sdk)]
                if rep % 2:
                    order.reverse()  # neither side always goes first
                for label, call in order:
                    gc.collect()
                    cpu0, t0 = time.process_time(), time.perf_counter()
                    for _ in range(n):
                        await call()
                    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
                    previous = best.get(label, (math.inf, math.inf))
                    best[label] = (min(previous[0], cpu), min(previous[1], wall))
        finally:
            if fresh:
                await http.aclose()
    row.raw_cpu_us, row.raw_wall_us = (v / n * 1e6 for v in best["raw"])
    row.sdk_cpu_us, row.sdk_wall_us = (v / n * 1e6 for v in best["sdk"])
    return row


def measure_cpu(
    config: SdkConfig, target: Target, n: int, repeats: int, row_timeout: float
) -> CpuRow:
    async def bounded() -> CpuRow:
        return await asyncio.wait_for(_measure_cpu_async(config, target, n, repeats), row_timeout)

    try:
        return asyncio.run(bounded())
    except asyncio.TimeoutError:
        return CpuRow(config.name, error=f"timed out ({row_timeout} s)")
    except Exception as exc:
        return CpuRow(config.name, error=f"{type(exc).__name__}: {exc}")


# ====================================================================== structuring


@dataclass
class StructRow:
    name: str
    us: float
    number: int


def measure_structuring(body: bytes, repeats: int, min_time: float) -> list[StructRow]:
    decoded = decode_json(body)
    check = structure(decode_json(body), Order)
    if not isinstance(check, Order) or check.id != ORDER_ID:
        raise RuntimeError("the seed order did not structure as expected")
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("json.loads(body)", lambda: json.loads(body)),
        ("decode_json(body)  (floats as Decimal)", lambda: decode_json(body)),
        # The two readings of the goal: structuring alone, and bytes to Order.
        ("structure(decoded, Order)  (the dict decoded once)", lambda: structure(decoded, Order)),
        ("structure(decode_json(body), Order)", lambda: structure(decode_json(body), Order)),
    ]
    timers = []
    for name, fn in cases:
        timer = timeit.Timer(fn)
        number = 1
        # Bounded calibration: grow until one repeat takes min_time (at most 2**24 calls).
        for _ in range(25):
            if timer.timeit(number) >= min_time:
                break
            number *= 2
        timers.append((name, timer, number))
    best = [math.inf] * len(timers)
    for _ in range(repeats):  # interleaved, so that drift hits every case alike
        for i, (_, timer, number) in enumerate(timers):
            best[i] = min(best[i], timer.timeit(number) / number)
    return [
        StructRow(name, seconds * 1e6, number)
        for (name, _, number), seconds in zip(timers, best, strict=True)
    ]


# ====================================================================== reporting


def verdict(value: float, goal: tuple[str, float]) -> str:
    op, threshold = goal
    if math.isnan(value):
        return "n/a"
    ok = value >= threshold if op == ">=" else value <= threshold
    return "PASS" if ok else "MISS"


def fmt_ratio(value: float, goal: tuple[str, float] | None = None) -> str:
    if math.isnan(value):
        return "n/a"
    text = f"{value:.2f}x" if value < 10 else f"{value:.1f}x"
    return f"{text} {verdict(value, goal)}" if goal else text


def fmt_num(value: float, digits: int = 0) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def fmt_range(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return f"{min(values):,.0f}-{max(values):,.0f} ({len(values)})"


def fmt_pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.0f}%"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Report:
    machine: list[str]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    throughput: list[ThroughputRow] = field(default_factory=list)
    cpu: list[CpuRow] = field(default_factory=list)
    structuring: list[StructRow] = field(default_factory=list)

    def baseline(self, name: str) -> float:
        for row in self.throughput:
            if row.name == name and row.ok:
                return row.rate
        return math.nan

    @property
    def ideal(self) -> float:
        latency = self.settings["latency_ms"] / 1000.0
        return self.settings["concurrency"] / latency if latency > 0 else math.nan


AIOHTTP_NAME = "raw aiohttp"
AIOHTTP_POST_NAME = "raw aiohttp: POST /api/orders/"
UVLOOP = " (uvloop)"
HTTPX_NAME = "raw httpx (default transport)"
HTTPX_OWN_LIMITS_NAME = "raw httpx (default transport, httpx's own default limits)"
HTTPX_AIOHTTP_NAME = "raw httpx + httpx-aiohttp transport"
LEGACY_NAME = "taas-api-client 1.2.9 (sequential)"


def throughput_ratios(report: Report, row: ThroughputRow) -> tuple[float, float, float]:
    rate = row.rate if row.ok else math.nan
    aiohttp_name = AIOHTTP_POST_NAME if row.op == "place_orders" else AIOHTTP_NAME
    if row.loop == "uvloop":
        aiohttp_name += UVLOOP  # held against aiohttp on the same loop
    return (
        # place_orders sends POSTs with a body: held against raw aiohttp doing the same.
        rate / report.baseline(aiohttp_name),
        rate / report.baseline(HTTPX_NAME),
        rate / report.baseline(LEGACY_NAME),
    )


def render(report: Report) -> str:
    s = report.settings
    out = ["# taas-async benchmark", ""]
    out += [f"- {line}" for line in report.machine]
    out += [f"- note: {note}" for note in report.notes]
    out.append("")
    if report.throughput:
        out += [
            f"## Throughput: {s['requests']:,} GET /api/order/{{id}} (SDK {PLACE_LABEL}: POSTs),"
            f" {s['concurrency']} in flight, server latency {s['latency_ms']:g} ms"
            f" (ideal {fmt_num(report.ideal)}/s)",
            "",
        ]
        rows = []
        for row in report.throughput:
            vs_aiohttp, vs_httpx, vs_legacy = throughput_ratios(report, row)
            sdk = row.kind == "sdk"
            status = "ok" if row.ok else (row.error or f"{row.failures} failed")
            if (row.ok or row.skipped) and row.note:
                status = row.note
            if row.failures and row.error:
                status = f"{row.failures} failed: {row.error}"
            rows.append(
                [
                    row.name,
                    f"`{row.transport}`" if row.transport else "",
                    fmt_num(row.rate),
                    fmt_range(row.rates),
                    f"{row.requests:,}",
                    fmt_pct(row.rate / report.ideal),
                    fmt_num(row.client_cpu_s / max(row.requests, 1) * 1e6),
                    fmt_pct(row.server_cpu_s / row.wall_s if row.wall_s > 0 else math.nan),
                    fmt_ratio(vs_aiohttp, GOAL_VS_AIOHTTP if sdk else None),
                    fmt_ratio(vs_httpx, GOAL_VS_HTTPX if sdk else None),
                    fmt_ratio(vs_legacy, GOAL_VS_LEGACY if sdk else None),
                    status,
                ]
            )
        out.append(
            table(
                [
                    "client",
                    "transport",
                    "req/s (best)",
                    "rounds min-max",
                    "requests",
                    "of ideal",
                    "client CPU µs/req",
                    "server CPU",
                    "x raw aiohttp (goal ≥0.75)",
                    "x raw httpx default (goal ≥8)",
                    "x taas-api-client (goal ≥40)",
                    "status",
                ],
                rows,
            )
        )
        out += [
            "",
            "Raw clients fetch and `json.loads` the body; the SDK also structures an `Order`."
            f" The SDK's place_orders rows are held against `{AIOHTTP_POST_NAME}` (the same"
            " POSTs, with the same body) in the aiohttp column; every other row against"
            f" `{AIOHTTP_NAME}`'s GETs."
            f" `{HTTPX_NAME}` uses the SDK's limits (max_connections=100,"
            f" max_keepalive_connections=100); `{HTTPX_OWN_LIMITS_NAME}` is plain"
            " `httpx.AsyncClient()` (100 connections, 20 kept alive)."
            f" Best of {s['rounds']} round-robin rounds; a client too slow for"
            f" {s['requests']:,} requests in {s['client_seconds']:g} s does fewer"
            " (at least 4 x concurrency). taas-api-client: sequential calls.",
            "",
        ]
    if report.cpu:
        out += [
            f"## CPU per call: one request at a time, 0 ms server, {s['cpu_calls']:,} calls"
            f" (min of {s['cpu_repeats']} interleaved repeats)",
            "",
        ]
        rows = [
            [
                row.name,
                f"`{row.transport}`" if row.transport else "",
                fmt_num(row.raw_cpu_us),
                fmt_num(row.sdk_cpu_us),
                fmt_num(row.sdk_cpu_us - row.raw_cpu_us),
                fmt_ratio(row.ratio, GOAL_CPU),
                fmt_num(row.raw_wall_us),
                fmt_num(row.sdk_wall_us),
                row.error or "ok",
            ]
            for row in report.cpu
        ]
        out.append(
            table(
                [
                    "SDK configuration",
                    "transport (same for both)",
                    "raw httpx CPU µs/call",
                    "SDK get_order CPU µs/call",
                    "SDK's own µs",
                    "SDK / raw (goal ≤1.25)",
                    "raw wall µs",
                    "SDK wall µs",
                    "status",
                ],
                rows,
            )
        )
        out += [
            "",
            "Raw = `http.get(url)` + `json.loads` on the SDK client's own `httpx.AsyncClient`"
            " (same transport, pool and timeouts).",
            "",
        ]
    if report.structuring:
        base = report.structuring[0].us
        out += [f"## Structuring one `Order` ({s['body_bytes']} byte seed body)", ""]
        rows = []
        for i, row in enumerate(report.structuring):
            # The goal is on structuring (decoded JSON -> Order); the last row
            # adds the decode itself, for the whole bytes -> Order path.
            goal = GOAL_STRUCTURING if i == len(report.structuring) - 2 else None
            rows.append([f"`{row.name}`", fmt_num(row.us, 2), fmt_ratio(row.us / base, goal)])
        out.append(table(["operation", "µs/call", "x json.loads (goal ≤3)"], rows))
        out.append("")
    out += render_goals(report)
    return "\n".join(out)


def render_goals(report: Report) -> list[str]:
    """One line per SDK configuration: every goal's ratio and PASS/MISS."""
    names = list(dict.fromkeys([r.config for r in report.throughput if r.config]))
    names += [c.name for c in report.cpu if c.name not in names]
    out = ["## Goals", ""]
    if names:
        rows = []
        for name in names:
            cells = [name]
            for op in ("get_order", "place_orders"):
                row = next((r for r in report.throughput if r.config == name and r.op == op), None)
                ratios = throughput_ratios(report, row) if row else (math.nan,) * 3
                goals = (GOAL_VS_AIOHTTP, GOAL_VS_HTTPX, GOAL_VS_LEGACY)
                cells += [fmt_ratio(v, g) for v, g in zip(ratios, goals, strict=True)]
            cpu = next((c for c in report.cpu if c.name == name), None)
            cells.append(fmt_ratio(cpu.ratio, GOAL_CPU) if cpu else "n/a")
            rows.append(cells)
        headers = ["SDK configuration"]
        for op in ("get_order", PLACE_LABEL):
            headers += [
                f"{op} x aiohttp ≥0.75",
                f"{op} x httpx default ≥8",
                f"{op} x taas-api-client ≥40",
            ]
        headers.append("CPU/call SDK / raw httpx ≤1.25")
        out += [table(headers, rows), ""]
    if report.structuring:
        base = report.structuring[0].us
        ratio = report.structuring[-2].us / base
        whole = report.structuring[-1].us / base
        out += [
            f"Structuring an `Order` (decoded JSON to `Order`): {fmt_ratio(ratio)} `json.loads`"
            f" (goal ≤3): {verdict(ratio, GOAL_STRUCTURING)}. The whole path from bytes"
            f" (decoding with exact decimals, then structuring): {fmt_ratio(whole)}.",
            "",
        ]
    return out if len(out) > 2 else []


def write_chart(report: Report, path: Path) -> None:
    import matplotlib  # noqa: PLC0415 (optional; only for the chart)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    panels = [p for p in ("throughput", "cpu", "structuring") if getattr(report, p)]
    if not panels:
        return
    sizes = {
        "throughput": len(report.throughput),
        "cpu": 2 * len(report.cpu),
        "structuring": len(report.structuring),
    }
    heights = [max(2, sizes[p]) * 0.42 + 1.1 for p in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(12, sum(heights) + 1.0), gridspec_kw={"height_ratios": heights}
    )
    axes = [axes] if len(panels) == 1 else list(axes)
    colors = {
        "baseline": "#9e9e9e",
        "legacy": "#c62828",
        "sdk": "#1565c0",
        "sdk_place": "#64b5f6",
    }
    s = report.settings
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "throughput":
            rows = report.throughput[::-1]
            rates = [0.0 if math.isnan(r.rate) or not r.ok else r.rate for r in rows]
            ax.barh(
                [r.name for r in rows],
                rates,
                color=[
                    colors["sdk_place"] if r.op == "place_orders" else colors.get(r.kind, "#555")
                    for r in rows
                ],
            )
            top = max([*rates, report.ideal if not math.isnan(report.ideal) else 0, 1.0])
            for y, (row, rate) in enumerate(zip(rows, rates, strict=True)):
                vs_aiohttp, vs_httpx, vs_legacy = throughput_ratios(report, row)
                label = (
                    f"{rate:,.0f}/s   {fmt_ratio(vs_aiohttp)} aiohttp · {fmt_ratio(vs_httpx)} httpx"
                    f" · {fmt_ratio(vs_legacy)} taas-api-client"
                    if row.ok
                    else (row.error or "failed")[:60]
                )
                ax.text(rate + top * 0.01, y, label, va="center", fontsize=8)
            if not math.isnan(report.ideal):
                ax.axvline(
                    report.ideal,
                    color="#2e7d32",
                    linestyle="--",
                    linewidth=1,
                    label=f"ideal {report.ideal:,.0f}/s",
                )
            handles = [
                Patch(color=colors["sdk"], label="taas-async get_order"),
                Patch(color=colors["sdk_place"], label=f"taas-async {PLACE_LABEL} (POST)"),
                Patch(color=colors["baseline"], label="raw aiohttp / httpx"),
                Patch(color=colors["legacy"], label="taas-api-client 1.2.9"),
                *ax.get_legend_handles_labels()[0],
            ]
            ax.legend(
                handles=handles,
                loc="lower center",
                bbox_to_anchor=(0.5, 1.0),
                ncol=len(handles),
                fontsize=8,
                frameon=False,
            )
            ax.set_xlim(0, top * 1.75)
            ax.set_xlabel("requests/s (higher is better)")
            ax.set_title(
                f"Throughput: {s['requests']:,} requests, {s['concurrency']} in flight,"
                f" server latency {s['latency_ms']:g} ms",
                fontsize=10,
                pad=22,
            )
        elif panel == "cpu":
            names, values, bar_colors, labels = [], [], [], []
            for row in report.cpu[::-1]:
                names += [f"{row.name}: SDK get_order", f"{row.name}: raw httpx"]
                values += [row.sdk_cpu_us, row.raw_cpu_us]
                bar_colors += [colors["sdk"], colors["baseline"]]
                labels += [
                    f"{fmt_num(row.sdk_cpu_us)} µs  ({fmt_ratio(row.ratio)} raw; goal ≤1.25)",
                    f"{fmt_num(row.raw_cpu_us)} µs",
                ]
            values = [0.0 if math.isnan(v) else v for v in values]
            ax.barh(names, values, color=bar_colors)
            top = max([*values, 1.0])
            for y, (value, label) in enumerate(zip(values, labels, strict=True)):
                ax.text(value + top * 0.01, y, label, va="center", fontsize=8)
            ax.set_xlim(0, top * 1.6)
            ax.set_xlabel("client CPU µs per call (lower is better)")
            ax.set_title("CPU per call: one request at a time, 0 ms server", fontsize=10)
        else:
            rows = report.structuring[::-1]
            base = report.structuring[0].us
            values = [r.us for r in rows]
            ax.barh(
                [r.name for r in rows],
                values,
                color=[colors["sdk"], *([colors["baseline"]] * (len(rows) - 1))],
            )
            top = max(values)
            for y, row in enumerate(rows):
                ax.text(
                    row.us + top * 0.01,
                    y,
                    f"{row.us:.1f} µs  ({fmt_ratio(row.us / base)})",
                    va="center",
                    fontsize=8,
                )
            ax.set_xlim(0, top * 1.5)
            ax.set_xlabel("µs per call (lower is better)")
            ax.set_title(
                f"Structuring one Order ({s['body_bytes']} bytes): goal ≤3x json.loads",
                fontsize=10,
            )
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("taas-async benchmark — " + report.machine[0], fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
        "versions: " + ", ".join(f"{d} {_version(d)}" for d in DISTRIBUTIONS),
    ]


def pin_cpus(enabled: bool) -> tuple[int | None, Callable[[], None], str]:
    """Choose the server's core and a function that pins this process to the others."""
    if not enabled or not hasattr(os, "sched_getaffinity"):
        return None, lambda: None, "no CPU pinning"
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, lambda: None, "no CPU pinning (one CPU available)"
    server_cpu, client_cpus = cpus[-1], set(cpus[:-1])

    def pin() -> None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, client_cpus)

    return server_cpu, pin, f"server pinned to CPU {server_cpu}, client to {sorted(client_cpus)}"


# ====================================================================== main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, help="GETs per client (default 2000; quick 200)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="server latency")
    parser.add_argument("--cpu-calls", type=int, help="sequential calls (default 1000; quick 100)")
    parser.add_argument("--cpu-repeats", type=int, help="repeats, min taken (default 3; quick 2)")
    parser.add_argument("--legacy-calls", type=int, help="taas-api-client calls (100; quick 10)")
    parser.add_argument(
        "--rounds", type=int, help="throughput rounds, round-robin, best kept (3; quick 1)"
    )
    parser.add_argument(
        "--client-seconds",
        type=float,
        help="time budget per client and round: slow clients do fewer requests (4; quick 2)",
    )
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke test")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where bench.md/png go")
    parser.add_argument(
        "--workloads",
        default="throughput,cpu,structuring",
        help="comma-separated subset of throughput,cpu,structuring",
    )
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a client failed (goals are not checked)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client CPUs")
    parser.add_argument("--row-timeout", type=float, default=300.0, help="seconds per client")
    args = parser.parse_args(argv)
    quick = args.quick
    args.requests = args.requests or (200 if quick else 2000)
    args.cpu_calls = args.cpu_calls or (100 if quick else 1000)
    args.cpu_repeats = args.cpu_repeats or (2 if quick else 3)
    args.legacy_calls = args.legacy_calls or (10 if quick else 100)
    args.rounds = args.rounds or (1 if quick else 3)
    args.client_seconds = args.client_seconds or (2.0 if quick else 4.0)
    args.struct_repeats = 3 if quick else 7
    args.struct_min_time = 0.02 if quick else 0.2
    args.workloads = {w.strip() for w in args.workloads.split(",") if w.strip()}
    unknown = args.workloads - {"throughput", "cpu", "structuring"}
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    if args.requests < 1 or args.concurrency < 1 or args.latency_ms < 0:
        parser.error("--requests and --concurrency must be >= 1, --latency-ms >= 0")
    return args


def contenders(configs: list[SdkConfig]) -> tuple[list[Contender], list[str]]:
    found: list[Contender] = []
    notes = []
    if aiohttp is not None:
        found.append(Contender(AIOHTTP_NAME, "baseline", open_raw_aiohttp))
        found.append(Contender(AIOHTTP_POST_NAME, "baseline", open_raw_aiohttp_post))
    else:
        notes.append("aiohttp not installed: raw aiohttp skipped")
    found.append(
        Contender(
            HTTPX_NAME,
            "baseline",
            raw_httpx_opener(lambda: httpx.AsyncClient(limits=SDK_LIMITS, timeout=RAW_TIMEOUT)),
        )
    )
    found.append(
        Contender(
            HTTPX_OWN_LIMITS_NAME,
            "baseline",
            raw_httpx_opener(lambda: httpx.AsyncClient(timeout=RAW_TIMEOUT)),
        )
    )
    if httpx_aiohttp is not None:
        found.append(
            Contender(
                HTTPX_AIOHTTP_NAME,
                "baseline",
                raw_httpx_opener(
                    lambda: httpx.AsyncClient(
                        transport=httpx_aiohttp.AiohttpTransport(limits=SDK_LIMITS),
                        timeout=RAW_TIMEOUT,
                    )
                ),
            )
        )
    found += [
        Contender(f"{c.name}: get_order", "sdk", sdk_get_opener(c), c.name, "get_order")
        for c in configs
    ]
    found += [
        Contender(f"{c.name}: {PLACE_LABEL}", "sdk", sdk_place_opener(c), c.name, "place_orders")
        for c in configs
    ]
    if importlib.util.find_spec("uvloop") is None:
        notes.append("uvloop not installed: its rows are skipped")
    else:
        # The default configuration again on uvloop, beside raw aiohttp on uvloop.
        default = configs[0]
        if aiohttp is not None:
            found.append(
                Contender(AIOHTTP_NAME + UVLOOP, "baseline", open_raw_aiohttp, loop="uvloop")
            )
            found.append(
                Contender(
                    AIOHTTP_POST_NAME + UVLOOP, "baseline", open_raw_aiohttp_post, loop="uvloop"
                )
            )
        found.append(
            Contender(
                f"{default.name}: get_order{UVLOOP}",
                "sdk",
                sdk_get_opener(default),
                default.name,
                "get_order",
                "uvloop",
            )
        )
        found.append(
            Contender(
                f"{default.name}: {PLACE_LABEL}{UVLOOP}",
                "sdk",
                sdk_place_opener(default),
                default.name,
                "place_orders",
                "uvloop",
            )
        )
    found.append(Contender(LEGACY_NAME, "legacy"))
    return found, notes


def check_server(targets: Sequence[Target], body: bytes) -> None:
    """Every listener answers GET and POST with the seed order, as JSON."""
    with httpx.Client(timeout=10, trust_env=False) as client:
        for target in targets:
            for response in (
                client.get(target.order_url, headers=RAW_HEADERS),
                client.post(f"{target.base_url}/api/orders/", headers=RAW_HEADERS, json={}),
            ):
                if (
                    response.status_code != 200
                    or response.headers.get("content-type") != "application/json"
                    or response.content != body
                ):
                    raise RuntimeError(f"the benchmark server answered {response!r}")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    # Loopback only: never through a proxy from the environment.
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = "127.0.0.1,localhost"
    configs, notes = sdk_configs()
    body = order_body(SEED_ORDER)
    server_cpu, pin, pinning = pin_cpus(not args.no_pin)
    report = Report(
        machine=machine_info(pinning),
        settings={
            "requests": args.requests,
            "concurrency": args.concurrency,
            "latency_ms": args.latency_ms,
            "cpu_calls": args.cpu_calls,
            "cpu_repeats": args.cpu_repeats,
            "rounds": args.rounds,
            "client_seconds": args.client_seconds,
            "body_bytes": len(body),
        },
        notes=notes,
    )
    if not HAS_PLACE_ORDERS:
        report.notes.append("AsyncClient has no place_orders: gather + semaphore over place_order")
    if {"throughput", "cpu"} & args.workloads:
        with ServerProcess([args.latency_ms, 0.0], server_cpu) as server:
            pin()
            slow, fast = Target(server.ports[0]), Target(server.ports[1])
            progress(f"server pid {server.pid} on ports {server.ports} ({pinning})")
            check_server([slow, fast], body)
            if "throughput" in args.workloads:
                found, more_notes = contenders(configs)
                report.notes += more_notes
                rounds: dict[str, list[ThroughputRow]] = {c.name: [] for c in found}
                # Round-robin, so that a noisy moment does not hit one client's every round.
                for round_ in range(args.rounds):
                    for contender in found:
                        if contender.open is None:
                            budget = min(args.row_timeout, 120.0)
                            row = measure_legacy(slow, server, args.legacy_calls, budget)
                        else:
                            row = measure_throughput(
                                contender,
                                slow,
                                server,
                                args.requests,
                                args.concurrency,
                                args.client_seconds,
                                args.row_timeout,
                            )
                        rounds[contender.name].append(row)
                        progress(
                            f"  [{round_ + 1}/{args.rounds}] {row.name}:"
                            f" {fmt_num(row.rate)} req/s ({row.requests} requests)"
                            + (f" [{row.error}]" if row.error else "")
                        )
                report.throughput = [best_round(rows) for rows in rounds.values()]
            if "cpu" in args.workloads:
                for config in configs:
                    cpu_row = measure_cpu(
                        config, fast, args.cpu_calls, args.cpu_repeats, args.row_timeout
                    )
                    report.cpu.append(cpu_row)
                    progress(
                        f"  cpu {cpu_row.name}: raw {fmt_num(cpu_row.raw_cpu_us)} µs,"
                        f" sdk {fmt_num(cpu_row.sdk_cpu_us)} µs"
                        + (f" [{cpu_row.error}]" if cpu_row.error else "")
                    )
    if "structuring" in args.workloads:
        report.structuring = measure_structuring(body, args.struct_repeats, args.struct_min_time)
    elapsed = time.perf_counter() - started
    report.machine.append(f"benchmark runtime: {elapsed:.1f} s")
    text = render(report)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.md").write_text(text + "\n")
    if not args.no_chart:
        try:
            write_chart(report, args.out / "bench.png")
        except ImportError:
            progress("matplotlib not installed: no chart")
    progress(
        f"wrote {args.out / 'bench.md'} and bench.png in {time.perf_counter() - started:.1f} s"
    )
    broken = [r.name for r in report.throughput if not r.ok and not r.skipped]
    broken += [f"cpu {r.name}" for r in report.cpu if r.error]
    if broken:
        progress("clients that failed: " + "; ".join(broken))
    return 1 if args.check and broken else 0


if __name__ == "__main__":
    sys.exit(main())
