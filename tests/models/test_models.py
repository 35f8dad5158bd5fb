"""Replies to models: the seed examples without loss, and forward compatibility.

The seed's order, multi order and balances replies structure into typed
models with exact decimals (no float anywhere), aware datetimes, ``-1``
prices as None, and every key reachable. Unknown keys and values, loose
types and timestamp variants are tolerated (a naive timestamp is read in the
reply's own ``time_zone``); wrong shapes fail with JSON-path messages.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import attrs
import pytest
import respx
from conftest import load

from taas_async import (
    ActionResult,
    Asset,
    AsyncClient,
    Balance,
    ChainedOrder,
    CloseBalancesResult,
    MultiOrder,
    MultiOrderStatus,
    Order,
    OrderMessage,
    OrdersPage,
    OrderStatus,
    OrderSummary,
    PosSide,
    ResponseDecodeError,
    Side,
    Strategy,
    _converter,
)
from taas_async._codec import decode_json
from taas_async._converter import ShapeError, make_converter, structure

UTC = dt.timezone.utc
STRATEGY_UUID = "6fe4ba3e-c578-45bd-824c-c523bf3c56de"


def seed_text(name: str) -> str:
    return load(name)


# --------------------------------------------------------------------------- helpers


def find_floats(value: Any, path: str = "$") -> list[str]:
    """Paths of every float inside ``value``: attrs models (including ``raw``), dicts, lists."""
    if isinstance(value, float):
        return [path]
    found: list[str] = []
    if attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            found += find_floats(getattr(value, field.name), f"{path}.{field.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += find_floats(key, f"{path}[{key!r}] (key)")
            found += find_floats(item, f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            found += find_floats(item, f"{path}[{index}]")
    return found


def test_find_floats_sees_floats_everywhere() -> None:
    # The no-float checks below are only as good as this walker.
    order = structure({"id": "x", "strategy_params": {"a": [1, {"b": Decimal(1)}]}}, Order)
    assert find_floats(order) == []
    object.__setattr__(order, "raw", {"deep": [{"x": 0.5}]})
    assert find_floats(order) == ["$.raw['deep'][0]['x']"]
    planted = Order(id="y", strategy_params={"p": 1.5}, placements=[2.5])
    assert find_floats(planted) == ["$.strategy_params['p']", "$.placements[0]"]
    assert find_floats({"k": (1, 2.0)}) == ["$['k'][1]"]


def assert_decimal(value: Any, expected: str, *, exact_text: bool = False) -> None:
    assert isinstance(value, Decimal), f"{value!r} is {type(value).__name__}"
    assert value == Decimal(expected)
    if exact_text:
        assert str(value) == expected


def assert_every_key_reachable(model: Any, seed: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every seed key: an attribute with the expected typed value, else kept in ``raw``."""
    names = {f.name for f in attrs.fields(type(model))}
    assert model.raw == seed
    for key, seed_value in seed.items():
        if key in names:
            assert key in expected, f"no expectation for modelled key {key!r}"
            actual = getattr(model, key)
            assert actual == expected[key], key
            assert type(actual) is type(expected[key]), key
        else:
            assert key not in expected, f"{key!r} is not modelled"
            assert model.raw[key] == seed_value
    assert set(expected) <= set(seed), "expectations for keys the seed does not have"


# --------------------------------------------------------------------------- the seeds


SEED_ORDER_EXPECTED: dict[str, Any] = {
    "id": "d3ca321a-d25c-4cee-8a0f-3f74d239c90d",
    "parent_order": None,
    "created_at": dt.datetime(2023, 8, 8, 23, 54, 7, 659244, tzinfo=UTC),
    "buy_token": "ETH",
    "sell_token": "USDT",
    "pair": "ETH-USDT",
    "side": Side.BUY,
    "sell_token_amount": Decimal("9890.25"),
    "strategy": STRATEGY_UUID,
    "strategy_params": {},
    "limit_price": None,
    "time_start": dt.datetime(2023, 8, 8, 23, 54, 6, 300319, tzinfo=UTC),
    "time_end": dt.datetime(2023, 8, 8, 23, 59, 6, 300319, tzinfo=UTC),
    "duration": 300,
    "accounts": ["09d3144b-9359-4ec3-8772-2dd1bfb86652"],
    "account_names": ["mock"],
    "user": "2",
    "time_zone": "UTC",
    "placements": [],
    "executed_qty": Decimal(0),
    "executed_price": None,
    "executed_notional": Decimal(0),
    "active": True,
    "status": OrderStatus.ACTIVE,
    "engine_passiveness": Decimal("0.02"),
    "schedule_discretion": Decimal("0.08"),
    "failure_reason": "",
    "stop_price": None,
    "notes": "",
    "custom_order_id": None,  # the server's "" for none, as for every unset field (API-FACTS 6)
    "updated_leverage": None,
}

