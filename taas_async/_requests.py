"""Request models: attrs classes validated at construction and on assignment.

Field names are the wire names. A bad value raises
:class:`~taas_async.RequestValidationError` naming every bad field, before
anything is sent. Rules that span fields (exactly one quantity, duration or
POV target, ...) are checked at construction and again by ``validate()``,
which the client calls right before sending.
"""

import datetime as dt
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Clamped, Context, Decimal, Inexact, InvalidOperation, Overflow, Subnormal
from typing import Any, TypeVar, Union

import attrs
from attrs import validators as v

from taas_async._enums import OrderStatus, PosSide, Side, Strategy
from taas_async._exceptions import RequestValidationError
from taas_async._timeparse import parse_datetime

__all__ = [
    "AmendOrderRequest",
    "ChildOrder",
    "DecimalInput",
    "GetOrdersRequest",
    "OrderInChain",
    "PlaceChainedOrderRequest",
    "PlaceMultiOrderRequest",
    "PlaceOrderRequest",
    "SetLeverageRequest",
]

#: What quantity and price fields accept. Floats go through ``str()`` first.
DecimalInput = Union[Decimal, int, str, float]  # noqa: UP007 (a runtime alias on 3.10)

_T = TypeVar("_T")
_Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]
_E = TypeVar("_E", Side, PosSide, Strategy)

# The whole string: BASE-QUOTE or BASE:VARIANT-QUOTE (1.2.9 only searched for it).
PAIR_PATTERN = r"[A-Za-z0-9]+(?::[A-Za-z0-9_]+)?-[A-Za-z0-9]+"
_NO_CONTROL_CHARS = r"[^\x00-\x1f\x7f]+"
MAX_CUSTOM_ORDER_ID_LENGTH = 64

# Numbers: bounds that keep the cost of every number in proportion to its text.
# ``int()`` of ``Decimal("1e999999")`` is a million-digit integer (24 s of CPU);
# ``1e999999999`` exhausts memory. Requests, replies and the sandbox share these.

#: |exponent| of a decimal in scientific notation (``Decimal.adjusted()``): 1e-100 to 9.99e100.
MAX_DECIMAL_EXPONENT = 100
#: Significant digits of a decimal, first to last non-zero one (``1.50``: 2, ``1E+2``: 1).
MAX_DECIMAL_DIGITS = 100
#: Characters of a number's text (a JSON number, a numeric string, a decimal's plain
#: notation as sent): room for every decimal within the two bounds above, and no more.
MAX_NUMBER_TEXT = MAX_DECIMAL_DIGITS + MAX_DECIMAL_EXPONENT + 10
#: Whole numbers (durations, priorities, pages, counts) are below this in magnitude.
WHOLE_NUMBER_LIMIT = 2**63

#: Rounding a finite decimal to this context signals nothing exactly when it is within
#: the bounds: more digits are Inexact, a larger or smaller exponent Overflow or
#: Subnormal, a zero with an exponent outside -199..100 Clamped. One C call, used on
#: the hot reply path (``Decimal.as_tuple()`` costs ten times as much).
DECIMAL_BOUNDS = Context(
    prec=MAX_DECIMAL_DIGITS,
    Emax=MAX_DECIMAL_EXPONENT,
    Emin=-MAX_DECIMAL_EXPONENT,
    traps=[Inexact, Overflow, Subnormal, Clamped, InvalidOperation],
)
_TOO_BIG_FOR_A_DECIMAL = 10 ** (MAX_DECIMAL_EXPONENT + 1)  # |int| from here on: exponent > 100
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SHOWN_CHARS = 40


# --------------------------------------------------------------------------- converters
# Converters turn accepted input into the stored type and raise TypeError or
# ValueError (without the field name: the caller adds it) on anything else.


