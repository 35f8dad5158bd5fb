"""The one place JSON meets the models, in both directions.

Replies: bodies are decoded by ``_codec`` (floats as ``Decimal``, never through
``float``), then one cattrs converter, built once at import, structures them.
Its hooks: ``Decimal`` from strings and numbers, aware ``datetime`` (naive
server timestamps are UTC, as the server's ``time_zone`` says), open enums
(unknown values stay ``str``), the ``-1`` "unset" price sentinel, strict
``int``/``bool``/``str`` (no silent truncation, ``"false"`` is not true), and
``raw``: every model keeps the decoded JSON it came from.

Numbers cost no more than their text: a JSON number longer than
``MAX_NUMBER_TEXT`` characters is never read as one (it stays text, which no
number field accepts); decimals are bounded in digits and exponent, integers
below 2**63 in magnitude, checked before any ``int()`` (``int()`` of
``1e999999`` took 24 s of CPU). The bounds live in ``_numbers``, shared with
request validation and the sandbox.

Speed: every model and list is structured by a fast pass first (cattrs'
code without detailed validation, hooks with shortcuts for what replies
usually hold); only when that fails is it structured again in detailed mode,
to name every bad field with its JSON path. Both passes use the same hooks, so
they accept and produce the same things.

Requests: models unstructure to their wire bodies with unset fields left out,
decimals as exact JSON strings, enums as their values, datetimes in ISO 8601.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import json
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.cols import list_structure_factory, mapping_structure_factory
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from taas_async import _models as m
from taas_async import _numbers as n
from taas_async import _requests as r
from taas_async._codec import decimal_to_wire, query_params
from taas_async._compiled import compile_structure, mark_open_enum, mark_optional_str
from taas_async._enums import _StrEnum
from taas_async._exceptions import _as_text
from taas_async._timeparse import UTC_NAMES, localize_naive, parse_datetime, parse_timestamp

__all__ = [
    "ShapeError",
    "action_result",
    "converter",
    "make_converter",
    "order_messages",
    "parser",
    "structure",
    "to_query",
    "to_wire",
]

T = TypeVar("T")

_MODELS: tuple[type, ...] = (
    m.Order,
    m.MultiOrder,
    m.Asset,
    m.Balance,
    m.OrderSummary,
    m.ChainedOrder,
    m.OrderMessage,
    m.ActionResult,
    m.CloseBalancesResult,
    m.OrdersPage,
    m.MultiOrdersPage,
)
#: Pages whose reply may be a bare list: the key the list goes under.
_BARE_LIST_KEYS: dict[type, str] = {m.OrdersPage: "orders", m.MultiOrdersPage: "multi_orders"}
_REQUESTS: tuple[type, ...] = (
    r.PlaceOrderRequest,
    r.ChildOrder,
    r.PlaceMultiOrderRequest,
    r.OrderInChain,
    r.PlaceChainedOrderRequest,
    r.AmendOrderRequest,
    r.GetOrdersRequest,
    r.SetLeverageRequest,
    r.BalancesQuery,
    r.CloseBalancesRequest,
    r.OrderMessagesRequest,
    r.OrderIdRequest,
    r.MultiOrderQuery,
    r.GetMultiOrdersRequest,
    r.StrategyParams,
)
_UNSET_SENTINEL = Decimal(-1)


class ShapeError(Exception):
    """A decoded body does not fit the expected model; ``errors`` carry JSON paths."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


# --------------------------------------------------------------------------- structure hooks


_NAN = Decimal("NaN")
_UTC = dt.timezone.utc
_MAX_NUMBER_TEXT = n.MAX_NUMBER_TEXT
_WITHIN_BOUNDS = n.DECIMAL_BOUNDS.plus  # raises ArithmeticError on a decimal out of bounds
# Open ranges of ints, as constants (``-LIMIT < n`` would negate LIMIT on every call).
_DECIMAL_INT_MAX = 10**n.MAX_DECIMAL_DIGITS  # ints inside: <= 100 digits, exponent <= 99
_DECIMAL_INT_MIN = -_DECIMAL_INT_MAX
_WHOLE_MAX = n.WHOLE_NUMBER_LIMIT
_WHOLE_MIN = -_WHOLE_MAX


