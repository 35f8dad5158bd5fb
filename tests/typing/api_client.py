"""AsyncClient: its constructor, attributes and every endpoint, parameters and returns.

Type-checked by ``mypy --strict``, never run. Each endpoint is called with every
parameter it takes, and what it returns is pinned with ``assert_type``; a few calls
a type checker must refuse carry a ``type: ignore[code]`` (``warn_unused_ignores``
fails the line if it stops being an error).
"""

from __future__ import annotations

import pathlib
import ssl
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
from typing_extensions import assert_type

from taas_async import (
    DEFAULT_FAN_OUT,
    DEFAULT_LIMITS,
    DEFAULT_MAX_RESPONSE_SIZE,
    DEFAULT_TIMEOUT,
    USE_CLIENT_DEFAULT,
    ActionResult,
    AiohttpTransport,
    AmendOrderRequest,
    AsyncClient,
    Backoff,
    Balance,
    ChainedOrder,
    CloseBalancesResult,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    H11PoolTransport,
    MultiOrder,
    MultiOrdersPage,
    Order,
    OrderMessage,
    OrdersPage,
    OrderStream,
    OrderSummary,
    OrderUpdate,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    SetLeverageRequest,
    Strategy,
)


async def construction() -> None:
    client = AsyncClient(
        "https://app.tread.fi",
        "token",
        timeout=DEFAULT_TIMEOUT,
        max_retries=3,
        backoff=Backoff(initial=0.5, maximum=10.0, multiplier=3.0, jitter=False),
        max_concurrency=64,
        rate_limit=20.0,
        rate_limit_burst=5,
        extra_headers={"X-Desk": "delta-one"},
        transport=H11PoolTransport(limits=DEFAULT_LIMITS, verify=ssl.create_default_context()),
        limits=httpx.Limits(max_connections=10),
        max_response_size=DEFAULT_MAX_RESPONSE_SIZE,
        allow_insecure_http=False,
    )
    assert_type(client, AsyncClient)
    AsyncClient()  # url and token from $TAAS_URL / $TAAS_AUTH_TOKEN
    AsyncClient(url="https://h/taas", auth_token="t", timeout=2.5)
    AsyncClient(http_client=httpx.AsyncClient(transport=AiohttpTransport(verify=False)))
    AsyncClient(
        verify="corp-ca.pem",
        cert=("desk.pem", "desk.key"),
        trust_env=False,
        proxy="http://user:pass@proxy.corp:3128",
    )
    AsyncClient(verify=False, cert="bundle.pem", proxy=httpx.Proxy("http://proxy.corp:3128"))
    AsyncClient(verify=pathlib.Path("ca.pem"), cert=("c.pem", "k.pem", "password"))
    AsyncClient(proxy=httpx.URL("http://proxy.corp:3128"), verify=ssl.create_default_context())
    AsyncClient(proxy=3128)  # type: ignore[arg-type]
    AsyncClient(trust_env="yes")  # type: ignore[arg-type]
    AsyncClient("https://h", "t", 5.0)  # type: ignore[call-arg]  # options are keyword-only
    AsyncClient(max_retries="2")  # type: ignore[arg-type]
    async with client as entered:
        assert_type(entered, AsyncClient)


async def attributes(client: AsyncClient) -> None:
    assert_type(client.base_url, str)
    assert_type(client.is_closed, bool)
    assert_type(client.max_retries, int)
    assert_type(client.max_response_size, int)
    assert_type(client.backoff, Backoff)
    assert_type(await client.aclose(), None)


async def orders(client: AsyncClient, request: PlaceOrderRequest) -> None:
    order_id = uuid.uuid4()
    assert_type(await client.place_order(request), Order)
    assert_type(await client.place_order(request, timeout=3.0, max_retries=0), Order)
    assert_type(
        await client.place_order(
            request, timeout=httpx.Timeout(3.0), max_retries=USE_CLIENT_DEFAULT
        ),
        Order,
    )
    assert_type(await client.get_order("id", timeout=USE_CLIENT_DEFAULT, max_retries=1), Order)
    assert_type(await client.get_order(order_id), Order)
    assert_type(await client.get_order_summary("id", timeout=1.0, max_retries=1), OrderSummary)
    assert_type(await client.cancel_order(order_id, timeout=1.0, max_retries=1), ActionResult)
    assert_type(
        await client.amend_order(
            AmendOrderRequest(order_id=order_id, changes={"limit_price": "1"}),
            timeout=1.0,
            max_retries=1,
        ),
        ActionResult,
    )
    assert_type(await client.pause_order("id", timeout=1.0, max_retries=1), ActionResult)
    assert_type(await client.resume_order(order_id, timeout=1.0, max_retries=1), ActionResult)
    assert_type(await client.get_all_orders(), OrdersPage)
    assert_type(
        await client.get_all_orders(GetOrdersRequest(page=2), timeout=1.0, max_retries=1),
        OrdersPage,
    )
    assert_type(
        client.iter_orders(GetOrdersRequest(page_size=50), timeout=1.0, max_retries=1),
        AsyncIterator[Order],
    )
    async for listed in client.iter_orders():
        assert_type(listed, Order)
    assert_type(
        await client.get_order_messages(["a", order_id], timeout=1.0, max_retries=1),
        list[OrderMessage],
    )
    await client.get_order(123)  # type: ignore[arg-type]
    await client.place_order({"pair": "ETH-USDT"})  # type: ignore[arg-type]
    await client.get_order("id", timeout="3")  # type: ignore[arg-type]


