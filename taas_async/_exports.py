"""Show users the public path of re-exported classes (``taas_async.Order``), as httpx does."""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

__all__ = ["show_public_module"]


def show_public_module(namespace: MutableMapping[str, Any], names: Iterable[str]) -> None:
    """Set ``__module__`` of each class named to the package that re-exports it.

    Only classes defined in that package's private modules (``pkg._x``) are changed.
    """
    package = namespace["__name__"]
    for name in names:
        obj = namespace[name]
        if isinstance(obj, type) and obj.__module__.startswith(package + "._"):
            obj.__module__ = package
