"""Wire parity with the reference sync client ``taas-api-client`` 1.2.9 (``taas_api``).

Each case in ``CASES`` is one shared input description given, literally, to
both clients. We capture what 1.2.9 would send by replacing ``requests.post``,
``requests.get`` and ``requests.delete`` (as seen by ``taas_api.client``) with
recorders, then let ``requests`` prepare the real request, so we compare the
real wire query string and JSON body. What we send is captured with respx.

Both sides use the same base URL without a path prefix (1.2.9's ``urljoin``
drops prefixes: see ``test_deviation_base_path_prefix_kept``).

Bodies are compared after normalising: numbers and numeric strings become
``Decimal`` (we send decimals as JSON strings, 1.2.9 floats and ints as JSON
numbers) and keys whose value is ``null`` are dropped (1.2.9's
``dataclasses.asdict`` sends nested nulls; we omit unset fields). Every other
difference is a documented deviation, demonstrated by running both clients in
the ``test_deviation_*`` tests below.

Note: ``taas-api-client`` 1.2.9 does not declare its dependency on
``requests``; the dev environment must install ``requests`` next to it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import requests
import respx
import taas_api.client
from conftest import API, BASE_URL, GENERATED_ID, TOKEN
from taas_api import data

import taas_async
from taas_async import AsyncClient, RequestValidationError

PARITY_URL = "https://taas.test"  # no path prefix: 1.2.9 would drop it
EXTRA_HEADERS = {"X-Team": "quant"}
ORDER_ID = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c"
MULTI_ORDER_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


# --------------------------------------------------------------------------- captured requests


@dataclass
class Wire:
    """One request as it goes on the wire."""

    method: str
    origin: str  # scheme://host
    path: str
    query: dict[str, list[str]]
    body: Any  # decoded JSON (floats as Decimal), or None without a body
    headers: dict[str, str]  # lower-cased names


def _wire(method: str, url: str, body: bytes | str | None, headers: dict[str, str] | Any) -> Wire:
    parts = urlsplit(url)
    if isinstance(body, str):
        body = body.encode()
    return Wire(
        method=method,
        origin=f"{parts.scheme}://{parts.netloc}",
        path=parts.path,
        query=parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)),
        body=json.loads(body, parse_float=Decimal) if body else None,
        headers={k.lower(): v for k, v in dict(headers).items()},
    )


class _FakeResponse:
    status_code = 200

    def __init__(self, reply: Any) -> None:
        self._reply = reply
        self.content = json.dumps(reply).encode()

    def raise_for_status(self) -> None:
        return None

    def json(self) -> Any:
        return copy.deepcopy(self._reply)


class Reference:
    """Runs 1.2.9 with ``requests`` replaced by recorders; returns what it would send."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[Wire] = []
        self.reply: Any = {}
        req = taas_api.client.requests
        monkeypatch.setattr(req, "post", self._recorder("POST"))
        monkeypatch.setattr(req, "get", self._recorder("GET"))
        monkeypatch.setattr(req, "delete", self._recorder("DELETE"))

    def _recorder(self, method: str) -> Callable[..., _FakeResponse]:
        def record(
            url: str,
            headers: dict[str, str] | None = None,
            json: Any = None,
            params: Any = None,
        ) -> _FakeResponse:
            # Let requests build the real request: query string, JSON body, headers.
            prepared = requests.Request(
                method, url, headers=headers, params=params, json=json
            ).prepare()
            assert prepared.url is not None
            self.sent.append(_wire(method, prepared.url, prepared.body, prepared.headers))
            return _FakeResponse(self.reply)

        return record

    def client(self, url: str = PARITY_URL) -> taas_api.client.Client:
        return taas_api.client.Client(url, TOKEN, extra_headers=EXTRA_HEADERS)

    def run(self, call: Callable[[taas_api.client.Client], Any], reply: Any, url: str) -> Wire:
        self.reply = reply
        before = len(self.sent)
        call(self.client(url))
        assert len(self.sent) == before + 1, "1.2.9 should send exactly one request"
        return self.sent[-1]


async def _run_ours(
    call: Callable[[AsyncClient], Awaitable[Any]], reply: Any, url: str = PARITY_URL
) -> Wire:
    with respx.mock(assert_all_mocked=True, assert_all_called=True, using="httpx") as router:
        route = router.route(host=urlsplit(url).hostname).mock(
            return_value=httpx.Response(200, json=reply)
        )
        async with AsyncClient(url, TOKEN, extra_headers=EXTRA_HEADERS) as client:
            await call(client)
    assert route.call_count == 1, "we should send exactly one request"
    request = route.calls.last.request
    return _wire(request.method, str(request.url), request.content, request.headers)


@pytest.fixture
def reference(monkeypatch: pytest.MonkeyPatch) -> Reference:
    return Reference(monkeypatch)


# --------------------------------------------------------------------------- normalisation

