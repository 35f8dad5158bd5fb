"""The ``taas_sandbox`` pytest plugin, as a user's test suite sees it.

``pytester`` writes a small test suite into a temporary directory and runs
pytest on it in a subprocess. The plugin arrives the way it does for users:
through the ``pytest11`` entry point of the installed package, with nothing
in the user's conftest. Their suite runs with ``--strict-markers`` (the
marker must be registered) and ``filterwarnings = error``. The package is
the one these tests belong to: the subprocess has this checkout first on
its path, as the test run itself has.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import taas_async

pytest_plugins = ["pytester"]

CHECKOUT = Path(taas_async.__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's suite imports this checkout's taas_async (and so its plugin)."""
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(CHECKOUT), path])))


USER_TESTS = """
import asyncio
from decimal import Decimal

import anyio
import pytest

from taas_async import InternalServerError, OrderStatus, PlaceOrderRequest
from taas_async.sandbox import Sandbox


def buy(account="mock", qty=1):
    return PlaceOrderRequest(
        accounts=[account], pair="ETH-USDT", side="buy", duration=60,
        base_asset_qty=qty, strategy="TWAP",
    )


def test_order_fills_on_the_virtual_clock(taas_sandbox):
    assert isinstance(taas_sandbox, Sandbox)

    async def main():
        async with taas_sandbox.client() as client:
            order = await client.place_order(buy())
            assert order.status == OrderStatus.SCHEDULED
            taas_sandbox.advance(30)
            half = await client.get_order(order.id)
            assert half.status == OrderStatus.ACTIVE
            assert Decimal("0.5") <= half.executed_qty < 1  # on schedule, or a bit ahead
            taas_sandbox.advance(30)
            return await client.get_order(order.id)

    done = asyncio.run(main())
    assert done.status == OrderStatus.COMPLETE
    assert done.executed_qty == Decimal(1)
    assert len(taas_sandbox.exchanges) == 3


@pytest.mark.taas_sandbox(seed=5, accounts={"acct": ("Mock", {"USDT": 100})})
def test_marker_configures_the_sandbox(taas_sandbox):
    assert list(taas_sandbox.engine.accounts) == ["acct"]

    async def main():
        async with taas_sandbox.client() as client:
            return await client.get_balances()

    balances = anyio.run(main)
    assert list(balances) == ["acct"]
    assert balances["acct"].exchange == "Mock"
    assert [(a.symbol, a.size) for a in balances["acct"].assets] == [("USDT", Decimal(100))]
    accounts = {"acct": ("Mock", {"USDT": 100})}
    seeded = [Sandbox(seed=s, accounts=accounts).engine.accounts["acct"].id for s in (5, 0)]
    assert taas_sandbox.engine.accounts["acct"].id == seeded[0] != seeded[1]


def test_faults_fail_then_succeed(taas_sandbox):
    taas_sandbox.faults.fail_next(1, status=503)

    async def main():
        async with taas_sandbox.client(max_retries=0) as client:
            with pytest.raises(InternalServerError) as caught:
                await client.get_balances()
            assert caught.value.status_code == 503
            return await client.get_balances()

    balances = asyncio.run(main())
    assert sorted(balances) == ["mock", "test"]
    assert [e.status for e in taas_sandbox.exchanges] == [503, 200]
"""

USER_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
filterwarnings = error
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def user_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(USER_INI)
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester


def test_user_suite_uses_the_fixture_marker_and_faults(user_suite: pytest.Pytester) -> None:
    result = user_suite.runpytest_subprocess("-q", timeout=60)
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.OK


def test_each_test_gets_a_fresh_sandbox(pytester: pytest.Pytester) -> None:
    pytester.makeini(USER_INI)
    pytester.makepyfile(
        test_fresh="""
        seen = []

        def test_one(taas_sandbox):
            taas_sandbox.add_account("extra")
            seen.append(taas_sandbox)

        def test_two(taas_sandbox):
            assert "extra" not in taas_sandbox.engine.accounts
            assert taas_sandbox is not seen[0]
        """
    )
    result = pytester.runpytest_subprocess("-q", timeout=60)
    result.assert_outcomes(passed=2)


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makeini(USER_INI)
    result = pytester.runpytest("--markers")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["@pytest.mark.taas_sandbox(**kwargs): keyword arguments for the taas_sandbox fixture*"]
    )


