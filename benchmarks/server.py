#!/usr/bin/env python3
"""The benchmark's TaaS stand-in: a small, fast HTTP/1.1 keep-alive server (stdlib only).

    python benchmarks/server.py --latency-ms 20 --latency-ms 0 [--cpu 1] [--body FILE]
                                [--list-orders 1000] [--tls-cert FILE --tls-key FILE]

Listens on 127.0.0.1, one port per ``--latency-ms`` (port 0: the OS picks;
with ``--tls-cert``/``--tls-key``, one HTTPS port per latency after them),
and answers, after that many milliseconds, without blocking
(``loop.call_later``), always ``Content-Type: application/json``:

- ``GET /api/order/{id}`` and ``POST /api/orders/``: the seed order;
- ``GET /api/orders/?page=P&page_size=S``: page P of a list of
  ``--list-orders`` orders (the seed order with distinct ids), in the shape
  TaaS sends, ``{"orders": [...], "count": N, "num_pages": M}`` (S defaults
  to 100; a page past the end is a 404, as TaaS answers);

anything else gets a JSON 404. The ``Authorization`` header is accepted and
not checked.

Control, one line each way (``bench.py`` drives it through pipes):

- on start it prints the ports as a JSON list, one line, on stdout;
- ``cpu`` on stdin: it prints its ``time.process_time()``;
- ``stop`` or end of stdin: it exits (and after 6 hours in any case).

A raw asyncio protocol rather than a framework, so that it is never the
bottleneck: it parses the request head and Content-Length and writes a
prebuilt reply, one request at a time per connection (pipelined requests wait
their turn, as HTTP/1.1 requires).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import ssl
import sys
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

SEED_ORDER = Path(__file__).resolve().parent.parent / "tests" / "data" / "seed_order.json"


def order_body(path: Path = SEED_ORDER) -> bytes:
    """The seed order, compact, as a server would send it."""
    return json.dumps(json.loads(path.read_text()), separators=(",", ":")).encode()


def listed_order(seed: dict[str, object], number: int) -> dict[str, object]:
    """The seed order as the ``number``-th order of a list: its own id and custom id."""
    return {
        **seed,
        "id": f"00000000-0000-4000-8000-{number:012d}",
        "custom_order_id": f"listed-{number}",
    }


def orders_page(seed: dict[str, object], total: int, page: int, size: int) -> bytes:
    """Page ``page`` (from 1) of ``total`` listed orders, ``size`` a page, compact JSON."""
    first = (page - 1) * size
    body = {
        "orders": [listed_order(seed, i) for i in range(first, min(first + size, total))],
        "count": total,
        "num_pages": max(1, -(-total // size)),
    }
    return json.dumps(body, separators=(",", ":")).encode()


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CONNECTION_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
_MAX_HEAD = 64 * 1024
MAX_LIFETIME_S = 6 * 3600.0


def _reply(status: str, body: bytes, *, close: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nServer: taas-bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    if close:
        head += "Connection: close\r\n"
    return head.encode("ascii") + b"\r\n" + body


class _Replies:
    def __init__(self, body: bytes, list_orders: int) -> None:
        self.order = {close: _reply("200 OK", body, close=close) for close in (False, True)}
        self._seed = json.loads(body)
        self._list_orders = list_orders
        self._pages: dict[tuple[int, int, bool], bytes] = {}  # built once, on demand
        missing = b'{"detail":"Not found."}'
        self.not_found = {
            close: _reply("404 Not Found", missing, close=close) for close in (False, True)
        }
        self.length_required = _reply("411 Length Required", b'{"detail":"no chunks"}', close=True)

    def route(self, method: bytes, target: bytes, close: bool) -> bytes:
        path = target.split(b"?", 1)[0]
        if method == b"GET" and path.startswith(b"/api/order/") and len(path) > 11:
            return self.order[close]
        if method == b"POST" and path == b"/api/orders/":
            return self.order[close]
        if method == b"GET" and path == b"/api/orders/":
            return self._page(target, close)
        return self.not_found[close]

    def _page(self, target: bytes, close: bool) -> bytes:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query.decode("latin-1"))
        try:
            page = int(query.get("page", ["1"])[0])
            size = int(query.get("page_size", ["100"])[0])
        except ValueError:
            return self.not_found[close]
        pages = max(1, -(-self._list_orders // size)) if size > 0 else 0
        if not 1 <= page <= pages:
            return self.not_found[close]
        key = (page, size, close)
        if key not in self._pages:
            body = orders_page(self._seed, self._list_orders, page, size)
            self._pages[key] = _reply("200 OK", body, close=close)
        return self._pages[key]


class _HTTPProtocol(asyncio.Protocol):
    def __init__(self, latency_s: float, replies: _Replies) -> None:
        self._latency = latency_s
        self._replies = replies
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._pending: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def data_received(self, data: bytes) -> None:
        self._buf += data
        self._serve()

    def _open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def _serve(self) -> None:
        # Bounded: every turn consumes one whole request from the buffer.
        while self._pending is None and self._open():
            parsed = self._next_request()
            if parsed is None:
                return
            reply, close = parsed
            if self._latency > 0:
                self._pending = asyncio.get_running_loop().call_later(
                    self._latency, self._finish, reply, close
                )
                return
            self._write(reply, close)

    def _finish(self, reply: bytes, close: bool) -> None:
        self._pending = None
        self._write(reply, close)
        self._serve()

    def _write(self, reply: bytes, close: bool) -> None:
        if self._transport is None:
            return
        self._transport.write(reply)
        if close:
            self._transport.close()

    def _next_request(self) -> tuple[bytes, bool] | None:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEAD and self._transport is not None:
                self._transport.close()
            return None
        head = bytes(buf[:end])
        if b"transfer-encoding" in head.lower():
            del buf[:]
            return self._replies.length_required, True
        match = _CONTENT_LENGTH.search(head)
        total = end + 4 + (int(match.group(1)) if match else 0)
        if len(buf) < total:
            return None
        del buf[:total]
        request_line = head.split(b"\r\n", 1)[0]
        parts = request_line.split(b" ")
        if len(parts) != 3:
            return self._replies.not_found[True], True
        close = parts[2] == b"HTTP/1.0" or _CONNECTION_CLOSE.search(head) is not None
        return self._replies.route(parts[0], parts[1], close), close


async def serve(
    latencies_ms: Sequence[float],
    body: bytes,
    list_orders: int = 1000,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Listen (one port per latency; with ``tls``, then one HTTPS port per latency too),
    report the ports, obey stdin until stopped.
    """
    loop = asyncio.get_running_loop()
    replies = _Replies(body, list_orders)
    servers = []
    for context in (None, tls) if tls is not None else (None,):
        for latency in latencies_ms:
            server = await loop.create_server(
                lambda latency=latency: _HTTPProtocol(latency / 1000.0, replies),
                "127.0.0.1",
                0,
                backlog=1024,
                ssl=context,
            )
            servers.append(server)
    stop = asyncio.Event()
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    pending = bytearray()

    def say(value: object) -> None:
        os.write(stdout, json.dumps(value).encode() + b"\n")

    def on_stdin() -> None:
        try:
            data = os.read(stdin, 4096)
        except OSError:
            data = b""
        if not data:  # the harness went away
            stop.set()
            return
        pending.extend(data)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            if line.strip() == b"cpu":
                say(time.process_time())
            elif line.strip():
                stop.set()

    loop.add_reader(stdin, on_stdin)
    say([s.sockets[0].getsockname()[1] for s in servers])
    try:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), MAX_LIFETIME_S)
    finally:
        loop.remove_reader(stdin)
        for server in servers:
            server.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--latency-ms", type=float, action="append", help="one listener per value (default 20)"
    )
    parser.add_argument("--cpu", type=int, help="pin this process to that CPU")
    parser.add_argument("--body", type=Path, default=SEED_ORDER, help="order JSON to serve")
    parser.add_argument(
        "--list-orders", type=int, default=1000, help="orders in GET /api/orders/ (1000)"
    )
    parser.add_argument("--tls-cert", help="also serve HTTPS (one more port per latency)")
    parser.add_argument("--tls-key", help="the key of --tls-cert")
    args = parser.parse_args(argv)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {args.cpu})
    asyncio.run(serve(args.latency_ms or [20.0], order_body(args.body), args.list_orders, tls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
