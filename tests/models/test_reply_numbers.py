"""Hostile numbers in replies cost no more than their size, and name the field they are in.

A reply of a few bytes such as ``"duration": 1e999999`` once took 24 s of CPU
(``int()`` of a million-digit Decimal) and blocked the event loop. The rules:

- integer fields take integral values only, of magnitude below 2**63, from
  JSON integers, decimals (``42.0``) and numeric strings (``"42"``);
- decimal fields take at most 100 significant digits with an exponent from
  -100 to 100;
- a number's text (a JSON literal or a numeric string) is at most 210
  characters: longer text is never read as a number.

Anything else is a ``ResponseDecodeError`` naming the field, and every call
here ends in well under 100 ms of CPU (``time.thread_time()``: the CPU this
thread spent, not the wall clock of a shared, noisy machine).

Integer and decimal fields are found by introspection of every reply model
the converter structures, so a field added later is covered without touching
this module; a model added later fails ``test_every_reply_model_has_a_carrier``
until it is given the endpoint that returns it.

Requests follow the same decimal rules (test_request_numbers.py); the sandbox
refuses such numbers too (test_sandbox_numbers.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import attrs
import pytest
import respx
from conftest import load_json, order_request

from taas_async import (
    ActionResult,
    Asset,
    AsyncClient,
    Balance,
    ChainedOrder,
    CloseBalancesResult,
    MultiOrder,
    MultiOrdersPage,
    Order,
    OrderMessage,
    OrdersPage,
    OrderSummary,
    PlaceChainedOrderRequest,
    ResponseDecodeError,
    TaaSError,
)
from taas_async._codec import decode_json
from taas_async._converter import _MODELS
from taas_async._requests import OrderInChain

CPU_BUDGET = 0.5  # seconds of this thread's CPU for one whole call (a good one: under 1 ms)
PLACEHOLDER = "@@number@@"

# --------------------------------------------------------------------------- fields


def _is_optional_of(tp: Any, inner: type) -> bool:
    if tp is inner:
        return True
    origin = typing.get_origin(tp)
    return origin in (typing.Union, types.UnionType) and set(typing.get_args(tp)) == {
        inner,
        type(None),
    }


def _fields_of_type(inner: type) -> list[tuple[type, str]]:
    """(model, field) for every field of every reply model typed ``inner`` or ``inner | None``."""
    found = []
    for model in _MODELS:
        hints = typing.get_type_hints(model)
        for field in attrs.fields(model):
            if _is_optional_of(hints[field.name], inner):
                found.append((model, field.name))
    return found


INT_FIELDS = _fields_of_type(int)
DECIMAL_FIELDS = _fields_of_type(Decimal)
DATETIME_FIELDS = _fields_of_type(dt.datetime)


# --------------------------------------------------------------------------- carriers


@dataclass(frozen=True)
class Carrier:
    """An endpoint whose reply holds ``model``: how to call it and where the model sits."""

    name: str
    method: str
    route: str  # under the API base
    call: Callable[[AsyncClient], Awaitable[Any]]
    body: Callable[[], Any]  # a fresh, valid reply
    at: tuple[str | int, ...]  # where the model's object is inside the body
    path: str  # that place as a JSON path in errors

    def __str__(self) -> str:
        return self.name


def _order() -> dict[str, Any]:
    body: dict[str, Any] = load_json("seed_order.json")
    return body


def _chain() -> PlaceChainedOrderRequest:
    return PlaceChainedOrderRequest(
        orders_in_chain=[
            OrderInChain(order_request=order_request(), priority=1),
            OrderInChain(order_request=order_request(), priority=2),
        ]
    )


GET_ORDER = Carrier("get_order", "GET", "order/o1", lambda c: c.get_order("o1"), _order, (), "$")
GET_ALL_ORDERS = Carrier(
    "get_all_orders",
    "GET",
    "orders/",
    lambda c: c.get_all_orders(),
    lambda: {"orders": [_order()], "count": 1, "num_pages": 1},
    (),
    "$",
)
GET_MULTI_ORDERS = Carrier(
    "get_multi_orders",
    "GET",
    "multi_orders/",
    lambda c: c.get_multi_orders(),
    lambda: {"multi_orders": [load_json("seed_multi_order.json")], "count": 1, "num_pages": 1},
    (),
    "$",
)
MULTI_WITH_LEGS = Carrier(
    "get_multi_order.child_orders[0]",
    "GET",
    "multi_order/m1",
    lambda c: c.get_multi_order("m1", include_child_orders=True),
    lambda: {**load_json("seed_multi_order.json"), "child_orders": [_order()]},
    ("child_orders", 0),
    "$.child_orders[0]",
)
BALANCES = Carrier(
    "get_balances",
    "GET",
    "balances/",
    lambda c: c.get_balances(),
    lambda: load_json("seed_balances.json"),
    ("test",),
    "$['test']",
)

#: Every reply model and the endpoints that return it (nested models through their parent).
CARRIERS: dict[type, list[Carrier]] = {
    Order: [
        GET_ORDER,
        dataclasses.replace(
            GET_ALL_ORDERS, name="get_all_orders[0]", at=("orders", 0), path="$.orders[0]"
        ),
        MULTI_WITH_LEGS,
    ],
    OrdersPage: [GET_ALL_ORDERS],
    MultiOrdersPage: [GET_MULTI_ORDERS],
    MultiOrder: [
        Carrier(
            "get_multi_order",
            "GET",
            "multi_order/m1",
            lambda c: c.get_multi_order("m1"),
            lambda: load_json("seed_multi_order.json"),
            (),
            "$",
        ),
        dataclasses.replace(
            GET_MULTI_ORDERS,
            name="get_multi_orders[0]",
            at=("multi_orders", 0),
            path="$.multi_orders[0]",
        ),
    ],
    Balance: [BALANCES],
    Asset: [
        dataclasses.replace(
            BALANCES,
            name="get_balances.assets[0]",
            at=("test", "assets", 0),
            path="$['test'].assets[0]",
        )
    ],
    OrderSummary: [
        Carrier(
            "get_order_summary",
            "GET",
            "order_summary/o1",
            lambda c: c.get_order_summary("o1"),
            lambda: {"id": "o1", "status": "ACTIVE", "executed_qty": "1.5", "pct_filled": 30},
            (),
            "$",
        )
    ],
    OrderMessage: [
        Carrier(
            "get_order_messages",
            "POST",
            "order_messages/",
            lambda c: c.get_order_messages(["o1"]),
            lambda: [{"order_id": "o1", "message": "started", "created_at": "2024-01-01T00:00Z"}],
            (0,),
            "$[0]",
        )
    ],
    ChainedOrder: [
        Carrier(
            "place_chained_order",
            "POST",
            "chained_orders/",
            lambda c: c.place_chained_order(_chain()),
            lambda: {"id": "c1", "status": "ACTIVE", "orders": [_order(), _order()]},
            (),
            "$",
        )
    ],
    CloseBalancesResult: [
        Carrier(
            "close_balances",
            "POST",
            "close_balances/",
            lambda c: c.close_balances(100),
            lambda: {"message": "closing", "order_ids": ["o1"]},
            (),
            "$",
        )
    ],
    ActionResult: [
        Carrier(
            "cancel_order",
            "DELETE",
            "order/o1",
            lambda c: c.cancel_order("o1"),
            lambda: {"message": "cancelled", "success": True, "order_id": "o1"},
            (),
            "$",
        )
    ],
}


def _cases(fields: list[tuple[type, str]], *, every_carrier: bool) -> list[Any]:
    """(carrier, field) parameters: through every endpoint of the model, or its first."""
    return [
        pytest.param(carrier, field, id=f"{model.__name__}.{field}-{carrier}")
        for model, field in fields
        for carrier in CARRIERS.get(model, [])[: None if every_carrier else 1]
    ]


def _reply_text(carrier: Carrier, field: str, literal: str) -> str:
    """The carrier's valid body with ``field`` set to the raw JSON text ``literal``."""
    body = carrier.body()
    target = body
    for key in carrier.at:
        target = target[key]
    target[field] = PLACEHOLDER
    text = json.dumps(body)
    assert text.count(json.dumps(PLACEHOLDER)) == 1
    return text.replace(json.dumps(PLACEHOLDER), literal)


