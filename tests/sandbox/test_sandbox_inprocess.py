"""The in-process way: the SDK's own sandbox client hands requests to the sandbox directly.

``Sandbox.client()`` skips httpx's ``Request``, ``Response`` and send
machinery and calls the transport's ``answer`` (what
``InProcessTransport.handle_async_request`` calls too). Held here: both ways
hand the sandbox the same request, read the reply the same, and a transport
that watches requests still sees every one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from unittest import mock

import anyio
import anyio.lowlevel
import attrs
import httpx
import pytest

from taas_async import (
    APITimeoutError,
    AsyncClient,
    ClientClosedError,
    GetOrdersRequest,
    NotFoundError,
    Order,
    PlaceOrderRequest,
    ResponseTooLargeError,
)
from taas_async._sending import Prepared
from taas_async._transports._answering import AnsweringTransport, answers_directly
from taas_async.sandbox import AutojumpClock, Sandbox
from taas_async.sandbox._inprocess import InProcessTransport

pytestmark = pytest.mark.anyio

ORDER = PlaceOrderRequest(
    accounts=["mock"],
    pair="ETH-USDT",
    side="buy",
    duration=600,
    base_asset_qty=Decimal("1.5"),
    strategy="TWAP",
    custom_order_id="in-process-1",  # the same body both ways
)


MISSING = "00000000-0000-0000-0000-000000000000"


class Watching(InProcessTransport):
    """A transport that watches requests on their way: httpx must call it for every one."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox.app, sandbox.clock)
        self.seen: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return await super().handle_async_request(request)


async def calls(client: AsyncClient) -> Order:
    """A few calls of every kind: a GET, a POST with a body, a DELETE, a list."""
    placed = await client.place_order(ORDER)
    await client.get_order(placed.id)
    await client.get_all_orders(GetOrdersRequest(statuses=["ACTIVE", "CANCELED"]))
    await client.cancel_order(placed.id)
    return placed


async def test_both_ways_hand_the_sandbox_the_same_requests() -> None:
    direct, through_httpx = Sandbox(seed=7), Sandbox(seed=7)
    async with direct.client(extra_headers={"X-Desk": "a"}) as client:
        assert answers_directly(client._sender._answering)
        await calls(client)
    watching = Watching(through_httpx)
    async with through_httpx.client(extra_headers={"X-Desk": "a"}, transport=watching) as client:
        assert client._sender._answering is None
        await calls(client)
    assert len(watching.seen) == len(through_httpx.exchanges) == 4
    for ours, theirs in zip(direct.exchanges, through_httpx.exchanges, strict=True):
        assert (ours.method, str(ours.url)) == (theirs.method, str(theirs.url))
        assert ours.headers.raw == theirs.headers.raw  # the same fields, in the same order
        assert ours.content == theirs.content
        assert ours.status == theirs.status
        assert ours.reply == theirs.reply
    posted = direct.exchanges[0]
    assert posted.headers["content-length"] == str(len(posted.content))
    assert posted.headers["authorization"] == f"Token {direct.token}"
    assert posted.headers["x-desk"] == "a"


@pytest.mark.parametrize(
    ("method", "content"),
    [("GET", None), ("POST", b'{"a":"1"}'), ("POST", None), ("POST", b""), ("DELETE", None)],
)
@pytest.mark.parametrize("fresh", [False, True])
async def test_the_header_fields_are_httpx_own_for_one_kind_of_attempt(
    method: str, content: bytes | None, fresh: bool
) -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        sender = client._sender
        timeout = httpx.Timeout(5.0)
        prepared = Prepared(
            method,
            httpx.URL(sandbox.url + "/api/order/x/"),
            content,
            timeout,
            timeout.as_dict(),
        )
        prepared.fresh = fresh
        through_httpx = sender._request_of(prepared, 1 << 20)
        assert sender._answer_head(prepared) == through_httpx.headers.raw
        if fresh:
            assert through_httpx.headers["connection"] == "close"


