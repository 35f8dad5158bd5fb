"""Bad input is rejected before anything is sent, naming every bad field.

* A table of invalid requests over every request model and every endpoint that
  takes plain arguments: each raises ``RequestValidationError`` whose
  ``errors`` keys are exactly the expected field paths.
* Assignment is validated too; a rejected assignment leaves the old value.
* Cross-field rules are checked again when sending (lists mutated in place,
  fields assigned one by one): respx shows that nothing left the client.
* Amend changes must name order fields; lists may come from any iterable but
  never a bare string or a mapping; values the wire joins with commas may not
  hold one; expiry strings need an offset.
* Hypothesis: generated valid requests are accepted and stored exactly;
  out-of-range values are rejected naming the field.

The rules for numbers (decimal text, bounds) are in test_request_numbers.py.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
import respx
from conftest import load, order_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from request_kwargs import (
    AMEND,
    CHAIN,
    CHILD,
    DROP,
    IN_CHAIN,
    LEVERAGE,
    MULTI,
    ORDER,
    _with,
    amend,
    chain_entry,
    child,
    leverage,
    multi,
    order,
    order_for,
)

from taas_async import (
    AmendOrderRequest,
    AsyncClient,
    ChildOrder,
    GetOrdersRequest,
    OrderInChain,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    PosSide,
    RequestValidationError,
    SetLeverageRequest,
    Side,
    Strategy,
    TaaSError,
)
from taas_async._converter import to_wire

# The contract's pair grammar, written here independently of the package.
PAIR = r"[A-Za-z0-9]+(?::[A-Za-z0-9_]+)?-[A-Za-z0-9]+"

# Keys under which cross-field problems are reported.
QTY = "sell_token_amount, base_asset_qty, quote_asset_qty"
TIMING = "duration, pov_target"
CHILD_QTY = "base_asset_qty, quote_asset_qty"
AFTER_BEFORE = "after, before"

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
NAIVE = dt.datetime(2024, 1, 1)  # deliberately naive


def assert_names(err: RequestValidationError, expected: set[str]) -> None:
    """``err`` names exactly ``expected``, each with a reason, all in its message."""
    assert isinstance(err, ValueError)
    assert isinstance(err, TaaSError)
    assert set(err.errors) == expected, err.errors
    assert err.fields == list(err.errors)
    text = str(err)
    for key in expected:
        assert err.errors[key], f"no reason given for {key!r}"
        assert all(isinstance(reason, str) and reason for reason in err.errors[key])
        assert key in text
        for name in key.split(", "):
            assert name in text


# --------------------------------------------------------------------------- the table

P = pytest.param
MODEL_ROWS = [
    # ---- PlaceOrderRequest: side, pos_side, strategy
    P(PlaceOrderRequest, order(side="hold"), {"side"}, id="order-side-unknown"),
    P(PlaceOrderRequest, order(side=None), {"side"}, id="order-side-none"),
    P(PlaceOrderRequest, order(side=1), {"side"}, id="order-side-int"),
    P(PlaceOrderRequest, order(side=DROP), {"side"}, id="order-side-missing"),
    P(PlaceOrderRequest, order(pos_side="flat"), {"pos_side"}, id="order-pos-side-unknown"),
    P(PlaceOrderRequest, order(pos_side=Side.BUY), {"pos_side"}, id="order-pos-side-wrong-enum"),
    P(PlaceOrderRequest, order(strategy="FAST"), {"strategy"}, id="order-strategy-unknown"),
    P(PlaceOrderRequest, order(strategy=None), {"strategy"}, id="order-strategy-none"),
    P(PlaceOrderRequest, order(strategy=3), {"strategy"}, id="order-strategy-int"),
    P(PlaceOrderRequest, order(strategy=DROP), {"strategy"}, id="order-strategy-missing"),
    # ---- pair: the whole string must match
    P(PlaceOrderRequest, order(pair="!!ETH-USDT!!"), {"pair"}, id="pair-embedded"),
    P(PlaceOrderRequest, order(pair="ETH"), {"pair"}, id="pair-no-quote"),
    P(PlaceOrderRequest, order(pair="ETH-"), {"pair"}, id="pair-empty-quote"),
    P(PlaceOrderRequest, order(pair="-USDT"), {"pair"}, id="pair-empty-base"),
    P(PlaceOrderRequest, order(pair="ETH-USDT "), {"pair"}, id="pair-trailing-space"),
    P(PlaceOrderRequest, order(pair=" ETH-USDT"), {"pair"}, id="pair-leading-space"),
    P(PlaceOrderRequest, order(pair="ETH-USDT\n"), {"pair"}, id="pair-trailing-newline"),
    P(PlaceOrderRequest, order(pair="ETH/USDT"), {"pair"}, id="pair-slash"),
    P(PlaceOrderRequest, order(pair="ETH:-USDT"), {"pair"}, id="pair-empty-variant"),
    P(PlaceOrderRequest, order(pair="ETH-USDT-PERP"), {"pair"}, id="pair-three-parts"),
    P(PlaceOrderRequest, order(pair=""), {"pair"}, id="pair-empty"),
    P(PlaceOrderRequest, order(pair=None), {"pair"}, id="pair-none"),
    P(PlaceOrderRequest, order(pair=DROP), {"pair"}, id="pair-missing"),
    # ---- quantities: exactly one, > 0, finite, a number
    P(PlaceOrderRequest, order(base_asset_qty=DROP), {QTY}, id="qty-none-given"),
    P(PlaceOrderRequest, order(base_asset_qty=None), {QTY}, id="qty-explicit-none"),
    P(PlaceOrderRequest, order(quote_asset_qty=10), {QTY}, id="qty-two-given"),
    P(
        PlaceOrderRequest,
        order(sell_token_amount=1, quote_asset_qty=10),
        {QTY},
        id="qty-three-given",
    ),
    P(PlaceOrderRequest, order(base_asset_qty=0), {"base_asset_qty"}, id="qty-zero"),
    P(PlaceOrderRequest, order(base_asset_qty=-1), {"base_asset_qty"}, id="qty-negative"),
    P(
        PlaceOrderRequest,
        order(base_asset_qty=DROP, sell_token_amount="0"),
        {"sell_token_amount"},
        id="sell-amount-zero-str",
    ),
    P(
        PlaceOrderRequest,
        order(base_asset_qty=DROP, quote_asset_qty=-0.5),
        {"quote_asset_qty"},
        id="quote-qty-negative-float",
    ),
    P(PlaceOrderRequest, order(base_asset_qty=float("nan")), {"base_asset_qty"}, id="qty-nan"),
    P(PlaceOrderRequest, order(base_asset_qty=float("inf")), {"base_asset_qty"}, id="qty-inf"),
    P(PlaceOrderRequest, order(base_asset_qty=float("-inf")), {"base_asset_qty"}, id="qty-ninf"),
    P(PlaceOrderRequest, order(base_asset_qty=Decimal("NaN")), {"base_asset_qty"}, id="qty-dnan"),
    P(PlaceOrderRequest, order(base_asset_qty=Decimal("sNaN")), {"base_asset_qty"}, id="qty-snan"),
    P(
        PlaceOrderRequest,
        order(base_asset_qty=Decimal("Infinity")),
        {"base_asset_qty"},
        id="qty-dinf",
    ),
    P(
        PlaceOrderRequest,
        order(base_asset_qty=Decimal("-Infinity")),
        {"base_asset_qty"},
        id="qty-dninf",
    ),
    P(PlaceOrderRequest, order(base_asset_qty="NaN"), {"base_asset_qty"}, id="qty-str-nan"),
    P(PlaceOrderRequest, order(base_asset_qty="inf"), {"base_asset_qty"}, id="qty-str-inf"),
    P(PlaceOrderRequest, order(base_asset_qty="-Infinity"), {"base_asset_qty"}, id="qty-str-ninf"),
    P(PlaceOrderRequest, order(base_asset_qty=True), {"base_asset_qty"}, id="qty-true"),
    P(PlaceOrderRequest, order(base_asset_qty=False), {"base_asset_qty"}, id="qty-false"),
    P(PlaceOrderRequest, order(base_asset_qty="abc"), {"base_asset_qty"}, id="qty-garbage"),
    P(PlaceOrderRequest, order(base_asset_qty=""), {"base_asset_qty"}, id="qty-empty-str"),
    P(PlaceOrderRequest, order(base_asset_qty="1,000"), {"base_asset_qty"}, id="qty-comma"),
    P(PlaceOrderRequest, order(base_asset_qty=[1]), {"base_asset_qty"}, id="qty-list"),
    # ---- duration / pov_target
    P(PlaceOrderRequest, order(duration=1.5), {"duration"}, id="duration-fraction"),
    P(PlaceOrderRequest, order(duration=Decimal("1.5")), {"duration"}, id="duration-dfraction"),
    P(PlaceOrderRequest, order(duration=0), {"duration"}, id="duration-zero"),
    P(PlaceOrderRequest, order(duration=-1), {"duration"}, id="duration-negative"),
    P(PlaceOrderRequest, order(duration=True), {"duration"}, id="duration-true"),
    P(PlaceOrderRequest, order(duration="300"), {"duration"}, id="duration-str"),
    P(PlaceOrderRequest, order(duration=float("nan")), {"duration"}, id="duration-nan"),
    P(PlaceOrderRequest, order(duration=float("inf")), {"duration"}, id="duration-inf"),
    P(PlaceOrderRequest, order(duration=DROP), {TIMING}, id="duration-and-pov-missing"),
    P(PlaceOrderRequest, order(duration=None), {TIMING}, id="duration-none-no-pov"),
    # ---- ranges
    P(PlaceOrderRequest, order(engine_passiveness=-0.01), {"engine_passiveness"}, id="ep-low"),
    P(PlaceOrderRequest, order(engine_passiveness="1.01"), {"engine_passiveness"}, id="ep-high"),
    P(PlaceOrderRequest, order(schedule_discretion=0.0199), {"schedule_discretion"}, id="sd-low"),
    P(PlaceOrderRequest, order(schedule_discretion=0), {"schedule_discretion"}, id="sd-zero"),
    P(PlaceOrderRequest, order(schedule_discretion=2), {"schedule_discretion"}, id="sd-high"),
    P(PlaceOrderRequest, order(alpha_tilt=Decimal("-1.0001")), {"alpha_tilt"}, id="tilt-low"),
    P(PlaceOrderRequest, order(alpha_tilt=2), {"alpha_tilt"}, id="tilt-high"),
    P(PlaceOrderRequest, order(pov_target=0), {"pov_target"}, id="pov-target-zero"),
    P(PlaceOrderRequest, order(pov_target=1.01), {"pov_target"}, id="pov-target-high"),
    P(
        PlaceOrderRequest,
        order(duration=DROP, pov_target=-0.1),
        {"pov_target"},
        id="pov-target-negative-no-duration",
    ),
    P(PlaceOrderRequest, order(pov_limit=0), {"pov_limit"}, id="pov-limit-zero"),
    P(PlaceOrderRequest, order(pov_limit="1.5"), {"pov_limit"}, id="pov-limit-high"),
    P(PlaceOrderRequest, order(max_otc=0), {"max_otc"}, id="max-otc-zero"),
    P(PlaceOrderRequest, order(limit_price=0), {"limit_price"}, id="limit-price-zero"),
    P(PlaceOrderRequest, order(limit_price=-5), {"limit_price"}, id="limit-price-negative"),
    P(PlaceOrderRequest, order(updated_leverage=0), {"updated_leverage"}, id="upd-leverage-zero"),
    # A whole number, as documented: a fraction is refused, not rounded.
    P(
        PlaceOrderRequest,
        order(updated_leverage=2.5),
        {"updated_leverage"},
        id="upd-leverage-fraction",
    ),
    # ---- custom_order_id
    P(PlaceOrderRequest, order(custom_order_id="x" * 65), {"custom_order_id"}, id="coid-65"),
    P(PlaceOrderRequest, order(custom_order_id=""), {"custom_order_id"}, id="coid-empty"),
    P(PlaceOrderRequest, order(custom_order_id="a\nb"), {"custom_order_id"}, id="coid-newline"),
    P(PlaceOrderRequest, order(custom_order_id="a\x00b"), {"custom_order_id"}, id="coid-nul"),
    P(PlaceOrderRequest, order(custom_order_id="a\x7f"), {"custom_order_id"}, id="coid-del"),
    P(PlaceOrderRequest, order(custom_order_id=123), {"custom_order_id"}, id="coid-int"),
    # ---- accounts
    P(PlaceOrderRequest, order(accounts="mock"), {"accounts"}, id="accounts-bare-str"),
    P(PlaceOrderRequest, order(accounts=b"mock"), {"accounts"}, id="accounts-bytes"),
    P(PlaceOrderRequest, order(accounts=[]), {"accounts"}, id="accounts-empty"),
    P(PlaceOrderRequest, order(accounts=[""]), {"accounts"}, id="accounts-empty-name"),
    P(PlaceOrderRequest, order(accounts=["mock", 5]), {"accounts"}, id="accounts-int-name"),
    P(PlaceOrderRequest, order(accounts=None), {"accounts"}, id="accounts-none"),
    P(PlaceOrderRequest, order(accounts=7), {"accounts"}, id="accounts-int"),
    P(PlaceOrderRequest, order(accounts=DROP), {"accounts"}, id="accounts-missing"),
    # ---- other fields
    P(PlaceOrderRequest, order(strategy_params=[("a", 1)]), {"strategy_params"}, id="sp-list"),
    P(PlaceOrderRequest, order(strategy_params="x"), {"strategy_params"}, id="sp-str"),
    P(PlaceOrderRequest, order(strategy_params={1: "a"}), {"strategy_params"}, id="sp-int-key"),
    P(PlaceOrderRequest, order(notes=5), {"notes"}, id="notes-int"),
    P(PlaceOrderRequest, order(order_condition=""), {"order_condition"}, id="condition-empty"),
    P(
        PlaceOrderRequest,
        order(order_condition_expiry=NAIVE),
        {"order_condition_expiry"},
        id="condition-expiry-naive",
    ),
    P(PlaceOrderRequest, order(qty=5), {"qty"}, id="unknown-keyword"),
    P(PlaceOrderRequest, order(Side="buy"), {"Side"}, id="unknown-keyword-case"),
    P(
        PlaceOrderRequest,
        order(
            side="hold",
            pair="ETH",
            duration=0,
            base_asset_qty="nan",
            engine_passiveness=2,
            custom_order_id="x" * 65,
            accounts="mock",
            pos_side="up",
            bogus=1,
        ),
        {
            "side",
            "pair",
            "duration",
            "base_asset_qty",
            "engine_passiveness",
            "custom_order_id",
            "accounts",
            "pos_side",
            "bogus",
        },
        id="order-many-bad-fields",
    ),
    P(
        PlaceOrderRequest,
        {},
        {
            "accounts",
            "pair",
            "side",
            "strategy",
            # Cross-field rules among the valid (here: absent) fields are named in the same
            # error; the strategy's own rules (duration or pov_target for an algorithmic
            # order) wait until there is a strategy to apply them to.
            "sell_token_amount, base_asset_qty, quote_asset_qty",
        },
        id="order-empty",
    ),
    # ---- ChildOrder
    P(ChildOrder, child(pair="ETH"), {"pair"}, id="child-pair"),
    P(ChildOrder, child(pair="!!ETH-USDT!!"), {"pair"}, id="child-pair-embedded"),
    P(ChildOrder, child(side="x"), {"side"}, id="child-side"),
    P(ChildOrder, child(base_asset_qty=DROP), {CHILD_QTY}, id="child-no-qty"),
    P(ChildOrder, child(quote_asset_qty=3), {CHILD_QTY}, id="child-two-qty"),
    P(ChildOrder, child(base_asset_qty=0), {"base_asset_qty"}, id="child-qty-zero"),
    P(
        ChildOrder,
        child(base_asset_qty=DROP, quote_asset_qty="inf"),
        {"quote_asset_qty"},
        id="child-quote-inf",
    ),
    P(ChildOrder, child(account=""), {"account"}, id="child-account-empty"),
    P(ChildOrder, child(account=5), {"account"}, id="child-account-int"),
    P(ChildOrder, child(pos_side="up"), {"pos_side"}, id="child-pos-side"),
    P(ChildOrder, child(sell_token_amount=1), {"sell_token_amount"}, id="child-unknown-field"),
    P(
        ChildOrder,
        child(pair="ETH/USDT", side="x", account="", base_asset_qty=True),
        {"pair", "side", "account", "base_asset_qty"},
        id="child-many-bad-fields",
    ),
    # ---- PlaceMultiOrderRequest
    P(PlaceMultiOrderRequest, multi(child_orders=[]), {"child_orders"}, id="multi-no-children"),
    P(PlaceMultiOrderRequest, multi(child_orders=DROP), {"child_orders"}, id="multi-children-miss"),
    P(PlaceMultiOrderRequest, multi(child_orders="x"), {"child_orders"}, id="multi-children-str"),
    P(
        PlaceMultiOrderRequest,
        multi(child_orders=CHILD),
        {"child_orders"},
        id="multi-children-mapping",
    ),
    P(PlaceMultiOrderRequest, multi(child_orders=[5]), {"child_orders[0]"}, id="multi-child-int"),
    P(
        PlaceMultiOrderRequest,
        multi(child_orders=[CHILD, child(pair="x")]),
        {"child_orders[1].pair"},
        id="multi-child-bad-pair",
    ),
    P(
        PlaceMultiOrderRequest,
        multi(child_orders=[child(quote_asset_qty=2), CHILD]),
        {f"child_orders[0].{CHILD_QTY}"},
        id="multi-child-two-qty",
    ),
    P(PlaceMultiOrderRequest, multi(accounts=DROP), {"accounts"}, id="multi-no-accounts"),
    P(PlaceMultiOrderRequest, multi(accounts=None), {"accounts"}, id="multi-accounts-none"),
    P(PlaceMultiOrderRequest, multi(accounts="mock"), {"accounts"}, id="multi-accounts-str"),
    P(PlaceMultiOrderRequest, multi(accounts=[]), {"accounts"}, id="multi-accounts-empty"),
    P(
        PlaceMultiOrderRequest,
        multi(exposure_tolerance=0.01),
        {"exposure_tolerance"},
        id="multi-exposure-low",
    ),
    P(
        PlaceMultiOrderRequest,
        multi(exposure_tolerance="1.5"),
        {"exposure_tolerance"},
        id="multi-exposure-high",
    ),
    P(PlaceMultiOrderRequest, multi(duration=DROP), {"duration"}, id="multi-duration-missing"),
    P(PlaceMultiOrderRequest, multi(duration=None), {"duration"}, id="multi-duration-none"),
    P(PlaceMultiOrderRequest, multi(duration=0), {"duration"}, id="multi-duration-zero"),
    P(PlaceMultiOrderRequest, multi(duration=2.5), {"duration"}, id="multi-duration-fraction"),
    P(PlaceMultiOrderRequest, multi(strategy="FAST"), {"strategy"}, id="multi-strategy"),
    P(
        PlaceMultiOrderRequest,
        multi(engine_passiveness=1.1),
        {"engine_passiveness"},
        id="multi-ep-high",
    ),
    P(PlaceMultiOrderRequest, multi(alpha_tilt=-2), {"alpha_tilt"}, id="multi-tilt-low"),
    P(
        PlaceMultiOrderRequest,
        multi(schedule_discretion=0),
        {"schedule_discretion"},
        id="multi-sd-zero",
    ),
    P(
        PlaceMultiOrderRequest,
        multi(custom_order_id="y" * 65),
        {"custom_order_id"},
        id="multi-coid-65",
    ),
    P(PlaceMultiOrderRequest, multi(strategy_params="x"), {"strategy_params"}, id="multi-sp-str"),
    P(
        PlaceMultiOrderRequest,
        multi(
            duration=0,
            strategy="x",
            child_orders=[child(pair="ETH"), child(side="hold"), CHILD],
            exposure_tolerance=5,
            accounts="mock",
        ),
        {
            "duration",
            "strategy",
            "child_orders[0].pair",
            "child_orders[1].side",
            "exposure_tolerance",
            "accounts",
        },
        id="multi-many-bad-fields",
    ),
    # ---- OrderInChain
    P(OrderInChain, chain_entry(priority=0), {"priority"}, id="chain-entry-priority-zero"),
    P(OrderInChain, chain_entry(priority=-1), {"priority"}, id="chain-entry-priority-neg"),
    P(OrderInChain, chain_entry(priority=1.5), {"priority"}, id="chain-entry-priority-frac"),
    P(OrderInChain, chain_entry(priority=True), {"priority"}, id="chain-entry-priority-bool"),
    P(OrderInChain, chain_entry(priority="1"), {"priority"}, id="chain-entry-priority-str"),
    P(OrderInChain, chain_entry(priority=DROP), {"priority"}, id="chain-entry-priority-miss"),
    P(OrderInChain, chain_entry(order_request="x"), {"order_request"}, id="chain-entry-req-str"),
    P(
        OrderInChain,
        chain_entry(order_request=order(pair="ETH")),
        {"order_request.pair"},
        id="chain-entry-req-bad-pair",
    ),
    P(
        OrderInChain,
        chain_entry(order_request=order(quote_asset_qty=1)),
        {f"order_request.{QTY}"},
        id="chain-entry-req-two-qty",
    ),
    # ---- PlaceChainedOrderRequest
    P(
        PlaceChainedOrderRequest,
        {"orders_in_chain": [IN_CHAIN]},
        {"orders_in_chain"},
        id="chain-one-entry",
    ),
    P(PlaceChainedOrderRequest, {"orders_in_chain": []}, {"orders_in_chain"}, id="chain-empty"),
    P(PlaceChainedOrderRequest, {}, {"orders_in_chain"}, id="chain-missing"),
    P(PlaceChainedOrderRequest, {"orders_in_chain": "x"}, {"orders_in_chain"}, id="chain-str"),
    P(
        PlaceChainedOrderRequest,
        {"orders_in_chain": [IN_CHAIN, chain_entry(priority=0)]},
        {"orders_in_chain[1].priority"},
        id="chain-priority-zero",
    ),
    P(
        PlaceChainedOrderRequest,
        {
            "orders_in_chain": [
                chain_entry(order_request=order(side="up", pair="ETH")),
                chain_entry(priority=1.5),
            ]
        },
        {
            "orders_in_chain[0].order_request.side",
            "orders_in_chain[0].order_request.pair",
            "orders_in_chain[1].priority",
        },
        id="chain-many-bad-fields",
    ),
    # ---- AmendOrderRequest
    P(AmendOrderRequest, amend(order_id=""), {"order_id"}, id="amend-id-empty"),
    P(AmendOrderRequest, amend(order_id=5), {"order_id"}, id="amend-id-int"),
    P(AmendOrderRequest, amend(changes={}), {"changes"}, id="amend-changes-empty"),
    P(AmendOrderRequest, amend(changes="x"), {"changes"}, id="amend-changes-str"),
    P(AmendOrderRequest, amend(changes={1: 2}), {"changes"}, id="amend-changes-int-key"),
    P(
        AmendOrderRequest,
        amend(changes={"limt_price": "1"}),
        {"changes.limt_price"},
        id="amend-changes-misspelt-key",
    ),
    P(
        AmendOrderRequest,
        amend(changes={"base_asset_qty": -5, "limit_price": "NaN"}),
        {"changes.base_asset_qty", "changes.limit_price"},
        id="amend-changes-checked-by-order-field-rules",
    ),
    P(AmendOrderRequest, {}, {"order_id", "changes"}, id="amend-empty"),
    # ---- GetOrdersRequest
    P(GetOrdersRequest, {"after": T0, "before": T0}, {AFTER_BEFORE}, id="orders-after-eq-before"),
    P(
        GetOrdersRequest,
        {"after": T0 + dt.timedelta(seconds=1), "before": T0},
        {AFTER_BEFORE},
        id="orders-after-gt-before",
    ),
    P(GetOrdersRequest, {"before": NAIVE}, {"before"}, id="orders-before-naive"),
    P(GetOrdersRequest, {"after": "2024-01-01T00:00:00"}, {"after"}, id="orders-after-naive-str"),
    P(GetOrdersRequest, {"before": "yesterday"}, {"before"}, id="orders-before-garbage"),
    P(GetOrdersRequest, {"before": 5}, {"before"}, id="orders-before-int"),
    P(GetOrdersRequest, {"page": 0}, {"page"}, id="orders-page-zero"),
    P(GetOrdersRequest, {"page": -1}, {"page"}, id="orders-page-negative"),
    P(GetOrdersRequest, {"page": 1.5}, {"page"}, id="orders-page-fraction"),
    P(GetOrdersRequest, {"page_size": 0}, {"page_size"}, id="orders-page-size-zero"),
    P(GetOrdersRequest, {"page_size": True}, {"page_size"}, id="orders-page-size-bool"),
    P(GetOrdersRequest, {"statuses": "ACTIVE"}, {"statuses"}, id="orders-statuses-str"),
    P(GetOrdersRequest, {"account_names": []}, {"account_names"}, id="orders-accounts-empty"),
    P(GetOrdersRequest, {"custom_order_ids": [""]}, {"custom_order_ids"}, id="orders-coids-empty"),
    P(GetOrdersRequest, {"status": ["ACTIVE"]}, {"status"}, id="orders-unknown-keyword"),
    P(
        GetOrdersRequest,
        {"page": 0, "page_size": 0, "before": NAIVE, "statuses": "x"},
        {"page", "page_size", "before", "statuses"},
        id="orders-many-bad-fields",
    ),
    # ---- SetLeverageRequest
    P(SetLeverageRequest, leverage(leverage=0), {"leverage"}, id="leverage-zero"),
    P(SetLeverageRequest, leverage(leverage=-1), {"leverage"}, id="leverage-negative"),
    P(SetLeverageRequest, leverage(leverage="nan"), {"leverage"}, id="leverage-nan"),
    P(SetLeverageRequest, leverage(leverage=True), {"leverage"}, id="leverage-bool"),
    P(SetLeverageRequest, leverage(leverage=None), {"leverage"}, id="leverage-none"),
    P(SetLeverageRequest, leverage(leverage=DROP), {"leverage"}, id="leverage-missing"),
    P(SetLeverageRequest, leverage(account_ids="acc"), {"account_ids"}, id="leverage-ids-str"),
    P(SetLeverageRequest, leverage(account_ids=[]), {"account_ids"}, id="leverage-ids-empty"),
    P(SetLeverageRequest, leverage(pair="BTC"), {"pair"}, id="leverage-pair"),
    P(
        SetLeverageRequest,
        {"account_ids": "acc", "pair": "BTC/USDT", "leverage": float("inf")},
        {"account_ids", "pair", "leverage"},
        id="leverage-many-bad-fields",
    ),
]


@pytest.mark.parametrize(("model", "kwargs", "expected"), MODEL_ROWS)
def test_invalid_request_is_rejected_naming_the_fields(
    model: type, kwargs: dict[str, Any], expected: set[str]
) -> None:
    with pytest.raises(RequestValidationError) as info:
        model(**kwargs)
    assert_names(info.value, expected)
    assert info.value.model == model.__name__


# Plain-argument endpoints and wrong request types go through the client.
Call = Callable[[AsyncClient], Awaitable[Any]]
CLIENT_ROWS = [
    P(lambda c: c.get_balances(exchange_names="binance"), {"exchange_names"}, id="bal-exch-str"),
    P(lambda c: c.get_balances(account_names=[]), {"account_names"}, id="bal-accounts-empty"),
    P(lambda c: c.get_balances(account_names=[""]), {"account_names"}, id="bal-accounts-blank"),
    P(
        lambda c: c.get_balances(exchange_names=5, account_names="mock"),
        {"exchange_names", "account_names"},
        id="bal-both-bad",
    ),
    P(lambda c: c.close_balances(0), {"max_notional"}, id="close-zero"),
    P(lambda c: c.close_balances(-1), {"max_notional"}, id="close-negative"),
    P(lambda c: c.close_balances("nan"), {"max_notional"}, id="close-nan"),
    P(lambda c: c.close_balances(True), {"max_notional"}, id="close-bool"),
    P(lambda c: c.close_balances(None), {"max_notional"}, id="close-none"),
    P(lambda c: c.close_balances(1, account_names="mock"), {"account_names"}, id="close-accounts"),
    P(
        lambda c: c.close_balances(1, preferred_strategy="FAST"),
        {"preferred_strategy"},
        id="close-strategy",
    ),
    P(
        lambda c: c.close_balances(float("inf"), account_names=[], preferred_strategy="x"),
        {"max_notional", "account_names", "preferred_strategy"},
        id="close-all-bad",
    ),
    P(lambda c: c.get_order_messages("abc"), {"order_ids"}, id="messages-bare-str"),
    P(lambda c: c.get_order_messages([]), {"order_ids"}, id="messages-empty"),
    P(lambda c: c.get_order_messages([""]), {"order_ids"}, id="messages-blank-id"),
    P(lambda c: c.get_order_messages([1]), {"order_ids"}, id="messages-int-id"),
    P(lambda c: c.get_order_messages(None), {"order_ids"}, id="messages-none"),
    P(lambda c: c.pause_order(""), {"order_id"}, id="pause-empty"),
    P(lambda c: c.pause_order(5), {"order_id"}, id="pause-int"),
    P(lambda c: c.resume_order(None), {"order_id"}, id="resume-none"),
    P(lambda c: c.resume_order(""), {"order_id"}, id="resume-empty"),
    P(lambda c: c.get_order(""), {"order_id"}, id="get-order-empty"),
    P(lambda c: c.get_order(".."), {"order_id"}, id="get-order-dotdot"),
    P(lambda c: c.get_order(" abc"), {"order_id"}, id="get-order-space"),
    P(lambda c: c.get_order("a\nb"), {"order_id"}, id="get-order-control"),
    P(lambda c: c.get_order(5), {"order_id"}, id="get-order-int"),
    P(lambda c: c.get_order_summary(""), {"order_id"}, id="summary-empty"),
    P(lambda c: c.cancel_order("."), {"order_id"}, id="cancel-dot"),
    P(lambda c: c.get_multi_order(""), {"multi_order_id"}, id="get-multi-empty"),
    P(lambda c: c.cancel_multi_order(None), {"multi_order_id"}, id="cancel-multi-none"),
    # the wrong request type
    P(lambda c: c.place_order(dict(ORDER)), {"request"}, id="place-order-dict"),
    P(
        lambda c: c.place_order(PlaceMultiOrderRequest(**MULTI)),
        {"request"},
        id="place-order-multi-request",
    ),
    P(lambda c: c.place_multi_order(dict(MULTI)), {"request"}, id="place-multi-dict"),
    P(lambda c: c.place_chained_order([IN_CHAIN, IN_CHAIN]), {"request"}, id="chained-list"),
    P(lambda c: c.amend_order(dict(AMEND)), {"request"}, id="amend-dict"),
    P(lambda c: c.set_leverage(dict(LEVERAGE)), {"request"}, id="leverage-dict"),
    P(lambda c: c.get_all_orders({"page": 1}), {"request"}, id="all-orders-dict"),
]


@pytest.fixture
def catch_all(mock_api: respx.MockRouter) -> respx.Route:
    """Answers anything under the API, so an accidental send is recorded, not refused."""
    return mock_api.route().respond(200, json={})


@pytest.mark.asyncio
@pytest.mark.parametrize(("call", "expected"), CLIENT_ROWS)
async def test_invalid_arguments_are_rejected_and_nothing_is_sent(
    client: AsyncClient,
    mock_api: respx.MockRouter,
    catch_all: respx.Route,
    call: Call,
    expected: set[str],
) -> None:
    with pytest.raises(RequestValidationError) as info:
        await call(client)
    assert_names(info.value, expected)
    assert not catch_all.called
    assert len(mock_api.calls) == 0


@pytest.mark.asyncio
async def test_iter_orders_rejects_a_wrong_request_type_before_sending(
    client: AsyncClient, mock_api: respx.MockRouter, catch_all: respx.Route
) -> None:
    with pytest.raises(RequestValidationError) as info:
        async for _ in client.iter_orders({"page": 1}):  # type: ignore[arg-type]
            pass
    assert_names(info.value, {"request"})
    assert len(mock_api.calls) == 0


def test_the_table_is_big_enough() -> None:
    assert len(MODEL_ROWS) + len(CLIENT_ROWS) >= 45
    tested = {row.values[0] for row in MODEL_ROWS}
    assert tested == {
        PlaceOrderRequest,
        ChildOrder,
        PlaceMultiOrderRequest,
        OrderInChain,
        PlaceChainedOrderRequest,
        AmendOrderRequest,
        GetOrdersRequest,
        SetLeverageRequest,
    }
    ids = [row.id for row in MODEL_ROWS + CLIENT_ROWS]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------------- positive controls


@pytest.mark.asyncio
async def test_the_catch_all_route_would_record_a_send(
    client: AsyncClient, mock_api: respx.MockRouter, seed_order_text: str
) -> None:
    """The 'nothing was sent' checks can fail: a valid call is recorded."""
    route = mock_api.post("orders/").respond(
        200, text=seed_order_text, headers={"Content-Type": "application/json"}
    )
    pause = mock_api.route().respond(200, json={})
    await client.place_order(PlaceOrderRequest(**ORDER))
    await client.pause_order("abc")
    assert route.call_count == 1
    assert pause.call_count == 1
    assert len(mock_api.calls) == 2
    assert json.loads(mock_api.calls[1].request.content) == {"order_id": "abc"}


@pytest.mark.parametrize(
    "strategy",
    ["IOC", "Target Time", Strategy.TARGET_TIME, Strategy.IOC, "TWAP", "Iceberg", "Market"],
)
def test_documented_strategies_are_accepted(strategy: Any) -> None:
    req = PlaceOrderRequest(**order_for(strategy))
    assert req.strategy is Strategy(strategy)


@pytest.mark.parametrize("pair", ["ETH-USDT", "BTC:PERP-USDT", "eth-usdt", "1000PEPE:SWAP_1-USDT"])
def test_well_formed_pairs_are_accepted(pair: str) -> None:
    assert PlaceOrderRequest(**order(pair=pair)).pair == pair
    assert ChildOrder(**child(pair=pair)).pair == pair


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("engine_passiveness", 0),
        ("engine_passiveness", 1),
        ("schedule_discretion", "0.02"),
        ("schedule_discretion", "0.5"),  # the documented top (API-FACTS 3.1)
        ("alpha_tilt", -1),
        ("alpha_tilt", 1),
        ("pov_target", 1),
        ("pov_limit", 1),
        ("pov_limit", "0.000001"),
        ("max_otc", "0.01"),
        ("limit_price", "0.00000001"),
        ("custom_order_id", "x" * 64),
        ("custom_order_id", "é-ü-日本"),
    ],
)
def test_boundary_values_are_accepted(field: str, value: Any) -> None:
    req = PlaceOrderRequest(**order(**{field: value}))
    expected = value if field == "custom_order_id" else Decimal(value)
    assert getattr(req, field) == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [("exposure_tolerance", "0.02"), ("exposure_tolerance", 1), ("custom_order_id", "z" * 64)],
)
def test_multi_boundary_values_are_accepted(field: str, value: Any) -> None:
    req = PlaceMultiOrderRequest(**multi(**{field: value}))
    assert getattr(req, field) == (Decimal(value) if field == "exposure_tolerance" else value)


def test_other_accepted_shapes() -> None:
    req = PlaceOrderRequest(
        **order(
            accounts=("a", "b"),
            duration=Decimal("300"),
            side=Side.SELL,
            pos_side="short",
            strategy_params={"k": 1},
            order_condition_expiry=T0,
        )
    )
    assert req.accounts == ["a", "b"]
    assert req.duration == 300
    assert type(req.duration) is int
    assert req.side is Side.SELL
    assert req.pos_side is PosSide.SHORT
    assert req.strategy_params == {"k": 1}
    # pov_target instead of duration
    req = PlaceOrderRequest(**order(duration=DROP, pov_target="0.1"))
    assert req.duration is None
    assert req.pov_target == Decimal("0.1")
    # a float duration that is whole
    assert PlaceOrderRequest(**order(duration=60.0)).duration == 60
    # accounts from the children
    m = PlaceMultiOrderRequest(
        **multi(accounts=DROP, child_orders=[child(account="x"), child(account="y"), CHILD])
    )
    assert m.accounts is None
    assert m.resolved_accounts == ["x", "y"]
    assert all(isinstance(c, ChildOrder) for c in m.child_orders)
    # chained entries from mappings
    ch = PlaceChainedOrderRequest(**CHAIN)
    assert [e.priority for e in ch.orders_in_chain] == [1, 2]
    assert isinstance(ch.orders_in_chain[1].order_request, PlaceOrderRequest)
    # ids as UUIDs
    oid = uuid.uuid4()
    assert AmendOrderRequest(order_id=oid, changes={"notes": "n"}).order_id == str(oid)
    # aware datetimes, ISO strings with an offset
    q = GetOrdersRequest(after="2024-01-01T00:00:00Z", before=T0 + dt.timedelta(days=1))
    assert q.after == T0


def test_bare_string_accounts_never_become_characters() -> None:
    with pytest.raises(RequestValidationError) as info:
        PlaceOrderRequest(**order(accounts="mock"))
    assert_names(info.value, {"accounts"})
    req = PlaceOrderRequest(**ORDER)
    with pytest.raises(RequestValidationError):
        req.accounts = "mock"  # type: ignore[assignment]
    assert req.accounts == ["mock"]


# --------------------------------------------------------------------------- assignment

ASSIGNMENT_ROWS = [
    P("side", "hold", id="side"),
    P("pair", "ETH", id="pair"),
    P("pair", "!!ETH-USDT!!", id="pair-embedded"),
    P("strategy", "FAST", id="strategy"),
    P("accounts", "mock", id="accounts-str"),
    P("accounts", [], id="accounts-empty"),
    P("duration", 1.5, id="duration-fraction"),
    P("duration", True, id="duration-bool"),
    P("base_asset_qty", "nan", id="qty-nan"),
    P("base_asset_qty", 0, id="qty-zero"),
    P("base_asset_qty", False, id="qty-bool"),
    P("engine_passiveness", 2, id="ep-high"),
    P("schedule_discretion", "0.01", id="sd-low"),
    P("alpha_tilt", -1.5, id="tilt-low"),
    P("pov_target", 0, id="pov-zero"),
    P("custom_order_id", "x" * 65, id="coid-65"),
    P("strategy_params", ["a"], id="sp-list"),
    P("pos_side", "flat", id="pos-side"),
]


@pytest.mark.parametrize(("field", "bad"), ASSIGNMENT_ROWS)
def test_bad_assignment_is_rejected_and_keeps_the_old_value(field: str, bad: Any) -> None:
    req = PlaceOrderRequest(
        **order(engine_passiveness="0.5", schedule_discretion="0.1", alpha_tilt=0, pov_target=0.5)
    )
    req.custom_order_id = "keep-me"
    req.strategy_params = {"a": 1}
    req.pos_side = "long"  # type: ignore[assignment]
    before = getattr(req, field)
    with pytest.raises(RequestValidationError) as info:
        setattr(req, field, bad)
    assert_names(info.value, {field})
    assert getattr(req, field) == before
    req.validate()  # still a valid request


def test_good_assignment_is_converted() -> None:
    req = PlaceOrderRequest(**ORDER)
    req.base_asset_qty = "7.5"  # type: ignore[assignment]
    assert req.base_asset_qty == Decimal("7.5")
    assert isinstance(req.base_asset_qty, Decimal)
    req.base_asset_qty = 0.1  # type: ignore[assignment]
    assert req.base_asset_qty == Decimal("0.1")
    req.side = "sell"  # type: ignore[assignment]
    assert req.side is Side.SELL
    req.strategy = "Target Time"  # type: ignore[assignment]
    assert req.strategy is Strategy.TARGET_TIME
    req.duration = 60.0  # type: ignore[assignment]
    assert req.duration == 60
    assert type(req.duration) is int
    req.accounts = ("a", "b")  # type: ignore[assignment]
    assert req.accounts == ["a", "b"]

    m = PlaceMultiOrderRequest(**MULTI)
    m.child_orders = [child(side="sell"), CHILD]  # type: ignore[list-item]
    assert [type(c) for c in m.child_orders] == [ChildOrder, ChildOrder]
    assert m.child_orders[0].side is Side.SELL
    m.exposure_tolerance = "0.5"  # type: ignore[assignment]
    assert m.exposure_tolerance == Decimal("0.5")


def test_bad_nested_assignment_names_the_nested_path() -> None:
    m = PlaceMultiOrderRequest(**MULTI)
    old = m.child_orders
    with pytest.raises(RequestValidationError) as info:
        m.child_orders = [CHILD, child(pair="x")]  # type: ignore[list-item]
    assert_names(info.value, {"child_orders[1].pair"})
    assert m.child_orders is old

    ch = PlaceChainedOrderRequest(**CHAIN)
    with pytest.raises(RequestValidationError) as info:
        ch.orders_in_chain[0].priority = 0
    assert_names(info.value, {"priority"})
    assert ch.orders_in_chain[0].priority == 1

    lev = SetLeverageRequest(**LEVERAGE)
    with pytest.raises(RequestValidationError) as info:
        lev.leverage = "-inf"  # type: ignore[assignment]
    assert_names(info.value, {"leverage"})
    assert lev.leverage == Decimal(5)


# ------------------------------------------------------------------- checked again when sent


def _two_quantities(req: PlaceOrderRequest) -> None:
    req.quote_asset_qty = Decimal(10)  # each field is fine alone


def _no_timing(req: PlaceOrderRequest) -> None:
    req.duration = None


def _bypass_no_quantity(req: PlaceOrderRequest) -> None:
    object.__setattr__(req, "base_asset_qty", None)


def _bypass_bad_side(req: PlaceOrderRequest) -> None:
    object.__setattr__(req, "side", "hold")


def _bypass_negative_qty(req: PlaceOrderRequest) -> None:
    object.__setattr__(req, "base_asset_qty", Decimal(-1))


def _accounts_cleared(req: PlaceOrderRequest) -> None:
    req.accounts.clear()


def _accounts_int_appended(req: PlaceOrderRequest) -> None:
    req.accounts.append(5)  # type: ignore[arg-type]


def _accounts_blank_appended(req: PlaceOrderRequest) -> None:
    req.accounts.append("")


def _strategy_params_bad_key(req: PlaceOrderRequest) -> None:
    req.strategy_params = {}
    req.strategy_params[1] = "x"  # type: ignore[index]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        P(_two_quantities, {QTY}, id="two-quantities"),
        P(_no_timing, {TIMING}, id="no-duration-no-pov"),
        P(_bypass_no_quantity, {QTY}, id="bypass-no-quantity"),
        P(_bypass_bad_side, {"side"}, id="bypass-bad-side"),
        P(_bypass_negative_qty, {"base_asset_qty"}, id="bypass-negative-qty"),
        P(_accounts_cleared, {"accounts"}, id="accounts-cleared"),
        P(_accounts_int_appended, {"accounts"}, id="accounts-int-appended"),
        P(_accounts_blank_appended, {"accounts"}, id="accounts-blank-appended"),
        P(_strategy_params_bad_key, {"strategy_params"}, id="strategy-params-int-key"),
    ],
)
async def test_place_order_rechecks_a_mutated_request(
    client: AsyncClient,
    mock_api: respx.MockRouter,
    catch_all: respx.Route,
    mutate: Callable[[PlaceOrderRequest], None],
    expected: set[str],
) -> None:
    req = PlaceOrderRequest(**ORDER)
    req.validate()
    mutate(req)
    with pytest.raises(RequestValidationError) as info:
        req.validate()
    assert_names(info.value, expected)
    with pytest.raises(RequestValidationError) as info:
        await client.place_order(req)
    assert_names(info.value, expected)
    assert not catch_all.called
    assert len(mock_api.calls) == 0


def _multi_child_dict_appended(req: PlaceMultiOrderRequest) -> None:
    req.child_orders.append(dict(CHILD))  # type: ignore[arg-type]


def _multi_children_cleared(req: PlaceMultiOrderRequest) -> None:
    req.child_orders.clear()


def _multi_accounts_cleared(req: PlaceMultiOrderRequest) -> None:
    req.accounts.clear()  # type: ignore[union-attr]


def _multi_accounts_unset(req: PlaceMultiOrderRequest) -> None:
    req.accounts = None  # allowed alone; no child names an account


def _multi_child_two_quantities(req: PlaceMultiOrderRequest) -> None:
    req.child_orders[0].quote_asset_qty = Decimal(3)


def _multi_child_bypass_pair(req: PlaceMultiOrderRequest) -> None:
    object.__setattr__(req.child_orders[0], "pair", "ETH")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        P(_multi_child_dict_appended, {"child_orders"}, id="child-dict-appended"),
        P(_multi_children_cleared, {"child_orders"}, id="children-cleared"),
        P(_multi_accounts_cleared, {"accounts"}, id="accounts-cleared"),
        P(_multi_accounts_unset, {"accounts"}, id="accounts-unset"),
        P(_multi_child_two_quantities, {f"child_orders[0].{CHILD_QTY}"}, id="child-two-qty"),
        P(_multi_child_bypass_pair, {"child_orders[0].pair"}, id="child-bypass-pair"),
    ],
)
async def test_place_multi_order_rechecks_a_mutated_request(
    client: AsyncClient,
    mock_api: respx.MockRouter,
    catch_all: respx.Route,
    mutate: Callable[[PlaceMultiOrderRequest], None],
    expected: set[str],
) -> None:
    req = PlaceMultiOrderRequest(**MULTI)
    mutate(req)
    with pytest.raises(RequestValidationError) as info:
        await client.place_multi_order(req)
    assert_names(info.value, expected)
    assert len(mock_api.calls) == 0


@pytest.mark.asyncio
async def test_other_endpoints_recheck_a_mutated_request(
    client: AsyncClient, mock_api: respx.MockRouter, catch_all: respx.Route
) -> None:
    chain = PlaceChainedOrderRequest(**CHAIN)
    chain.orders_in_chain.pop()
    with pytest.raises(RequestValidationError) as info:
        await client.place_chained_order(chain)
    assert_names(info.value, {"orders_in_chain"})

    chain = PlaceChainedOrderRequest(**CHAIN)
    chain.orders_in_chain[1].order_request.accounts.clear()
    with pytest.raises(RequestValidationError) as info:
        await client.place_chained_order(chain)
    assert_names(info.value, {"orders_in_chain[1].order_request.accounts"})

    chain = PlaceChainedOrderRequest(**CHAIN)
    chain.orders_in_chain.append("junk")  # type: ignore[arg-type]
    with pytest.raises(RequestValidationError) as info:
        await client.place_chained_order(chain)
    assert_names(info.value, {"orders_in_chain"})

    amend_req = AmendOrderRequest(**AMEND)
    amend_req.changes.clear()
    with pytest.raises(RequestValidationError) as info:
        await client.amend_order(amend_req)
    assert_names(info.value, {"changes"})

    lev = SetLeverageRequest(**LEVERAGE)
    lev.account_ids.clear()
    with pytest.raises(RequestValidationError) as info:
        await client.set_leverage(lev)
    assert_names(info.value, {"account_ids"})

    query = GetOrdersRequest(after=T0)
    query.before = T0  # fine alone; after >= before together
    with pytest.raises(RequestValidationError) as info:
        await client.get_all_orders(query)
    assert_names(info.value, {AFTER_BEFORE})
    with pytest.raises(RequestValidationError) as info:
        async for _ in client.iter_orders(query):
            pass
    assert_names(info.value, {AFTER_BEFORE})

    query = GetOrdersRequest(statuses=["ACTIVE"])
    query.statuses.append("")  # type: ignore[union-attr]
    with pytest.raises(RequestValidationError) as info:
        await client.get_all_orders(query)
    assert_names(info.value, {"statuses"})

    assert not catch_all.called
    assert len(mock_api.calls) == 0


# --------------------------------------------------------------------------- amend changes


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"limt_price": "1"}, {"changes.limt_price"}),
        ({"base_asset_qty": -5}, {"changes.base_asset_qty"}),
        ({"base_asset_qty": "-0.1", "notes": "ok"}, {"changes.base_asset_qty"}),
    ],
    ids=["misspelt-key", "negative-qty", "negative-qty-str"],
)
@pytest.mark.asyncio
async def test_amend_bad_changes_are_rejected_and_nothing_is_sent(
    mock_api: respx.MockRouter,
    client: AsyncClient,
    changes: dict[str, Any],
    fields: set[str],
) -> None:
    route = mock_api.post("amend_order/").respond(200, json={"message": "ok"})
    with pytest.raises(RequestValidationError) as info:
        await client.amend_order(AmendOrderRequest(order_id="abc", changes=changes))
    assert set(info.value.errors) == fields
    assert route.call_count == 0


def test_amend_misspelt_key_names_the_order_fields() -> None:
    with pytest.raises(RequestValidationError) as info:
        AmendOrderRequest(order_id="abc", changes={"limt_price": "1"})
    [reason] = info.value.errors["changes.limt_price"]
    assert reason.startswith("not an order field (one of: accounts, ")
    assert "limit_price" in reason


# --------------------------------------------------------------------------- lists and commas


def _gen(*values: str) -> Iterator[str]:
    yield from values


@pytest.mark.asyncio
async def test_iterators_are_accepted_and_reach_the_wire(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    orders = mock_api.post("orders/").respond(201, json=json.loads(load("seed_order.json")))
    balances = mock_api.get("balances/").respond(200, json={})
    messages = mock_api.post("order_messages/").respond(200, json={})

    request = attrs.evolve(order_request(), accounts=iter(["a", "b"]))
    assert request.accounts == ["a", "b"]
    await client.place_order(request)
    assert json.loads(orders.calls.last.request.content)["accounts"] == ["a", "b"]

    await client.get_balances(exchange_names=iter(["OKX"]), account_names=_gen("x", "y"))
    assert dict(balances.calls.last.request.url.params) == {
        "exchange_names": "OKX",
        "account_names": "x,y",
    }

    await client.get_order_messages(_gen("id-1", "id-2"))
    assert json.loads(messages.calls.last.request.content) == {"order_ids": ["id-1", "id-2"]}


def test_place_order_accounts_from_a_generator() -> None:
    request = PlaceOrderRequest(
        accounts=_gen("a", "b"),
        pair="ETH-USDT",
        side="buy",
        duration=300,
        base_asset_qty=5,
        strategy="TWAP",
    )
    assert request.accounts == ["a", "b"]


def test_mapping_for_accounts_is_rejected() -> None:
    with pytest.raises(RequestValidationError) as info:
        attrs.evolve(order_request(), accounts={"a": 1, "b": 2})
    assert info.value.errors == {"accounts": ["expected a list of strings, got dict"]}


@pytest.mark.asyncio
async def test_commas_are_rejected_in_comma_joined_filters(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    balances = mock_api.get("balances/").respond(200, json={})
    orders = mock_api.get("orders/").respond(200, json={"orders": []})
    with pytest.raises(RequestValidationError) as info:
        await client.get_balances(exchange_names=["OKX,Binance"])
    assert set(info.value.errors) == {"exchange_names"}
    with pytest.raises(RequestValidationError) as info:
        await client.get_balances(account_names=["a", "b,c"])
    assert set(info.value.errors) == {"account_names"}
    with pytest.raises(RequestValidationError) as info:
        GetOrdersRequest(
            statuses=["ACTIVE,PAUSED"], account_names=["x,y"], custom_order_ids=["p,q"]
        )
    assert set(info.value.errors) == {"statuses", "account_names", "custom_order_ids"}
    assert balances.call_count == 0
    assert orders.call_count == 0


def test_comma_in_custom_order_id_is_rejected() -> None:
    with pytest.raises(RequestValidationError) as info:
        attrs.evolve(order_request(), custom_order_id="a,b")
    assert set(info.value.errors) == {"custom_order_id"}
    assert attrs.evolve(order_request(), custom_order_id="a;b").custom_order_id == "a;b"


@pytest.mark.asyncio
async def test_comma_inside_accounts_is_accepted_as_a_json_list_element(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    route = mock_api.post("orders/").respond(201, json=json.loads(load("seed_order.json")))
    await client.place_order(attrs.evolve(order_request(), accounts=["desk, main", "b"]))
    assert json.loads(route.calls.last.request.content)["accounts"] == ["desk, main", "b"]


# --------------------------------------------------------------------------- order_condition_expiry


@pytest.mark.parametrize("value", ["tomorrow", "2024-01-01T00:00:00"], ids=["words", "naive"])
def test_order_condition_expiry_strings_must_parse_with_an_offset(value: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        attrs.evolve(order_request(), order_condition_expiry=value)
    assert set(info.value.errors) == {"order_condition_expiry"}


@pytest.mark.asyncio
async def test_order_condition_expiry_string_is_sent_verbatim(
    mock_api: respx.MockRouter, client: AsyncClient
) -> None:
    route = mock_api.post("orders/").respond(201, json=json.loads(load("seed_order.json")))
    request = attrs.evolve(order_request(), order_condition_expiry="2024-01-01T00:00:00Z")
    assert request.order_condition_expiry == "2024-01-01T00:00:00Z"
    await client.place_order(request)
    body = json.loads(route.calls.last.request.content)
    assert body["order_condition_expiry"] == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("2024-01-01T00:00:00.123+05:30", "2024-01-01T00:00:00.123+05:30"),  # RFC 3339: as is
        # Other spellings, sent as the timestamp they were read as. "2024-01-01+05" was
        # sent as written: Python's fromisoformat reads it as 05:00 with no offset.
        ("2024-01-01+05", "2024-01-01T00:00:00+05:00"),
        ("2024-01-01 00:00:00Z", "2024-01-01T00:00:00+00:00"),
        ("2024-01-01T00:00:00z", "2024-01-01T00:00:00+00:00"),
        ("2024-01-01T10:00+0530", "2024-01-01T10:00:00+05:30"),
        ("2024-01-01T00:00:00.1234567Z", "2024-01-01T00:00:00.123456+00:00"),
    ],
)
def test_an_order_condition_expiry_string_is_sent_as_it_was_read(written: str, sent: str) -> None:
    request = attrs.evolve(order_request(), order_condition_expiry=written)
    assert request.order_condition_expiry == sent
    assert to_wire(request)["order_condition_expiry"] == sent


@pytest.mark.parametrize("value", ["2024-01-01T00:00,5Z", "2024-01-01T00:00.5Z"])
def test_a_fraction_without_seconds_is_refused(value: str) -> None:
    # ISO 8601 reads "00:00,5" as half a minute; it was taken as half a second.
    with pytest.raises(RequestValidationError) as info:
        attrs.evolve(order_request(), order_condition_expiry=value)
    assert set(info.value.errors) == {"order_condition_expiry"}


# --------------------------------------------------------------------------- hypothesis

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

NAMES = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12
)
PAIRS = st.from_regex(PAIR, fullmatch=True)
SIDES = st.sampled_from([*Side, *(s.value for s in Side)])
POS_SIDES = st.sampled_from([*PosSide, *(s.value for s in PosSide)])
STRATEGIES = st.sampled_from([*Strategy, *(s.value for s in Strategy)])
#: What a multi order runs: the algorithmic strategies only.
ALGO_STRATEGIES = st.sampled_from(
    [*(s for s in Strategy if not s.is_simple), *(s.value for s in Strategy if not s.is_simple)]
)
# No commas: custom_order_ids are looked up comma-joined, so the SDK rejects them.
COIDS = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=","),
    min_size=1,
    max_size=64,
)


def decimal_inputs(
    lo: Decimal, hi: Decimal, *, lo_open: bool = False, places: int = 6
) -> st.SearchStrategy[Any]:
    """A number in [lo, hi] (or (lo, hi]) as a Decimal, str, int or float."""
    step = Decimal(1).scaleb(-places)
    lo_d = lo + step if lo_open else lo
    decimals = st.decimals(
        min_value=lo_d, max_value=hi, allow_nan=False, allow_infinity=False, places=places
    )
    int_lo = int(lo) + 1 if lo_open or int(lo) < lo else int(lo)
    # A range with no whole number in it (0.02 to 0.5) draws no ints.
    ints = st.integers(min_value=int_lo, max_value=int(hi)) if int_lo <= hi else st.nothing()
    floats = st.floats(
        min_value=float(lo_d),  # not 1e-308 above an open 0: the SDK bounds exponents
        max_value=float(hi),
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=False,
    )
    # The SDK bounds exponents to +-100 (1e-187 is no price): keep floats above 1e-12.
    floats = floats.filter(lambda f: f == 0 or abs(f) >= 1e-12)
    return st.one_of(decimals, decimals.map(str), ints, floats)


def as_decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


BIG = Decimal(10) ** 9
POSITIVE = decimal_inputs(Decimal(0), BIG, lo_open=True, places=8)
UNIT_OPEN = decimal_inputs(Decimal(0), Decimal(1), lo_open=True)
UNIT = decimal_inputs(Decimal(0), Decimal(1))
DISCRETION = decimal_inputs(Decimal("0.02"), Decimal("0.5"))
TILT = decimal_inputs(Decimal(-1), Decimal(1))

DECIMAL_FIELDS = {
    "sell_token_amount",
    "base_asset_qty",
    "quote_asset_qty",
    "engine_passiveness",
    "schedule_discretion",
    "alpha_tilt",
    "pov_limit",
    "pov_target",
    "limit_price",
    "max_otc",
    "exposure_tolerance",
    "leverage",
}
QTY_FIELDS = ("sell_token_amount", "base_asset_qty", "quote_asset_qty")


@st.composite
def place_order_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    kwargs = draw(
        st.fixed_dictionaries(
            {
                "accounts": st.lists(NAMES, min_size=1, max_size=3),
                "pair": PAIRS,
                "side": SIDES,
                "strategy": STRATEGIES,
            },
            optional={
                "engine_passiveness": UNIT,
                "schedule_discretion": DISCRETION,
                "alpha_tilt": TILT,
                "pov_limit": UNIT_OPEN,
                "limit_price": POSITIVE,
                "max_otc": POSITIVE,
                "updated_leverage": st.integers(min_value=1, max_value=125),
                "custom_order_id": COIDS,
                "pos_side": POS_SIDES,
                "notes": st.text(max_size=20),
                "order_condition": st.text(min_size=1, max_size=20),
                "strategy_params": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
            },
        )
    )
    kwargs[draw(st.sampled_from(QTY_FIELDS))] = draw(POSITIVE)
    strategy = Strategy(kwargs["strategy"])
    if strategy.is_simple:  # no schedule and no algorithm parameters (API-FACTS 3.1)
        for name in ("engine_passiveness", "schedule_discretion", "alpha_tilt", "pov_limit"):
            kwargs.pop(name, None)
        if strategy in (Strategy.LIMIT, Strategy.ICEBERG):
            kwargs.setdefault("limit_price", draw(POSITIVE))
        elif strategy is Strategy.MARKET:
            kwargs.pop("limit_price", None)
        return kwargs
    timing = draw(st.sampled_from(["duration", "pov_target", "both"]))
    if timing in ("duration", "both"):
        kwargs["duration"] = draw(
            st.one_of(
                st.integers(min_value=1, max_value=10**7),
                st.integers(min_value=1, max_value=10**7).map(Decimal),
            )
        )
    if timing in ("pov_target", "both"):
        kwargs["pov_target"] = draw(UNIT_OPEN)
    return kwargs


@PROPERTY_SETTINGS
@given(kwargs=place_order_kwargs())
def test_generated_valid_orders_are_accepted_and_stored_exactly(kwargs: dict[str, Any]) -> None:
    req = PlaceOrderRequest(**kwargs)
    req.validate()
    for name, value in kwargs.items():
        stored = getattr(req, name)
        if name in DECIMAL_FIELDS:
            assert isinstance(stored, Decimal)
            assert stored == as_decimal(value)
        elif name in ("duration", "updated_leverage"):
            assert type(stored) is int
            assert stored == value
        elif name == "side":
            assert stored is Side(value)
        elif name == "strategy":
            assert stored is Strategy(value)
        elif name == "pos_side":
            assert stored is PosSide(value)
        else:
            assert stored == value
    given_qty = [f for f in QTY_FIELDS if f in kwargs]
    assert [f for f in QTY_FIELDS if getattr(req, f) is not None] == given_qty


@st.composite
def child_kwargs(draw: st.DrawFn, *, with_account: bool | None = None) -> dict[str, Any]:
    kwargs = draw(
        st.fixed_dictionaries(
            {"pair": PAIRS, "side": SIDES},
            optional={"pos_side": POS_SIDES},
        )
    )
    kwargs[draw(st.sampled_from(("base_asset_qty", "quote_asset_qty")))] = draw(POSITIVE)
    if with_account or (with_account is None and draw(st.booleans())):
        kwargs["account"] = draw(NAMES)
    return kwargs


@PROPERTY_SETTINGS
@given(kwargs=child_kwargs())
def test_generated_valid_children_are_accepted(kwargs: dict[str, Any]) -> None:
    c = ChildOrder(**kwargs)
    c.validate()
    assert c.pair == kwargs["pair"]
    assert c.side is Side(kwargs["side"])
    for name in ("base_asset_qty", "quote_asset_qty"):
        if name in kwargs:
            assert getattr(c, name) == as_decimal(kwargs[name])
        else:
            assert getattr(c, name) is None
    assert c.account == kwargs.get("account")


@st.composite
def multi_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    accounts_given = draw(st.booleans())
    children = draw(
        st.lists(
            child_kwargs(with_account=None if accounts_given else True), min_size=1, max_size=4
        )
    )
    kwargs = draw(
        st.fixed_dictionaries(
            {
                "duration": st.integers(min_value=1, max_value=10**6),
                "strategy": ALGO_STRATEGIES,
            },
            optional={
                "engine_passiveness": UNIT,
                "schedule_discretion": DISCRETION,
                "alpha_tilt": TILT,
                "exposure_tolerance": DISCRETION,
                "custom_order_id": COIDS,
            },
        )
    )
    # children as mappings or as ChildOrder instances
    as_models = draw(st.booleans())
    kwargs["child_orders"] = [ChildOrder(**c) if as_models else c for c in children]
    if accounts_given:
        kwargs["accounts"] = draw(st.lists(NAMES, min_size=1, max_size=3))
    return kwargs


@PROPERTY_SETTINGS
@given(kwargs=multi_kwargs())
def test_generated_valid_multi_orders_are_accepted(kwargs: dict[str, Any]) -> None:
    req = PlaceMultiOrderRequest(**kwargs)
    req.validate()
    assert len(req.child_orders) == len(kwargs["child_orders"])
    assert all(isinstance(c, ChildOrder) for c in req.child_orders)
    if "accounts" in kwargs:
        assert req.resolved_accounts == kwargs["accounts"]
    else:
        expected = list(dict.fromkeys(c.account for c in req.child_orders))
        assert req.resolved_accounts == expected
        assert expected
    for name in ("engine_passiveness", "schedule_discretion", "alpha_tilt", "exposure_tolerance"):
        if name in kwargs:
            assert getattr(req, name) == as_decimal(kwargs[name])


# Numeric fields with their allowed range: (lo, lo_inclusive, hi or None).
RANGES: dict[tuple[type, str], tuple[Decimal, bool, Decimal | None]] = {
    (PlaceOrderRequest, "sell_token_amount"): (Decimal(0), False, None),
    (PlaceOrderRequest, "base_asset_qty"): (Decimal(0), False, None),
    (PlaceOrderRequest, "quote_asset_qty"): (Decimal(0), False, None),
    (PlaceOrderRequest, "engine_passiveness"): (Decimal(0), True, Decimal(1)),
    (PlaceOrderRequest, "schedule_discretion"): (Decimal("0.02"), True, Decimal("0.5")),
    (PlaceOrderRequest, "alpha_tilt"): (Decimal(-1), True, Decimal(1)),
    (PlaceOrderRequest, "pov_target"): (Decimal(0), False, Decimal(1)),
    (PlaceOrderRequest, "pov_limit"): (Decimal(0), False, Decimal(1)),
    (PlaceOrderRequest, "limit_price"): (Decimal(0), False, None),
    (PlaceOrderRequest, "max_otc"): (Decimal(0), False, None),
    (PlaceOrderRequest, "updated_leverage"): (Decimal(0), False, None),
    (PlaceOrderRequest, "duration"): (Decimal(0), False, None),
    (ChildOrder, "base_asset_qty"): (Decimal(0), False, None),
    (ChildOrder, "quote_asset_qty"): (Decimal(0), False, None),
    (PlaceMultiOrderRequest, "engine_passiveness"): (Decimal(0), True, Decimal(1)),
    (PlaceMultiOrderRequest, "schedule_discretion"): (Decimal("0.02"), True, Decimal("0.5")),
    (PlaceMultiOrderRequest, "alpha_tilt"): (Decimal(-1), True, Decimal(1)),
    (PlaceMultiOrderRequest, "exposure_tolerance"): (Decimal("0.02"), True, Decimal(1)),
    (PlaceMultiOrderRequest, "duration"): (Decimal(0), False, None),
    (OrderInChain, "priority"): (Decimal(0), False, None),
    (SetLeverageRequest, "leverage"): (Decimal(0), False, None),
    (GetOrdersRequest, "page"): (Decimal(1), True, None),
    (GetOrdersRequest, "page_size"): (Decimal(1), True, None),
}
WHOLE_FIELDS = {"duration", "updated_leverage", "priority", "page", "page_size"}
BASES: dict[type, dict[str, Any]] = {
    PlaceOrderRequest: ORDER,
    ChildOrder: CHILD,
    PlaceMultiOrderRequest: MULTI,
    OrderInChain: IN_CHAIN,
    SetLeverageRequest: LEVERAGE,
    GetOrdersRequest: {"page": 1, "page_size": 10},
}


RANGE_KEYS = sorted(RANGES, key=lambda k: (k[0].__name__, k[1]))


@st.composite
def out_of_range(draw: st.DrawFn, model: type, field: str) -> tuple[Any, Decimal]:
    """A value just or far outside the field's range, and its exact Decimal."""
    lo, lo_inclusive, hi = RANGES[(model, field)]
    places = 0 if field in WHOLE_FIELDS else 4
    step = Decimal(1).scaleb(-places)
    delta = draw(
        st.one_of(
            st.just(step),  # the first value past the boundary
            st.decimals(min_value=step, max_value=1, places=places),
            st.decimals(min_value=step, max_value=10**6, places=places),
        )
    )
    below = lo - delta if lo_inclusive else lo - delta + step  # an open bound is itself out
    bad = below if hi is None or draw(st.booleans()) else hi + delta
    # Present it as the user might: a Decimal, a str, an int or a float.
    forms: list[Any] = [bad, float(bad)]  # 4 places, < 1e7: str(float) is the same number
    if field not in WHOLE_FIELDS:
        forms.append(str(bad))
    if bad == bad.to_integral_value():
        forms.append(int(bad))
    return draw(st.sampled_from(forms)), bad


