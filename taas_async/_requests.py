"""Request models: attrs classes validated at construction and on assignment.

Field names are the wire names. A bad value raises
:class:`~taas_async.RequestValidationError` naming every bad field, before
anything is sent. Rules that span fields (exactly one quantity, duration or
POV target, ...) are checked at construction and again by ``validate()``,
which the client calls right before sending.
"""

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import attrs
from attrs import validators as v

from taas_async._enums import OrderStatus, PosSide, Side, Strategy
from taas_async._exceptions import RequestValidationError
from taas_async._numbers import (
    opt_decimal,
    required_whole_number,
    whole_number,
    wire_decimal,
)
from taas_async._timeparse import parse_datetime
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
    "GetOrdersRequest",
    "OrderInChain",
    "PlaceChainedOrderRequest",
    "PlaceMultiOrderRequest",
    "PlaceOrderRequest",
    "SetLeverageRequest",
]

_T = TypeVar("_T")
_Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]
_E = TypeVar("_E", Side, PosSide, Strategy)

# The whole string: BASE-QUOTE or BASE:VARIANT-QUOTE (1.2.9 only searched for it).
PAIR_PATTERN = r"[A-Za-z0-9]+(?::[A-Za-z0-9_]+)?-[A-Za-z0-9]+"
_NO_CONTROL_CHARS = r"[^\x00-\x1f\x7f]+"
MAX_CUSTOM_ORDER_ID_LENGTH = 64


# --------------------------------------------------------------------------- converters
# Converters turn accepted input into the stored type and raise TypeError or
# ValueError (without the field name: the caller adds it) on anything else.
def _enum(enum_cls: type[_E], value: Any) -> _E:
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        try:
            return enum_cls(value)
        except ValueError:
            pass
    allowed = ", ".join(repr(m.value) for m in enum_cls)
    raise ValueError(f"must be one of {allowed}, got {value!r}")


def _to_side(value: Side | str) -> Side:
    return _enum(Side, value)


def _to_strategy(value: Strategy | str) -> Strategy:
    return _enum(Strategy, value)


def _to_opt_strategy(value: Strategy | str | None) -> Strategy | None:
    return None if value is None else _enum(Strategy, value)


def _to_pos_side(value: PosSide | str | None) -> PosSide | None:
    return None if value is None else _enum(PosSide, value)


def _str_list(value: Iterable[str]) -> list[str]:
    # A bare string is iterable: "mock" must not become ["m", "o", "c", "k"]; nor
    # may a mapping quietly become its keys.
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"expected a list of strings, got {type(value).__name__}")
    return list(value)


def _id_str(value: str | uuid.UUID) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"expected an id string, got {type(value).__name__}")
    return value


def _opt_str_list(value: Iterable[str] | None) -> list[str] | None:
    return None if value is None else _str_list(value)


