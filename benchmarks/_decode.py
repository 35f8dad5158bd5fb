"""A page of orders from bytes: the SDK's decoding path against ``json.loads``, no I/O.

The page is what ``server.py`` serves for ``GET /api/orders/``: the seed
order repeated with distinct ids, in TaaS's ``{"orders": [...], "count",
"num_pages"}`` envelope. The SDK side is the very function its client runs
on a successful reply, ``_wire.decode_success`` (exact JSON decoding, every
decimal a ``Decimal``, then structuring with the ``get_all_orders``
endpoint's own parser), given an ``httpx.Response`` holding those bytes;
``.orders`` is the list of typed ``Order`` objects. The baseline is
``json.loads`` of the same bytes. Beside them, two floors:

- ``json.loads`` then the thousand ``Order``s built from values converted
  beforehand: what any decoder to these attrs classes pays before it reads
  a single field;
- the whole job done by C where C can do it (msgspec, when installed): the
  page decoded once untyped (every order's ``raw``, non-integer numbers as
  ``Decimal``) and once into a ``msgspec.Struct`` mirroring ``Order``
  (exact decimals and aware datetimes read in C), then each ``Order`` built
  from its struct's values and its ``raw``. None of the SDK's rules is
  applied (open enums, the ``-1`` price sentinel, ``""`` as no custom id,
  the decimal bounds, an error's JSON path): the fastest decoder measured
  here, doing less than the SDK must.
"""

from __future__ import annotations

import gc
import json
import math
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import attrs
import httpx
from server import SEED_ORDER, orders_page

from taas_async import Order, _wire
from taas_async._converter import _open_enum_of
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


#: Fields the SDK's own rules change, which the C floor leaves as sent: open enums
#: (``OrderStatus | str``: msgspec takes a union of one string-like type only),
#: the ``-1`` price sentinel, ``""`` as no custom id.
_RULED = frozenset(
    {"status", "side", "strategy", "pos_side", "limit_price", "stop_price", "custom_order_id"}
)


def c_floor_decoder(body: bytes, orders: list[Order]) -> Callable[[], list[Order]] | None:
    """The page with msgspec doing every part C can do (see the module); None without msgspec.

    Checked against ``orders`` (the SDK's own decoding of ``body``) before it is
    timed: the same ids, and the same values, to the type, in every field but
    those the SDK's rules change; so it measures a decoder that works.
    """
    try:
        import msgspec  # noqa: PLC0415 (optional: a benchmark extra, not the SDK's)
    except ImportError:
        return None

    def mirrored(a: attrs.Attribute[Any]) -> tuple[str, Any, Any]:
        tp = str | None if _open_enum_of(a.type) is not None else a.type
        default = a.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            return a.name, tp, msgspec.field(default_factory=default.factory)
        return (a.name, tp) if default is attrs.NOTHING else (a.name, tp, default)

    struct = msgspec.defstruct(
        "OrderStruct", [mirrored(a) for a in attrs.fields(Order) if a.name != "raw"]
    )
    page = msgspec.defstruct("PageStruct", [("orders", list[struct])])  # type: ignore[valid-type]
    untyped = msgspec.json.Decoder(float_hook=Decimal)
    typed = msgspec.json.Decoder(page)
    astuple = msgspec.structs.astuple

    def decode() -> list[Order]:
        raws = untyped.decode(body)["orders"]
        values = typed.decode(body).orders
        return [Order(*astuple(v), raw) for v, raw in zip(values, raws, strict=True)]

    names = [a.name for a in attrs.fields(Order) if a.name not in _RULED | {"raw"}]
    got = decode()
    for mine, theirs in zip(got, orders, strict=True):
        for name in names:
            a, b = getattr(mine, name), getattr(theirs, name)
            if type(a) is not type(b) or a != b:
                raise RuntimeError(f"the C floor read {name} as {a!r}, the SDK as {b!r}")
        if mine.raw != theirs.raw:
            raise RuntimeError("the C floor's raw differs from the SDK's")
    return decode


@dataclass
class DecodeResult:
    orders: int
    body_bytes: int
    number: int = 0  # decodings per timing
    raw_s: list[float] = field(default_factory=list)  # per round: min over repeats
    sdk_s: list[float] = field(default_factory=list)
    floor_s: list[float] = field(default_factory=list)  # see floor_decoder
    c_floor_s: list[float] = field(default_factory=list)  # see c_floor_decoder; [] without it
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
        c_floor_fn = c_floor_decoder(body, decoded)
        c_floor = None if c_floor_fn is None else _timer(c_floor_fn)
        number = 1
        while typed.timeit(number) < min_time and number < 1 << 16:  # bounded calibration
            number *= 2
        result.number = number
        for _ in range(rounds):
            best_raw = best_sdk = best_floor = best_c_floor = math.inf
            for _ in range(repeats):  # interleaved: a noisy moment hits all
                best_raw = min(best_raw, raw.timeit(number) / number)
                best_sdk = min(best_sdk, typed.timeit(number) / number)
                best_floor = min(best_floor, floor.timeit(number) / number)
                if c_floor is not None:
                    best_c_floor = min(best_c_floor, c_floor.timeit(number) / number)
            result.raw_s.append(best_raw)
            result.sdk_s.append(best_sdk)
            result.floor_s.append(best_floor)
            if c_floor is not None:
                result.c_floor_s.append(best_c_floor)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:200]
    return result
