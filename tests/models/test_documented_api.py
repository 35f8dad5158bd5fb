"""The SDK against the TaaS documentation, one documented rule or field per test.

Each test names the section of the API facts (``API-FACTS §3.1`` and so on)
that states what it checks, so that a change to the documented contract
leads straight to the tests that hold it. Requests are checked before
anything is sent and as they go on the wire; replies are read from the
documentation's own examples under the strict converter (an unknown key is an
error), so no documented field can be lost.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import attrs
import httpx
import pytest
import respx
from conftest import load, load_json

from taas_async import (
    AsyncClient,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    MultiOrder,
    MultiOrdersPage,
    MultiOrderStatus,
    Order,
    OrderStatus,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    PosSide,
    RequestValidationError,
    ResponseDecodeError,
    Strategy,
    StrategyParams,
)
from taas_async._codec import decode_json
from taas_async._converter import ShapeError, make_converter, structure, to_query, to_wire
from taas_async._requests import ALGORITHM_ONLY

STRICT = make_converter(forbid_extra_keys=True)
UTC = dt.timezone.utc
SIMPLE = [Strategy.MARKET, Strategy.LIMIT, Strategy.IOC, Strategy.ICEBERG]
ALGORITHMIC = [Strategy.TWAP, Strategy.VWAP, Strategy.IS, Strategy.TARGET_TIME]
BASE: dict[str, Any] = {
    "accounts": ["mock"],
    "pair": "ETH-USDT",
    "side": "buy",
    "base_asset_qty": "1",
}
#: A valid value of each field only algorithmic orders use.
ALGORITHM_VALUES: dict[str, Any] = {
    "duration": 300,
    "start_datetime": dt.datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
    "engine_passiveness": "0.1",
    "schedule_discretion": "0.08",
    "alpha_tilt": "0.5",
    "pov_target": "0.1",
    "pov_limit": "0.2",
    "is_reverse_limit_price": True,
}


def simple(strategy: Strategy, **changes: Any) -> dict[str, Any]:
    """A valid simple order: Limit and Iceberg with their limit price."""
    fields = {**BASE, "strategy": strategy}
    if strategy in (Strategy.LIMIT, Strategy.ICEBERG):
        fields["limit_price"] = "2500"
    return {**fields, **changes}


def algorithmic(**changes: Any) -> dict[str, Any]:
    return {**BASE, "strategy": "TWAP", "duration": 300, **changes}


def refused(**fields: Any) -> dict[str, list[str]]:
    """The per-field errors of a request the SDK refuses."""
    with pytest.raises(RequestValidationError) as info:
        PlaceOrderRequest(**fields)
    return info.value.errors


# --------------------------------------------------------------------------- §3.1 simple orders


def test_api_facts_3_1_a_market_order_is_placed_as_documented() -> None:
    """API-FACTS §3.1: a Market order needs no duration or any time field."""
    request = PlaceOrderRequest(
        accounts=["mock"], pair="ETH-USDT", side="buy", base_asset_qty=1, strategy="Market"
    )
    assert to_wire(request) == {
        "accounts": ["mock"],
        "pair": "ETH-USDT",
        "side": "buy",
        "base_asset_qty": "1",
        "strategy": "Market",
    }


@pytest.mark.parametrize("strategy", SIMPLE, ids=str)
def test_api_facts_3_1_simple_orders_need_no_time_field(strategy: Strategy) -> None:
    """API-FACTS §3.1: Market, Limit, IOC and Iceberg do not use duration or pov_target."""
    wire = to_wire(PlaceOrderRequest(**simple(strategy)))
    assert not set(wire) & set(ALGORITHM_ONLY)
    assert wire["strategy"] == strategy.value


@pytest.mark.parametrize("field", ALGORITHM_ONLY)
@pytest.mark.parametrize("strategy", SIMPLE, ids=str)
def test_api_facts_3_1_each_algorithm_only_field_is_refused_on_a_simple_order(
    strategy: Strategy, field: str
) -> None:
    """API-FACTS §3.1: "should not be sent" for a simple order; named, and why."""
    errors = refused(**simple(strategy, **{field: ALGORITHM_VALUES[field]}))
    assert errors == {
        field: [f"not used by {strategy.value} orders (a simple order): leave it out"]
    }


def test_api_facts_3_1_every_algorithm_only_field_is_named_at_once() -> None:
    """API-FACTS §3.1: all the misplaced fields of one request are named in one error."""
    errors = refused(**simple(Strategy.LIMIT, **ALGORITHM_VALUES))
    assert set(errors) == set(ALGORITHM_ONLY)


def test_api_facts_3_1_the_documented_not_used_list_is_covered() -> None:
    """API-FACTS §3.1 lists the fields simple orders do not use; the SDK refuses each."""
    documented = {
        "duration",
        "start_datetime",
        "engine_passiveness",
        "schedule_discretion",
        "alpha_tilt",
        "pov_target",
        "pov_limit",
    }
    # is_reverse_limit_price is documented under algorithmic orders only.
    assert set(ALGORITHM_ONLY) == documented | {"is_reverse_limit_price"}


@pytest.mark.parametrize("strategy", [Strategy.LIMIT, Strategy.ICEBERG], ids=str)
def test_api_facts_3_1_and_8_limit_and_iceberg_need_a_limit_price(strategy: Strategy) -> None:
    """API-FACTS §3.1/§8.4 (the docs are cut): Limit or Iceberg without a price is refused."""
    fields = simple(strategy)
    del fields["limit_price"]
    assert refused(**fields) == {"limit_price": [f"required for {strategy.value} orders"]}


def test_api_facts_3_1_and_8_ioc_takes_a_limit_price_or_none() -> None:
    """API-FACTS §3.1/§8.4: IOC fills what it can at once; a limit price is optional."""
    assert PlaceOrderRequest(**simple(Strategy.IOC)).limit_price is None
    assert PlaceOrderRequest(**simple(Strategy.IOC, limit_price="2500")).limit_price == 2500


def test_api_facts_3_1_a_market_order_refuses_a_limit_price() -> None:
    """API-FACTS §3.1 ("fills at once at the best available price"): no price to honour."""
    errors = refused(**simple(Strategy.MARKET, limit_price="2500"))
    assert list(errors) == ["limit_price"]
    assert "use Limit or IOC" in errors["limit_price"][0]


def test_api_facts_3_1_simple_order_optional_fields_are_sent() -> None:
    """API-FACTS §3.1: notes, custom_order_id, pos_side, updated_leverage, market_type."""
    request = PlaceOrderRequest(
        **simple(
            Strategy.MARKET,
            pair="ETH:PERP-USDT",
            notes="hedge",
            custom_order_id="desk-7",
            pos_side="short",
            updated_leverage=5,
            market_type="perp",
        )
    )
    assert request.pos_side is PosSide.SHORT
    wire = to_wire(request)
    assert {k: wire[k] for k in ("notes", "custom_order_id", "pos_side", "market_type")} == {
        "notes": "hedge",
        "custom_order_id": "desk-7",
        "pos_side": "short",
        "market_type": "perp",
    }
    assert wire["updated_leverage"] == 5


def test_api_facts_3_1_and_6_custom_order_id_is_at_most_64_characters() -> None:
    """API-FACTS §3.1/§6: custom_order_id is a string of at most 64 characters."""
    assert PlaceOrderRequest(**simple(Strategy.MARKET, custom_order_id="x" * 64))
    assert list(refused(**simple(Strategy.MARKET, custom_order_id="x" * 65))) == ["custom_order_id"]


# --------------------------------------------------------------------------- §3.1 algorithmic


@pytest.mark.parametrize("strategy", ALGORITHMIC, ids=str)
def test_api_facts_3_1_an_algorithmic_order_needs_duration_or_pov_target(
    strategy: Strategy,
) -> None:
    """API-FACTS §3.1: duration (seconds), required unless pov_target is given."""
    fields = {**BASE, "strategy": strategy}
    assert refused(**fields) == {"duration, pov_target": ["one of them is required"]}
    assert PlaceOrderRequest(**fields, duration=60).duration == 60
    assert PlaceOrderRequest(**fields, pov_target="0.1").pov_target == Decimal("0.1")


@pytest.mark.parametrize(
    ("field", "inside", "outside"),
    [
        ("engine_passiveness", ["0", "0.8", "1"], ["-0.01", "1.01"]),
        ("schedule_discretion", ["0.02", "0.5"], ["0.019", "0.51", "1"]),
        ("alpha_tilt", ["-1", "0.5", "1"], ["-1.01", "1.01"]),
        ("pov_target", ["0.1", "1"], ["0", "1.01"]),
        ("pov_limit", ["0.1", "1"], ["0", "1.01"]),
    ],
)
def test_api_facts_3_1_documented_ranges(field: str, inside: list[str], outside: list[str]) -> None:
    """API-FACTS §3.1: engine_passiveness 0-1, schedule_discretion 0.02-0.5, alpha_tilt -1-1,
    pov_target and pov_limit fractions of market volume."""
    for value in inside:
        assert getattr(PlaceOrderRequest(**algorithmic(**{field: value})), field) == Decimal(value)
    for value in outside:
        assert list(refused(**algorithmic(**{field: value}))) == [field], value


def test_api_facts_3_1_is_reverse_limit_price_needs_a_limit_price() -> None:
    """API-FACTS §3.1: is_reverse_limit_price trades only at prices worse than limit_price."""
    assert refused(**algorithmic(is_reverse_limit_price=True)) == {
        "is_reverse_limit_price": ["needs a limit_price"]
    }
    wire = to_wire(PlaceOrderRequest(**algorithmic(is_reverse_limit_price=True, limit_price="1")))
    assert wire["is_reverse_limit_price"] is True
    assert wire["limit_price"] == "1"
    assert list(refused(**algorithmic(is_reverse_limit_price="yes"))) == ["is_reverse_limit_price"]


def test_api_facts_3_1_start_datetime_is_aware_and_sent_as_iso_8601() -> None:
    """API-FACTS §3.1: start_datetime, a time; naive ones are refused, not guessed."""
    start = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    wire = to_wire(PlaceOrderRequest(**algorithmic(start_datetime=start)))
    assert wire["start_datetime"] == "2026-12-01T09:30:00+02:00"
    text = PlaceOrderRequest(**algorithmic(start_datetime="2026-12-01T07:30:00Z"))
    assert text.start_datetime == start
    assert list(refused(**algorithmic(start_datetime=dt.datetime(2026, 12, 1)))) == [
        "start_datetime"
    ]


def test_api_facts_3_1_the_other_algorithmic_fields_are_sent_with_their_types() -> None:
    """API-FACTS §3.1: pov_limit, market_type, order_condition(_expiry), max_otc,
    updated_leverage and pos_side go on the wire as documented (decimals as strings)."""
    request = PlaceOrderRequest(
        **algorithmic(
            pair="ETH:PERP-USDT",
            pov_limit="0.25",
            market_type="perp",
            order_condition="ETH-USDT@Binance 2500 <",
            order_condition_expiry=dt.datetime(2026, 12, 2, tzinfo=UTC),
            max_otc="1000.5",
            updated_leverage=3,
            pos_side="long",
        )
    )
    wire = to_wire(request)
    assert {k: wire[k] for k in wire if k not in BASE} == {
        "strategy": "TWAP",
        "duration": 300,
        "pov_limit": "0.25",
        "market_type": "perp",
        "order_condition": "ETH-USDT@Binance 2500 <",
        "order_condition_expiry": "2026-12-02T00:00:00+00:00",
        "max_otc": "1000.5",
        "updated_leverage": 3,
        "pos_side": "long",
    }


def test_api_facts_3_1_strategy_params_has_the_documented_keys() -> None:
    """API-FACTS §3.1 StrategyParams: seven booleans and max_clip_size, every one optional."""
    assert [a.name for a in attrs.fields(StrategyParams)] == [
        "passive_only",
        "active_limit",
        "reduce_only",
        "ool_pause",
        "strict_duration",
        "dicy",
        "spot_leverage",
        "max_clip_size",
    ]
    params = StrategyParams(passive_only=True, strict_duration=False, max_clip_size=5)
    wire = to_wire(PlaceOrderRequest(**algorithmic(strategy_params=params)))
    # Unset keys are left out, as for every request field.
    assert wire["strategy_params"] == {
        "passive_only": True,
        "strict_duration": False,
        "max_clip_size": 5,
    }


def test_api_facts_3_1_strategy_params_as_a_dict_passes_unknown_keys_through() -> None:
    """API-FACTS §3.1: strategy_params is an object; keys the SDK does not know still reach it."""
    params = {"reduce_only": True, "new_engine_flag": {"level": 2}}
    wire = to_wire(PlaceOrderRequest(**algorithmic(strategy_params=params)))
    assert wire["strategy_params"] == params


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"passive_only": "yes"}, "strategy_params.passive_only"),
        ({"max_clip_size": 0}, "strategy_params.max_clip_size"),
        ({"max_clip_size": "1.5"}, "strategy_params.max_clip_size"),
    ],
)
def test_api_facts_3_1_documented_strategy_params_keys_are_checked_in_a_dict(
    params: dict[str, Any], field: str
) -> None:
    """API-FACTS §3.1: the documented keys have documented types, given as a dict too."""
    assert list(refused(**algorithmic(strategy_params=params))) == [field]


def test_api_facts_3_1_strategy_params_dict_values_go_out_as_documented() -> None:
    """API-FACTS §3.1: max_clip_size is an integer; given as a Decimal, it is sent as one."""
    params = {"max_clip_size": Decimal("5"), "other": Decimal("1.5")}
    wire = to_wire(PlaceOrderRequest(**algorithmic(strategy_params=params)))
    assert wire["strategy_params"] == {"max_clip_size": 5, "other": "1.5"}
    assert type(wire["strategy_params"]["max_clip_size"]) is int


def test_api_facts_3_1_a_strategy_params_dict_changed_later_is_checked_before_sending() -> None:
    """API-FACTS §3.1: the documented keys keep their types after construction too."""
    params: dict[str, Any] = {"dicy": True}
    request = PlaceOrderRequest(**algorithmic(strategy_params=params))
    assert request.strategy_params is not None
    assert isinstance(request.strategy_params, dict)
    request.strategy_params["dicy"] = "on"
    with pytest.raises(RequestValidationError) as info:
        request.validate()
    assert list(info.value.errors) == ["strategy_params.dicy"]


@pytest.mark.parametrize("field", ["passive_only", "dicy"])
def test_api_facts_3_1_strategy_params_booleans_are_booleans(field: str) -> None:
    """API-FACTS §3.1: the flags are bool; 1 or "true" is not taken for one."""
    for value in (1, "true"):
        with pytest.raises(RequestValidationError) as info:
            StrategyParams(**{field: value})
        assert list(info.value.errors) == [field]


# --------------------------------------------------------------------------- §3.1 replies


def test_api_facts_3_1_the_order_reply_example_structures_with_no_field_lost() -> None:
    """API-FACTS §3.1 (reply example): every key typed, exact decimals, -1 prices None."""
    body = load_json("seed_order.json")
    order = structure(decode_json(load("seed_order.json")), Order, using=STRICT)
    assert set(body) <= {a.name for a in attrs.fields(Order)} | {"parent_order"}
    assert order.sell_token_amount == Decimal("9890.25")
    assert str(order.engine_passiveness) == "0.02000000000000000000"
    assert order.limit_price is None
    assert order.raw["limit_price"] == "-1.00000000000000000000"
    assert order.stop_price is None
    assert order.raw["stop_price"] == "-1.00000000000000000000"
    assert order.executed_qty == 0
    assert order.created_at is not None
    assert order.created_at.tzinfo is not None
    assert order.user == "2"


# --------------------------------------------------------------------------- §3.2 the orders list


def test_api_facts_3_2_list_items_carry_the_documented_fields_typed() -> None:
    """API-FACTS §3.2: parent_order_id, batch_order_id, batch_order_strategy, exchanges,
    average_executed_price and total_fee, each typed; notes may be null."""
    item = {
        "id": "0b9c2d4e-1111-4222-8333-944455556666",
        "custom_order_id": "",
        "parent_order_id": "397e42c1-9c4e-4d55-a2c3-0b6f0d1a2b3c",
        "batch_order_id": "5ee11fdd-2f3a-4b6c-8d9e-0a1b2c3d4e5f",
        "batch_order_strategy": "Scale Orders",
        "notes": None,
        "pair": "BTC:PERP-USD",
        "side": "sell",
        "exchanges": ["Binance", "OKX"],
        "buy_token": "USD",
        "average_executed_price": "97000.12500000000000000000",
        "total_fee": "3.14150000000000000000",
    }
    order = structure(decode_json(json.dumps(item)), Order, using=STRICT)
    assert order.parent_order_id == item["parent_order_id"]
    assert order.batch_order_id == item["batch_order_id"]
    assert order.batch_order_strategy == "Scale Orders"
    assert order.exchanges == ["Binance", "OKX"]
    assert order.average_executed_price == Decimal("97000.125")
    assert order.total_fee == Decimal("3.1415")
    assert order.notes is None
    assert order.custom_order_id is None


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (["ACTIVE", "COMPLETED", "CANCELED"], "ACTIVE,COMPLETE,CANCELED"),
        ([OrderStatus.COMPLETE], "COMPLETE"),
    ],
)
def test_api_facts_3_2_and_4_completed_filters_as_complete(given: list[Any], sent: str) -> None:
    """API-FACTS §3.2/§4: the docs' filter example says COMPLETED; the status is COMPLETE."""
    assert to_query(GetOrdersRequest(statuses=given)) == {"statuses": sent}
    assert to_query(GetMultiOrdersRequest(statuses=given)) == {"statuses": sent}


