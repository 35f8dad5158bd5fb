"""``taas orders ...``: place, get, list, cancel, pause, resume and amend orders.

Quantities and prices are read as text and handed to the request models as
text, so ``0.1`` stays the exact decimal ``0.1`` (never a float). What a model
refuses is a usage error (exit 2) naming the field; nothing is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import click

from taas_async import (
    ActionResult,
    AmendOrderRequest,
    AsyncClient,
    GetOrdersRequest,
    Order,
    OrderStatus,
    PlaceOrderRequest,
    TaaSError,
)
from taas_async._cli._app import (
    EXIT_API,
    EXIT_UNKNOWN,
    command,
    json_option,
    new_custom_order_id,
    orders,
)
from taas_async._cli._output import Output

__all__ = ["amend", "cancel", "get", "list_orders", "pause", "place", "resume"]

#: ``--base-qty`` and friends: the option's name and the request field it fills.
_QUANTITIES = (
    ("--base-qty", "base_asset_qty"),
    ("--quote-qty", "quote_asset_qty"),
    ("--sell-qty", "sell_token_amount"),
)
_LIST_COLUMNS = (
    "id",
    "pair",
    "side",
    "strategy",
    "status",
    "pct filled",
    "executed qty",
    "avg price",
    "created",
)
#: Orders asked for per page when ``--limit`` is small (no need to fetch more).
_MAX_PAGE = 100


def _show_order(out: Output, order: Order) -> None:
    if out.as_json:
        out.json(order.to_dict())
    else:
        out.fields(order.to_dict(), title=f"order {order.id}")


def _show_result(out: Output, result: ActionResult, title: str) -> None:
    if out.as_json:
        out.json(result.to_dict())
    else:
        out.fields(result.to_dict(), title=title)


# --------------------------------------------------------------------------- place


@orders.command()
@click.option(
    "--account", "accounts", multiple=True, required=True, help="Account name (repeatable)."
)
@click.option("--pair", required=True, help="The pair, e.g. ETH-USDT.")
@click.option("--side", required=True, type=click.Choice(["buy", "sell"]), help="buy or sell.")
@click.option("--base-qty", help="Quantity in the base asset.")
@click.option("--quote-qty", help="Quantity in the quote asset.")
@click.option("--sell-qty", help="Quantity of the token sold.")
@click.option("--strategy", required=True, help="TWAP, VWAP, IS, Target Time, Market, Limit...")
@click.option("--duration", type=int, help="Seconds the order runs (algorithmic strategies).")
@click.option("--limit-price", help="Price limit.")
@click.option("--custom-order-id", help="Your id for the order (a lost reply is looked up by it).")
@click.option("--wait", is_flag=True, help="Follow the order with a progress bar until it ends.")
@click.option(
    "--cancel-on-interrupt/--no-cancel-on-interrupt",
    default=None,
    help="With --wait, on Ctrl-C: cancel the order, or leave it running (default: ask).",
)
@json_option
@command
async def place(
    client: AsyncClient,
    out: Output,
    *,
    accounts: tuple[str, ...],
    pair: str,
    side: str,
    base_qty: str | None,
    quote_qty: str | None,
    sell_qty: str | None,
    strategy: str,
    duration: int | None,
    limit_price: str | None,
    custom_order_id: str | None,
    wait: bool,
    cancel_on_interrupt: bool | None,
) -> int | None:
    """Place one order; print it (with --wait, follow it until it ends)."""
    given = {
        field: value
        for (_, field), value in zip(_QUANTITIES, (base_qty, quote_qty, sell_qty), strict=True)
        if value is not None
    }
    if len(given) != 1:
        names = ", ".join(option for option, _ in _QUANTITIES)
        raise click.UsageError(f"give exactly one of {names}")
    fields: dict[str, Any] = {
        "accounts": list(accounts),
        "pair": pair,
        "side": side,
        "strategy": strategy,
        "duration": duration,
        "limit_price": limit_price,
        # Given here, not by the client: if Ctrl-C comes while the request is out,
        # the user is told the id to look the order up by.
        "custom_order_id": custom_order_id or new_custom_order_id(),
        **given,
    }
    request = PlaceOrderRequest.from_dict({k: v for k, v in fields.items() if v is not None})
    try:
        order = await client.place_order(request)
    except (KeyboardInterrupt, anyio.get_cancelled_exc_class()):
        out.error(
            "interrupted while the order was being placed: it may have landed; look it up"
            f" by custom_order_id={request.custom_order_id} before placing it again"
        )
        return EXIT_UNKNOWN
    _show_order(out, order)
    if wait:
        from taas_async._cli._live import follow_order  # noqa: PLC0415 (only --wait needs it)

        try:
            await follow_order(client, out, order, cancel_on_interrupt=cancel_on_interrupt)
        except TaaSError as exc:  # the order stands: say which, so it is not placed again
            out.error(
                f"order {order.id} was placed (custom_order_id={order.custom_order_id});"
                f" following it failed: {type(exc).__name__}: {exc}"
            )
            return EXIT_API
    return None


# --------------------------------------------------------------------------- one order


@orders.command()
@click.argument("order_id")
@json_option
@command
async def get(client: AsyncClient, out: Output, order_id: str) -> None:
    """Show one order."""
    _show_order(out, await client.get_order(order_id))


@orders.command()
@click.argument("order_id")
@json_option
@command
async def pause(client: AsyncClient, out: Output, order_id: str) -> None:
    """Pause an active order (no fills until it is resumed)."""
    _show_result(out, await client.pause_order(order_id), f"pause {order_id}")


@orders.command()
@click.argument("order_id")
@json_option
@command
async def resume(client: AsyncClient, out: Output, order_id: str) -> None:
    """Resume a paused order."""
    _show_result(out, await client.resume_order(order_id), f"resume {order_id}")


@orders.command()
@click.argument("order_id")
@click.option("--duration", type=int, help="New duration in seconds.")
@click.option("--base-qty", help="New quantity in the base asset.")
@click.option("--quote-qty", help="New quantity in the quote asset.")
@click.option("--limit-price", help="New price limit.")
@json_option
@command
async def amend(
    client: AsyncClient,
    out: Output,
    order_id: str,
    *,
    duration: int | None,
    base_qty: str | None,
    quote_qty: str | None,
    limit_price: str | None,
) -> None:
    """Change a live order: at least one of --duration, --base-qty, --quote-qty, --limit-price."""
    wanted = {
        "duration": duration,
        "base_asset_qty": base_qty,
        "quote_asset_qty": quote_qty,
        "limit_price": limit_price,
    }
    changes = {k: v for k, v in wanted.items() if v is not None}
    if not changes:
        raise click.UsageError(
            "nothing to change: give --duration, --base-qty, --quote-qty or --limit-price"
        )
    request = AmendOrderRequest(order_id=order_id, changes=changes)
    _show_result(out, await client.amend_order(request), f"amend {order_id}")


# --------------------------------------------------------------------------- many orders


@orders.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    # A misspelt status would match nothing and say "no orders": refused instead.
    type=click.Choice([status.value for status in OrderStatus], case_sensitive=False),
    help="Only this status (repeatable).",
)
@click.option("--account", "accounts", multiple=True, help="Only this account's (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many orders.")
@json_option
@command
async def list_orders(
    client: AsyncClient,
    out: Output,
    *,
    statuses: tuple[str, ...],
    accounts: tuple[str, ...],
    limit: int | None,
) -> None:
    """Orders, newest first, fetched a page at a time (JSON lines with --json)."""
    request = GetOrdersRequest(
        statuses=list(statuses) or None,
        account_names=list(accounts) or None,
        page_size=min(limit, _MAX_PAGE) if limit is not None else None,
    )
    rows: list[Sequence[str]] = []
    found = client.iter_orders(request)
    try:
        count = 0
        async for order in found:
            if limit is not None and count >= limit:
                break
            count += 1
            if out.as_json:
                out.json(order.to_dict())
            else:
                rows.append(_order_row(order))
    finally:
        aclose = getattr(found, "aclose", None)
        if aclose is not None:  # stopped early: the pages not fetched stay so
            await aclose()
    if not out.as_json:
        out.table(_LIST_COLUMNS, rows, title=f"{len(rows)} orders")


def _order_row(order: Order) -> Sequence[Any]:
    price = (
        order.average_executed_price
        if order.average_executed_price is not None
        else order.executed_price
    )
    return (  # Output.table writes each cell (enums by value, decimals exactly)
        order.id,
        order.pair,
        order.side,
        order.strategy,
        order.status,
        order.pct_filled,
        order.executed_qty,
        price,
        order.created_at,
    )


@orders.command()
@click.argument("order_ids", nargs=-1, required=True)
@json_option
@command
async def cancel(client: AsyncClient, out: Output, order_ids: tuple[str, ...]) -> int:
    """Cancel orders; each one's result or error (exit 1 if any failed)."""
    results = await client.cancel_orders(order_ids)
    failed = False
    rows: list[tuple[str, str, str]] = []
    for order_id, result in zip(order_ids, results, strict=True):
        if isinstance(result, Exception):
            failed = True
            error = f"{type(result).__name__}: {' '.join(str(result).split())}"
            if out.as_json:
                out.json({"order_id": order_id, "ok": False, "error": error})
            rows.append((order_id, "failed", error))
        else:
            if out.as_json:
                out.json({"order_id": order_id, "ok": True, "result": result.to_dict()})
            rows.append((order_id, "ok", result.message or "canceled"))
    if not out.as_json:
        out.table(("id", "result", "message"), rows, title="cancel")
    return EXIT_API if failed else 0
