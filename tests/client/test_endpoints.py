"""Every endpoint on the wire: method, URL, query, headers, exact JSON body, typed result.

The cases are data (:data:`CASES`): the call, what must go on the wire, a
canned reply and a check of the typed result. The "backend" that answers them
(:func:`run_on_respx`, a respx router) is separate, so the same table can be
driven against another backend (an in-process simulator) later.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from conftest import API, BASE_URL, TOKEN, load
from conftest import GENERATED_ID as GENERATED_ID_FORMAT

import taas_async
from taas_async import (
    ActionResult,
    AmendOrderRequest,
    AsyncClient,
    Balance,
    ChainedOrder,
    CloseBalancesResult,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    MultiOrder,
    MultiOrdersPage,
    MultiOrderStatus,
    Order,
    OrderMessage,
    OrdersPage,
    OrderStatus,
    OrderSummary,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    PosSide,
    RequestValidationError,
    SetLeverageRequest,
    Side,
    Strategy,
)
from taas_async.sandbox import Sandbox

SEED_ORDER = load("seed_order.json")
SEED_MULTI_ORDER = load("seed_multi_order.json")
SEED_BALANCES = load("seed_balances.json")

ORDER_ID = "d3ca321a-d25c-4cee-8a0f-3f74d239c90d"  # the seed order's id
MULTI_ID = "626c4202-a046-401a-bf23-f3805f593c21"  # the seed multi order's id
OTHER_ID = "0b9c2d4e-1111-4222-8333-944455556666"
UTC = dt.timezone.utc


class _NoBody:
    def __repr__(self) -> str:
        return "NO_BODY"


#: The request must have no body at all (and no Content-Type).
NO_BODY: Any = _NoBody()


class _GeneratedId:
    def __repr__(self) -> str:
        return "GENERATED_ID"


#: In an expected body: a ``custom_order_id`` the SDK generated because the
#: caller gave none ("taas-" and 32 hex digits, a fresh one for every order).
GENERATED_ID: Any = _GeneratedId()


@dataclasses.dataclass(frozen=True)
class Reply:
    """A canned reply: status and raw text (raw, so decimals stay exact)."""

    status: int = 200
    text: str = ""


def ok(body: Any) -> Reply:
    return Reply(200, body if isinstance(body, str) else json.dumps(body))


NO_CONTENT = Reply(204, "")


@dataclasses.dataclass(frozen=True)
class Case:
    """One endpoint call and everything that must be true about it."""

    id: str
    call: Callable[[AsyncClient], Awaitable[Any]]
    method: str
    path: str  # under https://taas.test/prefix/api/, as sent (percent-encoded)
    query: dict[str, str]
    body: Any  # the parsed JSON body, compared exactly; NO_BODY for none
    reply: Reply
    check: Callable[[Any], None]


@dataclasses.dataclass(frozen=True)
class Sent:
    """What a backend saw: one HTTP request."""

    method: str
    url: httpx.URL
    headers: httpx.Headers
    content: bytes


# --------------------------------------------------------------------------- backend: respx


async def run_on_respx(
    mock_api: respx.MockRouter, client: AsyncClient, case: Case
) -> tuple[Any, list[Sent]]:
    """Answer every request with ``case.reply``; return the result and what was sent."""
    headers = {"Content-Type": "application/json"} if case.reply.text else {}
    route = mock_api.route().mock(
        return_value=httpx.Response(case.reply.status, text=case.reply.text, headers=headers)
    )
    result = await case.call(client)
    sent = [
        Sent(c.request.method, c.request.url, c.request.headers, c.request.content)
        for c in route.calls
    ]
    return result, sent


# --------------------------------------------------------------------------- shared assertions


def assert_headers(sent: Sent, *, has_body: bool) -> None:
    headers = sent.headers
    assert headers["Authorization"] == "Token " + TOKEN
    assert headers.get_list("Authorization") == ["Token " + TOKEN]
    user_agent = headers["User-Agent"]
    assert user_agent.startswith("taas-async/")
    assert f"taas-async/{taas_async.__version__}" in user_agent
    assert headers["X-Team"] == "quant"
    assert headers["Accept"] == "application/json"
    if has_body:
        assert headers["Content-Type"] == "application/json"
    else:
        assert "Content-Type" not in headers
        assert sent.content == b""


def _with_generated_ids(expected: Any, sent: Any, generated: list[str]) -> Any:
    """``expected`` with each GENERATED_ID replaced by the id sent in its place (checked)."""
    if expected is GENERATED_ID:
        assert isinstance(sent, str), sent
        assert GENERATED_ID_FORMAT.fullmatch(sent), sent
        generated.append(sent)
        return sent
    if isinstance(expected, dict) and isinstance(sent, dict):
        return {k: _with_generated_ids(v, sent.get(k), generated) for k, v in expected.items()}
    if isinstance(expected, list) and isinstance(sent, list) and len(expected) == len(sent):
        return [_with_generated_ids(e, a, generated) for e, a in zip(expected, sent, strict=True)]
    return expected


def assert_json_body(sent: Sent, expected: Any) -> None:
    parsed = json.loads(sent.content)
    generated: list[str] = []
    expected = _with_generated_ids(expected, parsed, generated)
    assert len(set(generated)) == len(generated), generated  # one per order, never shared
    assert parsed == expected
    # == alone lets 1 == 1.0 == True pass: compare the canonical text too.
    assert json.dumps(parsed, sort_keys=True) == json.dumps(expected, sort_keys=True)


def assert_url(sent: Sent, path: str, query: dict[str, str]) -> None:
    assert str(sent.url.copy_with(query=None)) == API + path
    assert sent.url.raw_path.split(b"?")[0] == ("/prefix/api/" + path).encode()
    assert sorted(sent.url.params.multi_items()) == sorted(query.items())


def is_decimal(value: Any, expected: str) -> None:
    assert isinstance(value, Decimal), type(value)
    assert value == Decimal(expected)


# --------------------------------------------------------------------------- result checks


def check_seed_order(order: Any) -> None:
    assert type(order) is Order
    assert order.id == ORDER_ID
    assert order.status is OrderStatus.ACTIVE
    assert order.side is Side.BUY
    assert order.pair == "ETH-USDT"
    is_decimal(order.sell_token_amount, "9890.25")
    assert order.limit_price is None
    assert order.stop_price is None
    assert order.duration == 300
    assert order.time_start == dt.datetime(2023, 8, 8, 23, 54, 6, 300319, tzinfo=UTC)
    assert order.account_names == ["mock"]
    assert order.raw["sell_token_amount"] == "9890.25000000000000000000"


def check_minimal_order(order: Any) -> None:
    assert type(order) is Order
    assert order.id == OTHER_ID
    assert order.status is OrderStatus.SUBMITTED
    is_decimal(order.base_asset_qty, "1.5")
    is_decimal(order.limit_price, "2500.5")
    assert order.strategy is Strategy.TARGET_TIME


def check_summary(summary: Any) -> None:
    assert type(summary) is OrderSummary
    assert summary.id == ORDER_ID
    assert summary.status is OrderStatus.COMPLETE
    assert summary.side is Side.SELL
    is_decimal(summary.executed_qty, "1.25")
    is_decimal(summary.executed_price, "2000.125")
    is_decimal(summary.executed_notional, "2500.15625")
    is_decimal(summary.pct_filled, "100")
    assert summary.raw["slippage_bps"] == Decimal("-1.5")


def check_action(**expected: Any) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert type(result) is ActionResult
        for name in ("message", "success", "order_id"):
            assert getattr(result, name) == expected.get(name), name
        assert result.raw == expected.get("raw", {})

    return check


def check_page(
    *, ids: list[str], count: int | None, num_pages: int | None
) -> Callable[[Any], None]:
    def check(page: Any) -> None:
        assert type(page) is OrdersPage
        assert [o.id for o in page.orders] == ids
        assert all(type(o) is Order for o in page)
        assert len(page) == len(ids)
        assert page.count == count
        assert page.num_pages == num_pages

    return check


def check_seed_page(page: Any) -> None:
    check_page(ids=[ORDER_ID, OTHER_ID], count=2, num_pages=1)(page)
    check_seed_order(page[0])
    assert page[1].status == "RUNNING"  # unknown status: kept as str
    assert type(page[1].status) is str


def check_messages(messages: Any) -> None:
    assert type(messages) is list
    assert all(type(x) is OrderMessage for x in messages)
    assert [(x.order_id, x.message, x.level) for x in messages] == [
        (ORDER_ID, "placed 1 child order", "info"),
        (OTHER_ID, "insufficient balance", "error"),
    ]
    assert messages[0].created_at == dt.datetime(2024, 3, 1, 12, 0, 1, 500000, tzinfo=UTC)
    assert messages[1].created_at is None


def check_seed_multi(multi: Any) -> None:
    assert type(multi) is MultiOrder
    assert multi.id == MULTI_ID
    assert multi.status is MultiOrderStatus.SUBMITTED
    assert multi.child_order_ids == [
        "be508fb9-ee63-4a90-93eb-58dbdaf03378",
        "9d732e1f-e935-487b-93ac-b58e2b2896e4",
    ]
    is_decimal(multi.engine_passiveness, "0.02")
    assert multi.duration == 200
    assert multi.created_at == dt.datetime(2023, 8, 15, 8, 36, 15, 366052, tzinfo=UTC)


def check_seed_multi_with_children(multi: Any) -> None:
    check_seed_multi(multi)
    assert len(multi.child_orders) == 1
    check_seed_order(multi.child_orders[0])


def check_multi_page(
    *, ids: list[str], count: int | None, num_pages: int | None
) -> Callable[[Any], None]:
    def check(page: Any) -> None:
        assert type(page) is MultiOrdersPage
        assert [m.id for m in page.multi_orders] == ids
        assert all(type(m) is MultiOrder for m in page)
        assert len(page) == len(ids)
        assert page.count == count
        assert page.num_pages == num_pages

    return check


def check_seed_multi_page(page: Any) -> None:
    check_multi_page(ids=[MULTI_ID], count=1, num_pages=1)(page)
    check_seed_multi(page[0])
    assert page[0].child_orders == []  # not asked for


def check_chained(chained: Any) -> None:
    assert type(chained) is ChainedOrder
    assert chained.id == "chain-1"
    assert chained.status is OrderStatus.SUBMITTED
    assert chained.created_at == dt.datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
    assert len(chained.orders) == 1
    check_seed_order(chained.orders[0])


def check_seed_balances(balances: Any) -> None:
    assert type(balances) is dict
    assert list(balances) == ["test"]
    balance = balances["test"]
    assert type(balance) is Balance
    assert balance.exchange == "OKX"
    assert [a.symbol for a in balance.assets] == ["BTC", "USDT", "ETH:PERP-USDT"]
    is_decimal(balance.assets[1].size, "8930.5901255465")
    is_decimal(balance.assets[2].unrealized_profit, "-47.43906302083299")
    assert balance.assets[0].leverage is None


def check_close_balances(result: Any) -> None:
    assert type(result) is CloseBalancesResult
    assert result.message == "closing 2 positions"
    assert result.order_ids == [ORDER_ID, OTHER_ID]


def check_equals(expected: Any) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert result == expected
        assert json.dumps(result, sort_keys=True, default=str) == json.dumps(
            expected, sort_keys=True, default=str
        )

    return check


# --------------------------------------------------------------------------- the table


def _order_request(**overrides: Any) -> PlaceOrderRequest:
    fields: dict[str, Any] = {
        "accounts": ["mock"],
        "pair": "ETH-USDT",
        "side": "buy",
        "duration": 300,
        "base_asset_qty": 5,
        "strategy": "TWAP",
    }
    fields.update(overrides)
    return PlaceOrderRequest(**{k: v for k, v in fields.items() if v is not None})


MINIMAL_ORDER_BODY = {
    "accounts": ["mock"],
    "pair": "ETH-USDT",
    "side": "buy",
    "duration": 300,
    "base_asset_qty": "5",
    "strategy": "TWAP",
    # The caller gave none: the SDK sends one, so the order can be looked up
    # if the reply is lost (see test_order_outcomes.py).
    "custom_order_id": GENERATED_ID,
}
OTHER_ORDER_REPLY = {
    "id": OTHER_ID,
    "status": "SUBMITTED",
    "base_asset_qty": "1.50",
    "limit_price": "2500.5",
    "strategy": "Target Time",
}
EXPIRY = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))

CASES: list[Case] = [
    Case(
        "place_order-minimal",
        lambda c: c.place_order(_order_request()),
        "POST",
        "orders/",
        {},
        MINIMAL_ORDER_BODY,
        ok(SEED_ORDER),
        check_seed_order,
    ),
    Case(
        "place_order-every-field",
        lambda c: c.place_order(
            PlaceOrderRequest(
                accounts=["mock", "okx-main"],
                pair="BTC:PERP-USDT",
                side=Side.SELL,
                strategy=Strategy.TARGET_TIME,
                duration=600,
                sell_token_amount=Decimal("9890.25000"),
                engine_passiveness=0.5,
                schedule_discretion="0.08",
                alpha_tilt=Decimal("-0.25"),
                order_condition="BTC-USDT > 70000",
                order_condition_expiry=EXPIRY,
                pov_limit="0.3",
                limit_price=Decimal("1E+2"),
                strategy_params={"reduce_only": True, "ool_pause": False},
                notes="rebalance",
                custom_order_id="my-order-1",
                updated_leverage=3,
                max_otc="0.00000001",
                pos_side="short",
            )
        ),
        "POST",
        "orders/",
        {},
        {
            "accounts": ["mock", "okx-main"],
            "pair": "BTC:PERP-USDT",
            "side": "sell",
            "strategy": "Target Time",
            "duration": 600,
            "sell_token_amount": "9890.25000",
            "engine_passiveness": "0.5",
            "schedule_discretion": "0.08",
            "alpha_tilt": "-0.25",
            "order_condition": "BTC-USDT > 70000",
            "order_condition_expiry": "2024-05-01T12:30:00+02:00",
            "pov_limit": "0.3",
            "limit_price": "100",
            "strategy_params": {"reduce_only": True, "ool_pause": False},
            "notes": "rebalance",
            "custom_order_id": "my-order-1",
            "updated_leverage": 3,  # an integer, as documented
            "max_otc": "0.00000001",
            "pos_side": "short",
        },
        ok(OTHER_ORDER_REPLY),
        check_minimal_order,
    ),
    Case(
        "place_order-pov-target-quote-qty",
        lambda c: c.place_order(
            PlaceOrderRequest(
                accounts=["mock"],
                pair="ETH-USDT",
                side="buy",
                strategy="VWAP",
                quote_asset_qty="1000.10",
                pov_target=0.1,
            )
        ),
        "POST",
        "orders/",
        {},
        {
            "accounts": ["mock"],
            "pair": "ETH-USDT",
            "side": "buy",
            "strategy": "VWAP",
            "quote_asset_qty": "1000.10",
            "pov_target": "0.1",
            "custom_order_id": GENERATED_ID,
        },
        ok(OTHER_ORDER_REPLY),
        check_minimal_order,
    ),
    Case(
        "get_order",
        lambda c: c.get_order(ORDER_ID),
        "GET",
        f"order/{ORDER_ID}",
        {},
        NO_BODY,
        ok(SEED_ORDER),
        check_seed_order,
    ),
    Case(
        "get_order-uuid",
        lambda c: c.get_order(uuid.UUID(ORDER_ID)),
        "GET",
        f"order/{ORDER_ID}",
        {},
        NO_BODY,
        ok(SEED_ORDER),
        check_seed_order,
    ),
    Case(
        "get_order_summary",
        lambda c: c.get_order_summary(ORDER_ID),
        "GET",
        f"order_summary/{ORDER_ID}",
        {},
        NO_BODY,
        ok(
            f'{{"id": "{ORDER_ID}", "status": "COMPLETE", "side": "sell", "executed_qty": "1.25",'
            ' "executed_price": 2000.125, "executed_notional": "2500.15625",'
            ' "pct_filled": 100, "slippage_bps": -1.5}'
        ),
        check_summary,
    ),
    Case(
        "cancel_order-200",
        lambda c: c.cancel_order(ORDER_ID),
        "DELETE",
        f"order/{ORDER_ID}",
        {},
        NO_BODY,
        ok({"message": "Order canceled", "success": True}),
        check_action(
            message="Order canceled",
            success=True,
            raw={"message": "Order canceled", "success": True},
        ),
    ),
    Case(
        "cancel_order-204",
        lambda c: c.cancel_order(uuid.UUID(ORDER_ID)),
        "DELETE",
        f"order/{ORDER_ID}",
        {},
        NO_BODY,
        NO_CONTENT,
        check_action(),
    ),
    Case(
        "cancel_order-200-bare-string",
        lambda c: c.cancel_order(ORDER_ID),
        "DELETE",
        f"order/{ORDER_ID}",
        {},
        NO_BODY,
        ok('"canceled"'),
        check_action(message="canceled", raw={"message": "canceled"}),
    ),
    Case(
        "amend_order",
        lambda c: c.amend_order(
            AmendOrderRequest(
                order_id=uuid.UUID(ORDER_ID),
                changes={"limit_price": Decimal("2500.50"), "duration": 600},
            )
        ),
        "POST",
        "amend_order/",
        {},
        {"order_id": ORDER_ID, "changes": {"limit_price": "2500.50", "duration": 600}},
        ok({"message": "amended", "order_id": ORDER_ID, "new_duration": 600}),
        check_action(
            message="amended",
            order_id=ORDER_ID,
            raw={"message": "amended", "order_id": ORDER_ID, "new_duration": 600},
        ),
    ),
    Case(
        "pause_order",
        lambda c: c.pause_order(ORDER_ID),
        "POST",
        "pause_order/",
        {},
        {"order_id": ORDER_ID},
        ok({"success": True}),
        check_action(success=True, raw={"success": True}),
    ),
    Case(
        "resume_order",
        lambda c: c.resume_order(uuid.UUID(OTHER_ID)),
        "POST",
        "resume_order/",
        {},
        {"order_id": OTHER_ID},
        ok({"message": "resumed", "order_id": OTHER_ID}),
        check_action(
            message="resumed", order_id=OTHER_ID, raw={"message": "resumed", "order_id": OTHER_ID}
        ),
    ),
    Case(
        "get_all_orders-no-filters",
        lambda c: c.get_all_orders(),
        "GET",
        "orders/",
        {},
        NO_BODY,
        ok(
            '{"orders": ['
            + SEED_ORDER
            + f', {{"id": "{OTHER_ID}", "status": "RUNNING"}}], "count": 2, "num_pages": 1}}'
        ),
        check_seed_page,
    ),
    Case(
        "get_all_orders-every-filter",
        lambda c: c.get_all_orders(
            GetOrdersRequest(
                statuses=[OrderStatus.ACTIVE, "PAUSED"],
                account_names=["mock", "okx-main"],
                after=dt.datetime(2024, 1, 1, tzinfo=UTC),
                before="2024-02-01T10:30:00.250000+05:30",
                custom_order_ids=["a1", "b2"],
                page=3,
                page_size=25,
            )
        ),
        "GET",
        "orders/",
        {
            "statuses": "ACTIVE,PAUSED",
            "account_names": "mock,okx-main",
            "after": "2024-01-01T00:00:00+00:00",
            "before": "2024-02-01T10:30:00.250000+05:30",
            "custom_order_ids": "a1,b2",
            "page": "3",
            "page_size": "25",
        },
        NO_BODY,
        ok({"orders": [], "count": 50, "num_pages": 2}),
        check_page(ids=[], count=50, num_pages=2),
    ),
    Case(
        "get_all_orders-bare-list-reply",
        lambda c: c.get_all_orders(GetOrdersRequest(page=1)),
        "GET",
        "orders/",
        {"page": "1"},
        NO_BODY,
        ok([{"id": OTHER_ID}]),
        check_page(ids=[OTHER_ID], count=None, num_pages=None),
    ),
    Case(
        "get_order_messages-list",
        lambda c: c.get_order_messages([ORDER_ID, uuid.UUID(OTHER_ID)]),
        "POST",
        "order_messages/",
        {},
        {"order_ids": [ORDER_ID, OTHER_ID]},
        ok(
            [
                {
                    "order_id": ORDER_ID,
                    "message": "placed 1 child order",
                    "level": "info",
                    "created_at": "2024-03-01T12:00:01.5Z",
                },
                {"order_id": OTHER_ID, "message": "insufficient balance", "level": "error"},
            ]
        ),
        check_messages,
    ),
    Case(
        "get_order_messages-wrapped",
        lambda c: c.get_order_messages((ORDER_ID, OTHER_ID)),
        "POST",
        "order_messages/",
        {},
        {"order_ids": [ORDER_ID, OTHER_ID]},
        ok(
            {
                "messages": [
                    {
                        "order_id": ORDER_ID,
                        "message": "placed 1 child order",
                        "level": "info",
                        "created_at": "2024-03-01T12:00:01.500+00:00",
                    },
                    {"order_id": OTHER_ID, "message": "insufficient balance", "level": "error"},
                ]
            }
        ),
        check_messages,
    ),
    Case(
        "get_order_messages-by-order-id",
        lambda c: c.get_order_messages([ORDER_ID, OTHER_ID]),
        "POST",
        "order_messages/",
        {},
        {"order_ids": [ORDER_ID, OTHER_ID]},
        ok(
            {
                ORDER_ID: [
                    {
                        "message": "placed 1 child order",
                        "level": "info",
                        "created_at": "2024-03-01 12:00:01.5",
                    }
                ],
                OTHER_ID: [{"message": "insufficient balance", "level": "error"}],
            }
        ),
        check_messages,
    ),
    Case(
        "place_multi_order",
        lambda c: c.place_multi_order(
            PlaceMultiOrderRequest(
                duration=200,
                strategy="TWAP",
                child_orders=[
                    {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": "1.50", "account": "a"},
                    {
                        "pair": "BTC:PERP-USDT",
                        "side": "sell",
                        "quote_asset_qty": 100,
                        "pos_side": PosSide.SHORT,
                        "account": "b",
                    },
                ],
                engine_passiveness="0.02",
                exposure_tolerance=Decimal("0.1"),
                custom_order_id="multi-1",
            )
        ),
        "POST",
        "multi_orders/",
        {},
        {
            "duration": 200,
            "strategy": "TWAP",
            "child_orders": [
                {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": "1.50", "account": "a"},
                {
                    "pair": "BTC:PERP-USDT",
                    "side": "sell",
                    "quote_asset_qty": "100",
                    "pos_side": "short",
                    "account": "b",
                },
            ],
            "accounts": ["a", "b"],
            "engine_passiveness": "0.02",
            "exposure_tolerance": "0.1",
            "custom_order_id": "multi-1",
        },
        ok(SEED_MULTI_ORDER),
        check_seed_multi,
    ),
    Case(
        "get_multi_order",
        lambda c: c.get_multi_order(MULTI_ID),
        "GET",
        f"multi_order/{MULTI_ID}",
        {},
        NO_BODY,
        ok(SEED_MULTI_ORDER),
        check_seed_multi,
    ),
    Case(
        "get_multi_order-with-child-orders",
        lambda c: c.get_multi_order(MULTI_ID, include_child_orders=True),
        "GET",
        f"multi_order/{MULTI_ID}",
        {"include_child_orders": "true"},
        NO_BODY,
        ok({**json.loads(SEED_MULTI_ORDER), "child_orders": [json.loads(SEED_ORDER)]}),
        check_seed_multi_with_children,
    ),
    Case(
        "get_multi_orders-no-filters",
        lambda c: c.get_multi_orders(),
        "GET",
        "multi_orders/",
        {},
        NO_BODY,
        ok('{"multi_orders": [' + SEED_MULTI_ORDER + '], "count": 1, "num_pages": 1}'),
        check_seed_multi_page,
    ),
    Case(
        "get_multi_orders-every-filter",
        lambda c: c.get_multi_orders(
            GetMultiOrdersRequest(
                statuses=[MultiOrderStatus.ACTIVE, "PAUSED"],
                after=dt.datetime(2024, 1, 1, tzinfo=UTC),
                before="2024-02-01T10:30:00.250000+05:30",
                custom_order_ids=["m1", "m2"],
                page_number=3,
                page_size=25,
                include_child_orders=True,
            )
        ),
        "GET",
        "multi_orders/",
        {
            "statuses": "ACTIVE,PAUSED",
            "after": "2024-01-01T00:00:00+00:00",
            "before": "2024-02-01T10:30:00.250000+05:30",
            "custom_order_ids": "m1,m2",
            "page_number": "3",
            "page_size": "25",
            "include_child_orders": "true",
        },
        NO_BODY,
        ok({"multi_orders": [], "count": 50, "num_pages": 2}),
        check_multi_page(ids=[], count=50, num_pages=2),
    ),
    Case(
        "get_multi_orders-bare-list-reply",
        lambda c: c.get_multi_orders(GetMultiOrdersRequest(page_number=1)),
        "GET",
        "multi_orders/",
        {"page_number": "1"},
        NO_BODY,
        ok([{"id": OTHER_ID}]),
        check_multi_page(ids=[OTHER_ID], count=None, num_pages=None),
    ),
    Case(
        "cancel_multi_order-200",
        lambda c: c.cancel_multi_order(uuid.UUID(MULTI_ID)),
        "DELETE",
        f"multi_order/{MULTI_ID}",
        {},
        NO_BODY,
        ok({"message": "canceled 2 orders"}),
        check_action(message="canceled 2 orders", raw={"message": "canceled 2 orders"}),
    ),
    Case(
        "cancel_multi_order-204",
        lambda c: c.cancel_multi_order(MULTI_ID),
        "DELETE",
        f"multi_order/{MULTI_ID}",
        {},
        NO_BODY,
        NO_CONTENT,
        check_action(),
    ),
    Case(
        "place_chained_order",
        lambda c: c.place_chained_order(
            PlaceChainedOrderRequest(
                orders_in_chain=[
                    {
                        "order_request": _order_request(strategy="Market", duration=None),
                        "priority": 1,
                    },
                    {
                        "order_request": {
                            "accounts": ["mock"],
                            "pair": "ETH-USDT",
                            "side": "sell",
                            "base_asset_qty": "2.5",
                            "strategy": "Limit",
                            "limit_price": "2000.5",
                        },
                        "priority": 2,
                    },
                ]
            )
        ),
        "POST",
        "chained_orders/",
        {},
        {
            "orders_in_chain": [
                {
                    "order_request": {
                        **{k: v for k, v in MINIMAL_ORDER_BODY.items() if k != "duration"},
                        "strategy": "Market",
                    },
                    "priority": 1,
                },
                {
                    "order_request": {
                        "accounts": ["mock"],
                        "pair": "ETH-USDT",
                        "side": "sell",
                        "base_asset_qty": "2.5",
                        "strategy": "Limit",
                        "limit_price": "2000.5",
                        "custom_order_id": GENERATED_ID,  # each leg its own
                    },
                    "priority": 2,
                },
            ]
        },
        ok(
            '{"id": "chain-1", "status": "SUBMITTED", "created_at": "2024-03-01T00:00:00Z",'
            ' "orders": [' + SEED_ORDER + "]}"
        ),
        check_chained,
    ),
    Case(
        "get_balances",
        lambda c: c.get_balances(),
        "GET",
        "balances/",
        {},
        NO_BODY,
        ok(SEED_BALANCES),
        check_seed_balances,
    ),
    Case(
        "get_balances-filters",
        lambda c: c.get_balances(exchange_names=["OKX", "Binance"], account_names=("test", "main")),
        "GET",
        "balances/",
        {"exchange_names": "OKX,Binance", "account_names": "test,main"},
        NO_BODY,
        ok(SEED_BALANCES),
        check_seed_balances,
    ),
    Case(
        "get_balances-account-names-only",
        lambda c: c.get_balances(account_names=["test"]),
        "GET",
        "balances/",
        {"account_names": "test"},
        NO_BODY,
        ok({}),
        check_equals({}),
    ),
    Case(
        "close_balances-minimal",
        lambda c: c.close_balances(Decimal("1000.50")),
        "POST",
        "close_balances/",
        {},
        {"max_notional": "1000.50"},
        ok({"message": "closing 2 positions", "order_ids": [ORDER_ID, OTHER_ID]}),
        check_close_balances,
    ),
    Case(
        "close_balances-every-argument",
        lambda c: c.close_balances(250, ["test", "main"], Strategy.IOC),
        "POST",
        "close_balances/",
        {},
        {"max_notional": "250", "account_names": ["test", "main"], "preferred_strategy": "IOC"},
        ok({"message": "closing 2 positions", "order_ids": [ORDER_ID, OTHER_ID]}),
        check_close_balances,
    ),
    Case(
        "set_leverage",
        lambda c: c.set_leverage(
            SetLeverageRequest(account_ids=["acc-1", "acc-2"], pair="BTC:PERP-USDT", leverage=5)
        ),
        "POST",
        "set_leverage/",
        {},
        {"account_ids": ["acc-1", "acc-2"], "pair": "BTC:PERP-USDT", "leverage": "5"},
        ok({"message": "leverage set", "success": True}),
        check_action(
            message="leverage set",
            success=True,
            raw={"message": "leverage set", "success": True},
        ),
    ),
    Case(
        "set_leverage-204",
        lambda c: c.set_leverage(
            SetLeverageRequest(account_ids=["acc-1"], pair="ETH-USDT", leverage="2.5")
        ),
        "POST",
        "set_leverage/",
        {},
        {"account_ids": ["acc-1"], "pair": "ETH-USDT", "leverage": "2.5"},
        NO_CONTENT,
        check_action(),
    ),
    Case(
        "request-get-params",
        lambda c: c.request(
            "get",
            "/api/new_thing/",
            params={"names": ["a", "b"], "limit": 10, "skip": None, "min": Decimal("0.5")},
        ),
        "GET",
        "new_thing/",
        {"names": "a,b", "limit": "10", "min": "0.5"},
        NO_BODY,
        ok('{"value": 1.10, "items": [1, "x"]}'),
        check_equals({"value": Decimal("1.10"), "items": [1, "x"]}),
    ),
    Case(
        "request-post-json",
        lambda c: c.request(
            "POST",
            "api/new_thing/",
            json={"qty": Decimal("0.10"), "side": Side.BUY, "n": 3, "flag": False},
        ),
        "POST",
        "new_thing/",
        {},
        {"qty": "0.10", "side": "buy", "n": 3, "flag": False},
        ok({"ok": True}),
        check_equals({"ok": True}),
    ),
    Case(
        "request-delete-204",
        lambda c: c.request("DELETE", "api/new_thing/7"),
        "DELETE",
        "new_thing/7",
        {},
        NO_BODY,
        NO_CONTENT,
        check_equals(None),
    ),
]


# --------------------------------------------------------------------------- backend: the sandbox
# The same calls against the simulator. It holds the orders the table names
# (ORDER_ID ACTIVE, OTHER_ID PAUSED, MULTI_ID) and the accounts it uses; its
# replies are its own, so each case has a sandbox check of what the call did.


def seeded_sandbox() -> Sandbox:
    sandbox = Sandbox(
        token=TOKEN,
        base_path="/prefix",
        url="https://taas.test",
        accounts={
            "mock": ("Mock", {"USDT": 1_000_000, "ETH": 100, "BTC": 10}),
            "okx-main": ("OKX", {"USDT": 100_000}),
            "a": ("Mock", {"USDT": 100_000}),
            "b": ("Mock", {"USDT": 100_000}),
            "main": ("Binance", {"USDT": 50_000, "SOL": 100}),
        },
    )
    sandbox.add_account("test", {"USDT": 250_000, "BTC": 3}, exchange="OKX", account_id="acc-1")
    sandbox.add_account("perps", {"USDT": 10_000}, account_id="acc-2")
    engine = sandbox.engine
    engine.place_order(_order_request(), order_id=ORDER_ID)
    engine.place_order(_order_request(side="sell", base_asset_qty="1.5"), order_id=OTHER_ID)
    engine.place_multi_order(
        PlaceMultiOrderRequest(
            accounts=["mock"],
            duration=200,
            strategy="TWAP",
            child_orders=[
                {"pair": "ETH:PERP-USDT", "side": "sell", "base_asset_qty": "10"},
                {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": "10"},
            ],
        ),
        multi_id=MULTI_ID,
    )
    sandbox.advance(10)  # everything ACTIVE, some fills done
    engine.pause_order(OTHER_ID)
    return sandbox


async def run_on_sandbox(sandbox: Sandbox, case: Case) -> tuple[Any, list[Sent]]:
    """Send ``case.call`` to the sandbox; return the result (or the error raised)."""
    seen = len(sandbox.exchanges)
    async with AsyncClient(
        BASE_URL, TOKEN, extra_headers={"X-Team": "quant"}, transport=sandbox.transport()
    ) as client:
        try:
            result: Any = await case.call(client)
        except taas_async.TaaSError as exc:
            result = exc
    sent = [Sent(x.method, x.url, x.headers, x.content) for x in sandbox.exchanges[seen:]]
    return result, sent


SandboxCheck = Callable[[Any, Sandbox], None]


def echoes(body: dict[str, Any]) -> SandboxCheck:
    """A placed order: the reply and the sandbox's order carry every field that was sent."""

    def check(order: Any, sandbox: Sandbox) -> None:
        assert type(order) is Order
        assert order.status is OrderStatus.SCHEDULED  # accepted, not yet started
        assert sandbox.engine.orders[order.id].request.pair == body["pair"]
        assert order.account_names == body["accounts"]
        for name, sent in body.items():
            if name in ("accounts", "order_condition", "order_condition_expiry", "max_otc"):
                continue  # accounts come back as ids; the rest are not on the order model
            value = getattr(order, name)
            if sent is GENERATED_ID:
                assert GENERATED_ID_FORMAT.fullmatch(value), value
                assert sandbox.engine.orders[order.id].request.custom_order_id == value
            elif isinstance(value, Decimal):
                is_decimal(value, sent)
            else:
                assert value == sent, name

    return check