async def test_the_header_fields_are_httpx_own_for_every_kind_of_attempt_in_turn() -> None:
    # One sender, every kind one after the other and again: what it keeps of one
    # kind must never answer for another (a fresh attempt's close, a body's length).
    kinds = [
        (method, content, fresh)
        for method, content in [
            ("GET", None),
            ("POST", b'{"a":"1"}'),
            ("POST", b'{"b":"22"}'),
            ("POST", None),
            ("POST", b""),
            ("DELETE", None),
        ]
        for fresh in (False, True)
    ]
    sandbox = Sandbox()
    async with sandbox.client() as client:
        sender = client._sender
        timeout = httpx.Timeout(5.0)
        for method, content, fresh in kinds + kinds[::-1]:
            prepared = Prepared(
                method, httpx.URL(sandbox.url + "/api/x/"), content, timeout, timeout.as_dict()
            )
            prepared.fresh = fresh
            expected = sender._request_of(prepared, 1 << 20).headers.raw
            assert sender._answer_head(prepared) == expected, (method, content, fresh)


async def test_the_sdk_own_sandbox_client_does_not_go_through_httpx_send(
    httpx_sends: list[httpx.Request],
) -> None:
    sent = httpx_sends
    sandbox = Sandbox()
    async with sandbox.client() as client:
        await calls(client)
    assert sent == []
    async with sandbox.client(transport=Watching(sandbox)) as client:
        await calls(client)
    assert len(sent) == 4  # a transport that watches: through httpx, every request


async def test_which_transports_are_answered_directly() -> None:
    class Bare(AnsweringTransport):
        pass  # no answer of its own: both ways call answer(), which refuses

    assert answers_directly(InProcessTransport(Sandbox().app, Sandbox().clock))
    assert not answers_directly(Watching(Sandbox()))  # overrides handle_async_request
    assert answers_directly(Bare())
    assert not answers_directly(httpx.MockTransport(lambda r: httpx.Response(200)))
    with pytest.raises(NotImplementedError):
        await Bare().answer("GET", httpx.URL("http://x/"), httpx.Headers(), b"", {})
    spied = Sandbox().transport()
    with mock.patch.object(spied, "handle_async_request"):  # set on the instance
        assert not answers_directly(spied)
    assert answers_directly(spied)


async def test_a_spy_on_the_transport_instance_sees_every_request() -> None:
    sandbox = Sandbox()
    transport = sandbox.transport()
    real = transport.handle_async_request
    with mock.patch.object(transport, "handle_async_request", side_effect=real) as spy:
        async with sandbox.client(transport=transport) as client:
            await calls(client)
    assert spy.call_count == len(sandbox.exchanges) == 4


@pytest.mark.parametrize("way", ["direct", "through httpx"])
async def test_a_call_waiting_for_the_rate_limit_when_the_client_closes_sends_nothing(
    way: str,
) -> None:
    sandbox = Sandbox(autojump=True)
    client = sandbox.client(
        rate_limit=1.0, max_retries=0, transport=Watching(sandbox) if way != "direct" else None
    )
    outcomes: dict[str, object] = {}

    async def place(custom: str) -> None:
        try:
            outcomes[custom] = await client.place_order(attrs.evolve(ORDER, custom_order_id=custom))
        except ClientClosedError as exc:
            outcomes[custom] = exc

    clock = sandbox.clock
    assert isinstance(clock, AutojumpClock)
    async with anyio.create_task_group() as group:
        group.start_soon(place, "a")
        group.start_soon(place, "b")  # one of them waits a (virtual) second for the rate limit
        for _ in range(100):  # until one is placed and the other waits its turn
            if outcomes and clock.waiting:
                break
            await anyio.lowlevel.checkpoint()
        await client.aclose()
    ((first, placed),) = [(k, v) for k, v in outcomes.items() if isinstance(v, Order)]
    ((second, refused),) = [(k, v) for k, v in outcomes.items() if k != first]
    assert isinstance(refused, ClientClosedError)
    assert "closed while this call waited to be sent" in str(refused)
    assert refused.custom_order_id == second
    assert placed.custom_order_id == first
    assert [e.method for e in sandbox.exchanges] == ["POST"]  # the second never went out


async def test_a_read_timeout_reads_the_same_either_way() -> None:
    errors = []
    for make in (lambda s: None, Watching):
        sandbox = Sandbox(autojump=True)
        sandbox.faults.latency = 30
        async with sandbox.client(transport=make(sandbox), timeout=5, max_retries=0) as client:
            with pytest.raises(APITimeoutError) as caught:
                await client.get_balances()
        errors.append(caught.value)
    direct, through_httpx = errors
    assert str(direct) == str(through_httpx)
    for error in errors:
        assert error.may_have_reached_server
        assert error.reply_status is None


