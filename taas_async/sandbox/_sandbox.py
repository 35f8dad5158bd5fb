"""The :class:`Sandbox`: one simulated TaaS venue and the ways to reach it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, localcontext

import attrs
import httpx

from taas_async._client import AsyncClient
from taas_async._numbers import DecimalInput, to_decimal
from taas_async._options import DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT, TimeoutTypes
from taas_async._retry import Backoff
from taas_async.sandbox._app import Exchange, Faults, SandboxApp
from taas_async.sandbox._clock import AutojumpClock, Clock, RealTimeClock, VirtualClock
from taas_async.sandbox._control import ControlPlane, parse_pair
from taas_async.sandbox._engine import Engine
from taas_async.sandbox._inprocess import InProcessTransport
from taas_async.sandbox._prices import Pair
from taas_async.sandbox._records import EXACT, MAX_AMOUNT, Account
from taas_async.sandbox._streams import STREAM_PATH, StreamHub

__all__ = ["DEFAULT_ACCOUNTS", "DEFAULT_TOKEN", "AccountSpec", "Sandbox"]

#: The token a sandbox accepts unless given another. Not a secret: it guards nothing real.
DEFAULT_TOKEN = "taas-sandbox-token"  # noqa: S105

#: Accounts every sandbox opens unless given others: name -> (exchange, holdings).
DEFAULT_ACCOUNTS: Mapping[str, tuple[str, Mapping[str, DecimalInput]]] = {
    "mock": ("Mock", {"USDT": 1_000_000, "BTC": 10, "ETH": 100, "SOL": 1_000}),
    "test": ("OKX", {"USDT": 250_000, "BTC": 3}),
}


@attrs.frozen
class AccountSpec:
    """An account a sandbox opens: its exchange, what it holds, optionally its id.

    Example::

        Sandbox(accounts={"desk": AccountSpec("Binance", {"USDT": 50_000, "BTC": 1})})

    The tuple ``("Binance", {"USDT": 50_000})`` means the same.
    """

    exchange: str = "Mock"
    holdings: Mapping[str, DecimalInput] = attrs.field(factory=dict)
    account_id: str | None = None


#: What ``Sandbox(accounts=...)`` takes per account name.
AccountInput = AccountSpec | tuple[str, Mapping[str, DecimalInput]]


def _account_spec(name: object, value: object) -> AccountSpec:
    """One ``accounts=`` entry as an :class:`AccountSpec`; a ``TypeError`` says what is wrong."""
    shape = "AccountSpec(exchange, {token: amount}) or a tuple (exchange, {token: amount})"
    if not isinstance(name, str) or not name:
        raise TypeError(f"accounts: each key is an account name (a non-empty str), got {name!r}")
    if isinstance(value, AccountSpec):
        spec = value
    elif isinstance(value, tuple) and len(value) == 2:
        spec = AccountSpec(exchange=value[0], holdings=value[1])
    else:
        raise TypeError(f"accounts[{name!r}] must be {shape}, got {value!r}")
    exchange: object = spec.exchange
    holdings: object = spec.holdings
    where = f"accounts[{name!r}]"
    if not isinstance(exchange, str) or not exchange:
        raise TypeError(f"{where}: the exchange must be a non-empty str, got {exchange!r}")
    if not isinstance(holdings, Mapping):
        raise TypeError(
            f"{where}: the holdings must be a mapping {{token: amount}}, got {holdings!r}"
        )
    for token, amount in holdings.items():
        if not isinstance(token, str) or not token:
            raise TypeError(f"{where}: a token must be a non-empty str, got {token!r}")
        try:
            to_decimal(amount)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{where}[{token!r}]: {exc}") from None
    return spec


class Sandbox:
    """An in-memory TaaS venue: the API, a simulated execution engine, fault knobs.

    Time is virtual unless ``speed`` is given: nothing happens until
    :meth:`advance` moves the clock, so tests are deterministic. With
    ``autojump=True`` the virtual clock also jumps ahead by itself whenever
    every task is waiting on it: the in-process client's own waits (backoff,
    ``Retry-After``, the rate limit, ``watch_order``'s polling) and the fault
    latency run on it, so ``wait_for_order`` on a one-hour TWAP returns in
    about a second. With ``speed=60`` a simulated minute passes every
    real second (demos, the server). The same ``seed`` gives the same order
    ids and prices.

    :attr:`app` serves the API and, under ``/_sandbox/``, a control plane
    (move the clock, set a price, set faults, reset, read the exchanges)
    and a dashboard.

    Example::

        sandbox = Sandbox()
        async with sandbox.client() as client:
            order = await client.place_order(PlaceOrderRequest(
                accounts=["mock"], pair="ETH-USDT", side="buy", duration=60,
                base_asset_qty=1, strategy="TWAP"))
            sandbox.advance(60)
            assert (await client.get_order(order.id)).status == "COMPLETE"

    Args:
        token: the token the API accepts (``Authorization: Token ...``).
        seed: seeds the price walks and the ids.
        speed: run on real time sped up this much instead of a virtual clock.
        clock: any object with ``now()`` (overrides ``speed``).
        accounts: name -> (exchange, {token: amount}); default
            :data:`DEFAULT_ACCOUNTS`.
        base_path: a path prefix the API lives under (``"/taas"``).
        url: the base URL in-process clients use (no socket is opened).
        max_exchanges: how many of the latest exchanges :attr:`exchanges`
            keeps (a long-running server must not grow without bound).
        fee_bps: fee rates in basis points per exchange name, ``"*"`` for any
            other; replaces the default table (``{}``: no fees). See
            ``docs/sandbox.md``.

    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        seed: int = 0,
        speed: float | None = None,
        autojump: bool = False,
        clock: Clock | None = None,
        accounts: Mapping[str, AccountInput] | None = None,
        base_path: str = "",
        url: str = "http://taas-sandbox",
        max_exchanges: int = 10_000,
        fee_bps: Mapping[str, DecimalInput] | None = None,
    ) -> None:
        if sum((clock is not None, speed is not None, autojump is True)) > 1:
            raise ValueError("pass at most one of clock, speed and autojump=True")
        if not isinstance(autojump, bool):
            raise TypeError(f"autojump must be True or False, got {autojump!r}")
        if base_path and (not base_path.startswith("/") or base_path.endswith("/")):
            raise ValueError(f"base_path must look like '/taas', got {base_path!r}")
        if max_exchanges < 0:
            raise ValueError(f"max_exchanges must be >= 0, got {max_exchanges!r}")
        self.token = token
        self.base_path = base_path
        self.url: str = url.rstrip("/") + base_path
        if clock is None:
            clock = (
                RealTimeClock(speed)
                if speed is not None
                else AutojumpClock()
                if autojump
                else VirtualClock()
            )
        self.clock: Clock = clock
        self._seed = seed
        self._fee_bps = None if fee_bps is None else {k: to_decimal(v) for k, v in fee_bps.items()}
        self.faults: Faults = Faults()
        #: The latest ``max_exchanges`` requests received and the replies given, oldest first.
        self.exchanges: list[Exchange] = []
        self.max_exchanges = max_exchanges
        #: The open order streams (``/ws/orders/``), in process and served.
        self.streams: StreamHub = StreamHub(self)
        if accounts is not None and not isinstance(accounts, Mapping):
            raise TypeError(
                f"accounts must be a mapping of account name -> AccountSpec, got {accounts!r}"
            )
        # As given, checked, for reset(): copies, so later changes to them do not count.
        self._accounts = {
            name: attrs.evolve(spec, holdings=dict(spec.holdings))
            for name, value in (DEFAULT_ACCOUNTS if accounts is None else accounts).items()
            for spec in [_account_spec(name, value)]
        }
        self.engine: Engine = self._new_engine()
        #: The ASGI app: the API, and the control plane and dashboard under ``/_sandbox/``.
        self.app: ControlPlane = ControlPlane(self, SandboxApp(self))

    def _new_engine(self) -> Engine:
        """An engine as at construction: the seed, and the accounts first given, in order."""
        engine = Engine(self.clock, seed=self._seed, fee_bps=self._fee_bps)
        for name, spec in self._accounts.items():
            holdings = {symbol: to_decimal(amount) for symbol, amount in spec.holdings.items()}
            engine.add_account(name, holdings, exchange=spec.exchange, account_id=spec.account_id)
        engine.feed.listeners.append(self.streams.wake)  # a new update: the streams send it
        return engine

    def reset(self) -> None:
        """Go back to the state at construction.

        The accounts and holdings first given (with the same ids), no orders,
        no exchanges, no faults; prices start their walks again from the same
        seed. A virtual clock goes back to where it started; a real-time clock
        (or a clock given as ``clock=``) keeps running, and the prices start
        again from now. :attr:`engine` is a new :class:`Engine` afterwards.
        Accounts added with :meth:`add_account` after construction are gone.
        Open order streams are closed (1012, "the sandbox was reset").
        """
        self.streams.drop(1012, "the sandbox was reset")
        if isinstance(self.clock, VirtualClock):
            self.clock.reset()
        self.engine = self._new_engine()
        self.faults.clear()
        self.exchanges.clear()
        self.app.api.forget_replies()

    def record(self, exchange: Exchange) -> None:
        """Keep ``exchange`` in :attr:`exchanges`, dropping the oldest beyond ``max_exchanges``."""
        self.exchanges.append(exchange)
        if len(self.exchanges) > self.max_exchanges:
            del self.exchanges[: len(self.exchanges) - self.max_exchanges]

    def __repr__(self) -> str:
        return f"<Sandbox {self.url} clock={self.clock!r} orders={len(self.engine.orders)}>"

    # ------------------------------------------------------------------ time and market

    def now(self) -> dt.datetime:
        """The simulated time, after processing everything due by it."""
        return self.engine.sync()

    def advance(self, seconds: float | dt.timedelta) -> None:
        """Move the clock forward and process every fill that falls due.

        A virtual clock moves by exactly ``seconds``; a real-time clock jumps
        ahead by ``seconds`` and goes on running from there.

        Raises:
            ValueError: a negative or non-finite step.
            TypeError: a clock given as ``clock=`` that is neither of the two.

        """
        if not isinstance(self.clock, (VirtualClock, RealTimeClock)):
            raise TypeError(f"advance() cannot move a {type(self.clock).__name__}")
        self.clock.advance(seconds)
        self.engine.sync()
        self.streams.wake()  # idle deadlines and delayed updates may have come due

    def price(self, pair: str) -> Decimal:
        """The current price of a pair (quote per base)."""
        return self.engine.prices.price(Pair.parse(pair), self.now())

    def set_price(self, pair: str, price: DecimalInput) -> Decimal:
        """Set a pair's price now (quote per base); returns the price now in effect.

        It sets the base token's USD price to ``price`` times the quote's, so
        the pair trades at ``price`` to the feed's tick (six significant
        digits); the random walk goes on from there. A perpetual
        (``ETH:PERP-USDT``) moves its base token the same way and follows the
        engine's rule for perpetuals from there; the price returned says where
        it landed.

        Raises:
            ValueError: not a pair, a stablecoin base, or a price that is not
                a positive number below 1E+30.

        """
        parsed = parse_pair(pair)
        value = to_decimal(price)
        if not 0 < value < MAX_AMOUNT:
            raise ValueError(f"a price must be > 0 and below {MAX_AMOUNT:E}, got {value}")
        now = self.now()
        with localcontext(EXACT):
            usd = value * self.engine.prices.usd(parsed.quote, now)
        self.engine.prices.set_price(parsed.base, usd, now)
        return self.price(parsed.symbol)

    def set_token_price(self, token: str, usd: DecimalInput) -> None:
        """Pin a token's USD price now; its random walk goes on from there."""
        self.engine.prices.set_price(token, to_decimal(usd), self.now())

    def add_account(
        self,
        name: str,
        tokens: Mapping[str, DecimalInput] | None = None,
        *,
        exchange: str = "Mock",
        account_id: str | None = None,
    ) -> Account:
        """Open an account holding ``tokens`` ({symbol: amount}); returns it."""
        holdings = {symbol: to_decimal(amount) for symbol, amount in (tokens or {}).items()}
        return self.engine.add_account(name, holdings, exchange=exchange, account_id=account_id)

    # ------------------------------------------------------------------ ways in

    def transport(self) -> InProcessTransport:
        """An httpx transport that calls the sandbox in process (no socket).

        Its ``connect_websocket`` opens the order stream in process too.

        On an :class:`~taas_async.sandbox.AutojumpClock` the request's read
        timeout runs on the sandbox's clock too: a fault latency longer than
        it ends in ``httpx.ReadTimeout``, as it would over a network.
        """
        return InProcessTransport(self.app, self.clock, streams=self.streams)

    @property
    def stream_url(self) -> str:
        """The order stream's URL for in-process clients (``ws://taas-sandbox/ws/orders/``)."""
        return "ws" + self.url.removeprefix("http") + STREAM_PATH

    def drop_streams(self, code: int | None = None, reason: str = "") -> int:
        """Close every open order stream now; returns how many were open.

        With ``code`` each client gets that close code and ``reason``; with
        None the connection is dropped without a close: in process the
        client gets 1006; over a server the nearest ASGI can do is a close
        with 1011 and a reason saying so.

        Raises:
            ValueError: a code no WebSocket server sends (1004-1006, 1015,
                outside 1000-4999) or a reason over 123 bytes of UTF-8.

        """
        return self.streams.drop(code, reason)

    def client(
        self,
        *,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        backoff: Backoff | None = None,
        max_concurrency: int | None = None,
        rate_limit: float | None = None,
        rate_limit_burst: int = 1,
        extra_headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> AsyncClient:
        """An :class:`~taas_async.AsyncClient` wired to this sandbox in process.

        The keyword arguments are ``AsyncClient``'s, with the same defaults;
        ``transport=`` replaces :meth:`transport` (wrap it to watch or alter
        requests). Its ``http://`` URL never reaches a network: the client is
        allowed it. On an autojump clock, the client's own waits (backoff,
        ``Retry-After``, the rate limit, polling) run on the sandbox's clock.
        """
        client = AsyncClient(
            self.url,
            self.token,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_concurrency=max_concurrency,
            rate_limit=rate_limit,
            rate_limit_burst=rate_limit_burst,
            extra_headers=extra_headers,
            transport=transport or self.transport(),
            max_response_size=max_response_size,
            allow_insecure_http=True,
        )
        if isinstance(self.clock, AutojumpClock):
            client._timer = self.clock
        return client