def _structure_decimal(value: Any, _: Any) -> Decimal:
    number = _structure_optional_decimal(value, Decimal)
    if number is None:
        return n.to_decimal(value)  # raises, in to_decimal's words
    return number


def _structure_optional_decimal(value: Any, _: Any) -> Decimal | None:
    # The same rules as request fields: exact, finite, no bools, within the digit
    # and exponent bounds. ``to_decimal`` owns them and their messages; this fast
    # path only keeps what it would return unchanged: decoded JSON numbers, ints,
    # and short ASCII strings without ``_``, which ``Decimal()`` reads exactly when
    # they are plain notation (NaN and Infinity spelled out fail ``is_finite`` and
    # go the long way). Anything it does not keep, to_decimal refuses or converts.
    if value is None:
        return None
    kind = type(value)
    number: Decimal
    if kind is Decimal:
        number = value
    elif kind is str and len(value) <= _MAX_NUMBER_TEXT and value.isascii() and "_" not in value:
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = _NAN  # not a number at all: to_decimal says so
    elif kind is int and _DECIMAL_INT_MIN < value < _DECIMAL_INT_MAX:
        return Decimal(value)  # at most 100 digits and an exponent of at most 99
    else:
        return n.to_decimal(value)
    if number.is_finite():
        try:
            _WITHIN_BOUNDS(number)  # too many digits, or an exponent out of range
        except ArithmeticError:
            return n.to_decimal(value)
        return number
    return n.to_decimal(value)


def _structure_price(value: Any, _: Any) -> Decimal | None:
    price = _structure_optional_decimal(value, Decimal)
    return None if price is None or price == _UNSET_SENTINEL else price


def _structure_datetime(value: Any, _: Any) -> dt.datetime:
    parsed = _structure_optional_datetime(value, dt.datetime)
    if parsed is None:
        raise TypeError("expected an ISO 8601 timestamp, got NoneType")
    return parsed


def _structure_optional_datetime(value: Any, _: Any) -> dt.datetime | None:
    if type(value) is str:
        # parse_datetime(value, assume_utc=True), one call shorter.
        parsed = parse_timestamp(value)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)
    if value is None:
        return None
    if isinstance(value, str):
        return parse_datetime(value, assume_utc=True)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=_UTC)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(float(value), tz=_UTC)
        except (OverflowError, ValueError, OSError):  # 1e999999 is inf; year 5138 and on
            raise ValueError(f"timestamp out of range: {n.shown(value)}") from None
    raise TypeError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")


def _structure_str(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)  # e.g. "user": 2
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_int(value: Any, _: Any) -> int:
    # JSON integers, checked inline; anything else (a decimal such as 42.0, numeric
    # text) by to_whole_number: integral, |n| < 2**63, magnitude checked before int().
    if type(value) is int and _WHOLE_MIN < value < _WHOLE_MAX:
        return value
    if isinstance(value, (int, Decimal, str)):
        return n.to_whole_number(value)
    raise ValueError(f"expected an integer, got {_json_type(value)}")


_TRUE = frozenset({"true", "True", "1"})
_BOOL_TEXT = _TRUE | {"false", "False", "0"}


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value in _BOOL_TEXT:
        return value in _TRUE
    raise ValueError(f"expected a boolean, got {n.shown(value)}")


