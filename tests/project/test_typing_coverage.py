"""tests/typing covers every public signature, so new public API cannot go unchecked.

CI type-checks ``tests/typing`` with ``mypy --strict``: a signature or field type that
changes makes a line there stop type-checking. This test (AST only: no mypy run) keeps
that file set complete. It fails when

- a name in ``taas_async.__all__`` or ``taas_async.sandbox.__all__`` is not mentioned;
- a public method of ``AsyncClient`` is not called on a variable annotated ``AsyncClient``;
- a public member of a public class (method, property, attrs field, attribute set on
  ``self``) is not used there: read or called on a variable (parameter or annotated
  local) whose annotation is that class or a subclass, read on the class itself
  (``Backoff.none()``), or passed by keyword to its constructor.

A new public name, method, field or attribute therefore needs its typing lines in
``tests/typing`` (``assert_type`` of what it returns or holds).
"""

from __future__ import annotations

import ast
import enum
import functools
import inspect
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import attrs

import taas_async
import taas_async.sandbox
from taas_async._endpoints import ENDPOINTS

ROOT = Path(__file__).resolve().parents[2]
TYPING = ROOT / "tests" / "typing"
MODULES = (taas_async, taas_async.sandbox)

# Members not covered, each with why: only plumbing whose parameters are private types.
EXEMPT = {
    ("SandboxApp", name): "a route handler: takes the app's private _Request"
    for name in ENDPOINTS  # one handler per endpoint, named as it is
}


def public_classes() -> dict[str, type]:
    classes: dict[str, type] = {}
    for module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type):
                assert name not in classes, f"{name} is public in two modules"
                classes[name] = obj
    return classes


@functools.cache
def _source_module(cls: type) -> types.ModuleType:
    """The module defining ``cls`` (the package rewrites public classes' ``__module__``)."""
    for name, module in list(sys.modules.items()):
        if name.startswith("taas_async.") and module.__dict__.get(cls.__name__) is cls:
            path = getattr(module, "__file__", None)
            if path and f"class {cls.__name__}" in Path(path).read_text():
                return module
    raise LookupError(cls)


@functools.cache
def _parsed(path: str) -> ast.Module:
    return ast.parse(Path(path).read_text())


@functools.cache
def _self_attributes(cls: type) -> frozenset[str]:
    """Public attributes assigned on ``self`` in the class body's methods."""
    tree = _parsed(inspect.getfile(_source_module(cls)))
    (node,) = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__]
    found = set()
    for sub in ast.walk(node):
        targets: list[ast.expr] = []
        if isinstance(sub, ast.Assign):
            targets = sub.targets
        elif isinstance(sub, (ast.AnnAssign, ast.AugAssign)):
            targets = [sub.target]
        for target in targets:
            for t in ast.walk(target):
                if (
                    isinstance(t, ast.Attribute)
                    and isinstance(t.value, ast.Name)
                    and t.value.id == "self"
                    and not t.attr.startswith("_")
                ):
                    found.add(t.attr)
    return frozenset(found)


@functools.cache
def members(cls: type) -> dict[str, type]:
    """Public member name -> the class (in ``cls``'s MRO) that first defines it."""
    out: dict[str, type] = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("taas_async"):
            continue  # object, Exception, str, Enum, httpx's base transport, ...
        names = {
            name
            for name, value in vars(klass).items()
            if not name.startswith("_") and not isinstance(value, enum.Enum)
        }
        if attrs.has(klass):
            names |= {a.name for a in attrs.fields(klass) if not a.name.startswith("_")}
        names |= _self_attributes(klass)
        for name in names:
            out.setdefault(name, klass)
    return out


def _class_name(annotation: ast.expr | None) -> str | None:
    if isinstance(annotation, ast.Subscript):  # RawResponse[Order] and the like
        annotation = annotation.value
    if isinstance(annotation, ast.Name):
        return annotation.id
    if isinstance(annotation, ast.Attribute):  # taas_async.Order
        return annotation.attr
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return _class_name(ast.parse(annotation.value, mode="eval").body)
    return None


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def typing_trees() -> dict[str, ast.Module]:
    files = sorted(TYPING.glob("*.py"))
    assert files, TYPING
    return {f.name: ast.parse(f.read_text(), filename=str(f)) for f in files}