def test_api_facts_3_2_filters_are_comma_joined_and_iso_8601() -> None:
    """API-FACTS §3.2: statuses, account_names and custom_order_ids comma-separated;
    before and after in ISO 8601; page 1-based."""
    query = to_query(
        GetOrdersRequest(
            statuses=["ACTIVE", "PAUSED"],
            account_names=["mock", "alice/okx"],
            custom_order_ids=["a", "b"],
            after=dt.datetime(2026, 1, 1, tzinfo=UTC),
            page=1,
            page_size=100,
        )
    )
    assert query == {
        "statuses": "ACTIVE,PAUSED",
        "account_names": "mock,alice/okx",
        "custom_order_ids": "a,b",
        "after": "2026-01-01T00:00:00+00:00",
        "page": "1",
        "page_size": "100",
    }
    with pytest.raises(RequestValidationError) as info:
        GetOrdersRequest(page=0)
    assert list(info.value.errors) == ["page"]


# --------------------------------------------------------------------------- §3.6 multi orders


def docs_multi() -> MultiOrder:
    return structure(decode_json(load("docs_multi_order.json")), MultiOrder, using=STRICT)


def test_api_facts_3_6_the_docs_example_reply_structures_with_no_field_lost() -> None:
    """API-FACTS §3.6: every key of the GET example is a typed field (strict: none unknown)."""
    example = load_json("docs_multi_order.json")
    assert set(example) <= {a.name for a in attrs.fields(MultiOrder)}
    multi = docs_multi()
    assert multi.duration == 600
    assert multi.start_datetime == dt.datetime(2025, 1, 13, 20, 33, 22, 325031, tzinfo=UTC)
    assert multi.exposure_tolerance == Decimal("0.5")
    assert multi.alpha_tilt == 0
    assert (multi.pov_limit, multi.limit_price_spread, multi.order_condition_expiry) == (
        None,
        None,
        None,
    )
    assert multi.order_condition == "ETH-USDT@Binance ETH:PERP-USDT@Binance - 1 >"
    assert multi.order_condition_vars == {}
    assert (multi.is_active, multi.is_paused, multi.completely_filled) == (False, False, True)
    assert multi.account_names == ["mock"]
    assert multi.user == "13"
    assert multi.child_order_ids == example["child_order_ids"]
    assert multi.raw == decode_json(load("docs_multi_order.json"))