def _mock(mock_api: respx.MockRouter, carrier: Carrier, text: str) -> None:
    mock_api.route(method=carrier.method, path__regex=carrier.route + "$").respond(
        200, content=text.encode(), headers={"Content-Type": "application/json"}
    )
    # An order-creating call whose reply cannot be read looks its orders up: none found.
    mock_api.get("orders/").respond(200, json={"orders": [], "count": 0, "num_pages": 1})


def _dig(result: Any, at: tuple[str | int, ...]) -> Any:
    """The model object at ``at`` in a call's result (models by attribute, JSON by key)."""
    for key in at:
        result = result[key] if isinstance(result, (dict, list)) else getattr(result, str(key))
    return result


async def _timed(call: Awaitable[Any]) -> tuple[Any, float]:
    """The call's result (or the TaaSError it raised) and the CPU this thread spent on it."""
    start = time.thread_time()
    try:
        result = await call
    except TaaSError as exc:
        result = exc
    return result, time.thread_time() - start


def _decode_error(outcome: Any) -> ResponseDecodeError:
    """The ResponseDecodeError of a failed call.

    An order-creating call cannot tell whether its order exists when the
    reply is unreadable: it raises ``OrderOutcomeUnknownError`` from it.
    """
    error = outcome
    cause = getattr(error, "__cause__", None)
    if not isinstance(error, ResponseDecodeError) and isinstance(cause, ResponseDecodeError):
        error = cause
    # Not repr(outcome): an Order holding a 3.3-million-bit duration cannot be printed.
    assert isinstance(error, ResponseDecodeError), f"expected a decode error, got {type(outcome)}"
    return error