SEED_MULTI_EXPECTED: dict[str, Any] = {
    "id": "626c4202-a046-401a-bf23-f3805f593c21",
    "created_at": dt.datetime(2023, 8, 15, 8, 36, 15, 366052, tzinfo=UTC),
    "updated_at": dt.datetime(2023, 8, 15, 8, 36, 15, 366061, tzinfo=UTC),
    "time_start": dt.datetime(2023, 8, 15, 8, 36, 15, 357630, tzinfo=UTC),
    "duration": 200,
    "child_order_ids": [
        "be508fb9-ee63-4a90-93eb-58dbdaf03378",
        "9d732e1f-e935-487b-93ac-b58e2b2896e4",
    ],
    "strategy": STRATEGY_UUID,
    "strategy_params": {},
    "engine_passiveness": Decimal("0.02"),
    "schedule_discretion": Decimal("0.08"),
    "user": "2",
    "status": MultiOrderStatus.SUBMITTED,
    "time_zone": "UTC",
    "failure_reason": "",
}

SEED_ASSETS_EXPECTED: list[dict[str, Any]] = [
    {
        "symbol": "BTC",
        "size": Decimal("3.0"),
        "notional": Decimal("89409.0"),
        "market_type": "unified",
        "asset_type": "token",
        "unrealized_profit": Decimal("0.0"),
        "initial_margin": Decimal("0.0"),
        "maint_margin": Decimal("0.0"),
        "margin_balance": Decimal("3.0"),
        "leverage": None,
        "notional_pct_total": Decimal("0.438558"),
    },
    {
        "symbol": "USDT",
        "size": Decimal("8930.5901255465"),
        "notional": Decimal("8930.5901255465"),
        "market_type": "unified",
        "asset_type": "token",
        "unrealized_profit": Decimal("-47.43906302083299"),
        "initial_margin": Decimal("37.148328685"),
        "maint_margin": Decimal("28.57563745"),
        "margin_balance": Decimal("8883.151062525667"),
        "leverage": None,
        "notional_pct_total": Decimal("0.043805"),
    },
    {
        "symbol": "ETH:PERP-USDT",
        "size": Decimal("-181.0"),
        "notional": Decimal("-33618.397"),
        "market_type": "perp",
        "asset_type": "position",
        "unrealized_profit": Decimal("-47.43906302083299"),
        "initial_margin": Decimal("37.148328685"),
        "maint_margin": Decimal("28.57563745"),
        "margin_balance": Decimal("8883.151062525667"),
        "leverage": Decimal("0.0"),
        "notional_pct_total": Decimal("1.0"),
    },
]


def check_seed_order(order: Any, text: str) -> None:
    seed = decode_json(text)
    assert type(order) is Order
    assert_every_key_reachable(order, seed, SEED_ORDER_EXPECTED)
    # Exact: the server's digits are kept, not just an equal value.
    assert_decimal(order.sell_token_amount, "9890.25000000000000000000", exact_text=True)
    assert_decimal(order.engine_passiveness, "0.02000000000000000000", exact_text=True)
    assert order.sell_token_amount == Decimal("9890.25")
    # The -1 sentinel: unset, not a price of -1.
    assert order.raw["limit_price"] == "-1.00000000000000000000"
    assert order.limit_price is None
    assert order.stop_price is None
    assert order.status == "ACTIVE"
    assert order.is_terminal is False
    for stamp in (order.created_at, order.time_start, order.time_end):
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == dt.timedelta(0)
    assert order.time_end - order.time_start == dt.timedelta(seconds=300)
    # Not in the seed: defaults.
    assert order.updated_at is None
    assert order.base_asset_qty is None
    assert find_floats(order) == []


