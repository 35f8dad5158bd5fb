"""Type-checks the public API as users write it. NOT meant to be executed.

``mypy --strict taas_async tests/typing`` must pass: if a signature or a
model's field types regress, this file stops type-checking.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import httpx

import taas_async
from taas_async import (
    ActionResult,
    AmendOrderRequest,
    AsyncClient,
    Balance,
    ChildOrder,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    MultiOrder,
    MultiOrdersPage,
    MultiOrderStatus,
    Order,
    OrderInChain,
    OrderStatus,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    SetLeverageRequest,
    Side,
    Strategy,
)


async def tour() -> None:
    version: str = taas_async.__version__
    async with AsyncClient(
        url="https://app.tread.fi",
        auth_token="token",
        timeout=httpx.Timeout(10.0, connect=2.0),
        extra_headers={"X-Desk": "delta-one"},
    ) as client:
        request = PlaceOrderRequest(
            accounts=["mock"],
            pair="ETH-USDT",
            side="buy",
            duration=300,
            base_asset_qty=5,
            strategy="TWAP",
        )
        request.limit_price = Decimal("2500.5")
        request.side = Side.SELL
        order: Order = await client.place_order(request, timeout=3.0)
        qty: Decimal | None = order.sell_token_amount
        started: dt.datetime | None = order.time_start
        status: OrderStatus | str | None = order.status
        done: bool = order.is_terminal
        again: Order = await client.get_order(uuid.UUID(order.id))
        cancelled: ActionResult = await client.cancel_order(again.id)

        multi: MultiOrder = await client.place_multi_order(
            PlaceMultiOrderRequest(
                duration=200,
                strategy=Strategy.TWAP,
                exposure_tolerance=Decimal("0.5"),
                child_orders=[
                    ChildOrder(pair="ETH:PERP-USDT", side="sell", base_asset_qty="10", account="a"),
                    ChildOrder(pair="ETH-USDT", side=Side.BUY, base_asset_qty=10),
                ],
            )
        )
        children: list[str] = multi.child_order_ids
        fetched = await client.get_multi_order(multi.id, include_child_orders=True)
        legs: list[Order] = fetched.child_orders
        pairs: list[str] = fetched.pair_list
        amounts: list[Decimal] = fetched.sell_token_amount_list
        filled: Decimal | None = fetched.pct_filled
        multi_status: MultiOrderStatus | str | None = fetched.effective_status
        multi_page: MultiOrdersPage = await client.get_multi_orders(
            GetMultiOrdersRequest(statuses=[MultiOrderStatus.ACTIVE], page_number=2)
        )
        async for listed_multi in client.iter_multi_orders(GetMultiOrdersRequest(page_size=10)):
            is_over: bool = listed_multi.is_terminal
        del legs, pairs, amounts, filled, multi_status, multi_page
        await client.place_chained_order(
            PlaceChainedOrderRequest(
                orders_in_chain=[
                    OrderInChain(order_request=request, priority=1),
                    OrderInChain(order_request=request, priority=2),
                ]
            )
        )
        await client.amend_order(AmendOrderRequest(order_id=order.id, changes={"notes": "x"}))
        await client.set_leverage(
            SetLeverageRequest(account_ids=["a"], pair="BTC:PERP-USDT", leverage=5)
        )
        balances: dict[str, Balance] = await client.get_balances(account_names=["mock"])
        for balance in balances.values():
            for asset in balance.assets:
                size: Decimal | None = asset.size
        page = await client.get_all_orders(GetOrdersRequest(statuses=[OrderStatus.ACTIVE]))
        first: Order = page[0]
        async for listed in client.iter_orders(GetOrdersRequest(page_size=50)):
            listed_id: str = listed.id
        raw: object = await client.request("GET", "api/new_endpoint/", params={"a": [1, 2]})
        del version, qty, started, status, done, cancelled, children, first, raw
    try:
        await client.get_order("x")
    except taas_async.RateLimitError as exc:
        wait: float | None = exc.retry_after
    except taas_async.APIStatusError as exc:
        code: int = exc.status_code
    except taas_async.APIConnectionError as exc:
        maybe_sent: bool = exc.may_have_reached_server
    except taas_async.RequestValidationError as exc:
        fields: list[str] = exc.fields


async def sandbox_api() -> None:
    from taas_async.sandbox import (
        AccountSpec,
        Exchange,
        FaultRule,
        Sandbox,
        SandboxServer,
        VirtualClock,
    )

    sandbox = Sandbox(seed=1, clock=VirtualClock(), base_path="/taas")
    sandbox.add_account("bot", {"USDT": Decimal("1000"), "ETH": 2}, exchange="OKX")
    sandbox.set_token_price("ETH", "2500.5")
    pair_price: Decimal = sandbox.set_price("ETH-USDT", Decimal("2500.5"))
    price: Decimal = sandbox.price("ETH-USDT")
    rule: FaultRule = sandbox.faults.fail_next(2, status=503, headers={"Retry-After": "1"})
    sandbox.faults.latency = 0.01
    async with sandbox.client(timeout=5) as client:
        order: Order = await client.get_order("x")
    # A misspelt option is a type error (warn_unused_ignores fails this line if it is not).
    sandbox.client(max_retires=1)  # type: ignore[call-arg]
    jumping = Sandbox(autojump=True, accounts={"desk": AccountSpec("OKX", {"USDT": "1"})})
    async with jumping.client(max_retries=0, rate_limit=5.0) as client:
        await client.wait_for_order("x", timeout=60)
    sandbox.advance(60)
    seen: list[Exchange] = sandbox.exchanges
    sandbox.faults.stream_delay = 2.5
    sandbox.faults.stream_refuse = None
    stream = await sandbox.transport().connect_websocket(httpx.URL(sandbox.stream_url), [], 5.0)
    await stream.send('{"command": "keep_alive"}')
    dropped: int = sandbox.drop_streams(4000, "bye") + sandbox.drop_streams()
    sandbox.reset()
    with SandboxServer(sandbox) as server:
        urls: list[str] = [server.url, server.root, server.control_url, server.dashboard_url]
        urls.append(server.stream_url)
        headers: dict[str, str] = server.headers
        served: Sandbox = server.sandbox
    del pair_price, price, rule, order, seen, urls, headers, served, dropped


async def fan_out_api(client: AsyncClient, requests: list[PlaceOrderRequest]) -> None:
    results: list[Order | Exception] = await client.place_orders(requests, max_concurrency=64)
    cancels: list[taas_async.ActionResult | Exception] = await client.cancel_orders(
        [r.id for r in results if isinstance(r, Order)]
    )
    final: Order = await client.wait_for_order("x", timeout=60, poll_interval=0.5)
    async for snapshot in client.watch_order("x", poll_interval=1):
        pct: Decimal | None = snapshot.pct_filled
    try:
        await client.wait_for_order("x", timeout=1)
    except taas_async.WaitTimeoutError as exc:
        last: Order | None = exc.last
    del results, cancels, final
