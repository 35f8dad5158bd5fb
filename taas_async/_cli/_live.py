"""Following orders live: ``taas orders watch`` and the bar of ``orders place --wait``.

Snapshots come from :meth:`AsyncClient.watch_orders` (the order stream when
the server has one, else polling). What is drawn depends on where stdout goes:

- a terminal (and not ``--json``): a live table, one row per order with a
  progress bar, the percent filled, the executed quantity and notional, the
  average price and the time left, redrawn on every snapshot;
- ``--json``: one JSON line per snapshot (an order's last line is its final
  state);
- anything else (a pipe, a file): one plain line per change,
  ``<id> <status> <pct>% <executed qty>``.

Ctrl-C while following stops the watch and, for the orders still open, asks
``Cancel order <id>? [y/N]`` when stdin is a terminal (or cancels with
``--cancel-on-interrupt``, or leaves them with ``--no-cancel-on-interrupt``);
without a terminal and without a flag the orders are left running and stderr
says so. The command then exits 130.
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import anyio
import click
from anyio.abc import TaskStatus
from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from taas_async import AsyncClient, Order, OrderStatus
from taas_async._cli._app import command, json_option, orders
from taas_async._cli._output import Output

__all__ = ["Board", "cancel_on_interrupt_option", "follow_order", "follow_orders", "watch"]

_HUNDRED = Decimal(100)


def cancel_on_interrupt_option(func: Any) -> Any:
    """``--cancel-on-interrupt/--no-cancel-on-interrupt``: what Ctrl-C does to open orders."""
    return click.option(
        "--cancel-on-interrupt/--no-cancel-on-interrupt",
        "cancel_on_interrupt",
        default=None,
        help="On Ctrl-C, cancel the open orders (default: ask when stdin is a terminal).",
    )(func)


# --------------------------------------------------------------------------- what is drawn


def _now(latest: dt.datetime | None) -> dt.datetime:
    """The server's time as best known: the wall clock, or a later ``updated_at`` seen.

    A server whose clock runs ahead (the sandbox on a fast clock) stamps
    snapshots in its own time; the time left is counted from whichever is later.
    """
    now = dt.datetime.now(dt.timezone.utc)
    return max(now, latest) if latest is not None else now


def time_left(order: Order, now: dt.datetime) -> dt.timedelta | None:
    """How long until the order's scheduled end (``time_end``, or start + duration)."""
    end = order.time_end
    if end is None and order.time_start is not None and order.duration is not None:
        end = order.time_start + dt.timedelta(seconds=order.duration)
    if end is None:
        return None
    return max(end - now, dt.timedelta(0))