def raises(error: type[Exception]) -> SandboxCheck:
    def check(result: Any, _: Sandbox) -> None:
        assert type(result) is error, result

    return check


def action_done(order_id: str | None, *, status: str | None = None) -> SandboxCheck:
    """A successful cancel/pause/resume/amend/leverage reply; optionally the order's new status."""

    def check(result: Any, sandbox: Sandbox) -> None:
        assert type(result) is ActionResult
        assert result.success is True
        assert result.order_id == order_id
        assert result.message
        if status is not None and order_id is not None:
            found = sandbox.engine.orders.get(order_id) or sandbox.engine.multis[order_id]
            assert found.status == status

    return check


def is_page(*, count: int) -> SandboxCheck:
    def check(page: Any, sandbox: Sandbox) -> None:
        assert type(page) is OrdersPage
        assert page.count == count == len(sandbox.engine.orders)
        assert page.num_pages == 1
        newest_first = sorted(sandbox.engine.orders.values(), key=lambda o: -o.seq)
        assert [o.id for o in page] == [o.id for o in newest_first]
        assert {ORDER_ID, OTHER_ID} <= {o.id for o in page}

    return check


def messages_of(*order_ids: str) -> SandboxCheck:
    def check(messages: Any, _: Sandbox) -> None:
        assert type(messages) is list
        assert all(type(m) is OrderMessage for m in messages)
        assert [m.order_id for m in messages if m.message == "order accepted"] == list(order_ids)
        assert {m.order_id for m in messages} == set(order_ids)
        assert all(m.created_at is not None and m.created_at.tzinfo for m in messages)

    return check