def check_seed_multi(multi: Any, text: str) -> None:
    seed = decode_json(text)
    assert type(multi) is MultiOrder
    assert_every_key_reachable(multi, seed, SEED_MULTI_EXPECTED)
    assert_decimal(multi.schedule_discretion, "0.08000000000000000000", exact_text=True)
    assert multi.status == "SUBMITTED"
    for stamp in (multi.created_at, multi.updated_at, multi.time_start):
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == dt.timedelta(0)
    assert multi.exposure_tolerance is None
    assert find_floats(multi) == []


def check_seed_balances(balances: Any, text: str) -> None:
    seed = decode_json(text)
    assert type(balances) is dict
    assert list(balances) == ["test"]
    balance = balances["test"]
    assert type(balance) is Balance
    assert balance.raw == seed["test"]
    assert balance.exchange == "OKX"
    assert len(balance.assets) == len(SEED_ASSETS_EXPECTED) == len(seed["test"]["assets"])
    for asset, asset_seed, expected in zip(
        balance.assets, seed["test"]["assets"], SEED_ASSETS_EXPECTED, strict=True
    ):
        assert type(asset) is Asset
        assert_every_key_reachable(asset, asset_seed, expected)
    usdt = balance.assets[1]
    assert_decimal(usdt.size, "8930.5901255465", exact_text=True)
    assert_decimal(usdt.unrealized_profit, "-47.43906302083299", exact_text=True)
    assert_decimal(usdt.margin_balance, "8883.151062525667", exact_text=True)
    assert_decimal(balance.assets[0].size, "3.0", exact_text=True)
    assert find_floats(balances) == []


SEEDS: list[tuple[str, Any, Callable[[Any, str], None]]] = [
    ("seed_order.json", Order, check_seed_order),
    ("seed_multi_order.json", MultiOrder, check_seed_multi),
    ("seed_balances.json", dict[str, Balance], check_seed_balances),
]


@pytest.mark.parametrize(("name", "tp", "check"), SEEDS, ids=[s[0] for s in SEEDS])
def test_seed_via_converter(name: str, tp: Any, check: Callable[[Any, str], None]) -> None:
    text = seed_text(name)
    check(structure(decode_json(text), tp), text)


@pytest.mark.parametrize(("name", "tp", "check"), SEEDS, ids=[s[0] for s in SEEDS])
def test_seed_every_key_is_modelled(name: str, tp: Any, check: Callable[[Any, str], None]) -> None:
    # The strict converter refuses keys the models do not declare: the seeds have none.
    text = seed_text(name)
    strict = make_converter(forbid_extra_keys=True)
    check(structure(decode_json(text), tp, using=strict), text)


def _client_calls() -> list[tuple[str, str, str, Callable[[AsyncClient], Awaitable[Any]]]]:
    return [
        (
            "seed_order.json",
            "GET",
            "order/d3ca321a-d25c-4cee-8a0f-3f74d239c90d",
            lambda c: c.get_order("d3ca321a-d25c-4cee-8a0f-3f74d239c90d"),
        ),
        (
            "seed_multi_order.json",
            "GET",
            "multi_order/626c4202-a046-401a-bf23-f3805f593c21",
            lambda c: c.get_multi_order("626c4202-a046-401a-bf23-f3805f593c21"),
        ),
        ("seed_balances.json", "GET", "balances/", lambda c: c.get_balances()),
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("name", "method", "path", "call"), _client_calls(), ids=[s[0] for s in SEEDS]
)
async def test_seed_through_client(
    mock_api: respx.MockRouter,
    client: AsyncClient,
    name: str,
    method: str,
    path: str,
    call: Callable[[AsyncClient], Awaitable[Any]],
) -> None:
    text = seed_text(name)
    route = mock_api.route(method=method, path__regex=path + "$").respond(
        200, text=text, headers={"Content-Type": "application/json"}
    )
    result = await call(client)
    assert route.call_count == 1
    check = {s[0]: s[2] for s in SEEDS}[name]
    check(result, text)


