"""Shared fixtures and helpers: respx, the seed's example replies, a sandbox behind a FaultServer.

Test modules live in subject directories (client/, models/, ...) and import
what they share from here: ``from conftest import ...``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import respx
from faultserver import FaultServer

from taas_async import AsyncClient, Backoff, PlaceOrderRequest
from taas_async.sandbox import Sandbox, SandboxServer

DATA = Path(__file__).parent / "data"
BASE_URL = "https://taas.test/prefix"  # a path prefix, which 1.2.9's urljoin would drop
API = BASE_URL + "/api/"
TOKEN = "tok-SUPERSECRET-0123456789abcdef"  # greppable: must never leak


def load(name: str) -> str:
    """Raw text of a file in tests/data (the seed's example replies)."""
    return (DATA / name).read_text()


#: The custom_order_id the SDK generates for an order the caller gave none.
GENERATED_ID = re.compile(r"taas-[0-9a-f]{32}")


def order_request() -> PlaceOrderRequest:
    """The README's example order: a valid request to send anywhere."""
    return PlaceOrderRequest(
        accounts=["mock"],
        pair="ETH-USDT",
        side="buy",
        duration=300,
        base_asset_qty=5,
        strategy="TWAP",
    )


def load_json(name: str) -> Any:
    return json.loads(load(name))


_SEED_ORDER = load("seed_order.json")


class Recorder:
    """A MockTransport handler that records every request it gets."""

    def __init__(self, response: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._response = response

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self._response is not None:
            return self._response(request)
        return httpx.Response(200, text=_SEED_ORDER, headers={"Content-Type": "application/json"})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None
#: anyio's name for each event loop the SDK runs on.
BACKENDS: dict[str, Any] = {
    "asyncio": "asyncio",
    "trio": "trio",
    "uvloop": ("asyncio", {"use_uvloop": True}),
}


def backend_param(name: str) -> Any:
    """A pytest param for one event loop; uvloop's is skipped where it cannot be installed."""
    marks = []
    if name == "uvloop" and not HAS_UVLOOP:  # e.g. Windows: the dev extra leaves it out
        marks.append(pytest.mark.skip(reason="uvloop is not installed on this platform"))
    return pytest.param(BACKENDS[name], id=name, marks=marks)


@pytest.fixture(params=[backend_param(name) for name in BACKENDS])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """Tests marked ``anyio`` run on asyncio, trio and uvloop (a module may narrow this)."""
    return request.param


#: The proxy settings a developer's shell may hold: every test starts without them
#: (a test about proxies sets its own).
PROXY_VARIABLES = tuple(
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    for name in (base, base.lower())
)


@pytest.fixture(autouse=True)
def _no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy from the environment running the tests: loopback servers are reached directly."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def httpx_sends(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """Every request that goes through ``httpx.AsyncClient.send``, in order."""
    sent: list[httpx.Request] = []
    send = httpx.AsyncClient.send

    async def counting(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: object
    ) -> httpx.Response:
        sent.append(request)
        return await send(self, request, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx.AsyncClient, "send", counting)
    return sent


@pytest.fixture
def no_taas_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """TAAS_URL and TAAS_AUTH_TOKEN unset, whatever the environment running the tests holds."""
    monkeypatch.delenv("TAAS_URL", raising=False)
    monkeypatch.delenv("TAAS_AUTH_TOKEN", raising=False)


@pytest.fixture
def sandbox() -> Sandbox:
    """A fresh in-process sandbox."""
    return Sandbox()


@pytest.fixture
def server(sandbox: Sandbox) -> Iterator[FaultServer]:
    """A loopback FaultServer in front of ``sandbox`` (modules with another server override it)."""
    with FaultServer(app=sandbox.app) as running:
        yield running
        assert running.errors == []  # neither the server nor the app crashed


@pytest.fixture
def seed_order_text() -> str:
    return load("seed_order.json")


@pytest.fixture
def seed_multi_order_text() -> str:
    return load("seed_multi_order.json")


@pytest.fixture
def seed_balances_text() -> str:
    return load("seed_balances.json")


@pytest.fixture
def mock_api() -> respx.MockRouter:
    """A respx router for the API; unmatched requests fail the test."""
    # using="httpx": respx patches the client, so it sees any transport (ours included).
    with respx.mock(
        base_url=API, assert_all_called=False, assert_all_mocked=True, using="httpx"
    ) as router:
        yield router


@pytest_asyncio.fixture
async def c0(mock_api: respx.MockRouter) -> AsyncIterator[AsyncClient]:
    """A client that never retries, so each test sees exactly one reply."""
    async with AsyncClient(BASE_URL, TOKEN, max_retries=0, backoff=Backoff.none()) as c:
        yield c


@pytest_asyncio.fixture
async def client(mock_api: respx.MockRouter) -> AsyncIterator[AsyncClient]:
    """An AsyncClient whose traffic goes to ``mock_api``; it retries at once (no backoff)."""
    async with AsyncClient(
        BASE_URL, TOKEN, extra_headers={"X-Team": "quant"}, backoff=Backoff.none()
    ) as c:
        yield c


# --------------------------------------------------------------------------- the taas command

CLI_LIMIT = 60.0  # seconds for one taas command


@pytest.fixture
def cli_server() -> Iterator[SandboxServer]:
    """A fresh sandbox served on 127.0.0.1 on a fast real-time clock (600x), for ``taas``."""
    with SandboxServer(Sandbox(speed=600)) as running:
        yield running


Taas = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def taas(cli_server: SandboxServer) -> Taas:
    """Run ``taas *args`` as a subprocess against ``cli_server``: the finished process.

    ``TAAS_URL``/``TAAS_AUTH_TOKEN`` point at the server; output is not a
    terminal, so there must be no colour, no bar and no column cut short.
    """
    server = cli_server

    def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Any:
        environment = {
            **os.environ,
            "TAAS_URL": server.url,
            "TAAS_AUTH_TOKEN": server.sandbox.token,
            **(env or {}),
        }
        for name in ("TAAS_LOG", "NO_COLOR", "FORCE_COLOR", "COLUMNS"):
            environment.pop(name, None)
        return subprocess.run(
            [sys.executable, "-m", "taas_async._cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=environment,
            timeout=CLI_LIMIT,
            check=False,
        )

    return run