def multi_placed(multi: Any, sandbox: Sandbox) -> None:
    assert type(multi) is MultiOrder
    assert multi.status is MultiOrderStatus.SUBMITTED
    assert multi.custom_order_id == "multi-1"
    is_decimal(multi.exposure_tolerance, "0.1")
    children = [sandbox.engine.orders[i] for i in multi.child_order_ids]
    assert [(c.pair.symbol, c.account.name, c.parent_order) for c in children] == [
        ("ETH-USDT", "a", multi.id),
        ("BTC:PERP-USDT", "b", multi.id),
    ]
    assert children[1].request.quote_asset_qty == Decimal(100)


def multi_found(multi: Any, _: Sandbox) -> None:
    assert type(multi) is MultiOrder
    assert multi.id == MULTI_ID
    assert multi.status is MultiOrderStatus.ACTIVE
    assert len(multi.child_order_ids) == 2
    assert multi.child_orders == []  # not asked for


def multi_found_with_legs(multi: Any, sandbox: Sandbox) -> None:
    assert type(multi) is MultiOrder
    assert multi.id == MULTI_ID
    assert all(type(o) is Order for o in multi.child_orders)
    assert [o.id for o in multi.child_orders] == multi.child_order_ids
    legs = [sandbox.engine.orders[i] for i in multi.child_order_ids]
    assert [o.executed_qty for o in multi.child_orders] == [o.executed_qty for o in legs]
    assert multi.pair_list == ["ETH:PERP-USDT", "ETH-USDT"]


