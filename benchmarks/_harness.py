"""The benchmark's moving parts: the server process, CPU pinning, event loops, and
the two contenders (raw aiohttp and the SDK) doing each workload the same way.

Every measurement runs on a fresh event loop (asyncio, uvloop or trio), opens
its client, warms it up (pool open), then times a batch of work with
``time.perf_counter()`` (wall) and ``time.process_time()`` (this process's
CPU), asking the server process for its own CPU time around the batch.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
import math
import os
import select
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio

from taas_async import AsyncClient, GetOrdersRequest

try:
    import aiohttp
except ImportError:  # pragma: no cover - optional: the raw rows are then skipped
    aiohttp = None  # type: ignore[assignment]

HERE = Path(__file__).resolve().parent
SERVER = HERE / "server.py"

TOKEN = "bench-token-0123456789"
ORDER_ID = "d3ca321a-d25c-4cee-8a0f-3f74d239c90d"
RAW_HEADERS = {"Authorization": f"Token {TOKEN}", "Accept": "application/json"}
#: Connections, both sides: ``AsyncClient()``'s default pool (max_connections=100)
#: and raw aiohttp's ``TCPConnector(limit=100)``.
POOL_LIMIT = 100
RAW_TIMEOUT = 30.0
#: Orders ``GET /api/orders/`` lists, and how many a page (both sides ask for the same).
LIST_ORDERS = 1000
LIST_PAGE_SIZE = 100
#: What the SDK's place_orders sends in the benchmark, for the raw POST baseline.
RAW_ORDER_BODY = {
    "accounts": ["mock"],
    "pair": "ETH-USDT",
    "side": "buy",
    "duration": 300,
    "base_asset_qty": "5",
    "strategy": "TWAP",
}
LOOPS = ("asyncio", "uvloop", "trio")
T = TypeVar("T")


# ====================================================================== server and machine


class ServerProcess:
    """``server.py`` in a child process, driven through pipes; stopped with bounded waits."""

    def __init__(
        self, latencies_ms: Sequence[float], cpu: int | None, tls: tuple[str, str] | None = None
    ) -> None:
        self._args = [sys.executable, str(SERVER), f"--list-orders={LIST_ORDERS}"]
        self._args += [f"--latency-ms={latency:g}" for latency in latencies_ms]
        if tls is not None:  # (cert, key): HTTPS ports too, after the plain ones
            self._args += [f"--tls-cert={tls[0]}", f"--tls-key={tls[1]}"]
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
    #: Through this proxy, to the HTTPS port (trusting ``ca``): the proxy rows.
    proxy: str | None = None
    ca: str | None = None

    @property
    def base_url(self) -> str:
        if self.ca is not None:
            return f"https://localhost:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    @property
    def order_url(self) -> str:
        return f"{self.base_url}/api/order/{ORDER_ID}"


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

    return server_cpu, pin, f"server pinned to CPU {server_cpu}, clients to {sorted(client_cpus)}"


# ====================================================================== loops


def loop_missing(loop: str) -> str | None:
    """Why ``loop`` cannot run here (a package not installed), or None."""
    if loop == "asyncio":
        return None
    if importlib.util.find_spec(loop) is None:
        return f"{loop} not installed"
    return None


def run_on(loop: str, main: Callable[[], Awaitable[T]]) -> T:
    """``main()`` on a new asyncio, uvloop or trio event loop."""
    if loop == "trio":
        import trio  # noqa: PLC0415 (optional)

        return trio.run(main)  # type: ignore[no-any-return]
    if loop == "uvloop":
        import uvloop  # noqa: PLC0415 (optional)

        return uvloop.run(main())  # type: ignore[no-any-return]
    import asyncio  # noqa: PLC0415

    return asyncio.run(main())  # type: ignore[arg-type]


# ====================================================================== measurements


@dataclass
class Outcome:
    """One contender doing one workload once: what it did, in what time, at what cost."""

    calls: int = 0  # requests (GETs, POSTs, pages)
    items: int = 0  # what the CPU is divided by: calls, or orders for a list walk
    wall_s: float = math.nan
    cpu_s: float = math.nan
    server_cpu_s: float = math.nan
    failures: int = 0
    error: str = ""
    rss_base_kib: float = math.nan  # place_orders only: RSS after imports and warm-up
    rss_peak_kib: float = math.nan  # ... and the peak RSS with the results still held

    @property
    def ok(self) -> bool:
        return self.calls > 0 and self.failures == 0 and not self.error

    @property
    def rate(self) -> float:
        return self.calls / self.wall_s if self.ok and self.wall_s > 0 else math.nan

    @property
    def cpu_us(self) -> float:
        """Client CPU µs per item (per call; per order for a list walk)."""
        return self.cpu_s / self.items * 1e6 if self.ok and self.items else math.nan

    @property
    def rss_growth_kib(self) -> float:
        return self.rss_peak_kib - self.rss_base_kib if self.ok else math.nan

    @property
    def client_share(self) -> float:
        """The client process's CPU use during the batch, as a share of one core."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else math.nan

    @property
    def server_share(self) -> float:
        """The server's CPU use during the batch, as a share of one core."""
        return self.server_cpu_s / self.wall_s if self.wall_s > 0 else math.nan

    def status(self) -> str:
        if self.ok:
            return "ok"
        if self.failures:
            return f"{self.failures} failed: {self.error}"
        return self.error or "nothing done"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        return cls(**json.loads(text))


