"""One declarative row per TaaS endpoint, and :class:`Call`, one use of a row.

A row says everything the engine, the order reconciliation and the sandbox
need to know about an endpoint, so none of them keys anything on path
strings: its HTTP method and path template, the request model it sends and
how (JSON body or query string), how its reply is structured, and its kind:

- ``read``: changes nothing; retried on anything that may pass;
- ``cancel``: idempotent; retried as a read, and a retry refused after an
  attempt that may have worked is checked against ``state`` (the row that
  reads the same resource);
- ``write``: changes state; sent again only when it provably never left;
- ``order``: creates orders; never sent twice blindly: ``orders`` says where
  their ``custom_order_id`` s go and how a landed one is found again.

The ``AsyncClient`` method and the sandbox handler of a row share its name.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, TypeVar

import attrs

from taas_async import _converter
from taas_async import _models as m
from taas_async import _requests as r
from taas_async._options import USE_CLIENT_DEFAULT, CallRetries, CallTimeout
from taas_async._wire import path_id

__all__ = [
    "ENDPOINTS",
    "RAW",
    "Call",
    "Endpoint",
    "Kind",
    "OrderShape",
    "order_endpoint_for",
]

T = TypeVar("T")

Kind = Literal["read", "cancel", "write", "order"]


class OrderShape(enum.Enum):
    """How an order-creating endpoint carries its orders' ``custom_order_id`` s."""

    #: One order, its id at the top of the body (``place_order``); found again
    #: by it, and sent again when a lookup proves it absent.
    SINGLE = "single"
    #: One multi order, its id at the top; its legs carry it and lead to the
    #: multi order (``parent_order``). Never resent: legs are not promised to
    #: be listed under the id.
    MULTI = "multi"
    #: One id per leg (``orders_in_chain[i].order_request``); all legs under
    #: one parent rebuild the chain. Never resent, as for multi orders.
    CHAIN = "chain"
    #: No id can be given (``close_balances``): an uncertain outcome is
    #: reported at once.
    UNTRACKED = "untracked"


@attrs.frozen
class Endpoint(Generic[T]):
    """One endpoint: what it is called, where it lives, what it sends and returns."""

    name: str  # the AsyncClient method and the sandbox handler
    method: str
    path: str  # template, relative to the base URL: "api/order/{order_id}"
    kind: Kind
    parse: Callable[[Any], T]  # decoded JSON -> the reply type (raising ShapeError)
    request: type | None = None  # the request model, validated right before sending
    send_as: Literal["json", "query"] = "json"
    allow_empty: bool = False  # a 204 / empty body is a success
    orders: OrderShape | None = None  # order-creating rows only
    state: str | None = None  # cancel rows: the row that reads the resource's state
    #: The path's one parameter (``order_id``), if it has one, and what stands
    #: before and after it: split once, not on every call.
    path_param: str | None = attrs.field(init=False)
    _around: tuple[str, str] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        before, brace, rest = self.path.partition("{")
        param, _, after = rest.partition("}")
        object.__setattr__(self, "path_param", param if brace else None)
        object.__setattr__(self, "_around", (before, after))

    def format_path(self, value: object = None, *, name: str | None = None) -> str:
        """The path with its parameter filled in, made safe for a path segment.

        ``name`` is what an error calls a bad value (the parameter's name by default).
        """
        param = self.path_param
        if param is None:
            return self.path
        before, after = self._around
        return before + path_id(value, name=name or param) + after  # type: ignore[arg-type]


_ORDER = _converter.parser(m.Order)
_ACTION = _converter.action_result

