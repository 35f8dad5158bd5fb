"""The sandbox served by uvicorn on 127.0.0.1, driven over real TCP.

``python -m taas_async.sandbox`` runs in a subprocess (one per server
fixture, shared by the module). The real :class:`~taas_async.AsyncClient`
(default httpx transport) talks to it; the reference client ``taas_api``
1.2.9 has its own file (``test_sandbox_legacy_client.py``). Every wait is
bounded; nothing leaves 127.0.0.1.

Tests share a server, so each one trades where no other test looks: the
TWAP test alone trades ETH on ``mock``; cancels trade SOL on ``mock``;
multi and chained orders trade BTC on ``test``.
"""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import anyio
import pytest

from taas_async import (
    AsyncClient,
    AuthenticationError,
    Balance,
    ChildOrder,
    MultiOrderStatus,
    NotFoundError,
    OrderInChain,
    OrderStatus,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
)

HOST = "127.0.0.1"
TOKEN = "sandbox-tcp-token-0123"
SPEED = 600  # simulated seconds per real second: a 60 s order takes 0.1 s
STARTUP_LIMIT = 20.0  # seconds to wait for the server to announce itself
LIMIT = 10.0  # seconds: the bound on every await and subprocess wait below
POLLS = 100  # at most this many polls of an order, POLL seconds apart
POLL = 0.05
SERVER = [sys.executable, "-m", "taas_async.sandbox"]


