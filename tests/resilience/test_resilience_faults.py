"""Retries and order reconciliation against real network faults.

Every test talks over a real socket to :class:`~tests.faultserver.FaultServer`
(a loopback HTTP/1.1 server that resets, stalls, truncates or mislabels
chosen replies) and checks both what the SDK returned or raised and how many
requests the *server* received. Order tests put the sandbox app behind the
server, so "did the order land, and how many times" is read from the venue
itself.

Which SDK mutation each group catches:

- reads: retrying a bad 2xx body (counts go up), not retrying a
  reset/5xx/timeout (error instead of a result), ignoring Retry-After
  (the measured wait is shorter than asked), sleeping through a too-long
  Retry-After (the test hits its ``fail_after``);
- orders: resending without a lookup after an ambiguous failure (two orders
  on the venue), raising instead of reconciling (OrderOutcomeUnknownError
  instead of the order), reconciling instead of resending a request that
  provably never left (refused: an OrderOutcomeUnknownError or lookups),
  resending without the same custom_order_id (the lookup misses, two orders),
  resending after a failed lookup (two POSTs).

Every test runs on asyncio and trio.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import anyio
import httpx
import pytest
from faultserver import Fault, FaultServer, refused_url

from taas_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Backoff,
    ClientClosedError,
    H11PoolTransport,
    InternalServerError,
    Order,
    OrderOutcomeUnknownError,
    PlaceOrderRequest,
    RateLimitError,
    ResponseDecodeError,
)
from taas_async.sandbox import Sandbox

pytestmark = pytest.mark.anyio

ORDERS = "/api/orders/"
BALANCES = "/api/balances/"
HTML = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"


def client_for(
    url: str, token: str, *, max_retries: int = 2, timeout: Any = 5.0, **kwargs: Any
) -> AsyncClient:
    if "http_client" not in kwargs:  # an injected client brings its own timeout
        kwargs["timeout"] = timeout
    return AsyncClient(url, token, max_retries=max_retries, backoff=Backoff.none(), **kwargs)


def order_request(custom_order_id: str | None = "res-1") -> PlaceOrderRequest:
    return PlaceOrderRequest(
        accounts=["mock"],
        pair="ETH-USDT",
        side="buy",
        duration=60,
        base_asset_qty="0.01",
        strategy="TWAP",
        custom_order_id=custom_order_id,
    )


def orders_on_venue(sandbox: Sandbox, custom_order_id: str) -> list[Any]:
    return [
        o for o in sandbox.engine.orders.values() if o.request.custom_order_id == custom_order_id
    ]


def posts(server: FaultServer) -> list[bytes]:
    """Bodies of the order POSTs the server received."""
    return [body for m, target, body in server.requests if m == "POST" and target == ORDERS]


def lookups(server: FaultServer) -> list[str]:
    """Targets of the GET /api/orders/ requests (reconciliation lookups) the server received."""
    return [t for m, t, _ in server.requests if m == "GET" and t.startswith(ORDERS)]


def sent_custom_order_ids(bodies: list[bytes]) -> list[str]:
    return [json.loads(body)["custom_order_id"] for body in bodies]


class Recorder:
    """Every request the SDK hands to its own transport (an httpx request hook).

    The SDK's transport is kept as is (wrapping it would make the SDK treat
    every connect error as possibly sent).
    """

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.sent.append((request.method, request.url.path, request.content))

    def http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=H11PoolTransport(), timeout=5.0, event_hooks={"request": [self]}
        )


# ---------------------------------------------------------------------- connection refused


async def test_refused_read_is_retried_then_raises_never_reached() -> None:
    recorder = Recorder()
    async with (
        recorder.http_client() as http,
        client_for(refused_url(), "tok", http_client=http) as client,
    ):
        with pytest.raises(APIConnectionError) as info:
            await client.get_balances()
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.may_have_reached_server is False
    assert [m for m, _, _ in recorder.sent] == ["GET"] * 3  # max_retries=2: 3 attempts


async def test_refused_order_is_resent_as_is_never_reconciled() -> None:
    # Provably never left: resending is safe, and there is nothing to look up.
    recorder = Recorder()
    async with (
        recorder.http_client() as http,
        client_for(refused_url(), "tok", http_client=http) as client,
    ):
        with pytest.raises(APIConnectionError) as info:
            await client.place_order(order_request(None))
    assert not isinstance(info.value, OrderOutcomeUnknownError)
    assert info.value.may_have_reached_server is False
    assert [(m, p) for m, p, _ in recorder.sent] == [("POST", ORDERS)] * 3  # no lookup GETs
    ids = sent_custom_order_ids([body for _, _, body in recorder.sent])
    assert len(set(ids)) == 1  # one generated id for the whole call
    assert ids[0].startswith("taas-")
    assert len(ids[0]) == 37


# ---------------------------------------------------------------------- reads


@pytest.mark.parametrize("kind", ["refuse", "reset_before_reply", "reset_mid_body"])
async def test_read_reset_is_retried(sandbox: Sandbox, server: FaultServer, kind: str) -> None:
    server.plan(Fault(kind, method="GET", path=BALANCES))
    async with client_for(server.url, sandbox.token) as client:
        balances = await client.get_balances()
    assert "mock" in balances
    server.wait_idle(5)
    assert server.faults_applied == [kind]
    # a refused connection never delivers its request; the others were received twice
    assert server.count("GET", BALANCES) == (1 if kind == "refuse" else 2)


async def test_read_reset_every_attempt_raises_after_max_retries(
    sandbox: Sandbox, server: FaultServer
) -> None:
    server.plan(*[Fault("reset_before_reply", method="GET", path=BALANCES)] * 3)
    async with client_for(server.url, sandbox.token, max_retries=2) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.get_balances()
        server.wait_idle(5)
        assert server.count("GET", BALANCES) == 3
        assert info.value.may_have_reached_server is True
        assert (await client.get_balances(max_retries=0))["mock"]  # the client still works
    assert server.count("GET", BALANCES) == 4


async def test_read_stall_past_read_timeout_is_retried(
    sandbox: Sandbox, server: FaultServer
) -> None:
    server.plan(Fault("stall", seconds=2.0, method="GET", path=BALANCES))
    async with client_for(server.url, sandbox.token, timeout=httpx.Timeout(0.5)) as client:
        balances = await client.get_balances()
    assert "mock" in balances
    server.wait_idle(5)  # the stalled request stops counting once the client hung up
    assert server.count("GET", BALANCES) == 2
    assert server.faults_applied == ["stall"]


async def test_read_stalled_on_every_attempt_raises_timeout(
    sandbox: Sandbox, server: FaultServer
) -> None:
    server.plan(*[Fault("stall", seconds=2.0, method="GET", path=BALANCES)] * 2)
    async with client_for(
        server.url, sandbox.token, max_retries=1, timeout=httpx.Timeout(0.5)
    ) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.get_balances()
    assert info.value.may_have_reached_server is True
    server.wait_idle(5)
    assert server.count("GET", BALANCES) == 2
    assert server.in_flight == 0


async def test_429_retry_after_seconds_is_waited(sandbox: Sandbox, server: FaultServer) -> None:
    server.plan(
        Fault("status", status=429, headers={"Retry-After": "1"}, method="GET", path=BALANCES)
    )
    async with client_for(server.url, sandbox.token) as client:
        start = anyio.current_time()
        balances = await client.get_balances()
        elapsed = anyio.current_time() - start
    assert "mock" in balances
    assert elapsed >= 0.9  # Backoff.none(): only Retry-After can explain the wait
    assert server.count("GET", BALANCES) == 2


async def test_429_retry_after_http_date_is_waited(sandbox: Sandbox, server: FaultServer) -> None:
    # An HTTP date has whole seconds: 2.x s ahead is at least 1 s ahead once truncated.
    when = email.utils.formatdate(time.time() + 2.2, usegmt=True)
    server.plan(
        Fault("status", status=429, headers={"Retry-After": when}, method="GET", path=BALANCES)
    )
    async with client_for(server.url, sandbox.token) as client:
        start = anyio.current_time()
        balances = await client.get_balances()
        elapsed = anyio.current_time() - start
    assert "mock" in balances
    assert elapsed >= 0.8
    assert server.count("GET", BALANCES) == 2


@pytest.mark.parametrize("retry_after", ["60", "date"])
async def test_429_retry_after_above_the_cap_raises_at_once(
    sandbox: Sandbox, server: FaultServer, retry_after: str
) -> None:
    value = email.utils.formatdate(time.time() + 60, usegmt=True) if retry_after == "date" else "60"
    server.plan(
        Fault("status", status=429, headers={"Retry-After": value}, method="GET", path=BALANCES)
    )
    backoff = Backoff(initial=0.0, maximum=0.0, jitter=False, max_retry_after=5.0)
    async with AsyncClient(server.url, sandbox.token, max_retries=3, backoff=backoff) as client:
        with anyio.fail_after(10):  # sleeping the 60 s would end the test here
            with pytest.raises(RateLimitError) as info:
                await client.get_balances()
    assert info.value.status_code == 429
    assert info.value.retry_after is not None
    assert info.value.retry_after > 5.0
    assert server.count("GET", BALANCES) == 1


@pytest.mark.parametrize("status", [502, 503])
async def test_read_gateway_html_error_is_retried(
    sandbox: Sandbox, server: FaultServer, status: int
) -> None:
    server.plan(Fault("status", status=status, body=HTML, method="GET", path=BALANCES))
    async with client_for(server.url, sandbox.token) as client:
        assert "mock" in await client.get_balances()
    assert server.count("GET", BALANCES) == 2


@pytest.mark.parametrize(("status", "attempts"), [(500, 3), (502, 3), (503, 3), (501, 3)])
async def test_read_html_error_keeps_the_raw_body(
    sandbox: Sandbox, server: FaultServer, status: int, attempts: int
) -> None:
    server.plan(*[Fault("status", status=status, body=HTML, method="GET", path=BALANCES)] * 3)
    async with client_for(server.url, sandbox.token, max_retries=2) as client:
        with pytest.raises(InternalServerError) as info:
            await client.get_balances()
    assert info.value.status_code == status
    assert info.value.text == HTML
    assert info.value.body == HTML  # not JSON: the raw text
    assert server.count("GET", BALANCES) == attempts  # every 5xx is retried, as peers do


@pytest.mark.parametrize("kind", ["truncated_json", "wrong_content_type", "html_200"])
async def test_read_bad_2xx_body_raises_decode_error_not_retried(
    sandbox: Sandbox, server: FaultServer, kind: str
) -> None:
    if kind == "html_200":  # a proxy's page with a 200
        fault = Fault("status", status=200, body=HTML, method="GET", path=BALANCES)
    else:
        fault = Fault(kind, method="GET", path=BALANCES)  # type: ignore[arg-type]
    server.plan(fault)
    async with client_for(server.url, sandbox.token) as client:
        with pytest.raises(ResponseDecodeError) as info:
            await client.get_balances()
        good = await client.get_balances()
    assert server.count("GET", BALANCES) == 2  # the failed call once, the good one once
    text = info.value.text
    if kind == "html_200":
        assert text == HTML
    else:
        assert text
        assert '"mock"' in text  # the raw reply the app gave (or its first half)
        assert "mock" in good


# ---------------------------------------------------------------------- orders


AMBIGUOUS_LANDED = [
    Fault("reset_after_forward", method="POST", path=ORDERS),
    Fault("reset_mid_body", method="POST", path=ORDERS),
    Fault("stall", seconds=2.0, method="POST", path=ORDERS),
    Fault("status_after_forward", status=500, body=HTML, method="POST", path=ORDERS),
    Fault("status_after_forward", status=502, body=HTML, method="POST", path=ORDERS),
    Fault("status_after_forward", status=503, body=HTML, method="POST", path=ORDERS),
    Fault("status_after_forward", status=504, body=HTML, method="POST", path=ORDERS),
    Fault("truncated_json", method="POST", path=ORDERS),
    Fault("wrong_content_type", method="POST", path=ORDERS),
]


@pytest.mark.parametrize(
    "fault",
    AMBIGUOUS_LANDED,
    ids=lambda f: f"{f.kind}-{f.status}" if "status" in f.kind else f.kind,
)
async def test_order_that_landed_is_reconciled_not_resent(
    sandbox: Sandbox, server: FaultServer, fault: Fault
) -> None:
    server.plan(fault)
    async with client_for(server.url, sandbox.token, timeout=httpx.Timeout(0.5)) as client:
        order = await client.place_order(order_request("landed-1"))
    server.wait_idle(5)
    assert type(order) is Order
    on_venue = orders_on_venue(sandbox, "landed-1")
    assert len(on_venue) == 1
    assert order.id == on_venue[0].id
    assert order.custom_order_id == "landed-1"
    assert len(posts(server)) == 1  # never resent
    found = lookups(server)
    assert len(found) == 1
    assert "custom_order_ids=landed-1" in found[0]


@pytest.mark.parametrize(
    "fault",
    [
        Fault("reset_before_reply", method="POST", path=ORDERS),
        Fault("status", status=502, body=HTML, method="POST", path=ORDERS),
        Fault("status", status=500, body=HTML, method="POST", path=ORDERS),
    ],
    ids=["reset_before_reply", "status-502", "status-500"],
)
async def test_order_that_never_landed_is_looked_up_then_resent(
    sandbox: Sandbox, server: FaultServer, fault: Fault
) -> None:
    server.plan(fault)
    request = order_request(None)  # the SDK generates the id
    async with client_for(server.url, sandbox.token) as client:
        order = await client.place_order(request)
    server.wait_idle(5)
    assert request.custom_order_id is None  # the caller's request is not mutated
    sent = sent_custom_order_ids(posts(server))
    assert len(sent) == 2
    assert sent[0] == sent[1] == order.custom_order_id  # the resend reuses the id
    assert order.custom_order_id is not None
    assert order.custom_order_id.startswith("taas-")
    on_venue = orders_on_venue(sandbox, order.custom_order_id)
    assert [o.id for o in on_venue] == [order.id]
    assert len(sandbox.engine.orders) == 1
    found = lookups(server)
    assert len(found) == 1  # looked up before the resend
    assert f"custom_order_ids={order.custom_order_id}" in found[0]
    # the lookup came between the two POSTs
    order_traffic = [m for m, t, _ in server.requests if t.startswith(ORDERS)]
    assert order_traffic == ["POST", "GET", "POST"]


async def test_order_429_is_resent_without_lookup(sandbox: Sandbox, server: FaultServer) -> None:
    server.plan(
        Fault("status", status=429, headers={"Retry-After": "0"}, method="POST", path=ORDERS)
    )
    async with client_for(server.url, sandbox.token) as client:
        order = await client.place_order(order_request("rate-1"))
    server.wait_idle(5)
    assert [o.id for o in orders_on_venue(sandbox, "rate-1")] == [order.id]
    assert len(posts(server)) == 2
    assert lookups(server) == []


async def test_failed_lookup_gives_outcome_unknown_never_a_resend(
    sandbox: Sandbox, server: FaultServer
) -> None:
    server.plan(Fault("reset_after_forward", method="POST", path=ORDERS))
    # every lookup fails, however often it is tried
    server.plan(*[Fault("status", status=503, body=HTML, method="GET", path=ORDERS)] * 20)
    async with client_for(server.url, sandbox.token) as client:
        with pytest.raises(OrderOutcomeUnknownError) as info:
            await client.place_order(order_request("lost-1"))
    server.wait_idle(5)
    assert info.value.custom_order_id == "lost-1"
    assert info.value.request.custom_order_id == "lost-1"
    assert len(posts(server)) == 1  # no blind resend
    assert len(lookups(server)) >= 1
    assert len(orders_on_venue(sandbox, "lost-1")) == 1  # it did land


async def test_ambiguous_on_every_attempt_gives_outcome_unknown(
    sandbox: Sandbox, server: FaultServer
) -> None:
    server.plan(*[Fault("status", status=502, body=HTML, method="POST", path=ORDERS)] * 3)
    async with client_for(server.url, sandbox.token, max_retries=2) as client:
        with pytest.raises(OrderOutcomeUnknownError) as info:
            await client.place_order(order_request("never-1"))
    server.wait_idle(5)
    assert info.value.custom_order_id == "never-1"
    assert len(posts(server)) == 3  # max_retries=2: three attempts of the call itself
    assert len(lookups(server)) == 3  # one lookup after each ambiguous attempt
    assert orders_on_venue(sandbox, "never-1") == []


async def test_4xx_on_resend_after_ambiguous_attempt_is_reconciled(
    sandbox: Sandbox, server: FaultServer
) -> None:
    # 1st POST lands but its reply is lost; the lookup misses it (a lagging
    # replica); the resend is refused as a duplicate; the second lookup finds it.
    empty = json.dumps({"orders": [], "count": 0, "num_pages": 1})
    server.plan(
        Fault("status_after_forward", status=502, body=HTML, method="POST", path=ORDERS),
        Fault(
            "status",
            status=200,
            body=empty,
            content_type="application/json",
            method="GET",
            path=ORDERS,
        ),
        Fault(
            "status",
            status=400,
            body=json.dumps({"custom_order_id": ["an order with this id exists"]}),
            content_type="application/json",
            method="POST",
            path=ORDERS,
        ),
    )
    async with client_for(server.url, sandbox.token, max_retries=2) as client:
        order = await client.place_order(order_request("dup-1"))
    server.wait_idle(5)
    assert [o.id for o in orders_on_venue(sandbox, "dup-1")] == [order.id]
    assert [m for m, t, _ in server.requests if t.startswith(ORDERS)] == [
        "POST",
        "GET",
        "POST",
        "GET",
    ]


async def test_calls_waiting_for_a_connection_when_the_client_closes_send_nothing(
    sandbox: Sandbox, server: FaultServer
) -> None:
    # One connection, held by a stalled request: the others wait for it in the pool.
    server.plan(Fault("stall", seconds=2.0, method="GET", path=BALANCES))
    client = client_for(server.url, sandbox.token, limits=httpx.Limits(max_connections=1))
    outcomes: dict[str, BaseException] = {}

    async def run(name: str, call: Any) -> None:
        try:
            await call
        except Exception as exc:
            outcomes[name] = exc

    async with anyio.create_task_group() as group:
        group.start_soon(run, "stalled", client.get_balances())
        for _ in range(500):  # until the stalled request holds the connection
            if server.count("GET", BALANCES):
                break
            await anyio.sleep(0.01)
        group.start_soon(run, "order", client.place_order(order_request("res-closed")))
        group.start_soon(run, "get", client.get_order("00000000-0000-0000-0000-000000000001"))
        await anyio.sleep(0.1)  # both in the pool's queue
        await client.aclose()
    for name in ("order", "get"):
        assert type(outcomes[name]) is ClientClosedError, (name, outcomes[name])
        assert "waited for a connection" in str(outcomes[name])
    assert outcomes["order"].custom_order_id == "res-closed"  # type: ignore[attr-defined]
    assert server.count("POST", ORDERS) == 0  # the order never went out
    assert orders_on_venue(sandbox, "res-closed") == []


# ---------------------------------------------------------------------- the fault server itself
# The counts above are only as good as the server's: these pin down the ones they rely on.


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


async def raw_exchange(url: str, data: bytes) -> bytes:
    """Send raw bytes, read until the server closes; RST -> BrokenResourceError."""
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    received = b""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(data)
        with anyio.fail_after(5):
            while True:
                try:
                    received += await stream.receive()
                except anyio.EndOfStream:
                    return received


async def test_faultserver_counts_a_request_abandoned_mid_body() -> None:
    with FaultServer() as server:
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nshort")
            wait_until(lambda: server.open_connections == 1)
        wait_until(lambda: server.open_connections == 0)
        assert server.requests == []  # never fully received
        assert server.in_flight == 0
        assert server.connections_accepted == 1
        assert server.errors == []


async def test_faultserver_stops_counting_a_stalled_request_when_the_client_leaves() -> None:
    with FaultServer() as server:
        server.plan(Fault("stall", seconds=30.0))
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
            wait_until(lambda: server.in_flight == 1)
            assert server.peak_in_flight == 1
        server.wait_idle(5)  # long before the 30 s stall ends
        wait_until(lambda: server.open_connections == 0)
        assert server.requests == [("GET", "/a", b"")]
        assert server.faults_applied == ["stall"]


async def test_faultserver_resets_with_rst_and_stops_cleanly() -> None:
    close = b"Host: h\r\nConnection: close\r\n\r\n"
    with FaultServer() as server:
        server.plan(Fault("reset_after_forward"))
        with pytest.raises(anyio.BrokenResourceError):  # an RST, not a clean close
            await raw_exchange(server.url, b"GET / HTTP/1.1\r\n" + close)
        reply = await raw_exchange(server.url, b"GET /b?q=1 HTTP/1.1\r\n" + close)
        assert reply.startswith(b"HTTP/1.1 200")
        assert reply.endswith(b'{"ok": true}')
        assert [t for _, t, _ in server.requests] == ["/", "/b?q=1"]
        url = server.url
        thread = server._thread
    assert thread is not None
    assert not thread.is_alive()
    with pytest.raises(OSError):
        await anyio.connect_tcp("127.0.0.1", int(url.rstrip("/").rsplit(":", 1)[1]))
