"""The sandbox and the models cannot drift apart.

A scenario drives every endpoint of the simulator through the real client;
then every reply it produced is structured again under a *strict* converter
(unknown keys are an error), and the order, multi-order and balance replies
are checked to carry every field of the seed's examples, with the same JSON
types, and every field our models declare.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import attrs
import pytest
from conftest import load_json, order_request

from taas_async import (
    ActionResult,
    AmendOrderRequest,
    Asset,
    BadRequestError,
    Balance,
    ChainedOrder,
    CloseBalancesResult,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    MultiOrder,
    MultiOrdersPage,
    Order,
    OrderMessage,
    OrdersPage,
    OrderSummary,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    RequestValidationError,
    SetLeverageRequest,
    TaaSError,
)
from taas_async._codec import decode_json
from taas_async._converter import ShapeError, make_converter, structure
from taas_async.sandbox import Exchange, Sandbox

STRICT = make_converter(forbid_extra_keys=True)
SEED_ORDER = load_json("seed_order.json")
SEED_MULTI = load_json("seed_multi_order.json")
SEED_ASSET = load_json("seed_balances.json")["test"]["assets"][0]

#: (method, path pattern) -> the model its 2xx reply must structure into.
REPLY_MODELS: list[tuple[str, str, Any]] = [
    ("POST", r"/api/orders/", Order),
    ("GET", r"/api/orders/", OrdersPage),
    ("GET", r"/api/order/[^/]+", Order),
    ("DELETE", r"/api/order/[^/]+", ActionResult),
    ("GET", r"/api/order_summary/[^/]+", OrderSummary),
    ("POST", r"/api/amend_order/", ActionResult),
    ("POST", r"/api/pause_order/", ActionResult),
    ("POST", r"/api/resume_order/", ActionResult),
    ("POST", r"/api/order_messages/", list[OrderMessage]),
    ("POST", r"/api/multi_orders/", MultiOrder),
    ("GET", r"/api/multi_order/[^/]+", MultiOrder),
    ("GET", r"/api/multi_orders/", MultiOrdersPage),
    ("DELETE", r"/api/multi_order/[^/]+", ActionResult),
    ("POST", r"/api/chained_orders/", ChainedOrder),
    ("GET", r"/api/balances/", dict[str, Balance]),
    ("POST", r"/api/close_balances/", CloseBalancesResult),
    ("POST", r"/api/set_leverage/", ActionResult),
]


def model_for(exchange: Exchange) -> Any:
    for method, pattern, model in REPLY_MODELS:
        if exchange.method == method and re.fullmatch(pattern, exchange.path):
            return model
    raise AssertionError(f"no model for {exchange.method} {exchange.path}")


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def model_fields(model: type) -> set[str]:
    return {a.name for a in attrs.fields(model)} - {"raw"}


async def run_scenario(sandbox: Sandbox) -> None:
    """Every endpoint, with fills, a perp position, pauses and errors on the way."""
    order = attrs.evolve(order_request(), custom_order_id="contract-1")
    async with sandbox.client() as client:
        first = await client.place_order(order)
        perp = await client.place_order(
            PlaceOrderRequest(
                accounts=["test"],
                pair="BTC:PERP-USDT",
                side="sell",
                duration=60,
                quote_asset_qty="5000.50",
                strategy="VWAP",
                limit_price="1",
                updated_leverage=3,
                pos_side="short",
                notes="hedge",
            )
        )
        multi = await client.place_multi_order(
            PlaceMultiOrderRequest(
                accounts=["mock"],
                duration=200,
                strategy="TWAP",
                exposure_tolerance="0.5",
                child_orders=[
                    {"pair": "ETH:PERP-USDT", "side": "sell", "base_asset_qty": "10"},
                    {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": "10"},
                ],
            )
        )
        chain = await client.place_chained_order(
            PlaceChainedOrderRequest(
                orders_in_chain=[
                    {
                        "order_request": {**attrs.asdict(order), "custom_order_id": None},
                        "priority": 2,
                    },
                    {
                        "order_request": {
                            "accounts": ["mock"],
                            "pair": "SOL-USDT",
                            "side": "sell",
                            "base_asset_qty": "3",
                            "strategy": "Market",
                        },
                        "priority": 1,
                    },
                ]
            )
        )
        sandbox.advance(30)
        await client.pause_order(first.id)
        sandbox.advance(30)
        assert (await client.get_order(first.id)).status == "PAUSED"
        await client.resume_order(first.id)
        await client.amend_order(
            AmendOrderRequest(order_id=first.id, changes={"duration": 400, "limit_price": "99999"})
        )
        await client.set_leverage(
            SetLeverageRequest(
                account_ids=[sandbox.engine.accounts["test"].id], pair="BTC:PERP-USDT", leverage=5
            )
        )
        sandbox.advance(60)
        for order_id in (first.id, perp.id, *multi.child_order_ids, *(o.id for o in chain.orders)):
            await client.get_order(order_id)
            await client.get_order_summary(order_id)
        await client.get_multi_order(multi.id)
        with_legs = await client.get_multi_order(multi.id, include_child_orders=True)
        assert [o.id for o in with_legs.child_orders] == multi.child_order_ids
        await client.get_multi_orders()
        await client.get_multi_orders(GetMultiOrdersRequest(include_child_orders=True))
        assert [m.id async for m in client.iter_multi_orders()] == [multi.id]
        await client.get_order_messages([first.id, perp.id])
        await client.get_balances()
        await client.get_balances(exchange_names=["OKX"])
        page = await client.get_all_orders(GetOrdersRequest(page_size=2, page=2))
        assert page.num_pages is not None
        assert page.num_pages > 2
        assert [o.id async for o in client.iter_orders(GetOrdersRequest(page_size=3))]
        await client.get_all_orders(GetOrdersRequest(custom_order_ids=["contract-1"]))
        closing = await client.close_balances(1000, account_names=["test", "mock"])
        assert closing.order_ids
        await client.cancel_order(closing.order_ids[0])
        await client.cancel_multi_order(multi.id)
        sandbox.advance(400)
        await client.get_all_orders()
        await client.get_balances()
        # Errors are replies too: their bodies must be shapes SPEC lists.
        for bad in (
            client.get_order("no-such-order"),
            client.cancel_order(first.id),  # COMPLETE by now: nothing to cancel
            client.pause_order(first.id),
            client.request("POST", "api/orders/", json={"pair": "!!"}),
            client.request("GET", "api/orders/", params={"page": 99}),
        ):
            with pytest.raises(TaaSError):
                await bad


@pytest.fixture(scope="module")
def exchanges() -> list[Exchange]:
    import anyio

    sandbox = Sandbox()
    anyio.run(run_scenario, sandbox)
    return sandbox.exchanges


def test_every_endpoint_was_exercised(exchanges: list[Exchange]) -> None:
    ok = {
        (m, p)
        for m, p, _ in REPLY_MODELS
        for x in exchanges
        if x.status < 300 and x.method == m and re.fullmatch(p, x.path)
    }
    assert ok == {(m, p) for m, p, _ in REPLY_MODELS}
    assert {x.status for x in exchanges} >= {200, 201, 400, 404}


def test_every_reply_structures_under_the_strict_converter(exchanges: list[Exchange]) -> None:
    replies = [x for x in exchanges if x.status < 300]
    assert len(replies) > 30
    for exchange in replies:
        model = model_for(exchange)
        try:
            structure(exchange.json(), model, using=STRICT)
        except ShapeError as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"{exchange.method} {exchange.path}: {exc.errors}") from exc


def test_the_strict_converter_does_refuse_a_key_no_model_declares(
    exchanges: list[Exchange],
) -> None:
    reply = next(x.json() for x in exchanges if model_for(x) == Order and x.status < 300)
    structure(reply, Order, using=STRICT)
    with pytest.raises(ShapeError, match="sandbox_only"):
        structure({**reply, "sandbox_only": 1}, Order, using=STRICT)


def test_error_replies_have_the_shapes_spec_lists(exchanges: list[Exchange]) -> None:
    errors = [x.json() for x in exchanges if x.status >= 400]
    assert len(errors) == 5
    for body in errors:
        assert isinstance(body, dict)
        assert body
        if set(body) <= {"detail", "error", "message"}:
            assert all(isinstance(v, str) and v for v in body.values())
        else:  # {field: [messages]}
            assert all(isinstance(v, list) and v for v in body.values()), body
            assert all(isinstance(m, str) for v in body.values() for m in v)


def _replies(exchanges: list[Exchange], model: Any) -> list[Any]:
    found = [x.json() for x in exchanges if x.status < 300 and model_for(x) == model]
    assert found
    return found


def _orders(exchanges: list[Exchange]) -> list[dict[str, Any]]:
    orders = _replies(exchanges, Order)
    for page in _replies(exchanges, OrdersPage):
        orders.extend(page["orders"])
    for chain in _replies(exchanges, ChainedOrder):
        orders.extend(chain["orders"])
    for multi in _multi_orders(exchanges):
        orders.extend(multi.get("child_orders", []))
    return orders


def _multi_orders(exchanges: list[Exchange]) -> list[dict[str, Any]]:
    multis = _replies(exchanges, MultiOrder)
    for page in _replies(exchanges, MultiOrdersPage):
        multis.extend(page["multi_orders"])
    return multis


def _assert_carries(
    reply: dict[str, Any],
    seed: dict[str, Any],
    model: type,
    *,
    unless_asked: frozenset[str] = frozenset(),
) -> None:
    """``reply`` has every key of ``seed`` and of ``model`` (but those sent only on request)."""
    assert set(seed) <= set(reply), set(seed) - set(reply)
    missing = model_fields(model) - set(reply)
    assert missing <= unless_asked, missing - unless_asked
    for key, value in seed.items():
        if value is not None and reply[key] is not None:
            assert json_type(reply[key]) == json_type(value), key


def test_order_replies_carry_every_seed_field(exchanges: list[Exchange]) -> None:
    orders = _orders(exchanges)
    assert len(orders) > 20
    for reply in orders:
        _assert_carries(reply, SEED_ORDER, Order)
    # The seed's decimal strings: 20 places, "-1" for an unset price.
    assert all(re.fullmatch(r"\d+\.\d{20}", o["sell_token_amount"]) for o in orders)
    assert {o["stop_price"] for o in orders} == {"-1.00000000000000000000"}
    assert any(o["executed_price"] is not None for o in orders)
    assert {o["status"] for o in orders} >= {
        "SCHEDULED",
        "ACTIVE",
        "PAUSED",
        "COMPLETE",
        "CANCELED",
    }


def test_multi_order_replies_carry_every_seed_field(exchanges: list[Exchange]) -> None:
    multis = _multi_orders(exchanges)
    for reply in multis:
        # child_orders comes only with include_child_orders=true.
        _assert_carries(reply, SEED_MULTI, MultiOrder, unless_asked=frozenset({"child_orders"}))
    with_legs = [m for m in multis if "child_orders" in m]
    assert len(with_legs) == 2  # the one multi order, and the page that asked for legs
    assert all(len(m["child_orders"]) == 2 for m in with_legs)


def test_balance_replies_carry_every_seed_field(exchanges: list[Exchange]) -> None:
    assets = [
        asset
        for reply in _replies(exchanges, dict[str, Balance])
        for balance in reply.values()
        for asset in balance["assets"]
    ]
    assert {a["asset_type"] for a in assets} == {"token", "position"}
    for asset in assets:
        _assert_carries(asset, SEED_ASSET, Asset)
        assert asset["leverage"] is None or json_type(asset["leverage"]) == "number"
    for reply in _replies(exchanges, dict[str, Balance]):
        for balance in reply.values():
            assert set(balance) == model_fields(Balance)


# --------------------------------------------------------------------------- request rules
# The sandbox reads a request body with the SDK's own request models, so the
# two cannot disagree on what is valid; these tests hold that in place, by
# sending raw bodies past the SDK's checks (client.request) and comparing.

_MARKET = {"accounts": ["mock"], "pair": "ETH-USDT", "side": "buy", "base_asset_qty": "1"}
_LEGS = [{"pair": "ETH-USDT", "side": "buy", "base_asset_qty": "1"}]
_ORDERS = ("api/orders/", PlaceOrderRequest)
_MULTI = ("api/multi_orders/", PlaceMultiOrderRequest)

#: Bodies the documented rules refuse (API-FACTS §3.1, §3.6), each with the fields named.
REFUSED_BODIES = [
    pytest.param(
        _ORDERS, {**_MARKET, "strategy": "Market", "duration": 60}, id="market-with-duration"
    ),
    pytest.param(
        _ORDERS,
        {**_MARKET, "strategy": "IOC", "pov_limit": "0.1", "engine_passiveness": "0.2"},
        id="ioc-with-algorithm-fields",
    ),
    pytest.param(_ORDERS, {**_MARKET, "strategy": "Limit"}, id="limit-without-price"),
    pytest.param(
        _ORDERS, {**_MARKET, "strategy": "Market", "limit_price": "1"}, id="market-with-price"
    ),
    pytest.param(_ORDERS, {**_MARKET, "strategy": "TWAP"}, id="twap-without-duration"),
    pytest.param(
        _ORDERS,
        {**_MARKET, "strategy": "TWAP", "duration": 60, "schedule_discretion": "0.6"},
        id="discretion-above-0.5",
    ),
    pytest.param(
        _ORDERS,
        {**_MARKET, "strategy": "VWAP", "duration": 60, "is_reverse_limit_price": True},
        id="reverse-without-limit",
    ),
    pytest.param(
        _ORDERS,
        {**_MARKET, "strategy": "TWAP", "duration": 60, "start_datetime": "2026-01-02T00:00:00"},
        id="naive-start",
    ),
    pytest.param(
        _ORDERS,
        {**_MARKET, "strategy": "TWAP", "duration": 60, "updated_leverage": 2.5},
        id="fractional-leverage",
    ),
    pytest.param(
        _ORDERS,
        {**_MARKET, "strategy": "TWAP", "duration": 60, "strategy_params": {"dicy": "on"}},
        id="strategy-param-type",
    ),
    pytest.param(
        _MULTI,
        {"accounts": ["mock"], "duration": 60, "strategy": "Market", "child_orders": _LEGS},
        id="multi-simple-strategy",
    ),
    pytest.param(
        _MULTI,
        {
            "accounts": ["mock"],
            "duration": 60,
            "strategy": "TWAP",
            "schedule_discretion": "0.75",
            "strategy_params": {"max_clip_size": 0},
            "child_orders": _LEGS,
        },
        id="multi-discretion-and-params",
    ),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("endpoint", "body"), REFUSED_BODIES)
async def test_the_sandbox_refuses_what_the_sdk_refuses(
    endpoint: tuple[str, type], body: dict[str, Any]
) -> None:
    path, model = endpoint
    with pytest.raises(RequestValidationError) as sdk:
        # As JSON reads it (2.5 is a Decimal there), so the messages match word for word.
        model(**decode_json(json.dumps(body)))
    sandbox = Sandbox()
    async with sandbox.client() as client:
        with pytest.raises(BadRequestError) as server:
            await client.request("POST", path, json=body)
    assert server.value.field_errors == sdk.value.errors
    assert not sandbox.engine.orders
    assert not sandbox.engine.multis


#: Bodies the docs describe as valid (API-FACTS §3.1, §3.6), which 1.2.9 refused or never sent.
ACCEPTED_BODIES = [
    pytest.param(_ORDERS, {**_MARKET, "strategy": "Market"}, id="market"),
    pytest.param(_ORDERS, {**_MARKET, "strategy": "IOC"}, id="ioc"),
    pytest.param(_ORDERS, {**_MARKET, "strategy": "Iceberg", "limit_price": "5000"}, id="iceberg"),
    pytest.param(
        _ORDERS,
        {
            **_MARKET,
            "strategy": "TWAP",
            "pov_target": "0.1",
            "is_reverse_limit_price": True,
            "limit_price": "1",
            "start_datetime": "2026-01-01T00:05:00+00:00",
            "strategy_params": {"passive_only": True, "max_clip_size": 3, "future_flag": 1},
        },
        id="twap-documented-fields",
    ),
    pytest.param(
        _MULTI,
        {
            "accounts": ["mock"],
            "duration": 60,
            "strategy": "VWAP",
            "alpha_tilt": "-0.5",
            "exposure_tolerance": "0.2",
            "strategy_params": {"reduce_only": False},
            "child_orders": [*_LEGS, {"pair": "SOL-USDT", "side": "sell", "quote_asset_qty": "10"}],
        },
        id="multi-vwap",
    ),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("endpoint", "body"), ACCEPTED_BODIES)
async def test_the_sandbox_accepts_what_the_sdk_accepts(
    endpoint: tuple[str, type], body: dict[str, Any]
) -> None:
    path, model = endpoint
    expected = model(**body)
    sandbox = Sandbox()
    async with sandbox.client() as client:
        reply = await client.request("POST", path, json=body)
    assert isinstance(reply, dict)
    placed = sandbox.engine.multis if model is PlaceMultiOrderRequest else sandbox.engine.orders
    stored = placed[reply["id"]].request
    assert stored == attrs.evolve(expected, custom_order_id=stored.custom_order_id)
    sandbox.advance(3600)  # and it runs to its end
    assert all(o.is_terminal for o in sandbox.engine.orders.values())
