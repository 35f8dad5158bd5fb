"""The order stream the sandbox serves at ``/ws/orders/`` (API-FACTS §2 "WebSocket", §5).

Most tests drive the in-process pipe (``InProcessTransport.connect_websocket``)
on asyncio, trio and uvloop; the last ones a real uvicorn server on
127.0.0.1 through the SDK's own WebSocket client. Nothing sleeps in real
time: a virtual clock moves by ``sandbox.advance()``, an autojump clock
jumps while everything waits on it, and every wait is bounded in real time.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest
from request_kwargs import sandbox_order

from taas_async import (
    AmendOrderRequest,
    ChildOrder,
    OrderInChain,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
)
from taas_async._transports import H11PoolTransport
from taas_async._transports._websocket import (
    WebSocket,
    WebSocketClosedError,
    WebSocketRefusedError,
)
from taas_async.sandbox import AutojumpClock, Sandbox, SandboxServer, _streams
from taas_async.sandbox._feed import Feed

pytestmark = pytest.mark.anyio

REAL = 5.0  # real seconds: the bound on every wait below
SUBSCRIBE = {"command": "subscribe", "data_type": "user_orders"}
KEEP_ALIVE = {"command": "keep_alive"}
SECOND = dt.timedelta(seconds=1)


def twap(seconds: int = 60, qty: int = 1, **changes: Any) -> PlaceOrderRequest:
    fields: dict[str, Any] = {
        "accounts": ["mock"],
        "pair": "ETH-USDT",
        "side": "buy",
        "duration": seconds,
        "base_asset_qty": qty,
        "strategy": "TWAP",
    }
    return PlaceOrderRequest(**{**fields, **changes})


async def connect(sandbox: Sandbox, token: str | None = "", path: str = "") -> WebSocket:
    """An in-process stream; the sandbox's token in the URL ('' ), this one, or none (None)."""
    url = httpx.URL(sandbox.stream_url + path)
    if token is not None:
        url = url.copy_merge_params({"token": token or sandbox.token})
    return await sandbox.transport().connect_websocket(url, [], 5.0)


async def send(ws: WebSocket, message: dict[str, Any] | str) -> None:
    await ws.send(message if isinstance(message, str) else json.dumps(message))


async def subscribed(sandbox: Sandbox, token: str | None = "") -> WebSocket:
    ws = await connect(sandbox, token)
    await send(ws, SUBSCRIBE)  # in process, in effect once send returns
    return ws


async def receive(ws: WebSocket) -> dict[str, Any]:
    with anyio.fail_after(REAL):
        message: dict[str, Any] = json.loads(await ws.receive())
    return message


async def closed(ws: WebSocket) -> WebSocketClosedError:
    """The close the stream ends with next (a message instead fails the test)."""
    with anyio.fail_after(REAL), pytest.raises(WebSocketClosedError) as info:
        await ws.receive()
    return info.value


async def closed_after_updates(ws: WebSocket, order_id: str) -> WebSocketClosedError:
    """The close the stream ends with, after any updates about ``order_id`` sent before it."""
    while True:
        try:
            message = await receive(ws)
        except WebSocketClosedError as error:
            return error
        assert message["data"]["order_id"] == order_id, message


async def nothing_pending(ws: WebSocket) -> None:
    """Nothing was sent: a bad command's error reply is the next message."""
    await send(ws, "probe")
    reply = await receive(ws)
    assert reply["type"] == "error", reply


async def updates_until(ws: WebSocket, order_id: str, last: str) -> list[dict[str, Any]]:
    """The updates received up to ``order_id``'s ``last`` update, as their ``data``."""
    seen = []
    while True:
        message = await receive(ws)
        assert message["type"] == "order_update", message
        seen.append(message["data"])
        if (message["data"]["order_id"], message["data"]["update_type"]) == (order_id, last):
            return seen


async def advance(sandbox: Sandbox, ws: WebSocket, seconds: int) -> None:
    """Move a virtual clock by hand, with a keep_alive every 20 s: the stream stays open."""
    while seconds > 0:
        step = min(seconds, 20)
        sandbox.advance(step)
        seconds -= step
        await send(ws, KEEP_ALIVE)


def kinds(updates: list[dict[str, Any]], order_id: str | None = None) -> list[str]:
    return [u["update_type"] for u in updates if order_id in (None, u["order_id"])]


