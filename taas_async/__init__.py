"""taas-async: the asyncio-native, typed SDK for the TaaS trading API.

Everything public is importable from here; the ``_``-modules are private.
"""

from taas_async._client import (
    DEFAULT_FAN_OUT,
    DEFAULT_MAX_RESPONSE_SIZE,
    DEFAULT_TIMEOUT,
    USE_CLIENT_DEFAULT,
    AsyncClient,
    TimeoutTypes,
)
from taas_async._enums import MultiOrderStatus, OrderStatus, PosSide, Side, Strategy
from taas_async._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    OrderOutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ResponseDecodeError,
    ResponseTooLargeError,
    TaaSError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from taas_async._exports import show_public_module
from taas_async._models import (
    ActionResult,
    Asset,
    Balance,
    ChainedOrder,
    CloseBalancesResult,
    MultiOrder,
    Order,
    OrderMessage,
    OrdersPage,
    OrderSummary,
)
from taas_async._requests import (
    AmendOrderRequest,
    ChildOrder,
    DecimalInput,
    GetOrdersRequest,
    OrderInChain,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    SetLeverageRequest,
)
from taas_async._retry import Backoff
from taas_async._transport import (
    DEFAULT_LIMITS,
    AiohttpTransport,
    H11PoolTransport,
    SplitPoolTransport,
)
from taas_async._version import __version__

__all__ = [
    "DEFAULT_FAN_OUT",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DEFAULT_TIMEOUT",
    "USE_CLIENT_DEFAULT",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ActionResult",
    "AiohttpTransport",
    "AmendOrderRequest",
    "Asset",
    "AsyncClient",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "Balance",
    "ChainedOrder",
    "ChildOrder",
    "ClientClosedError",
    "CloseBalancesResult",
    "ConfigurationError",
    "ConflictError",
    "DecimalInput",
    "GetOrdersRequest",
    "H11PoolTransport",
    "InternalServerError",
    "MultiOrder",
    "MultiOrderStatus",
    "NotFoundError",
    "Order",
    "OrderInChain",
    "OrderMessage",
    "OrderOutcomeUnknownError",
    "OrderStatus",
    "OrderSummary",
    "OrdersPage",
    "PermissionDeniedError",
    "PlaceChainedOrderRequest",
    "PlaceMultiOrderRequest",
    "PlaceOrderRequest",
    "PosSide",
    "RateLimitError",
    "RequestValidationError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "SetLeverageRequest",
    "Side",
    "SplitPoolTransport",
    "Strategy",
    "TaaSError",
    "TimeoutTypes",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "__version__",
]

# Show users the public path (taas_async.Order), as httpx does.
show_public_module(globals(), __all__)
del show_public_module
