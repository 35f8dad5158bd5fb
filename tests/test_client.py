"""AsyncClient construction and lifecycle: configuration, headers, timeouts, closing."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from conftest import BASE_URL, TOKEN, load, order_request

from taas_async import (
    DEFAULT_TIMEOUT,
    APIStatusError,
    AsyncClient,
    ClientClosedError,
    ConfigurationError,
    GetOrdersRequest,
    TaaSError,
    __version__,
)
from taas_async.sandbox import Sandbox

ORDER = load("seed_order.json")


class Recorder:
    """A MockTransport handler that records every request it gets."""

    def __init__(self, response: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._response = response

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self._response is not None:
            return self._response(request)
        return httpx.Response(200, text=ORDER, headers={"Content-Type": "application/json"})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAAS_URL", raising=False)
    monkeypatch.delenv("TAAS_AUTH_TOKEN", raising=False)


# --------------------------------------------------------------------------- url and token


@pytest.mark.asyncio
async def test_env_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAAS_URL", "https://env.test/envprefix")
    monkeypatch.setenv("TAAS_AUTH_TOKEN", "env-token")
    rec = Recorder()
    async with AsyncClient(transport=rec.transport) as client:
        assert client.base_url == "https://env.test/envprefix/"
        await client.get_order("abc")
    [request] = rec.requests
    assert str(request.url) == "https://env.test/envprefix/api/order/abc"
    assert request.headers["Authorization"] == "Token env-token"


@pytest.mark.asyncio
async def test_explicit_arguments_beat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAAS_URL", "https://env.test/")
    monkeypatch.setenv("TAAS_AUTH_TOKEN", "env-token")
    rec = Recorder()
    async with AsyncClient(BASE_URL, TOKEN, transport=rec.transport) as client:
        await client.get_order("abc")
    assert str(rec.requests[0].url) == "https://taas.test/prefix/api/order/abc"
    assert rec.requests[0].headers["Authorization"] == f"Token {TOKEN}"


@pytest.mark.asyncio
async def test_env_for_one_argument_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAAS_AUTH_TOKEN", "env-token")
    rec = Recorder()
    async with AsyncClient("https://taas.test", transport=rec.transport) as client:
        await client.get_order("abc")
    assert rec.requests[0].headers["Authorization"] == "Token env-token"


def test_missing_both() -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncClient()
    message = str(info.value)
    assert "url" in message
    assert "TAAS_URL" in message
    assert "auth_token" in message
    assert "TAAS_AUTH_TOKEN" in message
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, TaaSError)


def test_missing_url_names_url_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAAS_AUTH_TOKEN", TOKEN)
    with pytest.raises(ConfigurationError) as info:
        AsyncClient()
    message = str(info.value)
    assert "TAAS_URL" in message
    assert "auth_token" not in message
    assert TOKEN not in message


def test_missing_token_names_token_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAAS_URL", BASE_URL)
    with pytest.raises(ConfigurationError) as info:
        AsyncClient()
    message = str(info.value)
    assert "TAAS_AUTH_TOKEN" in message
    assert "TAAS_URL" not in message


@pytest.mark.parametrize(("url", "token"), [("", TOKEN), (BASE_URL, "")])
def test_empty_strings_are_missing(monkeypatch: pytest.MonkeyPatch, url: str, token: str) -> None:
    # An explicit empty string does not silently fall back to the environment either.
    monkeypatch.setenv("TAAS_URL", BASE_URL)
    monkeypatch.setenv("TAAS_AUTH_TOKEN", TOKEN)
    with pytest.raises(ConfigurationError, match="missing"):
        AsyncClient(url, token)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://taas.test/",
        "file:///etc/passwd",
        "ws://taas.test/",
        "taas.test",
        "taas.test/api",
        "https://",
        "https:///path",
        "https://taas.test/?x=1",
        "https://taas.test/prefix?token=abc",
        "https://taas.test/#frag",
        "https://user:pw@taas.test/",
        "https://taas.test:99999/",
        "not a url",
        123,
        b"https://taas.test",
    ],
)
def test_invalid_url(url: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncClient(url, TOKEN)
    assert TOKEN not in str(info.value)
    assert "url" in str(info.value)


def test_userinfo_is_not_echoed() -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncClient("https://user:hunter2@taas.test/", TOKEN)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://taas.test/prefix", "https://taas.test/prefix/"),
        ("https://taas.test/prefix/", "https://taas.test/prefix/"),
        ("https://taas.test", "https://taas.test/"),
        ("https://taas.test/", "https://taas.test/"),
        ("http://127.0.0.1:8080/a/b", "http://127.0.0.1:8080/a/b/"),
        ("HTTPS://TAAS.TEST/Prefix", "https://taas.test/Prefix/"),
    ],
)
@pytest.mark.asyncio
async def test_base_url_normalisation_keeps_prefix(url: str, expected: str) -> None:
    rec = Recorder()
    async with AsyncClient(url, TOKEN, transport=rec.transport) as client:
        assert client.base_url == expected
        await client.get_order("abc")
        await client.request("GET", "/api/orders/")
    assert [str(r.url) for r in rec.requests] == [
        expected + "api/order/abc",
        expected + "api/orders/",
    ]


@pytest.mark.parametrize(
    "url",
    ["http://taas.test/", "http://app.tread.fi", "http://10.0.0.5:8000/", "http://[2001:db8::1]/"],
)
def test_plain_http_to_another_host_is_refused(url: str) -> None:
    """The token would cross the network unencrypted: refused before anything exists."""
    with pytest.raises(ConfigurationError) as info:
        AsyncClient(url, TOKEN)
    assert "unencrypted" in str(info.value)
    assert "allow_insecure_http=True" in str(info.value)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/",
        "http://127.8.9.10/",
        "http://[::1]:8000/",
        "http://localhost:8000/",
        "http://LOCALHOST/",
        "http://sandbox.localhost/",
    ],
)
@pytest.mark.asyncio
async def test_plain_http_to_this_machine_is_allowed(url: str) -> None:
    rec = Recorder()
    async with AsyncClient(url, TOKEN, transport=rec.transport) as client:
        await client.get_order("abc")
    assert rec.requests[0].headers["authorization"] == f"Token {TOKEN}"


@pytest.mark.asyncio
async def test_plain_http_elsewhere_when_allowed_explicitly() -> None:
    rec = Recorder()
    async with AsyncClient(
        "http://taas.test/", TOKEN, transport=rec.transport, allow_insecure_http=True
    ) as client:
        await client.get_order("abc")
    assert str(rec.requests[0].url) == "http://taas.test/api/order/abc"


@pytest.mark.parametrize("value", [1, "yes", None])
def test_allow_insecure_http_must_be_a_bool(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="allow_insecure_http"):
        AsyncClient("https://taas.test/", TOKEN, allow_insecure_http=value)


@pytest.mark.asyncio
async def test_the_in_process_sandbox_client_needs_no_permission() -> None:
    sandbox = Sandbox()  # http://taas-sandbox: no network at all
    async with sandbox.client() as client:
        assert "mock" in await client.get_balances()
    with pytest.raises(ConfigurationError, match="unencrypted"):
        AsyncClient(sandbox.url, sandbox.token)  # the same URL on a real network


@pytest.mark.parametrize(
    "token",
    ["tok en", " tok", "tok ", "tok\t", "tok\n", "tok\r\nX-Evil: 1", "tok\x00", "tök", "tok\u00a0"],
)
def test_token_with_whitespace_or_unsafe_characters_rejected(token: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncClient(BASE_URL, token)
    assert token not in str(info.value)
    assert "auth_token" in str(info.value)


@pytest.mark.parametrize("token", [b"bytes-token", 12345, ["tok"]])
def test_token_must_be_a_string(token: Any) -> None:
    with pytest.raises(ConfigurationError, match="auth_token"):
        AsyncClient(BASE_URL, token)


# --------------------------------------------------------------------------- timeouts


def _timeout_dict(request: httpx.Request) -> dict[str, float | None]:
    timeout: dict[str, float | None] = request.extensions["timeout"]
    return timeout


@pytest.mark.asyncio
async def test_default_timeout_is_connect_5_read_15() -> None:
    assert DEFAULT_TIMEOUT.connect == 5.0
    assert DEFAULT_TIMEOUT.read == 15.0
    rec = Recorder()
    async with AsyncClient(BASE_URL, TOKEN, transport=rec.transport) as client:
        await client.get_order("abc")
    assert _timeout_dict(rec.requests[0]) == {
        "connect": 5.0,
        "read": 15.0,
        "write": 15.0,
        "pool": 15.0,
    }


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (2, {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}),
        (0.25, {"connect": 0.25, "read": 0.25, "write": 0.25, "pool": 0.25}),
        (60, {"connect": 5.0, "read": 60.0, "write": 60.0, "pool": 60.0}),
        (
            httpx.Timeout(7.0, connect=1.0, pool=2.0),
            {"connect": 1.0, "read": 7.0, "write": 7.0, "pool": 2.0},
        ),
    ],
)
@pytest.mark.asyncio
async def test_client_and_per_call_timeouts_reach_the_request(
    timeout: Any, expected: dict[str, float]
) -> None:
    rec = Recorder()
    async with AsyncClient(BASE_URL, TOKEN, transport=rec.transport, timeout=timeout) as client:
        await client.get_order("abc")
    async with AsyncClient(BASE_URL, TOKEN, transport=rec.transport) as client:
        await client.get_order("abc", timeout=timeout)
        await client.cancel_order("abc", timeout=timeout)
        await client.place_order(order_request(), timeout=timeout)
        await client.request("GET", "api/x", timeout=timeout)
        await client.get_order("abc")  # back to the client's default
    assert [_timeout_dict(r) for r in rec.requests[:5]] == [expected] * 5
    assert _timeout_dict(rec.requests[5]) == DEFAULT_TIMEOUT.as_dict()


BAD_TIMEOUTS = [
    None,
    0,
    -1,
    -0.5,
    True,
    "5",
    math.nan,
    math.inf,
    httpx.Timeout(None),
    httpx.Timeout(5.0, read=None),
    httpx.Timeout(5.0, pool=None),
    httpx.Timeout(5.0, read=-1.0),
    httpx.Timeout(5.0, connect=0.0),
    httpx.Timeout(math.inf),
]


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS)
def test_bad_client_timeout_rejected(timeout: Any) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        AsyncClient(BASE_URL, TOKEN, timeout=timeout)


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS)
@pytest.mark.asyncio
async def test_bad_per_call_timeout_rejected_before_sending(timeout: Any) -> None:
    rec = Recorder()
    async with AsyncClient(BASE_URL, TOKEN, transport=rec.transport) as client:
        with pytest.raises(ConfigurationError, match="timeout"):
            await client.get_order("abc", timeout=timeout)
    assert rec.requests == []


# --------------------------------------------------------------------------- max_retries


@pytest.mark.parametrize("value", [-1, -100, True, False, 1.5, "2", None])
def test_bad_max_retries_rejected(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_retries"):
        AsyncClient(BASE_URL, TOKEN, max_retries=value)


@pytest.mark.parametrize("value", [0, 1, 2, 10])
@pytest.mark.asyncio
async def test_good_max_retries_kept(value: int) -> None:
    async with AsyncClient(BASE_URL, TOKEN, max_retries=value) as client:
        assert client.max_retries == value


# --------------------------------------------------------------------------- headers


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
async def test_mock_transport_works_end_to_end() -> None:
    rec = Recorder()
    async with AsyncClient(BASE_URL, TOKEN, transport=rec.transport) as client:
        order = await client.get_order("d3ca321a-d25c-4cee-8a0f-3f74d239c90d")
    assert order.pair == "ETH-USDT"
    assert rec.requests[0].method == "GET"