async def get_json(sandbox: Sandbox, path: str) -> Any:
    headers = {"Authorization": f"Token {sandbox.token}"}
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url=sandbox.url, headers=headers
    ) as http:
        reply = await http.get(path)
    assert reply.status_code == 200, reply.text
    return reply.json()


# --------------------------------------------------------------------------- authentication


async def test_token_in_the_url_then_updates_in_order_with_snapshots(anyio_backend: str) -> None:
    sandbox = Sandbox()
    ws = await subscribed(sandbox)
    async with sandbox.client() as client:
        placed = await client.place_order(twap(60))
        await advance(sandbox, ws, 61)
        updates = await updates_until(ws, placed.id, "order_completed")
    await ws.aclose()
    # §5.4: created, activated, each fill, completed, in the order they happened.
    names = kinds(updates)
    fills = names.count("order_fill_received")
    assert fills >= 2
    assert names == [
        "order_created",
        "order_activated",
        *["order_fill_received"] * fills,
        "order_completed",  # after the last fill, at the same instant
    ]
    assert all(u["order_id"] == placed.id for u in updates)
    # Each snapshot is the order at that moment, not its later state.
    orders = [u["order"] for u in updates]
    assert [o["status"] for o in orders[:2]] == ["SCHEDULED", "ACTIVE"]
    assert orders[0]["executed_qty"] == orders[1]["executed_qty"] == 0
    executed = [Decimal(str(o["executed_qty"])) for o in orders[2:-1]]
    assert executed == sorted(set(executed))
    assert executed[-1] == 1
    assert [len(o["placements"]) for o in orders[2:-1]] == list(range(1, fills + 1))
    assert orders[-1]["status"] == "COMPLETE"
    # The same JSON object GET /api/order/{id} returns.
    assert orders[-1] == await get_json(sandbox, f"/api/order/{placed.id}")


async def test_token_by_the_authenticate_command(anyio_backend: str) -> None:
    sandbox = Sandbox()
    ws = await connect(sandbox, token=None)
    await send(ws, {"command": "authenticate", "token": sandbox.token})
    await send(ws, SUBSCRIBE)
    order = sandbox.engine.place_order(twap())
    created = await receive(ws)
    assert created["type"] == "order_update"
    assert (created["data"]["order_id"], created["data"]["update_type"]) == (
        order.id,
        "order_created",
    )
    await ws.aclose()


async def test_a_wrong_token_in_the_url_closes_with_4001(anyio_backend: str) -> None:
    sandbox = Sandbox()
    for token in ("wrong", " " + sandbox.token):
        ws = await connect(sandbox, token=token)
        error = await closed(ws)
        assert (error.code, error.reason) == (4001, "invalid token")
        with pytest.raises(WebSocketClosedError):
            await send(ws, SUBSCRIBE)
    assert sandbox.streams.open == 0


async def test_a_wrong_token_by_command_closes_with_4001(anyio_backend: str) -> None:
    sandbox = Sandbox()
    ws = await connect(sandbox, token=None)
    await send(ws, {"command": "authenticate", "token": "wrong"})
    error = await closed(ws)
    assert (error.code, error.reason) == (4001, "invalid token")
    ws = await connect(sandbox, token=None)
    await ws.send('{"command": "authenticate", "token": "\\ud800"}')  # not even UTF-8
    assert (await closed(ws)).code == 4001
    # Even after a good one: a token given and wrong ends the stream.
    ws = await connect(sandbox)
    await send(ws, {"command": "authenticate", "token": "wrong"})
    assert (await closed(ws)).code == 4001


async def test_subscribe_without_a_token_closes_with_4001(anyio_backend: str) -> None:
    sandbox = Sandbox()
    ws = await connect(sandbox, token=None)
    await send(ws, KEEP_ALIVE)  # allowed before authenticating
    await send(ws, SUBSCRIBE)
    error = await closed(ws)
    assert error.code == 4001
    assert error.reason.startswith("not authenticated")


async def test_nothing_is_sent_before_subscribe(anyio_backend: str) -> None:
    sandbox = Sandbox()
    ws = await connect(sandbox)
    before = sandbox.engine.place_order(twap(10))
    sandbox.advance(11)
    await nothing_pending(ws)
    assert len(sandbox.engine.feed) == 0  # no stream read: nothing was even rendered
    await send(ws, SUBSCRIBE)
    after = sandbox.engine.place_order(twap(10))
    first = await receive(ws)
    assert (first["data"]["order_id"], first["data"]["update_type"]) == (after.id, "order_created")
    assert before.id != after.id
    await ws.aclose()


