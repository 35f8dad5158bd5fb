"""Review findings on input, replies and URLs: each test fails on the old behaviour."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from conftest import order_request

from taas_async import (
    APITimeoutError,
    AsyncClient,
    BadRequestError,
    OrderOutcomeUnknownError,
    RequestValidationError,
)
from taas_async._converter import ShapeError, structure
from taas_async._models import ActionResult, Order


@pytest.mark.parametrize("path", ["%2e%2e/admin/", "api/%2E/x/", "api\\..\\admin", "a\\b"])
@pytest.mark.asyncio
async def test_request_rejects_encoded_dot_segments_and_backslashes(
    client: AsyncClient, mock_api: respx.MockRouter, path: str
) -> None:
    with pytest.raises(RequestValidationError) as info:
        await client.request("GET", path)
    assert info.value.fields == ["path"]
    assert len(mock_api.calls) == 0


@pytest.mark.parametrize("method", [None, 5, "TRACE", "CONNECT"])
@pytest.mark.asyncio
async def test_request_rejects_bad_methods(
    client: AsyncClient, mock_api: respx.MockRouter, method: Any
) -> None:
    with pytest.raises(RequestValidationError) as info:
        await client.request(method, "api/x/")
    assert info.value.fields == ["method"]
    assert len(mock_api.calls) == 0


@pytest.mark.asyncio
async def test_request_encodes_query_values_like_the_wire_bodies(
    client: AsyncClient, mock_api: respx.MockRouter
) -> None:
    route = mock_api.get("x/").respond(200, json={"ok": True})
    await client.request(
        "GET",
        "api/x/",
        params={
            "tiny": Decimal("1E-8"),
            "flag": True,
            "off": False,
            "many": [Decimal("1E+2"), 2, "a"],
            "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
            "price": 0.1,
            "unset": None,
        },
    )
    assert dict(route.calls.last.request.url.params) == {
        "tiny": "0.00000001",
        "flag": "true",
        "off": "false",
        "many": "100,2,a",
        "when": "2024-01-02T03:04:05+00:00",
        "price": "0.1",
    }


@pytest.mark.asyncio
async def test_request_post_to_an_order_path_is_an_order_call(
    client: AsyncClient, mock_api: respx.MockRouter
) -> None:
    orders = mock_api.post("orders/").mock(side_effect=httpx.ReadTimeout("slow"))
    lookup = mock_api.get("orders/").respond(200, json={"orders": []})
    body = {"pair": "ETH-USDT"}
    with pytest.raises(OrderOutcomeUnknownError) as unknown:
        await client.request("POST", "/api/orders/", json=body, max_retries=0)
    # An order call: a custom_order_id is added (to a copy), and looked up after the timeout.
    assert body == {"pair": "ETH-USDT"}
    sent = json.loads(orders.calls.last.request.content)
    assert sent == {"pair": "ETH-USDT", "custom_order_id": unknown.value.custom_order_id}
    assert re.fullmatch(r"taas-[0-9a-f]{32}", sent["custom_order_id"])
    assert orders.call_count == lookup.call_count == 1
    assert lookup.calls.last.request.url.params["custom_order_ids"] == sent["custom_order_id"]

    other = mock_api.post("other/").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(Exception) as info:
        await client.request("POST", "api/other/", json={})
    assert not isinstance(info.value, OrderOutcomeUnknownError)
    assert type(info.value) is APITimeoutError  # a write that may have landed: not retried
    assert json.loads(other.calls.last.request.content) == {}  # no id added
    assert other.call_count == 1
    assert lookup.call_count == 1


@pytest.mark.parametrize(
    ("body", "message", "success"),
    [
        (True, "true", None),
        (1, "1", None),
        (["cancelled"], '["cancelled"]', None),
        ({"message": ["Order cancelled"]}, "Order cancelled", None),
        ({"message": {"detail": "done"}}, "done", None),
        ({"success": "ok", "message": "fine"}, "fine", None),
        ({"success": True}, None, True),
    ],
)
@pytest.mark.asyncio
async def test_a_cancel_that_succeeded_never_raises_whatever_its_body(
    client: AsyncClient, mock_api: respx.MockRouter, body: Any, message: str | None, success: Any
) -> None:
    mock_api.delete("order/abc").respond(200, json=body)
    result = await client.cancel_order("abc")
    assert isinstance(result, ActionResult)
    assert result.message == message
    assert result.success is success


def test_naive_timestamps_are_read_in_the_reply_time_zone() -> None:
    order = structure(
        {
            "id": "x",
            "created_at": "2023-08-08T23:54:07",
            "time_start": "2023-08-08T23:54:07Z",
            "time_zone": "America/New_York",
        },
        Order,
    )
    assert order.created_at == dt.datetime(2023, 8, 9, 3, 54, 7, tzinfo=dt.timezone.utc)
    assert order.time_start == dt.datetime(2023, 8, 8, 23, 54, 7, tzinfo=dt.timezone.utc)
    utc = structure({"id": "x", "created_at": "2023-08-08T23:54:07", "time_zone": "UTC"}, Order)
    assert utc.created_at == dt.datetime(2023, 8, 8, 23, 54, 7, tzinfo=dt.timezone.utc)


def test_naive_timestamp_in_an_unknown_time_zone_is_a_shape_error() -> None:
    with pytest.raises(ShapeError) as info:
        structure({"id": "x", "created_at": "2023-08-08T23:54:07", "time_zone": "Mars/Base"}, Order)
    assert "Mars/Base" in str(info.value)


@pytest.mark.asyncio
async def test_field_errors_nested_under_errors(
    client: AsyncClient, mock_api: respx.MockRouter
) -> None:
    mock_api.post("orders/").respond(400, json={"errors": {"pair": ["unknown pair"]}})
    with pytest.raises(BadRequestError) as info:
        await client.place_order(order_request())
    assert info.value.field_errors == {"pair": ["unknown pair"]}
    assert "unknown pair" in info.value.message
