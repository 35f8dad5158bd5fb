"""Which transport AsyncClient builds: H11PoolTransport, unless told otherwise.

httpx's own pool collapses under fan-out (benchmarks/), so the client builds
:class:`H11PoolTransport` with its limits, behind a proxy too: the proxy set
in the environment (or given as ``proxy=``) goes to that transport.
"""

from __future__ import annotations

import httpx
import pytest
import respx
from conftest import BASE_URL, TOKEN, load

from taas_async import DEFAULT_LIMITS, AsyncClient, H11PoolTransport


def transport_of(client: AsyncClient) -> httpx.AsyncBaseTransport:
    return client._http._transport


@pytest.mark.asyncio
async def test_default_is_the_h11_pool_with_the_clients_limits() -> None:
    async with AsyncClient(BASE_URL, TOKEN) as client:
        transport = transport_of(client)
        assert type(transport) is H11PoolTransport
        assert (transport._max, transport._max_idle) == (
            DEFAULT_LIMITS.max_connections,
            DEFAULT_LIMITS.max_keepalive_connections,
        )
        assert DEFAULT_LIMITS.max_connections == DEFAULT_LIMITS.max_keepalive_connections == 100
    limits = httpx.Limits(max_connections=7, max_keepalive_connections=3)
    async with AsyncClient(BASE_URL, TOKEN, limits=limits) as client:
        transport = transport_of(client)
        assert isinstance(transport, H11PoolTransport)
        assert (transport._max, transport._max_idle) == (7, 3)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("variable", "schemes"),
    [
        ("HTTPS_PROXY", {b"https"}),
        ("https_proxy", {b"https"}),
        ("HTTP_PROXY", {b"http"}),
        ("ALL_PROXY", {b"http", b"https"}),
        ("all_proxy", {b"http", b"https"}),
    ],
)
async def test_a_proxy_in_the_environment_goes_to_the_h11_pool(
    monkeypatch: pytest.MonkeyPatch, variable: str, schemes: set[bytes]
) -> None:
    monkeypatch.setenv(variable, "http://proxy.invalid:3128")
    async with AsyncClient(BASE_URL, TOKEN) as client:
        transport = transport_of(client)
        assert type(transport) is H11PoolTransport  # not httpx's: it collapses under fan-out
        assert not client._http._mounts  # nothing goes around it
        routed = {
            scheme
            for scheme in (b"http", b"https")
            if transport._routes.proxy_for((scheme, b"taas.test", 443)) is not None
        }
        assert routed == schemes
    async with AsyncClient(BASE_URL, TOKEN, trust_env=False) as client:
        assert transport_of(client)._routes.proxy_for((b"https", b"taas.test", 443)) is None


@pytest.mark.asyncio
async def test_a_given_transport_or_client_is_used_as_is() -> None:
    mock = httpx.MockTransport(lambda request: httpx.Response(204))
    async with AsyncClient(BASE_URL, TOKEN, transport=mock) as client:
        assert transport_of(client) is mock
    async with httpx.AsyncClient() as http, AsyncClient(BASE_URL, TOKEN, http_client=http) as c:
        assert c._http is http
        assert type(http._transport) is httpx.AsyncHTTPTransport


@pytest.mark.asyncio
async def test_respx_in_httpx_mode_sees_the_default_transport() -> None:
    # respx's default mode patches httpcore, which H11PoolTransport does not use:
    # users who mock with respx must say using="httpx" (README, "Testing").
    with respx.mock(using="httpx", assert_all_mocked=True) as router:
        route = router.get(BASE_URL + "/api/order/abc").respond(
            200, text=load("seed_order.json"), content_type="application/json"
        )
        async with AsyncClient(BASE_URL, TOKEN) as client:
            order = await client.get_order("abc")
    assert route.called
    assert order.pair == "ETH-USDT"