@pytest.mark.asyncio
async def test_seed_orders_inside_a_page_keep_raw_and_sentinels(
    mock_api: respx.MockRouter, client: AsyncClient, seed_order_text: str
) -> None:
    # Orders nested in a page (and a chain) get the same hooks as a top-level order.
    mock_api.get("orders/").respond(
        200,
        text='{"orders": [' + seed_order_text + '], "count": 1, "num_pages": 1}',
        headers={"Content-Type": "application/json"},
    )
    page = await client.get_all_orders()
    assert page.count == 1
    check_seed_order(page.orders[0], seed_order_text)
    chained = structure(decode_json('{"orders": [' + seed_order_text + "]}"), ChainedOrder)
    check_seed_order(chained.orders[0], seed_order_text)


def test_decode_json_never_goes_through_float() -> None:
    body = decode_json('{"a": 1234567890.123456789012345, "b": 1e-30, "c": 3, "d": [0.1]}')
    assert body == {
        "a": Decimal("1234567890.123456789012345"),
        "b": Decimal("1e-30"),
        "c": 3,
        "d": [Decimal("0.1")],
    }
    assert type(body["c"]) is int
    assert str(body["a"]) == "1234567890.123456789012345"
    assert find_floats(body) == []
    with pytest.raises(ValueError):
        decode_json('{"a": NaN}')
    with pytest.raises(ValueError):
        decode_json("[Infinity]")


# --------------------------------------------------------------------------- forward compatibility


MINIMAL_BODIES: list[tuple[type, dict[str, Any]]] = [
    (Order, {"id": "o1"}),
    (MultiOrder, {"id": "m1"}),
    (Asset, {"symbol": "BTC"}),
    (Balance, {}),
    (OrderSummary, {}),
    (ChainedOrder, {}),
    (OrderMessage, {}),
    (ActionResult, {}),
    (CloseBalancesResult, {}),
    (OrdersPage, {"orders": []}),
]


@pytest.mark.parametrize(
    ("tp", "body"), MINIMAL_BODIES, ids=[m[0].__name__ for m in MINIMAL_BODIES]
)
def test_unknown_keys_are_ignored_and_kept_in_raw(tp: type, body: dict[str, Any]) -> None:
    extended = {**body, "brand_new": {"nested": [Decimal("1.5"), "x"]}, "flag_2": True}
    model = structure(extended, tp)
    assert type(model) is tp
    assert model.raw == extended
    assert model.raw["brand_new"] == {"nested": [Decimal("1.5"), "x"]}
    assert not hasattr(model, "brand_new")
    # The strict converter, on the other hand, names them.
    with pytest.raises(ShapeError) as exc_info:
        structure(extended, tp, using=make_converter(forbid_extra_keys=True))
    assert exc_info.value.errors == ["extra fields found (brand_new, flag_2) @ $"]


def test_nested_unknown_keys_are_kept_in_each_raw() -> None:
    body = {
        "acc": {
            "exchange": "OKX",
            "venue_id": 7,
            "assets": [{"symbol": "BTC", "size": "1", "isolated": True}],
        }
    }
    balances = structure(body, dict[str, Balance])
    assert balances["acc"].raw["venue_id"] == 7
    assert balances["acc"].assets[0].raw == {"symbol": "BTC", "size": "1", "isolated": True}
    with pytest.raises(ShapeError) as exc_info:
        structure(body, dict[str, Balance], using=make_converter(forbid_extra_keys=True))
    assert "extra fields found (venue_id) @ $['acc']" in exc_info.value.errors


def test_only_id_parses_with_defaults() -> None:
    order = structure({"id": "o1"}, Order)
    assert order == Order(id="o1")
    assert order.status is None
    assert order.accounts == []
    assert order.strategy_params == {}
    assert order.placements == []
    assert order.raw == {"id": "o1"}
    assert order.is_terminal is False
    multi = structure({"id": "m1"}, MultiOrder)
    assert multi == MultiOrder(id="m1")
    assert multi.child_order_ids == []


