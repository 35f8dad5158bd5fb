"""Errors: the hierarchy callers catch by, and every attribute they read.

Type-checked by ``mypy --strict``, never run.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

import taas_async
from taas_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    OrderOutcomeUnknownError,
    PermissionDeniedError,
    ProxyError,
    RateLimitError,
    RequestValidationError,
    ResponseDecodeError,
    ResponseTooLargeError,
    StreamUnavailableError,
    TaaSError,
    UnprocessableEntityError,
    WaitTimeoutError,
)


def hierarchy() -> None:
    # Every error is a TaaSError; the standard bases let generic handlers catch them too.
    status: list[type[APIStatusError]] = [
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        UnprocessableEntityError,
        RateLimitError,
        InternalServerError,
    ]
    everything: list[type[TaaSError]] = [
        *status,
        APIConnectionError,
        APITimeoutError,
        ProxyError,
        ClientClosedError,
        ConfigurationError,
        OrderOutcomeUnknownError,
        RequestValidationError,
        ResponseDecodeError,
        ResponseTooLargeError,
        StreamUnavailableError,
        WaitTimeoutError,
    ]
    connection: type[APIConnectionError] = APITimeoutError
    refused: type[APIConnectionError] = ProxyError
    decode: type[ResponseDecodeError] = ResponseTooLargeError
    value_errors: list[type[ValueError]] = [ConfigurationError, RequestValidationError]
    runtime: type[RuntimeError] = ClientClosedError
    timeout: type[TimeoutError] = WaitTimeoutError
    not_a_value_error: type[ValueError] = APIStatusError  # type: ignore[assignment]
    del status, everything, connection, refused, decode, value_errors, runtime, timeout
    del not_a_value_error


def connection_errors(error: APIConnectionError, timeout: APITimeoutError) -> None:
    assert_type(error.message, str)
    assert_type(error.method, str)
    assert_type(error.url, str)
    assert_type(error.may_have_reached_server, bool)
    assert_type(error.reply_status, int | None)
    assert_type(timeout.may_have_reached_server, bool)


def proxy_errors(error: ProxyError) -> None:
    assert_type(error.proxy_url, str | None)
    assert_type(error.proxy_status, int | None)
    assert_type(error.may_have_reached_server, bool)


def status_errors(error: APIStatusError, bad: BadRequestError, limited: RateLimitError) -> None:
    assert_type(error.message, str)
    assert_type(error.status_code, int)
    assert_type(error.method, str)
    assert_type(error.url, str)
    assert_type(error.body, Any)
    assert_type(error.text, str)
    assert_type(error.headers, dict[str, str])
    assert_type(error.request_id, str | None)
    assert_type(bad.field_errors, dict[str, list[str]])
    assert_type(limited.retry_after, float | None)
    assert_type(limited.status_code, int)


def validation_error(error: RequestValidationError) -> None:
    assert_type(error.errors, dict[str, list[str]])
    assert_type(error.fields, list[str])
    assert_type(error.model, str | None)


def decode_errors(error: ResponseDecodeError, too_large: ResponseTooLargeError) -> None:
    assert_type(error.message, str)
    assert_type(error.method, str)
    assert_type(error.url, str)
    assert_type(error.status_code, int)
    assert_type(error.text, str)
    assert_type(error.errors, list[str])
    assert_type(too_large.limit, int)
    assert_type(too_large.errors, list[str])


def order_outcome_unknown(error: OrderOutcomeUnknownError) -> None:
    assert_type(error.message, str)
    assert_type(error.request, Any)
    assert_type(error.custom_order_id, str | None)
    assert_type(error.custom_order_ids, list[str])
    assert_type(error.lookup_error, TaaSError | None)


def wait_timeout(error: WaitTimeoutError) -> None:
    assert_type(error.message, str)
    assert_type(error.order_id, str)
    assert_type(error.last, Any)
    assert_type(error.last_error, TaaSError | None)
    assert_type(error.still_open, dict[str, Any])


def stream_unavailable(error: StreamUnavailableError) -> None:
    assert_type(error.message, str)
    assert_type(error.url, str)
    assert_type(error.status_code, int)
    assert_type(error.text, str)


async def handling(client: taas_async.AsyncClient) -> None:
    try:
        await client.get_order("x")
    except RateLimitError as exc:
        assert_type(exc.retry_after, float | None)
    except APIStatusError as exc:
        assert_type(exc.status_code, int)
    except OrderOutcomeUnknownError as exc:
        assert_type(exc.custom_order_ids, list[str])
    except TaaSError as exc:
        assert_type(exc, TaaSError)