class Failures:
    """Failed calls of a batch, and the first one's error."""

    def __init__(self) -> None:
        self.count = 0
        self.first = ""

    def add(self, exc: BaseException) -> None:
        self.count += 1
        if not self.first:
            self.first = f"{type(exc).__name__}: {exc}"[:200]


async def fan_out(
    call: Callable[[int], Awaitable[Any]], n: int, concurrency: int, failures: Failures
) -> None:
    """``call(i)`` for i in range(n), ``concurrency`` workers each taking the next i."""
    numbers = iter(range(n))

    async def worker() -> None:
        for i in numbers:  # shared: each i goes to exactly one worker
            try:
                await call(i)
            except Exception as exc:  # noqa: PERF203 (counted, the batch goes on)
                failures.add(exc)

    async with anyio.create_task_group() as group:
        for _ in range(min(concurrency, n)):
            group.start_soon(worker)


#: Runs ``n`` units of work (calls, or list walks), counting failures.
Batch = Callable[[int], Awaitable[None]]
#: (target, concurrency, failures) -> an open client's batch.
Opener = Callable[[Target, int, Failures], contextlib.AbstractAsyncContextManager[Batch]]


def raw_session(target: Target) -> aiohttp.ClientSession:
    """Raw aiohttp as the baseline uses it: one session, the SDK's pool size.

    Through the target's proxy, if any (``proxy=`` on each request, below),
    trusting its CA.
    """
    tls = ssl.create_default_context(cafile=target.ca) if target.ca is not None else None
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=POOL_LIMIT, ssl=tls if tls is not None else True),
        timeout=aiohttp.ClientTimeout(total=RAW_TIMEOUT),
    )


def sdk_client(target: Target) -> AsyncClient:
    """The SDK as the goals are set for: its defaults (transport, 100 connections).

    Through the target's proxy, if any, trusting its CA: still the default transport.
    """
    if target.ca is not None:
        return AsyncClient(target.base_url, TOKEN, verify=target.ca, proxy=target.proxy)
    return AsyncClient(target.base_url, TOKEN, allow_insecure_http=True)


@contextlib.asynccontextmanager
async def raw_get(target: Target, concurrency: int, failures: Failures) -> AsyncIterator[Batch]:
    """Raw aiohttp: ``GET /api/order/{id}``, read the body, ``json.loads`` it."""
    async with raw_session(target) as session:
        url = target.order_url
        proxy = target.proxy

        async def call(_: int) -> Any:
            async with session.get(url, headers=RAW_HEADERS, proxy=proxy) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
            return json.loads(body)

        yield lambda n: fan_out(call, n, concurrency, failures)