# --------------------------------------------------------------------------- update types


async def test_pause_and_resume(anyio_backend: str) -> None:
    sandbox = Sandbox()
    ws = await subscribed(sandbox)
    order = sandbox.engine.place_order(twap(60))
    sandbox.advance(10)
    sandbox.engine.pause_order(order.id)
    sandbox.advance(10)
    sandbox.engine.resume_order(order.id)
    sandbox.engine.cancel_order(order.id)
    updates = await updates_until(ws, order.id, "order_canceled")
    names = [n for n in kinds(updates) if n != "order_fill_received"]
    # No order_resumed is documented: a resume is order_activated again.
    assert names == [
        "order_created",
        "order_activated",
        "order_paused",
        "order_activated",
        "order_canceled",
    ]
    statuses = [u["order"]["status"] for u in updates if u["update_type"] != "order_fill_received"]
    assert statuses == ["SCHEDULED", "ACTIVE", "PAUSED", "ACTIVE", "CANCELED"]
    await ws.aclose()


async def test_multi_order_parent_and_child_updates(anyio_backend: str) -> None:
    sandbox = Sandbox()
    ws = await subscribed(sandbox)
    multi = sandbox.engine.place_multi_order(
        PlaceMultiOrderRequest(
            accounts=["mock"],
            duration=60,
            strategy="TWAP",
            child_orders=[
                ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty=1),
                ChildOrder(pair="BTC-USDT", side="sell", base_asset_qty=Decimal("0.1")),
            ],
        )
    )
    children = [c.id for c in multi.children]
    await advance(sandbox, ws, 61)
    updates = await updates_until(ws, multi.id, "order_completed")
    await ws.aclose()
    parent = [u for u in updates if u["order_id"] == multi.id]
    # The parent: created, activated once, completed once every child finished (§5.4).
    assert kinds(parent) == ["order_created", "order_activated", "order_completed"]
    assert [p["order"]["id"] for p in parent] == [multi.id] * 3
    assert parent[0]["order"]["child_order_ids"] == children  # the multi order's JSON
    assert [p["order"]["status"] for p in parent] == ["SUBMITTED", "ACTIVE", "COMPLETE"]
    assert parent[-1]["order"] == await get_json(sandbox, f"/api/multi_order/{multi.id}")
    for child in children:
        mine = kinds(updates, child)
        fills = mine.count("child_order_fill_received")
        assert fills >= 1
        assert mine == [
            "child_order_created",
            "child_order_activated",
            *["child_order_fill_received"] * fills,
            "child_order_completed",
        ]
        snapshot = next(u["order"] for u in updates if u["order_id"] == child)
        assert (snapshot["id"], snapshot["parent_order_id"]) == (child, multi.id)
    # Both children's creations come right after the parent's; its completion last.
    assert kinds(updates)[:3] == ["order_created", "child_order_created", "child_order_created"]
    last_child = max(
        i for i, u in enumerate(updates) if u["update_type"] == "child_order_completed"
    )
    assert last_child == len(updates) - 2


async def test_a_canceled_multi_order_reports_its_children_then_itself(anyio_backend: str) -> None:
    sandbox = Sandbox()
    multi = sandbox.engine.place_multi_order(
        PlaceMultiOrderRequest(
            accounts=["mock"],
            duration=600,
            strategy="TWAP",
            child_orders=[
                ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty=1),
                ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty=1),
                ChildOrder(pair="BTC-USDT", side="buy", base_asset_qty=Decimal("0.1")),
            ],
        )
    )
    done, first, second = multi.children
    sandbox.engine.amend_order(AmendOrderRequest(order_id=done.id, changes={"duration": 10}))
    sandbox.advance(20)
    assert done.status == "COMPLETE"
    ws = await subscribed(sandbox)
    sandbox.engine.cancel_order(first.id)
    sandbox.engine.cancel_multi_order(multi.id)
    updates = await updates_until(ws, multi.id, "order_canceled")
    await ws.aclose()
    # With one child COMPLETE and the rest canceled, the multi order is CANCELED: it is
    # never reported COMPLETE on the way, and only once its last child has finished.
    assert [(u["order_id"], u["update_type"]) for u in updates] == [
        (first.id, "child_order_canceled"),
        (second.id, "child_order_canceled"),
        (multi.id, "order_canceled"),
    ]
    assert updates[-1]["order"]["status"] == "CANCELED"


