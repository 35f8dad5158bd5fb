"""The sandbox's dashboard: one HTML page, no build step, no external assets.

The page itself carries no data. Its script reads the token from the page's
URL (``?token=``), fetches ``/_sandbox/state`` about once a second and builds
the tables with DOM text nodes only, so nothing the venue holds (an order's
notes, a pair, a reply) can ever become markup. A content security policy
with a per-reply nonce lets only the page's own script and style run.
"""

from __future__ import annotations

import html

__all__ = ["dashboard_page", "refused_page"]

REFRESH_MS = 1000

_STYLE = """
:root { --fg: #1d2430; --muted: #5b6575; --line: #dfe3ea; --bg: #f6f7f9; --accent: #2f6fde; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5em; align-items: baseline; padding: 0.8em 1.5em;
         background: #fff; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.15em; margin: 0; }
#clock { font-variant-numeric: tabular-nums; }
#connection { margin-left: auto; color: var(--muted); }
#connection.down { color: #b3261e; font-weight: 600; }
main { padding: 1em 1.5em; display: grid; gap: 1.2em; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 0.8em 1em; }
h2 { font-size: 1em; margin: 0 0 0.6em; }
h2 small { color: var(--muted); font-weight: normal; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3em 0.6em; border-bottom: 1px solid var(--line);
         vertical-align: middle; white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 0.9em; }
table.requests { width: auto; min-width: 40em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.notes { white-space: normal; max-width: 22em; overflow-wrap: anywhere; color: var(--muted); }
.id { font-family: "DejaVu Sans Mono", monospace; font-size: 0.9em; }
.status { display: inline-block; padding: 0 0.5em; border-radius: 3px; font-size: 0.85em;
          font-weight: 600; background: #e8ebf0; }
.status.active { background: #dbe8ff; color: #1b4fb0; }
.status.complete { background: #dcf3e3; color: #1d6b35; }
.status.canceled { background: #fbe1df; color: #a1261e; }
.status.paused { background: #fff1cc; color: #7a5800; }
.progress { display: flex; align-items: center; gap: 0.5em; min-width: 12em; }
.bar { flex: 1; height: 0.7em; background: #e8ebf0; border-radius: 4px; overflow: hidden; }
.fill { height: 100%; background: var(--accent); }
.fill.done { background: #2e9b57; }
.fill.canceled, .fill.paused { background: #9aa3b2; }
.pct { width: 4.5em; text-align: right; font-variant-numeric: tabular-nums; }
#balances { display: flex; flex-wrap: wrap; gap: 1em; }
.account { border: 1px solid var(--line); border-radius: 4px; padding: 0.5em 0.8em;
           min-width: 16em; }
.account h3 { font-size: 0.95em; margin: 0 0 0.3em; }
.account h3 small { color: var(--muted); font-weight: normal; }
.empty { color: var(--muted); }
.code-2 { color: #1d6b35; } .code-4, .code-5 { color: #a1261e; font-weight: 600; }
"""