def test_null_collections_mean_empty() -> None:
    order = structure({"id": "o1", "placements": None, "strategy_params": None}, Order)
    assert order.placements == []
    assert order.strategy_params == {}
    assert order.raw == {"id": "o1", "placements": None, "strategy_params": None}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("status", "ACTIVE", OrderStatus.ACTIVE),
        ("status", "CANCELED", OrderStatus.CANCELED),
        ("status", "RUNNING", "RUNNING"),
        ("status", "Active", "Active"),  # case matters: not silently mapped
        ("strategy", "TWAP", Strategy.TWAP),
        ("strategy", "Target Time", Strategy.TARGET_TIME),
        ("strategy", STRATEGY_UUID, STRATEGY_UUID),
        ("strategy", "Sniper", "Sniper"),
        ("side", "sell", Side.SELL),
        ("side", "hold", "hold"),
        ("pos_side", "long", PosSide.LONG),
        ("pos_side", "net", "net"),
    ],
)
def test_open_enums(field: str, value: str, expected: Any) -> None:
    order = structure({"id": "o1", field: value}, Order)
    actual = getattr(order, field)
    assert actual == expected
    assert actual == value  # str enums compare equal to their wire value
    assert type(actual) is type(expected)


def test_known_status_is_the_enum_and_equals_its_string() -> None:
    order = structure({"id": "o1", "status": "ACTIVE"}, Order)
    assert order.status is OrderStatus.ACTIVE
    assert order.status == "ACTIVE"
    done = structure({"id": "o1", "status": "COMPLETE"}, Order)
    assert done.is_terminal is True
    unknown = structure({"id": "o1", "status": "ARCHIVED"}, Order)
    assert type(unknown.status) is str
    assert unknown.is_terminal is False
    multi = structure({"id": "m1", "status": "FINISHER"}, MultiOrder)
    assert multi.status == "FINISHER"
    assert type(multi.status) is str  # not a MultiOrderStatus member
    summary = structure({"status": "PAUSED", "side": "buy"}, OrderSummary)
    assert summary.status is OrderStatus.PAUSED
    assert summary.side is Side.BUY


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("user", 2, "2"),
        ("user", Decimal("2.5"), "2.5"),
        ("custom_order_id", 12345, "12345"),
        ("duration", "300", 300),
        ("duration", " 300 ", 300),
        ("duration", Decimal("300.0"), 300),
        ("duration", 300, 300),
        ("executed_qty", "1.5", Decimal("1.5")),
        ("executed_qty", 2, Decimal(2)),
        ("executed_qty", Decimal("0.000000001"), Decimal("0.000000001")),
        ("executed_qty", 1.5, Decimal("1.5")),  # a float from a caller's own decoding
        ("active", "true", True),
        ("active", "False", False),
        ("active", 1, True),
        ("active", 0, False),
    ],
)
def test_loose_scalar_types(field: str, value: Any, expected: Any) -> None:
    order = structure({"id": "o1", field: value}, Order)
    actual = getattr(order, field)
    assert actual == expected
    assert type(actual) is type(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-1", None),
        ("-1.00000000000000000000", None),
        (-1, None),
        (Decimal("-1.0"), None),
        (None, None),
        ("2500.5", Decimal("2500.5")),
        (Decimal("0.0001"), Decimal("0.0001")),
        ("-2", Decimal(-2)),
    ],
)
def test_unset_price_sentinel(value: Any, expected: Decimal | None) -> None:
    order = structure({"id": "o1", "limit_price": value, "stop_price": value}, Order)
    assert order.limit_price == expected
    assert order.stop_price == expected
    if expected is not None:
        assert isinstance(order.limit_price, Decimal)
    assert order.raw["limit_price"] == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-08-08T23:54:07.659244Z", dt.datetime(2023, 8, 8, 23, 54, 7, 659244, tzinfo=UTC)),
        ("2023-08-08T23:54:07.659244z", dt.datetime(2023, 8, 8, 23, 54, 7, 659244, tzinfo=UTC)),
        ("2023-08-08T23:54:07Z", dt.datetime(2023, 8, 8, 23, 54, 7, tzinfo=UTC)),
        ("2023-08-08T23:54:07+00:00", dt.datetime(2023, 8, 8, 23, 54, 7, tzinfo=UTC)),
        (
            "2023-08-08T23:54:07.5+05:30",
            dt.datetime(
                2023, 8, 8, 23, 54, 7, 500000, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
            ),
        ),
        (
            "2023-08-08T23:54:07-0200",
            dt.datetime(2023, 8, 8, 23, 54, 7, tzinfo=dt.timezone(dt.timedelta(hours=-2))),
        ),
        (
            "2023-08-08T23:54:07+02",
            dt.datetime(2023, 8, 8, 23, 54, 7, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        ),
        # 9-digit (nanosecond) fractions: microseconds kept, the rest dropped.
        ("2023-08-08T23:54:07.123456789Z", dt.datetime(2023, 8, 8, 23, 54, 7, 123456, tzinfo=UTC)),
        ("2023-08-08T23:54:07.1Z", dt.datetime(2023, 8, 8, 23, 54, 7, 100000, tzinfo=UTC)),
        # Naive: UTC, as the server's time_zone says.
        ("2023-08-08T23:54:07.659244", dt.datetime(2023, 8, 8, 23, 54, 7, 659244, tzinfo=UTC)),
        ("2023-08-08T23:54:07", dt.datetime(2023, 8, 8, 23, 54, 7, tzinfo=UTC)),
        ("2023-08-08 23:54:07", dt.datetime(2023, 8, 8, 23, 54, 7, tzinfo=UTC)),
        ("2023-08-08T23:54", dt.datetime(2023, 8, 8, 23, 54, tzinfo=UTC)),
        ("2023-08-08", dt.datetime(2023, 8, 8, tzinfo=UTC)),
    ],
)
def test_timestamp_variants(text: str, expected: dt.datetime) -> None:
    order = structure({"id": "o1", "created_at": text, "time_end": text}, Order)
    for stamp in (order.created_at, order.time_end):
        assert stamp == expected
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == expected.utcoffset()
        assert (stamp.date(), stamp.time()) == (expected.date(), expected.time())


