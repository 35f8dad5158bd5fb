"""The :class:`Sandbox`: one simulated TaaS venue and the ways to reach it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, localcontext
from typing import Any

import httpx

from taas_async._client import AsyncClient
from taas_async._numbers import DecimalInput, to_decimal
from taas_async.sandbox._app import Exchange, Faults, SandboxApp
from taas_async.sandbox._clock import Clock, RealTimeClock, VirtualClock
from taas_async.sandbox._control import ControlPlane, parse_pair
from taas_async.sandbox._engine import Engine
from taas_async.sandbox._prices import Pair
from taas_async.sandbox._records import EXACT, MAX_AMOUNT, Account

__all__ = ["DEFAULT_ACCOUNTS", "DEFAULT_TOKEN", "Sandbox"]

#: The token a sandbox accepts unless given another. Not a secret: it guards nothing real.
DEFAULT_TOKEN = "taas-sandbox-token"  # noqa: S105

#: Accounts every sandbox opens unless given others: name -> (exchange, holdings).
DEFAULT_ACCOUNTS: Mapping[str, tuple[str, Mapping[str, DecimalInput]]] = {
    "mock": ("Mock", {"USDT": 1_000_000, "BTC": 10, "ETH": 100, "SOL": 1_000}),
    "test": ("OKX", {"USDT": 250_000, "BTC": 3}),
}


class Sandbox:
    """An in-memory TaaS venue: the API, a simulated execution engine, fault knobs.

    Time is virtual unless ``speed`` is given: nothing happens until
    :meth:`advance` moves the clock, so tests are deterministic. With
    ``speed=60`` a simulated minute passes every real second (demos, the
    server). The same ``seed`` gives the same order ids and prices.

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

    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        seed: int = 0,
        speed: float | None = None,
        clock: Clock | None = None,
        accounts: Mapping[str, tuple[str, Mapping[str, DecimalInput]]] | None = None,
        base_path: str = "",
        url: str = "http://taas-sandbox",
        max_exchanges: int = 10_000,
    ) -> None:
        if clock is not None and speed is not None:
            raise ValueError("pass either clock or speed, not both")
        if base_path and (not base_path.startswith("/") or base_path.endswith("/")):
            raise ValueError(f"base_path must look like '/taas', got {base_path!r}")
        if max_exchanges < 0:
            raise ValueError(f"max_exchanges must be >= 0, got {max_exchanges!r}")
        self.token = token
        self.base_path = base_path
        self.url = url.rstrip("/") + base_path
        self.clock: Clock = clock or (RealTimeClock(speed) if speed is not None else VirtualClock())
        self._seed = seed
        self._accounts = {  # as given, for reset(): a copy, so later changes to it do not count
            name: (exchange, dict(tokens))
            for name, (exchange, tokens) in (
                DEFAULT_ACCOUNTS if accounts is None else accounts
            ).items()
        }
        self.engine = self._new_engine()
        self.faults = Faults()
        #: The latest ``max_exchanges`` requests received and the replies given, oldest first.
        self.exchanges: list[Exchange] = []
        self.max_exchanges = max_exchanges
        #: The ASGI app: the API, and the control plane and dashboard under ``/_sandbox/``.
        self.app = ControlPlane(self, SandboxApp(self))

    def _new_engine(self) -> Engine:
        """An engine as at construction: the seed, and the accounts first given, in order."""
        engine = Engine(self.clock, seed=self._seed)
        for name, (exchange, tokens) in self._accounts.items():
            holdings = {symbol: to_decimal(amount) for symbol, amount in tokens.items()}
            engine.add_account(name, holdings, exchange=exchange)
        return engine

    def reset(self) -> None:
        """Go back to the state at construction.

        The accounts and holdings first given (with the same ids), no orders,
        no exchanges, no faults; prices start their walks again from the same
        seed. A virtual clock goes back to where it started; a real-time clock
        (or a clock given as ``clock=``) keeps running, and the prices start
        again from now. :attr:`engine` is a new :class:`Engine` afterwards.
        Accounts added with :meth:`add_account` after construction are gone.
        """
        if isinstance(self.clock, VirtualClock):
            self.clock.reset()
        self.engine = self._new_engine()
        self.faults.clear()
        self.exchanges.clear()

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

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that calls the sandbox in process (no socket)."""
        return httpx.ASGITransport(app=self.app)

    def client(self, **kwargs: Any) -> AsyncClient:
        """An :class:`~taas_async.AsyncClient` wired to this sandbox in process.

        Keyword arguments go to ``AsyncClient`` (``timeout=``, ``extra_headers=``, ...;
        ``transport=`` to wrap :meth:`transport`). Its ``http://`` URL never
        reaches a network: the client is allowed it.
        """
        kwargs.setdefault("allow_insecure_http", True)
        kwargs.setdefault("transport", self.transport())
        return AsyncClient(self.url, self.token, **kwargs)
