"""docs/migration.md maps every public name of ``taas_api`` 1.2.9, each where it belongs.

The public names are found in the installed ``taas_api`` (the dev extra pins
1.2.9), not listed by hand: what each of its modules defines at its top
level (classes, functions, constants and its ``logger``; not what it
imports, such as ``requests`` or ``typing.List``), and for each class its
dataclass fields or enum members, its public methods and, for the client,
its constructor's parameters and the attributes it sets. A module-level
name must appear in backticks somewhere in the guide; a member must appear
in backticks in the guide's section on its class (under a heading naming
the class in backticks), so the guide says what became of each. A name
added to ``taas_api``, or dropped from the guide, fails here.

The guide also covers the README's "Coming from taas_api 1.2.9" table:
every term that table puts in backticks is in the guide, in backticks.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import importlib.metadata
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]  # tests/docs/ -> the repository
GUIDE = (ROOT / "docs" / "migration.md").read_text(encoding="utf-8")
MODULES = ["taas_api", "taas_api.client", "taas_api.data", "taas_api.enums"]


def defined_names(module: ModuleType) -> list[str]:
    """Public names a module defines itself (not what it imports)."""
    names: list[str] = []
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return [name for name in names if not name.startswith("_")]


def exported_names(module: ModuleType) -> list[str]:
    """What a package's ``__init__`` re-exports from its own modules."""
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("taas_api")
        and not inspect.ismodule(value)
    ]


def members(cls: type) -> list[str]:
    """A class's public members: enum members, fields, methods, constructor arguments."""
    if issubclass(cls, enum.Enum):
        return [member.name for member in cls]
    found: list[str] = []
    if dataclasses.is_dataclass(cls):
        found += [f.name for f in dataclasses.fields(cls)]
    found += [
        name for name, value in vars(cls).items() if callable(value) and not name.startswith("_")
    ]
    init = vars(cls).get("__init__")
    if init is not None and not dataclasses.is_dataclass(cls):
        found += [p for p in inspect.signature(init).parameters if p != "self"]
        for node in ast.walk(ast.parse(inspect.getsource(cls))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and not node.attr.startswith("_")
            ):
                found.append(node.attr)
    return list(dict.fromkeys(found))


def public_classes() -> dict[str, type]:
    classes: dict[str, type] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in defined_names(module):
            value = getattr(module, attr)
            if isinstance(value, type):
                classes[attr] = value
    return classes


def section(text: str, name: str) -> str:
    """The part of the guide under the first heading naming ``name`` in backticks."""
    lines = text.splitlines()
    for at, line in enumerate(lines):
        heading = re.match(r"(#+) ", line)
        if heading and f"`{name}`" in line:
            level = len(heading[1])
            end = next(
                (
                    i
                    for i in range(at + 1, len(lines))
                    if (m := re.match(r"(#+) ", lines[i])) and len(m[1]) <= level
                ),
                len(lines),
            )
            return "\n".join(lines[at:end])
    return ""


def in_backticks(text: str, name: str) -> bool:
    """``name`` as a whole word inside a backticked span of ``text``."""
    word = rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])"
    return any(re.search(word, span) for span in re.findall(r"`([^`\n]+)`", text))


def test_the_reference_client_is_1_2_9() -> None:
    assert importlib.metadata.version("taas-api-client") == "1.2.9"


def test_every_module_level_name_is_in_the_guide() -> None:
    names = {n for m in MODULES for n in defined_names(importlib.import_module(m))}
    names |= set(exported_names(importlib.import_module("taas_api")))
    # What the discovery must find (so a broken discovery cannot pass vacuously).
    assert {"Client", "BaseClient", "logger", "INTERNAL_PAIR_RE_PATTERN", "Side"} <= names
    assert {"GetOrderRequest", "GetOrderMessagesRequest", "MultiOrderStatus"} <= names
    assert "requests" not in names  # what it imports is not its own
    assert "List" not in names
    missing = sorted(name for name in names if not in_backticks(GUIDE, name))
    assert not missing, f"docs/migration.md does not name: {missing}"


@pytest.mark.parametrize("name", sorted(public_classes()))
def test_every_member_is_mapped_in_its_class_section(name: str) -> None:
    cls = public_classes()[name]
    text = section(GUIDE, name)
    assert text, f"docs/migration.md has no heading naming `{name}`"
    missing = [member for member in members(cls) if not in_backticks(text, member)]
    assert not missing, f"the section on `{name}` does not say what became of: {missing}"


def test_member_discovery_finds_fields_methods_and_attributes() -> None:
    classes = public_classes()
    assert "leverage" in members(classes["SetLeverageRequest"])
    assert {"validate", "to_post_body", "custom_order_id"} <= set(
        members(classes["PlaceOrderRequest"])
    )
    assert {"post", "get", "delete", "taas_url", "auth_token", "extra_headers", "url"} <= set(
        members(classes["BaseClient"])
    )
    assert "get_order_messages" in members(classes["Client"])
    assert members(classes["Strategy"]) == ["IS", "TWAP", "VWAP", "LIMIT", "MARKET", "ICEBERG"]


def test_a_missing_member_is_noticed() -> None:
    text = section(GUIDE, "SetLeverageRequest").replace("`leverage`", "leverage")
    assert not in_backticks(text, "leverage")


def test_the_readme_table_is_covered() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Coming from `taas_api` 1.2.9")
    table = readme[start : readme.find("\n## ", start + 1) % (len(readme) + 1)]
    terms = sorted(set(re.findall(r"`([^`\n]+)`", table)))
    assert len(terms) > 20  # the table, found
    spans = re.findall(r"`([^`\n]+)`", GUIDE)
    missing = [term for term in terms if not any(term in span for span in spans)]
    assert not missing, f"docs/migration.md lacks terms of the README's table: {missing}"