@pytest.mark.parametrize(
    ("model", "field"), [P(m, f, id=f"{m.__name__}.{f}") for m, f in RANGE_KEYS]
)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_out_of_range_values_are_rejected_naming_the_field(
    model: type, field: str, data: st.DataObject
) -> None:
    value, bad = data.draw(out_of_range(model, field))
    lo, lo_inclusive, hi = RANGES[(model, field)]
    assert bad < lo or (bad == lo and not lo_inclusive) or (hi is not None and bad > hi)
    if isinstance(value, float):
        assert Decimal(str(value)) == bad
    kwargs = dict(BASES[model])
    if field in QTY_FIELDS:
        kwargs.pop("base_asset_qty", None)  # keep exactly one quantity
    kwargs[field] = value
    with pytest.raises(RequestValidationError) as info:
        model(**kwargs)
    assert_names(info.value, {field})

    # On assignment as well, keeping the old value.
    good = model(**BASES[model])
    old = getattr(good, field)
    with pytest.raises(RequestValidationError) as info:
        setattr(good, field, value)
    assert_names(info.value, {field})
    assert getattr(good, field) == old


@PROPERTY_SETTINGS
@given(text=st.text(max_size=20))
def test_pairs_are_accepted_exactly_when_the_whole_string_matches(text: str) -> None:
    if re.fullmatch(PAIR, text):
        assert PlaceOrderRequest(**order(pair=text)).pair == text
    else:
        with pytest.raises(RequestValidationError) as info:
            PlaceOrderRequest(**order(pair=text))
        assert_names(info.value, {"pair"})