# fmt: off
PLACE_ORDER: Endpoint[m.Order] = Endpoint(
    "place_order", "POST", "api/orders/", "order", _ORDER, r.PlaceOrderRequest,
    orders=OrderShape.SINGLE,
)
GET_ORDER: Endpoint[m.Order] = Endpoint("get_order", "GET", "api/order/{order_id}", "read", _ORDER)
GET_ORDER_SUMMARY: Endpoint[m.OrderSummary] = Endpoint(
    "get_order_summary", "GET", "api/order_summary/{order_id}", "read",
    _converter.parser(m.OrderSummary),
)
CANCEL_ORDER: Endpoint[m.ActionResult] = Endpoint(
    "cancel_order", "DELETE", "api/order/{order_id}", "cancel", _ACTION,
    allow_empty=True, state="get_order",
)
AMEND_ORDER: Endpoint[m.ActionResult] = Endpoint(
    "amend_order", "POST", "api/amend_order/", "write", _ACTION, r.AmendOrderRequest,
    allow_empty=True,
)
PAUSE_ORDER: Endpoint[m.ActionResult] = Endpoint(
    "pause_order", "POST", "api/pause_order/", "write", _ACTION, r.OrderIdRequest,
    allow_empty=True,
)
RESUME_ORDER: Endpoint[m.ActionResult] = Endpoint(
    "resume_order", "POST", "api/resume_order/", "write", _ACTION, r.OrderIdRequest,
    allow_empty=True,
)
GET_ALL_ORDERS: Endpoint[m.OrdersPage] = Endpoint(
    "get_all_orders", "GET", "api/orders/", "read", _converter.parser(m.OrdersPage),
    r.GetOrdersRequest, send_as="query",
)
GET_ORDER_MESSAGES: Endpoint[list[m.OrderMessage]] = Endpoint(
    "get_order_messages", "POST", "api/order_messages/", "read", _converter.order_messages,
    r.OrderMessagesRequest,
)
PLACE_MULTI_ORDER: Endpoint[m.MultiOrder] = Endpoint(
    "place_multi_order", "POST", "api/multi_orders/", "order", _converter.parser(m.MultiOrder),
    r.PlaceMultiOrderRequest, orders=OrderShape.MULTI,
)
GET_MULTI_ORDER: Endpoint[m.MultiOrder] = Endpoint(
    "get_multi_order", "GET", "api/multi_order/{multi_order_id}", "read",
    _converter.parser(m.MultiOrder), r.MultiOrderQuery, send_as="query",
)
GET_MULTI_ORDERS: Endpoint[m.MultiOrdersPage] = Endpoint(
    "get_multi_orders", "GET", "api/multi_orders/", "read",
    _converter.parser(m.MultiOrdersPage), r.GetMultiOrdersRequest, send_as="query",
)
CANCEL_MULTI_ORDER: Endpoint[m.ActionResult] = Endpoint(
    "cancel_multi_order", "DELETE", "api/multi_order/{multi_order_id}", "cancel", _ACTION,
    allow_empty=True, state="get_multi_order",
)
PLACE_CHAINED_ORDER: Endpoint[m.ChainedOrder] = Endpoint(
    "place_chained_order", "POST", "api/chained_orders/", "order",
    _converter.parser(m.ChainedOrder), r.PlaceChainedOrderRequest, orders=OrderShape.CHAIN,
)
GET_BALANCES: Endpoint[dict[str, m.Balance]] = Endpoint(
    "get_balances", "GET", "api/balances/", "read", _converter.parser(dict[str, m.Balance]),
    r.BalancesQuery, send_as="query",
)
CLOSE_BALANCES: Endpoint[m.CloseBalancesResult] = Endpoint(
    "close_balances", "POST", "api/close_balances/", "order",
    _converter.parser(m.CloseBalancesResult), r.CloseBalancesRequest,
    orders=OrderShape.UNTRACKED,
)
SET_LEVERAGE: Endpoint[m.ActionResult] = Endpoint(
    "set_leverage", "POST", "api/set_leverage/", "write", _ACTION, r.SetLeverageRequest,
    allow_empty=True,
)

# fmt: on

#: Every endpoint the SDK wraps, by name.
ENDPOINTS: Mapping[str, Endpoint[Any]] = {
    row.name: row
    for row in (
        PLACE_ORDER, GET_ORDER, GET_ORDER_SUMMARY, CANCEL_ORDER, AMEND_ORDER, PAUSE_ORDER,
        RESUME_ORDER, GET_ALL_ORDERS, GET_ORDER_MESSAGES, PLACE_MULTI_ORDER, GET_MULTI_ORDER,
        GET_MULTI_ORDERS, CANCEL_MULTI_ORDER, PLACE_CHAINED_ORDER, GET_BALANCES, CLOSE_BALANCES,
        SET_LEVERAGE,
    )
}  # fmt: skip


def order_endpoint_for(method: str, path: str) -> Endpoint[Any] | None:
    """The order-creating row a raw ``request(method, path)`` hits, if any."""
    for row in ENDPOINTS.values():
        if row.kind == "order" and row.method == method and row.path == path:
            return row
    return None


def _identity(body: Any) -> Any:
    return body


#: What ``AsyncClient.request`` sends: any method and path, the decoded JSON back.
RAW: Endpoint[Any] = Endpoint("request", "GET", "", "read", _identity, allow_empty=True)


@attrs.frozen
class Call(Generic[T]):
    """One use of an endpoint: its row, the path filled in, what to send, and how.

    Described without I/O; the engine sends it. ``kind`` is the row's unless
    overridden (a raw ``request()`` chooses its own).
    """

    endpoint: Endpoint[T]
    path: str
    kind: Kind
    method: str
    # What fills the path's parameter (an order id), as given.
    target: Any = None
    # A request model: validated right before sending, then encoded as the
    # JSON body or the query string, as the row says.
    request: Any = None
    # Raw query and body, for ``AsyncClient.request`` (no model).
    params: Mapping[str, str] | None = None
    body: Any = None
    timeout: CallTimeout = USE_CLIENT_DEFAULT
    max_retries: CallRetries = USE_CLIENT_DEFAULT
    # The request was validated as a whole just before (place_orders checks the
    # batch up front): not again before sending.
    checked: bool = False
    # Send every attempt on a new connection (an order lookup after a connection
    # failure: the pooled ones may have been closed by the server too).
    fresh_connection: bool = False

    @property
    def parse(self) -> Callable[[Any], T]:
        """How the reply is structured."""
        return self.endpoint.parse

    @property
    def orders(self) -> OrderShape | None:
        """For an order-creating call: how its orders carry their ids."""
        return self.endpoint.orders if self.kind == "order" else None
