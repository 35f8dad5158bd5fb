"""Following an order until it ends (``taas orders place --wait``).

A minimal version: it waits for the order's end and prints the final order.
"""

from __future__ import annotations

from taas_async import AsyncClient, Order
from taas_async._cli._output import Output

__all__ = ["follow_order"]

#: Seconds between looks at the order while it runs.
POLL_INTERVAL = 0.5


async def follow_order(
    client: AsyncClient, out: Output, order: Order, *, cancel_on_interrupt: bool | None
) -> Order:
    """Wait until ``order`` is COMPLETE or CANCELED; print it and return it.

    ``cancel_on_interrupt`` (cancel, leave running, or ask on Ctrl-C) is not
    acted on here: an interrupt leaves the order running.
    """
    del cancel_on_interrupt
    final = await client.wait_for_order(order.id, poll_interval=POLL_INTERVAL)
    if out.as_json:
        out.json(final.to_dict())
    else:
        out.fields(final.to_dict(), title=f"order {final.id}")
    return final
