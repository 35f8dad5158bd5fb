"""``client.with_raw_response``: the typed result with the reply it was read from.

Status, headers, request id, elapsed time, body; ``attempts`` counts every
exchange of the call (a retry, an order lookup). The same call as the plain
method (validation, retries, reconciliation, errors). Checked through respx
(the httpx path) and against a real server on 127.0.0.1 (the direct path).
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
from typing import Any

import anyio
import httpx
import pytest
import respx
from conftest import TOKEN, load, order_request
from faultserver import FaultServer

from taas_async import (
    AsyncClient,
    AsyncClientWithRawResponse,
    Backoff,
    NotFoundError,
    Order,
    OrdersPage,
    RawResponse,
)
from taas_async.sandbox import Sandbox

ORDER = load("seed_order.json")


def reply(status: int = 200, text: str = ORDER, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, text=text, headers={"Content-Type": "application/json", **headers}
    )


@pytest.mark.asyncio
async def test_a_reply_comes_with_its_status_headers_request_id_and_time(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    mock_api.get("order/abc").mock(return_value=reply(**{"X-Request-ID": "req-42"}))
    raw = await c0.with_raw_response.get_order("abc")
    assert isinstance(raw, RawResponse)
    assert isinstance(raw.parsed, Order)
    assert raw.parsed == await c0.get_order("abc")  # the same result as the plain call
    assert raw.status_code == 200
    assert raw.request_id == "req-42"
    assert raw.headers["x-request-id"] == "req-42"
    assert isinstance(raw.headers, httpx.Headers)
    assert isinstance(raw.elapsed, dt.timedelta)
    assert raw.elapsed >= dt.timedelta(0)
    assert (raw.method, raw.url) == ("GET", "https://taas.test/prefix/api/order/abc")
    assert raw.attempts == 1
    assert json.loads(raw.content) == json.loads(ORDER)
    assert TOKEN not in repr(raw)
    assert "content=" not in repr(raw)  # the body is not printed
    # The reply's headers, never the request's (httpx's repr would mask a token anyway).
    assert "authorization" not in raw.headers
    assert not any(TOKEN.encode() in name + value for name, value in raw.headers.raw)
    assert TOKEN.encode() not in raw.content


@pytest.mark.asyncio
async def test_without_a_request_id_header_it_is_none(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    mock_api.get("orders/").mock(return_value=reply(text='{"orders": [], "count": 0}'))
    raw = await c0.with_raw_response.get_all_orders()
    assert isinstance(raw.parsed, OrdersPage)
    assert raw.request_id is None


@pytest.mark.asyncio
async def test_after_a_retry_it_is_the_last_attempts_reply(
    client: AsyncClient, mock_api: respx.MockRouter
) -> None:
    mock_api.get("order/abc").mock(
        side_effect=[
            reply(503, "{}", **{"X-Request-ID": "first"}),
            reply(**{"X-Request-ID": "2nd"}),
        ]
    )
    raw = await client.with_raw_response.get_order("abc")
    assert (raw.status_code, raw.request_id, raw.attempts) == (200, "2nd", 2)


@pytest.mark.asyncio
async def test_an_order_settled_by_a_lookup_shows_the_lookups_reply(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    post = mock_api.post("orders/").mock(return_value=httpx.Response(502))

    def listing(request: httpx.Request) -> httpx.Response:
        sent = json.loads(post.calls.last.request.content)["custom_order_id"]
        found = {**json.loads(ORDER), "custom_order_id": sent}
        return reply(text=json.dumps({"orders": [found], "count": 1}))

    mock_api.get("orders/").mock(side_effect=listing)
    raw = await c0.with_raw_response.place_order(order_request())
    assert (
        raw.parsed.custom_order_id == json.loads(post.calls.last.request.content)["custom_order_id"]
    )
    assert raw.method == "GET"  # the result was read from the lookup
    assert "custom_order_ids=" in raw.url
    assert raw.attempts == 2


@pytest.mark.asyncio
async def test_errors_are_raised_as_by_the_plain_call(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    mock_api.get("order/nope").mock(return_value=httpx.Response(404, json={"detail": "no"}))
    with pytest.raises(NotFoundError):
        await c0.with_raw_response.get_order("nope")


@pytest.mark.anyio
async def test_the_direct_path_on_a_real_server(sandbox: Sandbox, server: FaultServer) -> None:
    async with AsyncClient(server.url, sandbox.token, backoff=Backoff.none()) as client:
        assert client._sender._pool is not None  # the SDK's own pool: no httpx.Response
        with anyio.fail_after(10):
            raw = await client.with_raw_response.place_order(order_request())
            got = await client.with_raw_response.get_order(raw.parsed.id)
    assert raw.status_code in (200, 201)
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/json")
    assert got.parsed.id == raw.parsed.id
    assert json.loads(got.content)["id"] == raw.parsed.id
    assert got.attempts == 1


@pytest.mark.asyncio
async def test_a_raw_call_inside_another_shares_its_notes(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    # An override that makes its own raw call: the outer raw call still shows the reply
    # (an order placed must never come back as an error for want of a reply to show).
    mock_api.get("order/abc").mock(return_value=reply(**{"X-Request-ID": "inner"}))

    class Audited(AsyncClient):
        """Reads through another client, keeping each reply's request id for an audit log."""

        async def get_order(self, order_id: Any, **kwargs: Any) -> Order:
            raw = await c0.with_raw_response.get_order(order_id, **kwargs)
            return raw.parsed

    async with Audited(c0.base_url, TOKEN, max_retries=0) as client:
        raw = await client.with_raw_response.get_order("abc")
    assert (raw.status_code, raw.request_id, raw.attempts) == (200, "inner", 1)


@pytest.mark.asyncio
async def test_plain_calls_beside_it_are_untouched(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    mock_api.get("order/abc").mock(return_value=reply())
    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(c0.get_order, "abc")
        raw = await c0.with_raw_response.get_order("abc")
    assert raw.attempts == 1  # the five plain calls in other tasks were not counted


def _single_request_endpoints() -> list[str]:
    wrapped = [
        name
        for name, member in vars(AsyncClient).items()
        if inspect.iscoroutinefunction(member) and not name.startswith("_")
    ]
    batches = {"place_orders", "cancel_orders", "wait_for_order"}  # many requests each
    return sorted(set(wrapped) - batches)


@pytest.mark.parametrize("name", _single_request_endpoints())
def test_every_single_request_endpoint_is_there_with_the_same_arguments(name: str) -> None:
    plain = inspect.signature(getattr(AsyncClient, name))
    raw = inspect.signature(getattr(AsyncClientWithRawResponse, name))
    assert list(raw.parameters.values()) == list(plain.parameters.values())
    assert raw.return_annotation.startswith("RawResponse[")


def test_the_list_of_endpoints_is_complete() -> None:
    names = {n for n in vars(AsyncClientWithRawResponse) if not n.startswith("_")}
    assert names == set(_single_request_endpoints())
    assert len(names) == 18
