"""A page of orders from bytes: the SDK's decoding path against ``json.loads``, no I/O.

The page is what ``server.py`` serves for ``GET /api/orders/``: the seed
order repeated with distinct ids, in TaaS's ``{"orders": [...], "count",
"num_pages"}`` envelope. The SDK side is the very function its client runs
on a successful reply, ``_wire.decode_success`` (exact JSON decoding, every
decimal a ``Decimal``, then structuring with the ``get_all_orders``
endpoint's own parser), given an ``httpx.Response`` holding those bytes;
``.orders`` is the list of typed ``Order`` objects. The baseline is
``json.loads`` of the same bytes. Beside them, the floor: ``json.loads``
then the thousand ``Order``s built from values converted beforehand, what
any decoder to these attrs classes pays before it reads a single field.
"""

from __future__ import annotations

import gc
import json
import math
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import attrs
import httpx
from server import SEED_ORDER, orders_page

from taas_async import Order, _wire
from taas_async._endpoints import GET_ALL_ORDERS


def page_body(orders: int) -> bytes:
    """One page of ``orders`` distinct orders, compact JSON, as the server sends it."""
    seed = json.loads(SEED_ORDER.read_text())
    return orders_page(seed, orders, 1, orders)


def sdk_decoder(body: bytes) -> Callable[[], list[Order]]:
    """Bytes of a page to its typed orders, the way the SDK's client does it."""
    url = "http://127.0.0.1/api/orders/?page=1"
    response = httpx.Response(
        200,
        content=body,
        headers={"content-type": "application/json"},
        request=httpx.Request("GET", url),
    )
    parse = GET_ALL_ORDERS.parse

    def decode() -> list[Order]:
        page = _wire.decode_success(response, "GET", url, parse, allow_empty=False)
        return page.orders  # type: ignore[no-any-return]

    return decode


def floor_decoder(body: bytes, orders: list[Order]) -> Callable[[], list[Order]]:
    """The floor under any decoder to attrs ``Order``s: ``json.loads``, then each ``Order``
    built from its fields' values, every one converted already (nothing read, nothing checked).
    """
    names = [a.name for a in attrs.fields(Order)]
    values = [tuple(getattr(order, name) for name in names) for order in orders]

    def decode() -> list[Order]:
        json.loads(body)
        return [Order(*row) for row in values]

    return decode


@dataclass
class DecodeResult:
    orders: int
    body_bytes: int
    number: int = 0  # decodings per timing
    raw_s: list[float] = field(default_factory=list)  # per round: min over repeats
    sdk_s: list[float] = field(default_factory=list)
    floor_s: list[float] = field(default_factory=list)  # see floor_decoder
    error: str = ""

    @property
    def ratios(self) -> list[float]:
        return [s / r for r, s in zip(self.raw_s, self.sdk_s, strict=True) if r > 0]


def _timer(fn: Callable[[], Any]) -> timeit.Timer:
    # With the garbage collector on, as in a program: building many objects triggers it.
    return timeit.Timer(fn, setup="gc.enable()", globals={"gc": gc})


def measure_decode(orders: int, rounds: int, repeats: int, min_time: float) -> DecodeResult:
    """Per round, the min over ``repeats`` interleaved timings of each side."""
    body = page_body(orders)
    result = DecodeResult(orders, len(body))
    sdk = sdk_decoder(body)
    try:
        decoded = sdk()
        if len(decoded) != orders or len({o.id for o in decoded}) != orders:
            raise RuntimeError("the page did not decode to distinct orders")
        raw, typed = _timer(lambda: json.loads(body)), _timer(sdk)
        floor = _timer(floor_decoder(body, decoded))
        number = 1
        while typed.timeit(number) < min_time and number < 1 << 16:  # bounded calibration
            number *= 2
        result.number = number
        for _ in range(rounds):
            best_raw = best_sdk = best_floor = math.inf
            for _ in range(repeats):  # interleaved: a noisy moment hits all
                best_raw = min(best_raw, raw.timeit(number) / number)
                best_sdk = min(best_sdk, typed.timeit(number) / number)
                best_floor = min(best_floor, floor.timeit(number) / number)
            result.raw_s.append(best_raw)
            result.sdk_s.append(best_sdk)
            result.floor_s.append(best_floor)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:200]
    return result
