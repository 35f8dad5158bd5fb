"""Headers: what goes with every request, and which extra headers a client accepts."""

from __future__ import annotations

import http.cookiejar
from typing import Any

import httpx
import pytest
import respx
from conftest import BASE_URL, TOKEN, Recorder, load, order_request

import taas_async
from taas_async import AsyncClient, ConfigurationError, __version__

pytestmark = pytest.mark.usefixtures("no_taas_env")

SEED_ORDER = load("seed_order.json")
ORDER_ID = "d3ca321a-d25c-4cee-8a0f-3f74d239c90d"  # the seed order's id


# --------------------------------------------------------------------------- extra headers


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
def test_authorization_in_extra_headers_rejected(name: str) -> None:
    with pytest.raises(ConfigurationError, match="auth_token") as info:
        AsyncClient(BASE_URL, TOKEN, extra_headers={name: "Token other-secret"})
    assert "other-secret" not in str(info.value)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Evil": "a\r\nInjected: 1"},
        {"X-Evil\n": "a"},
        {"X-Num": 1},
        {1: "x"},
        {"X-Bytes": b"x"},
    ],
)
def test_bad_extra_headers_rejected(headers: Any) -> None:
    with pytest.raises(ConfigurationError):
        AsyncClient(BASE_URL, TOKEN, extra_headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Note": "café"},
        {"X Note": "1"},
        {"X-Note:": "1"},
        {"": "1"},
        {"X": "a\tb"},
        {"X-Note": "trailing "},
        {"X-Note": " leading"},
    ],
)
def test_extra_headers_must_be_valid_http(headers: dict[str, str]) -> None:
    # httpx would raise UnicodeEncodeError on every request, or send a broken header
    # (or one whose value HTTP strips: not the value that was set).
    with pytest.raises(ConfigurationError):
        AsyncClient("https://taas.test", TOKEN, extra_headers=headers)


@pytest.mark.parametrize(
    "name",
    ["Host", "content-length", "Transfer-Encoding", "Connection", "TE", "Upgrade", "Expect"],
)
def test_fields_the_client_sets_cannot_be_extra_headers(name: str) -> None:
    # A second Content-Length, or a Transfer-Encoding beside one, is read differently by
    # different servers; Host and Connection are the client's to set.
    with pytest.raises(ConfigurationError, match="the client sets it itself"):
        AsyncClient("https://taas.test", TOKEN, extra_headers={name: "3"})


# --------------------------------------------------------------------------- on the wire


@pytest.mark.asyncio
async def test_default_headers() -> None:
    rec = Recorder()
    async with AsyncClient(
        BASE_URL, TOKEN, transport=rec.transport, extra_headers={"X-Team": "quant"}
    ) as client:
        await client.get_order("abc")
        await client.place_order(order_request())
    get, post = rec.requests
    for request in (get, post):
        assert request.headers["Authorization"] == f"Token {TOKEN}"
        assert request.headers["X-Team"] == "quant"
        assert request.headers["Accept"] == "application/json"
        assert request.headers.get_list("User-Agent") == [request.headers["User-Agent"]]
        assert request.headers["User-Agent"].startswith(f"taas-async/{__version__} httpx/")
    assert "Content-Type" not in get.headers
    assert post.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("key", ["User-Agent", "user-agent", "USER-AGENT"])
@pytest.mark.asyncio
async def test_user_agent_is_prepended_to_ours(key: str) -> None:
    rec = Recorder()
    async with AsyncClient(
        BASE_URL, TOKEN, transport=rec.transport, extra_headers={key: "my-bot/2.1", "X-A": "b"}
    ) as client:
        await client.get_order("abc")
    [request] = rec.requests
    user_agents = request.headers.get_list("User-Agent")
    assert len(user_agents) == 1
    assert user_agents[0].startswith(f"my-bot/2.1 taas-async/{__version__} ")
    assert request.headers["X-A"] == "b"


