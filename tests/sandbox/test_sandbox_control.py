"""The sandbox's control plane under ``/_sandbox/``, driven over HTTP.

Most tests go through ``httpx.AsyncClient(transport=sandbox.transport())``
(the ASGI app in process, a virtual clock); the last ones through a real
uvicorn server on 127.0.0.1, a thread (``SandboxServer``) and the
``python -m taas_async.sandbox`` command. Nothing sleeps: the clock moves
by ``/_sandbox/advance``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from request_kwargs import sandbox_order

from taas_async.sandbox import (
    DEFAULT_START,
    RealTimeClock,
    Sandbox,
    SandboxServer,
    VirtualClock,
)

TOKEN = "control-token-SECRET-0123"
BASE = "http://sandbox"
AUTH = {"Authorization": f"Token {TOKEN}"}
LIMIT = 20.0  # seconds: the bound on every subprocess wait below
SERVER = [sys.executable, "-m", "taas_async.sandbox"]

# Every control path and the method it answers.
ENDPOINTS = [
    ("GET", "/_sandbox/"),
    ("GET", "/_sandbox/state"),
    ("POST", "/_sandbox/advance"),
    ("POST", "/_sandbox/price"),
    ("GET", "/_sandbox/faults"),
    ("POST", "/_sandbox/faults"),
    ("POST", "/_sandbox/reset"),
    ("GET", "/_sandbox/exchanges"),
    ("POST", "/_sandbox/streams/drop"),
]
#: The faults as GET /_sandbox/faults shows them when none is set.
NO_FAULTS = {"latency": 0.0, "stream_delay": 0.0, "stream_refuse": None, "fail_next": []}


def order_body(**changes: Any) -> dict[str, Any]:
    """A 60 s TWAP buy of 1 ETH on "mock", as JSON; keyword arguments replace fields."""
    return sandbox_order(**changes)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(token=TOKEN)


@pytest_asyncio.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client on the sandbox's ASGI app, the token in every request."""
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url=BASE, headers=AUTH
    ) as client:
        yield client


async def place(http: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    reply = await http.post("/api/orders/", json=order_body(**changes))
    assert reply.status_code == 201, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def get_order(http: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    reply = await http.get(f"/api/order/{order_id}")
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def control(http: httpx.AsyncClient, path: str, body: Any = None) -> httpx.Response:
    """POST a JSON body to a control path."""
    return await http.post(f"/_sandbox/{path}", json=body)


# --------------------------------------------------------------------------- auth


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_every_path_needs_the_token(sandbox: Sandbox, method: str, path: str) -> None:
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=BASE) as anonymous:
        missing = await anonymous.request(method, path)
        wrong = await anonymous.request(method, path, headers={"Authorization": "Token nope"})
        bearer = await anonymous.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"})
        wrong_query = await anonymous.request(method, path, params={"token": "nope"})
    assert [r.status_code for r in (missing, wrong, bearer, wrong_query)] == [401] * 4
    if path == "/_sandbox/":  # the dashboard: a 401 page, none of the venue's data
        assert "text/html" in missing.headers["content-type"]
        assert "401: Authentication credentials were not provided." in missing.text
        assert "401: Invalid token." in wrong.text
        for reply in (missing, wrong, bearer, wrong_query):
            assert "mock" not in reply.text
            assert "/_sandbox/state" not in reply.text  # not even the page's script
    else:
        assert missing.json() == {"detail": "Authentication credentials were not provided."}
        assert wrong.json() == bearer.json() == wrong_query.json() == {"detail": "Invalid token."}
    assert sandbox.exchanges == []  # nothing recorded, nothing changed
    assert sandbox.engine.orders == {}


@pytest.mark.asyncio
async def test_the_token_in_the_header_or_the_query_will_do(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=BASE) as anonymous:
        by_header = await anonymous.get("/_sandbox/state", headers=AUTH)
        by_query = await anonymous.get("/_sandbox/state", params={"token": TOKEN})
        # One right way in is enough, even beside a wrong one.
        both = await anonymous.get(
            "/_sandbox/state", params={"token": TOKEN}, headers={"Authorization": "Token x"}
        )
        # The API itself takes the header only.
        api = await anonymous.get("/api/balances/", params={"token": TOKEN})
    assert [by_header.status_code, by_query.status_code, both.status_code] == [200, 200, 200]
    assert api.status_code == 401


@pytest.mark.asyncio
async def test_the_control_plane_stays_at_the_root_under_a_base_path() -> None:
    sandbox = Sandbox(token=TOKEN, base_path="/taas")
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url=BASE, headers=AUTH
    ) as http:
        assert (await http.get("/_sandbox/state")).status_code == 200
        assert (await http.get("/taas/api/balances/")).status_code == 200
        assert (await http.get("/taas/_sandbox/state")).status_code == 404  # the API's 404
        assert (await http.get("/_sandboxes")).status_code == 404  # not a control path either