_NUMERIC = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def normalise(value: Any) -> Any:
    """Numbers and numeric strings as Decimal; keys with null values dropped."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    if isinstance(value, str) and _NUMERIC.fullmatch(value):
        return Decimal(value)
    return value


# ---------------------------------------------------------------- both clients, per endpoint
# Each entry turns one shared input description into a call on either client.


def _ref_multi(i: dict[str, Any]) -> data.PlaceMultiOrderRequest:
    return data.PlaceMultiOrderRequest(
        **{**i, "child_orders": [data.ChildOrder(**c) for c in i["child_orders"]]}
    )


def _ours_multi(i: dict[str, Any]) -> taas_async.PlaceMultiOrderRequest:
    return taas_async.PlaceMultiOrderRequest(
        **{**i, "child_orders": [taas_async.ChildOrder(**c) for c in i["child_orders"]]}
    )


def _ref_chain(i: dict[str, Any]) -> data.PlaceChainedOrderRequest:
    return data.PlaceChainedOrderRequest(
        orders_in_chain=[
            data.OrderInChain(
                order_request=data.PlaceOrderRequest(**o["order_request"]), priority=o["priority"]
            )
            for o in i["orders_in_chain"]
        ]
    )


def _ours_chain(i: dict[str, Any]) -> taas_async.PlaceChainedOrderRequest:
    return taas_async.PlaceChainedOrderRequest(
        orders_in_chain=[
            taas_async.OrderInChain(
                order_request=taas_async.PlaceOrderRequest(**o["order_request"]),
                priority=o["priority"],
            )
            for o in i["orders_in_chain"]
        ]
    )


RefCall = Callable[[taas_api.client.Client, dict[str, Any]], Any]
OursCall = Callable[[AsyncClient, dict[str, Any]], Awaitable[Any]]

ENDPOINTS: dict[str, tuple[RefCall, OursCall, Any]] = {
    # name: (1.2.9 call, our call, a minimal valid reply)
    "place_order": (
        lambda c, i: c.place_order(data.PlaceOrderRequest(**i)),
        lambda c, i: c.place_order(taas_async.PlaceOrderRequest(**i)),
        {"id": ORDER_ID, "status": "ACTIVE"},
    ),
    "place_multi_order": (
        lambda c, i: c.place_multi_order(_ref_multi(i)),
        lambda c, i: c.place_multi_order(_ours_multi(i)),
        {"id": MULTI_ORDER_ID, "status": "ACTIVE"},
    ),
    "place_chained_order": (
        lambda c, i: c.place_chained_order(_ref_chain(i)),
        lambda c, i: c.place_chained_order(_ours_chain(i)),
        {"id": "chain-1"},
    ),
    "amend_order": (
        lambda c, i: c.amend_order(data.AmendOrderRequest(**i)),
        lambda c, i: c.amend_order(taas_async.AmendOrderRequest(**i)),
        {"message": "amended"},
    ),
    "set_leverage": (
        lambda c, i: c.set_leverage(data.SetLeverageRequest(**i)),
        lambda c, i: c.set_leverage(taas_async.SetLeverageRequest(**i)),
        {"message": "ok"},
    ),
    "get_balances": (
        lambda c, i: c.get_balances(**i),
        lambda c, i: c.get_balances(**i),
        {},
    ),
    "get_all_orders": (
        lambda c, i: c.get_all_orders(data.GetOrderRequest(**i)),
        lambda c, i: c.get_all_orders(taas_async.GetOrdersRequest(**i)),
        {"orders": []},
    ),
    "get_order": (
        lambda c, i: c.get_order(**i),
        lambda c, i: c.get_order(**i),
        {"id": ORDER_ID},
    ),
    "cancel_order": (
        lambda c, i: c.cancel_order(**i),
        lambda c, i: c.cancel_order(**i),
        {"message": "canceled"},
    ),
    "get_order_summary": (
        lambda c, i: c.get_order_summary(**i),
        lambda c, i: c.get_order_summary(**i),
        {"id": ORDER_ID},
    ),
    "cancel_multi_order": (
        lambda c, i: c.cancel_multi_order(**i),
        lambda c, i: c.cancel_multi_order(**i),
        {"message": "canceled"},
    ),
    "close_balances": (
        lambda c, i: c.close_balances(**i),
        lambda c, i: c.close_balances(**i),
        {"message": "ok", "order_ids": []},
    ),
    "get_order_messages": (
        lambda c, i: c.get_order_messages(data.GetOrderMessagesRequest(**i)),
        lambda c, i: c.get_order_messages(**i),
        [],
    ),
}

#: Order-creating POSTs: each order we send carries a ``custom_order_id`` (SPEC, safety rules).
ORDER_CREATING = {"place_order", "place_multi_order", "place_chained_order"}


def _pop_generated_ids(given: dict[str, Any], body: dict[str, Any]) -> list[str]:
    """Remove (and return) the ids we generated: one per order the caller gave none.

    A single or multi order carries it at the top; a chain, in each leg. The
    caller's ids stay in ``body``, to be compared with what 1.2.9 sends.
    """
    pairs = [(given, body)]
    if "orders_in_chain" in given:
        pairs = [
            (g["order_request"], b["order_request"])
            for g, b in zip(given["orders_in_chain"], body["orders_in_chain"], strict=True)
        ]
    generated = []
    for theirs, ours in pairs:
        if theirs.get("custom_order_id") is None:
            value = ours.pop("custom_order_id")
            assert isinstance(value, str)
            assert GENERATED_ID.fullmatch(value), value
            generated.append(value)
        else:
            assert ours["custom_order_id"] == theirs["custom_order_id"]
    assert len(set(generated)) == len(generated), "each order gets its own id"
    return generated


@dataclass
class Case:
    id: str
    endpoint: str
    input: dict[str, Any]
    #: Query parameters whose list we comma-join and 1.2.9 repeats (documented deviation).
    joined_params: tuple[str, ...] = ()
    #: Body keys 1.2.9 derives through a ``set`` (order not defined): compared as sets.
    unordered_keys: tuple[str, ...] = ()


def _po(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "accounts": ["mock"],
        "pair": "ETH-USDT",
        "side": "buy",
        "strategy": "TWAP",
    }
    return {**base, **extra}


CASES: list[Case] = [
    # ---- single orders
    Case("order-base-qty-twap", "place_order", _po(duration=300, base_asset_qty=5)),
    Case(
        # (A Limit order takes no duration now, and 1.2.9 insists on one: see the deviations.)
        "order-quote-qty-limit-price",
        "place_order",
        _po(side="sell", strategy="IS", duration=60, quote_asset_qty=1000.5, limit_price=2500.25),
    ),
    Case(
        "order-sell-token-amount-vwap",
        "place_order",
        _po(strategy="VWAP", duration=900, sell_token_amount=0.1),
    ),
    Case(
        "order-tuning-is",
        "place_order",
        _po(
            strategy="IS",
            duration=1200,
            base_asset_qty=2,
            engine_passiveness=0.5,
            schedule_discretion=0.08,
            alpha_tilt=-0.3,
        ),
    ),
    Case(
        "order-pov-target-without-duration",
        "place_order",
        _po(base_asset_qty=3, pov_target=0.1),
    ),
    Case(
        "order-pov-target-and-limit",
        "place_order",
        _po(duration=600, base_asset_qty=3, pov_target=0.05, pov_limit=0.2),
    ),
    Case(
        "order-strategy-params-notes-custom-id",
        "place_order",
        _po(
            duration=300,
            base_asset_qty=1,
            strategy_params={"reduce_only": True, "passive_only": False, "max_clip_size": 100},
            notes="hedge leg",
            custom_order_id="cid-0001",
        ),
    ),
    Case(
        "order-perp-leverage-pos-side-max-otc",
        "place_order",
        _po(
            pair="BTC:PERP-USDT",
            side="sell",
            duration=300,
            base_asset_qty=0.25,
            updated_leverage=5,
            pos_side="short",
            max_otc=0.5,
        ),
    ),
    Case(
        "order-condition-and-expiry",
        "place_order",
        _po(
            duration=300,
            quote_asset_qty=250,
            order_condition="ETH-USDT > 3000",
            order_condition_expiry="2030-01-01T00:00:00+00:00",
        ),
    ),
    Case(
        "order-market-two-accounts-tiny-qty",
        "place_order",
        _po(accounts=["acc1", "acc2"], strategy="TWAP", duration=30, base_asset_qty=1e-06),
    ),
    Case(
        "order-iceberg-range-boundaries",
        "place_order",
        _po(
            strategy="VWAP",
            duration=3600,
            base_asset_qty=12,
            limit_price=100,
            engine_passiveness=0,
            schedule_discretion=0.5,  # the documented top; 1.2.9 allows up to 1
            alpha_tilt=1,
        ),
    ),
    # ---- multi orders
    Case(
        "multi-explicit-accounts",
        "place_multi_order",
        {
            "duration": 600,
            "strategy": "TWAP",
            "accounts": ["acc1"],
            "child_orders": [
                {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": 1},
                {"pair": "BTC-USDT", "side": "sell", "quote_asset_qty": 5000},
            ],
            "exposure_tolerance": 0.1,
            "engine_passiveness": 0.4,
        },
    ),
    Case(
        "multi-accounts-from-children",
        "place_multi_order",
        {
            "duration": 300,
            "strategy": "VWAP",
            "child_orders": [
                {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": 1, "account": "okx-main"},
                {"pair": "ETH:PERP-USDT", "side": "sell", "base_asset_qty": 1, "account": "bybit"},
                {"pair": "BTC-USDT", "side": "buy", "quote_asset_qty": 100, "account": "okx-main"},
            ],
        },
        unordered_keys=("accounts",),
    ),
    Case(
        "multi-perp-pos-side-and-tuning",
        "place_multi_order",
        {
            "duration": 1800,
            "strategy": "IS",
            "accounts": ["acc1", "acc2"],
            "child_orders": [
                {"pair": "BTC:PERP-USDT", "side": "buy", "base_asset_qty": 0.5, "pos_side": "long"},
                {
                    "pair": "ETH:PERP-USDT",
                    "side": "sell",
                    "quote_asset_qty": 2000,
                    "pos_side": "short",
                },
            ],
            "schedule_discretion": 0.05,
            "alpha_tilt": 0.2,
            "order_condition": "spread < 10",
            "strategy_params": {"reduce_only": False},
            "custom_order_id": "multi-cid-1",
        },
    ),
    # ---- chained orders
    Case(
        "chained-two",
        "place_chained_order",
        {
            "orders_in_chain": [
                {"order_request": _po(duration=300, base_asset_qty=1), "priority": 1},
                {
                    "order_request": _po(side="sell", duration=300, base_asset_qty=1),
                    "priority": 2,
                },
            ]
        },
    ),
    Case(
        "chained-three-mixed",
        "place_chained_order",
        {
            "orders_in_chain": [
                {
                    "order_request": _po(
                        strategy="TWAP", quote_asset_qty=500, limit_price=2000.5, duration=60
                    ),
                    "priority": 1,
                },
                {"order_request": _po(base_asset_qty=0.2, pov_target=0.3), "priority": 2},
                {
                    "order_request": _po(
                        pair="BTC:PERP-USDT", duration=120, sell_token_amount=100, notes="last"
                    ),
                    "priority": 3,
                },
            ]
        },
    ),
    # ---- amend and leverage
    Case(
        "amend-price-and-duration",
        "amend_order",
        {"order_id": ORDER_ID, "changes": {"limit_price": 2500.5, "duration": 900}},
    ),
    Case(
        "amend-nested-changes",
        "amend_order",
        {
            "order_id": ORDER_ID,
            "changes": {"engine_passiveness": 0.3, "strategy_params": {"reduce_only": True}},
        },
    ),
    Case(
        "leverage-two-accounts",
        "set_leverage",
        {"account_ids": ["acc1", "acc2"], "pair": "BTC:PERP-USDT", "leverage": "10"},
    ),
    Case(
        "leverage-fractional",
        "set_leverage",
        {"account_ids": ["acc1"], "pair": "ETH-USDT", "leverage": "2.5"},
    ),
    # ---- balances filters (both sides comma-join: no deviation)
    Case("balances-no-filter", "get_balances", {}),
    Case("balances-exchanges", "get_balances", {"exchange_names": ["Binance", "OKX"]}),
    Case("balances-accounts", "get_balances", {"account_names": ["acc1", "acc 2"]}),
    Case(
        "balances-both",
        "get_balances",
        {"exchange_names": ["Bybit"], "account_names": ["acc1", "acc2", "acc3"]},
    ),
    # ---- orders list filters
    Case("orders-no-filter", "get_all_orders", {}),
    Case(
        "orders-statuses",
        "get_all_orders",
        {"statuses": ["ACTIVE", "PAUSED"]},
        joined_params=("statuses",),
    ),
    Case("orders-one-account-page", "get_all_orders", {"account_names": ["acc1"], "page": 2}),
    Case(
        "orders-time-window-paging",
        "get_all_orders",
        {
            "after": "2024-01-01T00:00:00+00:00",
            "before": "2024-02-01T12:30:00+00:00",
            "page": 1,
            "page_size": 50,
        },
    ),
    Case(
        "orders-every-filter",
        "get_all_orders",
        {
            "statuses": ["COMPLETE", "CANCELED", "ACTIVE"],
            "account_names": ["acc1", "acc2"],
            "after": "2024-01-01T00:00:00+00:00",
            "before": "2024-03-01T00:00:00+00:00",
            "page": 3,
            "page_size": 25,
        },
        joined_params=("statuses", "account_names"),
    ),
    # ---- ids, cancel, summary, close, messages
    Case("get-order", "get_order", {"order_id": ORDER_ID}),
    Case("cancel-order", "cancel_order", {"order_id": ORDER_ID}),
    Case("order-summary", "get_order_summary", {"order_id": ORDER_ID}),
    Case("cancel-multi-order", "cancel_multi_order", {"order_id": MULTI_ORDER_ID}),
    Case("close-balances-minimal", "close_balances", {"max_notional": 1000}),
    Case(
        "close-balances-accounts-strategy",
        "close_balances",
        {"max_notional": 2500.75, "account_names": ["acc1", "acc2"], "preferred_strategy": "TWAP"},
    ),
    Case("order-messages", "get_order_messages", {"order_ids": [ORDER_ID, MULTI_ORDER_ID]}),
]

# Ours names the multi-order id ``multi_order_id``; 1.2.9 ``order_id``: pass it positionally.
_POSITIONAL = {"cancel_multi_order"}


def _call_args(case: Case) -> tuple[RefCall, OursCall, Any]:
    ref_call, ours_call, reply = ENDPOINTS[case.endpoint]
    if case.endpoint in _POSITIONAL:
        (only,) = case.input.values()
        return (
            lambda c, _i: getattr(c, case.endpoint)(only),
            lambda c, _i: getattr(c, case.endpoint)(only),
            reply,
        )
    return ref_call, ours_call, reply


def test_case_table_covers_the_acceptance() -> None:
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)
    assert set(ENDPOINTS) == {c.endpoint for c in CASES}


async def _both(reference: Reference, case: Case, url: str = PARITY_URL) -> tuple[Wire, Wire]:
    ref_call, ours_call, reply = _call_args(case)
    theirs = reference.run(lambda c: ref_call(c, copy.deepcopy(case.input)), reply, url)
    ours = await _run_ours(lambda c: ours_call(c, copy.deepcopy(case.input)), reply, url)
    return theirs, ours


@pytest.mark.asyncio
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_wire_parity(reference: Reference, case: Case) -> None:
    theirs, ours = await _both(reference, case)

    assert ours.method == theirs.method
    assert ours.origin == theirs.origin == PARITY_URL
    assert ours.path == theirs.path

    # Query: decoded values. Only the listed parameters may differ, and only by
    # our comma-joining what 1.2.9 repeats (``statuses=A,B`` vs ``statuses=A&statuses=B``).
    their_query = dict(theirs.query)
    for name in case.joined_params:
        assert len(their_query[name]) > 1, f"{name}: 1.2.9 should repeat it (else drop the flag)"
        their_query[name] = [",".join(their_query[name])]
    assert ours.query == their_query
    assert all(len(values) == 1 for values in ours.query.values())

    # Body: numbers compared as Decimal, nulls dropped.
    their_body, our_body = normalise(theirs.body), normalise(ours.body)
    if case.endpoint in ORDER_CREATING:
        # Deviation: every order we send carries a custom_order_id; one the
        # caller gave is compared below, a generated one is checked and dropped
        # (see test_deviation_custom_order_id_always_sent).
        _pop_generated_ids(case.input, our_body)
    for key in case.unordered_keys:
        # 1.2.9 derives these through a set: same members, order not defined.
        assert sorted(our_body[key]) == sorted(their_body[key])
        assert len(our_body[key]) == len(set(our_body[key]))
        our_body[key], their_body[key] = sorted(our_body[key]), sorted(their_body[key])
    assert our_body == their_body

    # Headers: the same token scheme and the same extra headers.
    assert ours.headers["authorization"] == theirs.headers["authorization"] == f"Token {TOKEN}"
    assert ours.headers["x-team"] == theirs.headers["x-team"] == "quant"
    if theirs.body is not None:
        assert theirs.headers["content-type"] == "application/json"
        assert ours.headers["content-type"] == "application/json"
    else:
        assert ours.body is None


# --------------------------------------------------------------------------- documented deviations
# Each test runs both clients and asserts what each does, so it fails if either side changes.


def _assert_nothing_sent(router: respx.MockRouter) -> None:
    assert router.calls.call_count == 0


@pytest.fixture
def parity_router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False, using="httpx") as router:
        router.route(host="taas.test").mock(return_value=httpx.Response(200, json={"id": ORDER_ID}))
        yield router


@pytest.mark.asyncio
async def test_deviation_orders_list_params_comma_joined(reference: Reference) -> None:
    """Orders list: we comma-join lists (docs; as both do for balances); 1.2.9 repeats the key.

    1.2.9 passes ``GetOrderRequest``'s lists to ``requests`` as they are, which
    repeats the parameter; the docs describe comma-separated values, and 1.2.9
    itself comma-joins the balances filters.
    """
    case = Case(
        "x", "get_all_orders", {"statuses": ["ACTIVE", "PAUSED"], "account_names": ["a", "b"]}
    )
    theirs, ours = await _both(reference, case)
    assert theirs.path == ours.path == "/api/orders/"
    assert theirs.query == {"statuses": ["ACTIVE", "PAUSED"], "account_names": ["a", "b"]}
    assert ours.query == {"statuses": ["ACTIVE,PAUSED"], "account_names": ["a,b"]}

    # Balances: both comma-join, so there is no deviation there.
    balances = Case(
        "y", "get_balances", {"exchange_names": ["A", "B"], "account_names": ["c", "d"]}
    )
    theirs, ours = await _both(reference, balances)
    assert theirs.query == ours.query == {"exchange_names": ["A,B"], "account_names": ["c,d"]}


@pytest.mark.asyncio
async def test_deviation_pair_must_match_whole_string(
    reference: Reference, parity_router: respx.MockRouter
) -> None:
    """1.2.9 checks ``pair`` with ``re.search``: junk around a pair passes. We need a full match."""
    bad = _po(pair="!!ETH-USDT!!", duration=300, base_asset_qty=1)
    theirs = reference.run(
        lambda c: c.place_order(data.PlaceOrderRequest(**bad)), {"id": ORDER_ID}, PARITY_URL
    )
    assert theirs.body["pair"] == "!!ETH-USDT!!"

    with pytest.raises(RequestValidationError) as info:
        taas_async.PlaceOrderRequest(**bad)
    assert "pair" in info.value.errors
    # Same rule for set_leverage and multi children.
    lev = {"account_ids": ["acc1"], "pair": "x ETH-USDT y", "leverage": "3"}
    reference.run(lambda c: c.set_leverage(data.SetLeverageRequest(**lev)), {}, PARITY_URL)
    assert reference.sent[-1].body["pair"] == "x ETH-USDT y"
    with pytest.raises(RequestValidationError) as info:
        taas_async.SetLeverageRequest(**lev)
    assert "pair" in info.value.errors
    _assert_nothing_sent(parity_router)


@pytest.mark.asyncio
@pytest.mark.parametrize("strategy", ["IOC", "Target Time"])
async def test_deviation_ioc_and_target_time_accepted(reference: Reference, strategy: str) -> None:
    """The docs list IOC and Target Time; 1.2.9's ``Strategy`` lacks them and refuses to send."""
    # IOC is a simple order: no duration (API-FACTS 3.1); Target Time is algorithmic.
    order = _po(
        strategy=strategy, duration=300 if strategy == "Target Time" else None, base_asset_qty=1
    )
    with pytest.raises(ValueError, match="unexpected strategy"):
        reference.client().place_order(data.PlaceOrderRequest(**order))
    assert reference.sent == []

    ours = await _run_ours(
        lambda c: c.place_order(taas_async.PlaceOrderRequest(**order)), {"id": ORDER_ID}
    )
    assert ours.body["strategy"] == strategy


