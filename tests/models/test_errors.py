"""Bad replies become the right typed error, with the raw body kept.

Every HTTP status class and every error-body shape in SPEC maps to one
exception from the ``APIStatusError`` tree with a useful message and, for a
400, the ``field_errors`` it names (at the top level or under ``errors``); a
2xx that is not JSON or not the expected shape raises ``ResponseDecodeError``
with JSON paths. A cancel that succeeded never raises, whatever its body.
Nothing ever raises a second, unrelated exception.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from typing import Any

import httpx
import pytest
import respx
from conftest import API, TOKEN, load_json, order_request

from taas_async import (
    ActionResult,
    APIStatusError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    OrderOutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    TaaSError,
    UnprocessableEntityError,
)
from taas_async._exceptions import message_from_body

ORDER_URL = API + "order/abc"


def _reply(
    status: int,
    content: bytes | str = b"",
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    h = dict(headers or {})
    if content_type is not None:
        h["Content-Type"] = content_type
    if isinstance(content, str):
        content = content.encode()
    return httpx.Response(status, content=content, headers=h)


async def _get_order_error(
    client: AsyncClient, mock_api: respx.MockRouter, response: httpx.Response
) -> Any:
    route = mock_api.get("order/abc").mock(return_value=response)
    with pytest.raises(TaaSError) as info:
        await client.get_order("abc")
    assert route.call_count == 1
    return info.value


# --------------------------------------------------------------------------- status -> class


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (504, InternalServerError),
        (599, InternalServerError),
        (402, APIStatusError),
        (405, APIStatusError),
        (418, APIStatusError),
        (451, APIStatusError),
    ],
)
@pytest.mark.asyncio
async def test_status_maps_to_exception_class(
    c0: AsyncClient, mock_api: respx.MockRouter, status: int, cls: type[APIStatusError]
) -> None:
    raw = json.dumps({"message": f"reason for {status}"})
    err = await _get_order_error(
        c0, mock_api, _reply(status, raw, headers={"X-Request-ID": f"req-{status}"})
    )
    assert type(err) is cls
    assert isinstance(err, APIStatusError)
    assert isinstance(err, TaaSError)
    assert err.status_code == status
    assert err.method == "GET"
    assert err.url == ORDER_URL
    assert err.body == {"message": f"reason for {status}"}
    assert err.text == raw
    assert err.message == f"reason for {status}"
    assert err.request_id == f"req-{status}"
    text = str(err)
    assert f"reason for {status}" in text
    assert str(status) in text
    assert ORDER_URL in text
    assert f"req-{status}" in text
    assert TOKEN not in text
    assert TOKEN not in repr(vars(err))


@pytest.mark.asyncio
async def test_request_id_absent_is_none(c0: AsyncClient, mock_api: respx.MockRouter) -> None:
    err = await _get_order_error(c0, mock_api, _reply(404, '{"detail": "Not found."}'))
    assert isinstance(err, NotFoundError)
    assert err.request_id is None
    assert "request id" not in str(err)


@pytest.mark.asyncio
async def test_post_error_carries_method_and_full_url(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    mock_api.post("orders/").mock(
        return_value=_reply(409, '{"error": "duplicate custom_order_id"}')
    )
    with pytest.raises(ConflictError) as info:
        await c0.place_order(order_request())
    err = info.value
    assert err.method == "POST"
    assert err.url == API + "orders/"
    assert err.message == "duplicate custom_order_id"


@pytest.mark.asyncio
async def test_error_url_keeps_query_string(c0: AsyncClient, mock_api: respx.MockRouter) -> None:
    mock_api.get("orders/").mock(return_value=_reply(400, '{"detail": "bad page"}'))
    with pytest.raises(BadRequestError) as info:
        await c0.request("GET", "api/orders/", params={"page": 7})
    assert info.value.url == API + "orders/?page=7"
    assert TOKEN not in info.value.url


# --------------------------------------------------------------------------- 429 Retry-After


@pytest.mark.asyncio
async def test_rate_limit_retry_after_seconds(c0: AsyncClient, mock_api: respx.MockRouter) -> None:
    err = await _get_order_error(
        c0,
        mock_api,
        _reply(429, '{"detail": "Request was throttled."}', headers={"Retry-After": "7"}),
    )
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 7.0
    assert err.message == "Request was throttled."


@pytest.mark.asyncio
async def test_rate_limit_retry_after_http_date(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=120)
    header = email.utils.format_datetime(when, usegmt=True)
    err = await _get_order_error(c0, mock_api, _reply(429, "{}", headers={"Retry-After": header}))
    assert isinstance(err, RateLimitError)
    assert err.retry_after is not None
    assert 100.0 <= err.retry_after <= 121.0


@pytest.mark.asyncio
async def test_rate_limit_retry_after_past_date_is_zero(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    err = await _get_order_error(
        c0, mock_api, _reply(429, "{}", headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 0.0


@pytest.mark.parametrize("value", [None, "soon", "nan", "inf", ""])
@pytest.mark.asyncio
async def test_rate_limit_retry_after_missing_or_garbage_is_none(
    c0: AsyncClient, mock_api: respx.MockRouter, value: str | None
) -> None:
    headers = {} if value is None else {"Retry-After": value}
    err = await _get_order_error(c0, mock_api, _reply(429, "{}", headers=headers))
    assert isinstance(err, RateLimitError)
    assert err.retry_after is None


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize("target", ["https://evil.test/api/orders/", API + "moved/"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.asyncio
async def test_redirect_is_an_error_and_order_post_is_not_replayed(
    c0: AsyncClient, mock_api: respx.MockRouter, status: int, target: str
) -> None:
    elsewhere = mock_api.route(host="evil.test").mock(return_value=httpx.Response(201))
    moved = mock_api.route(path="/prefix/api/moved/").mock(return_value=httpx.Response(201))
    orders = mock_api.post("orders/").mock(
        return_value=httpx.Response(status, headers={"Location": target})
    )
    with pytest.raises(APIStatusError) as info:
        await c0.place_order(order_request())
    err = info.value
    assert type(err) is APIStatusError
    assert err.status_code == status
    assert "redirect" in err.message
    assert target in err.message
    assert "redirect" in str(err)
    assert orders.call_count == 1
    assert elsewhere.call_count == 0
    assert moved.call_count == 0


@pytest.mark.asyncio
async def test_redirect_without_location(c0: AsyncClient, mock_api: respx.MockRouter) -> None:
    err = await _get_order_error(c0, mock_api, httpx.Response(302))
    assert type(err) is APIStatusError
    assert err.message == "unexpected redirect"


# --------------------------------------------------------------------------- error-body shapes

HTML_502 = """<!DOCTYPE html>
<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.25.3</center>
</body>
</html>
"""

CLOUDFLARE_PAGE = (
    "<html><HEAD><TITLE>\n  Error 522:\n  Connection timed out  \n</TITLE></HEAD>"
    "<body>cloudflare</body></html>"
)

_JSON = "application/json"
_DEEP = "[" * 5000 + "]" * 5000
_VERY_DEEP = "[" * 200_000

# (id, status, raw body, content type, text expected in the message, expected .body)
_SAME = object()  # .body is the decoded JSON of the raw text
_RAW = object()  # .body is the raw text itself


def _stdlib_decoded_or_raw(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        return _RAW


_DEEP_BODY = _stdlib_decoded_or_raw(_DEEP)
BODY_SHAPES: list[tuple[str, int, str, str | None, str, Any]] = [
    ("message", 400, '{"message": "Insufficient balance"}', _JSON, "Insufficient balance", _SAME),
    ("error", 404, '{"error": "Order not found"}', _JSON, "Order not found", _SAME),
    (
        "errors-list",
        400,
        '{"errors": ["pair is unknown", "duration too short"]}',
        _JSON,
        "pair is unknown; duration too short",
        _SAME,
    ),
    ("errors-str", 422, '{"errors": "Strategy not allowed"}', _JSON, "Strategy not allowed", _SAME),
    ("detail", 401, '{"detail": "Invalid token."}', _JSON, "Invalid token.", _SAME),
    (
        "non-field-errors",
        400,
        '{"non_field_errors": ["Account and pair do not match"]}',
        _JSON,
        "Account and pair do not match",
        _SAME,
    ),
    (
        "error-object",
        400,
        '{"error": {"code": 1234, "message": "nested reason"}}',
        _JSON,
        "nested reason",
        _SAME,
    ),
    (
        "fastapi-detail",
        422,
        '{"detail": [{"loc": ["body", "pair"], "msg": "field required", "type": "missing"}]}',
        _JSON,
        "field required",
        _SAME,
    ),
    ("message-number", 500, '{"message": 12345}', _JSON, "12345", _SAME),
    ("bare-string", 500, '"Something went wrong"', _JSON, "Something went wrong", _SAME),
    ("list", 400, '["first issue", "second issue"]', _JSON, "first issue; second issue", _SAME),
    ("json-null", 500, "null", _JSON, "null", None),
    ("json-number", 500, "42", _JSON, "42", 42),
    ("empty-object", 400, "{}", _JSON, "{}", {}),
    ("html-502", 502, HTML_502, "text/html", "502 Bad Gateway", _RAW),
    (
        "html-title-whitespace",
        522,
        CLOUDFLARE_PAGE,
        "text/html",
        "Error 522: Connection timed out",
        _RAW,
    ),
    ("html-no-title", 503, "<html><body><h1>Down</h1></body></html>", "text/html", "Down", _RAW),
    ("empty", 502, "", None, "empty", ""),
    ("empty-json-type", 500, "", _JSON, "empty", ""),
    ("whitespace", 503, "  \n ", "text/plain", "empty", "  \n "),
    ("plain-text", 503, "Service Unavailable: upstream down", "text/plain", "upstream down", _RAW),
    ("truncated-json", 500, '{"message": "cut of', _JSON, '{"message": "cut of', _RAW),
    ("invalid-json", 400, "{'message': 'python repr'}", _JSON, "python repr", _RAW),
    ("json-nan", 400, '{"message": NaN}', _JSON, "NaN", _RAW),
    # Whether 5,000 levels decode depends on the interpreter (3.13 manages, 3.10-3.12 do
    # not): .body is whatever the stdlib decoder makes of it, the message a snippet either way.
    ("deeply-nested-json", 400, _DEEP, _JSON, "[[[", _DEEP_BODY),
    ("too-deep-json", 400, _VERY_DEEP, _JSON, "[[[", _RAW),
]


@pytest.mark.parametrize(
    ("status", "raw", "content_type", "expected", "body"),
    [pytest.param(*case[1:], id=case[0]) for case in BODY_SHAPES],
)
@pytest.mark.asyncio
async def test_error_body_shapes(
    c0: AsyncClient,
    mock_api: respx.MockRouter,
    status: int,
    raw: str,
    content_type: str | None,
    expected: str,
    body: Any,
) -> None:
    err = await _get_order_error(c0, mock_api, _reply(status, raw, content_type))
    assert isinstance(err, APIStatusError)
    assert err.status_code == status
    assert expected in err.message
    assert expected in str(err)
    assert err.message.strip()  # never an empty message
    assert err.text == raw
    if body is _SAME:
        assert err.body == json.loads(raw)
    elif body is _RAW:
        assert err.body == raw
    else:
        assert err.body == body
    # the message is short, whatever the body
    assert len(err.message) <= 250
    str(err)
    repr(err)


@pytest.mark.asyncio
async def test_html_502_page(c0: AsyncClient, mock_api: respx.MockRouter) -> None:
    err = await _get_order_error(c0, mock_api, _reply(502, HTML_502, "text/html; charset=utf-8"))
    assert isinstance(err, InternalServerError)
    assert err.message == "502 Bad Gateway"
    assert err.body == HTML_502
    assert err.text == HTML_502
    assert "<html>" not in str(err)


@pytest.mark.asyncio
async def test_field_errors_body(c0: AsyncClient, mock_api: respx.MockRouter) -> None:
    raw = json.dumps(
        {
            "pair": ["This field is required."],
            "duration": ["Ensure this value is greater than 0.", "Must be an integer."],
        }
    )
    err = await _get_order_error(c0, mock_api, _reply(400, raw))
    assert isinstance(err, BadRequestError)
    assert err.field_errors == {
        "pair": ["This field is required."],
        "duration": ["Ensure this value is greater than 0.", "Must be an integer."],
    }
    assert "pair: This field is required." in err.message
    assert "duration: Ensure this value is greater than 0." in err.message
    assert "pair: This field is required." in str(err)


@pytest.mark.asyncio
async def test_field_errors_mixed_with_detail_and_nested(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    raw = json.dumps(
        {
            "detail": "Validation failed",
            "code": "invalid",
            "accounts": "unknown account",
            "child_orders": [{"pair": ["bad pair"]}],
        }
    )
    err = await _get_order_error(c0, mock_api, _reply(400, raw))
    assert isinstance(err, BadRequestError)
    assert err.message == "Validation failed"
    fields = err.field_errors
    assert set(fields) == {"accounts", "child_orders"}
    assert fields["accounts"] == ["unknown account"]
    assert "bad pair" in fields["child_orders"][0]


@pytest.mark.parametrize(
    "raw", ['"just text"', "[1, 2]", "null", "<html></html>", "", '{"message": "x"}']
)
@pytest.mark.asyncio
async def test_field_errors_empty_when_not_field_shaped(
    c0: AsyncClient, mock_api: respx.MockRouter, raw: str
) -> None:
    err = await _get_order_error(c0, mock_api, _reply(400, raw))
    assert isinstance(err, BadRequestError)
    assert err.field_errors == {}


@pytest.mark.asyncio
async def test_field_errors_nested_under_errors(
    client: AsyncClient, mock_api: respx.MockRouter
) -> None:
    mock_api.post("orders/").respond(400, json={"errors": {"pair": ["unknown pair"]}})
    with pytest.raises(BadRequestError) as info:
        await client.place_order(order_request())
    assert info.value.field_errors == {"pair": ["unknown pair"]}
    assert "unknown pair" in info.value.message


def _nested(depth: int) -> Any:
    value: Any = "innermost"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [50, 900, 5000])
def test_deeply_nested_error_bodies_never_raise(depth: int) -> None:
    # Bodies this deep cannot come from the JSON decoder (it refuses them), but
    # message extraction and field_errors must not recurse without bound.
    body = {"pair": _nested(depth), "detail": _nested(depth)}
    err = BadRequestError(
        message_from_body(body, "raw", is_json=True),
        status_code=400,
        method="GET",
        url=ORDER_URL,
        body=body,
        text="raw",
    )
    assert set(err.field_errors) == {"pair"}
    assert err.message
    assert message_from_body(_nested(depth), "raw", is_json=True)


@pytest.mark.parametrize("depth", [100, 900, 5000, 200_000])
@pytest.mark.asyncio
async def test_deeply_nested_json_replies_never_raise_something_else(
    c0: AsyncClient, mock_api: respx.MockRouter, depth: int
) -> None:
    raw = "[" * depth + "]" * depth
    err = await _get_order_error(c0, mock_api, _reply(400, raw))
    assert isinstance(err, BadRequestError)
    assert err.text == raw
    assert err.message
    assert isinstance(err.field_errors, dict)
    mock_api.get("order/abc").mock(return_value=_reply(200, raw))
    with pytest.raises(ResponseDecodeError) as info:
        await c0.get_order("abc")
    assert info.value.text == raw


@pytest.mark.asyncio
async def test_huge_error_body_message_truncated_text_kept(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    raw = "upstream exploded " + "x" * 2_000_000
    err = await _get_order_error(c0, mock_api, _reply(500, raw, "text/plain"))
    assert isinstance(err, InternalServerError)
    assert err.message.startswith("upstream exploded")
    assert err.message.endswith("...")
    assert len(err.message) <= 200
    assert len(str(err)) < 500
    assert err.text == raw
    assert err.body == raw


@pytest.mark.asyncio
async def test_huge_json_message_is_kept_whole_in_text(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    raw = json.dumps({"unexpected": "y" * 100_000})
    err = await _get_order_error(c0, mock_api, _reply(400, raw))
    assert err.text == raw
    assert err.body == {"unexpected": "y" * 100_000}


@pytest.mark.asyncio
async def test_huge_json_error_message_is_capped(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    raw = json.dumps({"errors": ["first"] + ["z" * 50] * 10_000})
    err = await _get_order_error(c0, mock_api, _reply(500, raw))
    assert err.message.startswith("first; zzz")
    assert err.message.endswith("...")
    assert len(err.message) <= 1000
    assert len(str(err)) < 1200
    assert err.text == raw
    assert err.body == json.loads(raw)


@pytest.mark.asyncio
async def test_non_utf8_error_body(c0: AsyncClient, mock_api: respx.MockRouter) -> None:
    err = await _get_order_error(
        c0, mock_api, _reply(500, b"\xff\xfe\x00broken \x80 bytes", "text/plain")
    )
    assert isinstance(err, InternalServerError)
    assert "broken" in err.message
    assert "broken" in err.text


# --------------------------------------------------------------------------- 2xx decode errors


def _seed_order() -> dict[str, Any]:
    order: dict[str, Any] = load_json("seed_order.json")
    return order


def _assert_decode_error(err: Exception, *, raw: str, status: int = 200) -> ResponseDecodeError:
    assert isinstance(err, ResponseDecodeError)
    assert isinstance(err, TaaSError)
    assert not isinstance(err, APIStatusError)
    assert err.text == raw
    assert err.status_code == status
    assert err.method == "GET"
    assert err.url == ORDER_URL
    assert err.message in str(err)
    assert str(status) in str(err)
    return err


@pytest.mark.parametrize(
    ("raw", "content_type", "expected"),
    [
        pytest.param("hello, world", None, "not valid JSON", id="text-no-content-type"),
        pytest.param("hello, world", "text/plain", "content type", id="text-plain"),
        pytest.param('{"id": "x"}', "text/html", "content type", id="json-as-html"),
        pytest.param(HTML_502, "text/html", "content type", id="html-200"),
        pytest.param("", _JSON, "empty", id="empty"),
        pytest.param("  \r\n", _JSON, "empty", id="whitespace"),
        pytest.param('{"id": "abc", "pair": "ETH-', _JSON, "not valid JSON", id="truncated"),
        pytest.param('{"id": "abc", "duration": NaN}', _JSON, "NaN", id="nan"),
        pytest.param('{"id": "abc", "executed_qty": Infinity}', _JSON, "Infinity", id="infinity"),
        pytest.param(_VERY_DEEP, _JSON, "JSON", id="too-deep"),
    ],
)
@pytest.mark.asyncio
async def test_2xx_not_json(
    c0: AsyncClient,
    mock_api: respx.MockRouter,
    raw: str,
    content_type: str | None,
    expected: str,
) -> None:
    err = await _get_order_error(c0, mock_api, _reply(200, raw, content_type))
    decode = _assert_decode_error(err, raw=raw)
    assert expected in decode.message


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        pytest.param({"duration": "abc"}, "@ $.duration", id="duration-str"),
        pytest.param({"duration": 1.5}, "@ $.duration", id="duration-float"),
        pytest.param({"created_at": "not a date"}, "@ $.created_at", id="created-at"),
        pytest.param({"sell_token_amount": "lots"}, "@ $.sell_token_amount", id="decimal"),
        pytest.param({"active": "maybe"}, "@ $.active", id="bool-str"),
        pytest.param({"active": 2}, "@ $.active", id="bool-int"),
        pytest.param({"status": ["ACTIVE"]}, "@ $.status", id="enum-list"),
        pytest.param({"placements": {"a": 1}}, "@ $.placements", id="list-as-object"),
        pytest.param({"accounts": "mock"}, "@ $.accounts", id="list-as-str"),
    ],
)
@pytest.mark.asyncio
async def test_2xx_wrong_field_types_give_json_paths(
    c0: AsyncClient, mock_api: respx.MockRouter, patch: dict[str, Any], path: str
) -> None:
    raw = json.dumps({**_seed_order(), **patch})
    err = await _get_order_error(c0, mock_api, _reply(200, raw))
    decode = _assert_decode_error(err, raw=raw)
    assert decode.errors
    assert any(path in e for e in decode.errors), decode.errors
    assert path in decode.message
    assert path in str(decode)


@pytest.mark.asyncio
async def test_2xx_several_wrong_fields_are_all_reported(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    raw = json.dumps({**_seed_order(), "duration": "abc", "created_at": "not a date"})
    err = await _get_order_error(c0, mock_api, _reply(200, raw))
    decode = _assert_decode_error(err, raw=raw)
    joined = " | ".join(decode.errors)
    assert "@ $.duration" in joined
    assert "@ $.created_at" in joined


@pytest.mark.parametrize(
    "raw", ["[]", json.dumps([{"id": "abc"}]), '"an order"', "42", "null", "true"]
)
@pytest.mark.asyncio
async def test_2xx_wrong_top_level_shape(
    c0: AsyncClient, mock_api: respx.MockRouter, raw: str
) -> None:
    err = await _get_order_error(c0, mock_api, _reply(200, raw))
    decode = _assert_decode_error(err, raw=raw)
    assert decode.errors
    assert any("@ $" in e for e in decode.errors), decode.errors


@pytest.mark.asyncio
async def test_2xx_nested_wrong_type_has_nested_path(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    raw = json.dumps({"acct": {"exchange": "OKX", "assets": [{"symbol": "BTC", "size": "abc"}]}})
    mock_api.get("balances/").mock(return_value=_reply(200, raw))
    with pytest.raises(ResponseDecodeError) as info:
        await c0.get_balances()
    joined = " | ".join(info.value.errors)
    assert "@ $['acct'].assets[0].size" in joined
    assert info.value.text == raw


@pytest.mark.asyncio
async def test_201_decode_error_keeps_status(c0: AsyncClient, mock_api: respx.MockRouter) -> None:
    raw = json.dumps({**_seed_order(), "duration": "abc"})
    post = mock_api.post("orders/").mock(return_value=_reply(201, raw))
    # An order POST with an unreadable reply is looked up (here: not listed yet)
    # and never resent; the decode error is kept whole as the cause.
    lookup = mock_api.get("orders/").mock(return_value=_reply(200, '{"orders": []}'))
    with pytest.raises(OrderOutcomeUnknownError) as outer:
        await c0.place_order(order_request())
    assert post.call_count == lookup.call_count == 1
    error = outer.value.__cause__
    assert isinstance(error, ResponseDecodeError)
    assert error.status_code == 201
    assert error.method == "POST"
    assert error.text == raw
    assert any("@ $.duration" in e for e in error.errors)


@pytest.mark.asyncio
async def test_2xx_json_with_charset_and_vendor_type_is_accepted(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    raw = json.dumps(_seed_order())
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json", None):
        mock_api.get("order/abc").mock(return_value=_reply(200, raw, content_type))
        order = await c0.get_order("abc")
        assert order.id == "d3ca321a-d25c-4cee-8a0f-3f74d239c90d"


# --------------------------------------------------------------------------- cancel replies


@pytest.mark.parametrize("status", [200, 202, 204])
@pytest.mark.parametrize(
    ("method_name", "path"),
    [("cancel_order", "order/abc"), ("cancel_multi_order", "multi_order/abc")],
)
@pytest.mark.asyncio
async def test_empty_cancel_reply_succeeds(
    c0: AsyncClient, mock_api: respx.MockRouter, method_name: str, path: str, status: int
) -> None:
    route = mock_api.delete(path).mock(return_value=httpx.Response(status))
    result = await getattr(c0, method_name)("abc")
    assert isinstance(result, ActionResult)
    assert result.message is None
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("method_name", "path"),
    [("cancel_order", "order/abc"), ("cancel_multi_order", "multi_order/abc")],
)
@pytest.mark.asyncio
async def test_cancel_with_body_succeeds(
    c0: AsyncClient, mock_api: respx.MockRouter, method_name: str, path: str
) -> None:
    mock_api.delete(path).mock(
        return_value=httpx.Response(200, json={"message": "Order cancelled", "extra": 1})
    )
    result = await getattr(c0, method_name)("abc")
    assert result.message == "Order cancelled"
    assert result.raw["extra"] == 1


@pytest.mark.asyncio
async def test_cancel_with_garbage_body_is_decode_error(
    c0: AsyncClient, mock_api: respx.MockRouter
) -> None:
    mock_api.delete("order/abc").mock(return_value=_reply(200, "<html>ok</html>", "text/html"))
    with pytest.raises(ResponseDecodeError) as info:
        await c0.cancel_order("abc")
    assert info.value.method == "DELETE"
    assert info.value.text == "<html>ok</html>"


@pytest.mark.parametrize(
    ("method_name", "path"),
    [("cancel_order", "order/abc"), ("cancel_multi_order", "multi_order/abc")],
)
@pytest.mark.asyncio
async def test_cancel_error_status_still_raises(
    c0: AsyncClient, mock_api: respx.MockRouter, method_name: str, path: str
) -> None:
    mock_api.delete(path).mock(return_value=httpx.Response(404))
    with pytest.raises(NotFoundError) as info:
        await getattr(c0, method_name)("abc")
    assert "empty" in info.value.message
    assert info.value.method == "DELETE"


@pytest.mark.parametrize(
    ("body", "message", "success"),
    [
        (True, "true", None),
        (1, "1", None),
        (["cancelled"], '["cancelled"]', None),
        ({"message": ["Order cancelled"]}, "Order cancelled", None),
        ({"message": {"detail": "done"}}, "done", None),
        ({"success": "ok", "message": "fine"}, "fine", None),
        ({"success": True}, None, True),
    ],
)
@pytest.mark.asyncio
async def test_a_cancel_that_succeeded_never_raises_whatever_its_body(
    client: AsyncClient, mock_api: respx.MockRouter, body: Any, message: str | None, success: Any
) -> None:
    mock_api.delete("order/abc").respond(200, json=body)
    result = await client.cancel_order("abc")
    assert isinstance(result, ActionResult)
    assert result.message == message
    assert result.success is success
