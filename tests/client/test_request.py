"""The request() escape hatch: which paths and methods it sends, how it encodes a query.

A path may not climb out of the API (``..`` encoded or not, backslashes), the
method must be a plain HTTP method, and query values are written as the wire
bodies write them. A POST to an order path is an order call: it gets a
custom_order_id and, when its outcome is unknown, a lookup.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from taas_async import (
    APITimeoutError,
    AsyncClient,
    OrderOutcomeUnknownError,
    RequestValidationError,
)


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
            "day": dt.date(2024, 1, 2),
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
        "day": "2024-01-02",
    }


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (float("nan"), "finite"),
        (Decimal("NaN"), "NaN cannot be sent"),
        (Decimal("Infinity"), "cannot be sent"),
        ({"a": Decimal("1.5")}, "got dict"),  # was sent as "{'a': Decimal('1.5')}"
        (b"ab", "got bytes"),  # was sent as "b'ab'"
        ([1, [2]], "got list"),
        (object(), "got object"),
    ],
    ids=["float-nan", "decimal-nan", "infinity", "a-mapping", "bytes", "a-nested-list", "object"],
)
@pytest.mark.asyncio
async def test_request_refuses_query_values_a_query_cannot_carry(
    client: AsyncClient, mock_api: respx.MockRouter, value: Any, said: str
) -> None:
    # They raised a bare ValueError, or went out as Python's repr of the value.
    with pytest.raises(RequestValidationError) as info:
        await client.request("GET", "api/x/", params={"x": value})
    assert info.value.fields == ["params"]
    assert said in str(info.value)
    assert len(mock_api.calls) == 0


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