@pytest.mark.asyncio
@pytest.mark.parametrize("strategy", ["Market", "IOC", "Limit", "Iceberg"])
async def test_deviation_simple_orders_take_no_duration(
    reference: Reference, strategy: str
) -> None:
    """API-FACTS 3.1: simple orders do not use ``duration``; 1.2.9 required one for every order.

    1.2.9 refuses a simple order without a duration and sends one with it; we
    send the first and refuse the second, naming the field.
    """
    price = {"limit_price": 2500} if strategy in ("Limit", "Iceberg") else {}
    without = _po(strategy=strategy, base_asset_qty=1, **price)  # no duration
    if strategy in ("Market", "Limit", "Iceberg"):  # 1.2.9's Strategy lacks IOC altogether
        with pytest.raises(ValueError, match="duration"):
            reference.client().place_order(data.PlaceOrderRequest(**without))
    assert reference.sent == []
    ours = await _run_ours(
        lambda c: c.place_order(taas_async.PlaceOrderRequest(**without)), {"id": ORDER_ID}
    )
    assert "duration" not in ours.body
    with pytest.raises(RequestValidationError) as info:
        taas_async.PlaceOrderRequest(**without, duration=60)
    assert info.value.errors == {
        "duration": [f"not used by {strategy} orders (a simple order): leave it out"]
    }