async def _hostile_reply(
    mock_api: respx.MockRouter, client: AsyncClient, carrier: Carrier, field: str, literal: str
) -> None:
    """The reply with ``literal`` in ``field`` fails quickly, naming the field."""
    # First the valid reply, untimed: it must pass, and warms the converter's generated code.
    _mock(mock_api, carrier, json.dumps(carrier.body()))
    outcome, _ = await _timed(carrier.call(client))
    assert not isinstance(outcome, Exception), outcome

    _mock(mock_api, carrier, _reply_text(carrier, field, literal))
    outcome, cpu = await _timed(carrier.call(client))
    error = _decode_error(outcome)
    where = f"{carrier.path}.{field}"
    assert any(e.endswith(f"@ {where}") for e in error.errors), (where, error.errors)
    assert cpu < CPU_BUDGET, f"{cpu:.3f} s of CPU"


def test_every_reply_model_has_a_carrier() -> None:
    assert set(CARRIERS) == set(_MODELS)
    # The models the issue names, and that introspection finds them.
    assert {(Order, "duration"), (MultiOrder, "duration")} <= set(INT_FIELDS)
    assert {(OrdersPage, "count"), (OrdersPage, "num_pages")} <= set(INT_FIELDS)
    assert {(MultiOrdersPage, "count"), (MultiOrder, "executed_notional")} <= {
        *INT_FIELDS,
        *DECIMAL_FIELDS,
    }
    assert (Order, "executed_qty") in DECIMAL_FIELDS
    assert (Asset, "size") in DECIMAL_FIELDS


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("model", "carrier"),
    [
        pytest.param(model, carrier, id=f"{model.__name__}-{carrier}")
        for model, carriers in CARRIERS.items()
        for carrier in carriers
    ],
)
async def test_carriers_return_their_model(
    mock_api: respx.MockRouter, client: AsyncClient, model: type, carrier: Carrier
) -> None:
    # ActionResult is built by hand (its shape is undocumented, and it never fails):
    # a number field added to it would not be checked, and its cases here would fail.
    _mock(mock_api, carrier, json.dumps(carrier.body()))
    assert isinstance(_dig(await carrier.call(client), carrier.at), model)


# --------------------------------------------------------------------------- integer fields

