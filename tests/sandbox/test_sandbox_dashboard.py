"""The dashboard as a person sees it: a real headless Chromium on a real server.

The ``taas_sandbox_server`` fixture serves a sandbox on 127.0.0.1; orders go
in over HTTP and the clock moves through the control plane. Chromium
(Debian's ``chromium`` package) loads ``/_sandbox/?token=...``, runs the
page's script for a few seconds of virtual time (``--virtual-time-budget``:
its timers run at once, its fetches are waited for) and dumps the DOM, which
is read here as a person would read the page: the order rows, their pair,
status and progress bar, the balances. A second run takes a screenshot;
``docs/sandbox-dashboard.png`` is that screenshot (set
``TAAS_DASHBOARD_SCREENSHOT=docs/sandbox-dashboard.png`` to write it again).

Skipped only where no Chromium binary is found.
"""

from __future__ import annotations

import os
import struct
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import browser
import httpx
import pytest

from taas_async.sandbox import SandboxServer

LIMIT = 60.0  # seconds for one browser run
WINDOW = (1280, 860)
HOSTILE_NOTES = '<img src=x onerror="document.title=1"></td><script>document.title=2</script>'


def browse(url: str, profile: Path, *args: str) -> str:
    """Headless Chromium on the dashboard: 5 s of virtual time for its page script."""
    return browser.browse(url, profile, *args, window=WINDOW)


