"""``taas orders ...``: one order at a time."""

from __future__ import annotations

import click

from taas_async import AsyncClient
from taas_async._cli._app import command, json_option, orders
from taas_async._cli._output import Output

__all__ = ["get"]


@orders.command()
@click.argument("order_id")
@json_option
@command
async def get(client: AsyncClient, out: Output, order_id: str) -> None:
    """Show one order."""
    order = await client.get_order(order_id)
    if out.as_json:
        out.json(order.to_dict())
    else:
        out.fields(order.to_dict(), title=f"order {order.id}")