def test_api_facts_3_6_numbers_are_read_exactly() -> None:
    """API-FACTS §3.6: notional_exposure, executed_notional and pct_filled are JSON numbers;
    read as the exact decimals written, never through a float."""
    multi = docs_multi()
    assert multi.notional_exposure == Decimal("34.554926518")
    assert multi.executed_notional == Decimal("93712.607473482")
    assert multi.pct_filled == Decimal("100.0")
    assert all(
        type(x) is Decimal
        for x in (multi.notional_exposure, multi.executed_notional, multi.pct_filled)
    )


def test_api_facts_3_6_calculated_status_is_the_state_to_go_by() -> None:
    """API-FACTS §3.6/§4: status SCHEDULED, calculated_status COMPLETE: it is complete."""
    multi = docs_multi()
    assert multi.status is MultiOrderStatus.SCHEDULED
    assert multi.calculated_status is MultiOrderStatus.COMPLETE
    assert multi.effective_status is MultiOrderStatus.COMPLETE
    assert multi.is_terminal
    # Without calculated_status (the POST reply), status is all there is.
    submitted = structure({"id": "m", "status": "SUBMITTED"}, MultiOrder)
    assert submitted.effective_status is MultiOrderStatus.SUBMITTED
    assert not submitted.is_terminal