def _opt_dict(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping, got {type(value).__name__}")
    return dict(value)


def _to_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    result = _opt_dict(value)
    if result is None:
        raise TypeError("expected a mapping, got None")
    return result


def _aware_datetime(value: dt.datetime | str | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_datetime(value, assume_utc=False)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must be timezone-aware (naive datetimes are ambiguous)")
        return value
    raise TypeError(f"expected a datetime or ISO 8601 string, got {type(value).__name__}")


def _datetime_or_str(value: dt.datetime | str | None) -> dt.datetime | str | None:
    # order_condition_expiry: a string is sent as the user wrote it, once it parses
    # as an ISO 8601 timestamp with an offset (like a datetime, it must be aware).
    if isinstance(value, str):
        parse_datetime(value, assume_utc=False)
        return value
    return _aware_datetime(value)


def _model_list(model: type[_T], value: Iterable[_T | Mapping[str, Any]]) -> list[_T]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"expected a list of {model.__name__}, got {type(value).__name__}")
    errors: dict[str, list[str]] = {}
    out: list[_T] = []
    for index, item in enumerate(value):
        try:
            out.append(_to_model(model, item))
        except RequestValidationError as exc:  # noqa: PERF203 (collect every item's errors)
            for field, reasons in exc.errors.items():
                errors[f"[{index}].{field}" if field else f"[{index}]"] = reasons
    if errors:
        raise NestedErrors(errors)
    return out


def _to_model(model: type[_T], item: Any) -> _T:
    if isinstance(item, model):
        return item
    if isinstance(item, Mapping):
        return model(**item)
    raise RequestValidationError(
        {"": [f"expected {model.__name__} or a mapping, got {type(item).__name__}"]}
    )


# --------------------------------------------------------------------------- validators


def _non_empty_str() -> _Validator:
    return v.and_(v.instance_of(str), v.min_len(1))


def _str_list_validator(*, non_empty: bool, comma_joined: bool = False) -> _Validator:
    member: list[_Validator] = [v.instance_of(str), v.min_len(1)]
    if comma_joined:  # sent as a=x,y: a comma inside a value would split it in two
        member.append(v.matches_re(r"[^,]+"))
    checks = [
        v.deep_iterable(
            member_validator=v.and_(*member),
            iterable_validator=v.instance_of(list),
        )
    ]
    if non_empty:
        checks.append(v.min_len(1))
    return v.and_(*checks)


def _aware(_inst: object, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if isinstance(value, dt.datetime) and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"'{attribute.name}' must be timezone-aware")


def _str_keys(_inst: object, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if value is not None and not all(isinstance(k, str) for k in value):
        raise TypeError(f"'{attribute.name}' keys must be strings")


def _is_whole(_inst: object, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"'{attribute.name}' must be a whole number")


def _decimal_check(
    *, gt: Decimal | None = None, ge: Decimal | None = None, le: Decimal | None = None
) -> _Validator:
    """An optional Decimal within bounds (the field's converter made it a Decimal)."""
    checks: list[_Validator] = [v.instance_of(Decimal)]
    if gt is not None:
        checks.append(v.gt(gt))
    if ge is not None:
        checks.append(v.ge(ge))
    if le is not None:
        checks.append(v.le(le))
    return v.optional(v.and_(*checks))


_ZERO = Decimal(0)
_ONE = Decimal(1)
_MIN_DISCRETION = Decimal("0.02")

_PAIR = v.and_(v.instance_of(str), v.matches_re(PAIR_PATTERN))
_CUSTOM_ORDER_ID = v.optional(
    v.and_(
        v.instance_of(str),
        v.min_len(1),
        v.max_len(MAX_CUSTOM_ORDER_ID_LENGTH),
        v.matches_re(_NO_CONTROL_CHARS),
        # Looked up as custom_order_ids=a,b: a comma would make it unfindable.
        v.matches_re(r"[^,]+"),
    )
)
_OPT_STR = v.optional(v.instance_of(str))


# --------------------------------------------------------------------------- models


@attrs.define(kw_only=True, on_setattr=on_setattr)
class _ExecutionParams(RequestModel):
    """What single and multi orders share: the strategy and how it executes."""

    strategy: Strategy = attrs.field(converter=_to_strategy, validator=v.instance_of(Strategy))
    engine_passiveness: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(ge=_ZERO, le=_ONE)
    )
    schedule_discretion: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(ge=_MIN_DISCRETION, le=_ONE)
    )
    alpha_tilt: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(ge=-_ONE, le=_ONE)
    )
    order_condition: str | None = attrs.field(default=None, validator=v.optional(_non_empty_str()))
    order_condition_expiry: dt.datetime | str | None = attrs.field(
        default=None,
        converter=_datetime_or_str,
        validator=v.optional(v.and_(v.instance_of((dt.datetime, str)), _aware)),
    )
    strategy_params: dict[str, Any] | None = attrs.field(
        default=None,
        converter=_opt_dict,
        validator=v.optional(v.and_(v.instance_of(dict), _str_keys)),
    )
    custom_order_id: str | None = attrs.field(default=None, validator=_CUSTOM_ORDER_ID)


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class PlaceOrderRequest(_ExecutionParams):
    """A single order (``POST /api/orders/``).

    Example::

        PlaceOrderRequest(accounts=["mock"], pair="ETH-USDT", side="buy",
                          duration=300, base_asset_qty=5, strategy="TWAP")
    """

    accounts: list[str] = attrs.field(
        converter=_str_list, validator=_str_list_validator(non_empty=True)
    )
    pair: str = attrs.field(validator=_PAIR)
    side: Side = attrs.field(converter=_to_side, validator=v.instance_of(Side))
    duration: int | None = attrs.field(
        default=None, converter=whole_number, validator=v.optional(v.and_(_is_whole, v.gt(0)))
    )
    sell_token_amount: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    base_asset_qty: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    quote_asset_qty: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    pov_limit: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(gt=_ZERO, le=_ONE)
    )
    pov_target: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(gt=_ZERO, le=_ONE)
    )
    limit_price: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    notes: str | None = attrs.field(default=None, validator=_OPT_STR)
    updated_leverage: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    max_otc: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    pos_side: PosSide | None = attrs.field(
        default=None, converter=_to_pos_side, validator=v.optional(v.instance_of(PosSide))
    )

    def _cross_field_problems(self) -> dict[str, list[str]]:
        problems = exactly_one(self, ("sell_token_amount", "base_asset_qty", "quote_asset_qty"))
        if self.duration is None and self.pov_target is None:
            problems["duration, pov_target"] = ["one of them is required"]
        return problems


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class ChildOrder(RequestModel):
    """One leg of a multi order."""

    pair: str = attrs.field(validator=_PAIR)
    side: Side = attrs.field(converter=_to_side, validator=v.instance_of(Side))
    base_asset_qty: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    quote_asset_qty: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    pos_side: PosSide | None = attrs.field(
        default=None, converter=_to_pos_side, validator=v.optional(v.instance_of(PosSide))
    )
    account: str | None = attrs.field(default=None, validator=v.optional(_non_empty_str()))

    def _cross_field_problems(self) -> dict[str, list[str]]:
        return exactly_one(self, ("base_asset_qty", "quote_asset_qty"))


