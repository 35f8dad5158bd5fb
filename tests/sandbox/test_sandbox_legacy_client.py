"""The reference client ``taas_api`` 1.2.9 against the sandbox served by uvicorn on 127.0.0.1.

Each test serves a fresh :class:`Sandbox` (virtual clock) with uvicorn in a
thread, on a socket bound to 127.0.0.1, and drives one 1.2.9 method over real
HTTP, asserting what the call did (orders, fills, balances), not only that it
answered. Time moves only by ``sandbox.advance()``. 1.2.9 writes its bodies
the way it does (API-FACTS §3.7): floats as JSON numbers, chain legs with
every key including the nulls, and list filters as repeated query keys
(API-FACTS §3.2); the sandbox reads all of it exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx
import pytest
import requests
import uvicorn
from taas_api import Client, data

from taas_async import ChildOrder, PlaceMultiOrderRequest, PlaceOrderRequest
from taas_async.sandbox import DEFAULT_START, LOT, Sandbox

HOST = "127.0.0.1"
LIMIT = 10.0  # seconds: the bound on the server's start and stop, and on every request
PERP = "ETH:PERP-USDT"


class _Server(uvicorn.Server):
    """uvicorn, telling the test thread when it serves (no polling)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


class _Errors(logging.Handler):
    """Keeps what uvicorn logs at ERROR: an exception in the app, a crashed server."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def serve(sandbox: Sandbox) -> Iterator[str]:
    """Serve ``sandbox`` with uvicorn on 127.0.0.1 in a thread; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(sandbox.app, log_level="warning", lifespan="off"))
    errors = _Errors()
    logging.getLogger("uvicorn.error").addHandler(errors)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()
    try:
        assert server.ready.wait(LIMIT), "uvicorn did not start"
        yield f"http://{HOST}:{port}{sandbox.base_path}"
    finally:
        server.should_exit = True
        thread.join(LIMIT)
        sock.close()
        logging.getLogger("uvicorn.error").removeHandler(errors)
    assert not thread.is_alive(), "uvicorn did not stop"
    assert [r.getMessage() for r in errors.records] == []