def test_a_base_path_may_not_hide_the_api_behind_the_control_plane() -> None:
    for base in ("/_sandbox", "/_sandbox/api"):
        with pytest.raises(ValueError, match="control plane"):
            Sandbox(base_path=base)


@pytest.mark.asyncio
async def test_unknown_paths_and_methods(http: httpx.AsyncClient) -> None:
    unknown = await http.get("/_sandbox/nope")
    nested = await http.get("/_sandbox/state/more")
    wrong_method = await http.get("/_sandbox/advance")
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not found."})
    assert nested.status_code == 404
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": 'Method "GET" not allowed.'}
    # Trailing slash optional, as in the API.
    assert (await http.get("/_sandbox/state/")).status_code == 200
    assert (await http.get("/_sandbox")).status_code == 200


# --------------------------------------------------------------------------- advance


@pytest.mark.asyncio
async def test_advance_moves_an_orders_fills(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    order = await place(http)
    reply = await control(http, "advance", {"seconds": 30})
    assert reply.status_code == 200
    assert reply.json() == {
        "now": "2026-01-01T00:00:30.000000Z",
        "clock": {"mode": "virtual", "speed": None},
    }
    half = await get_order(http, order["id"])
    assert half["status"] == "ACTIVE"
    # Half the TWAP schedule, or up to 8% ahead of it (the default schedule_discretion).
    assert Decimal("0.5") <= Decimal(str(half["executed_qty"])) <= Decimal("0.58")
    # JSON numbers are read exactly, fractions of a second too.
    await control(http, "advance", {"seconds": 29.5})
    await control(http, "advance", {"seconds": 0.5})
    done = await get_order(http, order["id"])
    assert (done["status"], Decimal(str(done["executed_qty"]))) == ("COMPLETE", Decimal(1))
    assert sandbox.now() == DEFAULT_START + dt.timedelta(seconds=60)


@pytest.mark.asyncio
async def test_advance_moves_a_real_time_clock_too() -> None:
    sandbox = Sandbox(token=TOKEN, speed=1)
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url=BASE, headers=AUTH
    ) as http:
        order = await place(http, duration=86_400)
        before = sandbox.now()
        reply = await control(http, "advance", {"seconds": 86_400})
        assert reply.status_code == 200
        assert reply.json()["clock"] == {"mode": "real-time", "speed": 1.0}
        assert at(reply.json()["now"]) - before >= dt.timedelta(seconds=86_400)
        done = await get_order(http, order["id"])
    assert done["status"] == "COMPLETE"


def test_real_time_clock_advance_adds_to_the_running_time() -> None:
    clock = RealTimeClock(speed=1, start=DEFAULT_START)
    clock.advance(3600)
    clock.advance(dt.timedelta(minutes=30))
    now = clock.now()
    assert dt.timedelta(hours=1, minutes=30) <= now - DEFAULT_START < dt.timedelta(hours=2)
    assert clock.now() >= now  # and it keeps running
    for bad in (-1, dt.timedelta(seconds=-1), float("nan"), float("inf")):
        with pytest.raises(ValueError):
            clock.advance(bad)


