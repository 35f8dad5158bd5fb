"""Request models: every constructor with every parameter, and every field read back.

Type-checked by ``mypy --strict``, never run. Constructors take what users have at
hand (amounts as ``str``/``int``/``Decimal``, enums or their wire names, ``uuid.UUID``
ids, nested models or plain mappings) and hold the normalised types; assigning a field
takes its declared type.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from typing_extensions import assert_type

from taas_async import (
    AmendOrderRequest,
    ChildOrder,
    DecimalInput,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    MultiOrderStatus,
    OrderInChain,
    OrderStatus,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    PosSide,
    SetLeverageRequest,
    Side,
    Strategy,
    StrategyParams,
)

UTC = dt.timezone.utc


def constructors(qty: DecimalInput) -> None:
    params = StrategyParams(
        passive_only=True,
        active_limit=False,
        reduce_only=None,
        ool_pause=True,
        strict_duration=True,
        dicy=False,
        spot_leverage=False,
        max_clip_size=100,
    )
    request = PlaceOrderRequest(
        strategy="TWAP",
        engine_passiveness="0.1",
        schedule_discretion=Decimal("0.08"),
        alpha_tilt=0,
        order_condition="price > 100",
        order_condition_expiry="2026-01-01T00:00:00Z",
        strategy_params=params,
        custom_order_id="my-id-1",
        accounts=["mock"],
        pair="ETH-USDT",
        side=Side.BUY,
        duration=300,
        sell_token_amount=None,
        base_asset_qty=qty,
        quote_asset_qty=None,
        pov_limit="0.2",
        pov_target=None,
        limit_price=Decimal("2500.5"),
        notes="hedge",
        updated_leverage=5,
        max_otc=1000,
        pos_side="long",
        start_datetime=dt.datetime(2026, 1, 1, tzinfo=UTC),
        is_reverse_limit_price=False,
        market_type="spot",
    )
    PlaceOrderRequest(
        strategy=Strategy.MARKET,
        accounts=("mock",),
        pair="ETH-USDT",
        side="sell",
        quote_asset_qty=100,
        strategy_params={"passive_only": True},
        order_condition_expiry=dt.datetime(2026, 1, 1, tzinfo=UTC),
        pos_side=PosSide.SHORT,
        start_datetime="2026-01-01T00:00:00+00:00",
    )
    child = ChildOrder(
        pair="ETH:PERP-USDT",
        side="sell",
        base_asset_qty="10",
        quote_asset_qty=None,
        pos_side=PosSide.SHORT,
        account="okx",
    )
    multi = PlaceMultiOrderRequest(
        strategy=Strategy.TWAP,
        engine_passiveness=None,
        schedule_discretion=None,
        alpha_tilt=None,
        order_condition=None,
        order_condition_expiry=None,
        strategy_params={"passive_only": True},
        custom_order_id=None,
        duration=600,
        child_orders=[child, {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": "10"}],
        accounts=["okx", "binance"],
        exposure_tolerance="0.5",
    )
    chain = PlaceChainedOrderRequest(
        orders_in_chain=[
            OrderInChain(order_request=request, priority=1),
            OrderInChain(order_request={"pair": "ETH-USDT"}, priority=2),
            {"order_request": request, "priority": 3},
        ]
    )
    amend = AmendOrderRequest(order_id=uuid.uuid4(), changes={"limit_price": "2600"})
    filters = GetOrdersRequest(
        before=dt.datetime(2026, 1, 2, tzinfo=UTC),
        after="2026-01-01T00:00:00Z",
        custom_order_ids=["my-id-1"],
        page_size=100,
        statuses=[OrderStatus.ACTIVE, "SOMETHING_NEW"],
        account_names=["mock"],
        page=2,
    )
    multi_filters = GetMultiOrdersRequest(
        before=None,
        after=None,
        custom_order_ids=None,
        page_size=10,
        statuses=[MultiOrderStatus.ACTIVE, "PAUSED"],
        page_number=1,
        include_child_orders=True,
    )
    leverage = SetLeverageRequest(account_ids=["a", "b"], pair="BTC:PERP-USDT", leverage="2.5")
    del params, multi, chain, amend, filters, multi_filters, leverage


def refused() -> None:
    PlaceOrderRequest(  # type: ignore[call-arg]  # pair, side, accounts and strategy are required
        base_asset_qty=1
    )
    ChildOrder(pair="ETH-USDT", side=1, base_asset_qty=1)  # type: ignore[arg-type]
    GetOrdersRequest(page_size="10")  # type: ignore[arg-type]
    AmendOrderRequest(order_id=7, changes={})  # type: ignore[arg-type]


def assignment(request: PlaceOrderRequest) -> None:
    request.limit_price = Decimal("2500")
    request.side = Side.SELL
    request.duration = None
    request.limit_price = 2500.0  # type: ignore[assignment]  # a field holds its declared type


def strategy_params_fields(params: StrategyParams) -> None:
    assert_type(params.passive_only, bool | None)
    assert_type(params.active_limit, bool | None)
    assert_type(params.reduce_only, bool | None)
    assert_type(params.ool_pause, bool | None)
    assert_type(params.strict_duration, bool | None)
    assert_type(params.dicy, bool | None)
    assert_type(params.spot_leverage, bool | None)
    assert_type(params.max_clip_size, int | None)
    assert_type(params.validate(), None)


def place_order_request_fields(request: PlaceOrderRequest) -> None:
    assert_type(request.strategy, Strategy)
    assert_type(request.engine_passiveness, Decimal | None)
    assert_type(request.schedule_discretion, Decimal | None)
    assert_type(request.alpha_tilt, Decimal | None)
    assert_type(request.order_condition, str | None)
    assert_type(request.order_condition_expiry, dt.datetime | str | None)
    assert_type(request.strategy_params, StrategyParams | dict[str, Any] | None)
    assert_type(request.custom_order_id, str | None)
    assert_type(request.accounts, list[str])
    assert_type(request.pair, str)
    assert_type(request.side, Side)
    assert_type(request.duration, int | None)
    assert_type(request.sell_token_amount, Decimal | None)
    assert_type(request.base_asset_qty, Decimal | None)
    assert_type(request.quote_asset_qty, Decimal | None)
    assert_type(request.pov_limit, Decimal | None)
    assert_type(request.pov_target, Decimal | None)
    assert_type(request.limit_price, Decimal | None)
    assert_type(request.notes, str | None)
    assert_type(request.updated_leverage, int | None)
    assert_type(request.max_otc, Decimal | None)
    assert_type(request.pos_side, PosSide | None)
    assert_type(request.start_datetime, dt.datetime | None)
    assert_type(request.is_reverse_limit_price, bool | None)
    assert_type(request.market_type, str | None)
    assert_type(request.validate(), None)


def child_order_fields(child: ChildOrder) -> None:
    assert_type(child.pair, str)
    assert_type(child.side, Side)
    assert_type(child.base_asset_qty, Decimal | None)
    assert_type(child.quote_asset_qty, Decimal | None)
    assert_type(child.pos_side, PosSide | None)
    assert_type(child.account, str | None)
    assert_type(child.validate(), None)


def place_multi_order_request_fields(multi: PlaceMultiOrderRequest) -> None:
    assert_type(multi.strategy, Strategy)
    assert_type(multi.engine_passiveness, Decimal | None)
    assert_type(multi.schedule_discretion, Decimal | None)
    assert_type(multi.alpha_tilt, Decimal | None)
    assert_type(multi.order_condition, str | None)
    assert_type(multi.order_condition_expiry, dt.datetime | str | None)
    assert_type(multi.strategy_params, StrategyParams | dict[str, Any] | None)
    assert_type(multi.custom_order_id, str | None)
    assert_type(multi.duration, int)
    assert_type(multi.child_orders, list[ChildOrder])
    assert_type(multi.accounts, list[str] | None)
    assert_type(multi.exposure_tolerance, Decimal | None)
    assert_type(multi.resolved_accounts, list[str])
    assert_type(multi.validate(), None)


def order_in_chain_fields(link: OrderInChain) -> None:
    assert_type(link.order_request, PlaceOrderRequest)
    assert_type(link.priority, int)
    assert_type(link.validate(), None)


def place_chained_order_request_fields(chain: PlaceChainedOrderRequest) -> None:
    assert_type(chain.orders_in_chain, list[OrderInChain])
    assert_type(chain.validate(), None)


def amend_order_request_fields(amend: AmendOrderRequest) -> None:
    assert_type(amend.order_id, str)
    assert_type(amend.changes, dict[str, Any])
    assert_type(amend.validate(), None)


def get_orders_request_fields(filters: GetOrdersRequest) -> None:
    assert_type(filters.before, dt.datetime | None)
    assert_type(filters.after, dt.datetime | None)
    assert_type(filters.custom_order_ids, list[str] | None)
    assert_type(filters.page_size, int | None)
    assert_type(filters.statuses, list[OrderStatus | str] | None)
    assert_type(filters.account_names, list[str] | None)
    assert_type(filters.page, int | None)
    assert_type(filters.validate(), None)


def get_multi_orders_request_fields(multi_filters: GetMultiOrdersRequest) -> None:
    assert_type(multi_filters.before, dt.datetime | None)
    assert_type(multi_filters.after, dt.datetime | None)
    assert_type(multi_filters.custom_order_ids, list[str] | None)
    assert_type(multi_filters.page_size, int | None)
    assert_type(multi_filters.statuses, list[MultiOrderStatus | str] | None)
    assert_type(multi_filters.page_number, int | None)
    assert_type(multi_filters.include_child_orders, bool | None)
    assert_type(multi_filters.validate(), None)


def set_leverage_request_fields(leverage: SetLeverageRequest) -> None:
    assert_type(leverage.account_ids, list[str])
    assert_type(leverage.pair, str)
    assert_type(leverage.leverage, Decimal)
    assert_type(leverage.validate(), None)