@pytest.mark.asyncio
async def test_headers_exact_on_get_and_post(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    get = mock_api.get(f"order/{ORDER_ID}").respond(
        200, text=SEED_ORDER, content_type="application/json"
    )
    post = mock_api.post("pause_order/").respond(204)
    await client.get_order(ORDER_ID)
    await client.pause_order(ORDER_ID)
    get_headers = get.calls.last.request.headers
    post_headers = post.calls.last.request.headers
    ours = {"authorization", "user-agent", "accept", "x-team", "content-type"}
    assert {k for k in get_headers if k in ours} == ours - {"content-type"}
    assert {k for k in post_headers if k in ours} == ours
    assert get_headers["User-Agent"].split()[0] == f"taas-async/{taas_async.__version__}"
    assert post_headers["content-length"] == str(len(post.calls.last.request.content))


@pytest.mark.asyncio
async def test_user_agent_extra_header_is_prepended(mock_api: respx.MockRouter) -> None:
    route = mock_api.get("balances/").respond(200, json={})
    async with AsyncClient(
        "https://taas.test/prefix", TOKEN, extra_headers={"User-Agent": "my-bot/2"}
    ) as c:
        await c.get_balances()
    user_agent = route.calls.last.request.headers.get_list("User-Agent")
    assert len(user_agent) == 1
    assert user_agent[0].startswith(f"my-bot/2 taas-async/{taas_async.__version__} ")


@pytest.mark.asyncio
async def test_a_cookie_the_server_sets_goes_back_with_later_requests(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    route = mock_api.get(f"order/{ORDER_ID}")
    route.side_effect = [
        httpx.Response(
            200,
            text=SEED_ORDER,
            headers={"Content-Type": "application/json", "Set-Cookie": "lb=node-7; Path=/"},
        ),
        httpx.Response(200, text=SEED_ORDER, headers={"Content-Type": "application/json"}),
    ]
    await client.get_order(ORDER_ID)
    await client.get_order(ORDER_ID)
    first, second = (call.request for call in route.calls)
    assert "cookie" not in first.headers
    assert second.headers["cookie"] == "lb=node-7"  # e.g. a load balancer's stickiness
    assert [k for k, _ in second.headers.raw if k.lower() != b"cookie"] == [
        k for k, _ in first.headers.raw
    ]


@pytest.mark.asyncio
async def test_a_reply_without_a_cookie_skips_the_cookie_jar(
    mock_api: respx.MockRouter, client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading a reply's cookies is a sixth of the SDK's CPU per call: done
    # only when the reply sets one (the test above proves those still stick).
    reads: list[str] = []
    original = http.cookiejar.CookieJar.extract_cookies

    def spy(jar: http.cookiejar.CookieJar, response: Any, request: Any) -> None:
        reads.append(request.get_full_url())
        original(jar, response, request)

    monkeypatch.setattr(http.cookiejar.CookieJar, "extract_cookies", spy)
    route = mock_api.get(f"order/{ORDER_ID}")
    route.side_effect = [
        httpx.Response(200, text=SEED_ORDER, headers={"Content-Type": "application/json"}),
        httpx.Response(
            200,
            text=SEED_ORDER,
            headers={"Content-Type": "application/json", "set-cookie2": "lb=node-7"},
        ),
        httpx.Response(200, text=SEED_ORDER, headers={"Content-Type": "application/json"}),
    ]
    await client.get_order(ORDER_ID)
    assert reads == []
    await client.get_order(ORDER_ID)
    assert len(reads) == 1
    http_client = client._http  # the httpx.AsyncClient the client built
    assert isinstance(http_client, httpx.AsyncClient)
    http_client.cookies = {"sticky": "1"}  # httpx's setter still works
    assert http_client.cookies["sticky"] == "1"
    await client.get_order(ORDER_ID)
    assert route.calls.last.request.headers["cookie"] == "sticky=1"
