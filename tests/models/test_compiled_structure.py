"""Replies structured by the compiled functions exactly as by cattrs' own.

The models' structuring functions are compiled from the converter's hooks
(positional arguments, a hook skipped where it would return its input);
cattrs' generated functions are the reference. For any reply, both give the
same model, field by field, down to the type and the digits of every value
(``Decimal('1.0')`` is not ``Decimal('1')``, nor ``1``), or both refuse it
with the same errors.
"""

from __future__ import annotations

import datetime as dt
import enum
import gc
import json
import typing
from decimal import Decimal
from typing import Any
from unittest import mock

import attrs
import pytest
from conftest import load
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taas_async import MultiOrder, Order, OrdersPage, _compiled, _converter
from taas_async._codec import decode_json
from taas_async._compiled import compile_structure
from taas_async._converter import _MODELS, ShapeError, make_converter, structure

REFERENCE = make_converter(compiled=False)
#: Models whose compiled function raised (its model then falls back to cattrs'
#: functions, which would hide a compiled function that always fails).
FELL_BACK: list[type[Any]] = []


def _watched(cls: type[Any], hooks: Any) -> Any:
    structure_cls = compile_structure(cls, hooks)
    assert structure_cls is not None, cls

    def watched(fields: Any, raw: Any) -> Any:
        try:
            return structure_cls(fields, raw)
        except Exception:
            FELL_BACK.append(cls)
            raise

    return watched


def _compiled_converter() -> Any:
    """The default converter, its compiled functions watched (all made here, eagerly)."""
    with mock.patch.object(_converter, "compile_structure", _watched):
        converter = make_converter()
        for cls in _MODELS:
            converter.get_structure_hook(cls)
    return converter


COMPILED = _compiled_converter()

# Values by the field's type: mostly good ones (so that most replies structure
# and the compiled function's own result is compared), some bad.
_DECIMALS = st.one_of(
    st.sampled_from(
        ["1.50", "-1", "-1.00000000000000000000", "0E-8", "1e5", "0.00000001", "NaN", "", " 1"]
    ),
    st.sampled_from([Decimal("1.0"), Decimal("-1"), Decimal("1E+999"), 3, -1, 0, 10**30]),
    st.decimals(allow_nan=False, allow_infinity=False, places=8),
    st.none(),
)
_TEXTS = st.one_of(
    st.sampled_from(["", "x", "mock", "mock,binance", "1.5,2", "1.5,x", "6fe4ba3e-c578"]),
    st.text(max_size=4),
    st.sampled_from([7, Decimal("2.0"), True, None]),
)
_TIMES = st.sampled_from(
    [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00.123456",
        "2026-03-29T02:30:00",
        "2026-10-25T02:30:00.5",
        "2026-01-01T00:00:00+02:00",
        "2026-01-01",
        "2026-13-01T00:00:00Z",
        1700000000,
        Decimal("1.7e9"),
        None,
        "soon",
    ]
)
_INTS = st.sampled_from([0, 5, 300, -3, "5", Decimal("5.0"), Decimal("5.5"), 2**63, None, True])
_BOOLS = st.sampled_from([True, False, 0, 1, "true", "False", None, 2])
_ENUMS = st.sampled_from(
    [
        *("ACTIVE", "COMPLETE", "CANCELED", "SCHEDULED", "PAUSED", "buy", "sell", "long"),
        *("short", "TWAP", "VWAP", "Iceberg", "6fe4ba3e-c578-45bd-824c-c523bf3c56de", "", 3, None),
    ]
)
_ANY = st.recursive(
    st.one_of(st.none(), st.integers(-2, 2), st.sampled_from(["a", Decimal("1.0")])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.sampled_from("ab"), inner, max_size=2)
    ),
    max_leaves=4,
)
_ZONES = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Mars/Base", "", None])
_SCALAR_TYPES: dict[Any, st.SearchStrategy[Any]] = {
    Decimal: _DECIMALS,
    str: _TEXTS,
    dt.datetime: _TIMES,
    int: _INTS,
    bool: _BOOLS,
}


def _values(tp: Any, depth: int) -> st.SearchStrategy[Any]:
    """Values for a field of type ``tp``: mostly of that type, as JSON gives it."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if tp in _SCALAR_TYPES or (len(args) == 1 and args[0] in _SCALAR_TYPES):
        return _SCALAR_TYPES[tp if tp in _SCALAR_TYPES else args[0]]
    if any(isinstance(a, type) and issubclass(a, enum.Enum) for a in args):
        return _ENUMS
    if typing.get_origin(tp) is list:
        item = args[0]
        if attrs.has(item):  # nested models: a level deep
            nested = st.lists(bodies(item, depth + 1), max_size=2) if depth < 1 else st.just([])
            return st.one_of(st.none(), nested)
        if item is str:
            return st.one_of(st.none(), st.lists(_TEXTS, max_size=3), st.just("ab"))
        return st.one_of(st.none(), st.lists(_ANY, max_size=3))
    if typing.get_origin(tp) is dict:
        keys = st.sampled_from("abc")
        return st.one_of(st.none(), st.dictionaries(keys, _ANY, max_size=3), st.just([]))
    return _ANY


def bodies(cls: type[Any], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Replies for ``cls``: each field missing, null, or a value drawn by its type."""
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {"time_zone": _ZONES, "unknown": _ANY}
    for f in attrs.fields(cls):
        if f.name != "raw":
            wanted = required if f.default is attrs.NOTHING else optional
            wanted[f.name] = _values(f.type, depth)
    return st.fixed_dictionaries(required, optional=optional)