def test_timestamps_in_every_model_are_aware() -> None:
    naive = "2024-03-01T12:00:00"
    expected = dt.datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert structure({"id": "m", "updated_at": naive}, MultiOrder).updated_at == expected
    assert structure({"created_at": naive}, ChainedOrder).created_at == expected
    message = structure({"created_at": naive}, OrderMessage)
    assert message.created_at == expected
    assert message.created_at.tzinfo is not None


def test_naive_timestamps_are_read_in_the_reply_time_zone() -> None:
    order = structure(
        {
            "id": "x",
            "created_at": "2023-08-08T23:54:07",
            "time_start": "2023-08-08T23:54:07Z",
            "time_zone": "America/New_York",
        },
        Order,
    )
    assert order.created_at == dt.datetime(2023, 8, 9, 3, 54, 7, tzinfo=dt.timezone.utc)
    assert order.time_start == dt.datetime(2023, 8, 8, 23, 54, 7, tzinfo=dt.timezone.utc)
    utc = structure({"id": "x", "created_at": "2023-08-08T23:54:07", "time_zone": "UTC"}, Order)
    assert utc.created_at == dt.datetime(2023, 8, 8, 23, 54, 7, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    "zone",
    [
        "Mars/Base",
        "Europe",  # a folder of the tz database: zoneinfo raises IsADirectoryError
        "x" * 300,  # longer than a file name: OSError
        "../zoneinfo/UTC",  # a path, not a key: ValueError
        "",  # "" is UTC (UTC_NAMES); here as a control that the others are refused
    ],
    ids=["unknown", "a-tzdata-folder", "too-long", "a-path", "empty-is-utc"],
)
@pytest.mark.parametrize("model", [Order, MultiOrder])
def test_naive_timestamp_in_an_unknown_time_zone_is_a_shape_error(
    model: type[Order | MultiOrder], zone: str
) -> None:
    body = {"id": "x", "created_at": "2023-08-08T23:54:07", "time_zone": zone}
    if not zone:
        naive_utc = dt.datetime(2023, 8, 8, 23, 54, 7, tzinfo=dt.timezone.utc)
        assert structure(body, model).created_at == naive_utc
        return
    with pytest.raises(ShapeError) as info:
        structure(body, model)
    assert f"time_zone {zone!r} is unknown" in str(info.value)