HOSTILE_INTEGERS = {
    "1e999999": "1e999999",
    "str-1e999999": '"1e999999"',
    "1e999999999": "1e999999999",
    "str-1e999999999": '"1e999999999"',
    "-1e999999": "-1e999999",
    "1e-999999": "1e-999999",
    "2**63": str(2**63),
    "-(2**63)": str(-(2**63)),
    "-(2**63)-1": str(-(2**63) - 1),
    "1e19": "1e19",
    "1.5": "1.5",
    "str-1.5": '"1.5"',
    "str-12abc": '"12abc"',
    "str-NaN": '"NaN"',
    "str-Infinity": '"Infinity"',
    "str-1_000": '"1_000"',
    "4000-digit-int": "9" * 4000,
    "str-4000-digit-int": '"' + "9" * 4000 + '"',
    "20000-digit-int": "9" * 20000,  # past Python's own 4300-digit limit
    "1-then-5000-digits": "1" + "0" * 5000 + ".0",
    "1.then-5000-zeros": "1." + "0" * 5000,  # the value is 1: only the length gives it away
    "str-1.then-5000-zeros": '"1.' + "0" * 5000 + '"',
    "42.000-211-chars": "42." + "0" * 208,
    "true": "true",
    "object": "{}",
}


@pytest.mark.asyncio
@pytest.mark.parametrize("literal", HOSTILE_INTEGERS.values(), ids=HOSTILE_INTEGERS.keys())
@pytest.mark.parametrize(("carrier", "field"), _cases(INT_FIELDS, every_carrier=True))
async def test_hostile_integer_is_a_quick_field_error(
    mock_api: respx.MockRouter, client: AsyncClient, carrier: Carrier, field: str, literal: str
) -> None:
    await _hostile_reply(mock_api, client, carrier, field, literal)


ACCEPTED_INTEGERS = {
    "2**63-1": (str(2**63 - 1), 2**63 - 1),
    "-(2**63-1)": (str(-(2**63) + 1), -(2**63) + 1),
    "str-42": ('"42"', 42),
    "str-spaced": ('" 42 "', 42),
    "42.0": ("42.0", 42),
    "4.2e1": ("4.2e1", 42),
    "str-4.2E+1": ('"4.2E+1"', 42),
    "9.2e18": ("9.2e18", 9_200_000_000_000_000_000),
    "0e999999": ("0e999999", 0),
    "-0.0": ("-0.0", 0),
    "42.000-210-chars": ("42." + "0" * 207, 42),  # the longest number text read
}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("literal", "expected"), ACCEPTED_INTEGERS.values(), ids=ACCEPTED_INTEGERS.keys()
)
@pytest.mark.parametrize(("carrier", "field"), _cases(INT_FIELDS, every_carrier=False))
async def test_integers_within_bounds_are_accepted(
    mock_api: respx.MockRouter,
    client: AsyncClient,
    carrier: Carrier,
    field: str,
    literal: str,
    expected: int,
) -> None:
    _mock(mock_api, carrier, _reply_text(carrier, field, literal))
    value = getattr(_dig(await carrier.call(client), carrier.at), field)
    assert value == expected
    assert type(value) is int


# --------------------------------------------------------------------------- decimal fields

HOSTILE_DECIMALS = {
    "1e999999": "1e999999",
    "-1e999999": "-1e999999",
    "1e-999999": "1e-999999",
    "1e999999999": "1e999999999",
    "str-1e999999": '"1e999999"',
    "1e101": "1e101",
    "1e-101": "1e-101",
    "0e999999": "0e999999",
    "101-significant-digits": "1." + "1" * 100,
    "str-101-significant-digits": '"1.' + "1" * 100 + '"',
    "4000-digit-int": "9" * 4000,
    "1-then-5000-digits": "1" + "0" * 5000 + ".5",
    "1.then-5000-zeros": "1." + "0" * 5000,
    "str-1.then-5000-zeros": '"1.' + "0" * 5000 + '"',
    "str-211-chars": '"1.' + "0" * 209 + '"',
}


