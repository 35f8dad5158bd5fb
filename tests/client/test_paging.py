"""iter_orders and iter_multi_orders: paging through a list, lazily, stopping where it ends.

Both lists page the same way, except for the name of the page number (``page``
for orders, ``page_number`` for multi orders), so every test runs on both.
Paging stops on ``num_pages``, on ``count``, or on a short or empty page when
the server gives no totals; it starts at the page asked for; it trusts no page
size (servers cap it); and a server that ignores the page number and repeats
itself is caught on the second request instead of looping for ever.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx
from conftest import API

from taas_async import (
    AsyncClient,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    MultiOrder,
    Order,
    OrderStatus,
    ResponseDecodeError,
)


@dataclasses.dataclass(frozen=True)
class Listing:
    """One paged list: where it is, what numbers its pages, how the client walks it."""

    path: str
    key: str  # the list's key in a page
    page_field: str
    filters: Callable[..., Any]  # its request class
    walk: Callable[..., AsyncIterator[Any]]  # (client, request) -> the iterator
    item: type


ORDERS = Listing(
    "orders/", "orders", "page", GetOrdersRequest, lambda c, *a: c.iter_orders(*a), Order
)
MULTI_ORDERS = Listing(
    "multi_orders/",
    "multi_orders",
    "page_number",
    GetMultiOrdersRequest,
    lambda c, *a: c.iter_multi_orders(*a),
    MultiOrder,
)


@pytest.fixture(params=[ORDERS, MULTI_ORDERS], ids=["orders", "multi_orders"])
def listing(request: pytest.FixtureRequest) -> Listing:
    return request.param  # type: ignore[no-any-return]


def _orders(*ids: str) -> list[dict[str, str]]:
    return [{"id": i, "status": "ACTIVE"} for i in ids]


class PagedOrders:
    """A respx side effect serving ``pages`` (1-based), recording which were asked for.

    It serves them whatever page_size is asked for (servers cap it), and with
    ``ignore_page`` it serves page 1 whatever page is asked for.
    """

    def __init__(
        self,
        listing: Listing,
        pages: list[list[dict[str, str]]],
        *,
        num_pages: int | None = None,
        count: int | None = None,
        ignore_page: bool = False,
    ) -> None:
        self.listing = listing
        self.pages = pages
        self.num_pages = num_pages
        self.count = count
        self.ignore_page = ignore_page
        self.requested: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.requested.append(params)
        assert len(self.requested) <= 10, "the iterator kept asking: it would loop for ever"
        index = 0 if self.ignore_page else int(params[self.listing.page_field]) - 1
        items = self.pages[index] if index < len(self.pages) else []
        body: dict[str, Any] = {self.listing.key: items}
        if self.num_pages is not None:
            body["num_pages"] = self.num_pages
        if self.count is not None:
            body["count"] = self.count
        return httpx.Response(200, json=body)

    @property
    def pages_requested(self) -> list[int]:
        return [int(p[self.listing.page_field]) for p in self.requested]


async def _collect(items: AsyncIterator[Any], into: list[str]) -> None:
    """Append each item's id as it is yielded, so the ids before an error are kept."""
    async for item in items:
        into.append(item.id)


SIX = [_orders("a", "b"), _orders("c", "d"), _orders("e", "f")]


# --------------------------------------------------------------------------- pages as asked