def is_multi_page(page: Any, sandbox: Sandbox) -> None:
    assert type(page) is MultiOrdersPage
    assert page.count == 1 == len(sandbox.engine.multis)
    assert page.num_pages == 1
    assert [m.id for m in page] == [MULTI_ID]


def chain_placed(chained: Any, sandbox: Sandbox) -> None:
    assert type(chained) is ChainedOrder
    assert chained.id in sandbox.engine.chains
    assert [(o.strategy, o.side, o.status) for o in chained.orders] == [
        (Strategy.MARKET, Side.BUY, OrderStatus.SCHEDULED),
        (Strategy.LIMIT, Side.SELL, OrderStatus.SCHEDULED),
    ]
    assert chained.orders[0].time_start is not None  # priority 1 starts
    assert chained.orders[1].time_start is None  # priority 2 waits for it
    is_decimal(chained.orders[1].limit_price, "2000.5")


def balances_of(*names: str) -> SandboxCheck:
    def check(balances: Any, sandbox: Sandbox) -> None:
        assert type(balances) is dict
        assert sorted(balances) == sorted(names)
        for name in names:
            assert type(balances[name]) is Balance
            assert balances[name].exchange == sandbox.engine.accounts[name].exchange
            usdt = next(a for a in balances[name].assets if a.symbol == "USDT")
            is_decimal(usdt.size, str(sandbox.engine.accounts[name].tokens["USDT"]))

    return check


