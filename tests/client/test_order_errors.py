"""Every error from an order call names the order: ``custom_order_id`` / ``custom_order_ids``.

The id is the one that went out (the caller's, or the one generated for the
call), so the caller can look the order up before placing it again. Reads
carry none. Wire-level: respx records exactly what was sent.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from conftest import GENERATED_ID, order_request

from taas_async import (
    APIConnectionError,
    AsyncClient,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    OrderOutcomeUnknownError,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    RequestValidationError,
    TaaSError,
)

REFUSED = httpx.Response(400, json={"pair": ["not traded here"]})


def sent_ids(route: respx.Route) -> list[str]:
    return [json.loads(call.request.content)["custom_order_id"] for call in route.calls]


@pytest.mark.asyncio
async def test_a_refused_order_names_the_id_generated_for_it(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    route = mock_api.post("orders/").mock(return_value=REFUSED)
    with pytest.raises(BadRequestError) as info:
        await c0.place_order(order_request())
    [sent] = sent_ids(route)
    assert GENERATED_ID.fullmatch(sent)
    assert info.value.custom_order_id == sent
    assert info.value.custom_order_ids == [sent]


@pytest.mark.asyncio
async def test_a_refused_order_names_the_callers_own_id(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    mock_api.post("orders/").mock(return_value=REFUSED)
    request = order_request()
    request.custom_order_id = "mine-1"
    with pytest.raises(BadRequestError) as info:
        await c0.place_order(request)
    assert info.value.custom_order_id == "mine-1"


@pytest.mark.asyncio
async def test_an_order_that_never_left_names_its_id(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    route = mock_api.post("orders/").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError) as info:
        await c0.place_order(order_request())
    assert info.value.custom_order_id == sent_ids(route)[0]


@pytest.mark.asyncio
async def test_a_failed_lookup_after_a_lost_reply_names_the_order(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    # The POST's reply is lost (502), the lookup fails too: outcome unknown, with the id.
    route = mock_api.post("orders/").mock(return_value=httpx.Response(502))
    mock_api.get("orders/").mock(return_value=httpx.Response(500))
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await c0.place_order(order_request())
    assert info.value.custom_order_id == sent_ids(route)[0]
    assert isinstance(info.value.lookup_error, InternalServerError)


@pytest.mark.asyncio
async def test_a_multi_order_error_names_its_id(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    route = mock_api.post("multi_orders/").mock(return_value=REFUSED)
    request = PlaceMultiOrderRequest(
        duration=200,
        strategy="TWAP",
        child_orders=[
            {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": "1", "account": "a"},
            {"pair": "BTC-USDT", "side": "sell", "base_asset_qty": "1", "account": "b"},
        ],
    )
    with pytest.raises(BadRequestError) as info:
        await c0.place_multi_order(request)
    assert info.value.custom_order_id == sent_ids(route)[0]


@pytest.mark.asyncio
async def test_a_chained_order_error_names_every_legs_id(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    route = mock_api.post("chained_orders/").mock(return_value=REFUSED)
    legs: list[Any] = [
        {"order_request": order_request(), "priority": 1},
        {"order_request": {**_fields(), "custom_order_id": "leg-2"}, "priority": 2},
    ]
    with pytest.raises(BadRequestError) as info:
        await c0.place_chained_order(PlaceChainedOrderRequest(orders_in_chain=legs))
    body = json.loads(route.calls.last.request.content)
    ids = [leg["order_request"]["custom_order_id"] for leg in body["orders_in_chain"]]
    assert ids[1] == "leg-2"
    assert GENERATED_ID.fullmatch(ids[0])
    assert info.value.custom_order_ids == ids
    assert info.value.custom_order_id is None  # several: see custom_order_ids


@pytest.mark.asyncio
async def test_reads_and_invalid_requests_carry_no_id(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    mock_api.get("order/abc").mock(return_value=httpx.Response(404, json={"detail": "no"}))
    with pytest.raises(NotFoundError) as info:
        await c0.get_order("abc")
    assert info.value.custom_order_id is None
    assert info.value.custom_order_ids == ()
    request = order_request()
    request.accounts.clear()  # invalid, found before any id is given
    with pytest.raises(RequestValidationError) as invalid:
        await c0.place_order(request)
    assert invalid.value.custom_order_id is None
    # Naming an order's error left every other error as it was (no shared state).
    mock_api.post("orders/").mock(return_value=REFUSED)
    with pytest.raises(BadRequestError) as placed:
        await c0.place_order(order_request())
    assert placed.value.custom_order_ids
    for fresh in (
        TaaSError("x"),
        NotFoundError("x", status_code=404, method="GET", url="u", body=None, text=""),
    ):
        assert fresh.custom_order_id is None
        assert fresh.custom_order_ids == ()


def _fields() -> dict[str, Any]:
    return {
        "accounts": ["mock"],
        "pair": "ETH-USDT",
        "side": "sell",
        "base_asset_qty": "2.5",
        "strategy": "Limit",
        "limit_price": "2000.5",
    }


def test_from_dict_refuses_floats_a_document_rounded_already() -> None:
    text = (
        '{"accounts": ["mock"], "pair": "ETH-USDT", "side": "buy", "strategy": "Limit",'
        ' "base_asset_qty": 0.12345678901234567891, "limit_price": 2000.123456789012345678}'
    )
    with pytest.raises(RequestValidationError) as info:
        PlaceOrderRequest.from_dict(json.loads(text))  # through float: digits lost
    assert set(info.value.errors) == {"base_asset_qty", "limit_price"}
    assert "parse_float=Decimal" in info.value.errors["base_asset_qty"][0]
    exact = PlaceOrderRequest.from_dict(json.loads(text, parse_float=Decimal))
    assert exact.base_asset_qty == Decimal("0.12345678901234567891")
    assert exact.limit_price == Decimal("2000.123456789012345678")
    nested = {
        "duration": 60,
        "strategy": "TWAP",
        "child_orders": [
            {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": 1.5, "account": "a"}
        ],
    }
    with pytest.raises(RequestValidationError) as deep:
        PlaceMultiOrderRequest.from_dict(nested)
    assert set(deep.value.errors) == {"child_orders[0].base_asset_qty"}
    # The constructor takes a float typed in (through str()), nested mappings too.
    assert PlaceMultiOrderRequest(**nested).child_orders[0].base_asset_qty == Decimal("1.5")


def test_from_dict_builds_the_same_request_as_the_constructor() -> None:
    fields = {**_fields(), "custom_order_id": "x"}
    assert PlaceOrderRequest.from_dict(fields) == PlaceOrderRequest(**fields)


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({**_fields(), "bogus": 1}, {"bogus"}),
        ({k: v for k, v in _fields().items() if k != "pair"}, {"pair"}),
        ({**_fields(), "side": "hold", "pair": "!!"}, {"side", "pair"}),
        ({1: "x"}, {"data"}),
        (["pair", "ETH-USDT"], {"data"}),
    ],
)
def test_from_dict_names_every_bad_missing_or_unknown_key(data: Any, fields: set[str]) -> None:
    with pytest.raises(RequestValidationError) as info:
        PlaceOrderRequest.from_dict(data)
    assert set(info.value.errors) == fields
    assert info.value.model == "PlaceOrderRequest"