def test_an_error_no_hook_foresaw_is_still_a_shape_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever a reply provokes while it is read ends as the SDK's typed error, never a
    # bare exception that `except TaaSError` would miss after an order was accepted.
    def broken(*_: object) -> dict[str, object]:
        raise OSError("the tz database is unreadable")

    monkeypatch.setattr(_converter, "localize_naive", broken)
    body = {"id": "x", "created_at": "2023-08-08T23:54:07", "time_zone": "Europe/Paris"}
    with pytest.raises(ShapeError) as info:
        structure(body, Order)
    assert "the tz database is unreadable @ $" in str(info.value)
    assert type(info.value.__cause__) is OSError


# --------------------------------------------------------------------------- wrong shapes


@pytest.mark.parametrize(
    ("tp", "body", "error"),
    [
        (Order, {"id": "o1", "duration": "abc"}, "@ $.duration"),
        (Order, {"id": "o1", "duration": Decimal("1.5")}, "@ $.duration"),
        (Order, {"id": "o1", "duration": True}, "@ $.duration"),
        (Order, {"id": "o1", "executed_qty": "lots"}, "@ $.executed_qty"),
        (Order, {"id": "o1", "executed_qty": False}, "@ $.executed_qty"),
        (Order, {"id": "o1", "executed_qty": "NaN"}, "@ $.executed_qty"),
        (Order, {"id": "o1", "created_at": "yesterday"}, "@ $.created_at"),
        (Order, {"id": "o1", "created_at": "2023-13-45T00:00:00Z"}, "@ $.created_at"),
        (Order, {"id": "o1", "active": "maybe"}, "@ $.active"),
        (Order, {"id": "o1", "accounts": "mock"}, "@ $.accounts"),
        (Order, {"id": "o1", "accounts": [1, {"a": 1}]}, "@ $.accounts[1]"),
        (Order, {"id": "o1", "strategy_params": ["a"]}, "@ $.strategy_params"),
        (Order, {"id": "o1", "user": {"id": 2}}, "@ $.user"),
        (Order, {"id": None}, "@ $.id"),
        (Order, {"status": "ACTIVE"}, "required field missing @ $.id"),
        (Order, ["o1"], "@ $"),
        (Order, "o1", "@ $"),
        (MultiOrder, {"id": "m1", "child_order_ids": "abc"}, "@ $.child_order_ids"),
        (OrdersPage, {"orders": [{"id": "a"}, {"duration": 1}]}, "@ $.orders[1].id"),
        (OrdersPage, {"orders": "abc"}, "@ $.orders"),
        (OrdersPage, {"results": []}, "required field missing @ $.orders"),
        (OrdersPage, {"orders": [], "count": "many"}, "@ $.count"),
        (
            dict[str, Balance],
            {"a": {"assets": [{"symbol": "x", "size": "zz"}]}},
            "].assets[0].size",
        ),
        (dict[str, Balance], {"a": {"assets": {"symbol": "x"}}}, "].assets"),
        (dict[str, Balance], [["a", {}]], "@ $"),
        (dict[str, Balance], {"a": [1]}, "@ $['a']"),
    ],
)
def test_wrong_shapes_raise_shape_error_with_json_path(tp: Any, body: Any, error: str) -> None:
    with pytest.raises(ShapeError) as exc_info:
        structure(body, tp)
    errors = exc_info.value.errors
    assert errors
    assert any(error in e for e in errors), errors
    assert all(" @ $" in e for e in errors), errors
    assert str(exc_info.value) == "; ".join(errors)


