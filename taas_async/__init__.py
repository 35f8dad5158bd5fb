"""taas-async: the asyncio-native, typed SDK for the TaaS trading API.

Everything public is importable from here; the ``_``-modules are private.
"""

from taas_async._client import AsyncClient
from taas_async._enums import (
    MultiOrderStatus,
    OrderStatus,
    OrderUpdateType,
    PosSide,
    Side,
    Strategy,
)
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
    ProxyError,
    RateLimitError,
    RequestValidationError,
    ResponseDecodeError,
    ResponseTooLargeError,
    StreamUnavailableError,
    TaaSError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from taas_async._models import (
    ActionResult,
    Asset,
    Balance,
    ChainedOrder,
    CloseBalancesResult,
    MultiOrder,
    MultiOrdersPage,
    Order,
    OrderMessage,
    OrdersPage,
    OrderSummary,
    OrderUpdate,
)
from taas_async._numbers import DecimalInput
from taas_async._options import (
    DEFAULT_MAX_RESPONSE_SIZE,
    DEFAULT_TIMEOUT,
    USE_CLIENT_DEFAULT,
    TimeoutTypes,
)
from taas_async._raw import AsyncClientWithRawResponse, RawResponse
from taas_async._requests import (
    AmendOrderRequest,
    ChildOrder,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    OrderInChain,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    SetLeverageRequest,
    StrategyParams,
)
from taas_async._retry import Backoff
from taas_async._stream import OrderStream
from taas_async._tracking import DEFAULT_FAN_OUT
from taas_async._transports import DEFAULT_LIMITS, AiohttpTransport, H11PoolTransport
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
    "AsyncClientWithRawResponse",
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
    "GetMultiOrdersRequest",
    "GetOrdersRequest",
    "H11PoolTransport",
    "InternalServerError",
    "MultiOrder",
    "MultiOrderStatus",
    "MultiOrdersPage",
    "NotFoundError",
    "Order",
    "OrderInChain",
    "OrderMessage",
    "OrderOutcomeUnknownError",
    "OrderStatus",
    "OrderStream",
    "OrderSummary",
    "OrderUpdate",
    "OrderUpdateType",
    "OrdersPage",
    "PermissionDeniedError",
    "PlaceChainedOrderRequest",
    "PlaceMultiOrderRequest",
    "PlaceOrderRequest",
    "PosSide",
    "ProxyError",
    "RateLimitError",
    "RawResponse",
    "RequestValidationError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "SetLeverageRequest",
    "Side",
    "Strategy",
    "StrategyParams",
    "StreamUnavailableError",
    "TaaSError",
    "TimeoutTypes",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "__version__",
]

# Show users the public path (taas_async.Order), as httpx does.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith(__name__ + "._"):
        _obj.__module__ = __name__
del _name, _obj