def shown(value: Any) -> str:
    """``repr(value)`` for an error message, cut short (a number may be 5000 digits long)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"  # repr() of 10**5000 is costly
    if isinstance(value, str) and len(value) > _SHOWN_CHARS:
        return f"{value[:_SHOWN_CHARS]!r}... ({len(value)} characters)"
    text = repr(value)
    if len(text) > _SHOWN_CHARS:
        return f"{text[:_SHOWN_CHARS]}... ({len(text)} characters)"
    return text


def to_decimal(value: DecimalInput) -> Decimal:
    """Exact Decimal from Decimal, int, str or float (through ``str()``); no NaN, inf or bool.

    Within the bounds: at most ``MAX_DECIMAL_DIGITS`` significant digits, an
    exponent within +-``MAX_DECIMAL_EXPONENT``, and text of at most
    ``MAX_NUMBER_TEXT`` characters. The same rules as reply fields.
    """
    if isinstance(value, bool):
        raise TypeError("expected a number, got a bool")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        if not -_TOO_BIG_FOR_A_DECIMAL < value < _TOO_BIG_FOR_A_DECIMAL:
            # Checked before Decimal(value), which is quadratic in the digits.
            raise ValueError(_exponent_out_of_range(value))
        result = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value!r}")
        result = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_TEXT:
            raise ValueError(_too_long(value, len(text)))
        # Plain ASCII notation only: Decimal() also takes "1_000" and other scripts' digits.
        if not _DECIMAL_TEXT.fullmatch(text):
            raise ValueError(f"not a decimal number: {shown(value)}")
        result = Decimal(text)
    else:
        raise TypeError(f"expected Decimal, int, str or float, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"must be a finite number, got {shown(value)}")
    if not result.is_zero() and abs(result.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise ValueError(_exponent_out_of_range(value))
    try:
        DECIMAL_BOUNDS.plus(result)
    except Inexact:
        raise ValueError(
            f"too many significant digits (at most {MAX_DECIMAL_DIGITS}): {shown(value)}"
        ) from None
    except ArithmeticError:  # a zero with an exponent out of range (0E+999999)
        raise ValueError(_exponent_out_of_range(value)) from None
    return result


def _wire_decimal(value: DecimalInput) -> Decimal:
    """A request field's decimal: ``to_decimal``, and its plain notation (as sent) fits too.

    ``Decimal("1.000...")`` with 5000 zeros has one significant digit, but would be sent
    as 5002 characters, which the server (and the sandbox) may refuse to read.
    """
    result = to_decimal(value)
    plain = plain_length(result)
    if plain > MAX_NUMBER_TEXT:
        raise ValueError(_too_long(value, plain, written=" in plain notation"))
    return result


def plain_length(number: Decimal) -> int:
    """``len(format(number, "f"))`` of a finite decimal, without writing it out."""
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 (finite: checked by the caller)
    n = len(digits)
    if exponent >= 0:
        length = 1 if number.is_zero() else n + exponent
    elif n > -exponent:
        length = n + 1  # 12.5: the point inside the digits
    else:
        length = 2 - exponent  # 0.05: "0." and the fraction
    return length + sign


def _exponent_out_of_range(value: Any) -> str:
    # 1e5000000 would be a 5 MB body, and int() of it minutes of CPU.
    return f"exponent out of range (|exponent| <= {MAX_DECIMAL_EXPONENT}): {shown(value)}"


def _too_long(value: Any, length: int, written: str = "") -> str:
    return f"too long for a number{written} ({length} characters, at most {MAX_NUMBER_TEXT})"


def _opt_decimal(value: DecimalInput | None) -> Decimal | None:
    return None if value is None else _wire_decimal(value)


def to_whole_number(value: int | Decimal | float | str) -> int:
    """Exact int from int, Decimal, float or numeric text; no bool.

    Integral only, of magnitude below ``WHOLE_NUMBER_LIMIT``: the magnitude of
    a Decimal is read from its exponent before any ``int()`` of it, so
    ``Decimal("1e999999")`` is refused at once, not after 24 s of CPU.
    """
    if isinstance(value, bool):
        raise TypeError("expected a whole number, got a bool")
    if isinstance(value, int):
        if -WHOLE_NUMBER_LIMIT < value < WHOLE_NUMBER_LIMIT:
            return int(value)
        raise ValueError(_whole_out_of_range(value))
    number: Decimal
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"must be a whole number, got {value!r}")
        number = Decimal(value)  # exact, and at most 309 digits before the point
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_TEXT:
            raise ValueError(_too_long(value, len(text)))
        if not _DECIMAL_TEXT.fullmatch(text):
            raise ValueError(f"not a whole number: {shown(value)}")
        number = Decimal(text)
    else:
        raise TypeError(f"expected a whole number, got {type(value).__name__}")
    if not number.is_finite():
        raise ValueError(f"must be a whole number, got {shown(value)}")
    if number.is_zero():
        return 0
    exponent = number.adjusted()  # |number| is in [10**exponent, 10**(exponent + 1))
    if exponent >= 19:  # 10**19 > 2**63: out of range whatever its digits
        raise ValueError(_whole_out_of_range(value))
    if exponent < 0 or number != number.to_integral_value():
        raise ValueError(f"must be a whole number, got {shown(value)}")
    result = int(number)  # at most 19 digits
    if -WHOLE_NUMBER_LIMIT < result < WHOLE_NUMBER_LIMIT:
        return result
    raise ValueError(_whole_out_of_range(value))


def _whole_out_of_range(value: Any) -> str:
    return f"out of range (must be above -2**63 and below 2**63): {shown(value)}"


def _whole_number(value: int | Decimal | float | None) -> int | None:
    if value is None:
        return None
    given: object = value  # typed as a number, but callers may pass anything
    if isinstance(given, str):  # a request field is a number, not text
        raise TypeError("expected a whole number, got str")
    return to_whole_number(value)


def _required_whole_number(value: int | Decimal | float) -> int:
    result = _whole_number(value)
    if result is None:
        raise TypeError("expected a whole number, got None")
    return result


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
        raise _NestedErrors(errors)
    return out


def _to_model(model: type[_T], item: Any) -> _T:
    if isinstance(item, model):
        return item
    if isinstance(item, Mapping):
        return model(**item)
    raise RequestValidationError(
        {"": [f"expected {model.__name__} or a mapping, got {type(item).__name__}"]}
    )


class _NestedErrors(ValueError):  # noqa: N818 (internal signal, never escapes)
    """Errors of nested models, keyed by a path relative to the field."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(str(errors))
        self.errors = errors


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


