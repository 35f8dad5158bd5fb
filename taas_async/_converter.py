"""The one place JSON meets the models, in both directions.

Replies: bodies are decoded with floats parsed as ``Decimal`` (never through
``float``), then one cattrs converter, built once at import, structures them.
Its hooks: ``Decimal`` from strings and numbers, aware ``datetime`` (naive
server timestamps are UTC, as the server's ``time_zone`` says), open enums
(unknown values stay ``str``), the ``-1`` "unset" price sentinel, strict
``int``/``bool``/``str`` (no silent truncation, ``"false"`` is not true), and
``raw``: every model keeps the decoded JSON it came from.

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
import zoneinfo
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.cols import list_structure_factory
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from taas_async import _models as m
from taas_async import _requests as r
from taas_async._enums import _StrEnum
from taas_async._exceptions import _as_text
from taas_async._timeparse import parse_datetime

__all__ = [
    "ShapeError",
    "action_result",
    "converter",
    "decode_json",
    "encode_json",
    "make_converter",
    "order_messages",
    "parser",
    "query_params",
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
)
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
)
_UNSET_SENTINEL = Decimal(-1)


class ShapeError(Exception):
    """A decoded body does not fit the expected model; ``errors`` carry JSON paths."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


# --------------------------------------------------------------------------- JSON


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(text: str | bytes) -> Any:
    """Decode JSON with every non-integer number as an exact ``Decimal``.

    Raises:
        ValueError: not JSON (including ``NaN`` / ``Infinity``).

    """
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _decimal_to_wire(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_json(body: Any) -> bytes:
    """Encode a wire body (decimals as strings; NaN and infinities refused).

    Raises:
        ValueError, TypeError: the body holds something JSON cannot carry exactly.

    """
    return json.dumps(body, default=_json_default, allow_nan=False, separators=(",", ":")).encode()


def _decimal_to_wire(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} cannot be sent")
    return format(value, "f")  # plain notation: 1E+2 -> "100", 1E-8 -> "0.00000001"


# --------------------------------------------------------------------------- structure hooks


def _structure_decimal(value: Any, _: Any) -> Decimal:
    # The same rules as request fields: exact, finite, no bools.
    return r.to_decimal(value)


def _structure_price(value: Any, _: Any) -> Decimal | None:
    if value is None:
        return None
    price = _structure_decimal(value, Decimal)
    return None if price == _UNSET_SENTINEL else price


def _structure_datetime(value: Any, _: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, str):
        return parse_datetime(value, assume_utc=True)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(float(value), tz=dt.timezone.utc)
    raise TypeError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")


def _structure_str(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)  # e.g. "user": 2
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_int(value: Any, _: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, (Decimal, str)):
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise ValueError(f"not an integer: {value!r}") from None
        if number.is_finite() and number == number.to_integral_value():
            return int(number)
    raise ValueError(f"expected an integer, got {value!r}")


_TRUE = frozenset({"true", "True", "1"})
_FALSE = frozenset({"false", "False", "0"})


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value in _TRUE | _FALSE:
        return value in _TRUE
    raise ValueError(f"expected a boolean, got {value!r}")


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
        if value is None and optional:
            return None
        if isinstance(value, enum_cls):
            return value
        text = _structure_str(value, str)
        return by_value.get(text, text)  # unknown values are kept, never an error

    return structure_open_enum


# Per-class overrides on top of the generic hooks.
_PRICE = override(struct_hook=_structure_price)
_OVERRIDES: dict[type, dict[str, Any]] = {
    m.Order: {"limit_price": _PRICE, "stop_price": _PRICE},
}


def _model_hook_factory(converter: cattrs.Converter, *, forbid_extra_keys: bool) -> Any:
    def factory(cls: type[T]) -> Callable[[Any, Any], T]:
        structure_fields = make_dict_structure_fn(
            cls,
            converter,
            _cattrs_forbid_extra_keys=forbid_extra_keys,
            raw=override(omit=True),
            **_OVERRIDES.get(cls, {}),
        )

        # A null list or object (``"placements": null``) means empty: use the default.
        collections = frozenset(
            a.name
            for a in attrs.fields(cls)  # type: ignore[arg-type]
            if typing.get_origin(a.type) in (list, dict)
        )

        # Timestamps read in the model's own time_zone when they carry no offset.
        timestamps = frozenset(
            a.name
            for a in attrs.fields(cls)  # type: ignore[arg-type]
            if dt.datetime in (a.type, *typing.get_args(a.type))
        )
        zoned = "time_zone" in attrs.fields_dict(cls)  # type: ignore[arg-type]

        def structure_model(value: Any, tp: Any) -> T:
            if cls is m.OrdersPage and isinstance(value, list):  # a bare list of orders
                value = {"orders": value}
            if not isinstance(value, Mapping):
                raise TypeError(f"expected a JSON object, got {_json_type(value)}")
            fields = value
            if any(value.get(name, ()) is None for name in collections):
                fields = {k: v for k, v in value.items() if not (v is None and k in collections)}
            if zoned and value.get("time_zone") not in _UTC_NAMES:
                fields = _localize_naive(fields, timestamps, value.get("time_zone"))
            obj = structure_fields(fields, tp)
            object.__setattr__(obj, "raw", value)  # frozen models: set once, here
            return obj

        return structure_model

    return factory


_UTC_NAMES = frozenset({None, "", "UTC", "Etc/UTC", "utc", "Z", "GMT"})


def _localize_naive(fields: Mapping[str, Any], names: frozenset[str], zone: Any) -> dict[str, Any]:
    """Read offset-less timestamps in ``zone`` (the reply's ``time_zone``), not as UTC."""
    out = dict(fields)
    for name in names:
        text = out.get(name)
        if not isinstance(text, str):
            continue
        try:
            parse_datetime(text, assume_utc=False)
            continue  # has an offset: unambiguous already
        except ValueError:
            pass
        try:
            wall = parse_datetime(text, assume_utc=True)  # not ISO at all: the hook says so
        except ValueError:
            continue
        try:
            tz = zoneinfo.ZoneInfo(str(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{name} {text!r} has no UTC offset and time_zone {zone!r} is unknown"
            ) from None
        out[name] = wall.replace(tzinfo=tz)
    return out


def _checked_container_factory(
    generate: Callable[[Any], Callable[[Any, Any], Any]], accepted: type, json_name: str
) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """Wrap cattrs' list/dict hooks to demand the real JSON container first.

    cattrs structures any iterable as a list ("mock" would become
    ["m", "o", "c", "k"]) and calls ``.items()`` on anything for a dict (a
    list reply would raise AttributeError instead of a shape error).
    """

    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        structure_items = generate(tp)

        def structure_checked(value: Any, tp: Any) -> Any:
            if not isinstance(value, accepted):
                raise TypeError(f"expected a JSON {json_name}, got {_json_type(value)}")
            return structure_items(value, tp)

        return structure_checked

    return factory


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
        return unstructure_fields

    return factory


def _unstructure_enum(value: enum.Enum) -> Any:
    return value.value


def _unstructure_datetime(value: dt.datetime) -> str:
    return value.isoformat()


# --------------------------------------------------------------------------- the converter


def make_converter(*, forbid_extra_keys: bool = False) -> cattrs.Converter:
    """Build a converter with every hook. ``forbid_extra_keys`` makes a strict one for tests."""
    converter = cattrs.Converter(forbid_extra_keys=forbid_extra_keys)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_structure_hook(dt.datetime, _structure_datetime)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook_factory(
        lambda tp: _open_enum_of(tp) is not None, _open_enum_hook
    )
    converter.register_structure_hook_factory(
        lambda tp: _origin(tp) is list,
        _checked_container_factory(lambda tp: list_structure_factory(tp, converter), list, "array"),
    )
    converter.register_structure_hook_factory(
        lambda tp: _origin(tp) is dict,
        _checked_container_factory(converter.gen_structure_mapping, Mapping, "object"),
    )
    converter.register_structure_hook_factory(
        lambda tp: tp in _MODELS,
        _model_hook_factory(converter, forbid_extra_keys=forbid_extra_keys),
    )
    converter.register_unstructure_hook(Decimal, _decimal_to_wire)
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
        ShapeError: with one JSON-path message per problem
            (``invalid value for type, expected int @ $.duration``).

    """
    conv = using or converter
    try:
        result: T = conv.structure(body, tp)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            raise ShapeError(cattrs.transform_error(exc, path="$")) from exc
        raise ShapeError([f"{exc} @ $"]) from exc
    return result


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


def to_query(request: r.GetOrdersRequest | r.BalancesQuery) -> dict[str, str]:
    """Query parameters of a request model: lists comma-joined, times in ISO 8601."""
    return query_params(to_wire(request))


def query_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Query values as the server reads them.

    Lists comma-joined, decimals in plain notation, booleans ``true``/``false``,
    datetimes in ISO 8601; ``None`` left out.
    """
    return {
        key: ",".join(_query_value(x) for x in value)
        if isinstance(value, (list, tuple))
        else _query_value(value)
        for key, value in params.items()
        if value is not None
    }


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        value = r.to_decimal(value)
    encoded = (
        _json_default(value) if isinstance(value, (Decimal, dt.datetime, enum.Enum)) else value
    )
    return str(encoded)