_SCRIPT = """
(function () {
  "use strict";
  const REFRESH_MS = __REFRESH_MS__;
  const token = new URLSearchParams(window.location.search).get("token");
  const query = token === null ? "" : "?token=" + encodeURIComponent(token);
  const stateUrl = "/_sandbox/state" + query;
  const STATUSES = new Set(["SCHEDULED", "ACTIVE", "PAUSED", "COMPLETE", "CANCELED"]);

  // Every value shown goes into a text node: nothing from the venue is ever markup.
  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
    }
    return node;
  }
  function cell(text, className) { return el("td", className, text); }
  function replace(id, ...children) { document.getElementById(id).replaceChildren(...children); }

  function progress(pct, status) {
    const value = Math.max(0, Math.min(100, Number.parseFloat(pct) || 0));
    const fill = el("div", "fill " + (value >= 100 ? "done" : status));
    fill.style.width = value + "%";
    const bar = el("div", "bar", fill);
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuenow", String(value));
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    return el("div", "progress", bar, el("span", "pct", pct + "%"));
  }

  function orderRow(o) {
    const status = STATUSES.has(o.status) ? o.status.toLowerCase() : "other";
    const row = el("tr", "order",
      cell(o.created_at.slice(11, 19)),
      cell(o.id.slice(0, 8), "id"),
      cell(o.account), cell(o.pair, "pair"), cell(o.side), cell(o.strategy),
      el("td", null, el("span", "status " + status, o.status)),
      el("td", null, progress(o.pct_filled, status)),
      cell(o.executed_qty, "num"), cell(o.executed_notional, "num"),
      cell(o.notes, "notes"));
    row.dataset.orderId = o.id;
    row.title = o.id;
    return row;
  }

  function account(name, a) {
    const rows = Object.entries(a.tokens).map(([symbol, amount]) =>
      el("tr", null, cell(symbol), cell(amount, "num")));
    for (const [symbol, p] of Object.entries(a.positions)) {
      rows.push(el("tr", null, cell(symbol + " (position)"), cell(p.size, "num")));
    }
    const holdings = rows.length
      ? el("table", null, el("tbody", null, ...rows))
      : el("p", "empty", "no holdings");
    const box = el("div", "account",
      el("h3", null, name + " ", el("small", null, a.exchange)), holdings);
    box.dataset.account = name;
    return box;
  }

  function exchangeRow(e) {
    const path = e.query ? e.path + "?" + e.query : e.path;
    return el("tr", null, cell(e.at.slice(11, 23)), cell(e.method), cell(path, "id"),
      cell(e.status, "num code-" + String(e.status).charAt(0)));
  }

  function render(state) {
    document.getElementById("clock").textContent =
      state.now.replace("T", " ").slice(0, 19) + " UTC \\u00b7 " + state.clock.mode +
      (state.clock.speed ? " \\u00d7" + state.clock.speed : "");
    replace("order-count", state.order_count === state.orders.length
      ? "(" + state.order_count + ")"
      : "(newest " + state.orders.length + " of " + state.order_count + ")");
    replace("orders", ...state.orders.map(orderRow));
    document.getElementById("no-orders").hidden = state.orders.length > 0;
    replace("balances", ...Object.entries(state.balances).map(([n, a]) => account(n, a)));
    replace("exchanges", ...state.exchanges.slice().reverse().map(exchangeRow));
    document.getElementById("no-exchanges").hidden = state.exchanges.length > 0;
  }

  function connection(text, down) {
    const node = document.getElementById("connection");
    node.textContent = text;
    node.className = down ? "down" : "";
  }

  async function refresh() {
    try {
      const reply = await fetch(stateUrl, { cache: "no-store" });
      if (reply.status === 401) {
        connection("the token was refused", true);
        return;  // no point asking again with the same token
      }
      if (!reply.ok) throw new Error("HTTP " + reply.status);
      render(await reply.json());
      document.body.dataset.rendered = String(Number(document.body.dataset.rendered || 0) + 1);
      connection("live", false);
    } catch (error) {
      connection("disconnected: " + error.message + " (retrying)", true);
    }
    window.setTimeout(refresh, REFRESH_MS);
  }
  refresh();
})();
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>TaaS sandbox</title>
<style nonce="{nonce}">{style}</style>
</head>
<body>
<header>
<h1>TaaS sandbox</h1>
<span id="clock">loading...</span>
<span id="connection">connecting...</span>
</header>
<noscript><p>The dashboard needs JavaScript; the same data is at
<code>/_sandbox/state</code>.</p></noscript>
<main>
<section>
<h2>Orders <small id="order-count"></small></h2>
<table>
<thead><tr><th>created</th><th>id</th><th>account</th><th>pair</th><th>side</th>
<th>strategy</th><th>status</th><th>filled</th><th>executed qty</th><th>notional</th>
<th>notes</th></tr></thead>
<tbody id="orders"></tbody>
</table>
<p id="no-orders" class="empty">No orders yet.</p>
</section>
<section>
<h2>Balances</h2>
<div id="balances"></div>
</section>
<section>
<h2>Latest requests <small>(newest first)</small></h2>
<table class="requests">
<thead><tr><th>time</th><th>method</th><th>path</th><th>status</th></tr></thead>
<tbody id="exchanges"></tbody>
</table>
<p id="no-exchanges" class="empty">No requests yet.</p>
</section>
</main>
<script nonce="{nonce}">{script}</script>
</body>
</html>
"""

_REFUSED = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>401 - TaaS sandbox</title></head>
<body>
<h1>401: {reason}</h1>
<p>Open the dashboard with the sandbox's token: <code>/_sandbox/?token=...</code>
(the server prints the whole URL when it starts).</p>
</body>
</html>
"""


def dashboard_page(nonce: str) -> bytes:
    """The dashboard's HTML; ``nonce`` is the one the reply's content security policy names."""
    script = _SCRIPT.replace("__REFRESH_MS__", str(REFRESH_MS))
    return _PAGE.format(nonce=html.escape(nonce), style=_STYLE, script=script).encode()


def refused_page(reason: str) -> bytes:
    """The 401 page: why, and how to get in; never any of the venue's data."""
    return _REFUSED.format(reason=html.escape(reason)).encode()
