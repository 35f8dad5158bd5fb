"""Replies leave the service: ``to_dict()`` is JSON-safe and exact, ``to_json()`` is its text.

Decimals become their plain-notation strings (never floats, so nothing is
rounded), datetimes ISO 8601 with their offset, enums their values, nested
models dicts; ``raw`` is left out. Every reply model has both methods.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import attrs
import pytest
from conftest import load

import taas_async
from taas_async import (
    Asset,
    Balance,
    MultiOrder,
    MultiOrdersPage,
    Order,
    OrdersPage,
    OrderStatus,
    OrderUpdate,
    OrderUpdateType,
    Side,
)
from taas_async._codec import decode_json
from taas_async._converter import structure

JSON_TYPES = (str, int, bool, type(None))


def json_native(value: Any, path: str = "$") -> None:
    """Fail unless ``value`` holds only what ``json`` makes of JSON (and no float)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, f"{path}: key {key!r}"
            json_native(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            json_native(item, f"{path}[{index}]")
    else:
        assert type(value) in JSON_TYPES, f"{path}: {type(value).__name__} {value!r}"


def seed(name: str, tp: Any) -> Any:
    return structure(decode_json(load(name)), tp)


REPLY_MODELS = sorted(
    (
        obj
        for name in taas_async.__all__
        if attrs.has(obj := getattr(taas_async, name))
        and obj.__module__ == "taas_async"
        and "raw" in attrs.fields_dict(obj)
    ),
    key=lambda cls: cls.__name__,
)


def test_every_reply_model_is_covered() -> None:
    assert {cls.__name__ for cls in REPLY_MODELS} == {
        "ActionResult",
        "Asset",
        "Balance",
        "ChainedOrder",
        "CloseBalancesResult",
        "MultiOrder",
        "MultiOrdersPage",
        "Order",
        "OrderMessage",
        "OrderSummary",
        "OrderUpdate",
        "OrdersPage",
    }


@pytest.mark.parametrize("cls", REPLY_MODELS, ids=lambda cls: cls.__name__)
def test_every_reply_model_has_to_dict_and_to_json(cls: type[Any]) -> None:
    fields = attrs.fields_dict(cls)
    required = {
        name: [] if name in {"orders", "multi_orders"} else "x"
        for name, field in fields.items()
        if field.default is attrs.NOTHING
    }
    if cls is OrderUpdate:
        required["received_at"] = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        required["order"] = None
    model = cls(**required, raw={"secret": "kept on the model only"})
    data = model.to_dict()
    json_native(data)
    assert set(data) == set(fields) - {"raw"}
    assert json.loads(model.to_json()) == data


def test_an_order_is_exact_and_typed_back() -> None:
    order = seed("seed_order.json", Order)
    data = order.to_dict()
    json_native(data)
    assert "raw" not in data
    for field in attrs.fields(Order):
        value = getattr(order, field.name)
        if isinstance(value, Decimal):
            assert Decimal(data[field.name]) == value, field.name
            assert data[field.name] == format(value, "f")  # plain notation, every digit
        elif isinstance(value, dt.datetime):
            assert value.tzinfo is not None
            assert dt.datetime.fromisoformat(data[field.name]) == value, field.name
        elif isinstance(value, (OrderStatus, Side)):
            assert data[field.name] == value.value
            assert type(data[field.name]) is str


def test_decimals_keep_every_digit_and_never_pass_through_float() -> None:
    tiny = Decimal("0.000000000000000000000000000001")
    big = Decimal("123456789012345678901234567890.123456789")
    order = Order(id="a", executed_qty=tiny, executed_price=big, pct_filled=Decimal("1E+2"))
    data = order.to_dict()
    assert data["executed_qty"] == "0.000000000000000000000000000001"
    assert data["executed_price"] == "123456789012345678901234567890.123456789"
    assert data["pct_filled"] == "100"  # plain notation, not "1E+2"
    assert '"executed_qty":"0.000000000000000000000000000001"' in order.to_json()


def test_a_huge_exponent_in_a_free_form_field_stays_short_and_exact() -> None:
    # Typed fields are bounded when read; strategy_params keeps what the server sent.
    # Written out in plain notation, 1e9999999 would be 10 MB (2.5e-999999999: 1 GB).
    order = structure(
        decode_json(
            b'{"id": "a", "strategy_params": {"k": 1e9999999}, "placements": [2.5e-999999999]}'
        ),
        Order,
    )
    data = order.to_dict()
    assert data["strategy_params"] == {"k": "1E+9999999"}
    assert data["placements"] == ["2.5E-999999999"]
    assert Decimal(data["placements"][0]) == order.placements[0]  # exact all the same
    assert len(order.to_json()) < 1000


def test_decimals_inside_free_form_fields_are_strings_too() -> None:
    # strategy_params and placements hold the server's JSON as decoded: numbers are Decimal.
    order = structure(
        decode_json(
            b'{"id": "a", "strategy_params": {"a": 0.1, "b": [1.5, {"c": 2e-9}]},'
            b' "placements": [{"qty": 0.30000000000000001}]}'
        ),
        Order,
    )
    data = order.to_dict()
    json_native(data)
    assert data["strategy_params"] == {"a": "0.1", "b": ["1.5", {"c": "0.000000002"}]}
    assert data["placements"] == [{"qty": "0.30000000000000001"}]


def test_a_free_form_field_as_deep_as_a_reply_can_be_is_exported() -> None:
    # The decoder reads nesting up to Python's recursion limit; the export recursed a
    # few frames a level and raised RecursionError at 400 levels of a reply it had read.
    depth = 600  # beside pytest's own frames, under the recursion limit of every Python
    body = b'{"id": "a", "strategy_params": {"x": ' + b"[" * depth + b"0.5" + b"]" * depth
    order = structure(decode_json(body + b'}, "placements": [[{"p": 1e-8}]]}'), Order)
    data = order.to_dict()
    inner: Any = data["strategy_params"]["x"]
    for _ in range(depth):
        (inner,) = inner
    assert inner == "0.5"
    assert data["placements"] == [[{"p": "0.00000001"}]]
    assert json.loads(order.to_json()) == data


def test_unknown_enum_values_stay_the_servers_strings() -> None:
    order = Order(id="a", status="PENDING_REVIEW", side="short", strategy="b2c1-uuid")
    assert order.to_dict()["status"] == "PENDING_REVIEW"
    assert order.to_dict()["strategy"] == "b2c1-uuid"


def test_nested_models_become_dicts() -> None:
    multi = seed("docs_multi_order.json", MultiOrder)
    json_native(multi.to_dict())
    balance = Balance(exchange="Binance", assets=[Asset(symbol="ETH", size=Decimal("1.5"))])
    assert balance.to_dict()["assets"][0]["size"] == "1.5"
    assert balance.to_dict()["assets"][0]["symbol"] == "ETH"
    page = OrdersPage(orders=[seed("seed_order.json", Order)], count=1, num_pages=1)
    data = page.to_dict()
    assert data["count"] == 1
    assert data["orders"][0] == page.orders[0].to_dict()
    multi_page = MultiOrdersPage(multi_orders=[multi])
    assert multi_page.to_dict()["multi_orders"][0] == multi.to_dict()


@pytest.mark.parametrize(
    "inner",
    [Order(id="o", status=OrderStatus.COMPLETE), MultiOrder(id="m", status="COMPLETE"), None],
    ids=["order", "multi-order", "none"],
)
def test_an_order_update_carries_its_order_or_none(inner: Order | MultiOrder | None) -> None:
    at = dt.datetime(2026, 1, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    update = OrderUpdate(
        order_id="o", update_type=OrderUpdateType.ORDER_COMPLETED, order=inner, received_at=at
    )
    data = update.to_dict()
    json_native(data)
    assert data["update_type"] == "order_completed"
    assert data["received_at"] == "2026-01-01T12:30:00+02:00"  # the offset is kept
    assert data["order"] == (None if inner is None else {**inner.to_dict()})
    if inner is not None:
        assert data["order"]["status"] == "COMPLETE"


def test_to_json_is_compact_unless_indented() -> None:
    order = Order(id="a", executed_qty=Decimal("1.50"))
    assert order.to_json() == json.dumps(order.to_dict(), separators=(",", ":"))
    assert order.to_json(indent=2).startswith('{\n  "id": "a",')
    assert json.loads(order.to_json(indent=2)) == order.to_dict()


def test_the_raw_body_stays_on_the_model() -> None:
    order = seed("seed_order.json", Order)
    assert order.raw  # everything the server sent is still reachable
    assert "raw" not in order.to_dict()
    assert "raw" not in json.loads(order.to_json())
