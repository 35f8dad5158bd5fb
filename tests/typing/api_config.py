"""Configuration: the defaults, Backoff, the transports, the public aliases.

Type-checked by ``mypy --strict``, never run.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx
from typing_extensions import assert_type

import taas_async
from taas_async import (
    DEFAULT_FAN_OUT,
    DEFAULT_LIMITS,
    DEFAULT_MAX_RESPONSE_SIZE,
    DEFAULT_TIMEOUT,
    USE_CLIENT_DEFAULT,
    AiohttpTransport,
    AsyncClient,
    Backoff,
    DecimalInput,
    H11PoolTransport,
    TimeoutTypes,
)


def constants() -> None:
    assert_type(taas_async.__version__, str)
    fan_out: int = DEFAULT_FAN_OUT  # int constants: a literal type to pyright, int to mypy
    assert_type(DEFAULT_LIMITS, httpx.Limits)
    max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE
    assert_type(DEFAULT_TIMEOUT, httpx.Timeout)
    per_call: TimeoutTypes = DEFAULT_TIMEOUT
    seconds: TimeoutTypes = 2.5
    amounts: list[DecimalInput] = [Decimal("1.5"), 2, "3.25", 4.5]
    not_an_amount: DecimalInput = b"1"  # type: ignore[assignment]
    del fan_out, max_response_size, per_call, seconds, amounts, not_an_amount


async def per_call_default(client: AsyncClient) -> None:
    # USE_CLIENT_DEFAULT stands for "the client's setting" where None would mean "none".
    await client.get_order("x", timeout=USE_CLIENT_DEFAULT, max_retries=USE_CLIENT_DEFAULT)


def backoff(policy: Backoff) -> None:
    Backoff(initial=0.5, maximum=10.0, multiplier=2.0, jitter=True, max_retry_after=60.0)
    Backoff(initial="0.5")  # type: ignore[arg-type]  # seconds are floats
    assert_type(Backoff.none(), Backoff)
    assert_type(policy.delay(1), float)
    assert_type(policy.initial, float)
    assert_type(policy.maximum, float)
    assert_type(policy.multiplier, float)
    assert_type(policy.jitter, bool)
    assert_type(policy.max_retry_after, float)
    policy.initial = 1.0  # type: ignore[misc]  # frozen


async def transports(
    h11: H11PoolTransport, aiohttp: AiohttpTransport, request: httpx.Request
) -> None:
    H11PoolTransport()
    H11PoolTransport(limits=DEFAULT_LIMITS, verify=False)
    H11PoolTransport(
        verify="ca.pem", cert=("c.pem", "k.pem"), trust_env=False, proxy="http://p:3128"
    )
    assert_type(h11.proxy_for("https://app.tread.fi/api/"), str | None)
    assert_type(h11.proxy_for(httpx.URL("wss://app.tread.fi/ws/orders/")), str | None)
    AiohttpTransport(limits=httpx.Limits(max_connections=10), verify="/etc/ssl/ca.pem")
    AiohttpTransport(verify=ssl.create_default_context())
    base: httpx.AsyncBaseTransport = h11
    base = aiohttp
    assert_type(await h11.handle_async_request(request), httpx.Response)
    assert_type(await aiohttp.handle_async_request(request), httpx.Response)
    assert_type(await h11.aclose(), None)
    assert_type(await aiohttp.aclose(), None)
    socket = await h11.connect_websocket(httpx.URL("wss://h/ws/orders/"), [("a", "b")], 5.0)
    assert_type(await socket.send("{}"), None)
    assert_type(await socket.receive(), str)
    assert_type(socket.ready, bool)
    assert_type(socket.heard, int)
    assert_type(await socket.ping(), None)
    assert_type(await socket.aclose(1000, "bye"), None)
    # The SDK's own request path (its arguments are private types): a coroutine method.
    round_trip: Callable[..., Awaitable[object]] = h11.round_trip
    del base, round_trip
