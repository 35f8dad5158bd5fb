"""Replies leaving the service and raw replies: to_dict/to_json, from_dict, with_raw_response.

Type-checked by ``mypy --strict``, never run. Every reply model's ``to_dict``
and ``to_json``, every request model's ``from_dict``, every endpoint of
``client.with_raw_response`` with what it returns, and the ``custom_order_id``
every error carries.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx
from typing_extensions import assert_type

from taas_async import (
    ActionResult,
    AmendOrderRequest,
    Asset,
    AsyncClient,
    AsyncClientWithRawResponse,
    Balance,
    ChainedOrder,
    ChildOrder,
    CloseBalancesResult,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    MultiOrder,
    MultiOrdersPage,
    Order,
    OrderInChain,
    OrderMessage,
    OrdersPage,
    OrderSummary,
    OrderUpdate,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    RawResponse,
    SetLeverageRequest,
    StrategyParams,
    TaaSError,
)


def replies_as_json(
    order: Order,
    multi_order: MultiOrder,
    asset: Asset,
    balance: Balance,
    summary: OrderSummary,
    chained: ChainedOrder,
    message: OrderMessage,
    action: ActionResult,
    closed: CloseBalancesResult,
    page: OrdersPage,
    multi_page: MultiOrdersPage,
    update: OrderUpdate,
) -> None:
    assert_type(order.to_dict(), dict[str, Any])
    assert_type(order.to_json(), str)
    assert_type(order.to_json(indent=2), str)
    assert_type(multi_order.to_dict(), dict[str, Any])
    assert_type(multi_order.to_json(), str)
    assert_type(asset.to_dict(), dict[str, Any])
    assert_type(asset.to_json(), str)
    assert_type(balance.to_dict(), dict[str, Any])
    assert_type(balance.to_json(), str)
    assert_type(summary.to_dict(), dict[str, Any])
    assert_type(summary.to_json(), str)
    assert_type(chained.to_dict(), dict[str, Any])
    assert_type(chained.to_json(), str)
    assert_type(message.to_dict(), dict[str, Any])
    assert_type(message.to_json(), str)
    assert_type(action.to_dict(), dict[str, Any])
    assert_type(action.to_json(), str)
    assert_type(closed.to_dict(), dict[str, Any])
    assert_type(closed.to_json(), str)
    assert_type(page.to_dict(), dict[str, Any])
    assert_type(page.to_json(), str)
    assert_type(multi_page.to_dict(), dict[str, Any])
    assert_type(multi_page.to_json(), str)
    assert_type(update.to_dict(), dict[str, Any])
    assert_type(update.to_json(), str)
    order.to_json(indent="2")  # type: ignore[arg-type]


def requests_from_mappings(row: dict[str, Any]) -> None:
    assert_type(PlaceOrderRequest.from_dict(row), PlaceOrderRequest)
    assert_type(PlaceMultiOrderRequest.from_dict(row), PlaceMultiOrderRequest)
    assert_type(PlaceChainedOrderRequest.from_dict(row), PlaceChainedOrderRequest)
    assert_type(ChildOrder.from_dict(row), ChildOrder)
    assert_type(OrderInChain.from_dict(row), OrderInChain)
    assert_type(AmendOrderRequest.from_dict(row), AmendOrderRequest)
    assert_type(SetLeverageRequest.from_dict(row), SetLeverageRequest)
    assert_type(GetOrdersRequest.from_dict(row), GetOrdersRequest)
    assert_type(GetMultiOrdersRequest.from_dict(row), GetMultiOrdersRequest)
    assert_type(StrategyParams.from_dict(row), StrategyParams)
    PlaceOrderRequest.from_dict([("pair", "ETH-USDT")])  # type: ignore[arg-type]


async def batches_of_rows(client: AsyncClient, request: PlaceOrderRequest) -> None:
    rows: list[PlaceOrderRequest | dict[str, Any]] = [request, {"pair": "ETH-USDT"}]
    results = await client.place_orders(rows)
    assert_type(results, list[Order | Exception])
    for result in results:
        if isinstance(result, TaaSError):
            assert_type(result.custom_order_id, str | None)
            assert_type(result.custom_order_ids, Sequence[str])


async def raw_replies(client: AsyncClient, order_id: uuid.UUID) -> None:
    assert_type(client.with_raw_response, AsyncClientWithRawResponse)
    await raw_endpoints(client.with_raw_response, order_id)


def raw_fields(raw: RawResponse[Order]) -> None:
    assert_type(raw.parsed, Order)
    assert_type(raw.status_code, int)
    assert_type(raw.headers, httpx.Headers)
    assert_type(raw.request_id, str | None)
    assert_type(raw.elapsed, dt.timedelta)
    assert_type(raw.method, str)
    assert_type(raw.url, str)
    assert_type(raw.attempts, int)
    assert_type(raw.content, bytes)


async def raw_endpoints(raw_client: AsyncClientWithRawResponse, order_id: uuid.UUID) -> None:
    raw = await raw_client.get_order(order_id, timeout=1.0, max_retries=0)
    assert_type(raw, RawResponse[Order])
    request = PlaceOrderRequest.from_dict({})
    assert_type(await raw_client.place_order(request), RawResponse[Order])
    assert_type(await raw_client.get_order_summary("o"), RawResponse[OrderSummary])
    assert_type(await raw_client.cancel_order("o"), RawResponse[ActionResult])
    amend = AmendOrderRequest(order_id="o", changes={"duration": 60})
    assert_type(await raw_client.amend_order(amend), RawResponse[ActionResult])
    assert_type(await raw_client.pause_order("o"), RawResponse[ActionResult])
    assert_type(await raw_client.resume_order("o"), RawResponse[ActionResult])
    assert_type(await raw_client.get_all_orders(GetOrdersRequest()), RawResponse[OrdersPage])
    messages = await raw_client.get_order_messages(["o"])
    assert_type(messages, RawResponse[list[OrderMessage]])
    multi = PlaceMultiOrderRequest.from_dict({})
    assert_type(await raw_client.place_multi_order(multi), RawResponse[MultiOrder])
    got = await raw_client.get_multi_order("m", include_child_orders=True)
    assert_type(got, RawResponse[MultiOrder])
    multi_page = await raw_client.get_multi_orders(GetMultiOrdersRequest())
    assert_type(multi_page, RawResponse[MultiOrdersPage])
    assert_type(await raw_client.cancel_multi_order("m"), RawResponse[ActionResult])
    chain = PlaceChainedOrderRequest.from_dict({})
    assert_type(await raw_client.place_chained_order(chain), RawResponse[ChainedOrder])
    balances = await raw_client.get_balances(["binance"], ["mock"])
    assert_type(balances, RawResponse[dict[str, Balance]])
    closed = await raw_client.close_balances(Decimal(100), ["mock"], "TWAP")
    assert_type(closed, RawResponse[CloseBalancesResult])
    leverage = SetLeverageRequest(account_ids=["a"], pair="BTC:PERP-USDT", leverage=5)
    assert_type(await raw_client.set_leverage(leverage), RawResponse[ActionResult])
    anything = await raw_client.request("GET", "api/x", params={"a": 1}, json=None)
    assert_type(anything, RawResponse[Any])
    await raw_client.get_order(order_id, timeout="soon")  # type: ignore[arg-type]
