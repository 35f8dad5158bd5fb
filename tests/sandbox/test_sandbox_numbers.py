"""The sandbox refuses hostile numbers quickly, and numbers beyond what it can simulate.

A request body of a few bytes such as ``"duration": 1e999999`` must cost the
simulator no more than its size: it answers 400 naming the field, in well
under 100 ms of CPU (``time.thread_time()``). Numbers the SDK allows but the
engine cannot run (an end after the year 9999, amounts past its exact
arithmetic) are a 400 too, never a crash, and the sandbox keeps serving.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import httpx
import pytest
from conftest import order_request

from taas_async import (
    BadRequestError,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    SetLeverageRequest,
)
from taas_async._requests import AmendOrderRequest, OrderInChain
from taas_async.sandbox import Sandbox

CPU_BUDGET = 0.1  # seconds of this thread's CPU for one whole call
PLACEHOLDER = "@@number@@"


SANDBOX_HOSTILE = {
    "1e999999": ("duration", "1e999999"),
    "str-1e999999": ("duration", '"1e999999"'),
    "1e999999999": ("duration", "1e999999999"),
    "2**63": ("duration", str(2**63)),
    "4000-digit-int": ("duration", "9" * 4000),
    "1.then-5000-zeros": ("duration", "1." + "0" * 5000),
    "qty-1e999999": ("base_asset_qty", "1e999999"),
    "qty-101-digits": ("base_asset_qty", "1." + "1" * 100),
    "qty-5000-zeros": ("base_asset_qty", "1." + "0" * 5000),
}


@pytest.mark.asyncio
@pytest.mark.parametrize(("field", "literal"), SANDBOX_HOSTILE.values(), ids=SANDBOX_HOSTILE.keys())
async def test_sandbox_refuses_hostile_numbers_quickly(field: str, literal: str) -> None:
    sandbox = Sandbox()
    body: dict[str, Any] = {
        "accounts": ["mock"],
        "pair": "ETH-USDT",
        "side": "buy",
        "duration": 300,
        "base_asset_qty": "1",
        "strategy": "TWAP",
    }
    body[field] = PLACEHOLDER
    content = json.dumps(body).replace(json.dumps(PLACEHOLDER), literal).encode()
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=sandbox.url) as http:
        headers = {"Authorization": f"Token {sandbox.token}", "Content-Type": "application/json"}
        ok = await http.post("/api/orders/", json=copy.deepcopy(body) | {field: 5}, headers=headers)
        assert ok.status_code == 201, ok.text
        start = time.thread_time()
        reply = await http.post("/api/orders/", content=content, headers=headers)
        cpu = time.thread_time() - start
    assert reply.status_code == 400, reply.text[:300]
    assert field in reply.json()
    assert cpu < CPU_BUDGET


@pytest.mark.asyncio
@pytest.mark.parametrize("page", ["99999999999999999999999", "\u00b2", "1" * 5000])
async def test_sandbox_refuses_hostile_page_numbers(page: str) -> None:
    sandbox = Sandbox()
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=sandbox.url) as http:
        headers = {"Authorization": f"Token {sandbox.token}"}
        reply = await http.get("/api/orders/", params={"page": page}, headers=headers)
    assert reply.status_code == 400, reply.text[:300]
    assert "page" in reply.json()


@pytest.mark.asyncio
async def test_sandbox_refuses_numbers_beyond_its_own_limits_and_keeps_serving() -> None:
    """Within the SDK's bounds, but beyond what the simulator can run: a 400, not a crash.

    A duration of 2**63 - 1 s ends after the year 9999; 1e50 of a token times a
    price is more than the engine's exact arithmetic carries. Nothing is placed.
    """
    sandbox = Sandbox()
    base = order_request()
    account_ids = [account.id for account in sandbox.engine.accounts.values()]
    async with sandbox.client(max_retries=0) as client:
        cases: list[tuple[Callable[[], Awaitable[Any]], set[str]]] = [
            (lambda: client.place_order(attrs.evolve(base, duration=2**63 - 1)), {"duration"}),
            (
                lambda: client.place_order(attrs.evolve(base, base_asset_qty="1e50")),
                {"base_asset_qty"},
            ),
            (lambda: client.place_order(attrs.evolve(base, limit_price="1e100")), {"limit_price"}),
            (
                lambda: client.place_multi_order(
                    PlaceMultiOrderRequest(
                        accounts=["mock"],
                        strategy="TWAP",
                        duration=10**12,
                        child_orders=[
                            {"pair": "ETH-USDT", "side": "buy", "base_asset_qty": "1e60"}
                        ],
                    )
                ),
                {"duration", "child_orders[0].base_asset_qty"},
            ),
            (
                lambda: client.place_chained_order(
                    PlaceChainedOrderRequest(
                        orders_in_chain=[
                            OrderInChain(order_request=base, priority=1),
                            OrderInChain(
                                order_request=attrs.evolve(base, duration=10**12), priority=2
                            ),
                        ]
                    )
                ),
                {"orders_in_chain[1].order_request.duration"},
            ),
            (lambda: client.close_balances("1e100"), {"max_notional"}),
            (
                lambda: client.set_leverage(
                    SetLeverageRequest(account_ids=account_ids, pair="BTC-USDT", leverage="1e100")
                ),
                {"leverage"},
            ),
        ]
        for call, fields in cases:
            with pytest.raises(BadRequestError) as info:
                await call()
            assert set(info.value.field_errors) == fields
        assert len(await client.get_all_orders()) == 0  # nothing was placed

        order = await client.place_order(base)
        with pytest.raises(BadRequestError) as info:
            await client.amend_order(
                AmendOrderRequest(order_id=order.id, changes={"duration": 10**12})
            )
        assert set(info.value.field_errors) == {"changes.duration"}
        sandbox.advance(400)
        assert (await client.get_order(order.id)).duration == 300
        assert len(await client.get_all_orders()) == 1
