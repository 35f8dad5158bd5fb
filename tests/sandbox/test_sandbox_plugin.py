"""The ``taas_sandbox`` pytest plugin, as a user's test suite sees it.

``pytester`` writes a small test suite into a temporary directory and runs
pytest on it in a subprocess. The plugin arrives the way it does for users:
through the ``pytest11`` entry point of the installed package, with nothing
in the user's conftest. Their suite runs with ``--strict-markers`` (the
marker must be registered) and ``filterwarnings = error``.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

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
