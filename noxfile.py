"""Sessions: ``tests`` (a Python matrix), ``lint``, ``typecheck``. Run ``nox -l`` to list."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.error_on_missing_interpreters = False

# Interpreters installed by pyenv but not on PATH (as on our dev machines).
_PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
if _PYENV.is_dir():
    _bins = [str(p / "bin") for p in sorted(_PYENV.iterdir()) if (p / "bin").is_dir()]
    os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *_bins])

PYPROJECT = Path(__file__).with_name("pyproject.toml").read_text()
# The Python matrix comes from the classifiers, so there is one list to keep.
PYTHONS = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', PYPROJECT)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "taas_async", "tests/typing")
    quiet = {"PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}  # no "newer pyright on PyPI" check
    session.run("pyright", "--verifytypes", "taas_async", "--ignoreexternal", env=quiet)
    # tests/typing holds under pyright too (6 s, so not in CI: mypy checks it there).
    session.run("pyright", "tests/typing", env=quiet)