async def test_a_read_timeout_through_httpx_names_its_request() -> None:
    sandbox = Sandbox(autojump=True)
    sandbox.faults.latency = 30
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=sandbox.url) as http:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await http.get("/api/balances/", timeout=5)
    assert caught.value.request.url == httpx.URL(sandbox.url + "/api/balances/")


async def test_an_error_reply_reads_the_same_either_way() -> None:
    errors = []
    for make in (lambda s: None, Watching):
        sandbox = Sandbox()
        async with sandbox.client(transport=make(sandbox)) as client:
            with pytest.raises(NotFoundError) as caught:
                await client.get_order(MISSING)
        errors.append(caught.value)
    direct, through_httpx = errors
    assert direct.status_code == through_httpx.status_code == 404
    assert direct.headers == through_httpx.headers
    assert direct.body == through_httpx.body
    assert str(direct) == str(through_httpx)


async def test_a_reply_past_the_size_limit_is_refused_the_same_either_way() -> None:
    errors = []
    for make in (lambda s: None, Watching):
        sandbox = Sandbox()
        async with sandbox.client() as setup:
            placed = await setup.place_order(ORDER)
        async with sandbox.client(transport=make(sandbox), max_response_size=100) as client:
            with pytest.raises(ResponseTooLargeError) as caught:
                await client.get_order(placed.id)
        errors.append(caught.value)
    direct, through_httpx = errors
    assert direct.status_code == through_httpx.status_code == 200
    assert direct.limit == through_httpx.limit == 100
    assert str(direct) == str(through_httpx)


async def httpx_lines(
    caplog: pytest.LogCaptureFixture,
    sandbox: Sandbox,
    make: Callable[[Sandbox], Any],
    error: type[Exception],
    call: Callable[[AsyncClient], Awaitable[object]],
    **options: Any,
) -> list[str]:
    """What httpx's logger wrote while ``call`` failed with ``error`` on a client of ``make``'s."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="httpx"):
        async with sandbox.client(transport=make(sandbox), **options) as client:
            with pytest.raises(error):
                await call(client)
    return [r.getMessage() for r in caplog.records if r.name == "httpx"]


async def test_a_reply_past_the_size_limit_is_logged_as_httpx_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines = []
    for make in (lambda s: None, Watching):
        sandbox = Sandbox()
        async with sandbox.client() as setup:
            placed = await setup.place_order(ORDER)
        lines.append(
            await httpx_lines(
                caplog,
                sandbox,
                make,
                ResponseTooLargeError,
                lambda client, order_id=placed.id: client.get_order(order_id),
                max_response_size=100,
            )
        )
    direct, through_httpx = lines
    assert direct == through_httpx
    assert len(direct) == 1
    assert direct[0].endswith('"HTTP/1.1 200 OK"')


async def test_a_cookie_the_sandbox_sets_goes_back_with_the_next_request() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as client:
        placed = await client.place_order(ORDER)
        sandbox.faults.fail_next(
            1,
            200,
            body=placed.raw,
            headers={"Set-Cookie": "session=s1; Path=/"},
            method="GET",
            after=True,
        )
        first = await client.get_order(placed.id)
        second = await client.get_order(placed.id)
    assert first.id == second.id == placed.id
    gets = [e for e in sandbox.exchanges if e.method == "GET"]
    assert "cookie" not in gets[0].headers
    assert gets[1].headers["cookie"] == "session=s1"


async def test_httpx_log_line_is_written_as_httpx_writes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines = []
    for make in (lambda s: None, Watching):
        sandbox = Sandbox()
        (line,) = await httpx_lines(
            caplog, sandbox, make, NotFoundError, lambda client: client.get_order(MISSING)
        )
        lines.append(line)
        assert sandbox.token not in line
    direct, through_httpx = lines
    assert direct == through_httpx
    url = f"{Sandbox().url}/api/order/{MISSING}"
    assert direct == f'HTTP Request: GET {url} "HTTP/1.1 404 Not Found"'