@pytest.mark.asyncio
async def test_deviation_schedule_discretion_top_is_documented(
    reference: Reference, parity_router: respx.MockRouter
) -> None:
    """API-FACTS 3.1: schedule_discretion runs 0.02 to 0.5; 1.2.9 accepts up to 1."""
    order = _po(duration=300, base_asset_qty=1, schedule_discretion=0.8)
    theirs = reference.run(
        lambda c: c.place_order(data.PlaceOrderRequest(**order)), {"id": ORDER_ID}, PARITY_URL
    )
    assert theirs.body["schedule_discretion"] == Decimal("0.8")
    with pytest.raises(RequestValidationError) as info:
        taas_async.PlaceOrderRequest(**order)
    assert list(info.value.errors) == ["schedule_discretion"]


@pytest.mark.asyncio
async def test_deviation_exactly_one_quantity(
    reference: Reference, parity_router: respx.MockRouter
) -> None:
    """The docs want exactly one quantity; 1.2.9 checks "at least one" (children: not at all)."""
    two = _po(duration=300, base_asset_qty=1, quote_asset_qty=2500)
    theirs = reference.run(
        lambda c: c.place_order(data.PlaceOrderRequest(**two)), {"id": ORDER_ID}, PARITY_URL
    )
    assert theirs.body["base_asset_qty"] == 1
    assert theirs.body["quote_asset_qty"] == 2500
    with pytest.raises(RequestValidationError) as info:
        taas_async.PlaceOrderRequest(**two)
    assert "sell_token_amount, base_asset_qty, quote_asset_qty" in info.value.errors

    child: dict[str, Any] = {"pair": "ETH-USDT", "side": "buy"}  # no quantity at all
    multi = {"duration": 60, "strategy": "TWAP", "accounts": ["a"], "child_orders": [child]}
    reference.run(lambda c: c.place_multi_order(_ref_multi(multi)), {"id": "m"}, PARITY_URL)
    assert reference.sent[-1].body["child_orders"][0]["base_asset_qty"] is None
    with pytest.raises(RequestValidationError):
        _ours_multi(multi)
    _assert_nothing_sent(parity_router)


