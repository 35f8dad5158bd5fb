"""Repository promises: the README's two commands are the ones CI runs; its examples run."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest

import taas_async
from taas_async.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]  # tests/project/ -> the repository


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = next(c for c in readme_commands() if "pytest" in c)
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_ci_runs_the_readme_demo_command_verbatim() -> None:
    demo = next(c for c in readme_commands() if "examples/tour.py" in c)
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert demo in ci_lines
    # The demo needs nothing but the runtime dependencies: no extra in its install.
    assert "pip install -q -e . " in demo


def test_readme_sandbox_example_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    (example,) = [
        block
        for block in re.findall(r"```python\n(.*?)\n```", readme, flags=re.S)
        if "from taas_async.sandbox import Sandbox" in block
    ]
    imports = [line for line in example.splitlines() if line.startswith("from ")]
    body = [line for line in example.splitlines() if not line.startswith("from ")]
    source = "\n".join([*imports, "async def main():", *("    " + line for line in body)])
    namespace: dict[str, object] = {}
    exec(compile(source, "README.md", "exec"), namespace)
    anyio.run(namespace["main"])  # type: ignore[arg-type]


def test_readme_quickstart_prints_what_it_says(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Quickstart") :]
    code, printed = re.findall(r"```(?:python|text)\n(.*?)\n```", section, flags=re.S)[:2]
    sandbox = Sandbox()  # virtual clock, not moved: nothing has filled yet
    # The quickstart's url and token are placeholders: its client is the sandbox's.
    monkeypatch.setattr(taas_async, "AsyncClient", lambda **_: sandbox.client())
    exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
    lines = capsys.readouterr().out.splitlines()
    assert lines == printed.splitlines()
    # Each "print(...)  # ..." comment is the line printed (up to its note in brackets).
    comments = re.findall(r"print\(.*\)  # (.*)", code)
    assert [c.split(" (")[0] for c in comments] == lines[: len(comments)]


def test_readme_errors_table_names_every_error() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[
        readme.index("## Errors") : readme.index("\n## ", readme.index("## Errors") + 1)
    ]
    named = set(re.findall(r"`(\w+)`", section))
    errors = {
        name
        for name in taas_async.__all__
        if isinstance(obj := getattr(taas_async, name), type) and issubclass(obj, Exception)
    }
    assert len(errors) > 15
    assert errors - named == set()


def test_ci_lints_and_typechecks() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    for step in (
        "ruff check",
        "ruff format --check",
        "mypy --strict taas_async tests/typing",
        ".venv/bin/pyright --verifytypes taas_async --ignoreexternal",
    ):
        assert step in ci
    # --verifytypes finds taas_async through the `python` on PATH only: without the
    # venv there it finds no package, or resolves httpx to nothing and scores below 100%.
    lines = ci.replace("\\\n", " ").splitlines()
    (pyright,) = [line for line in lines if "pyright --verifytypes" in line]
    assert pyright.startswith('PATH="$PWD/.venv/bin:$PATH" ')


def test_pyright_is_pinned_in_the_dev_extra() -> None:
    # Each pyright release judges types anew: a floating version could fail CI unasked.
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^\s*"pyright==[\d.]+",', pyproject, flags=re.M)
