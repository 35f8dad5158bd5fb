"""pytest plugin (entry point ``pytest11``): the ``taas_sandbox`` fixtures (in process, and served).

Installed with taas-async, so a test suite that uses the SDK can write::

    @pytest.mark.asyncio  # or anyio, or asyncio_mode = "auto": pytest runs no coroutine alone
    async def test_my_strategy(taas_sandbox):
        async with taas_sandbox.client() as client:
            order = await client.place_order(...)
            taas_sandbox.advance(300)        # virtual time: five minutes at once
            done = await client.wait_for_order(order.id)  # the clock jumps while it waits
            taas_sandbox.faults.fail_next(1, status=503)  # and the next call fails

and, for sync clients and subprocesses, a real server on 127.0.0.1::

    def test_my_sync_bot(taas_sandbox_server):
        with httpx.Client(headers=taas_sandbox_server.headers) as http:
            http.get(taas_sandbox_server.url + "/api/balances/")
            http.post(taas_sandbox_server.control_url + "/advance", json={"seconds": 60})

Options go on a marker: ``@pytest.mark.taas_sandbox(seed=7, accounts={...})``
passes its keyword arguments to :class:`~taas_async.sandbox.Sandbox`, for
either fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from taas_async.sandbox._sandbox import Sandbox
from taas_async.sandbox._server import SandboxServer

__all__ = ["pytest_configure", "taas_sandbox", "taas_sandbox_server"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``taas_sandbox`` marker."""
    config.addinivalue_line(
        "markers",
        "taas_sandbox(**kwargs): keyword arguments for the taas_sandbox fixture's Sandbox",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("taas_sandbox")
    return dict(marker.kwargs) if marker else {}


@pytest.fixture
def taas_sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """A fresh sandbox on a virtual clock that jumps: no sockets, deterministic, fault knobs.

    The clock is an :class:`~taas_async.sandbox.AutojumpClock` unless the
    marker asks for another (``clock=``, ``speed=``, or ``autojump=False`` for
    a clock that moves only by ``advance()``).
    """
    options = _options(request)
    if "clock" not in options and "speed" not in options:
        options.setdefault("autojump", True)
    return Sandbox(**options)


@pytest.fixture
def taas_sandbox_server(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    """A fresh sandbox served by uvicorn on 127.0.0.1 (a free port) for this test.

    Yields a :class:`~taas_async.sandbox.SandboxServer`: ``.url`` (the API),
    ``.token``, ``.headers``, ``.control_url``, ``.dashboard_url`` and
    ``.sandbox``. The clock is virtual unless the marker says ``speed=``:
    move it with ``POST <control_url>/advance``. The server stops at
    teardown. Needs uvicorn (``pip install 'taas-async[sandbox]'``).
    """
    server = SandboxServer(Sandbox(**_options(request)))
    problem = None
    try:
        server.start()
    except RuntimeError as exc:
        problem = f"taas_sandbox_server: {exc}"
    if problem is not None:  # failed out here, so the report is the message alone
        pytest.fail(problem, pytrace=False)
    try:
        yield server
    finally:
        server.stop()