def uses(trees: dict[str, ast.Module], classes: dict[str, type]) -> set[tuple[str, str]]:
    """(class name, member) pairs tests/typing reads, calls or passes by keyword."""
    found: set[tuple[str, str]] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _class_name(node.func) in classes:
                found |= {(_class_name(node.func), k.arg) for k in node.keywords if k.arg}
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, (ast.Name, ast.Attribute))
                and _class_name(node.value) in classes
            ):
                found.add((_class_name(node.value), node.attr))
        for func in _functions(tree):
            typed: dict[str, str] = {}
            every = [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]
            for arg in every:
                name = _class_name(arg.annotation)
                if name in classes:
                    typed[arg.arg] = name
            for node in ast.walk(func):
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    name = _class_name(node.annotation)
                    if name in classes:
                        typed[node.target.id] = name
                elif isinstance(node, ast.ExceptHandler) and node.name:  # except C as exc
                    name = _class_name(node.type)
                    if name in classes:
                        typed[node.name] = name
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id in typed
                ):
                    found.add((typed[node.value.id], node.attr))
    return found


def mentioned_names(trees: dict[str, ast.Module]) -> set[str]:
    names: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name)
    return names


def test_every_public_name_is_in_tests_typing() -> None:
    mentioned = mentioned_names(typing_trees())
    missing = [
        f"{module.__name__}.{name}"
        for module in MODULES
        for name in module.__all__
        if name not in mentioned
    ]
    assert not missing, f"not in tests/typing: {missing}"


def test_every_async_client_method_is_called_in_tests_typing() -> None:
    trees = typing_trees()
    called: set[str] = set()
    for tree in trees.values():
        for func in _functions(tree):
            clients = {
                arg.arg
                for arg in [*func.args.args, *func.args.kwonlyargs]
                if _class_name(arg.annotation) == "AsyncClient"
            }
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in clients
                ):
                    called.add(node.func.attr)
    methods = {
        name
        for name, owner in members(taas_async.AsyncClient).items()
        if callable(getattr(taas_async.AsyncClient, name, None))  # not properties, attributes
    }
    assert len(methods) > 20  # the endpoints, the fan-out and the followers
    assert not methods - called, f"AsyncClient methods not called: {sorted(methods - called)}"


def test_every_public_member_is_used_in_tests_typing() -> None:
    classes = public_classes()
    used = uses(typing_trees(), classes)
    missing: dict[tuple[type, str], str] = {}  # one line per declaration, not per subclass
    for cls_name, cls in classes.items():
        for member, owner in members(cls).items():
            if (cls_name, member) in EXEMPT:
                continue
            if not any(name == member and owner in classes[user].__mro__ for user, name in used):
                shown = owner.__name__ if owner in classes.values() else cls_name
                missing.setdefault((owner, member), f"{shown}.{member}")
    assert not missing, f"public members not used in tests/typing: {sorted(missing.values())}"


def test_exemptions_name_real_members() -> None:
    classes = public_classes()
    stale = [key for key in EXEMPT if key[1] not in members(classes[key[0]])]
    assert not stale


def test_members_finds_what_the_package_declares() -> None:
    # The detector itself: fields, properties, methods, classmethods, attributes set
    # in __init__, inherited ones attributed to the class declaring them.
    found = members(taas_async.AsyncClient)
    assert found["place_order"] is taas_async.AsyncClient
    assert found["backoff"].__name__ == "BaseClient"  # self.backoff: Backoff = ...
    assert found["base_url"].__name__ == "BaseClient"  # a property
    assert found["watch_orders"].__name__ == "OrderFollowing"
    assert "validate" in members(taas_async.PlaceOrderRequest)
    assert "none" in members(taas_async.Backoff)  # a classmethod
    assert "is_terminal" in members(taas_async.Order)
    assert "id" in members(taas_async.Order)  # an attrs field
    assert "status_code" in members(taas_async.RateLimitError)  # APIStatusError's
    assert "BUY" not in members(taas_async.Side)  # enum members are values, not API
    assert "is_simple" in members(taas_async.Strategy)
    assert "args" not in members(taas_async.TaaSError)  # Exception's own
    assert {"faults", "engine", "url"} <= set(members(taas_async.sandbox.Sandbox))