def closing(max_notional: str, *, strategy: Strategy, accounts: set[str]) -> SandboxCheck:
    def check(result: Any, sandbox: Sandbox) -> None:
        assert type(result) is CloseBalancesResult
        assert result.order_ids
        for order_id in result.order_ids:
            order = sandbox.engine.orders[order_id]
            assert order.strategy is strategy
            assert order.account.name in accounts
            price = sandbox.price(order.pair.symbol)
            assert order.request.base_asset_qty * price <= Decimal(max_notional)

    return check


def leverage_set(pair: str, leverage: str, account_ids: list[str]) -> SandboxCheck:
    def check(result: Any, sandbox: Sandbox) -> None:
        action_done(None)(result, sandbox)
        by_id = {a.id: a for a in sandbox.engine.accounts.values()}
        assert [by_id[i].leverage[pair] for i in account_ids] == [Decimal(leverage)] * len(
            account_ids
        )

    return check


def found_order(order: Any, _: Sandbox) -> None:
    assert type(order) is Order
    assert order.id == ORDER_ID
    assert order.status is OrderStatus.ACTIVE
    assert order.executed_qty is not None
    assert order.executed_qty > 0


def found_summary(summary: Any, sandbox: Sandbox) -> None:
    assert type(summary) is OrderSummary
    assert summary.id == ORDER_ID
    assert summary.executed_qty == sandbox.engine.orders[ORDER_ID].executed_qty > 0


