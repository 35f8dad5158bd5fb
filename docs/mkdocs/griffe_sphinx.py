"""A griffe extension: the docstrings' reStructuredText bits, as Markdown for the site.

The package's docstrings are Google style with a little reStructuredText, as
read in an editor or ``help()``; the site renders Markdown. Three things are
rewritten (on the site only; the sources stay as they are):

- ``:class:`~taas_async.sandbox.Sandbox``` and the other roles become a link to
  the API reference when they name a public class or a member of one
  (``:meth:`AsyncClient.place_order```), else inline code (``advance()``);
  a ``~`` shows the last part of the path only, as in Sphinx;
- a paragraph ending in ``::`` introduces an indented literal block: the
  ``::`` becomes ``:`` and the block a fenced one (Python where it parses as
  Python);
- a module constant documented by ``#:`` comments above it gets them as its
  docstring;
- an attrs field shows its default, not how it is built:
  ``side: Side | str`` rather than ``= attrs.field(converter=..., validator=...)``
  (``= None`` for ``attrs.field(default=None, ...)``, ``= list()`` for a
  ``factory=list``; nothing for a required field or a private helper's).
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from typing import Any

import griffe

ROOT = Path(__file__).resolve().parents[2]  # docs/mkdocs/ -> the repository

_ROLE = re.compile(r":(?:py:)?(?P<role>[a-z]+):`(?P<tilde>~?)(?P<target>[^`<]+?)`")
_CALLABLE_ROLES = frozenset({"meth", "func"})


def _public_names(init: Path) -> frozenset[str]:
    """The names in a package's ``__all__`` (read from its source, not imported)."""
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return frozenset(ast.literal_eval(node.value))
    return frozenset()


_PUBLIC = {
    "taas_async.sandbox": _public_names(ROOT / "taas_async" / "sandbox" / "__init__.py"),
    "taas_async": _public_names(ROOT / "taas_async" / "__init__.py"),
}


def _identifier(target: str, role: str, module: str) -> str | None:
    """The API reference entry a role names, if it names one.

    ``Sandbox`` (a public class), ``AsyncClient.place_order`` (a member of
    one), with or without the package's path; anything else has no entry.
    """
    for package, names in _PUBLIC.items():
        if target.startswith(package + "."):
            rest = target.removeprefix(package + ".")
        elif package == "taas_async" or module.startswith(package):
            rest = target
        else:
            continue
        parts = rest.split(".")
        if parts[0] not in names:
            continue
        if len(parts) == 1 and role in {"class", "exc", "data", "obj"}:
            return f"{package}.{rest}"
        if len(parts) == 2 and role in {"meth", "attr"}:
            return f"{package}.{rest}"
    return None


def _roles(text: str, module: str) -> str:
    def replace(match: re.Match[str]) -> str:
        target, role = match["target"].strip(), match["role"]
        shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
        if role in _CALLABLE_ROLES:
            shown += "()"
        identifier = _identifier(target, role, module)
        return f"[`{shown}`][{identifier}]" if identifier is not None else f"`{shown}`"

    return _ROLE.sub(replace, text)


def _language(block: str) -> str:
    try:
        compile(
            block, "<docstring>", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
    except SyntaxError:
        return "text"
    return "python"


def _literal_blocks(text: str) -> str:
    """``Intro::`` and the indented block under it, as ``Intro:`` and a fenced block."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.rstrip()
        if not stripped.endswith("::") or stripped.strip() == "::":
            out.append(line)
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        j = i + 1
        block: list[str] = []
        while j < len(lines) and (
            not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent
        ):
            block.append(lines[j])
            j += 1
        while block and not block[-1].strip():
            block.pop()
            j -= 1
        if not block:
            out.append(line)
            i += 1
            continue
        code = textwrap.dedent("\n".join(block)).strip("\n")
        section = stripped.strip() in {"Example::", "Examples::"}
        # In a Google "Example:" section the block stays indented under its title.
        pad = " " * (indent + 4 if section else indent)
        out.append(stripped[:-1])
        if not section:
            out.append("")
        out.append(f"{pad}```{_language(code)}")
        out.extend(f"{pad}{c}" if c else "" for c in code.splitlines())
        out.append(f"{pad}```")
        i = j
    return "\n".join(out)


def _comment_docstring(attr: griffe.Attribute) -> str | None:
    """The ``#:`` comment lines right above a module attribute, if any."""
    if attr.lineno is None or attr.filepath is None or isinstance(attr.filepath, list):
        return None
    if attr.filepath not in attr.lines_collection:
        return None
    source = attr.lines_collection[attr.filepath]
    comments: list[str] = []
    index = attr.lineno - 2  # the line above the assignment (lineno is 1-based)
    while index >= 0 and source[index].lstrip().startswith("#:"):
        comments.insert(0, source[index].lstrip()[2:].strip())
        index -= 1
    return "\n".join(comments) or None


_FIELD_CALLS = frozenset({"attrs.field", "attr.ib", "attr.field", "field"})


def _field_default(value: str) -> str | None:
    """What an attrs field's ``= ...`` shows: its default, or nothing."""
    try:
        call = ast.parse(value, mode="eval").body
    except SyntaxError:
        return value
    if not isinstance(call, ast.Call):
        return value
    name = ast.unparse(call.func)
    if name.startswith("_") or "._" in name:
        return None  # a private helper builds the field: its default is not ours to show
    if name not in _FIELD_CALLS:
        return value
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    default = keywords.get("default")
    if default is not None:
        inner = default
        if isinstance(inner, ast.Call) and ast.unparse(inner.func).endswith("Factory"):
            return f"{ast.unparse(inner.args[0])}()" if inner.args else None
        return ast.unparse(default)
    factory = keywords.get("factory")
    return f"{ast.unparse(factory)}()" if factory is not None else None


def _markdown(text: str, obj: griffe.Object) -> str:
    module = obj.path if isinstance(obj, griffe.Module) else obj.module.path
    return _literal_blocks(_roles(text, module))


class SphinxMarkup(griffe.Extension):
    """Rewrite the docstrings' reStructuredText roles and literal blocks as Markdown."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite every docstring once, as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = _markdown(obj.docstring.value, obj)

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        """An attrs field's default; a ``#:``-documented module constant's comment."""
        if attr.value is not None and isinstance(attr.parent, griffe.Class):
            attr.value = _field_default(str(attr.value))
        # Runs after on_instance, which saw no docstring on such a constant.
        if attr.docstring is None:
            text = _comment_docstring(attr)
            if text is not None:
                attr.docstring = griffe.Docstring(
                    _markdown(text, attr), lineno=attr.lineno, parent=attr
                )