@pytest.fixture(autouse=True)
def bounded_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """1.2.9 sends without a timeout; here no request can wait for ever."""
    send = requests.Session.request

    def request(self: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
        kwargs["timeout"] = kwargs.get("timeout") or LIMIT
        return send(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.fixture
def url(sandbox: Sandbox) -> Iterator[str]:
    with serve(sandbox) as served:
        yield served


@pytest.fixture
def ref(url: str, sandbox: Sandbox) -> Client:
    """The reference client 1.2.9, on the served sandbox."""
    return Client(url, auth_token=sandbox.token)


def twap(**changes: Any) -> data.PlaceOrderRequest:
    """A 1.2.9 TWAP buy of 0.01 BTC on "test" over 60 s; keyword arguments replace fields."""
    fields: dict[str, Any] = {
        "accounts": ["test"],
        "pair": "BTC-USDT",
        "side": "buy",
        "strategy": "TWAP",
        "duration": 60,
        "base_asset_qty": 0.01,  # a float: 1.2.9 sends JSON numbers
    }
    fields.update(changes)
    return data.PlaceOrderRequest(**fields)


def close(a: Decimal, b: Decimal) -> bool:
    """Equal to a float's 15 significant digits: what 1.2.9's float balances carry."""
    return abs(a - b) <= max(abs(a), abs(b)) * Decimal("1e-15")


def dec(value: Any) -> Decimal:
    """A number of a 1.2.9 reply (``requests`` parses JSON numbers as floats) as a Decimal."""
    return Decimal(str(value))


def sent(sandbox: Sandbox) -> Any:
    """The JSON body of the last request the sandbox received."""
    return json.loads(sandbox.exchanges[-1].content)


def sizes(ref: Client, account: str) -> dict[str, Decimal]:
    return {a["symbol"]: dec(a["size"]) for a in ref.get_balances()[account]["assets"]}


# --------------------------------------------------------------------------- orders


def test_place_order_reads_the_floats_exactly(ref: Client, sandbox: Sandbox) -> None:
    placed = ref.place_order(
        twap(
            base_asset_qty=0.1,
            limit_price=70000.1,  # above the price: it never holds a slice back
            engine_passiveness=0.05,
            schedule_discretion=0.1,
            alpha_tilt=-0.3,
            custom_order_id="legacy-1",
            notes="from 1.2.9",
            strategy_params={"passive_only": True},
        )
    )
    body = sent(sandbox)
    assert isinstance(body["base_asset_qty"], float)  # what 1.2.9 sent: JSON numbers
    assert "pov_target" not in body  # its top-level Nones are left out
    assert placed["status"] == "SCHEDULED"
    assert placed["base_asset_qty"] == "0.10000000000000000000"  # exact, not float noise
    assert placed["limit_price"] == "70000.10000000000000000000"
    assert placed["engine_passiveness"] == "0.05000000000000000000"
    assert placed["schedule_discretion"] == "0.10000000000000000000"
    assert placed["alpha_tilt"] == "-0.30000000000000000000"
    assert (placed["custom_order_id"], placed["notes"]) == ("legacy-1", "from 1.2.9")
    assert placed["strategy_params"] == {"passive_only": True}

    order = sandbox.engine.orders[placed["id"]]
    assert order.request.base_asset_qty == Decimal("0.1")
    assert type(order.request.base_asset_qty) is Decimal
    before = sizes(ref, "test")
    sandbox.advance(60)
    assert order.executed_qty == Decimal("0.1")  # the fills add up to the exact size
    after = sizes(ref, "test")
    assert after["BTC"] - before["BTC"] == Decimal("0.1")
    assert order.total_fee == order.executed_notional * 5 / 10_000  # OKX: 5 bps
    # The fee's digits go beyond a float's: 1.2.9 reads the balance to 15 digits.
    assert close(after["USDT"], before["USDT"] - order.executed_notional - order.total_fee)


def test_place_order_with_a_pov_target_and_no_duration(ref: Client, sandbox: Sandbox) -> None:
    placed = ref.place_order(twap(duration=None, pov_target=0.1))
    assert placed["pov_target"] == "0.10000000000000000000"
    assert sandbox.engine.orders[placed["id"]].request.pov_target == Decimal("0.1")
    sandbox.advance(600)  # the sandbox runs a POV order over 600 s
    assert ref.get_order(placed["id"])["status"] == "COMPLETE"


def test_place_order_pair_leniency_is_caught(ref: Client, sandbox: Sandbox) -> None:
    request = twap(pair="!!ETH-USDT!!")
    assert request.validate() == (True, None)  # 1.2.9's re.search lets it through

    reply = ref.place_order(request)  # 1.2.9 returns the 400 body; it does not raise

    assert sandbox.exchanges[-1].status == 400
    assert list(reply) == ["pair"]
    assert "'!!ETH-USDT!!'" in reply["pair"][0]
    assert sandbox.engine.orders == {}  # nothing placed


def test_get_order_follows_the_fills(ref: Client, sandbox: Sandbox) -> None:
    order_id = ref.place_order(twap())["id"]
    sandbox.advance(30)
    got = ref.get_order(order_id)
    assert got["id"] == order_id
    assert got["status"] == "ACTIVE"
    assert got["account_names"] == ["test"]
    assert got["accounts"] == [sandbox.engine.accounts["test"].id]
    order = sandbox.engine.orders[order_id]
    assert [f["id"] for f in got["placements"]] == [f.id for f in order.fills]
    assert dec(got["executed_qty"]) == order.executed_qty
    assert 0 < order.executed_qty < Decimal("0.01")  # half way through

    sandbox.advance(30)
    done = ref.get_order(order_id)
    assert done["status"] == "COMPLETE"
    assert dec(done["executed_qty"]) == Decimal("0.01")
    assert dec(done["pct_filled"]) == 100
    assert ref.get_order("no-such-order") == {"detail": "order no-such-order not found."}


def test_get_order_summary_tracks_the_order(ref: Client, sandbox: Sandbox) -> None:
    order_id = ref.place_order(twap())["id"]
    sandbox.advance(30)
    summary = ref.get_order_summary(order_id)
    order = sandbox.engine.orders[order_id]
    assert summary["id"] == order_id
    assert (summary["status"], summary["pair"], summary["side"]) == ("ACTIVE", "BTC-USDT", "buy")
    assert 0 < order.executed_qty < Decimal("0.01")  # half way through
    assert dec(summary["executed_qty"]) == order.executed_qty
    assert dec(summary["executed_notional"]) == order.executed_notional
    assert dec(summary["pct_filled"]) == order.pct_filled
    ref.cancel_order(order_id)
    assert ref.get_order_summary(order_id)["status"] == "CANCELED"


def test_cancel_order_stops_the_fills(ref: Client, sandbox: Sandbox) -> None:
    order_id = ref.place_order(twap())["id"]
    sandbox.advance(10)
    assert ref.cancel_order(order_id) == {
        "message": f"order {order_id} canceled",
        "success": True,
        "order_id": order_id,
    }
    canceled = ref.get_order(order_id)
    assert canceled["status"] == "CANCELED"
    assert canceled["failure_reason"] == "canceled by user"
    filled = dec(canceled["executed_qty"])
    assert 0 < filled < Decimal("0.01")
    sandbox.advance(100)
    assert dec(ref.get_order(order_id)["executed_qty"]) == filled  # no fill after the cancel
    assert ref.cancel_order(order_id)["message"] == f"order {order_id} was already canceled"


def test_amend_order_changes_size_and_duration(ref: Client, sandbox: Sandbox) -> None:
    order_id = ref.place_order(twap(duration=60))["id"]
    sandbox.advance(30)
    reply = ref.amend_order(
        data.AmendOrderRequest(order_id=order_id, changes={"base_asset_qty": 0.02, "duration": 120})
    )
    assert sent(sandbox)["changes"] == {"base_asset_qty": 0.02, "duration": 120}
    assert reply == {"message": f"order {order_id} amended", "success": True, "order_id": order_id}
    amended = ref.get_order(order_id)
    assert (amended["base_asset_qty"], amended["duration"]) == ("0.02000000000000000000", 120)
    sandbox.advance(89)
    assert ref.get_order(order_id)["status"] == "ACTIVE"  # it runs 120 s now, not 60
    sandbox.advance(1)
    done = ref.get_order(order_id)
    assert done["status"] == "COMPLETE"
    assert dec(done["executed_qty"]) == Decimal("0.02")


def test_get_order_messages_reads_each_orders_log(ref: Client, sandbox: Sandbox) -> None:
    first = ref.place_order(twap(duration=2))["id"]
    second = ref.place_order(twap(duration=60))["id"]
    sandbox.advance(2)
    ref.cancel_order(second)
    messages = ref.get_order_messages(data.GetOrderMessagesRequest(order_ids=[second, first]))
    assert {m["order_id"] for m in messages} == {first, second}
    by_order = [m["order_id"] for m in messages]
    assert by_order == sorted(by_order, key=[second, first].index)  # in the order asked
    texts = {i: [m["message"] for m in messages if m["order_id"] == i] for i in (first, second)}
    assert texts[first][:2] == ["order accepted", "order started (TWAP)"]
    assert texts[first][-1] == "order complete: 100.00% filled"
    assert texts[second][-1] == f"order canceled: {ref.get_order(second)['pct_filled']:.2f}% filled"


# --------------------------------------------------------------------------- orders list


def test_get_all_orders_with_two_statuses_lists_both(ref: Client, sandbox: Sandbox) -> None:
    canceled = ref.place_order(twap(duration=600))["id"]
    active = ref.place_order(twap(duration=600))["id"]
    complete = ref.place_order(twap(duration=1))["id"]
    ref.cancel_order(canceled)
    sandbox.advance(1)

    page = ref.get_all_orders(data.GetOrderRequest(statuses=["CANCELED", "ACTIVE"]))

    # What 1.2.9 sent: the key repeated, not the documented comma-joined value.
    assert sandbox.exchanges[-1].url.query == b"statuses=CANCELED&statuses=ACTIVE"
    assert [(o["id"], o["status"]) for o in page["orders"]] == [
        (active, "ACTIVE"),
        (canceled, "CANCELED"),
    ]
    assert page["count"] == 2
    only = ref.get_all_orders(data.GetOrderRequest(statuses=["COMPLETE"]))
    assert [o["id"] for o in only["orders"]] == [complete]


def test_get_all_orders_with_two_accounts_lists_both(ref: Client, sandbox: Sandbox) -> None:
    on_test = ref.place_order(twap(accounts=["test"]))["id"]
    on_mock = ref.place_order(twap(accounts=["mock"]))["id"]
    sandbox.add_account("other", {"USDT": 1000})
    ref.place_order(twap(accounts=["other"]))
    page = ref.get_all_orders(data.GetOrderRequest(account_names=["mock", "test"]))
    assert sandbox.exchanges[-1].url.query == b"account_names=mock&account_names=test"
    assert [o["id"] for o in page["orders"]] == [on_mock, on_test]


def test_get_all_orders_pages_and_times(ref: Client, sandbox: Sandbox) -> None:
    ids = []
    for _ in range(3):
        ids.append(ref.place_order(twap())["id"])
        sandbox.advance(1)
    newest_first = ids[::-1]
    page = ref.get_all_orders(data.GetOrderRequest(page=2, page_size=1))
    assert [o["id"] for o in page["orders"]] == [newest_first[1]]
    assert (page["count"], page["num_pages"]) == (3, 3)
    after = (DEFAULT_START + dt.timedelta(seconds=0.5)).isoformat()
    before = (DEFAULT_START + dt.timedelta(seconds=1.5)).isoformat()
    window = ref.get_all_orders(data.GetOrderRequest(after=after, before=before))
    assert [o["id"] for o in window["orders"]] == [ids[1]]


# --------------------------------------------------------------------------- multi orders


def multi(**changes: Any) -> data.PlaceMultiOrderRequest:
    fields: dict[str, Any] = {
        "duration": 60,
        "strategy": "TWAP",
        "child_orders": [
            data.ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty=0.5, account="mock"),
            data.ChildOrder(pair="BTC-USDT", side="sell", base_asset_qty=0.01, account="test"),
        ],
        "exposure_tolerance": 0.5,
    }
    fields.update(changes)
    return data.PlaceMultiOrderRequest(**fields)


def test_place_multi_order_runs_its_legs(ref: Client, sandbox: Sandbox) -> None:
    before = {name: sizes(ref, name) for name in ("mock", "test")}
    placed = ref.place_multi_order(multi())
    assert sorted(sent(sandbox)["accounts"]) == ["mock", "test"]  # 1.2.9 fills them in
    assert placed["exposure_tolerance"] == "0.50000000000000000000"
    legs = [sandbox.engine.orders[i] for i in placed["child_order_ids"]]
    assert [(leg.pair.symbol, leg.side, leg.account.name) for leg in legs] == [
        ("ETH-USDT", "buy", "mock"),
        ("BTC-USDT", "sell", "test"),
    ]
    assert [leg.request.base_asset_qty for leg in legs] == [Decimal("0.5"), Decimal("0.01")]
    assert {ref.get_order(leg.id)["parent_order"] for leg in legs} == {placed["id"]}

    sandbox.advance(60)
    assert sandbox.engine.multis[placed["id"]].status == "COMPLETE"
    after = {name: sizes(ref, name) for name in ("mock", "test")}
    assert after["mock"]["ETH"] - before["mock"]["ETH"] == Decimal("0.5")
    assert before["test"]["BTC"] - after["test"]["BTC"] == Decimal("0.01")
    sold = legs[1].executed_notional - legs[1].total_fee  # the fee, in USDT
    assert close(after["test"]["USDT"], before["test"]["USDT"] + sold)


def test_cancel_multi_order_cancels_its_legs(ref: Client, sandbox: Sandbox) -> None:
    placed = ref.place_multi_order(multi())
    sandbox.advance(10)
    reply = ref.cancel_multi_order(placed["id"])
    assert reply == {
        "message": f"multi order {placed['id']} canceled (2 child orders)",
        "success": True,
        "order_id": placed["id"],
    }
    legs = [ref.get_order(i) for i in placed["child_order_ids"]]
    assert [leg["status"] for leg in legs] == ["CANCELED", "CANCELED"]
    assert {leg["failure_reason"] for leg in legs} == {"multi order canceled by user"}
    filled = [dec(leg["executed_qty"]) for leg in legs]
    sandbox.advance(100)
    assert [dec(ref.get_order(leg["id"])["executed_qty"]) for leg in legs] == filled
    assert sandbox.engine.multis[placed["id"]].status == "CANCELED"


# --------------------------------------------------------------------------- chained orders


def test_place_chained_order_runs_its_legs_in_turn(ref: Client, sandbox: Sandbox) -> None:
    placed = ref.place_chained_order(
        data.PlaceChainedOrderRequest(
            orders_in_chain=[
                data.OrderInChain(order_request=twap(side="sell"), priority=2),
                data.OrderInChain(order_request=twap(side="buy"), priority=1),
            ]
        )
    )
    leg = sent(sandbox)["orders_in_chain"][0]["order_request"]
    assert leg["limit_price"] is None  # nested requests carry every key, nulls too
    assert leg["base_asset_qty"] == 0.01
    first, second = placed["orders"]
    assert [first["side"], second["side"]] == ["buy", "sell"]  # by priority
    assert first["parent_order"] == second["parent_order"] == placed["id"]
    assert first["parent_order_id"] == second["parent_order_id"] == placed["id"]
    assert second["time_start"] is None  # it waits for the first

    sandbox.advance(60)
    assert ref.get_order(first["id"])["status"] == "COMPLETE"
    running = ref.get_order(second["id"])
    assert running["status"] == "ACTIVE"
    assert running["time_start"] == ref.get_order(first["id"])["time_end"]
    sandbox.advance(60)
    orders = ref.get_all_orders(data.GetOrderRequest())["orders"]
    legs = [o for o in orders if o["parent_order_id"] == placed["id"]]  # read back by its id
    assert sorted(o["id"] for o in legs) == sorted([first["id"], second["id"]])
    assert {(o["status"], dec(o["executed_qty"])) for o in legs} == {("COMPLETE", Decimal("0.01"))}
    assert sandbox.engine.chains[placed["id"]].status == "COMPLETE"


# --------------------------------------------------------------------------- accounts


def test_get_balances_filters_and_moves_with_fills(ref: Client, sandbox: Sandbox) -> None:
    balances = ref.get_balances()
    assert sorted(balances) == ["mock", "test"]
    assert (balances["mock"]["exchange"], balances["test"]["exchange"]) == ("Mock", "OKX")
    assert [a["symbol"] for a in balances["mock"]["assets"]] == ["USDT", "BTC", "ETH", "SOL"]
    assert [a["symbol"] for a in balances["test"]["assets"]] == ["USDT", "BTC"]
    assert sorted(ref.get_balances(account_names=["test"])) == ["test"]
    assert sorted(ref.get_balances(account_names=["mock", "test"])) == ["mock", "test"]
    assert sandbox.exchanges[-1].url.query == b"account_names=mock%2Ctest"  # joined by 1.2.9
    assert sorted(ref.get_balances(exchange_names=["OKX"])) == ["test"]
    assert ref.get_balances(exchange_names=["Binance"]) == {}

    before = sizes(ref, "test")
    exact = sandbox.engine.accounts["test"].tokens["USDT"]
    order_id = ref.place_order(twap())["id"]
    sandbox.advance(60)
    after = sizes(ref, "test")
    assert after["BTC"] - before["BTC"] == Decimal("0.01")
    order = sandbox.engine.orders[order_id]
    assert close(after["USDT"], before["USDT"] - order.executed_notional - order.total_fee)
    assert sandbox.engine.accounts["test"].tokens["USDT"] == (
        exact - order.executed_notional - order.total_fee  # exact on the venue
    )


def test_close_balances_sells_down_to_max_notional(ref: Client, sandbox: Sandbox) -> None:
    price = sandbox.price("BTC-USDT")
    reply = ref.close_balances(1000.5, account_names=["test"], preferred_strategy="TWAP")
    assert sent(sandbox) == {
        "max_notional": 1000.5,
        "account_names": ["test"],
        "preferred_strategy": "TWAP",
    }
    assert reply["message"] == "opened 1 orders to close balances"
    (order_id,) = reply["order_ids"]
    order = sandbox.engine.orders[order_id]
    qty = (Decimal("1000.5") / price).quantize(LOT, ROUND_DOWN)  # 3 BTC is worth more
    assert (order.pair.symbol, order.side) == ("BTC-USDT", "sell")
    assert order.request.base_asset_qty == qty
    assert order.request.notes == "close_balances"
    sandbox.advance(300)
    assert ref.get_order(order_id)["status"] == "COMPLETE"
    assert sizes(ref, "test")["BTC"] == 3 - qty


def test_set_leverage_sticks_and_shows_on_positions(ref: Client, sandbox: Sandbox) -> None:
    mock, test = (sandbox.engine.accounts[n] for n in ("mock", "test"))
    reply = ref.set_leverage(
        data.SetLeverageRequest(account_ids=[mock.id, test.id], pair=PERP, leverage="5")
    )
    assert reply == {"message": f"leverage 5 set on {PERP} for 2 accounts", "success": True}
    assert mock.leverage == test.leverage == {PERP: Decimal(5)}
    ref.set_leverage(data.SetLeverageRequest(account_ids=[test.id], pair=PERP, leverage=2.5))
    assert test.leverage == {PERP: Decimal("2.5")}  # a float, read exactly

    ref.place_order(twap(accounts=["mock"], pair=PERP, base_asset_qty=2, duration=2))
    sandbox.advance(2)
    (position,) = [a for a in ref.get_balances()["mock"]["assets"] if a["symbol"] == PERP]
    assert (dec(position["size"]), dec(position["leverage"])) == (2, 5)
    assert dec(position["initial_margin"]) == abs(dec(position["notional"])) / 5


# --------------------------------------------------------------------------- list parameters


#: (path, list parameter, three values that between them select everything)
LISTS = [
    ("/api/orders/", "statuses", ("CANCELED", "ACTIVE", "COMPLETE")),
    ("/api/orders/", "account_names", ("mock", "test", "other")),
    ("/api/orders/", "custom_order_ids", ("a", "b", "c")),
    ("/api/multi_orders/", "statuses", ("CANCELED", "ACTIVE", "COMPLETE")),
    ("/api/multi_orders/", "custom_order_ids", ("multi-a", "multi-b", "multi-c")),
    ("/api/balances/", "account_names", ("mock", "test", "other")),
    ("/api/balances/", "exchange_names", ("Mock", "OKX", "Binance")),
]


def listed(path: str, reply: Any) -> list[Any]:
    if path == "/api/orders/":
        return [o["custom_order_id"] for o in reply["orders"]]
    if path == "/api/multi_orders/":
        return [m["custom_order_id"] for m in reply["multi_orders"]]
    return sorted(reply)


def three_of_each(sandbox: Sandbox) -> None:
    """An order and a multi order per account: "a" CANCELED, "b" ACTIVE, "c" COMPLETE."""
    sandbox.add_account("other", {"USDT": 1000}, exchange="Binance")
    engine = sandbox.engine
    for name, account, duration in (("a", "mock", 60), ("b", "test", 60), ("c", "other", 1)):
        placed = engine.place_order(
            PlaceOrderRequest(
                accounts=[account],
                pair="BTC-USDT",
                side="buy",
                strategy="TWAP",
                duration=duration,
                base_asset_qty="0.01",
                custom_order_id=name,
            )
        )
        parent = engine.place_multi_order(
            PlaceMultiOrderRequest(
                accounts=[account],
                duration=duration,
                strategy="TWAP",
                child_orders=[ChildOrder(pair="ETH-USDT", side="buy", base_asset_qty="0.1")],
                custom_order_id=f"multi-{name}",
            )
        )
        if name == "a":
            engine.cancel_order(placed.id)
            engine.cancel_multi_order(parent.id)
    sandbox.advance(1)


@pytest.mark.parametrize(("path", "name", "values"), LISTS)
def test_a_list_parameter_comma_joined_repeated_or_mixed(
    url: str, sandbox: Sandbox, path: str, name: str, values: tuple[str, str, str]
) -> None:
    """Every list filter reads every value in either form (API-FACTS §3.2, §3.8)."""
    three_of_each(sandbox)
    a, b, c = values
    queries = {
        "one": f"{name}={a}",
        "two comma-joined": f"{name}={a},{b}",
        "two repeated": f"{name}={a}&{name}={b}",
        "three comma-joined": f"{name}={a},{b},{c}",
        "three, repeated and comma-joined": f"{name}={a}&{name}={b},{c}",
    }
    got = {}
    with httpx.Client(headers={"Authorization": f"Token {sandbox.token}"}) as client:
        for form, query in queries.items():
            reply = client.get(f"{url}{path}?{query}")
            assert reply.status_code == 200, reply.text
            got[form] = listed(path, reply.json())
    # Each value counts: the last one given is not the only one read.
    assert set(got["one"]) < set(got["two comma-joined"]) < set(got["three comma-joined"])
    assert got["two repeated"] == got["two comma-joined"]
    assert got["three, repeated and comma-joined"] == got["three comma-joined"]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/orders/", "page=1&page=2"),
        ("/api/orders/", "page_size=10&page_size=20"),
        ("/api/orders/", "statuses=ACTIVE&before=2026-01-02T00:00:00Z&before=2026-01-03T00:00:00Z"),
        ("/api/orders/", "after=2025-01-01T00:00:00Z&after=2025-01-02T00:00:00Z"),
        ("/api/multi_orders/", "page_number=1&page_number=1"),
        ("/api/multi_orders/", "include_child_orders=true&include_child_orders=false"),
    ],
)
def test_a_repeated_single_value_parameter_is_refused(
    url: str, sandbox: Sandbox, path: str, query: str
) -> None:
    """A scalar given twice is a 400 naming it, never a silent pick (API-FACTS §3.2)."""
    name = query.rsplit("&", 1)[1].split("=", 1)[0]
    with httpx.Client(headers={"Authorization": f"Token {sandbox.token}"}) as client:
        reply = client.get(f"{url}{path}?{query}")
    assert reply.status_code == 400
    assert reply.json() == {name: ["given 2 times: a single value is expected"]}


