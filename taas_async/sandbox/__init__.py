"""An in-memory TaaS simulator to run the SDK, demos and tests against.

Three ways in:

- in process: ``async with Sandbox().client() as client: ...`` (an httpx
  transport, no socket);
- as a server: ``python -m taas_async.sandbox --port 8000 --speed 60``
  (needs the ``sandbox`` extra: ``pip install 'taas-async[sandbox]'``);
- in pytest: the ``taas_sandbox`` fixture (installed with the package), or
  ``taas_sandbox_server`` for a real server on 127.0.0.1 (:class:`SandboxServer`).

Served, it has a control plane under ``/_sandbox/`` (move the clock, set a
price, inject faults, reset, read the exchanges) and a dashboard at
``/_sandbox/?token=...``.

Behind the API runs a simulated engine: a clock (virtual in tests, real time
x ``speed`` in demos), seeded random-walk prices, orders that go SCHEDULED ->
ACTIVE -> COMPLETE filling as their strategy does, with fees, multi and
chained orders, and balances that move with every fill. See ``docs/sandbox.md``.
"""

from taas_async.sandbox._app import Exchange, FaultRule, Faults, SandboxApp
from taas_async.sandbox._clock import (
    DEFAULT_START,
    AutojumpClock,
    Clock,
    RealTimeClock,
    VirtualClock,
)
from taas_async.sandbox._control import CONTROL_PREFIX, ControlPlane
from taas_async.sandbox._engine import Engine
from taas_async.sandbox._inprocess import InProcessTransport
from taas_async.sandbox._prices import STABLECOINS, Pair, PriceFeed
from taas_async.sandbox._records import (
    LOT,
    MAX_SLICES,
    Account,
    Fill,
    Message,
    Position,
    SandboxError,
    SimChain,
    SimMulti,
    SimOrder,
)
from taas_async.sandbox._sandbox import DEFAULT_ACCOUNTS, DEFAULT_TOKEN, AccountSpec, Sandbox
from taas_async.sandbox._server import SandboxServer

__all__ = [
    "CONTROL_PREFIX",
    "DEFAULT_ACCOUNTS",
    "DEFAULT_START",
    "DEFAULT_TOKEN",
    "LOT",
    "MAX_SLICES",
    "STABLECOINS",
    "Account",
    "AccountSpec",
    "AutojumpClock",
    "Clock",
    "ControlPlane",
    "Engine",
    "Exchange",
    "FaultRule",
    "Faults",
    "Fill",
    "InProcessTransport",
    "Message",
    "Pair",
    "Position",
    "PriceFeed",
    "RealTimeClock",
    "Sandbox",
    "SandboxApp",
    "SandboxError",
    "SandboxServer",
    "SimChain",
    "SimMulti",
    "SimOrder",
    "VirtualClock",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith(__name__ + "._"):
        _obj.__module__ = __name__
del _name, _obj
