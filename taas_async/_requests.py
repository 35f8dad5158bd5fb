"""Request models: attrs classes validated at construction and on assignment.

Field names are the wire names. A bad value raises
:class:`~taas_async.RequestValidationError` naming every bad field, before
anything is sent. Rules that span fields (exactly one quantity, duration or
POV target, what a simple order may not carry, ...) are checked at
construction and again by ``validate()``, which the client calls right
before sending. ``docs/requests.md`` lists every rule, and the choices made
where the TaaS documentation is silent.
"""

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs
from attrs import validators as v

from taas_async._enums import MultiOrderStatus, OrderStatus, PosSide, Side, Strategy
from taas_async._exceptions import RequestValidationError
from taas_async._fields import (
    CUSTOM_ORDER_ID,
    MAX_DISCRETION,
    MIN_DISCRETION,
    ONE,
    OPT_STR,
    PAIR,
    ZERO,
    aware,
    aware_datetime,
    datetime_or_str,
    decimal_check,
    id_str,
    is_whole,
    model_list,
    non_empty_str,
    opt_dict,
    opt_str_list,
    str_keys,
    str_list,
    str_list_validator,
    to_dict,
    to_model,
    to_opt_strategy,
    to_pos_side,
    to_side,
    to_strategy,
)
from taas_async._numbers import (
    opt_decimal,
    required_whole_number,
    whole_number,
    wire_decimal,
)
from taas_async._options import is_instance
from taas_async._validation import (
    NestedErrors,
    RequestModel,
    check_field,
    collect_errors,
    exactly_one,
    on_setattr,
)

__all__ = [
    "AmendOrderRequest",
    "ChildOrder",
    "GetMultiOrdersRequest",
    "GetOrdersRequest",
    "OrderInChain",
    "PlaceChainedOrderRequest",
    "PlaceMultiOrderRequest",
    "PlaceOrderRequest",
    "SetLeverageRequest",
    "StrategyParams",
]

# --------------------------------------------------------------------------- models

_OPT_BOOL = v.optional(v.instance_of(bool))


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class StrategyParams(RequestModel):
    """The documented keys of ``strategy_params`` (every one optional).

    A plain dict is accepted too, where keys the SDK does not know pass
    through unchanged; the documented ones are checked either way.

    Example::

        PlaceOrderRequest(..., strategy_params=StrategyParams(passive_only=True))
    """

    #: Stay passive when placing a take order.
    passive_only: bool | None = attrs.field(default=None, validator=_OPT_BOOL)
    #: Re-peg child orders aggressively.
    active_limit: bool | None = attrs.field(default=None, validator=_OPT_BOOL)
    #: Only send orders that shrink the current position.
    reduce_only: bool | None = attrs.field(default=None, validator=_OPT_BOOL)
    #: Pause while the price is out of limits (the OOL Pause feature).
    ool_pause: bool | None = attrs.field(default=None, validator=_OPT_BOOL)
    #: Finish at the end time whatever the fills.
    strict_duration: bool | None = attrs.field(default=None, validator=_OPT_BOOL)
    #: Turn on DiCy.
    dicy: bool | None = attrs.field(default=None, validator=_OPT_BOOL)
    #: Set isLeverage on BinancePM and Bybit orders.
    spot_leverage: bool | None = attrs.field(default=None, validator=_OPT_BOOL)
    #: The largest child order (dynamic when unset).
    max_clip_size: int | None = attrs.field(
        default=None, converter=whole_number, validator=v.optional(v.and_(is_whole, v.gt(0)))
    )


def _to_strategy_params(
    value: StrategyParams | Mapping[str, Any] | None,
) -> StrategyParams | dict[str, Any] | None:
    """A ``StrategyParams`` as given, or a mapping as a dict.

    The dict's documented keys are checked and converted as ``StrategyParams``
    converts them (``max_clip_size`` ``Decimal("5")`` is sent as the integer
    5); the other keys stay as given.
    """
    if value is None or isinstance(value, StrategyParams):
        return value
    params = opt_dict(value)
    assert params is not None  # noqa: S101 (not None: checked above)
    if not all(isinstance(key, str) for key in params):
        raise TypeError("keys must be strings")
    return {**params, **_documented_params(params)}