def test_sandbox_advance_works_on_both_clocks_only() -> None:
    real = Sandbox(speed=60)
    before = real.now()
    real.advance(600)
    assert real.now() - before >= dt.timedelta(seconds=600)

    class Frozen:
        def now(self) -> dt.datetime:
            return DEFAULT_START

    with pytest.raises(TypeError, match="Frozen"):
        Sandbox(clock=Frozen()).advance(1)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "is required"),
        ({"seconds": None}, "must be a number of seconds"),
        ({"seconds": "30"}, "must be a number of seconds"),
        ({"seconds": True}, "must be a number of seconds"),
        ({"seconds": [1]}, "must be a number of seconds"),
        ({"seconds": -1}, "must be from 0 to 604800 seconds"),
        ({"seconds": -0.000001}, "must be from 0 to 604800 seconds"),
        ({"seconds": 604_801}, "must be from 0 to 604800 seconds"),
        ({"seconds": 1e300}, "must be from 0 to 604800 seconds"),
    ],
)
async def test_advance_refuses_a_bad_seconds(
    sandbox: Sandbox, http: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    reply = await control(http, "advance", body)
    assert (reply.status_code, reply.json()) == (400, {"seconds": [message]})
    assert sandbox.now() == DEFAULT_START


@pytest.mark.asyncio
async def test_advance_refuses_bad_bodies(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    extra = await control(http, "advance", {"seconds": 1, "minutes": 1})
    assert (extra.status_code, extra.json()) == (400, {"minutes": ["unknown field"]})
    listed = await control(http, "advance", [30])
    assert listed.status_code == 400
    assert list(listed.json()) == ["non_field_errors"]
    # JSON has no NaN or Infinity; a reader that takes them is refused as not JSON.
    for text in (b'{"seconds": NaN}', b'{"seconds": Infinity}', b'{"seconds": '):
        reply = await http.post(
            "/_sandbox/advance", content=text, headers={"content-type": "application/json"}
        )
        assert reply.status_code == 400
        assert reply.json()["detail"].startswith("JSON parse error")
    form = await http.post("/_sandbox/advance", data={"seconds": "30"})
    assert form.status_code == 415
    assert sandbox.now() == DEFAULT_START


@pytest.mark.asyncio
async def test_advance_refuses_to_go_past_the_calendar() -> None:
    end = dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone.utc)
    sandbox = Sandbox(token=TOKEN, clock=VirtualClock(end))
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url=BASE, headers=AUTH
    ) as http:
        reply = await control(http, "advance", {"seconds": 7200})
    assert (reply.status_code, reply.json()) == (
        400,
        {"seconds": ["would move the clock past the year 9999"]},
    )
    assert sandbox.now() == end


# --------------------------------------------------------------------------- price