def _open_enum_of(tp: Any) -> type[enum.Enum] | None:
    """The enum in ``SomeEnum | str`` (optionally ``| None``), else None."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    members = [a for a in typing.get_args(tp) if a is not type(None)]
    enums = [a for a in members if isinstance(a, type) and issubclass(a, enum.Enum)]
    if len(members) == 2 and len(enums) == 1 and str in members:
        return enums[0]
    return None


def _open_enum_hook(tp: Any) -> Callable[[Any, Any], Any]:
    enum_cls = _open_enum_of(tp)
    assert enum_cls is not None  # noqa: S101 (guarded by the predicate)
    by_value = {member.value: member for member in enum_cls}
    optional = type(None) in typing.get_args(tp)

    def structure_open_enum(value: Any, _: Any) -> Any:
        if type(value) is str:  # the usual case, decided as below
            return by_value.get(value, value)
        if value is None and optional:
            return None
        if isinstance(value, enum_cls):
            return value
        text = _structure_str(value, str)
        return by_value.get(text, text)  # unknown values are kept, never an error

    mark_open_enum(structure_open_enum, by_value)
    return structure_open_enum


# Per-class overrides on top of the generic hooks.
def _structure_optional_id(value: Any, _: Any) -> str | None:
    # The server sends "" for a custom_order_id nobody set: None, as for any unset field.
    text = _structure_optional_str(value, str)
    return text or None


def _structure_joined_amounts(value: Any, _: Any) -> str | None:
    # One exact amount per leg, comma-joined: kept as sent, each one checked, so
    # that MultiOrder.sell_token_amount_list can read them as they are (an empty
    # leg, "0.5, " or "0.5,,1", is no amount: refused here, not there).
    text = _structure_optional_str(value, str)
    for item in text.split(",") if text else ():
        if not item.strip():
            raise ValueError(f"a leg without an amount in {text!r}")
        _structure_decimal(item.strip(), Decimal)
    return text


_PRICE = override(struct_hook=_structure_price)
_ID = override(struct_hook=_structure_optional_id)
_OVERRIDES: dict[type, dict[str, Any]] = {
    m.Order: {"limit_price": _PRICE, "stop_price": _PRICE, "custom_order_id": _ID},
    m.MultiOrder: {
        "custom_order_id": _ID,
        "sell_token_amount": override(struct_hook=_structure_joined_amounts),
    },
}


def _model_hook_factory(
    converter: cattrs.Converter, *, forbid_extra_keys: bool, compiled: bool
) -> Any:
    def factory(cls: type[T]) -> Callable[[Any, Any], T]:
        fields = attrs.fields(cls)  # type: ignore[arg-type]
        collections = [
            a for a in fields if typing.get_origin(a.type) in (list, dict) and a.name != "raw"
        ]

        overrides = _OVERRIDES.get(cls, {})

        # A null list or object (``"placements": null``) means empty: the default,
        # made by the field's hook (no per-call scan of the body for nulls).
        null_is_default = {
            a.name: override(
                struct_hook=_null_is_default(converter.get_structure_hook(a.type), a.default)
            )
            for a in collections
            if a.name not in overrides
            and isinstance(a.default, attrs.Factory)  # type: ignore[arg-type]
            and not a.default.takes_self
        }
        # Others are dropped when null: a required one (``OrdersPage.orders``) is then
        # missing, and the error says so. (So is a null "raw" key, which only the
        # strict converter would otherwise name.)
        null_is_missing = frozenset(
            [a.name for a in collections if a.name not in null_is_default]
            + (["raw"] if forbid_extra_keys else [])
        )

        # Timestamps read in the model's own time_zone when they carry no offset.
        timestamps = frozenset(
            a.name for a in fields if dt.datetime in (a.type, *typing.get_args(a.type))
        )
        zoned = "time_zone" in attrs.fields_dict(cls)  # type: ignore[arg-type]
        list_key = _BARE_LIST_KEYS.get(cls)

        options: dict[str, Any] = {
            "_cattrs_forbid_extra_keys": forbid_extra_keys,
            **null_is_default,
            **overrides,
            "raw": override(omit=True),  # set by structure_model, never read from the body
        }
        # Fast first; when it fails, again in cattrs' detailed mode, which
        # gathers every bad field with its JSON path (``@ $.duration``).
        structure_fast = make_dict_structure_fn(
            cls, converter, _cattrs_detailed_validation=False, **options
        )
        structure_detailed = make_dict_structure_fn(cls, converter, **options)
        structure_compiled = (
            _compile(cls, converter, options) if compiled and not forbid_extra_keys else None
        )

        def structure_model(value: Any, tp: Any) -> T:
            if list_key is not None and isinstance(value, list):  # a bare list of items
                value = {list_key: value}
            if type(value) is not dict and not isinstance(value, Mapping):
                raise TypeError(f"expected a JSON object, got {_json_type(value)}")
            fields = value
            for name in null_is_missing:
                if value.get(name, ()) is None:
                    fields = {
                        k: v for k, v in value.items() if not (v is None and k in null_is_missing)
                    }
                    break
            if zoned and value.get("time_zone") not in UTC_NAMES:
                fields = localize_naive(fields, timestamps, value.get("time_zone"))
            try:
                if structure_compiled is not None:
                    return structure_compiled(fields, value)  # type: ignore[no-any-return]
                obj = structure_fast(fields, tp)
            except Exception:  # noqa: BLE001 (the detailed pass below raises it, with paths)
                obj = None
            if obj is None:  # outside the except: no "during handling" chain
                obj = structure_detailed(fields, tp)
            object.__setattr__(obj, "raw", value)  # frozen models: set once, here
            return obj

        return structure_model

    return factory


def _compile(
    cls: type[Any], converter: cattrs.Converter, options: Mapping[str, Any]
) -> Callable[[Mapping[str, Any], Any], Any] | None:
    """The model's compiled structuring (``_compiled``): each field's hook as cattrs picks it."""
    hooks: dict[str, tuple[Callable[[Any, Any], Any], Any]] = {}
    for a in attrs.fields(cls):
        if a.name == "raw":
            continue
        given = options.get(a.name)
        if given is not None and (given.rename is not None or given.omit or not given.struct_hook):
            return None  # not a plain hook: cattrs' own function
        hook = given.struct_hook if given is not None else converter.get_structure_hook(a.type)
        hooks[a.name] = (hook, a.type)
    return compile_structure(cls, hooks)


def _null_is_default(
    structure_collection: Callable[[Any, Any], Any], default: Any
) -> Callable[[Any, Any], Any]:
    make_default = default.factory

    def structure_nullable(value: Any, tp: Any) -> Any:
        return make_default() if value is None else structure_collection(value, tp)

    return structure_nullable


def _is_optional(tp: Any) -> bool:
    """``X | None`` (the open enums, ``E | str | None``, have their own hook)."""
    args = typing.get_args(tp)
    return _origin(tp) in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args


def _optional_hook_factory(converter: cattrs.Converter) -> Any:
    # cattrs' own hook for ``X | None`` looks X's hook up on every call; most
    # model fields are optional, so bind it once.
    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        inner = next(a for a in typing.get_args(tp) if a is not type(None))
        structure_inner = converter.get_structure_hook(inner)
        if structure_inner in _OPTIONAL_VARIANTS:
            return _OPTIONAL_VARIANTS[structure_inner]

        def structure_optional(value: Any, _: Any) -> Any:
            return None if value is None else structure_inner(value, inner)

        return structure_optional

    return factory


def _structure_optional_str(value: Any, _: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    return _structure_str(value, str)


mark_optional_str(_structure_optional_str)


# ``X | None`` hooks that take None themselves: one call per field, not two.
_OPTIONAL_VARIANTS: dict[Callable[[Any, Any], Any], Callable[[Any, Any], Any]] = {
    _structure_str: _structure_optional_str,
    _structure_decimal: _structure_optional_decimal,
    _structure_datetime: _structure_optional_datetime,
}


def _checked_container_factory(
    generate: Callable[[Any], Callable[[Any, Any], Any]],
    exact: type,
    accepted: type,
    json_name: str,
) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """Wrap cattrs' list/dict hooks to demand the real JSON container first.

    cattrs structures any iterable as a list ("mock" would become
    ["m", "o", "c", "k"]) and calls ``.items()`` on anything for a dict (a
    list reply would raise AttributeError instead of a shape error).
    """

    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        structure_items = generate(tp)

        def structure_checked(value: Any, tp: Any) -> Any:
            if type(value) is not exact and not isinstance(value, accepted):
                raise TypeError(f"expected a JSON {json_name}, got {_json_type(value)}")
            return structure_items(value, tp)

        return structure_checked

    return factory


def _list_hook_factory(converter: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    def generate(tp: Any) -> Callable[[Any, Any], Any]:
        structure_detailed = list_structure_factory(tp, converter)
        args = typing.get_args(tp)
        if not args or args[0] is Any:
            return structure_detailed  # list(value): nothing to check per item
        item_type = args[0]
        structure_item = converter.get_structure_hook(item_type)

        def structure_list(value: Any, tp: Any) -> list[Any]:
            # Fast first; when an item fails, again in cattrs' detailed mode,
            # which names every bad index (``@ $.accounts[2]``).
            items: list[Any] | None
            try:
                items = [structure_item(item, item_type) for item in value]
            except Exception:  # noqa: BLE001 (the detailed pass below raises it, with paths)
                items = None
            if items is None:  # outside the except: no "during handling" chain
                items = structure_detailed(value, tp)
            return items

        return structure_list

    return generate


def _origin(tp: Any) -> Any:
    # typing.get_origin's overloads make mypy reject ``get_origin(tp) is list``.
    return typing.get_origin(tp)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, Decimal)):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------- unstructure hooks


def _request_unstructure_factory(converter: cattrs.Converter) -> Any:
    def factory(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
        unstructure_fields = make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True)
        if cls is r.PlaceMultiOrderRequest:

            def unstructure_multi(request: r.PlaceMultiOrderRequest) -> dict[str, Any]:
                body = unstructure_fields(request)
                body["accounts"] = request.resolved_accounts
                return body

            return unstructure_multi
        if cls is r.AmendOrderRequest:

            def unstructure_amend(request: r.AmendOrderRequest) -> dict[str, Any]:
                # Converted again, as at construction: a change put into the dict since
                # (a float price) goes out as the exact decimal string, never a float.
                body = unstructure_fields(request)
                body["changes"] = converter.unstructure(r.converted_changes(request.changes))
                return body

            return unstructure_amend
        return unstructure_fields

    return factory


def _unstructure_enum(value: enum.Enum) -> Any:
    return value.value


def _unstructure_datetime(value: dt.datetime) -> str:
    return value.isoformat()


# --------------------------------------------------------------------------- the converter


def make_converter(*, forbid_extra_keys: bool = False, compiled: bool = True) -> cattrs.Converter:
    """Build a converter with every hook. ``forbid_extra_keys`` makes a strict one for tests.

    ``compiled=False``: the models structured by cattrs' generated functions
    alone, not by ``_compiled``'s (the reference those are tested against).
    """
    converter = cattrs.Converter(forbid_extra_keys=forbid_extra_keys)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_structure_hook(dt.datetime, _structure_datetime)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook_factory(_is_optional, _optional_hook_factory(converter))
    converter.register_structure_hook_factory(
        lambda tp: _open_enum_of(tp) is not None, _open_enum_hook
    )
    converter.register_structure_hook_factory(
        lambda tp: _origin(tp) is list,
        _checked_container_factory(_list_hook_factory(converter), list, list, "array"),
    )
    converter.register_structure_hook_factory(
        lambda tp: _origin(tp) is dict,
        # Not converter.gen_structure_mapping: it also registers the unchecked hook
        # for the type, which then wins for every class generated after the first.
        _checked_container_factory(
            lambda tp: mapping_structure_factory(tp, converter), dict, Mapping, "object"
        ),
    )
    converter.register_structure_hook_factory(
        lambda tp: tp in _MODELS,
        _model_hook_factory(converter, forbid_extra_keys=forbid_extra_keys, compiled=compiled),
    )
    converter.register_unstructure_hook(Decimal, decimal_to_wire)
    converter.register_unstructure_hook(dt.datetime, _unstructure_datetime)
    # On the shared base, so it wins over the hook for ``str`` (our enums are str enums).
    converter.register_unstructure_hook(_StrEnum, _unstructure_enum)
    converter.register_unstructure_hook_factory(
        lambda tp: tp in _REQUESTS, _request_unstructure_factory(converter)
    )
    return converter


#: The converter every client shares. cattrs compiles and caches one function
#: per class on first use, so it is built once, here.
converter = make_converter()


def structure(body: Any, tp: type[T] | Any, *, using: cattrs.Converter | None = None) -> T:
    """Structure decoded JSON into ``tp``.

    Raises:
        ShapeError: with one JSON-path message per problem, and the reason
            when a hook gave one (``invalid value for type, expected int |
            None: not a whole number: 'soon' @ $.duration``).

    """
    conv = using or converter
    try:
        result: T = conv.structure(body, tp)
    except cattrs.BaseValidationError as exc:
        errors = cattrs.transform_error(exc, path="$", format_exception=_describe)
        raise ShapeError(errors) from exc
    except Exception as exc:
        # A reply no hook foresaw (ValueError, TypeError, KeyError, and anything else
        # a reply can provoke) is a reply the SDK cannot read: its typed error, with
        # the body, never a bare exception the caller's `except TaaSError` misses.
        raise ShapeError([f"{exc} @ $"]) from exc
    return result


def _describe(exc: BaseException, tp: Any) -> str:
    """A field's error in cattrs' words, and the hook's reason when it gave one.

    ``invalid value for type, expected int | None: out of range (...): Decimal('1E+999999')``
    """
    text = cattrs.v.format_exception(exc, tp)
    if type(exc) is ValueError and exc.args and isinstance(exc.args[0], str):
        return f"{text}: {exc.args[0]}"
    return text


def parser(tp: Any) -> Callable[[Any], Any]:
    """A function that structures decoded JSON into ``tp`` (raising :class:`ShapeError`)."""
    return functools.partial(structure, tp=tp)


def action_result(body: Any) -> m.ActionResult:
    """Structure the reply to cancel/amend/pause/resume/set-leverage calls."""
    # 204 No Content (body None) and a bare JSON string are successes too.
    if body is None:
        return m.ActionResult()
    if not isinstance(body, dict):  # true, 1, ["cancelled"], "Order cancelled"
        text = body if isinstance(body, str) else json.dumps(body, default=str)
        return m.ActionResult(message=text, raw={"message": body})
    # The shape is undocumented and the action already happened: never fail on
    # it (a caller would retry a cancel that succeeded). What does not fit the
    # typed fields stays in raw.
    message, success, order_id = body.get("message"), body.get("success"), body.get("order_id")
    return m.ActionResult(
        message=message if isinstance(message, str) or message is None else _as_text(message),
        success=success if isinstance(success, bool) else None,
        order_id=str(order_id) if isinstance(order_id, (str, int)) else None,
        raw=body,
    )


def order_messages(body: Any) -> list[m.OrderMessage]:
    """Structure the reply of ``POST /api/order_messages/``."""
    # Undocumented shape: a list, {"messages": [...]}, or {order_id: [...]}.
    if isinstance(body, dict) and isinstance(body.get("messages"), list):
        body = body["messages"]
    elif isinstance(body, dict) and all(isinstance(v, list) for v in body.values()):
        body = [
            {"order_id": order_id, **item} if isinstance(item, dict) else item
            for order_id, items in body.items()
            for item in items
        ]
    messages: list[m.OrderMessage] = structure(body, list[m.OrderMessage])
    return messages


def to_wire(request: Any) -> dict[str, Any]:
    """The JSON body of a request model: unset fields left out, decimals as strings."""
    body: dict[str, Any] = converter.unstructure(request)
    return body


def to_query(request: Any) -> dict[str, str]:
    """Query parameters of a request model: lists comma-joined, times in ISO 8601."""
    return query_params(to_wire(request))
