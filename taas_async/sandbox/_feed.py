"""The engine's feed of order updates: what the order stream sends, in the order it happened.

The engine tells the feed of each change as it makes it: an order placed,
started or resumed, filled, paused, finished; a multi order placed. The feed
names the change as the TaaS order stream does (``order_created``,
``order_fill_received``, ``child_order_completed``...), renders the order's
JSON at that moment (a snapshot, the same object ``GET /api/order/{id}``
returns, or the multi order's for a multi order itself) and keeps the whole
message under a sequence number. Open streams read it from their cursor on.

A multi order's own updates are derived from its children, as its status
is: ``order_activated`` when a first child starts (or one resumes),
``order_paused`` once every live child is paused, ``order_completed`` or
``order_canceled`` once every child has finished. Its children's are
``child_order_*`` (the docs list no ``child_order_paused``: a child's pause
shows only in the parent's status). A chained order's legs are single orders.

Nothing is rendered while no stream reads the feed: a sandbox nobody
streams from pays nothing for it. The feed keeps at most ``limit`` updates
(and none that every reader has passed); a reader further behind than that
has lost updates, and the stream tells it so.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from decimal import localcontext

import attrs

from taas_async._enums import OrderStatus
from taas_async.sandbox import _render as render
from taas_async.sandbox._records import EXACT, SimMulti, SimOrder

__all__ = ["FEED_LIMIT", "Feed", "Update"]

#: How many updates a feed keeps for a reader that lags.
FEED_LIMIT = 100_000

_SINGLE = {
    OrderStatus.ACTIVE: "order_activated",
    OrderStatus.PAUSED: "order_paused",
    OrderStatus.COMPLETE: "order_completed",
    OrderStatus.CANCELED: "order_canceled",
}
_CHILD = {
    OrderStatus.ACTIVE: "child_order_activated",
    OrderStatus.COMPLETE: "child_order_completed",
    OrderStatus.CANCELED: "child_order_canceled",
}
_PARENT = {
    "ACTIVE": "order_activated",
    "PAUSED": "order_paused",
    "COMPLETE": "order_completed",
    "CANCELED": "order_canceled",
}
_FINISHED = frozenset({"COMPLETE", "CANCELED"})


@attrs.frozen
class Update:
    """One ``order_update`` message, as the stream sends it.

    ``text`` is the whole JSON message, rendered when the change happened:
    ``{"type": "order_update", "data": {"order_id", "update_type", "order"}}``.
    """

    seq: int
    time: dt.datetime
    order_id: str
    update_type: str
    text: str


class Feed:
    """The ordered, bounded record of order updates an engine made.

    ``multis`` is the engine's multi orders by id (to tell a multi order's
    child from a single order). ``listeners`` are called after each update
    is added; ``readers`` counts the streams reading (none: nothing is kept).
    """

    def __init__(self, multis: Mapping[str, SimMulti], limit: int = FEED_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"a feed keeps at least one update, got limit={limit!r}")
        self.limit = limit
        self.readers = 0
        self.listeners: list[Callable[[], None]] = []
        #: The number the next update gets (numbers start at 1 and have no gaps).
        self.next_seq: int = 1
        self._multis = multis
        self._updates: deque[Update] = deque()
        self._parents: dict[str, str] = {}  # multi order id -> the status last reported

    # ------------------------------------------------------------------ from the engine

    def placed(self, order: SimOrder, when: dt.datetime) -> None:
        """An order was accepted (a multi order's children come with :meth:`multi_placed`)."""
        if order.chain is None and order.parent_order is not None:
            return
        self._add(order.id, "order_created", when, order)

    def multi_placed(self, multi: SimMulti, when: dt.datetime) -> None:
        """A multi order was accepted: the parent's update, then each child's."""
        self._parents[multi.id] = multi.status
        self._add(multi.id, "order_created", when, multi)
        for child in multi.children:
            self._add(child.id, "child_order_created", when, child)

    def status_changed(self, order: SimOrder, when: dt.datetime) -> None:
        """An order started, resumed, paused or finished (its status says which)."""
        multi = self._multi_of(order)
        kind = (_SINGLE if multi is None else _CHILD).get(order.status)
        if kind is not None:
            self._add(order.id, kind, when, order)
        if multi is not None:
            self._parent_changed(multi, when)

    def filled(self, order: SimOrder, when: dt.datetime) -> None:
        """An order received a fill."""
        multi = self._multi_of(order)
        kind = "order_fill_received" if multi is None else "child_order_fill_received"
        self._add(order.id, kind, when, order)
        if multi is not None:
            self._parent_changed(multi, when)

    def _multi_of(self, order: SimOrder) -> SimMulti | None:
        if order.chain is not None or order.parent_order is None:
            return None
        return self._multis.get(order.parent_order)

    def _parent_changed(self, multi: SimMulti, when: dt.datetime) -> None:
        status = multi.status
        if status in _FINISHED and not all(c.is_terminal for c in multi.children):
            return  # being canceled: reported once its last child has finished
        if self._parents.get(multi.id) == status:
            return
        self._parents[multi.id] = status
        kind = _PARENT.get(status)
        if kind is not None:
            self._add(multi.id, kind, when, multi)

    def _add(self, order_id: str, kind: str, when: dt.datetime, of: SimOrder | SimMulti) -> None:
        if not self.readers:
            return
        with localcontext(EXACT):  # the figures exactly as the API renders them
            body = render.multi_order(of) if isinstance(of, SimMulti) else render.order(of)
            message = {
                "type": "order_update",
                "data": {"order_id": order_id, "update_type": kind, "order": body},
            }
            text = render.dumps(message).decode()
        self._updates.append(Update(self.next_seq, when, order_id, kind, text))
        self.next_seq += 1
        if len(self._updates) > self.limit:
            self._updates.popleft()
        for listener in self.listeners:
            listener()

    # ------------------------------------------------------------------ for the readers

    def since(self, cursor: int) -> Sequence[Update] | None:
        """The updates numbered ``cursor`` and later; None if some of them are gone."""
        if cursor >= self.next_seq:
            return ()
        first = self._updates[0].seq if self._updates else self.next_seq
        if cursor < first:
            return None
        return list(itertools.islice(self._updates, cursor - first, None))

    def trim(self, cursor: int) -> None:
        """Forget the updates numbered below ``cursor``: every reader is past them."""
        while self._updates and self._updates[0].seq < cursor:
            self._updates.popleft()

    def __len__(self) -> int:
        return len(self._updates)

    def __repr__(self) -> str:
        return f"<Feed kept={len(self._updates)} next={self.next_seq} readers={self.readers}>"