async def test_a_chained_orders_legs_are_single_orders(anyio_backend: str) -> None:
    sandbox = Sandbox()
    ws = await subscribed(sandbox)
    chain = sandbox.engine.place_chained_order(
        PlaceChainedOrderRequest(
            orders_in_chain=[
                OrderInChain(order_request=twap(10), priority=1),
                OrderInChain(order_request=twap(10, side="sell"), priority=2),
            ]
        )
    )
    first, second = (leg.id for leg in chain.legs)
    await advance(sandbox, ws, 30)
    updates = await updates_until(ws, second, "order_completed")
    await ws.aclose()
    assert not any(u["update_type"].startswith("child_") for u in updates)
    pairs = [(u["order_id"], u["update_type"]) for u in updates if "fill" not in u["update_type"]]
    assert pairs == [
        (first, "order_created"),
        (second, "order_created"),
        (first, "order_activated"),
        (first, "order_completed"),
        (second, "order_activated"),  # its batch starts once the first filled
        (second, "order_completed"),
    ]
    assert {u["order"]["parent_order_id"] for u in updates} == {chain.id}


# --------------------------------------------------------------------------- commands


async def test_unsubscribe_stops_the_updates_and_subscribe_starts_them_again(
    anyio_backend: str,
) -> None:
    sandbox = Sandbox()
    ws = await subscribed(sandbox)
    one = sandbox.engine.place_order(twap())
    assert (await receive(ws))["data"]["order_id"] == one.id
    await send(ws, {"command": "unsubscribe", "data_type": "user_orders"})
    await send(ws, "probe")
    while (message := await receive(ws))["type"] != "error":  # sent before it unsubscribed
        assert message["data"]["order_id"] == one.id
    sandbox.engine.place_order(twap())
    sandbox.advance(5)
    await nothing_pending(ws)
    await send(ws, SUBSCRIBE)
    three = sandbox.engine.place_order(twap())
    assert (await receive(ws))["data"]["order_id"] == three.id  # none of the missed ones
    await ws.aclose()


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", '"command"'),
        ('{"command": 1}', '"command"'),
        ('{"data_type": "user_orders"}', '"command"'),
        ('{"command": "dance"}', "unknown command 'dance'"),
        ('{"command": "subscribe", "data_type": "prices"}', '"data_type": "user_orders"'),
        ('{"command": "subscribe"}', '"data_type": "user_orders"'),
        ('{"command": "unsubscribe", "data_type": 7}', '"data_type": "user_orders"'),
        ('{"command": "authenticate"}', '"token"'),
        ('{"command": "authenticate", "token": ""}', '"token"'),
        ("x" * 70_000, "too long"),
    ],
)
async def test_a_malformed_command_gets_an_error_and_the_stream_stays(
    anyio_backend: str, message: str, says: str
) -> None:
    sandbox = Sandbox()
    ws = await connect(sandbox)
    await send(ws, message)
    reply = await receive(ws)
    assert reply["type"] == "error"
    assert says in reply["message"]
    await send(ws, SUBSCRIBE)  # still open, still works
    order = sandbox.engine.place_order(twap())
    assert (await receive(ws))["data"]["order_id"] == order.id
    await ws.aclose()


async def test_the_client_closing_ends_the_session(anyio_backend: str) -> None:
    sandbox = Sandbox()
    ws = await subscribed(sandbox)
    assert (sandbox.streams.open, sandbox.engine.feed.readers) == (1, 1)
    await ws.aclose(1000, "done")
    with anyio.fail_after(REAL):
        while sandbox.streams.open:
            await anyio.lowlevel.checkpoint()
    assert sandbox.engine.feed.readers == 0
    error = await closed(ws)  # its own close
    assert (error.code, error.reason) == (1000, "done")
    with pytest.raises(WebSocketClosedError):
        await send(ws, KEEP_ALIVE)
    await ws.aclose()  # idempotent


async def test_a_caller_cancelled_while_connecting_leaves_no_session(anyio_backend: str) -> None:
    # The session was opened and started, then the caller's cancellation met the
    # checkpoint before it had its end: the session stayed open until the idle limit.
    sandbox = Sandbox()  # its virtual clock: the idle limit never comes by itself
    async with sandbox.client() as client:
        for _ in range(3):
            with anyio.CancelScope() as scope:
                scope.cancel()  # cancelled as it connects
                async with client.order_stream():
                    pass
            assert scope.cancelled_caught
    with anyio.fail_after(REAL):
        while sandbox.streams.open:
            await anyio.lowlevel.checkpoint()
    assert sandbox.engine.feed.readers == 0


