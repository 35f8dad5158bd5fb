"""Numbers in requests: the text a decimal may have, its bounds, exact storage, plain wire text.

- A decimal is written in ASCII digits (no ``_``, no other scripts); it has
  at most 100 significant digits and an exponent from -100 to 100, and its
  plain notation, which is what goes on the wire, is at most 210 characters.
- A whole number (duration, priority, page) is integral and below 2**63.
- Floats are taken through ``str()``: ``0.1`` is ``Decimal("0.1")``.
- Replies are read by the same decimal rules (``to_decimal``).

Every refusal happens before anything is sent and costs well under 100 ms of
CPU (``time.thread_time()``: this thread's CPU, not the wall clock).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import pytest
import respx
from conftest import load, order_request
from request_kwargs import order

from taas_async import (
    AmendOrderRequest,
    AsyncClient,
    GetOrdersRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    RequestValidationError,
)
from taas_async._codec import encode_json
from taas_async._converter import ShapeError, structure
from taas_async._models import Order
from taas_async._numbers import to_decimal
from taas_async._requests import OrderInChain

CPU_BUDGET = 0.1  # seconds of this thread's CPU for one whole call


# --------------------------------------------------------------------------- decimal text


@pytest.mark.parametrize(
    "value",
    ["1_000", "\u0661\u0660", "\uff15", "1e5000000", Decimal("1E+101"), Decimal("1E-101")],
    ids=["underscore", "arabic-indic", "fullwidth", "huge-exponent", "1E+101", "1E-101"],
)
def test_decimal_inputs_rejected(value: str | Decimal) -> None:
    with pytest.raises(RequestValidationError) as info:
        attrs.evolve(order_request(), base_asset_qty=value)
    assert set(info.value.errors) == {"base_asset_qty"}
    with pytest.raises(ValueError):
        to_decimal(value)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("value", "wire"),
    [("1e-8", "0.00000001"), ("1E+2", "100"), (Decimal("1E+100"), "1" + "0" * 100)],
)
async def test_decimal_inputs_accepted_and_sent_plain(
    mock_api: respx.MockRouter, client: AsyncClient, value: str | Decimal, wire: str
) -> None:
    route = mock_api.post("orders/").respond(201, json=json.loads(load("seed_order.json")))
    await client.place_order(attrs.evolve(order_request(), base_asset_qty=value))
    assert json.loads(route.calls.last.request.content)["base_asset_qty"] == wire


# --------------------------------------------------------------------------- exact values


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1.25"), Decimal("1.25")),
        (7, Decimal(7)),
        ("0.1", Decimal("0.1")),
        (" 2.5 ", Decimal("2.5")),
        (0.1, Decimal("0.1")),  # through str(): not 0.1000000000000000055511...
        (1e-8, Decimal("1E-8")),
        (123456.789, Decimal("123456.789")),
    ],
)
def test_quantities_are_stored_as_exact_decimals(value: Any, expected: Decimal) -> None:
    req = PlaceOrderRequest(**order(base_asset_qty=value))
    assert isinstance(req.base_asset_qty, Decimal)
    assert req.base_asset_qty == expected
    assert str(req.base_asset_qty) == str(expected)


@pytest.mark.asyncio
async def test_amend_float_change_is_an_exact_decimal_on_the_wire(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    request = AmendOrderRequest(order_id="abc", changes={"limit_price": 0.1})
    assert request.changes == {"limit_price": Decimal("0.1")}
    assert type(request.changes["limit_price"]) is Decimal
    route = mock_api.post("amend_order/").respond(200, json={"message": "ok"})
    await client.amend_order(request)
    sent = route.calls.last.request
    assert json.loads(sent.content) == {"order_id": "abc", "changes": {"limit_price": "0.1"}}
    assert b'"limit_price":"0.1"' in sent.content.replace(b" ", b"")


@pytest.mark.asyncio
async def test_an_amend_change_put_in_after_construction_is_exact_on_the_wire(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    # The dict is checked again when sent, but was not converted again: a float put
    # into it went out as a JSON number ("limit_price":1e-07).
    request = AmendOrderRequest(order_id="abc", changes={"base_asset_qty": "2.50"})
    request.changes["limit_price"] = 1e-7
    route = mock_api.post("amend_order/").respond(200, json={"message": "ok"})
    await client.amend_order(request)
    assert route.calls.last.request.content == (
        b'{"order_id":"abc","changes":{"base_asset_qty":"2.50","limit_price":"0.0000001"}}'
    )


# --------------------------------------------------------------------------- bounds


def _quick_request_error(make: Callable[[], Any]) -> RequestValidationError:
    start = time.thread_time()
    with pytest.raises(RequestValidationError) as info:
        make()
    assert time.thread_time() - start < CPU_BUDGET
    return info.value


HOSTILE_WHOLE_NUMBERS = {
    "Decimal-1e999999": Decimal("1e999999"),
    "Decimal-1e999999999": Decimal("1e999999999"),
    "Decimal-1e-999999": Decimal("1e-999999"),
    "Decimal-NaN": Decimal("NaN"),
    "Decimal-1.5": Decimal("1.5"),
    "2**63": 2**63,
    "10**5000": 10**5000,
    "float-1e300": 1e300,
    "float-1.5": 1.5,
}


@pytest.mark.parametrize("value", HOSTILE_WHOLE_NUMBERS.values(), ids=HOSTILE_WHOLE_NUMBERS.keys())
def test_request_whole_numbers_are_bounded(value: Any) -> None:
    base = order_request()
    error = _quick_request_error(lambda: attrs.evolve(base, duration=value))
    assert set(error.errors) == {"duration"}
    error = _quick_request_error(lambda: GetOrdersRequest(page=value, page_size=value))
    assert set(error.errors) == {"page", "page_size"}
    error = _quick_request_error(lambda: OrderInChain(order_request=base, priority=value))
    assert set(error.errors) == {"priority"}
    error = _quick_request_error(
        lambda: PlaceMultiOrderRequest(
            accounts=["mock"],
            strategy="TWAP",
            duration=value,
            child_orders=[{"pair": "ETH-USDT", "side": "buy", "base_asset_qty": 1}],
        )
    )
    assert set(error.errors) == {"duration"}
    error = _quick_request_error(
        lambda: AmendOrderRequest(order_id="o1", changes={"duration": value})
    )
    assert set(error.errors) == {"changes.duration"}


@pytest.mark.parametrize(
    "value",
    [2**63 - 1, Decimal("9223372036854775807"), Decimal("3E+2"), Decimal("300.000"), 300.0],
    ids=["2**63-1", "Decimal-2**63-1", "Decimal-3E+2", "Decimal-300.000", "float-300.0"],
)
def test_request_whole_numbers_within_bounds_are_accepted(value: Any) -> None:
    request = attrs.evolve(order_request(), duration=value)
    assert request.duration == int(value)
    assert type(request.duration) is int


HOSTILE_REQUEST_DECIMALS = {
    "Decimal-1e999999": Decimal("1e999999"),
    "str-1e999999999": "1e999999999",
    "int-10**5000": 10**5000,
    "101-significant-digits": Decimal("1." + "1" * 100),
    "str-5000-zeros": "1." + "0" * 5000,
    "Decimal-0E+999999": Decimal("0E+999999"),
}


@pytest.mark.parametrize(
    "value", HOSTILE_REQUEST_DECIMALS.values(), ids=HOSTILE_REQUEST_DECIMALS.keys()
)
def test_request_decimals_are_bounded(value: Any) -> None:
    error = _quick_request_error(lambda: attrs.evolve(order_request(), base_asset_qty=value))
    assert set(error.errors) == {"base_asset_qty"}
    with pytest.raises(ValueError):  # the rules replies share
        to_decimal(value)


def test_request_decimal_is_bounded_in_the_plain_notation_it_is_sent_in() -> None:
    # One significant digit, but sent as 5002 characters: refused before sending.
    value = Decimal("1." + "0" * 5000)
    error = _quick_request_error(lambda: attrs.evolve(order_request(), base_asset_qty=value))
    assert error.errors == {
        "base_asset_qty": ["too long for a number in plain notation (5002 characters, at most 210)"]
    }
    assert to_decimal(value) == 1  # within the bounds replies share: only sending it is too long
    # A Decimal nested where no field checks it (strategy_params) is refused when encoded.
    with pytest.raises(ValueError, match="too long to send"):
        encode_json({"strategy_params": {"x": Decimal("1e999999999")}})


@pytest.mark.parametrize(
    "value",
    ["1." + "2" * 99, Decimal("1E+100"), "1" + "0" * 100, Decimal("1E-100"), "0." + "0" * 99 + "1"],
    ids=["100-digits", "1E+100", "10**100-plain", "1E-100", "1E-100-plain"],
)
def test_request_decimals_within_bounds_are_accepted(value: Any) -> None:
    request = attrs.evolve(order_request(), base_asset_qty=value)
    assert request.base_asset_qty == Decimal(value)


# --------------------------------------------------------------------------- replies


def test_reply_decimals_follow_the_request_rules() -> None:
    for bad in ("1_000", "\u0661\u0660\u0660", "1e200000"):  # Arabic-Indic "100"
        with pytest.raises(ShapeError):
            structure({"id": "x", "limit_price": bad}, Order)
    assert structure({"id": "x", "limit_price": "1E+2"}, Order).limit_price == Decimal(100)