@contextmanager
def serve(*extra: str) -> Iterator[str]:
    """Run the sandbox server in a subprocess; yield the URL it announces."""
    command = [
        *SERVER,
        *("--host", HOST, "--port", "0", "--speed", str(SPEED), "--token", TOKEN),
        *extra,
    ]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def drain() -> None:  # reads until EOF, so the pipe never fills up
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=drain, name="sandbox-stdout", daemon=True)
    reader.start()
    try:
        url = None
        deadline = time.monotonic() + STARTUP_LIMIT
        while url is None or not output[-1].startswith("token:"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"the sandbox did not announce itself in time: {output!r}")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"the sandbox exited with {proc.wait(LIMIT)}: {output!r}")
            output.append(line.rstrip("\n"))
            found = re.fullmatch(r"TaaS sandbox on (http://127\.0\.0\.1:\d+\S*)", output[-1])
            if found:
                url = found.group(1)
        assert output[-1] == f"token: {TOKEN}  speed: {float(SPEED)}x  seed: 0"
        # The URL is announced once the socket listens: one connect, no retry, succeeds.
        port = int(url.split(":")[2].split("/")[0])
        socket.create_connection((HOST, port), timeout=LIMIT).close()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(LIMIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(LIMIT)
        reader.join(LIMIT)
        proc.stdout.close()
        while True:
            try:
                line = lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                output.append(line.rstrip("\n"))
    # Only reached when the tests ran: the server logged no error (uvicorn
    # logs an exception in the app at level error) and it stopped on SIGTERM, unkilled.
    assert not any("Traceback" in line or "ERROR" in line for line in output), output
    # uvicorn >= 0.29 re-raises the SIGTERM it handled once shut down; a kill shows as -9.
    assert proc.returncode in (0, -signal.SIGTERM), (proc.returncode, output)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve() as url:
        yield url


@pytest.fixture(scope="module")
def prefixed_server() -> Iterator[str]:
    with serve("--base-path", "/taas") as url:
        yield url


def twap(account: str, pair: str, side: str, qty: str, duration: int) -> PlaceOrderRequest:
    return PlaceOrderRequest(
        accounts=[account],
        pair=pair,
        side=side,
        duration=duration,
        base_asset_qty=qty,
        strategy="TWAP",
    )


async def wait_for_status(client: AsyncClient, order_id: str, status: OrderStatus) -> None:
    """Poll an order until it reaches ``status`` (at most POLLS times)."""
    seen = None
    for _ in range(POLLS):
        seen = (await client.get_order(order_id)).status
        if seen == status:
            return
        await anyio.sleep(POLL)
    pytest.fail(f"order {order_id} still {seen} after {POLLS} polls")


def holdings(balances: dict[str, Balance], account: str) -> dict[str, Decimal | None]:
    return {a.symbol: a.size for a in balances[account].assets}


# --------------------------------------------------------------------------- AsyncClient


@pytest.mark.anyio
async def test_async_client_over_tcp_twap_fills_and_moves_balances(server: str) -> None:
    with anyio.fail_after(LIMIT):
        async with AsyncClient(server, TOKEN) as client:
            assert client.base_url == server + "/"
            before = holdings(await client.get_balances(account_names=["mock"]), "mock")

            placed = await client.place_order(twap("mock", "ETH-USDT", "buy", "2", 60))
            assert placed.status == OrderStatus.SCHEDULED
            assert placed.pair == "ETH-USDT"
            assert placed.base_asset_qty == Decimal(2)
            assert type(placed.base_asset_qty) is Decimal
            assert placed.account_names == ["mock"]

            got = await client.get_order(placed.id)
            assert got.id == placed.id
            assert got.created_at == placed.created_at

            await wait_for_status(client, placed.id, OrderStatus.COMPLETE)
            done = await client.get_order(placed.id)
            assert done.executed_qty == done.base_asset_qty == Decimal(2)
            assert type(done.executed_qty) is Decimal
            assert type(done.executed_notional) is Decimal
            assert type(done.executed_price) is Decimal
            assert done.pct_filled == Decimal(100)
            assert done.active is False
            fills = done.raw["placements"]
            assert 0 < len(fills) <= 30  # at most one slice every 2 simulated seconds
            assert sum(Decimal(str(f["qty"])) for f in fills) == Decimal(2)

            after = holdings(await client.get_balances(account_names=["mock"]), "mock")
            assert after["ETH"] - before["ETH"] == Decimal(2)
            assert done.total_fee == done.executed_notional * 2 / 10_000  # Mock: 2 bps
            assert before["USDT"] - after["USDT"] == done.executed_notional + done.total_fee
            assert after["BTC"] == before["BTC"]
            assert type(after["USDT"]) is Decimal


@pytest.mark.asyncio
async def test_async_client_over_tcp_cancel(server: str) -> None:
    with anyio.fail_after(LIMIT):
        async with AsyncClient(server, TOKEN) as client:
            order = await client.place_order(twap("mock", "SOL-USDT", "sell", "1", 86_400))
            result = await client.cancel_order(order.id)
            assert result.success is True
            assert result.order_id == order.id
            assert result.message == f"order {order.id} canceled"
            canceled = await client.get_order(order.id)
    assert canceled.status == OrderStatus.CANCELED
    assert canceled.failure_reason == "canceled by user"
    assert canceled.executed_qty is not None
    assert canceled.executed_qty < Decimal(1)


@pytest.mark.asyncio
async def test_async_client_over_tcp_multi_order(server: str) -> None:
    with anyio.fail_after(LIMIT):
        async with AsyncClient(server, TOKEN) as client:
            multi = await client.place_multi_order(
                PlaceMultiOrderRequest(
                    accounts=["test"],
                    duration=60,
                    strategy="TWAP",
                    child_orders=[
                        ChildOrder(pair="BTC-USDT", side="buy", base_asset_qty="0.02"),
                        ChildOrder(pair="BTC-USDT", side="sell", base_asset_qty="0.01"),
                    ],
                )
            )
            assert len(multi.child_order_ids) == 2
            assert (await client.get_multi_order(multi.id)).id == multi.id
            children = [await client.get_order(i) for i in multi.child_order_ids]
            assert [c.parent_order for c in children] == [multi.id, multi.id]
            assert [c.side for c in children] == ["buy", "sell"]
            assert [c.base_asset_qty for c in children] == [Decimal("0.02"), Decimal("0.01")]
            for child in children:
                await wait_for_status(client, child.id, OrderStatus.COMPLETE)
            done = await client.get_multi_order(multi.id)
    assert done.status == MultiOrderStatus.COMPLETE


@pytest.mark.asyncio
async def test_async_client_over_tcp_chained_order(server: str) -> None:
    with anyio.fail_after(LIMIT):
        async with AsyncClient(server, TOKEN) as client:
            chain = await client.place_chained_order(
                PlaceChainedOrderRequest(
                    orders_in_chain=[
                        OrderInChain(
                            order_request=twap("test", "BTC-USDT", "sell", "0.01", 60), priority=2
                        ),
                        OrderInChain(
                            order_request=twap("test", "BTC-USDT", "buy", "0.01", 60), priority=1
                        ),
                    ]
                )
            )
            assert chain.id is not None
            first, second = chain.orders
            assert [first.side, second.side] == ["buy", "sell"]  # by priority
            assert first.parent_order == second.parent_order == chain.id
            assert second.status == OrderStatus.SCHEDULED
            assert second.time_start is None  # waits for the first leg
            await wait_for_status(client, second.id, OrderStatus.COMPLETE)
            legs = [await client.get_order(first.id), await client.get_order(second.id)]
    assert [leg.status for leg in legs] == [OrderStatus.COMPLETE, OrderStatus.COMPLETE]
    assert [leg.executed_qty for leg in legs] == [Decimal("0.01"), Decimal("0.01")]
    assert legs[0].time_end is not None
    assert legs[1].time_start == legs[0].time_end  # the second leg starts as the first ends


@pytest.mark.asyncio
async def test_async_client_over_tcp_wrong_token(server: str) -> None:
    with anyio.fail_after(LIMIT):
        async with AsyncClient(server, "not-the-token") as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.get_balances()
    assert caught.value.status_code == 401
    assert caught.value.body == {"detail": "Invalid token."}
    assert "not-the-token" not in str(caught.value)


@pytest.mark.asyncio
async def test_async_client_keeps_the_base_path(prefixed_server: str) -> None:
    assert prefixed_server.endswith("/taas")
    root = prefixed_server.removesuffix("/taas")
    with anyio.fail_after(LIMIT):
        async with AsyncClient(prefixed_server, TOKEN) as client:
            assert client.base_url == prefixed_server + "/"
            assert sorted(await client.get_balances()) == ["mock", "test"]
            order = await client.place_order(twap("test", "BTC-USDT", "buy", "0.5", 60))
            assert (await client.get_order(order.id)).id == order.id
        async with AsyncClient(root, TOKEN) as client:
            with pytest.raises(NotFoundError) as caught:
                await client.get_order(order.id)
    assert caught.value.body == {"detail": "Not found."}


# --------------------------------------------------------------------------- the command line


def test_help_exits_0() -> None:
    done = subprocess.run(
        [*SERVER, "--help"], capture_output=True, text=True, timeout=LIMIT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m taas_async.sandbox")
    for option in ("--host", "--port", "--speed", "--seed", "--token", "--base-path"):
        assert option in done.stdout


@pytest.mark.parametrize("args", [["--port", "eighty"], ["--no-such-option"]])
def test_bad_argument_exits_2(args: list[str]) -> None:
    done = subprocess.run(
        [*SERVER, *args], capture_output=True, text=True, timeout=LIMIT, check=False
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "error:" in done.stderr