SANDBOX_CHECKS: dict[str, SandboxCheck] = {
    "place_order-minimal": echoes(MINIMAL_ORDER_BODY),
    "place_order-every-field": echoes(CASES[1].body),
    "place_order-pov-target-quote-qty": echoes(CASES[2].body),
    "get_order": found_order,
    "get_order-uuid": found_order,
    "get_order_summary": found_summary,
    "cancel_order-200": action_done(ORDER_ID, status="CANCELED"),
    "cancel_order-204": action_done(ORDER_ID, status="CANCELED"),
    "cancel_order-200-bare-string": action_done(ORDER_ID, status="CANCELED"),
    "amend_order": action_done(ORDER_ID, status="ACTIVE"),
    "pause_order": action_done(ORDER_ID, status="PAUSED"),
    "resume_order": action_done(OTHER_ID, status="ACTIVE"),
    "get_all_orders-no-filters": is_page(count=4),
    # Sandbox time is 2026: nothing falls in January 2024, so page 3 is past the end.
    "get_all_orders-every-filter": raises(taas_async.NotFoundError),
    "get_all_orders-bare-list-reply": is_page(count=4),
    "get_order_messages-list": messages_of(ORDER_ID, OTHER_ID),
    "get_order_messages-wrapped": messages_of(ORDER_ID, OTHER_ID),
    "get_order_messages-by-order-id": messages_of(ORDER_ID, OTHER_ID),
    "place_multi_order": multi_placed,
    "get_multi_order": multi_found,
    "get_multi_order-with-child-orders": multi_found_with_legs,
    "get_multi_orders-no-filters": is_multi_page,
    # Nothing falls in January 2024 in sandbox time: page 3 is past the end.
    "get_multi_orders-every-filter": raises(taas_async.NotFoundError),
    "get_multi_orders-bare-list-reply": is_multi_page,
    "cancel_multi_order-200": action_done(MULTI_ID, status="CANCELED"),
    "cancel_multi_order-204": action_done(MULTI_ID, status="CANCELED"),
    "place_chained_order": chain_placed,
    "get_balances": balances_of("mock", "okx-main", "a", "b", "main", "test", "perps"),
    "get_balances-filters": balances_of("test", "main"),
    "get_balances-account-names-only": balances_of("test"),
    "close_balances-minimal": closing(
        "1000.50", strategy=Strategy.TWAP, accounts={"mock", "main", "test"}
    ),
    "close_balances-every-argument": closing(
        "250", strategy=Strategy.IOC, accounts={"test", "main"}
    ),
    "set_leverage": leverage_set("BTC:PERP-USDT", "5", ["acc-1", "acc-2"]),
    "set_leverage-204": leverage_set("ETH-USDT", "2.5", ["acc-1"]),
    # Endpoints the server does not have: the sandbox says so, as the server would.
    "request-get-params": raises(taas_async.NotFoundError),
    "request-post-json": raises(taas_async.NotFoundError),
    "request-delete-204": raises(taas_async.NotFoundError),
}