def _to_child_orders(value: Iterable[ChildOrder | Mapping[str, Any]]) -> list[ChildOrder]:
    return _model_list(ChildOrder, value)


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class PlaceMultiOrderRequest(_ExecutionParams):
    """Several legs executed together (``POST /api/multi_orders/``).

    ``accounts`` may be left out when every child names its ``account``.
    """

    duration: int = attrs.field(
        converter=required_whole_number, validator=v.and_(_is_whole, v.gt(0))
    )
    child_orders: list[ChildOrder] = attrs.field(
        converter=_to_child_orders,
        validator=v.and_(
            v.deep_iterable(v.instance_of(ChildOrder), v.instance_of(list)), v.min_len(1)
        ),
    )
    accounts: list[str] | None = attrs.field(
        default=None,
        converter=_opt_str_list,
        validator=v.optional(_str_list_validator(non_empty=True)),
    )
    exposure_tolerance: Decimal | None = attrs.field(
        default=None, converter=opt_decimal, validator=_decimal_check(ge=_MIN_DISCRETION, le=_ONE)
    )

    @property
    def resolved_accounts(self) -> list[str]:
        """``accounts`` if given, else the children's accounts in order of first appearance."""
        if self.accounts:
            return list(self.accounts)
        return list(dict.fromkeys(c.account for c in self.child_orders if c.account))

    def _cross_field_problems(self) -> dict[str, list[str]]:
        if not self.resolved_accounts:
            return {"accounts": ["required unless every child order names its account"]}
        return {}


def _to_place_order_request(value: PlaceOrderRequest | Mapping[str, Any]) -> PlaceOrderRequest:
    return _to_model(PlaceOrderRequest, value)


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class OrderInChain(RequestModel):
    """One order of a chain and its priority (1 runs first)."""

    order_request: PlaceOrderRequest = attrs.field(
        converter=_to_place_order_request,
        validator=v.instance_of(PlaceOrderRequest),
    )
    priority: int = attrs.field(
        converter=required_whole_number, validator=v.and_(_is_whole, v.gt(0))
    )


def _to_orders_in_chain(value: Iterable[OrderInChain | Mapping[str, Any]]) -> list[OrderInChain]:
    return _model_list(OrderInChain, value)


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