def _clock(left: dt.timedelta | None) -> str:
    if left is None:
        return "-"
    seconds = int(left.total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _pct(order: Order) -> Decimal:
    pct = order.pct_filled if order.pct_filled is not None else Decimal(0)
    return min(max(pct, Decimal(0)), _HUNDRED)


def _number(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"


def _price(order: Order) -> Decimal | None:
    return order.average_executed_price or order.executed_price


def _status_style(status: object) -> str:
    if status == OrderStatus.COMPLETE:
        return "green"
    if status == OrderStatus.CANCELED:
        return "red"
    if status == OrderStatus.PAUSED:
        return "yellow"
    return "cyan"


class Board:
    """Every watched order's latest snapshot, drawn as a table with a bar per order."""

    def __init__(self, order_ids: Sequence[str]) -> None:
        self.orders: dict[str, Order | None] = dict.fromkeys(order_ids)
        self.latest: dt.datetime | None = None

    def update(self, order: Order) -> None:
        """Keep ``order`` as its row's snapshot (and the server time it carries)."""
        self.orders[order.id] = order
        if order.updated_at is not None and (self.latest is None or order.updated_at > self.latest):
            self.latest = order.updated_at

    def table(self, now: dt.datetime | None = None) -> Table:
        """The table as of ``now`` (default: :func:`_now`)."""
        now = now or _now(self.latest)
        table = Table(title="taas orders watch", title_justify="left", expand=False)
        for name, justify in (
            ("order", "left"),
            ("pair", "left"),
            ("side", "left"),
            ("status", "left"),
            ("progress", "left"),
            ("filled", "right"),
            ("executed qty", "right"),
            ("notional", "right"),
            ("avg price", "right"),
            ("left", "right"),
        ):
            table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        for order_id, order in list(self.orders.items()):
            if order is None:
                table.add_row(
                    Text(order_id), *("" for _ in range(3)), Text("…"), *("" for _ in range(5))
                )
                continue
            pct = _pct(order)
            table.add_row(  # Text: what the server sent is shown as is, never as markup
                Text(order.id),
                Text(order.pair or ""),
                Text(str(order.side or "")),
                Text(str(order.status or ""), style=_status_style(order.status)),
                ProgressBar(total=100, completed=float(pct), width=30),
                f"{pct:.2f}%",
                _number(order.executed_qty),
                _number(order.executed_notional),
                _number(_price(order)),
                "0:00" if order.is_terminal else _clock(time_left(order, now)),
            )
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Drawn afresh on each refresh, so the time left moves between snapshots."""
        yield self.table()


def plain_line(order: Order) -> str:
    """One line for a pipe: ``<id> <status> <pct>% <executed qty>``."""
    return f"{order.id} {order.status} {_pct(order):.2f}% {_number(order.executed_qty)}"


# --------------------------------------------------------------------------- following


class _Follow:
    """One run of :func:`follow_orders`: the board, what was printed, how it ended."""

    def __init__(self, out: Output, targets: Sequence[Order | str]) -> None:
        self.out = out
        self.targets = list(targets)
        self.board = Board([t.id if isinstance(t, Order) else str(t) for t in targets])
        for target in targets:
            if isinstance(target, Order):
                self.board.update(target)
        self.seen: dict[str, tuple[object, ...]] = {}
        self.interrupted = False
        self.failed: Exception | None = None
        self.live = (
            Live(self.board, console=out.console, refresh_per_second=4) if out.live else None
        )

    def show(self, order: Order) -> None:
        """One snapshot: into the board (redrawn), a JSON line, or a plain line if it changed."""
        self.board.update(order)
        if self.out.as_json:
            self.out.json(order.to_dict())
        elif self.live is not None:
            self.live.refresh()
        elif self.seen.get(order.id) != (
            key := (order.status, order.pct_filled, order.executed_qty)
        ):
            self.seen[order.id] = key
            sys.stdout.write(plain_line(order) + "\n")
            sys.stdout.flush()

    async def follow(
        self, client: AsyncClient, timeout: float | None, scope: anyio.CancelScope
    ) -> None:
        """Show every snapshot until all are terminal; keep an error to raise it bare."""
        try:
            async for order in client.watch_orders(self.targets, timeout=timeout):
                self.show(order)
        except Exception as exc:  # noqa: BLE001 (raised as itself, not in an ExceptionGroup)
            self.failed = exc
        scope.cancel()

    async def on_sigint(self, scope: anyio.CancelScope, *, task_status: TaskStatus[None]) -> None:
        """Ctrl-C stops the watch (the loop's own handler would cancel the whole command)."""
        try:
            with anyio.open_signal_receiver(signal.SIGINT) as signals:
                task_status.started()
                async for _ in signals:
                    self.interrupted = True
                    scope.cancel()
                    return
        except NotImplementedError:  # pragma: no cover - Windows: Ctrl-C just ends, exit 130
            task_status.started()

    async def run(self, client: AsyncClient, timeout: float | None) -> None:
        """Follow, drawing the live table when there is one."""
        if self.live is not None:
            self.live.start()
        try:
            async with anyio.create_task_group() as group:
                await group.start(self.on_sigint, group.cancel_scope)
                group.start_soon(self.follow, client, timeout, group.cancel_scope)
        finally:
            if self.live is not None:
                self.live.stop()


async def follow_orders(
    client: AsyncClient,
    out: Output,
    targets: Sequence[Order | str],
    *,
    cancel_on_interrupt: bool | None,
    timeout: float | None = None,
) -> list[Order]:
    """Follow ``targets`` until every one is COMPLETE or CANCELED; their final snapshots.

    Draws as the module says. On Ctrl-C: offers to cancel the open orders
    (see :func:`_interrupted`), then raises :class:`KeyboardInterrupt` (exit 130).
    """
    run = _Follow(out, targets)
    await run.run(client, timeout)
    if run.failed is not None:
        raise run.failed
    if run.interrupted:
        await _interrupted(client, out, run.board, cancel_on_interrupt)
        raise KeyboardInterrupt
    return [order for order in run.board.orders.values() if order is not None]


async def follow_order(
    client: AsyncClient, out: Output, order: Order, *, cancel_on_interrupt: bool | None
) -> Order:
    """Follow one order to its end with a live bar (or JSON/plain lines); its final snapshot.

    In a terminal the final order is printed after the bar. Ctrl-C asks
    whether to cancel it (``cancel_on_interrupt`` None and stdin a
    terminal), cancels it (True) or leaves it (False, or no terminal), then
    raises :class:`KeyboardInterrupt` (exit 130).
    """
    [final] = await follow_orders(client, out, [order], cancel_on_interrupt=cancel_on_interrupt)
    if out.live:
        out.fields(final.to_dict(), title=f"order {final.id}")
    return final


async def _interrupted(
    client: AsyncClient, out: Output, board: Board, cancel_on_interrupt: bool | None
) -> None:
    """Ctrl-C: cancel the still-open orders if told to, or if a person says yes."""
    open_ids = [
        order_id
        for order_id, order in board.orders.items()
        if order is None or not order.is_terminal
    ]
    if not open_ids:
        return
    what = f"order {open_ids[0]}" if len(open_ids) == 1 else f"{len(open_ids)} open orders"
    cancel = cancel_on_interrupt
    if cancel is None:
        if not sys.stdin.isatty():
            _say(f"interrupted: {what} left running (no terminal to ask; --cancel-on-interrupt)")
            return
        try:
            cancel = click.confirm(f"Cancel {what}?", default=False, err=True)
        except click.Abort:
            cancel = False
    if not cancel:
        _say(f"{what} left running")
        return
    results = await client.cancel_orders(open_ids)
    for order_id, result in zip(open_ids, results, strict=True):
        if isinstance(result, Exception):
            out.error(f"cancel {order_id}: {type(result).__name__}: {result}")
        else:
            _say(f"canceled order {order_id}")


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- the command


@orders.command()
@click.argument("order_ids", nargs=-1, required=True)
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
@cancel_on_interrupt_option
@json_option
@command
async def watch(
    client: AsyncClient,
    out: Output,
    order_ids: tuple[str, ...],
    timeout: float | None,
    cancel_on_interrupt: bool | None,
) -> None:
    """Follow orders live until every one is COMPLETE or CANCELED (--json: JSON lines)."""
    await follow_orders(
        client,
        out,
        list(dict.fromkeys(order_ids)),
        cancel_on_interrupt=cancel_on_interrupt,
        timeout=timeout,
    )