def test_api_facts_3_6_comma_joined_fields_are_offered_as_lists() -> None:
    """API-FACTS §3.6: pairs joined with ",", the others with ", "; one entry per leg."""
    multi = docs_multi()
    assert multi.pairs == "BTC-USDT,BTC:PERP-USDT"  # as sent
    assert multi.pair_list == ["BTC-USDT", "BTC:PERP-USDT"]
    assert multi.buy_token_list == ["USDT", "BTC:PERP"]
    assert multi.sell_token_list == ["BTC", "USDT"]
    assert multi.sell_token_amount_list == [Decimal("0.5"), Decimal("46871.6654")]
    assert [str(x) for x in multi.sell_token_amount_list] == [
        "0.50000000000000000000",
        "46871.66540000000000000000",
    ]


@pytest.mark.parametrize(
    ("joined", "items"),
    [
        ("A,B", ["A", "B"]),
        ("A, B", ["A", "B"]),
        ("A", ["A"]),
        ("", []),
        (None, []),
    ],
)
def test_api_facts_3_6_both_separators_split_alike(joined: str | None, items: list[str]) -> None:
    """API-FACTS §3.6: "," and ", " both separate legs."""
    multi = MultiOrder(id="m", pairs=joined, buy_token=joined, sell_token=joined)
    assert multi.pair_list == multi.buy_token_list == multi.sell_token_list == items