def test_every_case_has_a_sandbox_check() -> None:
    assert list(SANDBOX_CHECKS) == [c.id for c in CASES]


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["respx", "sandbox"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_endpoint(request: pytest.FixtureRequest, case: Case, backend: str) -> None:
    if backend == "respx":
        mock_api: respx.MockRouter = request.getfixturevalue("mock_api")  # not for the sandbox
        async with AsyncClient(BASE_URL, TOKEN, extra_headers={"X-Team": "quant"}) as client:
            result, sent = await run_on_respx(mock_api, client, case)
    else:
        sandbox = seeded_sandbox()
        result, sent = await run_on_sandbox(sandbox, case)
    assert len(sent) == 1
    (request,) = sent
    assert request.method == case.method
    assert_url(request, case.path, case.query)
    has_body = case.body is not NO_BODY
    assert_headers(request, has_body=has_body)
    if has_body:
        assert_json_body(request, case.body)
    if backend == "respx":
        case.check(result)
    else:
        SANDBOX_CHECKS[case.id](result, sandbox)


def test_table_covers_every_endpoint() -> None:
    endpoints = {
        "place_order",
        "get_order",
        "get_order_summary",
        "cancel_order",
        "amend_order",
        "pause_order",
        "resume_order",
        "get_all_orders",
        "get_order_messages",
        "place_multi_order",
        "get_multi_order",
        "get_multi_orders",
        "cancel_multi_order",
        "place_chained_order",
        "get_balances",
        "close_balances",
        "set_leverage",
        "request",
    }
    covered = {c.id.split("-")[0] for c in CASES}
    assert covered == endpoints
    # iter_orders and iter_multi_orders are covered by test_paging.py, the fan-out and tracking
    # helpers by test_fan_out.py, the order stream and watch_orders by tests/stream/;
    # nothing public is left out.
    public = {
        name
        for name in dir(AsyncClient)
        if not name.startswith("_") and callable(getattr(AsyncClient, name))
    }
    assert public - endpoints == {
        "aclose",
        "iter_orders",
        "iter_multi_orders",
        "place_orders",
        "cancel_orders",
        "watch_order",
        "wait_for_order",
        "watch_orders",
        "order_stream",
    }


# --------------------------------------------------------------------------- iter_orders
# Their paging is tested in test_paging.py; here, that they yield items typed
# as get_all_orders and get_multi_orders type them.


@pytest.mark.asyncio
async def test_iter_orders_yields_typed_orders_with_decimals(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    mock_api.get("orders/").respond(
        200, text='{"orders": [' + SEED_ORDER + "]}", content_type="application/json"
    )
    orders = [o async for o in client.iter_orders()]
    assert len(orders) == 1
    check_seed_order(orders[0])


@pytest.mark.asyncio
async def test_iter_multi_orders_yields_typed_multi_orders(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    mock_api.get("multi_orders/").respond(
        200, text='{"multi_orders": [' + SEED_MULTI_ORDER + "]}", content_type="application/json"
    )
    multis = [m async for m in client.iter_multi_orders()]
    assert len(multis) == 1
    check_seed_multi(multis[0])


# --------------------------------------------------------------------------- path parameters


ENDPOINTS_WITH_ID: list[tuple[str, str, str]] = [
    ("get_order", "GET", "order/"),
    ("get_order_summary", "GET", "order_summary/"),
    ("cancel_order", "DELETE", "order/"),
    ("get_multi_order", "GET", "multi_order/"),
    ("cancel_multi_order", "DELETE", "multi_order/"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("endpoint", "method", "prefix"), ENDPOINTS_WITH_ID)
@pytest.mark.parametrize(
    ("raw_id", "segment"),
    [
        ("../x", "..%2Fx"),
        ("a/b", "a%2Fb"),
        ("a?b=1", "a%3Fb%3D1"),
        ("a#b", "a%23b"),
        ("a%2Fb", "a%252Fb"),
        ("../../admin", "..%2F..%2Fadmin"),
        ("ü", "%C3%BC"),
    ],
)
async def test_path_id_is_one_encoded_segment(
    mock_api: respx.MockRouter,
    client: AsyncClient,
    endpoint: str,
    method: str,
    prefix: str,
    raw_id: str,
    segment: str,
) -> None:
    route = mock_api.route().respond(200, json={"id": raw_id})
    await getattr(client, endpoint)(raw_id)
    request = route.calls.last.request
    assert request.method == method
    assert request.url.raw_path == f"/prefix/api/{prefix}{segment}".encode()
    assert request.url.query == b""
    assert request.url.fragment == ""
    assert request.url.host == "taas.test"


PATH_ID_ENDPOINTS = ["get_order", "get_order_summary", "cancel_order"]
PATH_ID_ENDPOINTS += ["get_multi_order", "cancel_multi_order"]
BAD_IN_ANY_ID = ["", None, 42, b"abc", ["a"]]
BAD_IN_PATH_ONLY = [".", "..", " x", "x ", "a\nb", "a\x00b"]
BAD_ID_CASES = [(e, bad) for e in PATH_ID_ENDPOINTS for bad in BAD_IN_ANY_ID + BAD_IN_PATH_ONLY]
BAD_ID_CASES += [(e, bad) for e in ("pause_order", "resume_order") for bad in BAD_IN_ANY_ID]


@pytest.mark.asyncio
@pytest.mark.parametrize(("endpoint", "bad_id"), BAD_ID_CASES)
async def test_bad_id_is_rejected_before_sending(
    mock_api: respx.MockRouter, client: AsyncClient, endpoint: str, bad_id: Any
) -> None:
    route = mock_api.route().respond(200, json={"id": "x"})
    with pytest.raises(RequestValidationError) as exc_info:
        await getattr(client, endpoint)(bad_id)
    assert list(exc_info.value.errors) in (["order_id"], ["multi_order_id"])
    assert route.call_count == 0
    assert mock_api.calls.call_count == 0


@pytest.mark.asyncio
async def test_requests_are_what_build_request_would_make(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    # The choke point builds requests itself (cheaper); byte for byte the same.
    json_reply = {"text": SEED_ORDER, "content_type": "application/json"}
    get = mock_api.get(f"order/{ORDER_ID}").respond(200, **json_reply)
    post = mock_api.post("orders/").respond(201, **json_reply)
    await client.get_order(ORDER_ID)
    await client.place_order(_order_request())
    for route, has_body in ((get, False), (post, True)):
        sent = route.calls.last.request
        expected = client._http.build_request(
            sent.method,
            str(sent.url),
            content=sent.content or None,
            headers=client._headers(has_body=has_body),
        )
        assert sent.headers.raw == expected.headers.raw
        assert sent.extensions["timeout"] == client._timeout.as_dict()