SERVER_TESTS = """
from decimal import Decimal

import httpx
import pytest

from taas_async.sandbox import Sandbox, SandboxServer


def test_a_sync_client_and_the_control_plane(taas_sandbox_server):
    server = taas_sandbox_server
    assert isinstance(server, SandboxServer)
    assert isinstance(server.sandbox, Sandbox)
    assert server.url.startswith("http://127.0.0.1:")
    auth = {"Authorization": f"Token {server.token}"}
    with httpx.Client(headers=auth, timeout=10) as http:
        placed = http.post(server.url + "/api/orders/", json={
            "accounts": ["mock"], "pair": "ETH-USDT", "side": "buy", "duration": 60,
            "base_asset_qty": "1", "strategy": "TWAP",
        })
        assert placed.status_code == 201
        order_id = placed.json()["id"]
        moved = http.post(server.control_url + "/advance", json={"seconds": 30})
        assert moved.json()["now"] == "2026-01-01T00:00:30.000000Z"
        half = http.get(f"{server.url}/api/order/{order_id}").json()
        assert Decimal("0.5") <= Decimal(str(half["executed_qty"])) < 1  # or a bit ahead
        http.post(server.control_url + "/faults", json={"fail_next": {"status": 503}})
        assert http.get(server.url + "/api/balances/").status_code == 503
        assert http.get(server.url + "/api/balances/").status_code == 200
        log = http.get(server.control_url + "/exchanges").json()
        assert [e["status"] for e in log] == [201, 200, 503, 200]
    # The same sandbox, seen from the test: nothing else runs now.
    assert len(server.sandbox.exchanges) == 4


@pytest.mark.taas_sandbox(token="t0k", base_path="/taas", accounts={"a": ("OKX", {"USDT": 5})})
def test_the_marker_configures_the_served_sandbox(taas_sandbox_server):
    server = taas_sandbox_server
    assert server.url.endswith("/taas")
    balances = httpx.get(server.url + "/api/balances/", headers={"Authorization": "Token t0k"})
    assert list(balances.json()) == ["a"]
    state = httpx.get(server.dashboard_url.replace("/?", "/state?"))
    assert state.json()["balances"]["a"]["tokens"] == {"USDT": "5"}


def test_each_test_gets_its_own_server(taas_sandbox_server, taas_sandbox):
    assert taas_sandbox_server.sandbox is not taas_sandbox
    assert taas_sandbox_server.sandbox.exchanges == []
"""


def test_user_suite_uses_the_server_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini(USER_INI)
    pytester.makepyfile(test_server=SERVER_TESTS)
    result = pytester.runpytest_subprocess("-q", timeout=60)
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.OK


def test_server_fixture_stops_the_server_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makeini(USER_INI)
    pytester.makepyfile(
        test_stop="""
        import threading

        import httpx
        import pytest

        seen = []

        def test_one(taas_sandbox_server):
            seen.append(taas_sandbox_server.url)
            assert httpx.get(seen[0] + "/api/balances/").status_code == 401

        def test_two():
            assert not [t for t in threading.enumerate() if t.name.startswith("taas-sandbox")]
            with pytest.raises(httpx.ConnectError):
                httpx.get(seen[0] + "/api/balances/")
        """
    )
    result = pytester.runpytest_subprocess("-q", timeout=60)
    result.assert_outcomes(passed=2)


def test_server_fixture_without_uvicorn_names_the_extra(pytester: pytest.Pytester) -> None:
    pytester.makeini(USER_INI)
    pytester.makeconftest(
        """
        import sys

        sys.modules["uvicorn"] = None  # as if it were not installed: import fails
        """
    )
    pytester.makepyfile(
        test_missing="""
        def test_needs_a_server(taas_sandbox_server):
            raise AssertionError("never reached")

        def test_in_process_still_works(taas_sandbox):
            assert taas_sandbox.engine.accounts
        """
    )
    result = pytester.runpytest_subprocess("-q", timeout=60)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.re_match_lines(
        [
            r"^taas_sandbox_server: serving the sandbox over TCP needs uvicorn: "
            r"pip install 'taas-async\[sandbox\]'$"
        ]
    )
    result.stdout.no_fnmatch_line("*During handling*")
    result.stdout.no_fnmatch_line("*never reached*")


def readme_test_file() -> str:
    """The README's ``test_my_bot.py``, as a user copies it."""
    readme = (CHECKOUT / "README.md").read_text()
    (block,) = [
        b
        for b in re.findall(r"```python\n(.*?)\n```", readme, flags=re.S)
        if b.startswith("# test_my_bot.py")
    ]
    return block


def test_the_readme_test_file_runs_as_written_in_a_fresh_project(
    pytester: pytest.Pytester,
) -> None:
    # No ini, no conftest: what a new project has. Strict markers: each one it uses exists.
    pytester.makepyfile(test_my_bot=readme_test_file())
    result = pytester.runpytest_subprocess("-q", "--strict-markers", timeout=60)
    result.assert_outcomes(passed=1)


def test_the_readme_test_file_says_why_it_needs_its_marker(pytester: pytest.Pytester) -> None:
    # Without the marker pytest does not run the coroutine: the README states the need.
    source = readme_test_file().replace("@pytest.mark.asyncio\n", "")
    pytester.makepyfile(test_my_bot=source)
    result = pytester.runpytest_subprocess("-q", "-p", "no:asyncio", timeout=60)
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])