def outcome(body: Any, tp: Any, converter: Any) -> tuple[str, Any]:
    """What structuring gives, comparable to the digit: its repr and value types, or the errors."""
    try:
        result = structure(body, tp, using=converter)
    except ShapeError as exc:
        return "error", exc.errors
    return "model", (repr(result), _types(result), _raw_of(result))


def _types(value: Any) -> Any:
    if attrs.has(type(value)):
        return (
            type(value).__name__,
            [(f.name, _types(getattr(value, f.name))) for f in attrs.fields(type(value))],
        )
    if isinstance(value, list):
        return [_types(v) for v in value]
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    return type(value).__name__


def _raw_of(value: Any) -> Any:
    return id(value.raw) if attrs.has(type(value)) else None


@pytest.mark.parametrize("cls", _MODELS, ids=lambda c: c.__name__)
@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_reply_is_structured_as_cattrs_does(cls: type[Any], data: st.DataObject) -> None:
    body = data.draw(bodies(cls))
    FELL_BACK.clear()
    compiled, reference = outcome(body, cls, COMPILED), outcome(body, cls, REFERENCE)
    assert compiled == reference
    if compiled[0] == "model":  # the compiled functions gave it, not cattrs' in their place
        assert FELL_BACK == []


@pytest.mark.parametrize(
    ("name", "tp"),
    [
        ("seed_order.json", Order),
        ("seed_multi_order.json", MultiOrder),
        ("docs_multi_order.json", MultiOrder),
    ],
)
def test_the_documented_replies_come_out_alike(name: str, tp: type[Any]) -> None:
    assert_compiled_alike(decode_json(load(name)), tp)


def test_a_page_of_orders_comes_out_alike() -> None:
    order = json.loads(load("seed_order.json"))
    page = {
        "orders": [{**order, "id": f"{i}", "custom_order_id": ""} for i in range(20)],
        "count": 20,
        "num_pages": 1,
    }
    assert_compiled_alike(decode_json(json.dumps(page)), OrdersPage)


def assert_compiled_alike(body: Any, tp: type[Any]) -> None:
    """A model by the compiled functions alone, as cattrs' own make it."""
    FELL_BACK.clear()
    compiled, reference = outcome(body, tp, COMPILED), outcome(body, tp, REFERENCE)
    assert compiled[0] == "model"
    assert compiled == reference
    assert FELL_BACK == []


def test_every_model_is_compiled() -> None:
    """No model falls back to cattrs' function unnoticed (the speed is the point)."""
    for cls in _MODELS:
        hooks = {
            f.name: (COMPILED.get_structure_hook(f.type), f.type)
            for f in attrs.fields(cls)
            if f.name != "raw"
        }
        assert compile_structure(cls, hooks) is not None, cls


def test_a_model_that_does_not_fit_is_left_to_cattrs() -> None:
    @attrs.frozen
    class KeywordOnly:
        id: str = attrs.field(kw_only=True)

    @attrs.frozen
    class NotInInit:
        id: str
        seen: int = attrs.field(init=False, default=0)

    @attrs.frozen
    class SelfMade:
        id: str
        key: str = attrs.field(default=attrs.Factory(lambda self: self.id, takes_self=True))

    for cls in (KeywordOnly, NotInInit, SelfMade):
        hooks = {f.name: (lambda value, _: value, Any) for f in attrs.fields(cls)}
        assert compile_structure(cls, hooks) is None


def test_null_and_missing_differ_where_the_hook_says_so() -> None:
    """A hook that refuses null: a missing key is the default, a null is the hook's error."""

    def strict(value: Any, _: Any) -> int:
        if type(value) is not int:
            raise TypeError("expected an int")
        return value

    @attrs.frozen
    class Counted:
        id: str
        count: int = 3

    structure_counted = compile_structure(
        Counted, {"id": (COMPILED.get_structure_hook(str), str), "count": (strict, int)}
    )
    assert structure_counted is not None
    assert structure_counted({"id": "a"}, None) == Counted("a", 3)
    assert structure_counted({"id": "a", "count": 5}, None) == Counted("a", 5)
    with pytest.raises(TypeError):
        structure_counted({"id": "a", "count": None}, None)
    with pytest.raises(KeyError):
        structure_counted({"count": 5}, None)

    def zero_for_null(value: Any, _: Any) -> int:
        return 0 if value is None else int(value)

    structure_zeroed = compile_structure(
        Counted, {"id": (COMPILED.get_structure_hook(str), str), "count": (zero_for_null, int)}
    )
    assert structure_zeroed is not None
    assert structure_zeroed({"id": "a"}, None) == Counted("a", 3)
    assert structure_zeroed({"id": "a", "count": None}, None) == Counted("a", 0)


def test_the_compiled_path_is_the_one_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparisons above compare two paths: the default converter takes the compiled one."""
    taken: list[type[Any]] = []

    def spying(cls: type[Any], hooks: Any) -> Any:
        structure_cls = compile_structure(cls, hooks)
        assert structure_cls is not None

        def spy(fields: Any, raw: Any) -> Any:
            taken.append(cls)
            return structure_cls(fields, raw)

        return spy

    monkeypatch.setattr(_converter, "compile_structure", spying)
    body = decode_json(load("seed_order.json"))
    structure(body, Order, using=make_converter())
    assert taken == [Order]
    taken.clear()
    structure(body, Order, using=make_converter(compiled=False))
    assert taken == []


def test_the_hooks_a_converter_marks_go_with_it() -> None:
    """The table of hooks the compiled code may skip holds no converter past its life."""
    structure(decode_json(load("seed_order.json")), Order, using=make_converter())
    gc.collect()
    before = len(_compiled._KINDS)
    for _ in range(10):
        structure(decode_json(load("seed_order.json")), Order, using=make_converter())
    gc.collect()
    assert len(_compiled._KINDS) == before
