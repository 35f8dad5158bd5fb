"""The public surface: ``__all__`` is sorted, complete, typed and documented."""

from __future__ import annotations

import inspect
from pathlib import Path

import taas_async
import taas_async.sandbox

PACKAGE = Path(taas_async.__file__).parent


def test_all_is_sorted_and_unique() -> None:
    assert len(set(taas_async.__all__)) == len(taas_async.__all__)
    dunder = [n for n in taas_async.__all__ if n.startswith("__")]
    others = [n for n in taas_async.__all__ if not n.startswith("__")]
    assert others == sorted(others, key=lambda n: (not n.isupper(), n)), "keep __all__ sorted"
    assert dunder == ["__version__"]


def test_every_private_module_export_is_reexported() -> None:
    exported = set(taas_async.__all__)
    for module_name in (
        "_client",
        "_enums",
        "_exceptions",
        "_models",
        "_options",
        "_requests",
        "_tracking",
        "_transports",
    ):
        module = __import__(f"taas_async.{module_name}", fromlist=["__all__"])
        missing = set(module.__all__) - exported
        assert not missing, f"taas_async.{module_name} exports {missing} but __init__ does not"


def test_public_classes_show_the_public_module() -> None:
    for name in taas_async.__all__:
        obj = getattr(taas_async, name)
        if inspect.isclass(obj):
            assert obj.__module__ == "taas_async", name


def test_every_public_name_has_a_docstring() -> None:
    for name in taas_async.__all__:
        obj = getattr(taas_async, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"
    for name, member in inspect.getmembers(taas_async.AsyncClient):
        if not name.startswith("_") and callable(member):
            assert inspect.getdoc(member), f"AsyncClient.{name} has no docstring"


def test_py_typed_ships() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_version_comes_from_metadata() -> None:
    from importlib.metadata import version

    assert taas_async.__version__ == version("taas-async")


SANDBOX_MODULES = (
    "_app",
    "_clock",
    "_control",
    "_engine",
    "_prices",
    "_records",
    "_sandbox",
    "_server",
)


def test_sandbox_all_is_sorted_complete_and_documented() -> None:
    names = taas_async.sandbox.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n)), "keep __all__ sorted"
    for module_name in SANDBOX_MODULES:
        module = __import__(f"taas_async.sandbox.{module_name}", fromlist=["__all__"])
        missing = set(module.__all__) - set(names)
        assert not missing, f"taas_async.sandbox.{module_name} exports {missing} only there"
    for name in names:
        obj = getattr(taas_async.sandbox, name)
        if inspect.isclass(obj):
            assert obj.__module__ == "taas_async.sandbox", name
            assert inspect.getdoc(obj), f"{name} has no docstring"
            for member_name, member in vars(obj).items():
                if not member_name.startswith("_") and (
                    inspect.isfunction(member) or isinstance(member, property)
                ):
                    assert inspect.getdoc(member), f"{name}.{member_name} has no docstring"
