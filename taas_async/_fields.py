"""Converters and validators of request fields, shared by every request model.

Converters turn accepted input into the stored type and raise ``TypeError``
or ``ValueError`` (without the field name: the caller adds it) on anything
else; validators check the stored value. The number rules are ``_numbers``'.
"""

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import attrs
from attrs import validators as v

from taas_async._enums import PosSide, Side, Strategy
from taas_async._exceptions import RequestValidationError
from taas_async._timeparse import parse_datetime
from taas_async._validation import NestedErrors, build_from

__all__ = [
    "CUSTOM_ORDER_ID",
    "MAX_CUSTOM_ORDER_ID_LENGTH",
    "MAX_DISCRETION",
    "MIN_DISCRETION",
    "ONE",
    "OPT_STR",
    "PAIR",
    "PAIR_PATTERN",
    "ZERO",
    "aware",
    "aware_datetime",
    "datetime_or_str",
    "decimal_check",
    "id_str",
    "is_whole",
    "model_list",
    "non_empty_str",
    "opt_dict",
    "opt_str_list",
    "str_keys",
    "str_list",
    "str_list_validator",
    "to_dict",
    "to_model",
    "to_opt_strategy",
    "to_pos_side",
    "to_side",
    "to_strategy",
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


def to_side(value: Side | str) -> Side:
    return _enum(Side, value)


def to_strategy(value: Strategy | str) -> Strategy:
    return _enum(Strategy, value)


def to_opt_strategy(value: Strategy | str | None) -> Strategy | None:
    return None if value is None else _enum(Strategy, value)


def to_pos_side(value: PosSide | str | None) -> PosSide | None:
    return None if value is None else _enum(PosSide, value)


def str_list(value: Iterable[str]) -> list[str]:
    # A bare string is iterable: "mock" must not become ["m", "o", "c", "k"]; nor
    # may a mapping quietly become its keys.
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"expected a list of strings, got {type(value).__name__}")
    return list(value)


def id_str(value: str | uuid.UUID) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"expected an id string, got {type(value).__name__}")
    return value


def opt_str_list(value: Iterable[str] | None) -> list[str] | None:
    return None if value is None else str_list(value)


def opt_dict(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping, got {type(value).__name__}")
    return dict(value)


def to_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    result = opt_dict(value)
    if result is None:
        raise TypeError("expected a mapping, got None")
    return result


def aware_datetime(value: dt.datetime | str | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_datetime(value, assume_utc=False)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must be timezone-aware (naive datetimes are ambiguous)")
        return value
    raise TypeError(f"expected a datetime or ISO 8601 string, got {type(value).__name__}")


#: RFC 3339 with a ``T``, whole seconds or up to microseconds, an offset: read alike by
#: every ISO 8601 parser (the server's included), so such a string goes out as written.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


def datetime_or_str(value: dt.datetime | str | None) -> dt.datetime | str | None:
    # order_condition_expiry: a string must parse as an ISO 8601 timestamp with an
    # offset (like a datetime, it must be aware). In RFC 3339 form it is kept as
    # written; any other spelling ("2024-01-01+05", a space for the T, finer than
    # microseconds) is kept as the timestamp it was read as, in that form: what is
    # sent is what was checked, and no parser of the server's can read it otherwise.
    if isinstance(value, str):
        parsed = parse_datetime(value, assume_utc=False)
        return value if _RFC3339.fullmatch(value) else parsed.isoformat()
    return aware_datetime(value)


def model_list(model: type[_T], value: Iterable[_T | Mapping[str, Any]]) -> list[_T]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"expected a list of {model.__name__}, got {type(value).__name__}")
    errors: dict[str, list[str]] = {}
    out: list[_T] = []
    for index, item in enumerate(value):
        try:
            out.append(to_model(model, item))
        except RequestValidationError as exc:  # noqa: PERF203 (collect every item's errors)
            for field, reasons in exc.errors.items():
                errors[f"[{index}].{field}" if field else f"[{index}]"] = reasons
    if errors:
        raise NestedErrors(errors)
    return out


def to_model(model: type[_T], item: Any) -> _T:
    if isinstance(item, model):
        return item
    if isinstance(item, Mapping):
        return build_from(model, item, floats=True)  # type: ignore[type-var]
    raise RequestValidationError(
        {"": [f"expected {model.__name__} or a mapping, got {type(item).__name__}"]}
    )


# --------------------------------------------------------------------------- validators


def non_empty_str() -> _Validator:
    return v.and_(v.instance_of(str), v.min_len(1))


def str_list_validator(*, non_empty: bool, comma_joined: bool = False) -> _Validator:
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


def aware(_inst: object, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if isinstance(value, dt.datetime) and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"'{attribute.name}' must be timezone-aware")


def str_keys(_inst: object, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if value is not None and not all(isinstance(k, str) for k in value):
        raise TypeError(f"'{attribute.name}' keys must be strings")


def is_whole(_inst: object, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"'{attribute.name}' must be a whole number")


def decimal_check(
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


ZERO = Decimal(0)
ONE = Decimal(1)
MIN_DISCRETION = Decimal("0.02")
MAX_DISCRETION = Decimal("0.5")

PAIR = v.and_(v.instance_of(str), v.matches_re(PAIR_PATTERN))
CUSTOM_ORDER_ID = v.optional(
    v.and_(
        v.instance_of(str),
        v.min_len(1),
        v.max_len(MAX_CUSTOM_ORDER_ID_LENGTH),
        v.matches_re(_NO_CONTROL_CHARS),
        # Looked up as custom_order_ids=a,b: a comma would make it unfindable.
        v.matches_re(r"[^,]+"),
    )
)
OPT_STR = v.optional(v.instance_of(str))
