"""The SDK's httpx transports, one module each, and what the engine asks of a transport.

- :class:`H11PoolTransport` (``_h11``): the default, an HTTP/1.1 keep-alive
  pool with O(1) checkout, replies parsed by llhttp (``_http11``, through
  ``httptools``); asyncio, uvloop and trio.
- :class:`AiohttpTransport` (``_aiohttp``): an ``aiohttp.ClientSession``
  behind httpx; asyncio and uvloop; the ``aiohttp`` extra.

Both raise connect and pool errors only when nothing was sent, stop reading
a reply at the SDK's size limit, open a new connection when asked, and never
hand out a connection the server has closed (``_common`` has the details).
"""

from __future__ import annotations

import httpx

from taas_async._transports._aiohttp import AiohttpTransport
from taas_async._transports._common import DEFAULT_LIMITS
from taas_async._transports._h11 import H11PoolTransport

__all__ = ["DEFAULT_LIMITS", "AiohttpTransport", "H11PoolTransport"]

#: Transports whose ConnectError/ConnectTimeout/PoolTimeout come only before
#: anything was sent (the transport tests hold them to it).
_EXACT = (H11PoolTransport, AiohttpTransport, httpx.AsyncHTTPTransport)


def connect_errors_are_exact(transports: list[httpx.AsyncBaseTransport | None]) -> bool:
    """Whether every one of ``transports`` raises connect errors only before sending.

    A transport we do not know may report a connection lost after sending as
    a connect error (httpx-aiohttp does): then no error proves an order POST
    never left, and every failure is reconciled instead of resent. ``None``
    stands for httpx's own transport (what httpx builds when given none).
    """
    return all(t is None or type(t) in _EXACT for t in transports)


def proxy_of(transport: object, url: str) -> str | None:
    """The proxy requests to ``url`` take on ``transport`` (None: direct, or not known).

    Our pool names it (its URL, without credentials); httpx's own transport
    built with ``proxy=`` is "httpx's proxy" (its URL may hold credentials).
    """
    if isinstance(transport, H11PoolTransport):
        return transport.proxy_for(url)
    pool = getattr(transport, "_pool", None)
    if isinstance(transport, httpx.AsyncHTTPTransport) and type(pool).__name__ in (
        "AsyncHTTPProxy",
        "AsyncSOCKSProxy",
    ):
        return "httpx's proxy"
    return None


def transport_for(http: httpx.AsyncClient, url: str) -> httpx.AsyncBaseTransport | None:
    """The transport ``http`` sends a request to ``url`` through (its mounts considered)."""
    pick = getattr(http, "_transport_for_url", None)  # private, as in transports_of
    if pick is None:
        return getattr(http, "_transport", None)
    chosen: httpx.AsyncBaseTransport = pick(httpx.URL(url))
    return chosen


def transports_of(http: httpx.AsyncClient) -> list[httpx.AsyncBaseTransport | None]:
    """The transports an ``http_client`` someone else built sends through.

    httpx has no public way to ask; its attributes are read here, in this one
    place, and anything unexpected counts as an unknown transport.
    """
    return [getattr(http, "_transport", None), *getattr(http, "_mounts", {}).values()]
