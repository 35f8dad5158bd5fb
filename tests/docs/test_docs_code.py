"""Every code block of README.md and docs/**/*.md runs, the way a reader would run it.

Pages are README.md and every ``docs/**/*.md``, found afresh on each run: a
page added later is tested with no change here. Each fenced block is a test
of its own, named by its page and the line of its opening fence
(``README.md:123``), and a traceback shows the page's own lines.

**Python blocks** (```` ```python ````; ``py`` too) of one page run in order
in one namespace, like the cells of a notebook: what one block defines is
there for the next, and a block run alone first runs the blocks above it.
Each is compiled with ``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT``, so top-level
``await`` and ``async with`` work (as in IPython, Jupyter or ``python -m
asyncio``); such blocks run on one event loop per page, kept from block to
block, so a client opened in one block can be used in the next. A block
without top-level ``await`` runs outside that loop, in the main thread, so
one ending in ``asyncio.run(main())`` (or ``anyio.run``) works as in a
script; ``__name__`` is ``"__main__"``.

The environment: ``TAAS_URL`` and ``TAAS_AUTH_TOKEN`` name a sandbox served
by uvicorn on 127.0.0.1 (a :class:`SandboxServer`) whose clock runs 300x real
time (a 5-minute TWAP ends in a second), reset before each page. The
placeholder credentials of a quickstart, ``AsyncClient(url=
"https://app.tread.fi", auth_token="...")``, are mapped to that sandbox
(``PLACEHOLDER_URLS``): the only liberty taken with what a block says. Each
page runs in a temporary directory of its own (the working directory while
its blocks run), with its own copy of the environment and of the root
logger's handlers (none at first, so ``logging.basicConfig`` works as in a
fresh process); the logging configuration is restored after the page, so
nothing a page sets leaks into the next one or into the rest of the suite.
An ``AsyncClient`` a page leaves open (as a notebook would, from one block
to the next) is closed after its last block. The pages of ``CORPORATE_PAGES`` run on a
desk's network instead (:class:`CorporateNetwork`): ``TAAS_URL`` is the same
sandbox over ``https://localhost``, its certificate signed by a private CA
whose certificate is ``corp-ca.pem`` in the page's directory (with
``desk.pem`` and ``desk.key``, a client certificate of that CA), and
``HTTPS_PROXY`` a tinyproxy that wants a user name and password; where
tinyproxy is not installed those pages skip. Every block must name its
language (``python``, ``bash``, ``text``, ``json``, ...), so that none hides.

**Markers**, a block's first line, visible to readers:

- ``# test_my_bot.py`` (any file name): the block is that file, written to
  the page's directory. A test file (``test_*.py``) is run there by
  ``python -m pytest`` as in a fresh project: no configuration, only the
  plugins such a project has (``FRESH_PLUGINS``), this checkout's
  ``taas_async`` first on the path, warnings as errors (but pytest-asyncio's
  note that no fixture loop scope is configured); every test in it must
  pass. Any other file (``# app.py``) also runs in the page's namespace, so
  the blocks below can use what it defines and a test file can import it.
- ``# from taas_async/<module>.py``: an excerpt of the library's source
  (``...`` lines mark what is left out). Not run: each part between ``...``
  lines must appear in that module, token for token and in order, so the
  excerpt cannot drift from the code.
- ``# not run: <reason>``: the one exemption; at most ``MAX_NOT_RUN`` blocks
  may carry it (none do today), each shows as a skip with its reason.

A ``pycon`` or ``ipython`` block is an error: write ``python`` (top-level
``await`` works) or ``text``.

**Shell blocks** (``bash``, ``sh``, ``console``): every command must be known
(``SHELL_COMMANDS``). ``python -m taas_async.sandbox ...`` is started as
written but on a free port (``--port 0``), the URL and token it prints are
checked against a request, and it is stopped; ``curl`` commands run against
such a server, as the page says it was started (``localhost:8000`` becomes
its port), with the page's earlier variable assignments (``T=...``), and
each must answer a 2xx (curl runs with ``--fail-with-body``) with JSON
(skipped where curl is not installed). Not run, and why, is in the table:
``pip install`` (from PyPI), the README's two setup commands (``.ci/run``
runs them verbatim on a clean clone, ``tests/project/test_repo.py`` keeps
them identical), the benchmarks (minutes; ``test_bench_smoke.py`` runs
``--quick``).

A block that needs public API not merged yet is a strict xfail listed in
``NEEDS_MAIN`` (must fail now, must pass once the API is there); each entry
must match exactly one block.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tokenize
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from faultserver import FaultServer
from proxyserver import TINYPROXY, TinyProxy

import taas_async
from taas_async.sandbox import Sandbox, SandboxServer

ROOT = Path(__file__).resolve().parents[2]  # tests/docs/ -> the repository
SPEED = 300  # sandbox seconds per real second: a 5-minute TWAP takes one
MAX_NOT_RUN = 2  # blocks that may carry "# not run: <reason>" (today: none)

#: Pages run on a desk's network (CorporateNetwork); True: its server wants a client certificate.
CORPORATE_PAGES = {"docs/recipes/private-ca.md": False, "docs/recipes/mutual-tls.md": True}

#: What a quickstart writes for "your server" and "your token": the served sandbox.
PLACEHOLDER_URLS = {"https://app.tread.fi", "https://app.tread.fi/"}
PLACEHOLDER_TOKEN = "..."

#: How a test file of the docs is run: with the plugins a fresh project that installed
#: taas-async, pytest and pytest-asyncio has (taas-async's, anyio's, pytest-asyncio's) and
#: no others; warnings are errors, but for pytest-asyncio's note to a project that has
#: not chosen its fixtures' loop scope (a fresh one has not).
FRESH_PLUGINS = ["taas_async.sandbox.pytest_plugin", "anyio.pytest_plugin", "pytest_asyncio.plugin"]
STRICT = [
    "-W",
    "error",
    "-W",
    'ignore:The configuration option "asyncio_default_fixture_loop_scope" is unset'
    ":pytest.PytestDeprecationWarning",
]

PYTHON = {"python", "py", "python3"}
REFUSED = {"pycon", "ipython", "python-repl"}  # doctest-style prompts: write python or text
SHELL = {"bash", "sh", "shell", "console", "zsh"}

#: Blocks that need public API still to come from main: (page, a line of the block, reason).
NEEDS_MAIN: list[tuple[str, str, str]] = []

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S")

#: Shell commands: a pattern for a command line, and None (run it) or why it is not run.
SHELL_COMMANDS: list[tuple[re.Pattern[str], str | None]] = [
    (re.compile(r"python3? -m taas_async\.sandbox\b"), None),
    (re.compile(r"curl\b"), None),
    (_VARIABLE, None),  # a variable for the commands below
    (
        re.compile(r"python3 -m venv \.venv && \.venv/bin/pip install -q -e "),
        "the README's two setup commands: .ci/run runs them verbatim on a clean clone "
        "(tests/project/test_repo.py keeps them identical)",
    ),
    (re.compile(r"pip install\b"), "installs from PyPI, which the tests do not reach"),
    (
        re.compile(r"taas\b"),
        "the taas command: tests/cli/ runs each command as a subprocess against a served sandbox",
    ),
    (
        re.compile(r"\.venv/bin/pip install -q -e '\.\[bench\]' && .*benchmarks/bench\.py"),
        "the full benchmark takes minutes; tests/project/test_bench_smoke.py runs its --quick mode",
    ),
    (
        re.compile(r"\.venv/bin/python benchmarks/stream\.py"),
        "a benchmark of minutes (1,000 orders three ways) that draws a chart",
    ),
]


# --------------------------------------------------------------------------- finding blocks

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str  # relative to the repository, e.g. "docs/sandbox.md"
    line: int  # 1-based line of the opening fence
    lang: str
    source: str  # dedented by the fence's indentation

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def first_line(self) -> str:
        lines = self.source.splitlines()
        return lines[0].strip() if lines else ""

    @property
    def kind(self) -> str:
        """``notebook``, ``file``, ``test-file``, ``excerpt`` or ``not-run`` (python blocks)."""
        first = self.first_line
        if first.startswith("# not run:"):
            return "not-run"
        if _EXCERPT.fullmatch(first):
            return "excerpt"
        named = _FILE.fullmatch(first)
        if named:
            return "test-file" if _is_test_file(named["name"]) else "file"
        return "notebook"


_EXCERPT = re.compile(r"# from (?P<path>taas_async/[\w/]+\.py)(?:,.*)?")
_FILE = re.compile(r"#\s*(?P<name>[\w-]+\.py)")


def _is_test_file(name: str) -> bool:
    return name.startswith("test_") or name.endswith("_test.py")


def parse_blocks(text: str, page: str) -> list[Block]:
    """Every fenced block of a Markdown text (``` and ~~~ fences, indented ones too)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None or (opening["fence"][0] == "`" and "`" in opening["info"]):
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not closing.match(lines[j]):
            line = lines[j]
            strip = len(line) - len(line.lstrip(" \t"))
            body.append(line[min(indent, strip) :])
            j += 1
        if j == len(lines):
            raise ValueError(f"{page}:{i + 1}: a code block is never closed")
        info = opening["info"].strip()
        lang = info.split()[0].strip("{}.").lower() if info else ""
        blocks.append(Block(page, i + 1, lang, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/, recursively."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def all_blocks() -> list[Block]:
    found: list[Block] = []
    for path in pages():
        found += parse_blocks(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    return found


BLOCKS = all_blocks()
PYTHON_BLOCKS = [b for b in BLOCKS if b.lang in PYTHON]
SHELL_BLOCKS = [b for b in BLOCKS if b.lang in SHELL]


def _needs_main(block: Block) -> str | None:
    for page, line, reason in NEEDS_MAIN:
        if block.page == page and line in block.source:
            return reason
    return None


def _param(block: Block) -> Any:
    reason = _needs_main(block)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(block, id=block.id, marks=marks)


# --------------------------------------------------------------------------- running a page


def _compile(block: Block, path: Path) -> Any:
    """The block's code, its line numbers those of the page (so tracebacks point there)."""
    tree = ast.parse(block.source, str(path))
    ast.increment_lineno(tree, block.line)
    return compile(tree, str(path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def _from_the_page(exc: BaseException, path: Path) -> str:
    """The traceback from the page's own frame on (the runner's frames left out)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != str(path):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


@contextlib.contextmanager
def _placeholders_mapped(server: SandboxServer) -> Iterator[None]:
    """``AsyncClient(url="https://app.tread.fi", auth_token="...")`` reaches the sandbox."""
    original = taas_async.AsyncClient.__init__

    def mapped(self: Any, url: Any = None, auth_token: Any = None, *args: Any, **kw: Any) -> None:
        if url in PLACEHOLDER_URLS:
            url = server.url
            if auth_token == PLACEHOLDER_TOKEN:
                auth_token = server.token
        original(self, url, auth_token, *args, **kw)

    taas_async.AsyncClient.__init__ = mapped  # type: ignore[method-assign]
    try:
        yield
    finally:
        taas_async.AsyncClient.__init__ = original  # type: ignore[method-assign]


@dataclass
class _LoggerState:
    level: int
    handlers: list[logging.Handler]
    propagate: bool
    disabled: bool

    @classmethod
    def of(cls, logger: logging.Logger) -> _LoggerState:
        return cls(logger.level, list(logger.handlers), logger.propagate, logger.disabled)

    def apply(self, logger: logging.Logger) -> None:
        logger.setLevel(self.level)
        logger.handlers[:] = self.handlers
        logger.propagate, logger.disabled = self.propagate, self.disabled


def _named_loggers() -> dict[str, logging.Logger]:
    return {
        name: logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }


class CorporateNetwork:
    """A desk's network around the served sandbox: a private CA, TLS, a proxy with credentials.

    Writes ``corp-ca.pem`` (the CA), ``desk.pem`` and ``desk.key`` (a client
    certificate it signed) to ``directory``; serves ``sandbox`` over HTTPS
    on ``https://localhost:PORT/`` (a certificate of that CA; with
    ``client_certs``, only clients showing one of its certificates get in);
    runs tinyproxy wanting ``desk`` and a password.
    """

    def __init__(self, directory: Path, sandbox: Sandbox, *, client_certs: bool) -> None:
        import ssl

        import trustme

        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(directory / "corp-ca.pem"))
        desk = ca.issue_cert("desk.corp.example")
        desk.cert_chain_pems[0].write_to_path(str(directory / "desk.pem"))
        desk.private_key_pem.write_to_path(str(directory / "desk.key"))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost").configure_cert(context)
        if client_certs:
            ca.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        self.server = FaultServer(app=sandbox.app, tls=context)
        self.proxy = TinyProxy(auth=("desk", "pr0xy-pass"))
        self.server.start()
        try:
            self.proxy.start()
        except BaseException:
            self.server.stop()
            raise

    def env(self) -> dict[str, str]:
        """What the page's environment says of this network."""
        return {
            "TAAS_URL": self.server.url,
            "HTTPS_PROXY": self.proxy.url_with("desk", "pr0xy-pass"),
        }

    def close(self) -> None:
        self.proxy.stop()
        self.server.stop()


@dataclass
class PythonPage:
    """A page's Python blocks, run in order in one namespace and on one event loop."""

    path: Path
    blocks: list[Block]
    server: SandboxServer
    directory: Path
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__main__"})
    failures: dict[int, str] = field(default_factory=dict)
    ran: int = 0
    loop: asyncio.AbstractEventLoop | None = None
    env: dict[str, str] = field(default_factory=dict)
    root: _LoggerState | None = None
    loggers: dict[str, _LoggerState] | None = None
    network: CorporateNetwork | None = None

    def start(self) -> None:
        """Reset the sandbox; the page's environment and logging start from a fresh process's."""
        with httpx.Client(headers=self.server.headers) as http:
            http.post(self.server.control_url + "/reset").raise_for_status()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TAAS_", "PYTEST_"))},
            "TAAS_URL": self.server.url,
            "TAAS_AUTH_TOKEN": self.server.token,
        }
        page = self.path.relative_to(ROOT).as_posix() if self.path.is_relative_to(ROOT) else ""
        if page in CORPORATE_PAGES:
            self.network = CorporateNetwork(
                self.directory, self.server.sandbox, client_certs=CORPORATE_PAGES[page]
            )
            self.env.update(self.network.env())
        self.loggers = {name: _LoggerState.of(lg) for name, lg in _named_loggers().items()}
        self.root = _LoggerState(logging.WARNING, [], True, False)
        self.loop = asyncio.new_event_loop()

    def run_through(self, index: int) -> None:
        """Run every block up to ``index`` not run yet; fail as block ``index`` failed."""
        if self.ran <= index and self.loop is None:
            self.start()
        failure = None
        while self.ran <= index:
            block = self.blocks[self.ran]
            self.ran += 1
            try:
                self._run(block)
            except Exception as exc:
                self.failures[self.ran - 1] = f"{block.id}: {type(exc).__name__}: {exc}"
                if self.ran - 1 == index:
                    if block.kind not in ("notebook", "file"):
                        self._close_when_done()
                        raise
                    failure = _from_the_page(exc, self.path)
        self._close_when_done()
        earlier = [f for i, f in sorted(self.failures.items()) if i < index]
        if failure is not None:
            if earlier:
                failure += "\nearlier blocks of this page failed:\n" + "\n".join(earlier)
            pytest.fail(failure, pytrace=False)
        assert index not in self.failures, earlier

    def _close_when_done(self) -> None:
        if self.ran == len(self.blocks):
            self.close()

    def _run(self, block: Block) -> None:
        kind = block.kind
        if kind == "not-run":
            return  # its own test skips, saying why
        if kind == "excerpt":
            check_excerpt(block)
            return
        if kind in ("file", "test-file"):
            name = _FILE.fullmatch(block.first_line)["name"]  # type: ignore[index]
            (self.directory / name).write_text(block.source, encoding="utf-8")
            if kind == "test-file":
                run_test_file(self.directory, name, block)
                return
        with self._inside():
            code = _compile(block, self.path)
            result = eval(code, self.namespace)
            if inspect.iscoroutine(result):
                assert self.loop is not None
                self.loop.run_until_complete(result)

    @contextlib.contextmanager
    def _inside(self) -> Iterator[None]:
        """The page's working directory, environment and root logger, around one block."""
        assert self.root is not None
        saved_env, saved_cwd = dict(os.environ), Path.cwd()
        root = logging.getLogger()
        saved_root = _LoggerState.of(root)
        os.environ.clear()
        os.environ.update(self.env)
        os.chdir(self.directory)
        self.root.apply(root)
        try:
            with _placeholders_mapped(self.server):
                yield
        finally:
            self.root = _LoggerState.of(root)
            saved_root.apply(root)
            self.env = dict(os.environ)
            os.environ.clear()
            os.environ.update(saved_env)
            os.chdir(saved_cwd)

    def close(self) -> None:
        """Close its clients, cancel what it left running, close its loop, restore the loggers."""
        loop, self.loop = self.loop, None
        if loop is not None and not loop.is_closed():
            # A client a page keeps open for its next blocks (as a notebook would) is closed.
            for value in list(self.namespace.values()):
                if isinstance(value, taas_async.AsyncClient) and not value.is_closed:
                    loop.run_until_complete(value.aclose())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
        if self.network is not None:
            self.network.close()
            self.network = None
        if self.loggers is not None:
            for name, logger in _named_loggers().items():
                state = self.loggers.get(name, _LoggerState(logging.NOTSET, [], True, False))
                state.apply(logger)
            self.loggers = None
        self.ran = len(self.blocks)  # a closed page runs nothing more


def run_test_file(directory: Path, name: str, block: Block) -> None:
    """``python -m pytest -W error <name>`` in a fresh project; every test in it passes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAAS_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # this venv has more plugins than a fresh one
    plugins = [arg for plugin in FRESH_PLUGINS for arg in ("-p", plugin)]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugins, *STRICT, name],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    tests = [
        node.name
        for node in ast.parse(block.source).body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test")
    ]
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, f"{block.id}: pytest failed\n{done.stdout}\n{done.stderr}"
    assert tests, f"{block.id}: a test file with no test in it"
    assert re.fullmatch(rf"{len(tests)} passed in [\d.]+s", summary), done.stdout


# --------------------------------------------------------------------------- excerpts

_LAYOUT = {
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.COMMENT,
    tokenize.ENDMARKER,
}


def _tokens(text: str) -> list[str]:
    """The tokens that carry meaning (no layout, no comments); a cut-off excerpt is fine."""
    found: list[str] = []
    with contextlib.suppress(tokenize.TokenError, IndentationError):
        for tok in tokenize.generate_tokens(io.StringIO(textwrap.dedent(text)).readline):
            if tok.type not in _LAYOUT:
                found.append(tok.string)
    return found


def check_excerpt(block: Block) -> None:
    """Each part of the excerpt between ``...`` lines is in the module, in order."""
    match = _EXCERPT.fullmatch(block.first_line)
    assert match is not None
    module = ROOT / match["path"]
    assert module.is_file(), f"{block.id}: no module {match['path']}"
    haystack = _tokens(module.read_text(encoding="utf-8"))
    parts: list[list[str]] = [[]]
    for line in block.source.splitlines()[1:]:
        if line.strip() == "...":
            parts.append([])
        else:
            parts[-1].append(line)
    start = 0
    for part in filter(None, ("\n".join(p) for p in parts)):
        needle = _tokens(part)
        at = _find(haystack, needle, start)
        assert at >= 0, f"{block.id}: not in {match['path']} (after token {start}):\n{part}"
        start = at + len(needle)


def _find(haystack: list[str], needle: list[str], start: int) -> int:
    for at in range(start, len(haystack) - len(needle) + 1):
        if haystack[at : at + len(needle)] == needle:
            return at
    return -1


# --------------------------------------------------------------------------- shell blocks


def _commands(source: str) -> list[str]:
    """A shell block's command lines: continuations joined, comments and blanks dropped."""
    commands: list[str] = []
    pending = ""
    for raw in source.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line.startswith("$ "):
            line = line[2:]
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


def classify(command: str) -> tuple[bool, str]:
    """(run it?, why not); an unknown command is an error."""
    for pattern, why in SHELL_COMMANDS:
        if pattern.match(command):
            return why is None, why or ""
    raise AssertionError(f"unknown shell command in the docs (add it to SHELL_COMMANDS): {command}")


class SandboxProcess:
    """``python -m taas_async.sandbox ...`` in a subprocess, on a free port."""

    def __init__(self, argv: list[str]) -> None:
        args = list(argv)
        if "--port" in args:
            args[args.index("--port") + 1] = "0"
        else:
            args += ["--port", "0"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "taas_async.sandbox", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        self.banner = [self.process.stdout.readline() for _ in range(5)]
        found = re.match(r"TaaS sandbox on (http://\S+)", self.banner[0])
        assert found, (self.banner, self.process.stderr.read() if self.process.stderr else "")
        self.url = found[1]
        token = re.match(r"token: (\S+)", self.banner[1])
        assert token, self.banner
        self.token = token[1]
        self.root = re.sub(r"^(http://[^/]+).*$", r"\1", self.url)

    def check(self) -> None:
        """The printed URL and token work: the balances answer 200."""
        headers = {"Authorization": f"Token {self.token}"}
        reply = httpx.get(self.url + "/api/balances/", headers=headers, timeout=10)
        assert reply.status_code == 200, reply.text

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


def _sandbox_argv(command: str) -> list[str]:
    words = shlex.split(command, comments=True)
    at = words.index("taas_async.sandbox")
    return words[at + 1 :]


def _json_replies(output: str, where: str) -> list[Any]:
    """Every JSON document curl printed (one per command), none an error."""
    decoder, replies, at = json.JSONDecoder(), [], 0
    output = output.strip()
    while at < len(output):
        value, end = decoder.raw_decode(output, at)
        replies.append(value)
        at = end
        while at < len(output) and output[at].isspace():
            at += 1
    for reply in replies:
        assert not (isinstance(reply, dict) and "detail" in reply), f"{where}: {reply}"
    return replies


@dataclass
class ShellPage:
    """A page's shell blocks: the sandbox server its curl commands reach."""

    blocks: list[Block]
    server: SandboxProcess | None = None

    def run(self, block: Block) -> None:
        # The variables the page set above this block (T=..., J=...), for its commands.
        variables = [
            c
            for above in self.blocks
            if above.line <= block.line
            for c in _commands(above.source)
            if _VARIABLE.match(c)
        ]
        curls: list[str] = []
        for command in _commands(block.source):
            if not classify(command)[0] or _VARIABLE.match(command):
                continue
            if re.match(r"python3? -m taas_async\.sandbox\b", command):
                server = SandboxProcess(_sandbox_argv(command))
                try:
                    server.check()
                    self._check_options_documented(command)
                finally:
                    server.stop()
            else:
                curls.append(command)
        if curls:
            if shutil.which("curl") is None:
                pytest.skip("curl is not installed")
            if self.server is None:  # as the page says: started with --port 8000, default token
                self.server = SandboxProcess(["--port", "8000"])
            # curl as the page calls it, but an HTTP error status fails the command.
            strict = 'curl() { command curl --fail-with-body "$@"; }'
            script = "\n".join(["set -eu", strict, *variables, *curls])
            script = script.replace("localhost:8000", self.server.root.removeprefix("http://"))
            done = subprocess.run(
                ["bash", "-c", script],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, (  # 22: an HTTP error status
                f"{block.id}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
            replies = _json_replies(done.stdout, block.id)
            assert len(replies) == len(curls), (block.id, done.stdout)

    @staticmethod
    def _check_options_documented(command: str) -> None:
        """Options the command (and its comment) names are the command's own."""
        done = subprocess.run(
            [sys.executable, "-m", "taas_async.sandbox", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", command):
            assert option in done.stdout, f"{option} is not an option of the sandbox server"

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


# --------------------------------------------------------------------------- fixtures and tests


@pytest.fixture(scope="module")
def served() -> Iterator[SandboxServer]:
    """The sandbox every page's ``TAAS_URL`` names (reset before each page)."""
    with SandboxServer(Sandbox(speed=SPEED)) as server:
        yield server


@pytest.fixture(scope="module")
def python_pages(
    served: SandboxServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, PythonPage]]:
    started: dict[str, PythonPage] = {}

    class Pages(dict[str, PythonPage]):
        def __missing__(self, page: str) -> PythonPage:
            blocks = [b for b in PYTHON_BLOCKS if b.page == page]
            directory = tmp_path_factory.mktemp(re.sub(r"\W", "_", page))
            started[page] = self[page] = PythonPage(ROOT / page, blocks, served, directory)
            return self[page]

    yield Pages()
    for page in started.values():
        page.close()


@pytest.fixture(scope="module")
def shell_pages() -> Iterator[dict[str, ShellPage]]:
    started: dict[str, ShellPage] = {}
    yield started
    for page in started.values():
        page.close()


@pytest.mark.parametrize("block", [_param(b) for b in PYTHON_BLOCKS])
def test_python_block(block: Block, python_pages: dict[str, PythonPage]) -> None:
    if block.page in CORPORATE_PAGES and TINYPROXY is None:
        pytest.skip("tinyproxy is not installed (apt-get install tinyproxy): the page's proxy")
    page = python_pages[block.page]
    page.run_through(page.blocks.index(block))
    if block.kind == "not-run":
        pytest.skip(f"{block.id}: {block.first_line}")


def _runs(block: Block) -> bool:
    """Has the block a command to run? (An unknown command makes it a test, which fails.)"""
    try:
        return any(classify(c)[0] for c in _commands(block.source))
    except AssertionError:
        return True


@pytest.mark.parametrize("block", [_param(b) for b in SHELL_BLOCKS if _runs(b)])
def test_shell_block(block: Block, shell_pages: dict[str, ShellPage]) -> None:
    if block.page not in shell_pages:
        shell_pages[block.page] = ShellPage([b for b in SHELL_BLOCKS if b.page == block.page])
    shell_pages[block.page].run(block)


# --------------------------------------------------------------------------- the runner's own rules


def test_every_page_is_found_subdirectories_too() -> None:
    found = set(pages())
    assert found == {ROOT / "README.md", *(ROOT / "docs").glob("**/*.md")}
    assert any(p.parent.parent == ROOT / "docs" for p in found)  # docs/recipes/*.md
    assert len(PYTHON_BLOCKS) > 40  # README's and the docs' blocks, found


def test_blocks_are_parsed_with_their_lines_and_indentation() -> None:
    text = textwrap.dedent(
        """\
        # Title
        Inline ```python``` is not a fence.

        1. An item:

           ```python title="x.py"
           if True:
               x = 1
           ```

        ~~~~bash
        ```not a fence inside a longer one```
        ~~~~
        """
    )
    first, second = parse_blocks(text, "page.md")
    assert (first.line, first.lang, first.source) == (6, "python", "if True:\n    x = 1\n")
    assert (second.line, second.lang) == (11, "bash")
    assert second.source == "```not a fence inside a longer one```\n"
    with pytest.raises(ValueError, match=r"page\.md:1: a code block is never closed"):
        parse_blocks("```python\nx = 1\n", "page.md")


def test_every_block_names_its_language() -> None:
    bare = [b.id for b in BLOCKS if not b.lang]
    assert not bare, f"say what these blocks hold (python, bash, text, json, ...): {bare}"
    prompts = [b.id for b in BLOCKS if b.lang in REFUSED]
    assert not prompts, f"write python (top-level await works) or text: {prompts}"


def test_blocks_not_run_are_few_and_say_why() -> None:
    exempt = [b for b in PYTHON_BLOCKS if b.kind == "not-run"]
    assert len(exempt) <= MAX_NOT_RUN, [b.id for b in exempt]
    for block in exempt:
        assert block.first_line.removeprefix("# not run:").strip(), f"{block.id}: say why"


def test_each_needs_main_entry_matches_one_block() -> None:
    for page, line, _ in NEEDS_MAIN:
        matching = [b.id for b in PYTHON_BLOCKS if b.page == page and line in b.source]
        assert len(matching) == 1, (page, line, matching)  # a stale entry must go


def test_every_shell_command_is_known() -> None:
    not_run = {classify(c)[1] for block in SHELL_BLOCKS for c in _commands(block.source)} - {""}
    assert not_run  # some are named, with why (pip install, the benchmarks, ...)
    with pytest.raises(AssertionError, match="unknown shell command"):
        classify("rm -rf /")


def test_an_excerpt_that_drifted_from_the_code_fails() -> None:
    good = Block("x.md", 1, "python", "# from taas_async/_client.py\nasync def get_order(\n")
    check_excerpt(good)
    drifted = Block("x.md", 1, "python", "# from taas_async/_client.py\nasync def get_odrer(\n")
    with pytest.raises(AssertionError, match=r"not in taas_async/_client\.py"):
        check_excerpt(drifted)


NOTEBOOK = """\
# A page

```python
import asyncio
import logging
import os

x = 1
logging.basicConfig(level=logging.INFO)  # works: the page's root logger starts bare
main_module = __name__ == "__main__"
```

```python
await asyncio.sleep(0)  # top-level await, on the page's loop
y = x + 1
url = os.environ["TAAS_URL"]
os.environ["ONLY_ON_THIS_PAGE"] = "1"
```

```python
async def main():
    return y + 1


z = asyncio.run(main())  # a script's way: outside the page's loop
```

```python
from taas_async import AsyncClient

client = AsyncClient(url="https://app.tread.fi", auth_token="...")  # the sandbox, here
balances = await client.get_balances()
```

```python
assert z == 4, "wrong on purpose"
```
"""


def test_a_page_runs_as_a_notebook_and_fails_at_its_line(
    served: SandboxServer, tmp_path: Path
) -> None:
    path = tmp_path / "page.md"
    path.write_text(NOTEBOOK)
    blocks = parse_blocks(NOTEBOOK, "page.md")
    page = PythonPage(path, blocks, served, tmp_path)
    root_handlers, env = list(logging.getLogger().handlers), dict(os.environ)
    for index in range(4):
        page.run_through(index)
    ns = page.namespace
    assert (ns["y"], ns["z"], ns["main_module"]) == (2, 3, True)
    assert ns["url"] == served.url
    assert "mock" in ns["balances"]
    assert os.environ == env  # the page's environment is its own
    with pytest.raises(pytest.fail.Exception) as failed:
        page.run_through(4)
    line = NOTEBOOK.splitlines().index('assert z == 4, "wrong on purpose"') + 1
    assert f'File "{path}", line {line}' in str(failed.value)  # the page's own line
    assert "wrong on purpose" in str(failed.value)
    assert page.loop is None  # the page is over: its loop closed, and its client
    assert ns["client"].is_closed
    assert logging.getLogger().handlers == root_handlers  # basicConfig's handler is gone


def test_a_failing_test_file_fails(tmp_path: Path) -> None:
    source = "# test_x.py\ndef test_x():\n    assert 1 == 2\n"
    block = Block("x.md", 1, "python", source)
    (tmp_path / "test_x.py").write_text(source)
    with pytest.raises(AssertionError, match=r"x\.md:1: pytest failed"):
        run_test_file(tmp_path, "test_x.py", block)


def test_a_curl_line_the_sandbox_refuses_fails() -> None:
    setup = Block("x.md", 1, "bash", "T='Authorization: Token taas-sandbox-token'\n")
    good = Block("x.md", 5, "bash", 'curl -s localhost:8000/_sandbox/faults -H "$T"\n')
    bad = Block("x.md", 9, "bash", 'curl -s -X POST localhost:8000/_sandbox/advance -H "$T"\n')
    page = ShellPage([setup, good, bad])
    try:
        page.run(good)
        with pytest.raises(AssertionError, match=r"exit 22\n.*Unsupported media type"):
            page.run(bad)
    finally:
        page.close()