@pytest.mark.asyncio
async def test_deviation_nested_nulls_omitted(reference: Reference) -> None:
    """1.2.9 drops top-level ``None`` only (``asdict`` keeps nested nulls); we omit every unset."""
    multi = Case(
        "m",
        "place_multi_order",
        {
            "duration": 60,
            "strategy": "TWAP",
            "accounts": ["a"],
            "child_orders": [{"pair": "ETH-USDT", "side": "buy", "base_asset_qty": 1}],
        },
    )
    theirs, ours = await _both(reference, multi)
    assert theirs.body["child_orders"][0] == {
        "pair": "ETH-USDT",
        "side": "buy",
        "base_asset_qty": 1,
        "quote_asset_qty": None,
        "pos_side": None,
        "account": None,
    }
    assert ours.body["child_orders"][0] == {
        "pair": "ETH-USDT",
        "side": "buy",
        "base_asset_qty": "1",
    }

    chain = Case(
        "c",
        "place_chained_order",
        {
            "orders_in_chain": [
                {"order_request": _po(duration=60, base_asset_qty=1), "priority": 1},
                {"order_request": _po(duration=60, base_asset_qty=2), "priority": 2},
            ]
        },
    )
    theirs, ours = await _both(reference, chain)
    their_first = theirs.body["orders_in_chain"][0]["order_request"]
    our_first = ours.body["orders_in_chain"][0]["order_request"]
    assert their_first["limit_price"] is None
    assert their_first["notes"] is None
    assert set(their_first) == {
        f.name for f in data.PlaceOrderRequest.__dataclass_fields__.values()
    }
    assert "limit_price" not in our_first
    assert None not in our_first.values()
    # custom_order_id: generated (test_deviation_custom_order_id_always_sent).
    assert set(our_first) == {
        "accounts",
        "pair",
        "side",
        "strategy",
        "duration",
        "base_asset_qty",
        "custom_order_id",
    }


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.endpoint in ORDER_CREATING],
    ids=lambda c: c.id,
)
async def test_deviation_custom_order_id_always_sent(reference: Reference, case: Case) -> None:
    """1.2.9 sends ``custom_order_id`` only when given; we send one on every order.

    SPEC, safety rules: an order POST whose reply is lost is looked up by its
    ``custom_order_id`` rather than resent blindly, so an order without one
    gets a generated ``taas-`` + 32 hex digits (each leg of a chain its own).
    The caller's id is sent as is, by both.
    """
    theirs, ours = await _both(reference, case)
    their_body, our_body = normalise(theirs.body), normalise(ours.body)
    if "orders_in_chain" in case.input:
        their_ids = [
            leg["order_request"].get("custom_order_id") for leg in their_body["orders_in_chain"]
        ]
        our_ids = [leg["order_request"]["custom_order_id"] for leg in our_body["orders_in_chain"]]
        given = [
            leg["order_request"].get("custom_order_id") for leg in case.input["orders_in_chain"]
        ]
    else:
        their_ids = [their_body.get("custom_order_id")]
        our_ids = [our_body["custom_order_id"]]
        given = [case.input.get("custom_order_id")]
    assert their_ids == given  # 1.2.9: only what the caller gave (nulls dropped by normalise)
    assert None not in our_ids
    # Ours: the caller's id where given, a fresh generated one everywhere else.
    generated = _pop_generated_ids(case.input, our_body)
    assert len(generated) == given.count(None)