def _to_changes(value: Mapping[str, Any]) -> dict[str, Any]:
    # Amounts in changes are money like any other: exact Decimals, sent as strings.
    converted, problems = _changes_problems(_to_dict(value))
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

    order_id: str = attrs.field(converter=_id_str, validator=_non_empty_str())
    changes: dict[str, Any] = attrs.field(
        converter=_to_changes,
        validator=v.and_(v.instance_of(dict), v.min_len(1), _str_keys, _valid_changes),
    )


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class GetOrdersRequest(RequestModel):
    """Filters and paging for ``GET /api/orders/``. Lists are sent comma-joined."""

    statuses: list[OrderStatus | str] | None = attrs.field(
        default=None,
        converter=_opt_str_list,
        validator=v.optional(_str_list_validator(non_empty=True, comma_joined=True)),
    )
    account_names: list[str] | None = attrs.field(
        default=None,
        converter=_opt_str_list,
        validator=v.optional(_str_list_validator(non_empty=True, comma_joined=True)),
    )
    before: dt.datetime | None = attrs.field(
        default=None,
        converter=_aware_datetime,
        validator=v.optional(v.and_(v.instance_of(dt.datetime), _aware)),
    )
    after: dt.datetime | None = attrs.field(
        default=None,
        converter=_aware_datetime,
        validator=v.optional(v.and_(v.instance_of(dt.datetime), _aware)),
    )
    custom_order_ids: list[str] | None = attrs.field(
        default=None,
        converter=_opt_str_list,
        validator=v.optional(_str_list_validator(non_empty=True, comma_joined=True)),
    )
    page: int | None = attrs.field(
        default=None, converter=whole_number, validator=v.optional(v.and_(_is_whole, v.ge(1)))
    )
    page_size: int | None = attrs.field(
        default=None, converter=whole_number, validator=v.optional(v.and_(_is_whole, v.ge(1)))
    )

    def _cross_field_problems(self) -> dict[str, list[str]]:
        if self.before is not None and self.after is not None and self.after >= self.before:
            return {"after, before": ["'after' must be earlier than 'before'"]}
        return {}


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class SetLeverageRequest(RequestModel):
    """Leverage for a pair on some accounts (``POST /api/set_leverage/``)."""

    account_ids: list[str] = attrs.field(
        converter=_str_list, validator=_str_list_validator(non_empty=True)
    )
    pair: str = attrs.field(validator=_PAIR)
    leverage: Decimal = attrs.field(
        converter=wire_decimal, validator=v.and_(v.instance_of(Decimal), v.gt(_ZERO))
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
        converter=_opt_str_list,
        validator=v.optional(_str_list_validator(non_empty=True, comma_joined=True)),
    )
    account_names: list[str] | None = attrs.field(
        default=None,
        converter=_opt_str_list,
        validator=v.optional(_str_list_validator(non_empty=True, comma_joined=True)),
    )


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class CloseBalancesRequest(RequestModel):
    """Body of ``POST /api/close_balances/``."""

    max_notional: Decimal = attrs.field(
        converter=wire_decimal, validator=v.and_(v.instance_of(Decimal), v.gt(_ZERO))
    )
    account_names: list[str] | None = attrs.field(
        default=None,
        converter=_opt_str_list,
        validator=v.optional(_str_list_validator(non_empty=True)),
    )
    preferred_strategy: Strategy | None = attrs.field(
        default=None, converter=_to_opt_strategy, validator=v.optional(v.instance_of(Strategy))
    )


def _to_id_list(value: Iterable[str | uuid.UUID]) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"expected a list of ids, got {type(value).__name__}")
    return [_id_str(i) for i in value]


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class OrderMessagesRequest(RequestModel):
    """Body of ``POST /api/order_messages/``."""

    order_ids: list[str] = attrs.field(
        converter=_to_id_list,
        validator=_str_list_validator(non_empty=True),
    )


@collect_errors
@attrs.define(kw_only=True, on_setattr=on_setattr)
class OrderIdRequest(RequestModel):
    """Body of ``POST /api/pause_order/`` and ``/api/resume_order/``."""

    order_id: str = attrs.field(converter=_id_str, validator=_non_empty_str())
