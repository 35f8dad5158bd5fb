"""Reply models: every field and property, pinned with ``assert_type``; the enums.

Type-checked by ``mypy --strict``, never run. Money is ``Decimal``, time an aware
``datetime``, enums open (a value the SDK does not know stays a ``str``); models are
frozen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from typing_extensions import assert_type

from taas_async import (
    ActionResult,
    Asset,
    Balance,
    ChainedOrder,
    CloseBalancesResult,
    MultiOrder,
    MultiOrdersPage,
    MultiOrderStatus,
    Order,
    OrderMessage,
    OrdersPage,
    OrderStatus,
    OrderSummary,
    OrderUpdate,
    OrderUpdateType,
    PosSide,
    Side,
    Strategy,
)


def order_fields(order: Order) -> None:
    assert_type(order.id, str)
    assert_type(order.status, OrderStatus | str | None)
    assert_type(order.pair, str | None)
    assert_type(order.side, Side | str | None)
    assert_type(order.buy_token, str | None)
    assert_type(order.sell_token, str | None)
    assert_type(order.sell_token_amount, Decimal | None)
    assert_type(order.base_asset_qty, Decimal | None)
    assert_type(order.quote_asset_qty, Decimal | None)
    assert_type(order.strategy, Strategy | str | None)
    assert_type(order.strategy_params, dict[str, Any])
    assert_type(order.limit_price, Decimal | None)
    assert_type(order.stop_price, Decimal | None)
    assert_type(order.duration, int | None)
    assert_type(order.time_start, dt.datetime | None)
    assert_type(order.time_end, dt.datetime | None)
    assert_type(order.created_at, dt.datetime | None)
    assert_type(order.updated_at, dt.datetime | None)
    assert_type(order.accounts, list[str])
    assert_type(order.account_names, list[str])
    assert_type(order.user, str | None)
    assert_type(order.time_zone, str | None)
    assert_type(order.placements, list[Any])
    assert_type(order.executed_qty, Decimal | None)
    assert_type(order.executed_price, Decimal | None)
    assert_type(order.executed_notional, Decimal | None)
    assert_type(order.pct_filled, Decimal | None)
    assert_type(order.active, bool | None)
    assert_type(order.engine_passiveness, Decimal | None)
    assert_type(order.schedule_discretion, Decimal | None)
    assert_type(order.alpha_tilt, Decimal | None)
    assert_type(order.pov_target, Decimal | None)
    assert_type(order.pov_limit, Decimal | None)
    assert_type(order.failure_reason, str | None)
    assert_type(order.notes, str | None)
    assert_type(order.custom_order_id, str | None)
    assert_type(order.updated_leverage, Decimal | None)
    assert_type(order.pos_side, PosSide | str | None)
    assert_type(order.parent_order, str | None)
    assert_type(order.parent_order_id, str | None)
    assert_type(order.batch_order_id, str | None)
    assert_type(order.batch_order_strategy, str | None)
    assert_type(order.exchanges, list[str])
    assert_type(order.average_executed_price, Decimal | None)
    assert_type(order.total_fee, Decimal | None)
    assert_type(order.raw, dict[str, Any])
    assert_type(order.is_terminal, bool)


def multi_order_fields(multi_order: MultiOrder) -> None:
    assert_type(multi_order.id, str)
    assert_type(multi_order.status, MultiOrderStatus | str | None)
    assert_type(multi_order.calculated_status, MultiOrderStatus | str | None)
    assert_type(multi_order.created_at, dt.datetime | None)
    assert_type(multi_order.updated_at, dt.datetime | None)
    assert_type(multi_order.time_start, dt.datetime | None)
    assert_type(multi_order.start_datetime, dt.datetime | None)
    assert_type(multi_order.duration, int | None)
    assert_type(multi_order.child_order_ids, list[str])
    assert_type(multi_order.strategy, Strategy | str | None)
    assert_type(multi_order.strategy_params, dict[str, Any])
    assert_type(multi_order.engine_passiveness, Decimal | None)
    assert_type(multi_order.schedule_discretion, Decimal | None)
    assert_type(multi_order.alpha_tilt, Decimal | None)
    assert_type(multi_order.pov_limit, Decimal | None)
    assert_type(multi_order.limit_price_spread, Decimal | None)
    assert_type(multi_order.exposure_tolerance, Decimal | None)
    assert_type(multi_order.order_condition, str | None)
    assert_type(multi_order.order_condition_vars, dict[str, Any])
    assert_type(multi_order.order_condition_expiry, str | None)
    assert_type(multi_order.notional_exposure, Decimal | None)
    assert_type(multi_order.executed_notional, Decimal | None)
    assert_type(multi_order.pct_filled, Decimal | None)
    assert_type(multi_order.is_active, bool | None)
    assert_type(multi_order.is_paused, bool | None)
    assert_type(multi_order.completely_filled, bool | None)
    assert_type(multi_order.account_names, list[str])
    assert_type(multi_order.pairs, str | None)
    assert_type(multi_order.buy_token, str | None)
    assert_type(multi_order.sell_token, str | None)
    assert_type(multi_order.sell_token_amount, str | None)
    assert_type(multi_order.user, str | None)
    assert_type(multi_order.time_zone, str | None)
    assert_type(multi_order.failure_reason, str | None)
    assert_type(multi_order.custom_order_id, str | None)
    assert_type(multi_order.child_orders, list[Order])
    assert_type(multi_order.raw, dict[str, Any])
    assert_type(multi_order.effective_status, MultiOrderStatus | str | None)
    assert_type(multi_order.is_terminal, bool)
    assert_type(multi_order.pair_list, list[str])
    assert_type(multi_order.buy_token_list, list[str])
    assert_type(multi_order.sell_token_list, list[str])
    assert_type(multi_order.sell_token_amount_list, list[Decimal])


def asset_fields(asset: Asset) -> None:
    assert_type(asset.symbol, str)
    assert_type(asset.size, Decimal | None)
    assert_type(asset.notional, Decimal | None)
    assert_type(asset.market_type, str | None)
    assert_type(asset.asset_type, str | None)
    assert_type(asset.unrealized_profit, Decimal | None)
    assert_type(asset.initial_margin, Decimal | None)
    assert_type(asset.maint_margin, Decimal | None)
    assert_type(asset.margin_balance, Decimal | None)
    assert_type(asset.leverage, Decimal | None)
    assert_type(asset.notional_pct_total, Decimal | None)
    assert_type(asset.raw, dict[str, Any])


def balance_fields(balance: Balance) -> None:
    assert_type(balance.exchange, str | None)
    assert_type(balance.assets, list[Asset])
    assert_type(balance.raw, dict[str, Any])


def order_summary_fields(order_summary: OrderSummary) -> None:
    assert_type(order_summary.id, str | None)
    assert_type(order_summary.status, OrderStatus | str | None)
    assert_type(order_summary.pair, str | None)
    assert_type(order_summary.side, Side | str | None)
    assert_type(order_summary.executed_qty, Decimal | None)
    assert_type(order_summary.executed_price, Decimal | None)
    assert_type(order_summary.executed_notional, Decimal | None)
    assert_type(order_summary.pct_filled, Decimal | None)
    assert_type(order_summary.total_fee, Decimal | None)
    assert_type(order_summary.raw, dict[str, Any])


def chained_order_fields(chained_order: ChainedOrder) -> None:
    assert_type(chained_order.id, str | None)
    assert_type(chained_order.status, OrderStatus | str | None)
    assert_type(chained_order.created_at, dt.datetime | None)
    assert_type(chained_order.orders, list[Order])
    assert_type(chained_order.raw, dict[str, Any])


def order_message_fields(order_message: OrderMessage) -> None:
    assert_type(order_message.order_id, str | None)
    assert_type(order_message.message, str | None)
    assert_type(order_message.created_at, dt.datetime | None)
    assert_type(order_message.level, str | None)
    assert_type(order_message.raw, dict[str, Any])


def action_result_fields(action_result: ActionResult) -> None:
    assert_type(action_result.message, str | None)
    assert_type(action_result.success, bool | None)
    assert_type(action_result.order_id, str | None)
    assert_type(action_result.raw, dict[str, Any])


def close_balances_result_fields(close_balances_result: CloseBalancesResult) -> None:
    assert_type(close_balances_result.message, str | None)
    assert_type(close_balances_result.order_ids, list[str])
    assert_type(close_balances_result.raw, dict[str, Any])


def orders_page_fields(orders_page: OrdersPage) -> None:
    assert_type(orders_page.orders, list[Order])
    assert_type(orders_page.count, int | None)
    assert_type(orders_page.num_pages, int | None)
    assert_type(orders_page.raw, dict[str, Any])


def multi_orders_page_fields(multi_orders_page: MultiOrdersPage) -> None:
    assert_type(multi_orders_page.multi_orders, list[MultiOrder])
    assert_type(multi_orders_page.count, int | None)
    assert_type(multi_orders_page.num_pages, int | None)
    assert_type(multi_orders_page.raw, dict[str, Any])


def order_update_fields(order_update: OrderUpdate) -> None:
    assert_type(order_update.order_id, str)
    assert_type(order_update.update_type, OrderUpdateType | str)
    assert_type(order_update.order, Order | MultiOrder | None)
    assert_type(order_update.received_at, dt.datetime)
    assert_type(order_update.raw, dict[str, Any])
    assert_type(order_update.is_terminal, bool)


def pages(page: OrdersPage, multi_page: MultiOrdersPage) -> None:
    assert_type(iter(page), Iterator[Order])
    assert_type(page[0], Order)
    assert_type(len(page), int)
    for order in page:
        assert_type(order, Order)
    assert_type(iter(multi_page), Iterator[MultiOrder])
    assert_type(multi_page[0], MultiOrder)
    assert_type(len(multi_page), int)


def frozen(order: Order, balance: Balance) -> None:
    order.id = "other"  # type: ignore[misc]
    balance.assets = []  # type: ignore[misc]


def enums(
    status: OrderStatus,
    multi_status: MultiOrderStatus,
    strategy: Strategy,
    side: Side,
    update_type: OrderUpdateType,
) -> None:
    assert_type(status.is_terminal, bool)
    assert_type(OrderStatus.for_filter("ACTIVE"), OrderStatus | str)
    assert_type(multi_status.is_terminal, bool)
    assert_type(MultiOrderStatus.for_filter("ACTIVE"), MultiOrderStatus | str)
    assert_type(strategy.is_simple, bool)
    assert_type(Strategy("TWAP"), Strategy)
    wire_side: str = side.value  # the wire value: a str (pyright: a union of its literals)
    wire_update: str = update_type.value
    assert_type(PosSide("long"), PosSide)
    sides: list[Side] = [Side.BUY, Side.SELL]
    wire: str = OrderStatus.ACTIVE  # a str enum: the wire value where a str goes
    for each in OrderStatus:
        assert_type(each, OrderStatus)
    del wire, sides, wire_side, wire_update