def test_shape_error_names_every_bad_field() -> None:
    with pytest.raises(ShapeError) as exc_info:
        structure({"id": "o1", "duration": "x", "active": "y", "created_at": 1j}, Order)
    paths = sorted(e.rsplit(" @ ", 1)[1] for e in exc_info.value.errors)
    assert paths == ["$.active", "$.created_at", "$.duration"]


@pytest.mark.asyncio
async def test_wrong_shape_through_client_is_response_decode_error(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    mock_api.get("order/o1").respond(200, json={"id": "o1", "duration": "soon"})
    with pytest.raises(ResponseDecodeError) as exc_info:
        await client.get_order("o1")
    assert any("@ $.duration" in e for e in exc_info.value.errors)
    assert '"soon"' in exc_info.value.text


@pytest.mark.asyncio
async def test_balances_reply_of_wrong_shape_is_response_decode_error(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    mock_api.get("balances/").respond(200, json=[{"exchange": "OKX"}])
    with pytest.raises(ResponseDecodeError) as exc_info:
        await client.get_balances()
    assert exc_info.value.errors == ["expected a JSON object, got array @ $"]


# --------------------------------------------------------------------------- OrdersPage


def test_orders_page_with_counts() -> None:
    body = {"orders": [{"id": "a", "status": "ACTIVE"}, {"id": "b"}], "count": 7, "num_pages": 4}
    page = structure(body, OrdersPage)
    assert [o.id for o in page] == ["a", "b"]
    assert page[0].status is OrderStatus.ACTIVE
    assert len(page) == 2
    assert page.count == 7
    assert page.num_pages == 4
    assert page.raw == body
    assert page.orders[1].raw == {"id": "b"}


def test_orders_page_from_bare_list() -> None:
    page = structure([{"id": "a"}, {"id": "b", "limit_price": "-1"}], OrdersPage)
    assert [o.id for o in page.orders] == ["a", "b"]
    assert page.orders[1].limit_price is None
    assert page.count is None
    assert page.num_pages is None
    assert page.raw == {"orders": [{"id": "a"}, {"id": "b", "limit_price": "-1"}]}


def test_orders_page_counts_as_strings() -> None:
    page = structure({"orders": [], "count": "0", "num_pages": "1"}, OrdersPage)
    assert (page.count, page.num_pages) == (0, 1)
    assert list(page) == []


def test_structure_round_trip_of_json_text() -> None:
    # Models compare by value (raw excluded): structuring twice gives equal models.
    text = seed_text("seed_order.json")
    first = structure(decode_json(text), Order)
    second = structure(json.loads(text, parse_float=Decimal), Order)
    assert first == second
    assert first is not second


@pytest.mark.asyncio
async def test_orders_from_separate_replies_share_their_keys(
    mock_api: respx.MockRouter, client: AsyncClient, seed_order_text: str
) -> None:
    # Each reply is decoded on its own; its keys are interned, so ten thousand
    # orders held with their raw keep one copy of each key, not ten thousand.
    mock_api.get(path__regex=r"order/.+$").respond(
        200, text=seed_order_text, headers={"Content-Type": "application/json"}
    )
    first = await client.get_order("a")
    second = await client.get_order("b")
    assert first.raw == second.raw == json.loads(seed_order_text)
    assert first.raw is not second.raw
    for key1, key2 in zip(first.raw, second.raw, strict=True):
        assert key1 is key2
    # What is not a top-level object decodes as before.
    assert decode_json("[1.5]") == [Decimal("1.5")]
    assert decode_json('"x"') == "x"


def test_keys_shared_between_replies_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from taas_async import _codec

    monkeypatch.setattr(_codec, "_KEYS", {})
    monkeypatch.setattr(_codec, "_MAX_KEYS", 3)
    first = decode_json('{"a": 1, "b": 2}')
    flood = [decode_json(f'{{"k{i}": {i}}}') for i in range(50)]  # a server sending data as keys
    assert len(_codec._KEYS) == 3
    assert flood[-1] == {"k49": 49}  # past the bound, decoded all the same
    again = decode_json('{"a": 3, "b": 4}')
    assert [k1 is k2 for k1, k2 in zip(first, again, strict=True)] == [True, True]