_PARAMS_KEYS = tuple(a.name for a in attrs.fields(StrategyParams))


def _documented_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The documented keys of ``params`` as ``StrategyParams`` reads them (errors nested)."""
    known = {k: params[k] for k in _PARAMS_KEYS if k in params and params[k] is not None}
    try:
        typed = StrategyParams(**known)
    except RequestValidationError as exc:
        raise NestedErrors({f".{k}": reasons for k, reasons in exc.errors.items()}) from None
    return {k: getattr(typed, k) for k in known}


def _params_keys(_inst: object, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    # A dict mutated after construction is checked again by validate().
    if isinstance(value, dict):
        str_keys(_inst, attribute, value)
        _documented_params(value)


@attrs.define(kw_only=True, on_setattr=on_setattr)
class _ExecutionParams(RequestModel):
    """What single and multi orders share: the strategy and how it executes."""

    strategy: Strategy = attrs.field(converter=to_strategy, validator=v.instance_of(Strategy))
    engine_passiveness: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=decimal_check(ge=ZERO, le=ONE)
    )
    schedule_discretion: Decimal | None = attrs.field(
        default=None,
        converter=opt_decimal,
        validator=decimal_check(ge=MIN_DISCRETION, le=MAX_DISCRETION),
    )
    alpha_tilt: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=decimal_check(ge=-ONE, le=ONE)
    )
    order_condition: str | None = attrs.field(default=None, validator=v.optional(non_empty_str()))
    order_condition_expiry: dt.datetime | str | None = attrs.field(
        default=None,
        converter=datetime_or_str,
        validator=v.optional(v.and_(v.instance_of((dt.datetime, str)), aware)),
    )
    strategy_params: StrategyParams | dict[str, Any] | None = attrs.field(
        default=None,
        converter=_to_strategy_params,
        validator=v.optional(v.and_(v.instance_of((StrategyParams, dict)), _params_keys)),
    )
    custom_order_id: str | None = attrs.field(default=None, validator=CUSTOM_ORDER_ID)


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class PlaceOrderRequest(_ExecutionParams):
    """A single order (``POST /api/orders/``).

    Example::

        PlaceOrderRequest(accounts=["mock"], pair="ETH-USDT", side="buy",
                          duration=300, base_asset_qty=5, strategy="TWAP")
    """

    accounts: list[str] = attrs.field(
        converter=str_list, validator=str_list_validator(non_empty=True)
    )
    pair: str = attrs.field(validator=PAIR)
    side: Side = attrs.field(converter=to_side, validator=v.instance_of(Side))
    duration: int | None = attrs.field(
        default=None, converter=whole_number, validator=v.optional(v.and_(is_whole, v.gt(0)))
    )
    sell_token_amount: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=decimal_check(gt=ZERO)
    )
    base_asset_qty: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=decimal_check(gt=ZERO)
    )
    quote_asset_qty: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=decimal_check(gt=ZERO)
    )
    pov_limit: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=decimal_check(gt=ZERO, le=ONE)
    )
    pov_target: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=decimal_check(gt=ZERO, le=ONE)
    )
    limit_price: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=decimal_check(gt=ZERO)
    )
    notes: str | None = attrs.field(default=None, validator=OPT_STR)
    #: The venue leverage, changed before the order is placed: a whole number.
    updated_leverage: int | None = attrs.field(
        default=None, converter=whole_number, validator=v.optional(v.and_(is_whole, v.gt(0)))
    )
    max_otc: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=decimal_check(gt=ZERO)
    )
    pos_side: PosSide | None = attrs.field(
        default=None, converter=to_pos_side, validator=v.optional(v.instance_of(PosSide))
    )
    start_datetime: dt.datetime | None = attrs.field(
        default=None,
        converter=aware_datetime,
        validator=v.optional(v.and_(v.instance_of(dt.datetime), aware)),
    )
    is_reverse_limit_price: bool | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(bool))
    )
    market_type: str | None = attrs.field(default=None, validator=v.optional(non_empty_str()))

    def _cross_field_problems(self) -> dict[str, list[str]]:
        problems = exactly_one(self, ("sell_token_amount", "base_asset_qty", "quote_asset_qty"))
        strategy = self.strategy
        if not is_instance(strategy, Strategy):  # missing or invalid: its rules wait for it
            return problems
        if strategy.is_simple:
            for name in ALGORITHM_ONLY:
                if getattr(self, name) is not None:
                    problems[name] = [
                        f"not used by {strategy.value} orders (a simple order): leave it out"
                    ]
            if strategy in _NEEDS_LIMIT_PRICE and self.limit_price is None:
                problems["limit_price"] = [f"required for {strategy.value} orders"]
            if strategy is Strategy.MARKET and self.limit_price is not None:
                problems["limit_price"] = [
                    "not used by Market orders (they fill at the best price): use Limit or IOC"
                ]
            return problems
        if self.duration is None and self.pov_target is None:
            problems["duration, pov_target"] = ["one of them is required"]
        if self.is_reverse_limit_price and self.limit_price is None:
            problems["is_reverse_limit_price"] = ["needs a limit_price"]
        return problems


#: What only algorithmic orders use: given for a simple order (Market, Limit,
#: IOC, Iceberg), each is an error naming it.
ALGORITHM_ONLY = (
    "duration",
    "start_datetime",
    "engine_passiveness",
    "schedule_discretion",
    "alpha_tilt",
    "pov_target",
    "pov_limit",
    "is_reverse_limit_price",
)
_NEEDS_LIMIT_PRICE = frozenset({Strategy.LIMIT, Strategy.ICEBERG})
_ALGORITHMIC = ", ".join(s.value for s in Strategy if not s.is_simple)


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class ChildOrder(RequestModel):
    """One leg of a multi order."""

    pair: str = attrs.field(validator=PAIR)
    side: Side = attrs.field(converter=to_side, validator=v.instance_of(Side))
    base_asset_qty: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=decimal_check(gt=ZERO)
    )
    quote_asset_qty: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=decimal_check(gt=ZERO)
    )
    pos_side: PosSide | None = attrs.field(
        default=None, converter=to_pos_side, validator=v.optional(v.instance_of(PosSide))
    )
    account: str | None = attrs.field(default=None, validator=v.optional(non_empty_str()))

    def _cross_field_problems(self) -> dict[str, list[str]]:
        return exactly_one(self, ("base_asset_qty", "quote_asset_qty"))


def _to_child_orders(value: Iterable[ChildOrder | Mapping[str, Any]]) -> list[ChildOrder]:
    return model_list(ChildOrder, value)


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class PlaceMultiOrderRequest(_ExecutionParams):
    """Several legs executed together (``POST /api/multi_orders/``).

    ``accounts`` may be left out when every child names its ``account``.
    """

    duration: int = attrs.field(
        converter=required_whole_number, validator=v.and_(is_whole, v.gt(0))
    )
    child_orders: list[ChildOrder] = attrs.field(
        converter=_to_child_orders,
        validator=v.and_(
            v.deep_iterable(v.instance_of(ChildOrder), v.instance_of(list)), v.min_len(1)
        ),
    )
    accounts: list[str] | None = attrs.field(
        default=None,
        converter=opt_str_list,
        validator=v.optional(str_list_validator(non_empty=True)),
    )
    exposure_tolerance: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=decimal_check(ge=MIN_DISCRETION, le=ONE)
    )

    @property
    def resolved_accounts(self) -> list[str]:
        """``accounts`` if given, else the children's accounts in order of first appearance."""
        if self.accounts:
            return list(self.accounts)
        return list(dict.fromkeys(c.account for c in self.child_orders if c.account))

    def _cross_field_problems(self) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        if is_instance(self.strategy, Strategy) and self.strategy.is_simple:
            problems["strategy"] = [
                f"a multi order runs an algorithmic strategy ({_ALGORITHMIC}), not"
                f" {self.strategy.value}: place simple orders with place_order(s)"
            ]
        if not self.resolved_accounts:
            problems["accounts"] = ["required unless every child order names its account"]
        return problems


