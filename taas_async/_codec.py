"""JSON text and query strings, exact both ways: no number ever passes through ``float``.

Replies are decoded with every non-integer number as a ``Decimal``, and a
number literal too long to be one is kept as its text (no number field takes
it). Request bodies are encoded with decimals as exact JSON strings in plain
notation, NaN and infinities refused; query values are what the server reads.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import numbers
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from taas_async import _numbers as n

__all__ = ["decimal_to_wire", "decode_json", "encode_json", "query_params"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_MAX_NUMBER_TEXT = n.MAX_NUMBER_TEXT
#: The keys shared between replies (see decode_json), and how many at most: the
#: keys of every reply model fit many times over; a server sending data as keys
#: (balances by account name) cannot make it grow past the bound.
_KEYS: dict[str, str] = {}
_MAX_KEYS = 4096


def _parse_float(text: str) -> Decimal | str:
    # Every non-integer JSON number passes here, so: one length check. Longer text is
    # kept as text (raw keeps it; number fields refuse it, naming the field); no
    # Decimal is made of it, so nothing can later turn it into a million-digit int.
    return Decimal(text) if len(text) <= _MAX_NUMBER_TEXT else text


def _parse_int(text: str) -> int | str:
    # int() of a long literal is quadratic (and past 4300 digits a ValueError that
    # would make the whole reply unreadable): the same length bound as decimals.
    return int(text) if len(text) <= _MAX_NUMBER_TEXT else text


# Built once: json.loads(text, parse_float=...) builds a decoder on every call.
_DECODER = json.JSONDecoder(
    parse_float=_parse_float, parse_int=_parse_int, parse_constant=_reject_constant
)


def decode_json(text: str | bytes) -> Any:
    """Decode JSON with every non-integer number as an exact ``Decimal``.

    A number whose text is longer than ``MAX_NUMBER_TEXT`` characters is kept
    as that text (a ``str``): reading it as a number could cost more than the
    reply's size, and no number field accepts it.

    The keys of a top-level object are shared between replies: every order
    reply repeats the same thirty-odd keys, and a service holding ten
    thousand orders (with their ``raw``) keeps one copy of each, not ten
    thousand: a third of the memory an ``Order`` holds. (Within one reply the
    decoder shares them already, so a page of orders needs nothing more.)
    At most ``_MAX_KEYS`` distinct keys are kept for sharing, whatever
    keys a server sends.

    Raises:
        ValueError: not JSON (including ``NaN`` / ``Infinity``).

    """
    try:
        # What json.loads does before decoding, minus building the decoder.
        if isinstance(text, str):
            if not text.startswith("\ufeff"):
                return _interned(_DECODER.decode(text))
        elif isinstance(text, (bytes, bytearray)):
            decoded = _DECODER.decode(text.decode(json.detect_encoding(text), "surrogatepass"))
            return _interned(decoded)
        # A str with a BOM, or not text at all: json.loads' own errors.
        return _interned(
            json.loads(
                text,
                parse_float=_parse_float,
                parse_int=_parse_int,
                parse_constant=_reject_constant,
            )
        )
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _interned(value: Any) -> Any:
    if type(value) is not dict:
        return value
    keys = _KEYS
    if len(keys) < _MAX_KEYS:
        return {keys.setdefault(key, key): item for key, item in value.items()}
    return {keys.get(key, key): item for key, item in value.items()}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_to_wire(value)
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


def decimal_to_wire(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} cannot be sent")
    # Request fields are checked already; a Decimal inside strategy_params is not, and
    # format() of Decimal("1e999999999") would be a gigabyte of zeros.
    if n.plain_length(value) > _MAX_NUMBER_TEXT:
        raise ValueError(f"{n.shown(value)} is too long to send in plain notation")
    return format(value, "f")  # plain notation: 1E+2 -> "100", 1E-8 -> "0.00000001"


def query_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Query values as the server reads them.

    Lists comma-joined, decimals in plain notation, booleans ``true``/``false``,
    datetimes in ISO 8601; ``None`` left out.

    Raises:
        ValueError, TypeError: a value a query cannot carry exactly (NaN, an
            infinity, a nested list or mapping, bytes, any other object, whose
            ``str()`` is no value the server reads).

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
        value = n.to_decimal(value)
    if isinstance(value, (Decimal, dt.datetime, enum.Enum)):
        return str(_json_default(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (str, numbers.Integral, uuid.UUID)):
        return str(value)
    raise TypeError(
        "a query value must be text, a number, a boolean, a date or datetime, an enum,"
        f" a UUID or a list of them, got {type(value).__name__}"
    )
