"""pytest plugin (entry point ``pytest11``): the ``taas_sandbox`` fixture.

Installed with taas-async, so a test suite that uses the SDK can write::

    @pytest.mark.asyncio  # or anyio, or asyncio_mode = "auto": pytest runs no coroutine alone
    async def test_my_strategy(taas_sandbox):
        async with taas_sandbox.client() as client:
            order = await client.place_order(...)
            taas_sandbox.advance(300)        # virtual time: five minutes at once
            done = await client.wait_for_order(order.id)  # the clock jumps while it waits
            taas_sandbox.faults.fail_next(1, status=503)  # and the next call fails

Options go on a marker: ``@pytest.mark.taas_sandbox(seed=7, accounts={...})``
passes its keyword arguments to :class:`~taas_async.sandbox.Sandbox`.
"""

from __future__ import annotations

import pytest

from taas_async.sandbox._sandbox import Sandbox

__all__ = ["pytest_configure", "taas_sandbox"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``taas_sandbox`` marker."""
    config.addinivalue_line(
        "markers",
        "taas_sandbox(**kwargs): keyword arguments for the taas_sandbox fixture's Sandbox",
    )


@pytest.fixture
def taas_sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """A fresh sandbox on a virtual clock that jumps: no sockets, deterministic, fault knobs.

    The clock is an :class:`~taas_async.sandbox.AutojumpClock` unless the
    marker asks for another (``clock=``, ``speed=``, or ``autojump=False`` for
    a clock that moves only by ``advance()``).
    """
    marker = request.node.get_closest_marker("taas_sandbox")
    options = dict(marker.kwargs) if marker else {}
    if "clock" not in options and "speed" not in options:
        options.setdefault("autojump", True)
    return Sandbox(**options)
