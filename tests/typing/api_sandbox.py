"""The sandbox: every public name, the Sandbox and its server, faults, clocks, engine, records.

Type-checked by ``mypy --strict``, never run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal

import httpx
from typing_extensions import assert_type

from taas_async import (
    AmendOrderRequest,
    AsyncClient,
    DecimalInput,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    OrderStatus,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    SetLeverageRequest,
    Side,
    Strategy,
)
from taas_async.sandbox import (
    CONTROL_PREFIX,
    DEFAULT_ACCOUNTS,
    DEFAULT_START,
    DEFAULT_TOKEN,
    LOT,
    MAX_SLICES,
    STABLECOINS,
    Account,
    AccountSpec,
    AutojumpClock,
    Clock,
    ControlPlane,
    Engine,
    Exchange,
    FaultRule,
    Faults,
    Fill,
    InProcessTransport,
    Message,
    Pair,
    Position,
    PriceFeed,
    RealTimeClock,
    Sandbox,
    SandboxApp,
    SandboxError,
    SandboxServer,
    SimChain,
    SimMulti,
    SimOrder,
    VirtualClock,
)

#: What the apps' serve() and respond() give: status, body, content type, headers.
Reply = tuple[int, bytes, str, dict[str, str]]


def constants() -> None:
    # str and int constants: a literal type to pyright, str/int to mypy.
    prefix: str = CONTROL_PREFIX
    assert_type(DEFAULT_ACCOUNTS, Mapping[str, tuple[str, Mapping[str, DecimalInput]]])
    assert_type(DEFAULT_START, dt.datetime)
    token: str = DEFAULT_TOKEN
    assert_type(LOT, Decimal)
    max_slices: int = MAX_SLICES
    assert_type(STABLECOINS, frozenset[str])
    del prefix, token, max_slices


async def sandbox_construction(clock: Clock) -> None:
    sandbox = Sandbox(
        token="t",
        seed=1,
        speed=None,
        autojump=False,
        clock=clock,
        accounts={"desk": AccountSpec("OKX", {"USDT": "1"}), "b": ("Binance", {"BTC": 1})},
        base_path="/taas",
        url="http://venue",
        max_exchanges=100,
        fee_bps={"*": "2.5", "OKX": 1},
    )
    Sandbox(speed=60.0)
    Sandbox(autojump=True)
    Sandbox(fee_bps={"OKX": b"1"})  # type: ignore[dict-item]
    Sandbox(seed="1")  # type: ignore[arg-type]
    AccountSpec(exchange="OKX", holdings={"USDT": Decimal(1)}, account_id="acc-1")
    del sandbox


async def sandbox_api(sandbox: Sandbox, exchange: Exchange) -> None:
    assert_type(sandbox.token, str)
    assert_type(sandbox.base_path, str)
    assert_type(sandbox.url, str)
    assert_type(sandbox.clock, Clock)
    assert_type(sandbox.faults, Faults)
    assert_type(sandbox.exchanges, list[Exchange])
    assert_type(sandbox.max_exchanges, int)
    assert_type(sandbox.engine, Engine)
    assert_type(sandbox.app, ControlPlane)
    assert_type(sandbox.streams.drop(1000, "bye"), int)
    assert_type(sandbox.stream_url, str)
    assert_type(sandbox.now(), dt.datetime)
    assert_type(sandbox.advance(60), None)
    assert_type(sandbox.advance(dt.timedelta(minutes=1)), None)
    assert_type(sandbox.price("ETH-USDT"), Decimal)
    assert_type(sandbox.set_price("ETH-USDT", "2500.5"), Decimal)
    assert_type(sandbox.set_token_price("ETH", Decimal("2500")), None)
    assert_type(
        sandbox.add_account("bot", {"USDT": 1000}, exchange="OKX", account_id="acc-2"), Account
    )
    assert_type(sandbox.transport(), InProcessTransport)
    assert_type(sandbox.drop_streams(4000, "bye"), int)
    assert_type(sandbox.drop_streams(), int)
    assert_type(sandbox.record(exchange), None)
    assert_type(sandbox.reset(), None)
    client = sandbox.client(
        timeout=5.0,
        max_retries=0,
        backoff=None,
        max_concurrency=8,
        rate_limit=10.0,
        rate_limit_burst=2,
        extra_headers={"X-Test": "1"},
        transport=sandbox.transport(),
        max_response_size=1024,
    )
    assert_type(client, AsyncClient)
    sandbox.client(max_retires=1)  # type: ignore[call-arg]


def server(sandbox: Sandbox) -> None:
    with SandboxServer(sandbox, host="127.0.0.1") as entered:
        assert_type(entered, SandboxServer)


def server_api(running: SandboxServer) -> None:
    assert_type(running.sandbox, Sandbox)
    assert_type(running.host, str)
    assert_type(running.root, str)
    assert_type(running.url, str)
    assert_type(running.stream_url, str)
    assert_type(running.token, str)
    assert_type(running.headers, dict[str, str])
    assert_type(running.control_url, str)
    assert_type(running.dashboard_url, str)
    assert_type(running.start(), None)
    assert_type(running.stop(), None)


async def clocks(
    virtual: VirtualClock, autojump: AutojumpClock, real: RealTimeClock, any_clock: Clock
) -> None:
    VirtualClock(start=DEFAULT_START)
    AutojumpClock(DEFAULT_START)
    RealTimeClock(speed=60.0, start=None)
    every: list[Clock] = [virtual, autojump, real]
    assert_type(any_clock.now(), dt.datetime)
    assert_type(virtual.now(), dt.datetime)
    assert_type(virtual.advance(1.5), None)
    assert_type(virtual.reset(), None)
    assert_type(real.now(), dt.datetime)
    assert_type(real.advance(dt.timedelta(seconds=1)), None)
    assert_type(real.speed, float)
    assert_type(autojump.now(), dt.datetime)
    assert_type(autojump.current_time(), float)
    assert_type(autojump.advance(1), None)
    assert_type(autojump.reset(), None)
    assert_type(autojump.waiting, int)
    with autojump.busy():
        assert_type(autojump.hold(), None)
        assert_type(autojump.release(), None)
    assert_type(await autojump.sleep(1.0), None)
    assert_type(await autojump.sleep_until(autojump.current_time() + 1), None)
    with autojump.fail_after(5.0):
        pass
    del every


async def transport_api(transport: InProcessTransport, request: httpx.Request) -> None:
    assert_type(await transport.handle_async_request(request), httpx.Response)
    status, fields, body = await transport.answer(
        "GET", request.url, request.headers, b"", {"read": 5.0}
    )
    assert_type(status, int)
    assert_type(fields, list[tuple[bytes, bytes]])
    assert_type(body, bytes)
    socket = await transport.connect_websocket(httpx.URL("ws://taas-sandbox/ws/orders/"), [], 5.0)
    assert_type(await socket.receive(), str)
    base: httpx.AsyncBaseTransport = transport
    del base


async def apps(plane: ControlPlane, app: SandboxApp, headers: httpx.Headers) -> None:
    url = httpx.URL("http://taas-sandbox/api/orders/")
    assert_type(await plane.serve("GET", "/api/orders/", url, headers, b""), Reply)
    assert_type(plane.respond("POST", "/_sandbox/advance", b"", headers, b"{}"), Reply)
    assert_type(plane.api, SandboxApp)
    assert_type(plane.sandbox, Sandbox)
    assert_type(await app.serve("GET", "/api/orders/", url, headers, b""), Reply)
    assert_type(await app.respond("GET", "/api/orders/", b"", headers, b""), Reply)
    assert_type(app.engine, Engine)
    assert_type(app.sandbox.token, str)
    assert_type(app.forget_replies(), None)
    ControlPlane(Sandbox(), SandboxApp(Sandbox()))


def engine_api(
    engine: Engine,
    request: PlaceOrderRequest,
    multi_request: PlaceMultiOrderRequest,
    chain_request: PlaceChainedOrderRequest,
) -> None:
    Engine(VirtualClock(), seed=1, fee_bps={"*": Decimal(2)})
    assert_type(engine.clock, Clock)
    assert_type(engine.prices, PriceFeed)
    assert_type(engine.market.mid(Pair.parse("ETH-USDT"), DEFAULT_START), Decimal)
    assert_type(engine.fees.bps("OKX"), Decimal)
    assert_type(engine.feed.next_seq, int)
    assert_type(engine.accounts, dict[str, Account])
    assert_type(engine.orders, dict[str, SimOrder])
    assert_type(engine.multis, dict[str, SimMulti])
    assert_type(engine.chains, dict[str, SimChain])
    assert_type(engine.messages, dict[str, list[Message]])
    assert_type(engine.new_id(), str)
    assert_type(engine.next_due(), dt.datetime | None)
    assert_type(engine.sync(), dt.datetime)
    assert_type(
        engine.add_account("a", {"USDT": Decimal(1)}, exchange="OKX", account_id=None), Account
    )
    assert_type(engine.balances(["OKX"], None), list[Account])
    assert_type(
        engine.set_leverage(
            SetLeverageRequest(account_ids=["a"], pair="BTC:PERP-USDT", leverage=2)
        ),
        list[Account],
    )
    assert_type(engine.place_order(request, order_id="id"), SimOrder)
    assert_type(engine.order("id"), SimOrder)
    assert_type(engine.cancel_order("id"), str)
    assert_type(engine.pause_order("id"), str)
    assert_type(engine.resume_order("id"), str)
    assert_type(
        engine.amend_order(AmendOrderRequest(order_id="id", changes={"notes": "x"})), SimOrder
    )
    assert_type(engine.list_orders(GetOrdersRequest()), list[SimOrder])
    assert_type(engine.list_multi_orders(GetMultiOrdersRequest()), list[SimMulti])
    assert_type(engine.order_messages(["id"]), list[Message])
    assert_type(engine.place_multi_order(multi_request, multi_id=None), SimMulti)
    assert_type(engine.multi_order("id"), SimMulti)
    assert_type(engine.cancel_multi_order("id"), str)
    assert_type(engine.place_chained_order(chain_request), SimChain)
    # Its request type is the client's private one: the method's result is what counts.
    close_balances: Callable[..., list[SimOrder]] = engine.close_balances
    del close_balances


def price_feed(prices: PriceFeed, pair: Pair) -> None:
    PriceFeed(1, DEFAULT_START, step=dt.timedelta(seconds=1))
    assert_type(prices.version, int)
    assert_type(prices.is_known("ETH"), bool)
    assert_type(prices.known_tokens(), list[str])
    assert_type(prices.pair_problems({"pair": "ETH-USDT"}), dict[str, list[str]])
    assert_type(prices.set_price("ETH", Decimal(2500), DEFAULT_START), None)
    assert_type(prices.usd("ETH", DEFAULT_START), Decimal)
    assert_type(prices.spot(pair, DEFAULT_START), Decimal)
    assert_type(prices.price(pair, DEFAULT_START), Decimal)
    assert_type(prices.basis_bps("ETH", DEFAULT_START), Decimal)
    assert_type(prices.max_step_bps(pair), Decimal)
    assert_type(Pair.parse("ETH:PERP-USDT"), Pair)
    Pair(base="ETH", quote="USDT", variant="PERP")


def sandbox_error(error: SandboxError) -> None:
    SandboxError(404, {"detail": "not found"})
    assert_type(error.status, int)
    assert_type(error.body, Any)
    exception: Exception = error
    del exception


def records() -> None:
    Fill(
        id="f",
        time=DEFAULT_START,
        qty=Decimal(1),
        price=Decimal(2),
        notional=Decimal(2),
        account="a",
        fee=Decimal(0),
    )
    Message(order_id="o", time=DEFAULT_START, level="info", text="placed")
    Position(size=Decimal(1), cost=Decimal(2500))
    Account(name="a", id="acc", exchange="OKX")
    status: OrderStatus = OrderStatus.ACTIVE
    strategy: Strategy = Strategy.TWAP
    del status, strategy


def sim_order_fields(order: SimOrder) -> None:
    assert_type(order.id, str)
    assert_type(order.seq, int)
    assert_type(order.request, PlaceOrderRequest)
    assert_type(order.created_at, dt.datetime)
    assert_type(order.updated_at, dt.datetime)
    assert_type(order.pair, Pair)
    assert_type(order.account, Account)
    assert_type(order.sell_token_amount, Decimal)
    assert_type(order.status, OrderStatus)
    assert_type(order.time_start, dt.datetime | None)
    assert_type(order.time_end, dt.datetime | None)
    assert_type(order.elapsed_us, int)
    assert_type(order.last_step, dt.datetime | None)
    assert_type(order.executed_qty, Decimal)
    assert_type(order.executed_notional, Decimal)
    assert_type(order.total_fee, Decimal)
    assert_type(order.fills, list[Fill])
    assert_type(order.arrival_price, Decimal | None)
    assert_type(order.slice_factors, tuple[int, ...])
    assert_type(order.slices_done, int)
    assert_type(order.shown, bool)
    assert_type(order.wake_at, dt.datetime | None)
    assert_type(order.failure_reason, str)
    assert_type(order.parent_order, str | None)
    assert_type(order.chain, SimChain | None)
    assert_type(order.priority, int | None)
    assert_type(order.paused_at, dt.datetime | None)
    assert_type(order.version, int)
    assert_type(order.side, Side)
    assert_type(order.strategy, Strategy)
    assert_type(order.duration, int)
    assert_type(order.target, tuple[Literal["base", "quote"], Decimal])
    assert_type(order.executed, Decimal)
    assert_type(order.executed_price, Decimal | None)
    assert_type(order.pct_filled, Decimal)
    assert_type(order.is_terminal, bool)
    assert_type(order.fully_filled, bool)
    assert_type(order.n_slices, int)
    assert_type(order.boundary_us(3), int)
    assert_type(order.slices_due(), int)


def sim_multi_fields(multi: SimMulti) -> None:
    assert_type(multi.id, str)
    assert_type(multi.request, PlaceMultiOrderRequest)
    assert_type(multi.created_at, dt.datetime)
    assert_type(multi.children, list[SimOrder])
    assert_type(multi.canceled, bool)
    assert_type(multi.status, str)
    assert_type(multi.updated_at, dt.datetime)


def sim_chain_fields(chain: SimChain) -> None:
    assert_type(chain.id, str)
    assert_type(chain.created_at, dt.datetime)
    assert_type(chain.legs, list[SimOrder])
    assert_type(chain.failure_reason, str)
    assert_type(chain.status, str)
    assert_type(chain.waiting(), list[SimOrder])
    assert_type(chain.next_batch(), list[SimOrder])


def account_fields(account: Account) -> None:
    assert_type(account.name, str)
    assert_type(account.id, str)
    assert_type(account.exchange, str)
    assert_type(account.tokens, dict[str, Decimal])
    assert_type(account.positions, dict[str, Position])
    assert_type(account.leverage, dict[str, Decimal])
    account.apply_fill(Pair.parse("ETH-USDT"), Side.BUY, Decimal(1), Decimal(2500), fee=Decimal(1))


def fill_fields(fill: Fill) -> None:
    assert_type(fill.id, str)
    assert_type(fill.time, dt.datetime)
    assert_type(fill.qty, Decimal)
    assert_type(fill.price, Decimal)
    assert_type(fill.notional, Decimal)
    assert_type(fill.account, str)
    assert_type(fill.fee, Decimal)


def message_fields(message: Message) -> None:
    assert_type(message.order_id, str)
    assert_type(message.time, dt.datetime)
    assert_type(message.level, str)
    assert_type(message.text, str)


def position_fields(position: Position) -> None:
    assert_type(position.size, Decimal)
    assert_type(position.cost, Decimal)


def pair_fields(pair: Pair) -> None:
    assert_type(pair.base, str)
    assert_type(pair.quote, str)
    assert_type(pair.variant, str | None)
    assert_type(pair.is_derivative, bool)
    assert_type(pair.symbol, str)


def exchange_fields(exchange: Exchange) -> None:
    assert_type(exchange.method, str)
    assert_type(exchange.url, httpx.URL)
    assert_type(exchange.headers, httpx.Headers)
    assert_type(exchange.content, bytes)
    assert_type(exchange.status, int)
    assert_type(exchange.reply, bytes)
    assert_type(exchange.at, dt.datetime)
    assert_type(exchange.path, str)
    assert_type(exchange.json(), Any)


def fault_rule_fields(rule: FaultRule) -> None:
    assert_type(rule.status, int)
    assert_type(rule.remaining, int)
    assert_type(rule.body, Any)
    assert_type(rule.headers, dict[str, str])
    assert_type(rule.content_type, str)
    assert_type(rule.method, str | None)
    assert_type(rule.path, str | None)
    assert_type(rule.after, bool)
    assert_type(rule.matches("GET", "/api/orders/"), bool)


def faults_fields(faults: Faults) -> None:
    assert_type(faults.latency, float)
    assert_type(faults.rules, list[FaultRule])
    assert_type(faults.stream_delay, float)
    assert_type(faults.stream_refuse, int | None)
    assert_type(
        faults.fail_next(
            2,
            503,
            body={"detail": "down"},
            headers={"Retry-After": "1"},
            content_type="text/plain",
            method="POST",
            path="/api/orders/",
            after=True,
        ),
        FaultRule,
    )
    assert_type(faults.take("GET", "/api/orders/"), FaultRule | None)
    assert_type(faults.clear(), None)


def account_spec_fields(spec: AccountSpec) -> None:
    assert_type(spec.exchange, str)
    assert_type(spec.holdings, Mapping[str, DecimalInput])
    assert_type(spec.account_id, str | None)
