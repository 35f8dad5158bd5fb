"""The token never leaks: it appears in no repr, no log record and no exception text.

Every kind of outcome is driven with logging captured at DEBUG (our logger,
httpx, httpcore and the root logger). Each request also logs exactly one
``taas_async`` record with method, path, status, latency and attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from conftest import API, BASE_URL, TOKEN, load, order_request

from taas_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    ClientClosedError,
    ConfigurationError,
    OrderOutcomeUnknownError,
    RequestValidationError,
    ResponseDecodeError,
    TaaSError,
)
from taas_async._options import _Secret

LOGGERS = ("taas_async", "httpx", "httpcore", "hpack", "h11", "asyncio")


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog
    _assert_logs_clean(caplog.records)


def _assert_logs_clean(records: list[logging.LogRecord]) -> None:
    for record in records:
        assert TOKEN not in record.getMessage(), record
        assert TOKEN not in str(record.__dict__), record
        assert TOKEN not in repr(record.__dict__), record


def _exception_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend([current.__cause__, current.__context__])
    return seen


def _assert_exception_clean(exc: BaseException) -> None:
    chain = _exception_chain(exc)
    assert chain
    for e in chain:
        assert TOKEN not in str(e), e
        assert TOKEN not in repr(e), e
        assert TOKEN not in repr(e.args), e
        assert TOKEN not in repr(vars(e)), e
        for value in vars(e).values():
            assert TOKEN not in str(value)
            assert TOKEN not in repr(value)


def _taas_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "taas_async"]


def _assert_one_request_record(
    caplog: pytest.LogCaptureFixture,
    *,
    method: str,
    path: str,
    status: int | None,
    level: int,
) -> logging.LogRecord:
    records = _taas_records(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    assert record.levelno == level
    assert record.taas_method == method  # type: ignore[attr-defined]
    assert record.taas_path == path  # type: ignore[attr-defined]
    assert record.taas_status == status  # type: ignore[attr-defined]
    latency = record.taas_latency_ms  # type: ignore[attr-defined]
    assert isinstance(latency, float)
    assert 0.0 <= latency < 10_000.0
    assert record.taas_attempt == 1  # type: ignore[attr-defined]
    message = record.getMessage()
    assert method in message
    assert path in message
    assert (str(status) if status is not None else "N/A") in message
    assert "ms" in message
    assert "attempt=1" in message
    return record


# --------------------------------------------------------------------------- reprs


def test_secret_never_shows_its_value() -> None:
    secret = _Secret(TOKEN)
    assert secret.reveal() == TOKEN
    percent = ("%s" % secret, "%r" % (secret,))  # noqa: UP031 (%-formatting is what we test)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret}", *percent):
        assert TOKEN not in text
        assert text == "<secret>"


@pytest.mark.asyncio
async def test_client_repr_and_vars_hide_token() -> None:
    client = AsyncClient(BASE_URL, TOKEN, extra_headers={"X-Team": "quant"})
    try:
        for text in (repr(client), str(client), repr(vars(client)), repr(client._http)):
            assert TOKEN not in text
        assert "taas.test/prefix/" in repr(client)
    finally:
        await client.aclose()
    assert TOKEN not in repr(client)
    assert "closed" in repr(client)


# --------------------------------------------------------------------------- outcomes


@pytest.mark.asyncio
async def test_success_sends_token_and_logs_clean_debug_record(
    c0: AsyncClient,
    mock_api: respx.MockRouter,
    logs: pytest.LogCaptureFixture,
    seed_order_text: str,
) -> None:
    route = mock_api.get("order/abc").mock(
        return_value=httpx.Response(
            200, text=seed_order_text, headers={"Content-Type": "application/json"}
        )
    )
    order = await c0.get_order("abc")
    # Not vacuous: the token really is sent, as "Token <token>".
    assert route.call_count == 1
    assert route.calls.last.request.headers["Authorization"] == f"Token {TOKEN}"
    _assert_one_request_record(
        logs, method="GET", path="/api/order/abc", status=200, level=logging.DEBUG
    )
    assert TOKEN not in repr(order)
    assert TOKEN not in repr(order.raw)


_ERROR_REPLY = {
    "json": {"detail": "Invalid token.", "headers_seen": {"X-Team": "quant"}},
    "headers": {"X-Request-ID": "rid-1", "Location": API + "elsewhere/"},
}


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 409, 418, 422, 429])
@pytest.mark.asyncio
async def test_error_status_is_clean_and_logged_at_debug(
    c0: AsyncClient, mock_api: respx.MockRouter, logs: pytest.LogCaptureFixture, status: int
) -> None:
    route = mock_api.post("orders/").mock(return_value=httpx.Response(status, **_ERROR_REPLY))
    with pytest.raises(APIStatusError) as info:  # refused: the order was not placed
        await c0.place_order(order_request())
    assert route.call_count == 1  # max_retries=0: a 429 is not retried either
    assert route.calls.last.request.headers["Authorization"] == f"Token {TOKEN}"
    _assert_exception_clean(info.value)
    _assert_one_request_record(
        logs, method="POST", path="/api/orders/", status=status, level=logging.DEBUG
    )


@pytest.mark.parametrize("lookup_status", [200, 500], ids=["not-found", "lookup-fails"])
@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.asyncio
async def test_order_post_5xx_is_clean_and_each_request_logged(
    c0: AsyncClient,
    mock_api: respx.MockRouter,
    logs: pytest.LogCaptureFixture,
    status: int,
    lookup_status: int,
) -> None:
    # A 5xx on an order POST: the order may have been placed, so it is looked
    # up by its custom_order_id; OrderOutcomeUnknownError wraps what happened.
    route = mock_api.post("orders/").mock(return_value=httpx.Response(status, **_ERROR_REPLY))
    lookup = mock_api.get("orders/").mock(
        return_value=httpx.Response(lookup_status, json={"orders": []})
        if lookup_status == 200
        else httpx.Response(lookup_status, **_ERROR_REPLY)
    )
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await c0.place_order(order_request())
    assert route.call_count == lookup.call_count == 1
    for call in (route.calls.last, lookup.calls.last):
        assert call.request.headers["Authorization"] == f"Token {TOKEN}"
    _assert_exception_clean(info.value)
    records = _taas_records(logs)
    requests = [r for r in records if hasattr(r, "taas_status")]
    assert [
        (r.taas_method, r.taas_path, r.taas_status, r.taas_attempt, r.levelno)  # type: ignore[attr-defined]
        for r in requests
    ] == [
        ("POST", "/api/orders/", status, 1, logging.DEBUG),
        (
            "GET",
            "/api/orders/",
            lookup_status,
            1,
            logging.DEBUG,
        ),
    ]
    # One more warning saying why it looks the order up: no token in it (the fixture checks).
    [why] = [r for r in records if r not in requests]
    assert why.levelno == logging.WARNING
    assert "looking the order up by custom_order_id" in why.getMessage()


@pytest.mark.asyncio
async def test_decode_error_is_clean(
    c0: AsyncClient, mock_api: respx.MockRouter, logs: pytest.LogCaptureFixture
) -> None:
    mock_api.get("order/abc").mock(return_value=httpx.Response(200, json={"duration": "abc"}))
    with pytest.raises(ResponseDecodeError) as info:
        await c0.get_order("abc")
    _assert_exception_clean(info.value)
    records = _taas_records(logs)
    assert len(records) == 1
    assert records[0].taas_status == 200  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (httpx.ConnectError("connection refused"), APIConnectionError),
        (httpx.ConnectTimeout("connect timed out"), APITimeoutError),
        (httpx.ReadTimeout("read timed out"), APITimeoutError),
        (httpx.ReadError("connection reset by peer"), APIConnectionError),
        (httpx.RemoteProtocolError("server disconnected"), APIConnectionError),
        (httpx.PoolTimeout("pool timed out"), APITimeoutError),
    ],
)
@pytest.mark.asyncio
async def test_connection_errors_are_clean_and_logged_at_debug(
    c0: AsyncClient,
    mock_api: respx.MockRouter,
    logs: pytest.LogCaptureFixture,
    exc: Exception,
    cls: type[APIConnectionError],
) -> None:
    route = mock_api.get("order/abc").mock(side_effect=exc)
    with pytest.raises(APIConnectionError) as info:
        await c0.get_order("abc")
    assert type(info.value) is cls
    assert route.calls.last.request.headers["Authorization"] == f"Token {TOKEN}"
    _assert_exception_clean(info.value)
    record = _assert_one_request_record(
        logs, method="GET", path="/api/order/abc", status=None, level=logging.DEBUG
    )
    assert f"error={type(exc).__name__}" in record.getMessage()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.get_order(""), id="empty-id"),
        pytest.param(lambda c: c.get_order(" abc"), id="spaced-id"),
        pytest.param(lambda c: c.get_order(".."), id="dotdot-id"),
        pytest.param(lambda c: c.get_order(12), id="int-id"),
        pytest.param(lambda c: c.place_order({"pair": "ETH-USDT"}), id="dict-request"),
        pytest.param(lambda c: c.request("GET", "https://evil.test/x"), id="absolute-url"),
        pytest.param(lambda c: c.request("TRACE", "api/x"), id="bad-method"),
        pytest.param(lambda c: c.request("POST", "api/x", json={"x": {1, 2}}), id="bad-json"),
    ],
)
@pytest.mark.asyncio
async def test_validation_errors_are_clean_and_send_nothing(
    c0: AsyncClient,
    mock_api: respx.MockRouter,
    logs: pytest.LogCaptureFixture,
    call: Callable[[AsyncClient], Awaitable[Any]],
) -> None:
    with pytest.raises(RequestValidationError) as info:
        await call(c0)
    _assert_exception_clean(info.value)
    assert not mock_api.calls
    assert _taas_records(logs) == []


@pytest.mark.asyncio
async def test_closed_client_is_clean_and_sends_nothing(
    mock_api: respx.MockRouter, logs: pytest.LogCaptureFixture
) -> None:
    client = AsyncClient(BASE_URL, TOKEN)
    await client.aclose()
    with pytest.raises(ClientClosedError) as info:
        await client.get_order("abc")
    _assert_exception_clean(info.value)
    assert not mock_api.calls
    assert _taas_records(logs) == []
    assert TOKEN not in repr(client)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"url": "ftp://taas.test", "auth_token": TOKEN}, id="bad-scheme"),
        pytest.param({"url": "https://taas.test/?x=1", "auth_token": TOKEN}, id="query"),
        pytest.param({"url": f"https://user:{TOKEN}@taas.test/", "auth_token": "x"}, id="userinfo"),
        pytest.param({"url": BASE_URL, "auth_token": TOKEN + " "}, id="trailing-space"),
        pytest.param({"url": BASE_URL, "auth_token": f"Token {TOKEN}"}, id="inner-space"),
        pytest.param({"url": BASE_URL, "auth_token": TOKEN + "\n"}, id="newline"),
        pytest.param({"url": BASE_URL, "auth_token": TOKEN + "\x00"}, id="nul"),
        pytest.param({"url": BASE_URL, "auth_token": TOKEN + "\x7f"}, id="del"),
        pytest.param({"url": BASE_URL, "auth_token": TOKEN + "é"}, id="non-ascii"),
        pytest.param({"url": None, "auth_token": TOKEN}, id="no-url"),
        pytest.param({"url": BASE_URL, "auth_token": TOKEN, "timeout": -1}, id="bad-timeout"),
        pytest.param({"url": BASE_URL, "auth_token": TOKEN, "max_retries": -1}, id="bad-retries"),
        pytest.param(
            {"url": BASE_URL, "auth_token": TOKEN, "extra_headers": {"Authorization": TOKEN}},
            id="authorization-header",
        ),
        pytest.param(
            {"url": BASE_URL, "auth_token": TOKEN, "extra_headers": {"X-Key": TOKEN + "\r\n"}},
            id="header-injection",
        ),
    ],
)
def test_configuration_errors_never_echo_the_token(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any]
) -> None:
    monkeypatch.delenv("TAAS_URL", raising=False)
    monkeypatch.delenv("TAAS_AUTH_TOKEN", raising=False)
    with pytest.raises(ConfigurationError) as info:
        AsyncClient(**kwargs)
    _assert_exception_clean(info.value)


def test_every_error_class_is_a_taas_error() -> None:
    # The clean-chain checks above rely on catching TaaSError subclasses only.
    for cls in (APIConnectionError, APIStatusError, ResponseDecodeError, ConfigurationError):
        assert issubclass(cls, TaaSError)


# --------------------------------------------------------------------------- a real connection


@contextlib.asynccontextmanager
async def _one_shot_server(status: int, body: bytes) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A 127.0.0.1 HTTP server answering every request with ``status``/``body``."""
    seen: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            for _ in range(50):
                head = await reader.readuntil(b"\r\n\r\n")
                seen.append(head)
                writer.write(
                    b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (status, len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/prefix", seen
    finally:
        server.close()
        for w in writers:
            w.close()
        await asyncio.wait_for(server.wait_closed(), 5)


@pytest.mark.parametrize("status", [200, 401, 500])
@pytest.mark.asyncio
async def test_real_connection_debug_logs_are_clean(
    logs: pytest.LogCaptureFixture, status: int
) -> None:
    body = (
        load("seed_order.json").encode()
        if status == 200
        else json.dumps({"detail": "Invalid token."}).encode()
    )
    async with (
        _one_shot_server(status, body) as (url, seen),
        AsyncClient(url, TOKEN, max_retries=0, timeout=5) as client,
    ):
        if status == 200:
            await asyncio.wait_for(client.get_order("abc"), 10)
        else:
            with pytest.raises(APIStatusError) as info:
                await asyncio.wait_for(client.get_order("abc"), 10)
            _assert_exception_clean(info.value)
    assert len(seen) == 1
    assert f"\r\nAuthorization: Token {TOKEN}\r\n".encode() in seen[0]
    # httpx logs every response over a real connection (and httpcore at DEBUG when it
    # is the transport); none of it may carry the token.
    assert any(r.name.startswith(("httpx", "httpcore")) for r in logs.records)
    assert len(_taas_records(logs)) == 1