async def fan_out(client: AsyncClient, requests: list[PlaceOrderRequest]) -> None:
    assert_type(
        await client.place_orders(
            iter(requests), max_concurrency=DEFAULT_FAN_OUT, timeout=1.0, max_retries=1
        ),
        list[Order | Exception],
    )
    assert_type(
        await client.cancel_orders(
            ("a", uuid.uuid4()), max_concurrency=8, timeout=1.0, max_retries=1
        ),
        list[ActionResult | Exception],
    )


async def multi_and_chained(
    client: AsyncClient, multi: PlaceMultiOrderRequest, chain: PlaceChainedOrderRequest
) -> None:
    assert_type(await client.place_multi_order(multi, timeout=1.0, max_retries=1), MultiOrder)
    assert_type(
        await client.get_multi_order(
            uuid.uuid4(), include_child_orders=True, timeout=1.0, max_retries=1
        ),
        MultiOrder,
    )
    assert_type(await client.get_multi_orders(), MultiOrdersPage)
    assert_type(
        await client.get_multi_orders(
            GetMultiOrdersRequest(page_number=2), timeout=1.0, max_retries=1
        ),
        MultiOrdersPage,
    )
    assert_type(
        client.iter_multi_orders(GetMultiOrdersRequest(), timeout=1.0, max_retries=1),
        AsyncIterator[MultiOrder],
    )
    assert_type(await client.cancel_multi_order("id", timeout=1.0, max_retries=1), ActionResult)
    assert_type(await client.place_chained_order(chain, timeout=1.0, max_retries=1), ChainedOrder)


async def balances_and_leverage(client: AsyncClient) -> None:
    assert_type(
        await client.get_balances(["OKX"], ["mock"], timeout=1.0, max_retries=1),
        dict[str, Balance],
    )
    assert_type(await client.get_balances(), dict[str, Balance])
    assert_type(
        await client.close_balances(
            Decimal("1000"), ["mock"], Strategy.TWAP, timeout=1.0, max_retries=1
        ),
        CloseBalancesResult,
    )
    assert_type(await client.close_balances("1000", preferred_strategy="TWAP"), CloseBalancesResult)
    assert_type(
        await client.set_leverage(
            SetLeverageRequest(account_ids=["a"], pair="BTC:PERP-USDT", leverage=5),
            timeout=1.0,
            max_retries=1,
        ),
        ActionResult,
    )


async def escape_hatch(client: AsyncClient) -> None:
    reply = await client.request(
        "POST",
        "api/new_endpoint/",
        params={"ids": ["a", "b"]},
        json={"qty": Decimal("1.5")},
        timeout=1.0,
        max_retries=0,
    )
    assert_type(reply, Any)


async def following(client: AsyncClient, placed: list[Order]) -> None:
    assert_type(
        client.watch_orders([*placed, "id", uuid.uuid4()], poll_interval=0.5, timeout=60.0),
        AsyncGenerator[Order, None],
    )
    async for snapshot in client.watch_orders(placed, stream=True):
        assert_type(snapshot, Order)
    assert_type(
        client.watch_order("id", poll_interval=1.0, timeout=None, stream=None),
        AsyncGenerator[Order, None],
    )
    assert_type(
        await client.wait_for_order(uuid.uuid4(), timeout=60.0, poll_interval=0.5, stream=False),
        Order,
    )
    assert_type(client.order_stream(keepalive=5.0), OrderStream)


async def order_stream(client: AsyncClient, order: Order) -> None:
    async with client.order_stream() as stream:
        assert_type(stream, OrderStream)
        stream.follow(["id", order, ("id", "my-id"), ("id", None)])
        async for update in stream:
            assert_type(update, OrderUpdate)
    await stream.aclose()


async def order_stream_attributes(stream: OrderStream) -> None:
    assert_type(stream.url, str)
    assert_type(stream.reconnects, int)
    assert_type(stream.connected, bool)
    assert_type(stream.follow([]), None)
    assert_type(await stream.aclose(), None)
    async with stream as entered:
        assert_type(entered, OrderStream)
        assert_type(await anext(entered), OrderUpdate)
