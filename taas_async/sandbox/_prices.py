"""Seeded random-walk prices, exact ``Decimal`` throughout.

Each token has a USD price that takes one random step per simulated second
(up to ±0.1%), rounded to six significant digits; stablecoins stay at 1. A
pair's price is its base's USD price over its quote's. The walk of a token
depends only on the seed and the token's name, never on who asked when, so
two runs with the same seed and the same clock see the same prices.

A perpetual (``BASE:PERP-QUOTE``, any variant) trades at its spot price
times ``1 + basis``: the basis is the base token's own seeded walk, drawn
between -5 and +30 bps and moving by at most 0.1 bp a minute, always within
-10 to +50 bps.

The feed knows the stablecoins, the tokens of ``_INITIAL_USD`` and any
token given a price with :meth:`PriceFeed.set_price`; it prices nothing else
(an invented price would let an order on a misspelt pair fill).
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal

import attrs

__all__ = ["STABLECOINS", "Pair", "PriceFeed"]

STABLECOINS = frozenset({"USD", "USDT", "USDC", "BUSD", "DAI", "FDUSD", "TUSD"})
#: The tokens the feed knows from the start, at their USD price at the clock's start.
#: Add a line here to know one more in every sandbox; ``set_price`` adds one to a feed.
_INITIAL_USD = {
    "BTC": Decimal(60000),
    "ETH": Decimal(3000),
    "SOL": Decimal(150),
    "BNB": Decimal(600),
    "XRP": Decimal("0.6"),
    "DOGE": Decimal("0.15"),
}
_MAX_STEP_BPS = 10  # per step: up to ±0.1%
_SIGNIFICANT = 6
#: The basis walks in tenths of a basis point (exact integers): its start, its
#: bounds, and one step of at most one tenth per minute.
_BASIS_START = (-50, 300)
_BASIS_BOUNDS = (-100, 500)
_BASIS_STEP = dt.timedelta(minutes=1)
_TENTH_BPS = Decimal(100_000)


def _round(value: Decimal) -> Decimal:
    """Six significant digits: the tick of a real order book, roughly."""
    if value.is_zero():
        return value
    return value.quantize(Decimal(1).scaleb(value.adjusted() - _SIGNIFICANT + 1), ROUND_HALF_EVEN)


@attrs.frozen
class Pair:
    """A parsed pair: ``ETH-USDT`` or ``ETH:PERP-USDT``."""

    base: str
    quote: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Pair:
        """Split a pair the request models have already validated."""
        left, quote = text.rsplit("-", 1)
        base, _, variant = left.partition(":")
        return cls(base=base.upper(), quote=quote.upper(), variant=variant.upper() or None)

    @property
    def is_derivative(self) -> bool:
        """True for ``BASE:VARIANT-QUOTE`` pairs (perpetuals): they open positions."""
        return self.variant is not None

    @property
    def symbol(self) -> str:
        """The pair as the server spells it."""
        middle = f":{self.variant}" if self.variant else ""
        return f"{self.base}{middle}-{self.quote}"


@attrs.define
class _Walk:
    rng: random.Random
    step: int  # how many steps taken since the feed's start
    usd: Decimal


@attrs.define
class _Basis:
    rng: random.Random
    step: int  # minutes since the feed's start
    tenths: int  # the basis, in tenths of a basis point


class PriceFeed:
    """Prices per token and pair at any simulated time (moving forward)."""

    def __init__(self, seed: int, start: dt.datetime, step: dt.timedelta | None = None) -> None:
        self._seed = seed
        self._start = start
        self._step = step or dt.timedelta(seconds=1)
        self._walks: dict[str, _Walk] = {}
        self._bases: dict[str, _Basis] = {}
        #: Bumped by every :meth:`set_price`: a price may have jumped, so whoever
        #: relies on prices moving at most :meth:`max_step_bps` a second looks again.
        self.version: int = 0
        self._initial = dict(_INITIAL_USD)

    def is_known(self, token: str) -> bool:
        """Whether the feed prices ``token``: a stablecoin, or one with a starting price."""
        token = token.upper()
        return token in STABLECOINS or token in self._initial

    def known_tokens(self) -> list[str]:
        """Every token the feed prices, stablecoins last, each group sorted."""
        return [*sorted(self._initial), *sorted(STABLECOINS)]

    def pair_problems(self, pairs: Mapping[str, str]) -> dict[str, list[str]]:
        """``{field: [reason]}`` for each pair (field -> pair text) with a token not priced."""
        problems = {}
        for field, text in pairs.items():
            pair = Pair.parse(text)
            unknown = [t for t in dict.fromkeys((pair.base, pair.quote)) if not self.is_known(t)]
            if unknown:
                problems[field] = [
                    f"unknown pair {text!r}: the sandbox has no price for {' or '.join(unknown)}"
                    f" (it knows {', '.join(self.known_tokens())};"
                    " Sandbox.set_price or set_token_price gives a token a price)"
                ]
        return problems

    def _steps_at(self, at: dt.datetime) -> int:
        return max(0, (at - self._start) // self._step)

    def set_price(self, token: str, usd: Decimal, at: dt.datetime) -> None:
        """Pin ``token`` at ``usd`` from ``at`` on (the walk goes on from there).

        A token the feed did not know becomes known, starting at ``usd``.
        """
        if token.upper() in STABLECOINS:
            raise ValueError(f"{token} is a stablecoin: its price is 1")
        if not usd > 0:
            raise ValueError(f"a price must be > 0, got {usd}")
        self._initial.setdefault(token.upper(), _round(usd))
        walk = self._walk(token.upper(), at)
        walk.usd = _round(usd)
        self.version += 1

    def _walk(self, token: str, at: dt.datetime) -> _Walk:
        walk = self._walks.get(token)
        if walk is None:
            initial = self._initial.get(token)
            if initial is None:
                raise ValueError(
                    f"the sandbox has no price for {token!r}: Sandbox.set_token_price gives it one"
                    f" (known: {', '.join(self.known_tokens())})"
                )
            # crc32, not hash(): str hashes change from one process to the next.
            rng = random.Random(self._seed * 1_000_003 + zlib.crc32(token.encode()))  # noqa: S311 (a simulation, not a secret)
            walk = self._walks[token] = _Walk(rng=rng, step=0, usd=initial)
        target = self._steps_at(at)
        while walk.step < target:  # prices only move forward in time
            bps = walk.rng.randint(-_MAX_STEP_BPS, _MAX_STEP_BPS)
            walk.usd = _round(walk.usd * (10_000 + bps) / 10_000)
            walk.step += 1
        return walk

    def usd(self, token: str, at: dt.datetime) -> Decimal:
        """A token's USD price at ``at`` (1 for stablecoins)."""
        token = token.upper()
        if token in STABLECOINS:
            return Decimal(1)
        return self._walk(token, at).usd

    def spot(self, pair: Pair, at: dt.datetime) -> Decimal:
        """The spot price of a pair's tokens (quote per base), whatever its variant."""
        base, quote = self.usd(pair.base, at), self.usd(pair.quote, at)
        return base if quote == 1 else _round(base / quote)

    def price(self, pair: Pair, at: dt.datetime) -> Decimal:
        """A pair's price (quote per base) at ``at``: a perpetual's includes its basis."""
        spot = self.spot(pair, at)
        if not pair.is_derivative:
            return spot
        return _round(spot * (_TENTH_BPS + self._basis(pair.base, at)) / _TENTH_BPS)

    def basis_bps(self, token: str, at: dt.datetime) -> Decimal:
        """The basis of ``token``'s perpetuals over its spot price, in basis points."""
        return Decimal(self._basis(token.upper(), at)) / 10

    def _basis(self, token: str, at: dt.datetime) -> int:
        basis = self._bases.get(token)
        if basis is None:
            seed = f"{self._seed}:{token}:basis"  # str seeds hash the same in every process
            rng = random.Random(seed)  # noqa: S311 (a simulation, not a secret)
            basis = self._bases[token] = _Basis(rng=rng, step=0, tenths=rng.randint(*_BASIS_START))
        target = max(0, (at - self._start) // _BASIS_STEP)
        low, high = _BASIS_BOUNDS
        while basis.step < target:
            basis.tenths = min(high, max(low, basis.tenths + basis.rng.randint(-1, 1)))
            basis.step += 1
        return basis.tenths

    def max_step_bps(self, pair: Pair) -> Decimal:
        """A bound on how far ``pair``'s price moves in one second, in basis points.

        Each walking token moves at most 10 bps a step plus half a tick of
        rounding; the pair's own rounding and a perpetual's basis add less than
        one more. Holds between calls of :meth:`set_price` (see :attr:`version`).
        """
        walking = sum(token not in STABLECOINS for token in (pair.base, pair.quote))
        return Decimal(11) * walking + 1
