"""AsyncClient configuration: URL and token (or the environment), plain http, timeouts, retries."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from conftest import BASE_URL, TOKEN, Recorder, order_request

from taas_async import (
    DEFAULT_TIMEOUT,
    AsyncClient,
    ConfigurationError,
    TaaSError,
)
from taas_async.sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("no_taas_env")


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
    ("url", "secret"),
    [
        ("https://taas.test/?token=s3cr3t-in-query", "s3cr3t-in-query"),
        ("https://taas.test/#s3cr3t-in-fragment", "s3cr3t-in-fragment"),
        ("https://user:s3cr3t-pw@taas.test/", "s3cr3t-pw"),
        ("ftp://user:s3cr3t-pw@taas.test/", "s3cr3t-pw"),
    ],
)
def test_url_errors_never_echo_query_fragment_or_credentials(url: str, secret: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncClient(url, TOKEN)
    assert secret not in str(info.value)
    assert "taas.test" in str(info.value) or "credentials" in str(info.value)


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