@pytest.mark.parametrize("joined", ["0.5, lots", "0.5, ", "0.5,,1", " "])
def test_api_facts_3_6_a_leg_amount_that_is_not_a_number_is_a_decode_error(joined: str) -> None:
    """API-FACTS §3.6: sell_token_amount holds decimals; a bad one is named, body kept.

    An empty leg too: it structured, then ``sell_token_amount_list`` raised
    ``decimal.InvalidOperation`` on a reply the SDK had accepted.
    """
    body = {**load_json("docs_multi_order.json"), "sell_token_amount": joined}
    with pytest.raises(ShapeError) as info:
        structure(body, MultiOrder)
    assert any(e.endswith("@ $.sell_token_amount") for e in info.value.errors)


@pytest.mark.asyncio
async def test_api_facts_3_6_a_leg_amount_that_is_not_a_number_fails_the_call(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    """API-FACTS §3.6: through the client, a ResponseDecodeError keeping the raw body."""
    text = load("docs_multi_order.json").replace("46871.66540000000000000000", "lots")
    mock_api.get("multi_order/m1").respond(200, text=text, content_type="application/json")
    with pytest.raises(ResponseDecodeError) as info:
        await client.get_multi_order("m1")
    assert any(e.endswith("@ $.sell_token_amount") for e in info.value.errors)
    assert info.value.text == text


def test_api_facts_3_6_the_submit_reply_example_structures_with_no_field_lost() -> None:
    """API-FACTS §3.6 (POST reply): SUBMITTED, and time_start where GET says start_datetime."""
    example = load_json("seed_multi_order.json")
    multi = structure(decode_json(load("seed_multi_order.json")), MultiOrder, using=STRICT)
    assert set(example) <= {a.name for a in attrs.fields(MultiOrder)}
    assert multi.status is MultiOrderStatus.SUBMITTED
    assert multi.time_start == dt.datetime(2023, 8, 15, 8, 36, 15, 357630, tzinfo=UTC)
    assert multi.start_datetime is None
    assert multi.schedule_discretion == Decimal("0.08")


@pytest.mark.asyncio
async def test_api_facts_3_6_include_child_orders_is_false_unless_asked(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    """API-FACTS §3.6: include_child_orders (boolean, default false) adds the children."""
    route = mock_api.get("multi_order/m1").respond(200, json={"id": "m1"})
    assert (await client.get_multi_order("m1")).child_orders == []
    assert dict(route.calls.last.request.url.params) == {}  # the default is the server's
    child = load_json("seed_order.json")
    route.respond(200, json={"id": "m1", "child_orders": [child, {**child, "id": "c2"}]})
    multi = await client.get_multi_order("m1", include_child_orders=True)
    assert dict(route.calls.last.request.url.params) == {"include_child_orders": "true"}
    assert [type(o) for o in multi.child_orders] == [Order, Order]
    assert [o.id for o in multi.child_orders] == [child["id"], "c2"]
    assert multi.child_orders[0].sell_token_amount == Decimal("9890.25")


@pytest.mark.parametrize("strategy", SIMPLE, ids=str)
def test_api_facts_3_6_and_8_a_multi_order_runs_an_algorithmic_strategy(
    strategy: Strategy,
) -> None:
    """API-FACTS §3.6/§8.9 (multi submit docs are cut): a multi order has a duration and an
    exposure tolerance, a schedule no simple order has: a simple strategy is refused."""
    legs = [{"pair": "ETH-USDT", "side": "buy", "base_asset_qty": "1"}]
    with pytest.raises(RequestValidationError) as info:
        PlaceMultiOrderRequest(accounts=["mock"], duration=60, strategy=strategy, child_orders=legs)
    assert list(info.value.errors) == ["strategy"]
    assert "place simple orders with place_order(s)" in info.value.errors["strategy"][0]
    assert PlaceMultiOrderRequest(
        accounts=["mock"], duration=60, strategy="VWAP", child_orders=legs
    )


@pytest.mark.asyncio
async def test_api_facts_3_6_include_child_orders_must_be_a_boolean(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    """API-FACTS §3.6: a boolean; anything else is refused before sending."""
    route = mock_api.get("multi_order/m1").respond(200, json={"id": "m1"})
    for value in ("yes", 0, 1, ""):
        with pytest.raises(RequestValidationError) as info:
            await client.get_multi_order("m1", include_child_orders=value)  # type: ignore[arg-type]
        assert list(info.value.errors) == ["include_child_orders"]
    assert not route.called


@pytest.mark.asyncio
async def test_api_facts_3_6_the_multi_orders_list_pages_by_page_number(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    """API-FACTS §3.6: GET /api/multi_orders/ filters by custom_order_ids, statuses, before,
    after, pages by page_number (not page) and page_size, and takes include_child_orders."""
    seen: list[dict[str, str]] = []

    def pages(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        number = int(request.url.params.get("page_number", "1"))
        return httpx.Response(
            200, json={"multi_orders": [{"id": f"m{number}"}], "count": 2, "num_pages": 2}
        )

    mock_api.get("multi_orders/").mock(side_effect=pages)
    request = GetMultiOrdersRequest(
        statuses=["ACTIVE"],
        custom_order_ids=["x"],
        before="2026-12-01T00:00:00Z",
        include_child_orders=True,
        page_size=1,
    )
    page = await client.get_multi_orders(request)
    assert type(page) is MultiOrdersPage
    assert [m.id for m in page] == ["m1"]
    assert [m.id async for m in client.iter_multi_orders(request)] == ["m1", "m2"]
    assert seen[-1] == {
        "statuses": "ACTIVE",
        "custom_order_ids": "x",
        "before": "2026-12-01T00:00:00+00:00",
        "include_child_orders": "true",
        "page_number": "2",
        "page_size": "1",
    }
    assert all("page" not in query for query in seen)
    assert "page" not in {a.name for a in attrs.fields(GetMultiOrdersRequest)}


def test_api_facts_4_multi_order_status_is_open_and_knows_submitted_and_scheduled() -> None:
    """API-FACTS §4: ACTIVE, COMPLETE, CANCELED, PAUSED documented; SUBMITTED and SCHEDULED
    seen; anything else stays a str."""
    assert {s.value for s in MultiOrderStatus} == {
        "SUBMITTED",
        "SCHEDULED",
        "ACTIVE",
        "PAUSED",
        "COMPLETE",
        "CANCELED",
    }
    multi = structure({"id": "m", "status": "ARCHIVED", "calculated_status": "ACTIVE"}, MultiOrder)
    assert multi.status == "ARCHIVED"
    assert type(multi.status) is str
    assert multi.calculated_status is MultiOrderStatus.ACTIVE


def test_api_facts_4_terminal_statuses() -> None:
    """API-FACTS §4: COMPLETE ("done") and CANCELED are the end; FINISHER is still running."""
    assert {s for s in OrderStatus if s.is_terminal} == {
        OrderStatus.COMPLETE,
        OrderStatus.CANCELED,
    }
    assert {s for s in MultiOrderStatus if s.is_terminal} == {
        MultiOrderStatus.COMPLETE,
        MultiOrderStatus.CANCELED,
    }
    assert not structure({"id": "o", "status": "FINISHER"}, Order).is_terminal
    assert not structure({"id": "o", "status": "SOMETHING_NEW"}, Order).is_terminal


# --------------------------------------------------------------------------- §6 ids


@pytest.mark.parametrize("model", [Order, MultiOrder])
def test_api_facts_6_an_empty_custom_order_id_is_none(model: type[Order | MultiOrder]) -> None:
    """API-FACTS §6: custom_order_id comes back as "" when not given: read as None."""
    read = structure({"id": "x", "custom_order_id": ""}, model)
    assert read.custom_order_id is None
    assert read.raw["custom_order_id"] == ""
    assert structure({"id": "x", "custom_order_id": "desk-7"}, model).custom_order_id == "desk-7"