def _to_place_order_request(value: PlaceOrderRequest | Mapping[str, Any]) -> PlaceOrderRequest:
    return to_model(PlaceOrderRequest, value)


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class OrderInChain(RequestModel):
    """One order of a chain and its priority (1 runs first)."""

    order_request: PlaceOrderRequest = attrs.field(
        converter=_to_place_order_request,
        validator=v.instance_of(PlaceOrderRequest),
    )
    priority: int = attrs.field(
        converter=required_whole_number, validator=v.and_(is_whole, v.gt(0))
    )


def _to_orders_in_chain(value: Iterable[OrderInChain | Mapping[str, Any]]) -> list[OrderInChain]:
    return model_list(OrderInChain, value)


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class PlaceChainedOrderRequest(RequestModel):
    """Orders that run one after another by priority (``POST /api/chained_orders/``)."""

    orders_in_chain: list[OrderInChain] = attrs.field(
        converter=_to_orders_in_chain,
        validator=v.and_(
            v.deep_iterable(v.instance_of(OrderInChain), v.instance_of(list)), v.min_len(2)
        ),
    )


def _changes_problems(changes: Mapping[Any, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Each change checked by the rules of the order field it changes."""
    fields = attrs.fields_dict(PlaceOrderRequest)
    converted: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for key, value in changes.items():
        if not isinstance(key, str):
            problems[""] = ["keys must be strings"]
            continue
        if key not in fields:
            problems[f".{key}"] = [f"not an order field (one of: {', '.join(sorted(fields))})"]
            continue
        converted[key], field_problems = check_field(fields[key], value)
        problems.update({f".{path}": reasons for path, reasons in field_problems.items()})
    return converted, problems


def converted_changes(value: Mapping[str, Any]) -> dict[str, Any]:
    """An amendment's ``changes``, each value converted by its order field's rules.

    Amounts in changes are money like any other: exact Decimals, sent as
    strings. Run at construction and again when the request is sent (the
    dict may have been changed in place since).

    Raises:
        NestedErrors: naming each bad change.

    """
    converted, problems = _changes_problems(to_dict(value))
    if problems:
        raise NestedErrors(problems)
    return converted


def _valid_changes(_inst: object, _attribute: "attrs.Attribute[Any]", value: Any) -> None:
    _, problems = _changes_problems(value)
    if problems:
        raise ValueError("; ".join(f"{k[1:]}: {' '.join(r)}" for k, r in problems.items()))


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class AmendOrderRequest(RequestModel):
    """Changes to a live order (``POST /api/amend_order/``).

    Each key of ``changes`` must be a field of :class:`PlaceOrderRequest` and
    is checked by that field's rules (``{"limit_price": 0.1}`` is sent as the
    exact ``"0.1"``; a negative quantity or a misspelt key is rejected).
    """

    order_id: str = attrs.field(converter=id_str, validator=non_empty_str())
    changes: dict[str, Any] = attrs.field(
        converter=converted_changes,
        validator=v.and_(v.instance_of(dict), v.min_len(1), str_keys, _valid_changes),
    )


def _to_statuses(value: Iterable[OrderStatus | str] | None) -> list[OrderStatus | str] | None:
    return _filter_statuses(OrderStatus, value)


def _to_multi_statuses(
    value: Iterable[MultiOrderStatus | str] | None,
) -> list[MultiOrderStatus | str] | None:
    return _filter_statuses(MultiOrderStatus, value)


def _filter_statuses(
    enum: type[OrderStatus] | type[MultiOrderStatus], value: Iterable[Any] | None
) -> list[Any] | None:
    statuses = opt_str_list(value)
    if statuses is None:
        return None
    # Anything not a string stays, for the validator to name it.
    return [enum.for_filter(s) if is_instance(s, str) else s for s in statuses]


@attrs.define(kw_only=True, on_setattr=on_setattr)
class _ListFilters(RequestModel):
    """What the orders and multi-orders lists both filter by."""

    before: dt.datetime | None = attrs.field(
        default=None,
        converter=aware_datetime,
        validator=v.optional(v.and_(v.instance_of(dt.datetime), aware)),
    )
    after: dt.datetime | None = attrs.field(
        default=None,
        converter=aware_datetime,
        validator=v.optional(v.and_(v.instance_of(dt.datetime), aware)),
    )
    custom_order_ids: list[str] | None = attrs.field(
        default=None,
        converter=opt_str_list,
        validator=v.optional(str_list_validator(non_empty=True, comma_joined=True)),
    )
    page_size: int | None = attrs.field(
        default=None, converter=whole_number, validator=v.optional(v.and_(is_whole, v.ge(1)))
    )

    def _cross_field_problems(self) -> dict[str, list[str]]:
        if self.before is not None and self.after is not None and self.after >= self.before:
            return {"after, before": ["'after' must be earlier than 'before'"]}
        return {}


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class GetOrdersRequest(_ListFilters):
    """Filters and paging for ``GET /api/orders/``. Lists are sent comma-joined."""

    #: ``COMPLETED`` (as a docs example spells it) is sent as ``COMPLETE``.
    statuses: list[OrderStatus | str] | None = attrs.field(
        default=None,
        converter=_to_statuses,
        validator=v.optional(str_list_validator(non_empty=True, comma_joined=True)),
    )
    account_names: list[str] | None = attrs.field(
        default=None,
        converter=opt_str_list,
        validator=v.optional(str_list_validator(non_empty=True, comma_joined=True)),
    )
    page: int | None = attrs.field(
        default=None, converter=whole_number, validator=v.optional(v.and_(is_whole, v.ge(1)))
    )


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class GetMultiOrdersRequest(_ListFilters):
    """Filters and paging for ``GET /api/multi_orders/``. Lists are sent comma-joined.

    Pages are numbered by ``page_number`` (1-based) here, not ``page``.
    """

    #: ``COMPLETED`` is sent as ``COMPLETE``, as for orders.
    statuses: list[MultiOrderStatus | str] | None = attrs.field(
        default=None,
        converter=_to_multi_statuses,
        validator=v.optional(str_list_validator(non_empty=True, comma_joined=True)),
    )
    page_number: int | None = attrs.field(
        default=None, converter=whole_number, validator=v.optional(v.and_(is_whole, v.ge(1)))
    )
    #: Each multi order with its legs, as ``MultiOrder.child_orders``.
    include_child_orders: bool | None = attrs.field(default=None, validator=_OPT_BOOL)


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class MultiOrderQuery(RequestModel):
    """The query of ``GET /api/multi_order/{id}`` (internal: the client builds it)."""

    include_child_orders: bool | None = attrs.field(default=None, validator=_OPT_BOOL)


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class SetLeverageRequest(RequestModel):
    """Leverage for a pair on some accounts (``POST /api/set_leverage/``)."""

    account_ids: list[str] = attrs.field(
        converter=str_list, validator=str_list_validator(non_empty=True)
    )
    pair: str = attrs.field(validator=PAIR)
    leverage: Decimal = attrs.field(
        converter=wire_decimal, validator=v.and_(v.instance_of(Decimal), v.gt(ZERO))
    )


# --------------------------------------------------------------------------- private requests
# Endpoints that take plain arguments validate them through these models, so
# every input goes through the same rules and errors.


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class BalancesQuery(RequestModel):
    """Filters of ``GET /api/balances/``."""

    exchange_names: list[str] | None = attrs.field(
        default=None,
        converter=opt_str_list,
        validator=v.optional(str_list_validator(non_empty=True, comma_joined=True)),
    )
    account_names: list[str] | None = attrs.field(
        default=None,
        converter=opt_str_list,
        validator=v.optional(str_list_validator(non_empty=True, comma_joined=True)),
    )


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class CloseBalancesRequest(RequestModel):
    """Body of ``POST /api/close_balances/``."""

    max_notional: Decimal = attrs.field(
        converter=wire_decimal, validator=v.and_(v.instance_of(Decimal), v.gt(ZERO))
    )
    account_names: list[str] | None = attrs.field(
        default=None,
        converter=opt_str_list,
        validator=v.optional(str_list_validator(non_empty=True)),
    )
    preferred_strategy: Strategy | None = attrs.field(
        default=None, converter=to_opt_strategy, validator=v.optional(v.instance_of(Strategy))
    )


def _to_id_list(value: Iterable[str | uuid.UUID]) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"expected a list of ids, got {type(value).__name__}")
    return [id_str(i) for i in value]


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class OrderMessagesRequest(RequestModel):
    """Body of ``POST /api/order_messages/``."""

    order_ids: list[str] = attrs.field(
        converter=_to_id_list,
        validator=str_list_validator(non_empty=True),
    )


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class OrderIdRequest(RequestModel):
    """Body of ``POST /api/pause_order/`` and ``/api/resume_order/``."""

    order_id: str = attrs.field(converter=id_str, validator=non_empty_str())