@pytest.mark.asyncio
@pytest.mark.parametrize("literal", HOSTILE_DECIMALS.values(), ids=HOSTILE_DECIMALS.keys())
@pytest.mark.parametrize(("carrier", "field"), _cases(DECIMAL_FIELDS, every_carrier=False))
async def test_hostile_decimal_is_a_quick_field_error(
    mock_api: respx.MockRouter, client: AsyncClient, carrier: Carrier, field: str, literal: str
) -> None:
    await _hostile_reply(mock_api, client, carrier, field, literal)


ACCEPTED_DECIMALS = {
    "100-significant-digits": "1." + "2" * 99,
    "str-100-significant-digits": '"1.' + "2" * 99 + '"',
    "1e100": "1e100",
    "10**100-plain": "1" + "0" * 100,
    "-9.99e100": "-9.99e100",
    "1e-100": "1e-100",
    "202-chars-plain": "-0." + "0" * 99 + "7" * 100,
    "trailing-zeros-210-chars": "5." + "0" * 208,
}


@pytest.mark.asyncio
@pytest.mark.parametrize("literal", ACCEPTED_DECIMALS.values(), ids=ACCEPTED_DECIMALS.keys())
@pytest.mark.parametrize(
    ("carrier", "field"),
    [
        pytest.param(GET_ORDER, "executed_qty", id="Order.executed_qty"),
        pytest.param(GET_ORDER, "limit_price", id="Order.limit_price"),
        pytest.param(CARRIERS[Asset][0], "size", id="Asset.size"),
    ],
)
async def test_decimals_within_bounds_are_accepted(
    mock_api: respx.MockRouter,
    client: AsyncClient,
    carrier: Carrier,
    field: str,
    literal: str,
) -> None:
    _mock(mock_api, carrier, _reply_text(carrier, field, literal))
    result = _dig(await carrier.call(client), carrier.at)
    assert getattr(result, field) == Decimal(json.loads(literal, parse_float=Decimal))


# --------------------------------------------------------------------------- timestamps

HOSTILE_TIMESTAMPS = {
    "1e999999": "1e999999",
    "-1e999999": "-1e999999",
    "1e20": "1e20",
    "2**63": str(2**63),
    "4000-digit-int": "9" * 4000,
    "1.then-5000-zeros": "1." + "0" * 5000,
}


@pytest.mark.asyncio
@pytest.mark.parametrize("literal", HOSTILE_TIMESTAMPS.values(), ids=HOSTILE_TIMESTAMPS.keys())
@pytest.mark.parametrize(("carrier", "field"), _cases(DATETIME_FIELDS, every_carrier=False))
async def test_numeric_timestamp_out_of_range_is_a_field_error(
    mock_api: respx.MockRouter, client: AsyncClient, carrier: Carrier, field: str, literal: str
) -> None:
    await _hostile_reply(mock_api, client, carrier, field, literal)


@pytest.mark.asyncio
async def test_numeric_timestamp_within_range_is_accepted(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    _mock(mock_api, GET_ORDER, _reply_text(GET_ORDER, "created_at", "1700000000.5"))
    order = await GET_ORDER.call(client)
    assert order.created_at == dt.datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=dt.timezone.utc)


# --------------------------------------------------------------------------- elsewhere in a reply


@pytest.mark.asyncio
async def test_long_numbers_outside_fields_stay_text_and_cost_nothing(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    """Where no field reads them (``raw``, ``strategy_params``), long numbers are kept as text."""
    huge = "9" * 20000
    long_decimal = "1." + "0" * 5000
    body = _order()
    body["strategy_params"] = {"a": PLACEHOLDER}
    body["brand_new"] = [PLACEHOLDER]
    text = json.dumps(body).replace(json.dumps(PLACEHOLDER), huge, 1)
    text = text.replace(json.dumps(PLACEHOLDER), long_decimal, 1)
    _mock(mock_api, GET_ORDER, text)
    order, cpu = await _timed(GET_ORDER.call(client))
    assert isinstance(order, Order), order
    assert order.strategy_params == {"a": huge}
    assert order.raw["brand_new"] == [long_decimal]
    assert cpu < CPU_BUDGET
    # Short numbers are numbers, as ever.
    assert decode_json('[1, 1.5, "x"]') == [1, Decimal("1.5"), "x"]