# --------------------------------------------------------------------------- machinery


def _field_problems(
    attribute: "attrs.Attribute[Any]", value: Any
) -> tuple[Any, dict[str, list[str]]]:
    """Convert and validate one value; return it and its problems keyed by field path."""
    try:
        if attribute.converter is not None:
            value = attribute.converter(value)  # type: ignore[operator]
        if attribute.validator is not None:
            attribute.validator(None, attribute, value)
    except _NestedErrors as exc:
        return value, {f"{attribute.name}{path}": reasons for path, reasons in exc.errors.items()}
    except RequestValidationError as exc:
        return value, {
            f"{attribute.name}.{path}" if path else attribute.name: reasons
            for path, reasons in exc.errors.items()
        }
    except (TypeError, ValueError, ArithmeticError) as exc:
        return value, {attribute.name: [_reason(attribute.name, exc)]}
    return value, {}


def _reason(name: str, exc: Exception) -> str:
    # attrs' validators raise with args (message, attribute, ...): keep the message.
    text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    # attrs' own messages start with the quoted field name: keep just the reason.
    for prefix in (f"'{name}' ", f"{name} "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def _on_setattr(inst: object, attribute: "attrs.Attribute[Any]", value: Any) -> Any:
    value, problems = _field_problems(attribute, value)
    if problems:
        raise RequestValidationError(problems, model=type(inst).__name__)
    return value


class _RequestModel:
    """Shared behaviour of request models: collect every problem, then raise once."""

    def _cross_field_problems(self) -> dict[str, list[str]]:
        return {}

    def __attrs_post_init__(self) -> None:
        problems = self._cross_field_problems()
        if problems:
            raise RequestValidationError(problems, model=type(self).__name__)

    def validate(self) -> None:
        """Check every field and cross-field rule again (lists may have been mutated in place).

        Raises:
            RequestValidationError: naming every bad field.

        """
        problems: dict[str, list[str]] = {}
        for attribute in attrs.fields(type(self)):  # type: ignore[arg-type]
            value = getattr(self, attribute.name)
            if attribute.validator is not None:
                try:
                    attribute.validator(self, attribute, value)
                except (TypeError, ValueError, ArithmeticError) as exc:
                    problems[attribute.name] = [_reason(attribute.name, exc)]
                    continue
            for index, item in enumerate(value if isinstance(value, list) else [value]):
                if isinstance(item, _RequestModel):
                    try:
                        item.validate()
                    except RequestValidationError as exc:
                        where = (
                            f"{attribute.name}[{index}]"
                            if isinstance(value, list)
                            else (attribute.name)
                        )
                        problems.update({f"{where}.{k}": r for k, r in exc.errors.items()})
        if not problems:
            problems = self._cross_field_problems()
        if problems:
            raise RequestValidationError(problems, model=type(self).__name__)


_C = TypeVar("_C", bound=type)


# Stands for a field that is given but invalid: "given" for the cross-field rules.
_BAD: Any = object()


def _partial_cross_field_problems(cls: type, values: dict[str, Any]) -> dict[str, list[str]]:
    """Cross-field problems among the fields that are valid, so one error names them all."""
    probe: Any = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(probe, name, value)  # bypasses the on-assignment checks
    try:
        problems: dict[str, list[str]] = probe._cross_field_problems()
    except (TypeError, ValueError, AttributeError, ArithmeticError):
        return {}  # a rule that needs one of the bad fields: reported once that is fixed
    return problems


def _collect_errors(cls: _C) -> _C:
    """Wrap an attrs class's ``__init__`` so that it reports every bad field at once."""
    generated_init: Callable[..., None] = cls.__init__  # type: ignore[misc]
    fields = attrs.fields(cls)
    names = {a.name for a in fields}

    def __init__(self: Any, **kwargs: Any) -> None:  # noqa: N807 (replaces attrs' __init__)
        problems: dict[str, list[str]] = {}
        for name in kwargs:
            if name not in names:
                problems[name] = ["unknown field"]
        values: dict[str, Any] = {}
        for attribute in fields:
            if attribute.name in kwargs:
                value, field_problems = _field_problems(attribute, kwargs[attribute.name])
                problems.update(field_problems)
                values[attribute.name] = _BAD if field_problems else value
            elif attribute.default is attrs.NOTHING:
                problems[attribute.name] = ["is required"]
                values[attribute.name] = _BAD
            else:
                values[attribute.name] = None  # every optional field defaults to None
        if problems:
            problems.update(_partial_cross_field_problems(cls, values))
            raise RequestValidationError(problems, model=cls.__name__)
        # The converted values, not kwargs: an iterator given once is consumed by now.
        generated_init(self, **{name: values[name] for name in kwargs})

    __init__.__doc__ = generated_init.__doc__
    __init__.__signature__ = getattr(generated_init, "__signature__", None)  # type: ignore[attr-defined]
    __init__.__annotations__ = generated_init.__annotations__
    cls.__init__ = __init__  # type: ignore[misc]
    return cls


def _exactly_one(obj: object, names: tuple[str, ...]) -> dict[str, list[str]]:
    given = [n for n in names if getattr(obj, n) is not None]
    if len(given) == 1:
        return {}
    key = ", ".join(names)
    if not given:
        return {key: ["exactly one is required, got none"]}
    return {key: [f"exactly one is allowed, got {', '.join(given)}"]}


# --------------------------------------------------------------------------- models


@attrs.define(kw_only=True, on_setattr=_on_setattr)
class _ExecutionParams(_RequestModel):
    """What single and multi orders share: the strategy and how it executes."""

    strategy: Strategy = attrs.field(converter=_to_strategy, validator=v.instance_of(Strategy))
    engine_passiveness: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(ge=_ZERO, le=_ONE)
    )
    schedule_discretion: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(ge=_MIN_DISCRETION, le=_ONE)
    )
    alpha_tilt: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(ge=-_ONE, le=_ONE)
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