def test_a_repeated_parameter_of_a_multi_order_is_refused(ref: Client, sandbox: Sandbox) -> None:
    """``include_child_orders`` twice on one multi order: a 400 naming it."""
    placed = ref.place_multi_order(multi())
    with httpx.Client(headers={"Authorization": f"Token {sandbox.token}"}) as client:
        base = ref.taas_url + f"/api/multi_order/{placed['id']}"
        assert client.get(base + "?include_child_orders=true").status_code == 200
        reply = client.get(base + "?include_child_orders=true&include_child_orders=true")
    assert reply.status_code == 400
    assert reply.json() == {"include_child_orders": ["given 2 times: a single value is expected"]}


# ------------------------------------------------------------------ what 1.2.9 cannot do here


def test_a_simple_order_from_1_2_9_carries_a_duration_and_is_refused(
    ref: Client, sandbox: Sandbox
) -> None:
    """1.2.9 needs a duration or pov_target on every order; a simple order refuses it.

    The TaaS docs say the server ignores these fields on a simple order
    (API-FACTS §3.1); the sandbox refuses them as the SDK does, a known
    difference that docs/sandbox.md lists.
    """
    with pytest.raises(ValueError, match="duration or pov_target must be provided"):
        ref.place_order(twap(strategy="Market", duration=None))  # 1.2.9 itself refuses
    reply = ref.place_order(twap(strategy="Market"))
    assert reply == {"duration": ["not used by Market orders (a simple order): leave it out"]}
    assert sandbox.engine.orders == {}


def test_the_base_path_is_dropped_by_1_2_9() -> None:
    # 1.2.9's urljoin(url, "/api/...") replaces a /taas prefix: the sandbox says 404.
    sandbox = Sandbox(base_path="/taas")
    with serve(sandbox) as url:
        assert url.endswith("/taas")
        assert Client(url, auth_token=sandbox.token).get_balances() == {"detail": "Not found."}
        assert [x.path for x in sandbox.exchanges] == ["/api/balances/"]