@PROPERTY_SETTINGS
@given(
    text=st.one_of(
        st.text(max_size=8).map(lambda s: f"!{s}ETH-USDT"),
        st.text(max_size=8).map(lambda s: f"ETH-USDT{s}!"),
        st.sampled_from(["ETH", "ETH-", "-USDT", "ETH/USDT", "ETH--USDT", "ETH-USDT "]),
    )
)
def test_near_miss_pairs_are_rejected(text: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        ChildOrder(**child(pair=text))
    assert_names(info.value, {"pair"})


NUMBER_FIELDS = [
    (SetLeverageRequest, LEVERAGE, "leverage"),
    (PlaceOrderRequest, ORDER, "base_asset_qty"),
    (PlaceOrderRequest, ORDER, "limit_price"),
    (ChildOrder, CHILD, "base_asset_qty"),
    (PlaceMultiOrderRequest, MULTI, "engine_passiveness"),
]


@PROPERTY_SETTINGS
@given(
    value=st.one_of(
        st.sampled_from([float("nan"), float("inf"), float("-inf"), True, False]),
        st.sampled_from(["nan", "NaN", "sNaN", "inf", "-inf", "Infinity", "-Infinity"]),
        st.sampled_from([Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Inf")]),
        st.text(alphabet="abcxyz,/ ", min_size=1, max_size=6),
        st.sampled_from([[1], {"a": 1}, object(), b"1", 1j]),
    ),
    target=st.sampled_from(NUMBER_FIELDS),
)
def test_non_numbers_are_rejected_where_a_number_is_expected(
    value: Any, target: tuple[type, dict[str, Any], str]
) -> None:
    model, base, field = target
    with pytest.raises(RequestValidationError) as info:
        model(**_with(base, **{field: value}))
    assert_names(info.value, {field})


def test_one_error_names_bad_fields_and_broken_cross_field_rules_together() -> None:
    # A bad side must not hide the missing quantity and duration: the caller fixes all at once.
    with pytest.raises(RequestValidationError) as info:
        PlaceOrderRequest(accounts=["a"], pair="ETH-USDT", side="hold", strategy="TWAP")
    assert set(info.value.errors) == {
        "side",
        "sell_token_amount, base_asset_qty, quote_asset_qty",
        "duration, pov_target",
    }


def test_a_given_but_invalid_field_counts_as_given_for_cross_field_rules() -> None:
    # base_asset_qty=-1 is wrong, but it is not "missing": no misleading "got none".
    with pytest.raises(RequestValidationError) as info:
        PlaceOrderRequest(
            accounts=["a"], pair="ETH-USDT", side="buy", strategy="TWAP", base_asset_qty=-1
        )
    assert set(info.value.errors) == {"base_asset_qty", "duration, pov_target"}