@_collect_errors
@attrs.define(kw_only=True, on_setattr=_on_setattr)
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
        default=None, converter=_whole_number, validator=v.optional(v.and_(_is_whole, v.gt(0)))
    )
    sell_token_amount: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    base_asset_qty: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    quote_asset_qty: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    pov_limit: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(gt=_ZERO, le=_ONE)
    )
    pov_target: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(gt=_ZERO, le=_ONE)
    )
    limit_price: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    notes: str | None = attrs.field(default=None, validator=_OPT_STR)
    updated_leverage: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    max_otc: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    pos_side: PosSide | None = attrs.field(
        default=None, converter=_to_pos_side, validator=v.optional(v.instance_of(PosSide))
    )

    def _cross_field_problems(self) -> dict[str, list[str]]:
        problems = _exactly_one(self, ("sell_token_amount", "base_asset_qty", "quote_asset_qty"))
        if self.duration is None and self.pov_target is None:
            problems["duration, pov_target"] = ["one of them is required"]
        return problems


@_collect_errors
@attrs.define(kw_only=True, on_setattr=_on_setattr)
class ChildOrder(_RequestModel):
    """One leg of a multi order."""

    pair: str = attrs.field(validator=_PAIR)
    side: Side = attrs.field(converter=_to_side, validator=v.instance_of(Side))
    base_asset_qty: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    quote_asset_qty: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, validator=_decimal_check(gt=_ZERO)
    )
    pos_side: PosSide | None = attrs.field(
        default=None, converter=_to_pos_side, validator=v.optional(v.instance_of(PosSide))
    )
    account: str | None = attrs.field(default=None, validator=v.optional(_non_empty_str()))

    def _cross_field_problems(self) -> dict[str, list[str]]:
        return _exactly_one(self, ("base_asset_qty", "quote_asset_qty"))


def _to_child_orders(value: Iterable[ChildOrder | Mapping[str, Any]]) -> list[ChildOrder]:
    return _model_list(ChildOrder, value)