async def test_a_failing_session_closes_with_1011_and_is_logged(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Any, text: str) -> None:
        raise RuntimeError("boom")

    sandbox = Sandbox()
    ws = await connect(sandbox)
    monkeypatch.setattr(_streams._Session, "_command", broken)
    await send(ws, KEEP_ALIVE)
    error = await closed(ws)  # the client is told; it does not wait for ever
    assert error.code == 1011
    with anyio.fail_after(REAL):
        while sandbox.streams.open:
            await anyio.lowlevel.checkpoint()
    assert "order stream failed" in caplog.text


class Unyielding:
    """A connection whose sends never give the loop a turn (uvicorn's, while it can write)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def receive(self) -> str | None:
        await anyio.sleep_forever()
        return None  # pragma: no cover (never woken)

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.sent.append(f"close {code}")

    async def abort(self) -> None:
        self.sent.append("abort")


async def test_a_long_burst_goes_out_whole_and_in_order_letting_others_run(
    anyio_backend: str,
) -> None:
    """Updates go out without a turn of the loop each, but a burst does not hold the server."""
    sandbox = Sandbox()
    duplex = Unyielding()
    session = sandbox.streams.open_session(duplex, sandbox.token)
    session._authenticated = True
    session._subscribe()
    async with sandbox.client() as client:
        placed = await client.place_orders([twap(10) for _ in range(100)])
    sandbox.advance(10)  # every step and end of the hundred orders: one burst
    due = session.feed.since(session.cursor)  # type: ignore[union-attr]
    assert due is not None
    assert len(due) >= 1000
    turns = 0

    async def other_work() -> None:
        nonlocal turns
        while True:
            turns += 1
            await anyio.lowlevel.checkpoint()

    with anyio.fail_after(REAL):
        async with anyio.create_task_group() as group:
            group.start_soon(other_work)
            await anyio.lowlevel.checkpoint()  # the other task is running
            before = turns
            await session._deliver(sandbox.now())
            during = turns - before
            group.cancel_scope.cancel()
    assert duplex.sent == [update.text for update in due]  # all, in the feed's order
    # A turn every _TURN updates: not none, not one an update. (How often the other
    # task gets each turn is the loop's business: trio may run it before or after.)
    assert len(due) // _streams._TURN // 2 <= during <= len(due) // _streams._TURN + 1
    assert {json.loads(t)["data"]["order_id"] for t in duplex.sent} == {o.id for o in placed}


async def test_a_ping_in_process_is_answered_at_once(anyio_backend: str) -> None:
    sandbox = Sandbox()
    ws = await connect(sandbox)
    heard = ws.heard
    await ws.ping()
    assert ws.heard == heard + 1
    await ws.aclose()


# --------------------------------------------------------------------------- idle connections


async def test_an_idle_stream_is_closed_after_exactly_30_s(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    start = sandbox.now()
    ws = await subscribed(sandbox)
    error = await closed(ws)  # the clock jumps to the idle deadline: no real wait
    assert error.code == 1001
    assert "keep_alive" in error.reason
    assert sandbox.now() - start == 30 * SECOND


async def test_the_idle_deadline_by_hand_on_a_virtual_clock(anyio_backend: str) -> None:
    sandbox = Sandbox()
    ws = await subscribed(sandbox)
    sandbox.advance(dt.timedelta(seconds=30) - dt.timedelta(microseconds=1))
    await nothing_pending(ws)  # still open (and heard from again)
    sandbox.advance(30)
    assert (await closed(ws)).code == 1001


async def test_keep_alive_every_8_s_keeps_it_open_past_60_s(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    clock = sandbox.clock
    assert isinstance(clock, AutojumpClock)
    start = sandbox.now()
    ws = await subscribed(sandbox)

    async def keep_alive() -> None:
        for _ in range(10):  # 80 s
            await clock.sleep(8)
            await send(ws, KEEP_ALIVE)

    with anyio.fail_after(REAL):
        async with anyio.create_task_group() as group:
            group.start_soon(keep_alive)
            error = await closed(ws)
    assert error.code == 1001
    assert sandbox.now() - start == (80 + 30) * SECOND  # 30 s after the last keep_alive


# --------------------------------------------------------------------------- the autojump clock


async def test_a_one_hour_twaps_updates_arrive_as_the_clock_jumps(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    clock = sandbox.clock
    assert isinstance(clock, AutojumpClock)
    ws = await subscribed(sandbox)
    arrived: list[tuple[dt.timedelta, dict[str, Any]]] = []
    async with sandbox.client() as client:
        placed = await client.place_order(twap(3600))
    start = sandbox.engine.orders[placed.id].created_at

    async def keep_alive() -> None:
        while True:
            await clock.sleep(8)
            await send(ws, KEEP_ALIVE)

    with anyio.fail_after(REAL):  # a clock that stood still would hang here
        async with anyio.create_task_group() as group:
            group.start_soon(keep_alive)
            while not arrived or arrived[-1][1]["update_type"] != "order_completed":
                data = (await receive(ws))["data"]
                arrived.append((sandbox.now() - start, data))
            group.cancel_scope.cancel()
    await ws.aclose()
    names = [d["update_type"] for _, d in arrived]
    assert names[:2] == ["order_created", "order_activated"]
    assert set(names[2:-1]) == {"order_fill_received"}
    assert len(names) - 3 == len(sandbox.engine.orders[placed.id].fills)
    # Each one arrived when it happened, on the sandbox's clock.
    for at, data in arrived:
        assert (
            at
            == dt.datetime.fromisoformat(data["order"]["updated_at"].replace("Z", "+00:00")) - start
        )
    assert arrived[-1][0] == 3600 * SECOND


async def test_a_held_clock_does_not_jump(anyio_backend: str) -> None:
    clock = AutojumpClock()
    clock.hold()
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(10)
        woke.append(clock.current_time())

    async with anyio.create_task_group() as group:
        group.start_soon(sleeper)
        for _ in range(100):
            await anyio.lowlevel.checkpoint()
        assert (woke, clock.current_time()) == ([], 0)
        clock.release()
    assert woke == [10]
    with pytest.raises(RuntimeError):
        clock.release()


# --------------------------------------------------------------------------- a real-time clock


async def test_on_a_real_time_clock_updates_come_as_it_runs(anyio_backend: str) -> None:
    sandbox = Sandbox(speed=3600)  # an hour a second: 30 s of sandbox time pass in 8 ms
    ws = await subscribed(sandbox)
    order = sandbox.engine.place_order(twap(120))
    updates = await updates_until(ws, order.id, "order_completed")
    # No keep_alive sent for two minutes of sandbox time and still open: on a real-time
    # clock the idle limit is 30 s of real time, the time a client's keep-alive runs on.
    assert kinds(updates)[:2] == ["order_created", "order_activated"]
    await nothing_pending(ws)
    await ws.aclose()


async def test_on_a_real_time_clock_advance_delivers_at_once(anyio_backend: str) -> None:
    sandbox = Sandbox(speed=1)
    ws = await subscribed(sandbox)
    order = sandbox.engine.place_order(twap(3600))
    sandbox.advance(3600)  # an hour at once, and the stream is still open
    updates = await updates_until(ws, order.id, "order_completed")
    assert updates[-1]["order"]["status"] == "COMPLETE"
    await ws.aclose()


async def test_on_a_real_time_clock_idle_is_30_real_seconds(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = Sandbox(speed=1)
    # Read before subscribing: the subscription is heard at `real` or later, so
    # "29.9 s" is never 30 s of idleness however slowly the machine runs.
    real = _streams._real_now()
    ws = await subscribed(sandbox)
    monkeypatch.setattr(_streams, "_real_now", lambda: real + 29.9)
    sandbox.streams.wake()
    await nothing_pending(ws)  # heard from at "29.9 s": 30 more from there
    monkeypatch.setattr(_streams, "_real_now", lambda: real + 29.9 + 30)
    sandbox.streams.wake()
    error = await closed(ws)
    assert error.code == 1001


# --------------------------------------------------------------------------- faults


async def test_stream_delay_on_a_virtual_clock(anyio_backend: str) -> None:
    sandbox = Sandbox()
    sandbox.faults.stream_delay = 5
    ws = await subscribed(sandbox)
    order = sandbox.engine.place_order(twap())
    sandbox.advance(4)
    await nothing_pending(ws)
    sandbox.advance(1)
    first = await receive(ws)
    assert (first["data"]["order_id"], first["data"]["update_type"]) == (order.id, "order_created")
    sandbox.faults.clear()
    await ws.aclose()


async def test_stream_delay_is_sandbox_time_on_the_autojump_clock(anyio_backend: str) -> None:
    sandbox = Sandbox(autojump=True)
    sandbox.faults.stream_delay = 2.5
    ws = await subscribed(sandbox)
    order = sandbox.engine.place_order(twap())
    created = await receive(ws)
    assert created["data"]["update_type"] == "order_created"
    assert sandbox.now() - order.created_at == dt.timedelta(seconds=2.5)
    await ws.aclose()


@pytest.mark.parametrize("status", [404, 503])
async def test_stream_refuse_answers_the_upgrade_with_a_status(
    anyio_backend: str, status: int
) -> None:
    sandbox = Sandbox()
    sandbox.faults.stream_refuse = status
    with pytest.raises(WebSocketRefusedError) as info:
        await connect(sandbox)
    assert info.value.status_code == status
    assert json.loads(info.value.body) == {"detail": f"sandbox fault: HTTP {status}"}
    sandbox.faults.clear()
    await (await connect(sandbox)).aclose()


async def test_only_the_streams_path_upgrades(anyio_backend: str) -> None:
    sandbox = Sandbox(base_path="/taas")
    assert sandbox.stream_url == "ws://taas-sandbox/taas/ws/orders/"
    url = httpx.URL("ws://taas-sandbox/ws/orders/")  # outside the base path
    with pytest.raises(WebSocketRefusedError) as info:
        await sandbox.transport().connect_websocket(url, [], 5.0)
    assert info.value.status_code == 404
    ws = await sandbox.transport().connect_websocket(
        httpx.URL("ws://anything/taas/ws/orders"), [], 5.0
    )
    await ws.aclose()


@pytest.mark.parametrize(("value", "field"), [(-1, "stream_delay"), (True, "stream_refuse")])
def test_the_stream_knobs_refuse_bad_values(value: Any, field: str) -> None:
    faults = Sandbox().faults
    with pytest.raises(ValueError, match=field):
        setattr(faults, field, value)
    with pytest.raises(ValueError, match="stream_delay"):
        faults.stream_delay = float("nan")
    with pytest.raises(ValueError, match="stream_refuse"):
        faults.stream_refuse = 101


async def test_drop_streams_abruptly_and_with_a_code(anyio_backend: str) -> None:
    sandbox = Sandbox()
    one, two = await subscribed(sandbox), await connect(sandbox)
    sandbox.engine.place_order(twap())  # unread by the first when the drop comes
    assert sandbox.drop_streams() == 2
    assert sandbox.streams.open == 0
    for ws in (one, two):
        error = await closed(ws)  # what was not read is lost with the connection
        assert error.code == 1006
    three = await subscribed(sandbox)
    order = sandbox.engine.place_order(twap())
    assert (await receive(three))["data"]["order_id"] == order.id
    assert sandbox.drop_streams(4000, "maintenance") == 1  # now: nothing more is sent
    error = await closed_after_updates(three, order.id)
    assert (error.code, error.reason) == (4000, "maintenance")
    assert sandbox.drop_streams() == 0
    with pytest.raises(ValueError, match="close code"):
        sandbox.drop_streams(1006)
    with pytest.raises(ValueError, match="reason"):
        sandbox.drop_streams(4000, "é" * 62)  # 124 bytes


async def test_reset_drops_the_streams(anyio_backend: str) -> None:
    sandbox = Sandbox()
    ws = await subscribed(sandbox)
    sandbox.reset()
    error = await closed(ws)
    assert (error.code, error.reason) == (1012, "the sandbox was reset")
    assert sandbox.streams.open == 0


async def test_a_reader_too_far_behind_is_closed_with_1011(anyio_backend: str) -> None:
    sandbox = Sandbox()
    sandbox.engine.feed = feed = Feed(sandbox.engine.multis, limit=3)
    feed.listeners.append(sandbox.streams.wake)
    sandbox.faults.stream_delay = 60  # the updates wait: the feed keeps them for the reader
    ws = await subscribed(sandbox)
    for _ in range(4):
        sandbox.engine.place_order(twap())
    error = await closed(ws)
    assert error.code == 1011
    assert "resync over REST" in error.reason


def test_the_feed_is_rendered_only_while_read() -> None:
    sandbox = Sandbox()
    feed = sandbox.engine.feed
    sandbox.engine.place_order(twap())
    sandbox.now()  # it starts: still nothing rendered
    assert (len(feed), feed.next_seq) == (0, 1)
    feed.readers = 1
    order = sandbox.engine.place_order(twap())
    assert (len(feed), feed.next_seq) == (1, 2)
    (update,) = feed.since(1) or []
    assert (update.seq, update.order_id, update.update_type) == (1, order.id, "order_created")
    assert json.loads(update.text)["data"]["order"]["status"] == "SCHEDULED"
    assert feed.since(0) is None  # 0 is gone: never given, as good as forgotten
    feed.trim(2)
    assert (len(feed), feed.since(2)) == (0, ())
    with pytest.raises(ValueError, match="limit"):
        Feed({}, limit=0)


def test_next_due_is_the_engines_earliest_event() -> None:
    sandbox = Sandbox()
    assert sandbox.engine.next_due() is None
    order = sandbox.engine.place_order(twap(60))
    assert sandbox.engine.next_due() == order.created_at  # it starts at the next sync
    sandbox.advance(1)
    due = sandbox.engine.next_due()
    assert due is not None
    assert due > sandbox.now()


# --------------------------------------------------------------------------- over TCP


async def tcp(server: SandboxServer, token: str | None = "", path: str = "") -> WebSocket:
    url = httpx.URL(server.stream_url + path)
    if token is not None:
        url = url.copy_merge_params({"token": token or server.token})
    with anyio.fail_after(REAL):
        return await H11PoolTransport().connect_websocket(url, [], REAL)


async def steer(server: SandboxServer, path: str, body: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(headers=server.headers, timeout=REAL) as http:
        reply = await http.post(f"{server.control_url}/{path}", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_over_tcp_updates_arrive_as_the_control_plane_moves_time(
    anyio_backend: str, taas_sandbox_server: SandboxServer
) -> None:
    server = taas_sandbox_server
    assert server.stream_url == server.url.replace("http", "ws") + "/ws/orders/"
    ws = await tcp(server, token=None)
    await send(ws, {"command": "authenticate", "token": server.token})
    await send(ws, SUBSCRIBE)
    await send(ws, "probe")  # once its error comes back, the subscription is in effect
    assert (await receive(ws))["type"] == "error"
    async with httpx.AsyncClient(headers=server.headers, timeout=REAL) as http:
        reply = await http.post(f"{server.url}/api/orders/", json=sandbox_order(duration=10))
        assert reply.status_code == 201, reply.text
        order_id = reply.json()["id"]
        assert (await http.get(f"{server.control_url}/state")).json()["streams"] == 1
    await steer(server, "advance", {"seconds": 11})
    updates = await updates_until(ws, order_id, "order_completed")
    assert kinds(updates)[:2] == ["order_created", "order_activated"]
    assert updates[-1]["order"]["status"] == "COMPLETE"
    await ws.aclose()


async def test_over_tcp_a_wrong_token_closes_with_4001(
    anyio_backend: str, taas_sandbox_server: SandboxServer
) -> None:
    ws = await tcp(taas_sandbox_server, token="wrong")
    error = await closed(ws)
    assert (error.code, error.reason) == (4001, "invalid token")
    ws = await tcp(taas_sandbox_server, token=None)
    await send(ws, SUBSCRIBE)
    assert (await closed(ws)).code == 4001


async def test_over_tcp_refusals_are_http_statuses(
    anyio_backend: str, taas_sandbox_server: SandboxServer
) -> None:
    server = taas_sandbox_server
    with pytest.raises(WebSocketRefusedError) as info:
        await tcp(server, path="nowhere/")
    assert (info.value.status_code, json.loads(info.value.body)) == (404, {"detail": "Not found."})
    await steer(server, "faults", {"stream_refuse": 503})
    with pytest.raises(WebSocketRefusedError) as info:
        await tcp(server)
    assert info.value.status_code == 503
    assert json.loads(info.value.body) == {"detail": "sandbox fault: HTTP 503"}


async def test_over_tcp_the_control_plane_drops_the_streams(
    anyio_backend: str, taas_sandbox_server: SandboxServer
) -> None:
    server = taas_sandbox_server
    ws = await tcp(server)
    assert await steer(server, "streams/drop", {"code": 4000, "reason": "maintenance"}) == {
        "dropped": 1
    }
    error = await closed(ws)
    assert (error.code, error.reason) == (4000, "maintenance")
    ws = await tcp(server)
    assert await steer(server, "streams/drop", {"code": None}) == {"dropped": 1}
    error = await closed(ws)  # ASGI cannot cut a connection: the nearest is 1011
    assert error.code == 1011
    assert "abrupt" in error.reason