@contextlib.asynccontextmanager
async def sdk_get(target: Target, concurrency: int, failures: Failures) -> AsyncIterator[Batch]:
    """The SDK: ``get_order`` (a typed ``Order``)."""
    async with sdk_client(target) as client:

        async def call(_: int) -> Any:
            return await client.get_order(ORDER_ID)

        yield lambda n: fan_out(call, n, concurrency, failures)


def _check_walk(got: int) -> None:
    if got != LIST_ORDERS:
        raise RuntimeError(f"the list gave {got} orders, not {LIST_ORDERS}")


@contextlib.asynccontextmanager
async def raw_pages(target: Target, concurrency: int, failures: Failures) -> AsyncIterator[Batch]:
    """Raw aiohttp walking the list: GET each page, ``json.loads`` it, until ``num_pages``."""
    async with raw_session(target) as session:
        url = f"{target.base_url}/api/orders/"

        async def walk(_: int) -> None:
            page, got = 1, 0
            while True:
                params = {"page": str(page), "page_size": str(LIST_PAGE_SIZE)}
                async with session.get(url, params=params, headers=RAW_HEADERS) as response:
                    body = await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}")
                decoded = json.loads(body)
                got += len(decoded["orders"])
                if page >= decoded["num_pages"]:
                    break
                page += 1
            _check_walk(got)

        yield lambda n: fan_out(walk, n, concurrency, failures)


@contextlib.asynccontextmanager
async def sdk_pages(target: Target, concurrency: int, failures: Failures) -> AsyncIterator[Batch]:
    """The SDK walking the list: ``iter_orders`` (pages fetched as it goes, typed Orders)."""
    async with sdk_client(target) as client:
        request = GetOrdersRequest(page_size=LIST_PAGE_SIZE)

        async def walk(_: int) -> None:
            got = 0
            async for _order in client.iter_orders(request):
                got += 1
            _check_walk(got)

        yield lambda n: fan_out(walk, n, concurrency, failures)


async def _measure(
    opener: Opener,
    target: Target,
    n: int,
    warm: int,
    concurrency: int,
    server: ServerProcess,
    calls_per_unit: int,
    items_per_unit: int,
) -> Outcome:
    failures = Failures()
    async with opener(target, concurrency, failures) as batch:
        await batch(warm)
        if failures.count:
            return Outcome(error=f"warm-up failed: {failures.first}")
        gc.collect()
        server0, cpu0, t0 = server.cpu(), time.process_time(), time.perf_counter()
        await batch(n)
        t1, cpu1, server1 = time.perf_counter(), time.process_time(), server.cpu()
    return Outcome(
        calls=n * calls_per_unit,
        items=n * items_per_unit,
        wall_s=t1 - t0,
        cpu_s=cpu1 - cpu0,
        server_cpu_s=server1 - server0,
        failures=failures.count,
        error=failures.first,
    )


def measure(
    loop: str,
    opener: Opener,
    target: Target,
    server: ServerProcess,
    *,
    n: int,
    warm: int,
    concurrency: int,
    timeout: float,
    calls_per_unit: int = 1,
    items_per_unit: int = 1,
) -> Outcome:
    """One contender, one workload, on a fresh ``loop``: warm up, then time ``n`` units.

    A unit of work is a call, or a walk through the list (``calls_per_unit``
    pages, ``items_per_unit`` orders: what CPU per order is divided by).
    """

    async def bounded() -> Outcome:
        with anyio.fail_after(timeout):
            return await _measure(
                opener, target, n, warm, concurrency, server, calls_per_unit, items_per_unit
            )

    try:
        return run_on(loop, bounded)
    except TimeoutError:
        return Outcome(error=f"timed out ({timeout:g} s)")
    except Exception as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:200])
