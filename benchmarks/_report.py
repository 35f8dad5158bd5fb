"""The benchmark's report: the goal rows as ratios, markdown tables and the chart.

Every goal row is a ratio SDK ÷ raw aiohttp of one measure (calls/s, CPU per
call or per order, memory growth, decoding time), taken per round from the
two contenders measured side by side in that round; a row shows the min,
median and max of its rounds' ratios and is judged on the median.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _decode import DecodeResult
from _harness import Outcome

RAW, SDK = "aiohttp", "sdk"
#: The "through a local proxy" rows: ``get_order`` at this many in flight, these servers.
PROXY_CONCURRENCY = 64
PROXY_LATENCIES = (20.0, 0.0)
Goal = tuple[str, float]  # (">=" or "<=", threshold)


@dataclass(frozen=True)
class Workload:
    """What one contender does in one measurement."""

    key: str
    kind: str  # "get", "proxy" (get through a local proxy), "iter" or "place"
    latency_ms: float
    concurrency: int
    n: int  # calls; list walks for "iter"; orders for "place"

    @property
    def title(self) -> str:
        if self.kind == "iter":
            return f"list walks, {self.latency_ms:g} ms server"
        if self.kind == "place":
            return f"place {self.n:,} orders, {self.concurrency} in flight, {self.latency_ms:g} ms"
        if self.kind == "proxy":
            return (
                f"GET order through a proxy, {self.concurrency} in flight,"
                f" {self.latency_ms:g} ms server"
            )
        return f"GET order, {self.concurrency} in flight, {self.latency_ms:g} ms server"


@dataclass(frozen=True)
class Row:
    """One row of the goals: a measure of a workload, SDK ÷ raw aiohttp."""

    label: str
    workload: str  # a Workload key, or "decode"
    metric: str  # "rate", "cpu", "rss" or "decode"
    goal: Goal | None  # None: reported, no goal
    short: str = ""  # for the chart, when the label is long

    @property
    def chart_label(self) -> str:
        return (self.short or self.label).replace("`", "")


@dataclass
class Run:
    """Everything one benchmark run measured."""

    machine: list[str]
    settings: dict[str, Any]
    loops: list[str]
    workloads: list[Workload]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    #: (workload key, loop, side) -> one Outcome per round.
    outcomes: dict[tuple[str, str, str], list[Outcome]] = field(default_factory=dict)
    decode: DecodeResult | None = None

    def sides(self, loop: str) -> list[str]:
        return sides(loop)

    def ran(self, row: Row) -> bool:
        """Whether this run measured ``row`` at all (``--only`` may leave it out)."""
        if row.metric == "decode":
            return self.decode is not None
        return any(w.key == row.workload for w in self.workloads)


def sides(loop: str) -> list[str]:
    """Who runs on ``loop``: raw aiohttp then the SDK; on trio the SDK alone."""
    return [SDK] if loop == "trio" else [RAW, SDK]


def issue_rows(levels: Sequence[int], place: Workload, decode_orders: int) -> list[Row]:
    """The rows of the goals table, in order."""
    rows = [
        Row("CPU per `get_order`, sequential, 0 ms server", "get0-1", "cpu", ("<=", 1.5)),
        Row("CPU per call, 64 in flight, 0 ms server", "get0-64", "cpu", ("<=", 1.5)),
    ]
    rows += [
        Row(f"throughput, {c:,} in flight, 20 ms server", f"get20-{c}", "rate", (">=", 0.9))
        for c in levels
    ]
    rows += [
        Row(f"throughput, {c:,} in flight, 0 ms server", f"get0-{c}", "rate", (">=", 0.6))
        for c in levels
    ]
    rows += [
        Row(
            f"through a local proxy (https in CONNECT tunnels), {PROXY_CONCURRENCY} in flight,"
            f" {latency:g} ms server: throughput",
            f"proxy-{latency:g}",
            "rate",
            (">=", 0.8),
            f"through a proxy, {PROXY_CONCURRENCY} in flight, {latency:g} ms",
        )
        for latency in PROXY_LATENCIES
    ]
    what = f"`place_orders` of {place.n:,}, {place.concurrency} in flight, 20 ms server"
    short = f"place_orders of {place.n:,}"
    rows += [
        Row(f"{what}: throughput", "place", "rate", (">=", 0.9), f"{short}: throughput"),
        Row(f"{what}: CPU", "place", "cpu", None, f"{short}: CPU"),
        Row(f"{what}: memory (peak RSS growth)", "place", "rss", ("<=", 1.1), f"{short}: memory"),
        Row(
            "`iter_orders`: CPU per order (pages of 100, 0 ms server)",
            "iter",
            "cpu",
            None,
            "iter_orders: CPU per order",
        ),
        Row(
            f"a {decode_orders:,}-order page, bytes → typed `Order`s ÷ `json.loads`",
            "decode",
            "decode",
            ("<=", 1.5),
            f"{decode_orders:,}-order page, bytes → Orders (no I/O)",
        ),
    ]
    return rows


# ====================================================================== ratios


def _value(outcome: Outcome, metric: str) -> float:
    if metric == "rate":
        return outcome.rate
    if metric == "cpu":
        return outcome.cpu_us
    return outcome.rss_growth_kib


def ratios(run: Run, row: Row, loop: str) -> list[float]:
    """SDK ÷ raw aiohttp, one per round (trio: the SDK on trio ÷ aiohttp on asyncio)."""
    if row.metric == "decode":
        return run.decode.ratios if run.decode and not run.decode.error else []
    sdk = run.outcomes.get((row.workload, loop, SDK), [])
    raw = run.outcomes.get((row.workload, "asyncio" if loop == "trio" else loop, RAW), [])
    found = []
    for s, r in zip(sdk, raw, strict=False):
        ratio = _value(s, row.metric) / _value(r, row.metric) if _value(r, row.metric) else math.nan
        if not math.isnan(ratio):
            found.append(ratio)
    return found


def verdict(value: float, goal: Goal | None, informational: bool) -> str:
    if math.isnan(value):
        return "n/a"
    if goal is None:
        return "reported (no goal given)"
    op, threshold = goal
    ok = value >= threshold if op == ">=" else value <= threshold
    word = "PASS" if ok else "MISS"
    return f"info: {word}" if informational else word


def fmt_goal(goal: Goal | None) -> str:
    if goal is None:
        return "none given (reported)"
    return f"{'≥' if goal[0] == '>=' else '≤'} {goal[1]:g}"


def fmt_ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def loop_label(loop: str) -> str:
    return "trio (SDK) ÷ asyncio (aiohttp)" if loop == "trio" else loop


def goal_lines(run: Run) -> list[tuple[Row, str, list[float], str]]:
    """(row, loop, per-round ratios, verdict) for every row and loop of the goals table."""
    lines = []
    for row in run.rows:
        for loop in run.loops[:1] if row.metric == "decode" else run.loops:
            values = ratios(run, row, loop)
            informational = loop == "trio" and row.metric != "decode"
            word = verdict(median(values), row.goal, informational) if run.ran(row) else "not run"
            lines.append((row, loop, values, word))
    return lines


# ====================================================================== markdown


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def num(value: float, digits: int = 0) -> str:
    """``value`` with thousands separators, or n/a."""
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def _spread(values: Sequence[float], digits: int = 0) -> str:
    good = [v for v in values if not math.isnan(v)]
    if not good:
        return "n/a"
    if len(good) == 1:
        return num(good[0], digits)
    return f"{num(median(good), digits)} ({num(min(good), digits)}-{num(max(good), digits)})"


def _percent(shares: Sequence[float]) -> str:
    text = _spread([100 * share for share in shares])
    return text if text == "n/a" else text + "%"


def render_goals(run: Run) -> list[str]:
    rows = []
    for row, loop, values, word in goal_lines(run):
        spread = " / ".join(fmt_ratio(f(values)) if values else "n/a" for f in (min, median, max))
        loop_cell = "none (no I/O)" if row.metric == "decode" else loop_label(loop)
        rows.append([row.label, loop_cell, spread, fmt_goal(row.goal), word])
    s = run.settings
    return [
        "## Goals",
        "",
        table(["row", "loop", "SDK ÷ aiohttp min / median / max", "goal", "verdict"], rows),
        "",
        f"Each ratio is the SDK ÷ raw aiohttp, measured side by side in each of {s['rounds']}"
        " round(s) (contenders interleaved aiohttp, SDK, aiohttp, SDK, ..., the order"
        " reversed every other round); the verdict is on the median. Throughput: higher is"
        " better; CPU, memory and decoding time: lower is better. Trio rows are"
        " informational (aiohttp cannot run on trio): the SDK on trio ÷ raw aiohttp on"
        " asyncio from the same round. Rows with no goal given are reported only.",
        "",
    ]


def render_method(run: Run) -> list[str]:
    s = run.settings
    return [
        "## How it was measured",
        "",
        f"- Raw aiohttp: one `ClientSession`, `TCPConnector(limit={s['pool']})`; it reads the"
        " body and `json.loads` it (POSTs: `json.dumps` of the order body the SDK sends,"
        " with a unique `custom_order_id`). The SDK: `AsyncClient(url, token,"
        " allow_insecure_http=True)`, its defaults (default transport, a pool of"
        f" {s['pool']} connections: the same limit both sides); its calls return typed"
        " `Order`s. Public API only: `get_order`, `place_orders`, `iter_orders`.",
        "- The server (`server.py`) runs in its own process"
        f" ({s['pinning']}); a 20 ms and a 0 ms listener. Each measurement opens its client"
        " on a fresh event loop, warms it up (pool open), then times its batch: wall time and"
        " `time.process_time()` of the client process (CPU per call = CPU ÷ calls).",
        "- The CPU rows are the 0 ms throughput runs at 1 (sequential) and 64 in flight.",
        "- Through a local proxy: both sides GET the order from the server's HTTPS"
        " listeners (`https://localhost`, a certificate of a private CA made for the run)"
        " through one tinyproxy on 127.0.0.1 (pinned with the server), in `CONNECT`"
        " tunnels: raw aiohttp with `proxy=` and an `ssl` context trusting the CA, the SDK"
        " with `AsyncClient(url, token, verify=ca_file, proxy=url)` (still its default"
        " transport).",
        f"- `place_orders`: {s['place_orders']:,} orders, `max_concurrency="
        f"{s['place_concurrency']}` (raw aiohttp: the same number of workers),"
        " each contender in a fresh interpreter: memory = the peak resident set (`VmHWM`)"
        " with all results held (raw: the decoded dicts; SDK: the returned `Order`s) minus"
        " the resident set after imports, inputs built and warm-up (one round of"
        " placements), the peak reset to it there (`/proc/self/clear_refs`).",
        f"- `iter_orders`: walks through a list of {s['list_orders']:,} orders in pages of"
        f" {s['page_size']} (`GET /api/orders/?page=P&page_size={s['page_size']}`, stopping"
        " at `num_pages`), against raw aiohttp GETting the same pages and `json.loads`-ing"
        " them; CPU per order.",
        "- Decoding: `_wire.decode_success` with the `get_all_orders` endpoint's parser (what"
        " the client runs on a reply: exact decimals, then structuring) of a"
        f" {s['decode_orders']:,}-order page, ÷ `json.loads` of the same bytes; per round"
        " the min of interleaved timeit repeats, garbage collector on.",
        "",
    ]


def render_measurements(run: Run) -> list[str]:
    rows = []
    for w in run.workloads:
        for loop in run.loops:
            for side in run.sides(loop):
                outcomes = run.outcomes.get((w.key, loop, side))
                if not outcomes:
                    continue
                per = "order" if w.kind == "iter" else "call"
                bad = [o.status() for o in outcomes if not o.ok]
                rows.append(
                    [
                        w.title,
                        loop,
                        "raw aiohttp" if side == RAW else "SDK",
                        f"{median([o.calls for o in outcomes]):,.0f}",
                        _spread([o.rate for o in outcomes]),
                        _spread([o.cpu_us for o in outcomes], 1) + f" /{per}",
                        _percent([o.client_share for o in outcomes]),
                        _percent([o.server_share for o in outcomes]),
                        "; ".join(bad) if bad else "ok",
                    ]
                )
    headers = [
        "workload",
        "loop",
        "client",
        "calls",
        "calls/s median (min-max)",
        "client CPU µs",
        "client CPU share",
        "server CPU share",
        "status",
    ]
    out = ["## Measurements", "", table(headers, rows), ""]
    out += [
        "CPU share: the process's CPU time ÷ the batch's wall time (one core is 100%)."
        " The server stays well under 100%: it is not what is measured. With 16 or more"
        " in flight against the 0 ms server a client is busy all the time (near 100%), so"
        " a round where its share is low there was starved by other work on the machine"
        " (its ratio is an outlier the median discounts). `place_orders` runs in a child"
        " process: no server figure.",
        "",
    ]
    return out


def render_memory(run: Run) -> list[str]:
    rows = []
    for loop in run.loops:
        for side in run.sides(loop):
            outcomes = run.outcomes.get(("place", loop, side))
            if not outcomes:
                continue
            mib = 1024.0
            orders = max(o.items for o in outcomes) or 1
            rows.append(
                [
                    loop,
                    "raw aiohttp" if side == RAW else "SDK",
                    _spread([o.rss_base_kib / mib for o in outcomes], 1),
                    _spread([o.rss_peak_kib / mib for o in outcomes], 1),
                    _spread([o.rss_growth_kib / mib for o in outcomes], 1),
                    _spread([o.rss_growth_kib * 1024 / orders for o in outcomes]),
                ]
            )
    if not rows:
        return []
    headers = ["loop", "client", "RSS after warm-up MiB", "peak MiB", "growth MiB", "bytes/order"]
    title = f"## `place_orders`: memory ({run.settings['place_orders']:,} results held)"
    return [title, "", table(headers, rows), ""]


def render_decode(run: Run) -> list[str]:
    d = run.decode
    if d is None:
        return []
    if d.error:
        return ["## Decoding a page", "", f"failed: {d.error}", ""]
    c_floors = (
        [fmt_ratio(cf / r) for r, cf in zip(d.raw_s, d.c_floor_s, strict=True)]
        if d.c_floor_s
        else ["n/a (no msgspec)"] * len(d.raw_s)
    )
    rows = [
        [str(i + 1), num(r * 1e3, 2), num(s * 1e3, 2), fmt_ratio(s / r), fmt_ratio(f / r), cf]
        for i, (r, s, f, cf) in enumerate(zip(d.raw_s, d.sdk_s, d.floor_s, c_floors, strict=True))
    ]
    headers = ["round", "`json.loads` ms", "SDK bytes → `Order`s ms", "ratio", "floor ratio"]
    headers.append("C floor ratio")
    return [
        f"## Decoding a page of {d.orders:,} orders ({d.body_bytes:,} bytes)",
        "",
        table(headers, rows),
        "",
        "floor: `json.loads` of the page, then each `Order` built from values converted"
        " beforehand (`Order(*values)`): what any decoder to these attrs classes pays before"
        " reading a field.",
        "",
        "C floor: every part C can do done by msgspec: the page decoded untyped (each"
        " order's `raw`, decimals exact) and into a struct mirroring `Order` (decimals and"
        " datetimes read in C), then each `Order` built from its struct and `raw`; checked"
        " to read every field as the SDK does, but none of the SDK's rules applied (open"
        " enums, the -1 price sentinel, decimal bounds, errors with JSON paths).",
        "",
    ]


def render(run: Run) -> str:
    out = ["# taas-async benchmark: the SDK's own cost against raw aiohttp", ""]
    out += [f"- {line}" for line in run.machine]
    out += [f"- note: {note}" for note in run.notes]
    out.append("")
    out += render_goals(run)
    out += render_method(run)
    out += render_measurements(run)
    out += render_memory(run)
    out += render_decode(run)
    return "\n".join(out)


# ====================================================================== chart


def write_chart(run: Run, path: Path) -> None:
    """One panel per loop: each row's median ratio (bar), its rounds' range, its goal."""
    import matplotlib  # noqa: PLC0415 (optional; only for the chart)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415

    lines = goal_lines(run)
    decode = [line for line in lines if line[0].metric == "decode"]
    panels = []
    for loop in run.loops:
        mine = [line for line in lines if line[1] == loop and line[0].metric != "decode"]
        panels.append((loop, mine + decode))
    height = max(len(p[1]) for p in panels) * 0.32 + 1.2
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, height * len(panels) + 0.8))
    axes = [axes] if len(panels) == 1 else list(axes)
    colors = {"PASS": "#2e7d32", "MISS": "#c62828"}
    every = [v for *_, values, _ in lines for v in values]
    goals = [row.goal[1] for row, *_ in lines if row.goal]
    low = min([*every, *goals, 1.0]) / 1.6
    high = max([*every, *goals, 1.0]) * 1.6
    for ax, (loop, forward) in zip(axes, panels, strict=True):
        panel = forward[::-1]  # the first row on top
        for y, (row, _, values, word) in enumerate(panel):
            mid = median(values)
            color = colors.get(word.removeprefix("info: "), "#9e9e9e")
            if word.startswith("info"):
                color += "88"  # informational: lighter
            if not math.isnan(mid):
                ax.barh(y, mid - low, left=low, color=color, height=0.6)
                ax.plot([min(values), max(values)], [y, y], color="black", linewidth=1)
                ax.text(mid * 1.04, y + 0.12, f"{mid:.2f}", fontsize=7, va="bottom")
            if row.goal:
                ax.plot([row.goal[1]] * 2, [y - 0.42, y + 0.42], color="black", linewidth=2)
        ax.set_yticks(range(len(panel)), [row.chart_label for row, *_ in panel], fontsize=7)
        ax.set_xscale("log", base=2)
        ax.set_xlim(low, high)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.axvline(1.0, color="#555555", linewidth=0.8)
        ax.grid(axis="x", alpha=0.3)
        informational = " (informational)" if loop == "trio" else ""
        ax.set_title(f"{loop_label(loop)}{informational}", fontsize=9)
    axes[-1].set_xlabel("ratio (throughput: higher is better; CPU, memory, decoding: lower)")
    fig.suptitle(
        "taas-async: SDK ÷ raw aiohttp. Bar: median of the rounds; thin line: their range;"
        " thick tick: the goal.\nGreen PASS, red MISS, grey reported (no goal)."
        f"  {run.machine[0]}",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")  # long row labels are not clipped
    plt.close(fig)