class Page(HTMLParser):
    """What the dumped DOM shows: order rows, balance boxes, and the elements seen."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.body: dict[str, str | None] = {}
        self.orders: list[dict[str, Any]] = []
        self.accounts: dict[str, list[str]] = {}
        self.connection = ""
        self._row: dict[str, Any] | None = None
        self._cell: list[str] | None = None
        self._account: str | None = None
        self._in_connection = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        classes = (a.get("class") or "").split()
        if tag == "body":
            self.body = a
        elif tag == "tr" and "order" in classes:
            self._row = {"id": a.get("data-order-id"), "cells": [], "width": None, "status": None}
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif self._row is not None and "fill" in classes:
            self._row["width"] = a.get("style")
        elif self._row is not None and "status" in classes:
            self._row["status"] = classes
        elif tag == "div" and "account" in classes:
            self._account = a.get("data-account")
            self.accounts[self._account or ""] = []
        elif tag == "td" and self._account is not None:
            self._cell = []
        if a.get("id") == "connection":
            self._in_connection = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            text = "".join(self._cell).strip()
            if self._row is not None:
                self._row["cells"].append(text)
            elif self._account is not None:
                self.accounts[self._account].append(text)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.orders.append(self._row)
            self._row = None
        elif tag == "section":
            self._account = None
        elif tag == "span":
            self._in_connection = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_connection:
            self.connection += data


def order(http: httpx.Client, url: str, **fields: Any) -> str:
    body = {"accounts": ["mock"], "side": "buy", "strategy": "TWAP", **fields}
    reply = http.post(url + "/api/orders/", json=body)
    assert reply.status_code == 201, reply.text
    order_id: str = reply.json()["id"]
    return order_id


@pytest.fixture
def venue(taas_sandbox_server: SandboxServer) -> dict[str, str]:
    """Four orders in four states, a minute into the run; their ids by pair."""
    server = taas_sandbox_server
    with httpx.Client(headers=server.headers, timeout=LIMIT) as http:
        ids = {
            "SOL-USDT": order(http, server.url, pair="SOL-USDT", base_asset_qty="10", duration=60),
            "ETH-USDT": order(
                http,
                server.url,
                pair="ETH-USDT",
                base_asset_qty="2",
                duration=120,
                notes=HOSTILE_NOTES,
            ),
            "BTC-USDT": order(
                http,
                server.url,
                pair="BTC-USDT",
                side="sell",
                base_asset_qty="0.5",
                duration=300,
            ),
            "SOL:PERP-USDT": order(
                http,
                server.url,
                pair="SOL:PERP-USDT",
                base_asset_qty="20",
                duration=600,
                notes="hedge",
            ),
        }
        moved = http.post(server.control_url + "/advance", json={"seconds": 60})
        assert moved.status_code == 200
        canceled = http.delete(f"{server.url}/api/order/{ids['SOL:PERP-USDT']}")
        assert canceled.status_code == 200
    return ids


def test_the_dashboard_shows_orders_balances_and_requests(
    taas_sandbox_server: SandboxServer, venue: dict[str, str], tmp_path: Path
) -> None:
    dom = browse(taas_sandbox_server.dashboard_url, tmp_path / "profile", "--dump-dom")
    page = Page(dom)

    assert page.connection == "live"
    assert int(page.body["data-rendered"] or 0) >= 2  # it refreshed itself, more than once
    rows = {row["cells"][3]: row for row in page.orders}  # by pair
    assert list(rows) == ["SOL:PERP-USDT", "BTC-USDT", "ETH-USDT", "SOL-USDT"]  # newest first
    expected = {
        # pair: status, the share of the TWAP schedule due, side
        "SOL-USDT": ("COMPLETE", 100, "buy"),
        "ETH-USDT": ("ACTIVE", 50, "buy"),
        "BTC-USDT": ("ACTIVE", 20, "sell"),
        "SOL:PERP-USDT": ("CANCELED", 10, "buy"),
    }
    for pair, (status, due, side) in expected.items():
        row = rows[pair]
        assert row["id"] == venue[pair]
        cells = row["cells"]
        assert (cells[2], cells[4], cells[5]) == ("mock", side, "TWAP")
        assert cells[6] == status
        assert status.lower() in row["status"]
        # On schedule, or up to 8% ahead of it (the default schedule_discretion).
        pct = taas_sandbox_server.sandbox.engine.orders[venue[pair]].pct_filled
        assert due <= pct <= min(due + 8, 100)
        assert row["width"] == f"width: {format(pct.normalize(), 'f')}%;"
        assert cells[7] == f"{pct}%"
    # The hostile notes are shown as text, and became no element.
    assert rows["ETH-USDT"]["cells"][10] == HOSTILE_NOTES
    assert page.tags.count("script") == 1  # the page's own
    assert "img" not in page.tags
    assert rows["SOL:PERP-USDT"]["cells"][10] == "hedge"

    mock = dict(zip(page.accounts["mock"][::2], page.accounts["mock"][1::2], strict=True))
    filled = {
        p: taas_sandbox_server.sandbox.engine.orders[i].executed_qty for p, i in venue.items()
    }
    assert mock["ETH"] == f"{100 + filled['ETH-USDT']:.8f}"  # 2 ETH bought, half filled
    assert mock["BTC"] == f"{10 - filled['BTC-USDT']:.8f}"  # 0.5 BTC sold, a fifth filled
    assert mock["SOL"] == "1010.00000000"
    assert mock["SOL:PERP-USDT (position)"] == f"{filled['SOL:PERP-USDT']:.8f}"
    assert page.accounts["test"] == ["USDT", "250000", "BTC", "3"]


def test_the_dashboard_screenshot(
    taas_sandbox_server: SandboxServer, venue: dict[str, str], tmp_path: Path
) -> None:
    shot = tmp_path / "dashboard.png"
    browse(taas_sandbox_server.dashboard_url, tmp_path / "profile", f"--screenshot={shot}")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert (width, height) == WINDOW
    assert len(png) > 20_000  # a page with tables and bars, not a blank one
    keep = os.environ.get("TAAS_DASHBOARD_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(png)


def test_the_dashboard_with_a_wrong_token_shows_a_401_page(
    taas_sandbox_server: SandboxServer, venue: dict[str, str], tmp_path: Path
) -> None:
    url = taas_sandbox_server.control_url + "/?token=wrong"
    dom = browse(url, tmp_path / "profile", "--dump-dom")
    page = Page(dom)
    assert "401: Invalid token." in dom
    assert page.orders == []
    assert page.accounts == {}
    for order_id in venue.values():
        assert order_id not in dom