@_collect_errors
@attrs.define(kw_only=True, on_setattr=_on_setattr)
class PlaceMultiOrderRequest(_ExecutionParams):
    """Several legs executed together (``POST /api/multi_orders/``).

    ``accounts`` may be left out when every child names its ``account``.
    """

    duration: int = attrs.field(
        converter=_required_whole_number, validator=v.and_(_is_whole, v.gt(0))
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
        default=None, converter=_opt_decimal, validator=_decimal_check(ge=_MIN_DISCRETION, le=_ONE)
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


@_collect_errors
@attrs.define(kw_only=True, on_setattr=_on_setattr)
class OrderInChain(_RequestModel):
    """One order of a chain and its priority (1 runs first)."""

    order_request: PlaceOrderRequest = attrs.field(
        converter=_to_place_order_request,
        validator=v.instance_of(PlaceOrderRequest),
    )
    priority: int = attrs.field(
        converter=_required_whole_number, validator=v.and_(_is_whole, v.gt(0))
    )


def _to_orders_in_chain(value: Iterable[OrderInChain | Mapping[str, Any]]) -> list[OrderInChain]:
    return _model_list(OrderInChain, value)


@_collect_errors
@attrs.define(kw_only=True, on_setattr=_on_setattr)
class PlaceChainedOrderRequest(_RequestModel):
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
        converted[key], field_problems = _field_problems(fields[key], value)
        problems.update({f".{path}": reasons for path, reasons in field_problems.items()})
    return converted, problems


def _to_changes(value: Mapping[str, Any]) -> dict[str, Any]:
    # Amounts in changes are money like any other: exact Decimals, sent as strings.
    converted, problems = _changes_problems(_to_dict(value))
    if problems:
        raise _NestedErrors(problems)
    return converted


def _valid_changes(_inst: object, _attribute: "attrs.Attribute[Any]", value: Any) -> None:
    _, problems = _changes_problems(value)
    if problems:
        raise ValueError("; ".join(f"{k[1:]}: {' '.join(r)}" for k, r in problems.items()))


@_collect_errors
@attrs.define(kw_only=True, on_setattr=_on_setattr)
class AmendOrderRequest(_RequestModel):
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


@_collect_errors
@attrs.define(kw_only=True, on_setattr=_on_setattr)
class GetOrdersRequest(_RequestModel):
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
        default=None, converter=_whole_number, validator=v.optional(v.and_(_is_whole, v.ge(1)))
    )
    page_size: int | None = attrs.field(
        default=None, converter=_whole_number, validator=v.optional(v.and_(_is_whole, v.ge(1)))
    )

    def _cross_field_problems(self) -> dict[str, list[str]]:
        if self.before is not None and self.after is not None and self.after >= self.before:
            return {"after, before": ["'after' must be earlier than 'before'"]}
        return {}


@_collect_errors
@attrs.define(kw_only=True, on_setattr=_on_setattr)
class SetLeverageRequest(_RequestModel):
    """Leverage for a pair on some accounts (``POST /api/set_leverage/``)."""

    account_ids: list[str] = attrs.field(
        converter=_str_list, validator=_str_list_validator(non_empty=True)
    )
    pair: str = attrs.field(validator=_PAIR)
    leverage: Decimal = attrs.field(
        converter=_wire_decimal, validator=v.and_(v.instance_of(Decimal), v.gt(_ZERO))
    )


# --------------------------------------------------------------------------- private requests
# Endpoints that take plain arguments validate them through these models, so
# every input goes through the same rules and errors.


@_collect_errors
@attrs.define(kw_only=True, on_setattr=_on_setattr)
class BalancesQuery(_RequestModel):
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


@_collect_errors
@attrs.define(kw_only=True, on_setattr=_on_setattr)
class CloseBalancesRequest(_RequestModel):
    """Body of ``POST /api/close_balances/``."""

    max_notional: Decimal = attrs.field(
        converter=_wire_decimal, validator=v.and_(v.instance_of(Decimal), v.gt(_ZERO))
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


@_collect_errors
@attrs.define(kw_only=True, on_setattr=_on_setattr)
class OrderMessagesRequest(_RequestModel):
    """Body of ``POST /api/order_messages/``."""

    order_ids: list[str] = attrs.field(
        converter=_to_id_list,
        validator=_str_list_validator(non_empty=True),
    )


@_collect_errors
@attrs.define(kw_only=True, on_setattr=_on_setattr)
class OrderIdRequest(_RequestModel):
    """Body of ``POST /api/pause_order/`` and ``/api/resume_order/``."""

    order_id: str = attrs.field(converter=_id_str, validator=_non_empty_str())
