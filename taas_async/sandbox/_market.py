"""The simulated market around the price walk: spread, depth, volume, fees.

Every figure is an exact ``Decimal`` (or an integer) derived from the seed,
the pair and the time, never from who asked when:

- **Spread.** The touch is ``HALF_SPREAD_BPS`` either side of the mid (the
  walk's price): a buyer taking liquidity pays ``mid * (1 + 1 bp)`` before
  impact.
- **Depth.** Beyond the touch the book holds ``DEPTH_USD_PER_BP`` (in USD)
  per basis point, on each side. A taker of ``q`` base worth ``q * usd``
  walks ``q * usd / DEPTH_USD_PER_BP`` bps into it, so its average price is
  ``mid * (1 ± (HALF_SPREAD_BPS + q * usd / (2 * DEPTH_USD_PER_BP)) / 10_000)``
  (at most ``MAX_SLIPPAGE_BPS`` from the mid), rounded to the price's tick.
- **Volume.** Each pair trades ``VOLUME_USD_PER_SECOND`` on average, shaped
  over the UTC day (:func:`day_weight`: four times as much at midnight as at
  noon) and scaled each second by a seeded factor between 0.5 and 1.5.
- **Fees.** A rate per exchange, in basis points of each fill's notional
  (:data:`DEFAULT_FEE_BPS`).
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal

from taas_async._enums import Side
from taas_async.sandbox._prices import Pair, PriceFeed, _round

__all__ = [
    "DEFAULT_FEE_BPS",
    "DEPTH_USD_PER_BP",
    "HALF_SPREAD_BPS",
    "MAX_SLIPPAGE_BPS",
    "VOLUME_USD_PER_SECOND",
    "FeeTable",
    "Market",
    "day_weight",
]

HALF_SPREAD_BPS = Decimal(1)
DEPTH_USD_PER_BP = Decimal(25_000)
MAX_SLIPPAGE_BPS = Decimal(5_000)  # beyond half the price, the book is bottomless
VOLUME_USD_PER_SECOND = Decimal(10_000)
#: Fee rates in basis points per exchange name; ``"*"`` is every other exchange.
DEFAULT_FEE_BPS: Mapping[str, Decimal] = {
    "Mock": Decimal(2),
    "Binance": Decimal(4),
    "OKX": Decimal(5),
    "*": Decimal(5),
}

_BPS = Decimal(10_000)
_LOT = Decimal("1e-8")
_NOON = 43_200  # seconds from midnight to noon
_DAY = 86_400
_MASK = (1 << 64) - 1


def day_weight(second: int) -> int:
    """The intraday volume profile at a second of the UTC day (an integer weight).

    U-shaped: ``NOON**2 + 3 * (second - NOON)**2``, so midnight (the day's open
    and close) weighs four times noon. Its mean over the day is
    ``2 * NOON**2``: divided by that, it is the factor applied to
    ``VOLUME_USD_PER_SECOND``.
    """
    off = second % _DAY - _NOON
    return _NOON * _NOON + 3 * off * off


def _mix(*parts: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps): the same in every process."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = (h ^ (part & _MASK)) * 0xBF58476D1CE4E5B9 & _MASK
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & _MASK
        h ^= h >> 29
    return h


class FeeTable:
    """Fee rates per exchange (basis points of notional, charged in the quote token).

    ``rates`` maps exchange names (matched case-insensitively) to rates;
    ``"*"`` gives the rate of every exchange not named, 0 when absent. The
    table replaces the default one: ``FeeTable({})`` charges nothing.
    """

    def __init__(self, rates: Mapping[str, Decimal] = DEFAULT_FEE_BPS) -> None:
        table: dict[str, Decimal] = {}
        for name, rate in rates.items():
            value = Decimal(rate)
            if not (value.is_finite() and 0 <= value < _BPS):
                raise ValueError(f"fee rate for {name!r} must be >= 0 and < 10000 bps, got {rate}")
            table[name.lower()] = value
        self._rates = table

    def bps(self, exchange: str) -> Decimal:
        """The rate ``exchange`` charges, in basis points."""
        return self._rates.get(exchange.lower(), self._rates.get("*", Decimal(0)))

    def fee(self, exchange: str, notional: Decimal) -> Decimal:
        """The fee on a fill of ``notional`` quote: exact, never rounded."""
        return notional * self.bps(exchange) / _BPS


class Market:
    """Prices for takers, makers and algorithms, and traded volume, over a :class:`PriceFeed`."""

    def __init__(self, prices: PriceFeed, seed: int) -> None:
        self.prices = prices
        self._seed = seed

    def mid(self, pair: Pair, at: dt.datetime) -> Decimal:
        """The pair's price at ``at`` (the walk's; a perpetual's includes its basis)."""
        return self.prices.price(pair, at)

    @staticmethod
    def _away(mid: Decimal, side: Side, bps: Decimal) -> Decimal:
        """``mid`` moved ``bps`` against ``side`` (up for a buy), rounded to the tick."""
        sign = 1 if side is Side.BUY else -1
        return _round(mid * (_BPS + sign * bps) / _BPS)

    def taker_price(self, pair: Pair, side: Side, qty: Decimal, at: dt.datetime) -> Decimal:
        """The average price of taking ``qty`` base from the book now."""
        impact = qty * self.prices.usd(pair.base, at) / (2 * DEPTH_USD_PER_BP)
        slippage = min(HALF_SPREAD_BPS + impact, MAX_SLIPPAGE_BPS)
        return self._away(self.mid(pair, at), side, slippage)

    def algo_price(self, pair: Pair, side: Side, passiveness: Decimal, at: dt.datetime) -> Decimal:
        """Where an algorithm's child order trades: between the far and near touch.

        ``engine_passiveness`` 0 takes the far touch (``mid ± 1 bp``), 0.5 trades
        at the mid, 1 rests on the near touch and earns the spread.
        """
        return self._away(self.mid(pair, at), side, HALF_SPREAD_BPS * (1 - 2 * passiveness))

    def liquidity(self, pair: Pair, side: Side, limit: Decimal, at: dt.datetime) -> Decimal:
        """How much base a taker finds at prices no worse than ``limit`` (whole lots)."""
        mid = self.mid(pair, at)
        room = (limit / mid - 1) if side is Side.BUY else (1 - limit / mid)
        depth_bps = min(room * _BPS, MAX_SLIPPAGE_BPS) - HALF_SPREAD_BPS
        if depth_bps <= 0:
            return Decimal(0)
        usd = depth_bps * DEPTH_USD_PER_BP
        return (usd / self.prices.usd(pair.base, at)).quantize(_LOT, ROUND_DOWN)

    def noise(self, pair: Pair, second: int) -> int:
        """The seeded volume factor of one second, in thousandths (500 to 1500)."""
        return 500 + _mix(self._seed, zlib.crc32(pair.symbol.encode()), second) % 1001

    def volume(self, pair: Pair, start: dt.datetime, end: dt.datetime) -> Decimal:
        """Base traded on ``pair`` in the whole seconds of ``(start, end]`` (whole lots).

        Each second ``s`` (counted in Unix time) trades
        ``VOLUME_USD_PER_SECOND * day_weight(s) / (2 * NOON**2) * noise(s) / 1000``
        USD, turned into base at ``end``'s USD price of the base token.
        """
        first, last = int(start.timestamp()) + 1, int(end.timestamp())
        if last < first:
            return Decimal(0)
        weight = sum(day_weight(s) * self.noise(pair, s) for s in range(first, last + 1))
        usd = VOLUME_USD_PER_SECOND * weight / (2 * _NOON * _NOON * 1000)
        return (usd / self.prices.usd(pair.base, end)).quantize(_LOT, ROUND_DOWN)
