"""One structuring function per reply model, compiled from the converter's own hooks.

cattrs' generated function for a model calls every field's hook, gathers
the results in a dict and passes it as keyword arguments: for an ``Order``
(46 fields) that is 46 calls, mostly of a hook given ``None``, and a
keyword call that matches 46 names. The function compiled here does what
that one does with the same hooks, for less:

- the arguments are passed by position, in the class's field order;
- a field the reply leaves out and a field it sends as ``null`` are read
  alike only where the field's hook gives the field's default for ``null``
  (checked once, here, per field): the hook is then skipped for ``null``;
- the commonest values are taken without a call where the hook's own first
  test would take them unchanged: a ``str`` for an optional string, a known
  value for an open enum.

Anything else goes to the hook, and the hook raises what it raises: the
model's structuring then runs cattrs' detailed function for the errors. A
model that does not fit (a field outside ``__init__``, keyword-only) gets
None, and cattrs' own function is used.
"""

from __future__ import annotations

import keyword
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["compile_structure", "mark_open_enum", "mark_optional_str"]

#: Hooks the compiled code may bypass, and how: hook -> kind. Weak: every
#: converter makes hooks of its own, and they go with it.
_KINDS: weakref.WeakKeyDictionary[Callable[..., Any], str] = weakref.WeakKeyDictionary()
#: An open enum hook's table of known values.
_ENUM_VALUES: weakref.WeakKeyDictionary[Callable[..., Any], Mapping[str, Any]] = (
    weakref.WeakKeyDictionary()
)


def mark_optional_str(hook: Callable[..., Any]) -> None:
    """``hook`` returns ``None`` and any ``str`` unchanged (it checks only other values)."""
    _KINDS[hook] = "str"


def mark_open_enum(hook: Callable[..., Any], by_value: Mapping[str, Any]) -> None:
    """``hook`` returns ``by_value.get(text, text)`` for a ``str`` (it checks only other values)."""
    _KINDS[hook] = "enum"
    _ENUM_VALUES[hook] = by_value


_NO_DEFAULT = object()


def _default_of(field: Any) -> Any:
    """The value ``__init__`` gives ``field`` when it is not passed (a fresh one for a factory)."""
    default = field.default
    if default is attrs.NOTHING:
        return _NO_DEFAULT
    factory = getattr(default, "factory", None)  # an attrs.Factory's
    return factory() if factory is not None else default


def _null_gives_default(hook: Callable[[Any, Any], Any], tp: Any, field: Any) -> bool:
    """Whether ``hook(None)`` is what ``__init__`` gives ``field`` when the key is missing."""
    default = _default_of(field)
    if default is _NO_DEFAULT:
        return False
    try:
        made = hook(None, tp)
    except Exception:  # noqa: BLE001 (a hook that refuses null: the key is looked up exactly)
        return False
    return type(made) is type(default) and made == default


def compile_structure(
    cls: type[Any],
    hooks: Mapping[str, tuple[Callable[[Any, Any], Any], Any]],
) -> Callable[[Mapping[str, Any], Any], Any] | None:
    """``structure(fields, raw)`` for ``cls``: each field by its hook, ``raw`` as given.

    ``hooks``: per field but ``raw``, its hook and the (resolved) type it is
    called with. None when ``cls`` does not fit.
    """
    fields = attrs.fields(cls)
    if any(not f.init or f.kw_only or f.converter is not None for f in fields):
        return None
    if any(getattr(f.default, "takes_self", False) for f in fields):
        return None
    if any(not f.name.isidentifier() or keyword.iskeyword(f.name) for f in fields):
        return None
    names: dict[str, Any] = {"cls": cls, "MISSING": _NO_DEFAULT}
    body = ["def structure(o, raw):", "    get = o.get"]
    args: list[str] = []
    for i, field in enumerate(fields):
        if field.name == "raw":
            args.append("raw")
            continue
        hook, tp = hooks[field.name]
        value, key = f"v{i}", repr(field.name)
        names[f"h{i}"], names[f"t{i}"] = hook, tp
        call = f"h{i}({value}, t{i})"
        args.append(value)
        if field.default is attrs.NOTHING:
            body.append(f"    {value} = h{i}(o[{key}], t{i})")
            continue
        factory = getattr(field.default, "factory", None)  # an attrs.Factory's
        names[f"d{i}"] = factory if factory is not None else field.default
        default = f"d{i}()" if factory is not None else f"d{i}"
        if not _null_gives_default(hook, tp, field):
            # Missing and null differ: as cattrs does it, the default only when missing.
            body.append(f"    {value} = get({key}, MISSING)")
            body.append(f"    {value} = {default} if {value} is MISSING else {call}")
            continue
        body.append(f"    {value} = get({key})")
        kind = _KINDS.get(hook)
        if kind == "str":  # None is its default: checked above
            body.append(
                f"    if {value} is not None and type({value}) is not str: {value} = {call}"
            )
        elif kind == "enum":  # None is its default too
            names[f"e{i}"] = _ENUM_VALUES[hook]
            body.append(
                f"    {value} = e{i}.get({value}, {value}) if type({value}) is str"
                f" else None if {value} is None else {call}"
            )
        else:
            body.append(f"    {value} = {default} if {value} is None else {call}")
    body.append(f"    return cls({', '.join(args)})")
    source = "\n".join(body) + "\n"
    filename = f"<taas_async compiled structure {cls.__module__}.{cls.__qualname__}>"
    exec(compile(source, filename, "exec"), names)  # noqa: S102 (our own code, from field names checked above)
    structure: Callable[[Mapping[str, Any], Any], Any] = names["structure"]
    return structure
