"""Replies as JSON-safe data: what ``to_dict()`` and ``to_json()`` return.

A reply model holds ``Decimal``, aware ``datetime`` and enums, none of which
``json.dumps`` (or a web framework's encoder) takes. Here each becomes what
JSON carries exactly: a decimal its plain-notation string (never a float),
a datetime its ISO 8601 text with its offset, an enum its value. Nested
models become dicts and lists stay lists. ``raw`` (the decoded wire body)
is left out: it is the server's JSON, with its own shape and numbers as the
server sent them, and stays on the model.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from decimal import Decimal
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from taas_async._enums import _StrEnum
from taas_async._numbers import MAX_NUMBER_TEXT, plain_length

__all__ = ["decimal_text", "to_dict", "to_json"]


def decimal_text(value: Decimal) -> str:
    """A decimal as text: exact, in plain notation where that is short."""
    # Plain notation ("0.00000001", "100") where it is short. Typed fields are bounded
    # when read, but a free-form one (strategy_params, placements) keeps whatever the
    # server sent: 1e999999999 written out would be a gigabyte. Scientific notation
    # is exact too. NaN and infinities (only in a model built by hand) as their names.
    if value.is_finite() and plain_length(value) <= MAX_NUMBER_TEXT:
        return format(value, "f")
    return str(value)


def _datetime(value: dt.datetime) -> str:
    # A reply's datetimes are aware (naive ones are read in the reply's time zone),
    # so the text carries the offset.
    return value.isoformat()


def _free_form(converter: cattrs.Converter) -> Any:
    """A free-form field's JSON (``strategy_params``, ``placements``), at any depth.

    Walked with a stack, not by recursion: the decoder takes nesting as deep as
    Python's recursion limit, and an export that recursed (a few frames a
    level) would fail on a reply that was read.
    """

    def unstructure(value: Any) -> Any:
        if not isinstance(value, (dict, list, tuple)):
            return converter.unstructure(value)
        root: Any = {} if isinstance(value, dict) else []
        stack: list[tuple[Any, Any]] = [(value, root)]
        while stack:
            source, target = stack.pop()
            pairs = source.items() if isinstance(source, dict) else enumerate(source)
            for key, item in pairs:
                if isinstance(item, (dict, list, tuple)):
                    copied: Any = {} if isinstance(item, dict) else []
                    stack.append((item, copied))
                else:
                    copied = converter.unstructure(item)
                if isinstance(target, dict):
                    target[key] = copied
                else:
                    target.append(copied)
        return root

    return unstructure


def _model_factory(converter: cattrs.Converter) -> Any:
    def factory(cls: type[Any]) -> Any:
        return make_dict_unstructure_fn(cls, converter, raw=override(omit=True))

    return factory


def _make() -> cattrs.Converter:
    converter = cattrs.Converter()

    def _enum(value: enum.Enum) -> Any:
        return converter.unstructure(value.value)  # an enum's value may be a Decimal too

    converter.register_unstructure_hook(Decimal, decimal_text)
    converter.register_unstructure_hook(dt.datetime, _datetime)
    converter.register_unstructure_hook(dt.date, dt.date.isoformat)
    # On the enums' shared base: our enums are str enums, and cattrs would pass them
    # through as strings (a web framework's encoder then sees an enum, not a value).
    converter.register_unstructure_hook(_StrEnum, _enum)
    converter.register_unstructure_hook(enum.Enum, _enum)
    converter.register_unstructure_hook_factory(attrs.has, _model_factory(converter))
    free_form = _free_form(converter)
    converter.register_unstructure_hook_func(lambda tp: tp in _FREE_FORM, free_form)
    return converter


#: The annotations of free-form fields: JSON as the server sent it.
_FREE_FORM = (dict[str, Any], list[Any])


_converter = _make()


def to_dict(model: Any) -> dict[str, Any]:
    """``model``'s fields as JSON-safe data (see the module docstring)."""
    data: dict[str, Any] = _converter.unstructure(model)
    return data


def to_json(model: Any, *, indent: int | None = None) -> str:
    """``to_dict(model)`` as a JSON document."""
    separators = (",", ": ") if indent is not None else (",", ":")
    return json.dumps(to_dict(model), indent=indent, separators=separators, allow_nan=False)
