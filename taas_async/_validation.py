"""How request models validate: every problem collected, then one error naming them all.

A request model is an attrs class decorated with :func:`collect_errors` and
``on_setattr=on_setattr``, deriving from :class:`RequestModel`: its fields
are converted and validated at construction (every bad field reported at
once, with the cross-field rules among the good ones) and on assignment;
``validate()`` checks everything again right before sending.
"""

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import attrs

from taas_async._exceptions import RequestValidationError
from taas_async._numbers import shown

__all__ = [
    "NestedErrors",
    "RequestModel",
    "check_field",
    "collect_errors",
    "exactly_one",
    "on_setattr",
]


class NestedErrors(ValueError):  # noqa: N818 (internal signal, never escapes)
    """Errors of nested models, keyed by a path relative to the field."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(str(errors))
        self.errors = errors


def check_field(attribute: "attrs.Attribute[Any]", value: Any) -> tuple[Any, dict[str, list[str]]]:
    """Convert and validate one value; return it and its problems keyed by field path."""
    try:
        if attribute.converter is not None:
            value = attribute.converter(value)  # type: ignore[operator]
        if attribute.validator is not None:
            attribute.validator(None, attribute, value)
    except NestedErrors as exc:
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


def on_setattr(inst: object, attribute: "attrs.Attribute[Any]", value: Any) -> Any:
    value, problems = check_field(attribute, value)
    if problems:
        raise RequestValidationError(problems, model=type(inst).__name__)
    return value


_M = TypeVar("_M", bound="RequestModel")


def build_from(cls: type[_M], data: Mapping[str, Any], *, floats: bool) -> _M:
    """``cls(**data)``, ``data`` checked: a mapping of field names (without floats, unless allowed).

    The constructor takes a float (through ``str()``, for a number typed in);
    ``from_dict`` does not (a document's float has been rounded already).
    """
    if not isinstance(data, Mapping):
        raise RequestValidationError(
            {"data": [f"expected a mapping of field names, got {type(data).__name__}"]},
            model=cls.__name__,
        )
    given: list[object] = list(data)  # typed callers pass str keys; others may not
    keys = [key for key in given if not isinstance(key, str)]
    if keys:
        raise RequestValidationError(
            {"data": [f"keys must be field names (strings), got {shown(keys[0])}"]},
            model=cls.__name__,
        )
    found = {} if floats else dict(_floats_in(data))
    if found:
        raise RequestValidationError(found, model=cls.__name__)
    build: Any = cls  # attrs writes the __init__; mypy sees object's
    result: _M = build(**data)
    return result


def _floats_in(value: Any, path: str = "") -> Iterator[tuple[str, list[str]]]:
    """Each float in a mapping built from a document, by its path (``child_orders[1].qty``)."""
    if isinstance(value, float):
        yield (
            path or "data",
            [
                f"a float ({shown(value)}) has lost digits already: give a string or a"
                " Decimal (read JSON with json.loads(text, parse_float=Decimal))"
            ],
        )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _floats_in(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _floats_in(item, f"{path}[{index}]")


class RequestModel:
    """Shared behaviour of request models: collect every problem, then raise once."""

    @classmethod
    def from_dict(cls: type[_M], data: Mapping[str, Any]) -> _M:
        """Build this request from a mapping of its field names: a JSON object, a row.

        The same checks as the constructor, every bad, missing and unknown
        key named at once. Nested requests (child orders, legs of a chain)
        may be mappings too. A ``float`` anywhere is refused: a document
        read through floats has rounded its numbers already (``json.loads``
        makes ``0.12345678901234567891`` into ``0.12345678901234568``);
        read it with ``json.loads(text, parse_float=Decimal)``, or give
        strings.

        Raises:
            RequestValidationError: ``data`` is not a mapping with string keys,
                holds a float, or a field is bad, missing or unknown.

        """
        return build_from(cls, data, floats=False)

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
                except NestedErrors as exc:
                    problems.update({f"{attribute.name}{p}": r for p, r in exc.errors.items()})
                    continue
                except (TypeError, ValueError, ArithmeticError) as exc:
                    problems[attribute.name] = [_reason(attribute.name, exc)]
                    continue
            for index, item in enumerate(value if isinstance(value, list) else [value]):
                if isinstance(item, RequestModel):
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


def collect_errors(cls: _C) -> _C:
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
                value, field_problems = check_field(attribute, kwargs[attribute.name])
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


def exactly_one(obj: object, names: tuple[str, ...]) -> dict[str, list[str]]:
    given = [n for n in names if getattr(obj, n) is not None]
    if len(given) == 1:
        return {}
    key = ", ".join(names)
    if not given:
        return {key: ["exactly one is required, got none"]}
    return {key: [f"exactly one is allowed, got {', '.join(given)}"]}