@pytest.mark.asyncio
async def test_iter_stops_on_num_pages(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    # Every page is full, so only num_pages can stop it: page 3 must not be asked for.
    server = PagedOrders(
        listing, [_orders("a", "b"), _orders("c", "d"), _orders("e", "f")], num_pages=2
    )
    mock_api.get(listing.path).mock(side_effect=server)
    ids = [o.id async for o in listing.walk(client, listing.filters(page_size=2))]
    assert ids == ["a", "b", "c", "d"]
    assert server.pages_requested == [1, 2]
    assert all(p["page_size"] == "2" for p in server.requested)


@pytest.mark.asyncio
async def test_iter_stops_on_short_page(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    server = PagedOrders(
        listing, [_orders("a", "b"), _orders("c"), _orders("d", "e")], num_pages=None
    )
    mock_api.get(listing.path).mock(side_effect=server)
    ids = [o.id async for o in listing.walk(client, listing.filters(page_size=2))]
    assert ids == ["a", "b", "c"]
    assert server.pages_requested == [1, 2]


@pytest.mark.asyncio
async def test_iter_stops_on_empty_page(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    server = PagedOrders(listing, [_orders("a", "b"), _orders("c", "d")], num_pages=None)
    mock_api.get(listing.path).mock(side_effect=server)
    items = [o async for o in listing.walk(client, listing.filters(page_size=2))]
    assert [o.id for o in items] == ["a", "b", "c", "d"]
    assert all(type(o) is listing.item and o.status == OrderStatus.ACTIVE for o in items)
    assert server.pages_requested == [1, 2, 3]  # page 3 is empty: stop, no page 4


@pytest.mark.asyncio
async def test_iter_default_page_size_and_filters(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    server = PagedOrders(listing, [_orders("a")], num_pages=None)
    mock_api.get(listing.path).mock(side_effect=server)
    request = listing.filters(statuses=["ACTIVE"], custom_order_ids=["x", "y"])
    ids = [o.id async for o in listing.walk(client, request)]
    assert ids == ["a"]
    assert server.requested == [
        {
            "statuses": "ACTIVE",
            "custom_order_ids": "x,y",
            listing.page_field: "1",
            "page_size": "100",
        }
    ]
    assert getattr(request, listing.page_field) is None  # the caller's request is unchanged


@pytest.mark.asyncio
async def test_iter_starts_at_requested_page(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    server = PagedOrders(listing, [_orders("a"), _orders("b"), _orders("c")], num_pages=3)
    mock_api.get(listing.path).mock(side_effect=server)
    ids = [
        o.id
        async for o in listing.walk(client, listing.filters(**{listing.page_field: 2}, page_size=1))
    ]
    assert ids == ["b", "c"]
    assert server.pages_requested == [2, 3]


@pytest.mark.asyncio
async def test_iter_is_lazy(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    server = PagedOrders(
        listing, [_orders("a", "b"), _orders("c", "d"), _orders("e")], num_pages=None
    )
    mock_api.get(listing.path).mock(side_effect=server)
    iterator = listing.walk(client, listing.filters(page_size=2))
    assert server.pages_requested == []  # nothing before the first item is asked for
    assert (await anext(iterator)).id == "a"
    assert server.pages_requested == [1]
    assert (await anext(iterator)).id == "b"
    assert server.pages_requested == [1]  # page 1 not yet exhausted past its last item
    assert (await anext(iterator)).id == "c"
    assert server.pages_requested == [1, 2]
    await iterator.aclose()
    assert server.pages_requested == [1, 2]  # abandoning it asks for nothing more


# --------------------------------------------------------------------------- capped pages


@pytest.mark.asyncio
async def test_iter_capped_page_size_with_num_pages_yields_every_page(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    server = PagedOrders(listing, SIX, num_pages=3)
    mock_api.get(listing.path).mock(side_effect=server)
    ids = [o.id async for o in listing.walk(client)]
    assert ids == ["a", "b", "c", "d", "e", "f"]
    assert server.pages_requested == [1, 2, 3]
    assert [p["page_size"] for p in server.requested] == ["100", "100", "100"]


@pytest.mark.asyncio
async def test_iter_capped_page_size_with_count_only_yields_every_page(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    server = PagedOrders(listing, SIX, count=6)
    mock_api.get(listing.path).mock(side_effect=server)
    ids = [o.id async for o in listing.walk(client)]
    assert ids == ["a", "b", "c", "d", "e", "f"]
    assert server.pages_requested == [1, 2, 3]  # count reached: no page 4


@pytest.mark.asyncio
async def test_iter_count_from_a_later_start_page(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    # Starting at page 2 of a server serving 2 per page: 2 orders were skipped.
    server = PagedOrders(listing, SIX, count=6)
    mock_api.get(listing.path).mock(side_effect=server)
    ids = [o.id async for o in listing.walk(client, listing.filters(**{listing.page_field: 2}))]
    assert ids == ["c", "d", "e", "f"]
    assert server.pages_requested == [2, 3]


@pytest.mark.asyncio
async def test_iter_server_ignoring_page_raises_after_the_second_request(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    # A full page every time, no num_pages or count: only the repeat check can stop it.
    server = PagedOrders(listing, [_orders("a", "b")], ignore_page=True)
    mock_api.get(listing.path).mock(side_effect=server)
    yielded: list[str] = []
    with pytest.raises(ResponseDecodeError) as info:
        await _collect(listing.walk(client, listing.filters(page_size=2)), yielded)
    assert yielded == ["a", "b"]  # page 1 once, never its duplicate
    assert server.pages_requested == [1, 2]
    err = info.value
    assert "page 2 repeats page 1" in str(err)
    assert err.status_code == 200
    assert err.method == "GET"
    assert err.url == API + listing.path
    assert repr(listing.page_field) in str(err)  # says which parameter is ignored


@pytest.mark.asyncio
async def test_iter_repeat_error_keeps_a_page_holding_a_number_too_long_to_send(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    """The repeated page goes into the error as text, even with a number no body may carry."""
    # A short literal, read as a Decimal and kept in raw; written out, a gigabyte.
    text = f'{{"{listing.key}": [{{"id": "a", "status": "ACTIVE", "extra": 1E+999999999}}]}}'
    mock_api.get(listing.path).mock(
        return_value=httpx.Response(200, text=text, headers={"Content-Type": "application/json"})
    )
    with pytest.raises(ResponseDecodeError, match="page 2 repeats page 1") as info:
        await _collect(listing.walk(client, listing.filters(page_size=1)), [])
    assert "1E+999999999" in info.value.text


@pytest.mark.asyncio
async def test_iter_server_ignoring_page_with_num_pages_still_raises(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    server = PagedOrders(listing, [_orders("a", "b")], num_pages=3, ignore_page=True)
    mock_api.get(listing.path).mock(side_effect=server)
    yielded: list[str] = []
    with pytest.raises(ResponseDecodeError, match="page 2 repeats page 1"):
        await _collect(listing.walk(client), yielded)
    assert yielded == ["a", "b"]
    assert server.pages_requested == [1, 2]


@pytest.mark.asyncio
async def test_iter_without_totals_a_short_page_stops(
    mock_api: respx.MockRouter, client: AsyncClient, listing: Listing
) -> None:
    # 2 of the 100 asked for and no num_pages/count: nothing says there is more.
    server = PagedOrders(listing, SIX)
    mock_api.get(listing.path).mock(side_effect=server)
    ids = [o.id async for o in listing.walk(client)]
    assert ids == ["a", "b"]
    assert server.pages_requested == [1]