@pytest.mark.asyncio
async def test_price_changes_the_next_fill(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    # The least discretion (0.02 of the order) is less than a slice (1/30): every slice fills.
    order = await place(http, duration=60, schedule_discretion="0.02")
    await control(http, "advance", {"seconds": 2})  # the first slice, at about 3000
    first = (await get_order(http, order["id"]))["placements"]
    assert len(first) == 1
    assert abs(Decimal(str(first[0]["price"])) - 3000) < 30

    reply = await control(http, "price", {"pair": "ETH-USDT", "price": "4500"})
    assert reply.status_code == 200
    assert reply.json() == {
        "pair": "ETH-USDT",
        "price": "4500",
        "now": "2026-01-01T00:00:02.000000Z",
    }
    assert sandbox.price("ETH-USDT") == Decimal(4500)
    await control(http, "advance", {"seconds": 2})  # the next slice: two steps of the walk later
    fills = (await get_order(http, order["id"]))["placements"]
    price = Decimal(str(fills[1]["price"]))
    assert Decimal(4500) * Decimal("0.998") <= price <= Decimal(4500) * Decimal("1.002")


@pytest.mark.asyncio
async def test_price_reads_json_numbers_and_strings_exactly(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    number = await http.post(
        "/_sandbox/price",
        content=b'{"pair": "SOL-USDT", "price": 123.45678}',
        headers={"content-type": "application/json"},
    )
    assert number.json()["price"] == "123.457"  # the feed's tick: six significant digits
    assert sandbox.price("SOL-USDT") == Decimal("123.457")
    exact = await control(http, "price", {"pair": "SOL-USDT", "price": "0.1"})
    assert exact.json()["price"] == "0.1"
    assert sandbox.price("SOL-USDT") == Decimal("0.1")  # not 0.1000000000000000055...


@pytest.mark.asyncio
async def test_price_of_a_cross_pair_and_a_perp(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    cross = await control(http, "price", {"pair": "ETH-BTC", "price": "0.05"})
    assert cross.json()["price"] == "0.05"
    assert sandbox.price("ETH-BTC") == Decimal("0.05")
    assert sandbox.price("ETH-USDT") == Decimal(3000)  # 0.05 x BTC's 60000
    assert sandbox.price("BTC-USDT") == Decimal(60000)  # the quote stays

    perp = await control(http, "price", {"pair": "SOL:PERP-USDT", "price": 200})
    assert perp.status_code == 200
    assert sandbox.price("SOL-USDT") == Decimal(200)  # the base token moved
    assert Decimal(perp.json()["price"]) == sandbox.price("SOL:PERP-USDT")


def test_set_price_in_python() -> None:
    sandbox = Sandbox()
    assert sandbox.set_price("ETH-USDT", "2500.5") == Decimal("2500.5")
    assert sandbox.price("ETH-USDT") == Decimal("2500.5")
    sandbox.set_token_price("ETH", 2000)  # the old way: a token's USD price
    assert sandbox.price("ETH-USDT") == Decimal(2000)
    for pair, price in [("ETHUSDT", 1), ("USDC-USDT", 1), ("ETH-USDT", 0), ("ETH-USDT", "1e30")]:
        with pytest.raises(ValueError):
            sandbox.set_price(pair, price)
    assert sandbox.price("ETH-USDT") == Decimal(2000)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"price": "1"}, {"pair": ["is required"]}),
        ({"pair": "ETH-USDT"}, {"price": ["is required"]}),
        ({"pair": "ETHUSDT", "price": "1"}, {"pair": ["must be a pair such as 'ETH-USDT'"]}),
        ({"pair": "<b>-USDT", "price": "1"}, {"pair": ["must be a pair such as 'ETH-USDT'"]}),
        ({"pair": 7, "price": "1"}, {"pair": ["must be a pair such as 'ETH-USDT'"]}),
        ({"pair": "USDC-USDT", "price": "1"}, {"pair": ["USDC is a stablecoin: its price is 1"]}),
        ({"pair": "ETH-USDT", "price": "0"}, {"price": ["must be > 0 and below 1E+30"]}),
        ({"pair": "ETH-USDT", "price": -5}, {"price": ["must be > 0 and below 1E+30"]}),
        ({"pair": "ETH-USDT", "price": "1e30"}, {"price": ["must be > 0 and below 1E+30"]}),
        ({"pair": "ETH-USDT", "price": "abc"}, {"price": ["not a decimal number: 'abc'"]}),
        ({"pair": "ETH-USDT", "price": "NaN"}, {"price": ["not a decimal number: 'NaN'"]}),
        ({"pair": "ETH-USDT", "price": True}, {"price": ["must be a number or a string of one"]}),
        ({"pair": "ETH-USDT", "price": None}, {"price": ["must be a number or a string of one"]}),
        ({"pair": "ETH-USDT", "price": "1", "token": "BTC"}, {"token": ["unknown field"]}),
        (
            {"pair": "x", "price": "x"},
            {"pair": ["must be a pair such as 'ETH-USDT'"], "price": ["not a decimal number: 'x'"]},
        ),
    ],
)
async def test_price_refuses_bad_bodies(
    sandbox: Sandbox, http: httpx.AsyncClient, body: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    reply = await control(http, "price", body)
    assert reply.status_code == 400
    got = reply.json()
    assert sorted(got) == sorted(errors)
    for field, messages in errors.items():
        assert len(got[field]) == 1
        assert got[field][0].startswith(messages[0]), got
    assert sandbox.price("ETH-USDT") == Decimal(3000)


# --------------------------------------------------------------------------- faults


@pytest.mark.asyncio
async def test_faults_fail_the_next_api_call_then_stop(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    reply = await control(
        http,
        "faults",
        {"fail_next": {"count": 1, "status": 503, "headers": {"Retry-After": "1"}}},
    )
    assert reply.status_code == 200
    assert reply.json() == {
        **NO_FAULTS,
        "fail_next": [
            {
                "count": 1,
                "status": 503,
                "body": {"detail": "sandbox fault: HTTP 503"},
                "headers": {"Retry-After": "1"},
                "content_type": "application/json",
                "method": None,
                "path": None,
                "after": False,
            }
        ],
    }
    # Control requests never take a fault: a script can always steer.
    assert (await http.get("/_sandbox/state")).status_code == 200
    failed = await http.get("/api/balances/")
    assert (failed.status_code, failed.headers["retry-after"]) == (503, "1")
    assert failed.json() == {"detail": "sandbox fault: HTTP 503"}
    assert (await http.get("/api/balances/")).status_code == 200
    assert (await http.get("/_sandbox/faults")).json() == NO_FAULTS


@pytest.mark.asyncio
async def test_faults_narrowed_lost_replies_and_text_bodies(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    await control(
        http,
        "faults",
        {
            "fail_next": {
                "count": 2,
                "status": 502,
                "method": "post",
                "path": "api/orders/",
                "after": True,
                "body": "<html>bad gateway</html>",
            }
        },
    )
    assert (await http.get("/api/balances/")).status_code == 200  # not a match
    lost = await http.post("/api/orders/", json=order_body(notes="one"))
    assert lost.status_code == 502
    assert lost.headers["content-type"] == "text/html"
    assert lost.text == "<html>bad gateway</html>"
    assert len(sandbox.engine.orders) == 1  # it was placed all the same
    faults = (await http.get("/_sandbox/faults")).json()
    assert faults["fail_next"][0]["count"] == 1
    assert faults["fail_next"][0]["method"] == "POST"


@pytest.mark.asyncio
async def test_faults_latency_and_clear(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    reply = await control(http, "faults", {"latency": 0.25, "fail_next": {"status": 500}})
    assert reply.json()["latency"] == 0.25
    assert sandbox.faults.latency == 0.25
    assert [r.status for r in sandbox.faults.rules] == [500]
    # clear drops everything first, then sets what the same body gives.
    cleared = await control(http, "faults", {"clear": True, "fail_next": {"status": 429}})
    assert cleared.json()["latency"] == 0.0
    assert [r["status"] for r in cleared.json()["fail_next"]] == [429]
    assert (await control(http, "faults", {"clear": True})).json() == NO_FAULTS
    assert (await http.get("/api/balances/")).status_code == 200


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "non_field_errors"),
        ({"fail_next": 3}, "fail_next"),
        ({"fail_next": {"count": 0}}, "fail_next.count"),
        ({"fail_next": {"count": True}}, "fail_next.count"),
        ({"fail_next": {"count": 1.5}}, "fail_next.count"),
        ({"fail_next": {"status": 99}}, "fail_next.status"),
        ({"fail_next": {"status": 600}}, "fail_next.status"),
        ({"fail_next": {"status": "503"}}, "fail_next.status"),
        ({"fail_next": {"headers": ["Retry-After"]}}, "fail_next.headers"),
        ({"fail_next": {"headers": {"Retry After": "1"}}}, "fail_next.headers"),
        ({"fail_next": {"headers": {"X-A": "1\r\nSet-Cookie: a=b"}}}, "fail_next.headers"),
        ({"fail_next": {"headers": {"X-A": 1}}}, "fail_next.headers"),
        ({"fail_next": {"headers": {"Content-Length": "0"}}}, "fail_next.headers"),
        ({"fail_next": {"content_type": "text/html\n"}}, "fail_next.content_type"),
        ({"fail_next": {"method": "FETCH"}}, "fail_next.method"),
        ({"fail_next": {"path": ""}}, "fail_next.path"),
        ({"fail_next": {"path": "x" * 1001}}, "fail_next.path"),
        ({"fail_next": {"headers": {f"X-{i}": "1" for i in range(51)}}}, "fail_next.headers"),
        ({"fail_next": {"after": "yes"}}, "fail_next.after"),
        ({"fail_next": {"statuss": 500}}, "fail_next.statuss"),
        ({"latency": -1}, "latency"),
        ({"latency": 61}, "latency"),
        ({"latency": "1"}, "latency"),
        ({"clear": "yes"}, "clear"),
        ({"stream_delay": -1}, "stream_delay"),
        ({"stream_delay": 86_401}, "stream_delay"),
        ({"stream_delay": "2"}, "stream_delay"),
        ({"stream_refuse": 101}, "stream_refuse"),
        ({"stream_refuse": 600}, "stream_refuse"),
        ({"stream_refuse": "503"}, "stream_refuse"),
        ({"stream_refuse": True}, "stream_refuse"),
        ({"stream_refuse": 503.5}, "stream_refuse"),
        ({"fail": {}}, "fail"),
        # One bad field and nothing is set, not even the good ones.
        ({"fail_next": {"status": 503}, "latency": -1}, "latency"),
    ],
)
async def test_faults_refuse_bad_bodies(
    sandbox: Sandbox, http: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    reply = await control(http, "faults", body)
    assert reply.status_code == 400
    assert list(reply.json()) == [field]
    assert sandbox.faults.rules == []
    assert sandbox.faults.latency == 0
    assert (sandbox.faults.stream_delay, sandbox.faults.stream_refuse) == (0, None)


@pytest.mark.asyncio
async def test_faults_set_and_clear_the_order_streams_knobs(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    reply = await control(http, "faults", {"stream_delay": 2.5, "stream_refuse": 503})
    assert reply.json() == {**NO_FAULTS, "stream_delay": 2.5, "stream_refuse": 503}
    assert (sandbox.faults.stream_delay, sandbox.faults.stream_refuse) == (2.5, 503)
    # null takes the refusal away and leaves the rest as it is
    reply = await control(http, "faults", {"stream_refuse": None})
    assert reply.json() == {**NO_FAULTS, "stream_delay": 2.5}
    await control(http, "faults", {"stream_refuse": 404})
    assert (await control(http, "faults", {"clear": True})).json() == NO_FAULTS
    assert (sandbox.faults.stream_delay, sandbox.faults.stream_refuse) == (0, None)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": 1006}, "code"),  # 1006 is what a client reports, never sent
        ({"code": 1015}, "code"),
        ({"code": 999}, "code"),
        ({"code": 5000}, "code"),
        ({"code": "4000"}, "code"),
        ({"code": True}, "code"),
        ({"code": 4000, "reason": 5}, "reason"),
        ({"code": 4000, "reason": "x" * 124}, "reason"),  # a close frame carries 123 bytes
        ({"code": 4000, "why": "x"}, "why"),
    ],
)
async def test_streams_drop_refuses_bad_bodies(
    sandbox: Sandbox, http: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    reply = await control(http, "streams/drop", body)
    assert (reply.status_code, list(reply.json())) == (400, [field])


@pytest.mark.asyncio
async def test_streams_drop_with_no_stream_open_drops_none(http: httpx.AsyncClient) -> None:
    # The streams themselves are dropped in test_sandbox_stream.py.
    for body in (None, {}, {"code": None}, {"code": 4000, "reason": "bye"}):
        reply = await control(http, "streams/drop", body)
        assert (reply.status_code, reply.json()) == (200, {"dropped": 0})


# --------------------------------------------------------------------------- reset


@pytest.mark.asyncio
async def test_reset_goes_back_to_the_start(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    fresh = await http.get("/api/balances/")
    ids = {name: a.id for name, a in sandbox.engine.accounts.items()}
    first_order = await place(http)
    await control(http, "advance", {"seconds": 120})
    await control(http, "price", {"pair": "BTC-USDT", "price": 1})
    await control(http, "faults", {"latency": 1, "fail_next": {"status": 500, "path": "nowhere"}})
    sandbox.add_account("later", {"USDT": 5})

    reply = await http.post("/_sandbox/reset")
    assert (reply.status_code, reply.json()) == (
        200,
        {"reset": True, "now": "2026-01-01T00:00:00.000000Z"},
    )
    assert sandbox.now() == DEFAULT_START
    assert (sandbox.faults.rules, sandbox.faults.latency) == ([], 0.0)
    assert sandbox.exchanges == []
    assert {name: a.id for name, a in sandbox.engine.accounts.items()} == ids
    listed = (await http.get("/api/orders/")).json()
    assert (listed["count"], listed["orders"]) == (0, [])
    assert (await http.get("/api/balances/")).json() == fresh.json()
    assert sandbox.price("BTC-USDT") == Decimal(60000)
    # Same seed, same clock: the same ids, prices and fills as a sandbox never used.
    again = await place(http)
    assert again["id"] == first_order["id"]
    await control(http, "advance", {"seconds": 120})
    replay = Sandbox(token=TOKEN)
    async with httpx.AsyncClient(
        transport=replay.transport(), base_url=BASE, headers=AUTH
    ) as other:
        await place(other)
        await control(other, "advance", {"seconds": 120})
        expected = await get_order(other, again["id"])
    assert (await get_order(http, again["id"]))["placements"] == expected["placements"]


@pytest.mark.asyncio
async def test_reset_takes_an_empty_body_or_an_empty_object(http: httpx.AsyncClient) -> None:
    assert (await control(http, "reset", {})).status_code == 200
    bad = await control(http, "reset", {"keep_orders": True})
    assert (bad.status_code, bad.json()) == (400, {"keep_orders": ["unknown field"]})


def test_reset_restores_the_accounts_as_first_given() -> None:
    accounts: dict[str, tuple[str, dict[str, Any]]] = {"a": ("Mock", {"USDT": "100.5"})}
    sandbox = Sandbox(accounts=accounts)
    accounts["a"][1]["USDT"] = 0  # the caller's dict changing later does not count
    sandbox.engine.accounts["a"].tokens["USDT"] = Decimal(7)
    sandbox.reset()
    assert sandbox.engine.accounts["a"].tokens == {"USDT": Decimal("100.5")}


def test_reset_keeps_a_real_time_clock_running() -> None:
    sandbox = Sandbox(speed=60)
    sandbox.advance(3600)
    before = sandbox.now()
    sandbox.reset()
    assert sandbox.now() >= before
    assert sandbox.engine.orders == {}


# --------------------------------------------------------------------------- exchanges and state


@pytest.mark.asyncio
async def test_exchanges_lists_the_latest_without_secrets(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    order = await place(http, notes="hello")
    await http.get("/api/balances/", params={"account_names": "mock", "token": TOKEN})
    await control(http, "faults", {"fail_next": {"status": 503, "body": "down"}})
    await http.get(f"/api/order/{order['id']}")
    await http.get("/_sandbox/state")  # control requests are not recorded

    reply = await http.get("/_sandbox/exchanges")
    assert reply.status_code == 200
    assert TOKEN not in reply.text  # neither the Authorization header nor the query's token
    assert "authorization" not in reply.text.lower()
    placed, balances, failed = reply.json()
    assert placed["method"] == "POST"
    assert placed["path"] == "/api/orders/"
    assert (placed["query"], placed["status"]) == ("", 201)
    assert placed["request"] == order_body(notes="hello")
    assert placed["reply"]["id"] == order["id"]
    assert placed["at"] == "2026-01-01T00:00:00.000000Z"
    assert balances["query"] == "account_names=mock&token=[redacted]"
    assert balances["request"] is None
    assert (failed["status"], failed["reply"]) == (503, "down")  # not JSON: as text
    assert len(sandbox.exchanges) == 3

    last = await http.get("/_sandbox/exchanges", params={"limit": 1})
    assert [e["path"] for e in last.json()] == [f"/api/order/{order['id']}"]


@pytest.mark.asyncio
async def test_exchanges_mask_the_token_however_the_query_spells_it(
    http: httpx.AsyncClient,
) -> None:
    # The server reads tok%65n as token; any parameter holding the token is masked too.
    await http.get(f"/api/balances/?tok%65n={TOKEN}&desk=a{TOKEN}b&account_names=mock")
    reply = await http.get("/_sandbox/exchanges")
    assert TOKEN not in reply.text
    assert reply.json()[-1]["query"] == "token=[redacted]&desk=[redacted]&account_names=mock"


@pytest.mark.asyncio
async def test_state_keeps_exact_arithmetic_whatever_the_callers_context(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    sandbox.set_price("BTC-USDT", "9e23")  # a price near the sandbox's limit of 1e30
    order = await place(http, pair="BTC-USDT", base_asset_qty="0.3")
    sandbox.advance(30)
    with decimal.localcontext() as ctx:
        ctx.prec = 6  # the caller's own context must not reach the venue's arithmetic
        reply = await http.get("/_sandbox/state")
    assert reply.status_code == 200, reply.text
    (row,) = [o for o in reply.json()["orders"] if o["id"] == order["id"]]
    assert Decimal(row["executed_qty"]) * sandbox.price("BTC-USDT") > 0


@pytest.mark.asyncio
async def test_state_carries_the_newest_orders_only(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    ids = [(await place(http, custom_order_id=f"c{i}"))["id"] for i in range(101)]
    state = await http.get("/_sandbox/state")
    assert state.headers["cache-control"] == "no-store"  # always the venue as it is now
    assert state.json()["order_count"] == 101
    assert [o["id"] for o in state.json()["orders"]] == ids[:0:-1]  # 100, newest first


@pytest.mark.asyncio
async def test_exchanges_show_a_body_that_is_not_json_as_text(http: httpx.AsyncClient) -> None:
    refused = await http.post("/api/orders/", data={"pair": "ETH-USDT"})
    assert refused.status_code == 415
    (exchange,) = (await http.get("/_sandbox/exchanges")).json()
    assert exchange["request"] == "pair=ETH-USDT"


@pytest.mark.asyncio
async def test_a_control_body_over_a_mebibyte_is_refused(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    big = b'{"seconds": 1, "pad": "' + b"x" * (1 << 20) + b'"}'
    reply = await http.post(
        "/_sandbox/advance", content=big, headers={"content-type": "application/json"}
    )
    assert (reply.status_code, reply.json()) == (413, {"detail": "Request body too large."})
    assert sandbox.now() == DEFAULT_START


@pytest.mark.asyncio
async def test_state_names_a_clock_of_its_own() -> None:
    class Frozen:
        def now(self) -> dt.datetime:
            return DEFAULT_START

    sandbox = Sandbox(token=TOKEN, clock=Frozen())
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url=BASE, headers=AUTH
    ) as http:
        state = (await http.get("/_sandbox/state")).json()
    assert state["clock"] == {"mode": "Frozen", "speed": None}


@pytest.mark.asyncio
@pytest.mark.parametrize("limit", ["0", "-1", "abc", "10001", "1.5"])
async def test_exchanges_refuses_a_bad_limit(http: httpx.AsyncClient, limit: str) -> None:
    reply = await http.get("/_sandbox/exchanges", params={"limit": limit})
    assert reply.status_code == 400
    assert reply.json() == {"limit": ["must be a whole number from 1 to 10000"]}


@pytest.mark.asyncio
async def test_state_has_time_orders_balances_and_exchanges(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    first = await place(http, notes="<b>bold</b>")
    second = await place(http, pair="BTC-USDT", side="sell", base_asset_qty="0.5", duration=120)
    await control(http, "advance", {"seconds": 60})
    for _ in range(25):
        await http.get("/api/balances/")

    state = (await http.get("/_sandbox/state")).json()
    assert state["now"] == "2026-01-01T00:01:00.000000Z"
    assert state["clock"] == {"mode": "virtual", "speed": None}
    assert state["order_count"] == 2
    newest, oldest = state["orders"]  # newest first
    assert (newest["id"], oldest["id"]) == (second["id"], first["id"])
    assert oldest == {
        "id": first["id"],
        "account": "mock",
        "pair": "ETH-USDT",
        "side": "buy",
        "strategy": "TWAP",
        "status": "COMPLETE",
        "target": {"unit": "base", "amount": "1"},
        "pct_filled": "100.00",
        "executed_qty": oldest["executed_qty"],
        "executed_notional": oldest["executed_notional"],
        "executed_price": oldest["executed_price"],
        "created_at": "2026-01-01T00:00:00.000000Z",
        "parent_order": None,
        "notes": "<b>bold</b>",
    }
    assert Decimal(oldest["executed_qty"]) == 1  # decimals as exact strings
    assert (newest["status"], newest["pct_filled"]) == ("ACTIVE", "50.00")
    assert Decimal(newest["executed_qty"]) == Decimal("0.25")
    mock = state["balances"]["mock"]
    assert mock["exchange"] == "Mock"
    assert Decimal(mock["tokens"]["ETH"]) == 101
    assert Decimal(mock["tokens"]["BTC"]) == Decimal("9.75")
    assert state["balances"]["test"]["tokens"] == {"USDT": "250000", "BTC": "3"}
    assert len(state["exchanges"]) == 20  # the latest 20
    assert state["faults"] == NO_FAULTS
    assert state["streams"] == 0  # no order stream open


@pytest.mark.asyncio
async def test_the_dashboard_page_is_static_and_locked_down(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    await place(http, notes="<script>alert(1)</script>")
    page = await http.get("/_sandbox/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in page.text
    assert page.text.count("<script") == 1  # the page's own, and nothing of the venue's
    assert "alert(1)" not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"  # the URL carries the token
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    other = await http.get("/_sandbox/")
    assert other.headers["content-security-policy"] != policy  # a nonce per reply


# --------------------------------------------------------------------------- over TCP


def test_control_plane_over_a_real_server() -> None:
    with (
        SandboxServer(Sandbox(token=TOKEN)) as server,
        httpx.Client(headers=server.headers, timeout=LIMIT) as http,
    ):
        assert server.url.startswith("http://127.0.0.1:")
        placed = http.post(server.url + "/api/orders/", json=order_body())
        assert placed.status_code == 201
        moved = http.post(server.control_url + "/advance", json={"seconds": 60})
        assert moved.json()["now"] == "2026-01-01T00:01:00.000000Z"
        done = http.get(f"{server.url}/api/order/{placed.json()['id']}").json()
        assert done["status"] == "COMPLETE"
        page = httpx.get(server.dashboard_url, timeout=LIMIT)
        assert (page.status_code, "TaaS sandbox" in page.text) == (200, True)
        assert http.post(server.control_url + "/reset").status_code == 200
        assert http.get(server.url + "/api/orders/").json()["count"] == 0
    with pytest.raises(RuntimeError, match="not running"):
        server.url  # noqa: B018


def test_a_server_starts_once() -> None:
    with SandboxServer(Sandbox()) as server:
        with pytest.raises(RuntimeError, match="running already"):
            server.start()
        assert repr(server) == f"<SandboxServer {server.root}>"
    assert repr(server) == "<SandboxServer stopped>"
    server.stop()  # stopping a stopped server does nothing


@pytest.fixture
def cli_server() -> Iterator[list[str]]:
    """``python -m taas_async.sandbox`` at 600x; yields the lines it printed at start."""
    proc = subprocess.Popen(
        [*SERVER, "--port", "0", "--speed", "600", "--token", "tok/en?&", "--base-path", "/taas"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stdout or ()], daemon=True
    )
    reader.start()
    try:
        yield [lines.get(timeout=LIMIT) for _ in range(4)]
    finally:
        proc.terminate()
        proc.wait(LIMIT)
        reader.join(LIMIT)
        proc.stdout.close()


def test_the_server_prints_the_dashboard_url(cli_server: list[str]) -> None:
    api, _, _, dashboard = cli_server
    root = api.removeprefix("TaaS sandbox on ").removesuffix("/taas")
    # The token is quoted for a URL; the dashboard is at the root, not under /taas.
    assert dashboard == f"dashboard: {root}/_sandbox/?token=tok%2Fen%3F%26"
    url = dashboard.removeprefix("dashboard: ")
    with httpx.Client(timeout=LIMIT) as http:
        assert http.get(url).status_code == 200
        state = http.get(url.replace("/?token", "/state?token")).json()
        assert state["clock"] == {"mode": "real-time", "speed": 600.0}
        moved = http.post(
            url.replace("/?token", "/advance?token"), content=json.dumps({"seconds": 86_400})
        )
        assert moved.status_code == 415  # JSON only, with its content type
        moved = http.post(url.replace("/?token", "/advance?token"), json={"seconds": 86_400})
        assert at(moved.json()["now"]) - at(state["now"]) >= dt.timedelta(days=1)
