"""AsyncClient lifecycle: async with, closing, and the httpx client or transport it is given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from conftest import BASE_URL, TOKEN, Recorder, load, order_request

from taas_async import (
    APIStatusError,
    AsyncClient,
    ClientClosedError,
    ConfigurationError,
    GetOrdersRequest,
    TaaSError,
)

pytestmark = pytest.mark.usefixtures("no_taas_env")

ORDER = load("seed_order.json")


# --------------------------------------------------------------------------- lifecycle


@pytest.mark.asyncio
async def test_async_with_and_idempotent_aclose() -> None:
    rec = Recorder()
    client = AsyncClient(BASE_URL, TOKEN, transport=rec.transport)
    assert not client.is_closed
    assert "open" in repr(client)
    async with client as entered:
        assert entered is client
        await client.get_order("abc")
    assert client.is_closed
    assert client._http.is_closed
    assert "closed" in repr(client)
    await client.aclose()
    await client.aclose()
    assert client.is_closed
    with pytest.raises(ClientClosedError):
        async with client:
            pass


@pytest.mark.asyncio
async def test_async_with_closes_on_error() -> None:
    client = AsyncClient(BASE_URL, TOKEN, transport=Recorder().transport)
    with pytest.raises(RuntimeError, match="boom"):
        async with client:
            raise RuntimeError("boom")
    assert client.is_closed


async def _iterate(client: AsyncClient) -> None:
    async for _ in client.iter_orders(GetOrdersRequest()):
        pass


CALLS: list[tuple[str, Callable[[AsyncClient], Awaitable[Any]]]] = [
    ("get_order", lambda c: c.get_order("abc")),
    ("get_order_summary", lambda c: c.get_order_summary("abc")),
    ("cancel_order", lambda c: c.cancel_order("abc")),
    ("pause_order", lambda c: c.pause_order("abc")),
    ("place_order", lambda c: c.place_order(order_request())),
    ("get_all_orders", lambda c: c.get_all_orders()),
    ("iter_orders", _iterate),
    ("get_multi_order", lambda c: c.get_multi_order("abc")),
    ("cancel_multi_order", lambda c: c.cancel_multi_order("abc")),
    ("get_balances", lambda c: c.get_balances()),
    ("close_balances", lambda c: c.close_balances(100)),
    ("get_order_messages", lambda c: c.get_order_messages(["abc"])),
    ("request", lambda c: c.request("GET", "api/orders/")),
]


@pytest.mark.parametrize("call", [c for _, c in CALLS], ids=[n for n, _ in CALLS])
@pytest.mark.asyncio
async def test_closed_client_refuses_requests_and_sends_nothing(
    call: Callable[[AsyncClient], Awaitable[Any]],
) -> None:
    rec = Recorder()
    client = AsyncClient(BASE_URL, TOKEN, transport=rec.transport)
    await client.aclose()
    with pytest.raises(ClientClosedError, match="closed") as info:
        await call(client)
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value, TaaSError)
    assert rec.requests == []


# --------------------------------------------------------------------------- injected clients


@pytest.mark.asyncio
async def test_injected_http_client_is_used_and_not_closed() -> None:
    rec = Recorder()
    http = httpx.AsyncClient(transport=rec.transport, headers={"X-From-Http": "yes"})
    try:
        async with AsyncClient(BASE_URL, TOKEN, http_client=http) as client:
            assert client._http is http
            order = await client.get_order("abc")
            assert order.id
        assert client.is_closed
        assert not http.is_closed
        [request] = rec.requests
        assert request.headers["Authorization"] == f"Token {TOKEN}"
        assert request.headers["X-From-Http"] == "yes"
        assert request.headers["User-Agent"].startswith("taas-async/")
        # Still usable by its owner.
        response = await http.get("https://taas.test/prefix/api/order/abc")
        assert response.status_code == 200
        # Our client refuses, even though the injected one is open.
        with pytest.raises(ClientClosedError):
            await client.get_order("abc")
        assert len(rec.requests) == 2
    finally:
        await http.aclose()


@pytest.mark.asyncio
async def test_injected_http_client_closed_by_its_owner_gives_a_typed_error() -> None:
    rec = Recorder()
    http = httpx.AsyncClient(transport=rec.transport)
    client = AsyncClient(BASE_URL, TOKEN, http_client=http)
    await http.aclose()
    with pytest.raises(ClientClosedError, match="http_client"):
        await client.get_order("abc")
    assert rec.requests == []


@pytest.mark.asyncio
async def test_injected_http_client_auth_does_not_replace_our_token() -> None:
    rec = Recorder()
    http = httpx.AsyncClient(transport=rec.transport, auth=httpx.BasicAuth("someone", "else"))
    try:
        async with AsyncClient(BASE_URL, TOKEN, http_client=http) as client:
            await client.get_order("abc")
        [request] = rec.requests
        assert request.headers["Authorization"] == f"Token {TOKEN}"
    finally:
        await http.aclose()


@pytest.mark.asyncio
async def test_injected_http_client_never_follows_redirects() -> None:
    # Even if the caller's client follows redirects, an order POST is not replayed elsewhere.
    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/orders/"):
            return httpx.Response(307, headers={"Location": "https://other.test/api/orders/"})
        return httpx.Response(201, text=ORDER, headers={"Content-Type": "application/json"})

    rec = Recorder(reply)
    async with (
        httpx.AsyncClient(transport=rec.transport, follow_redirects=True) as http,
        AsyncClient(BASE_URL, TOKEN, http_client=http, max_retries=0) as client,
    ):
        with pytest.raises(APIStatusError) as info:
            await client.place_order(order_request())
    assert info.value.status_code == 307
    assert [str(r.url) for r in rec.requests] == ["https://taas.test/prefix/api/orders/"]


@pytest.mark.asyncio
async def test_own_http_client_does_not_follow_redirects() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.host == "taas.test":
            return httpx.Response(302, headers={"Location": "https://other.test/"})
        return httpx.Response(200, text=ORDER, headers={"Content-Type": "application/json"})

    rec = Recorder(reply)
    async with AsyncClient(BASE_URL, TOKEN, transport=rec.transport, max_retries=0) as client:
        with pytest.raises(APIStatusError) as info:
            await client.get_order("abc")
    assert info.value.status_code == 302
    assert len(rec.requests) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"transport": httpx.MockTransport(lambda r: httpx.Response(200))},
        {"limits": httpx.Limits(max_connections=1)},
    ],
)
@pytest.mark.asyncio
async def test_http_client_with_transport_or_limits_rejected(kwargs: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigurationError, match="http_client"):
            AsyncClient(BASE_URL, TOKEN, http_client=http, **kwargs)
        assert not http.is_closed


@pytest.mark.asyncio
async def test_http_client_with_a_timeout_too_is_a_conflict_explained() -> None:
    async with httpx.AsyncClient(timeout=3) as http:
        with pytest.raises(ConfigurationError, match="either to the http_client or to AsyncClient"):
            AsyncClient(BASE_URL, TOKEN, http_client=http, timeout=10)
        assert not http.is_closed


@pytest.mark.asyncio
async def test_an_unbounded_http_client_timeout_is_refused() -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=None)) as http:
        with pytest.raises(ConfigurationError, match="must be bounded"):
            AsyncClient(BASE_URL, TOKEN, http_client=http)


@pytest.mark.asyncio
async def test_an_injected_http_clients_timeout_goes_with_each_request() -> None:
    rec = Recorder()
    timeout = httpx.Timeout(2.5, connect=1.5)
    async with (
        httpx.AsyncClient(transport=rec.transport, timeout=timeout) as http,
        AsyncClient(BASE_URL, TOKEN, http_client=http) as client,
    ):
        await client.get_order("abc")
        await client.get_order("abc", timeout=9)
    first, second = (r.extensions["timeout"] for r in rec.requests)
    assert first == timeout.as_dict()
    assert second == httpx.Timeout(9, connect=5).as_dict()


def test_without_an_http_client_the_default_timeout_is_5s_connect_15s_read() -> None:
    client = AsyncClient(BASE_URL, TOKEN)
    assert client._timeout == httpx.Timeout(15, connect=5)


@pytest.mark.asyncio
async def test_mock_transport_works_end_to_end() -> None:
    rec = Recorder()
    async with AsyncClient(BASE_URL, TOKEN, transport=rec.transport) as client:
        order = await client.get_order("d3ca321a-d25c-4cee-8a0f-3f74d239c90d")
    assert order.pair == "ETH-USDT"
    assert rec.requests[0].method == "GET"