@pytest.mark.asyncio
async def test_deviation_decimals_sent_as_json_strings(reference: Reference) -> None:
    """1.2.9 sends floats as JSON numbers; we send exact decimals as JSON strings."""
    case = Case(
        "d",
        "place_order",
        _po(duration=300, base_asset_qty=0.1, limit_price=2500.25, engine_passiveness=0.3),
    )
    theirs, ours = await _both(reference, case)
    raw_theirs = reference.sent[-1].body
    assert raw_theirs["base_asset_qty"] == Decimal("0.1")  # a JSON number (decoded as Decimal)
    for key in ("base_asset_qty", "limit_price", "engine_passiveness"):
        assert not isinstance(theirs.body[key], str)
        assert isinstance(ours.body[key], str)
        assert Decimal(ours.body[key]) == Decimal(str(theirs.body[key]))
    assert ours.body["base_asset_qty"] == "0.1"
    # Whole numbers that are not quantities stay JSON integers on both sides.
    assert theirs.body["duration"] == ours.body["duration"] == 300


@pytest.mark.asyncio
async def test_deviation_base_path_prefix_kept(
    reference: Reference, mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    """1.2.9 joins with ``urljoin`` and an absolute path, which drops a base URL's path prefix."""
    assert BASE_URL == "https://taas.test/prefix"
    order = _po(duration=300, base_asset_qty=1)
    theirs = reference.run(
        lambda c: c.place_order(data.PlaceOrderRequest(**order)), {"id": ORDER_ID}, BASE_URL
    )
    assert theirs.origin + theirs.path == "https://taas.test/api/orders/"

    route = mock_api.post("orders/").mock(return_value=httpx.Response(200, json={"id": ORDER_ID}))
    await client.place_order(taas_async.PlaceOrderRequest(**order))
    assert route.call_count == 1
    assert str(route.calls.last.request.url) == API + "orders/"
    assert API + "orders/" == "https://taas.test/prefix/api/orders/"


@pytest.mark.asyncio
async def test_deviation_multi_accounts_from_children_in_first_seen_order(
    reference: Reference,
) -> None:
    """Without ``accounts``: 1.2.9 derives them via a ``set`` (no order); ours: first seen."""
    children = [
        {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": 1, "account": name}
        for name in ["zeta", "alpha", "mid", "alpha", "zeta"]
    ]
    case = Case(
        "m",
        "place_multi_order",
        {"duration": 60, "strategy": "TWAP", "child_orders": children},
    )
    theirs, ours = await _both(reference, case)
    assert sorted(theirs.body["accounts"]) == ["alpha", "mid", "zeta"]
    assert ours.body["accounts"] == ["zeta", "alpha", "mid"]


@pytest.mark.asyncio
async def test_deviation_time_filters_reserialised(reference: Reference) -> None:
    """``before``/``after``: 1.2.9 forwards the string; we parse it, send ISO 8601 with an offset.

    The instant is the same; the text differs for ``Z`` (we send ``+00:00``).
    Naive timestamps, which 1.2.9 forwards, are ambiguous and we refuse them.
    """
    case = Case("t", "get_all_orders", {"after": "2024-01-01T00:00:00Z"})
    theirs, ours = await _both(reference, case)
    assert theirs.query == {"after": ["2024-01-01T00:00:00Z"]}
    assert ours.query == {"after": ["2024-01-01T00:00:00+00:00"]}

    naive = {"after": "2024-01-01T00:00:00"}
    reference.run(
        lambda c: c.get_all_orders(data.GetOrderRequest(**naive)), {"orders": []}, PARITY_URL
    )
    assert reference.sent[-1].query == {"after": ["2024-01-01T00:00:00"]}
    with pytest.raises(RequestValidationError) as info:
        taas_async.GetOrdersRequest(**naive)
    assert "after" in info.value.errors


@pytest.mark.asyncio
async def test_deviation_order_id_cannot_change_the_path(reference: Reference) -> None:
    """1.2.9 pastes the id into the path (``../`` leaves the endpoint); we percent-encode it."""
    evil = "../balances"
    their_cancel = reference.run(lambda c: c.cancel_order(evil), {}, PARITY_URL)
    assert their_cancel.method == "DELETE"
    assert their_cancel.path == "/api/balances"  # a DELETE on another endpoint

    ours = await _run_ours(lambda c: c.cancel_order(evil), {})
    assert ours.method == "DELETE"
    assert ours.path == "/api/order/..%2Fbalances"


@pytest.mark.asyncio
async def test_deviation_empty_filter_lists_rejected(
    reference: Reference, parity_router: respx.MockRouter
) -> None:
    """1.2.9 silently drops an empty filter list (``if exchange_names:``), widening the query to all
    balances; we reject it, since "no exchanges" and "every exchange" are not the same request.
    """
    theirs = reference.run(lambda c: c.get_balances(exchange_names=[]), {}, PARITY_URL)
    assert theirs.query == {}
    async with AsyncClient(PARITY_URL, TOKEN) as client:
        with pytest.raises(RequestValidationError) as info:
            await client.get_balances(exchange_names=[])
    assert "exchange_names" in info.value.errors

    theirs = reference.run(
        lambda c: c.close_balances(100, account_names=[]), {"message": "ok"}, PARITY_URL
    )
    assert theirs.body == {"max_notional": 100}  # closes on every account
    async with AsyncClient(PARITY_URL, TOKEN) as client:
        with pytest.raises(RequestValidationError):
            await client.close_balances(100, account_names=[])
    _assert_nothing_sent(parity_router)


@pytest.mark.asyncio
async def test_deviation_identifying_headers(reference: Reference) -> None:
    """Both send ``Authorization: Token``; we add a ``User-Agent`` naming us and ``Accept``."""
    case = Case("h", "get_order", {"order_id": ORDER_ID})
    theirs, ours = await _both(reference, case)
    assert theirs.headers["authorization"] == ours.headers["authorization"] == f"Token {TOKEN}"
    assert theirs.headers.get("user-agent") is None  # requests adds its own only when sending
    assert ours.headers["user-agent"].startswith(f"taas-async/{taas_async.__version__} ")
    assert ours.headers["accept"] == "application/json"
