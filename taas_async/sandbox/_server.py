"""A sandbox served over TCP from a background thread (uvicorn on 127.0.0.1).

For code that cannot use the in-process transport: sync HTTP clients,
subprocesses, other languages, a browser on the dashboard. The pytest
fixture ``taas_sandbox_server`` is one of these.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from taas_async.sandbox._control import CONTROL_PREFIX
from taas_async.sandbox._streams import STREAM_PATH

if TYPE_CHECKING:
    from taas_async.sandbox._sandbox import Sandbox

__all__ = ["SandboxServer"]

#: What to do when uvicorn is not installed.
NEEDS_UVICORN = "serving the sandbox over TCP needs uvicorn: pip install 'taas-async[sandbox]'"
START_LIMIT = 10.0  # seconds for uvicorn to start listening
STOP_LIMIT = 10  # seconds for it to stop


class SandboxServer:
    """A :class:`~taas_async.sandbox.Sandbox` served by uvicorn in a background thread.

    Example::

        with SandboxServer(Sandbox()) as server:
            with httpx.Client(base_url=server.url, headers=server.headers) as http:
                http.get("/api/balances/")
                http.post(server.control_url + "/advance", json={"seconds": 60})

    The server listens on ``host`` (127.0.0.1) on a free port. Its event loop
    runs in another thread, so change :attr:`sandbox` directly only while no
    request is in flight; while a client runs, steer through the control
    plane (:attr:`control_url`), which the server's own thread serves.

    Raises:
        RuntimeError: from :meth:`start`: uvicorn is missing, or the server
            did not start in time.

    """

    def __init__(self, sandbox: Sandbox, *, host: str = "127.0.0.1") -> None:
        self.sandbox = sandbox
        self.host = host
        self._port: int | None = None
        self._sock: socket.socket | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def root(self) -> str:
        """``http://127.0.0.1:<port>``: where the control plane and dashboard live."""
        if self._port is None:
            raise RuntimeError("the sandbox server is not running")
        return f"http://{self.host}:{self._port}"

    @property
    def url(self) -> str:
        """The API's base URL (the root plus the sandbox's ``base_path``)."""
        return self.root + self.sandbox.base_path

    @property
    def stream_url(self) -> str:
        """The order stream: ``ws://127.0.0.1:<port>/ws/orders/`` (after any ``base_path``)."""
        return "ws" + self.url.removeprefix("http") + STREAM_PATH

    @property
    def token(self) -> str:
        """The token the API and the control plane accept."""
        return self.sandbox.token

    @property
    def headers(self) -> dict[str, str]:
        """``{"Authorization": "Token <token>"}``, for any HTTP client."""
        return {"Authorization": f"Token {self.token}"}

    @property
    def control_url(self) -> str:
        """The control plane's base URL: ``<root>/_sandbox``."""
        return self.root + CONTROL_PREFIX

    @property
    def dashboard_url(self) -> str:
        """The dashboard, with the token in its query: open it in a browser."""
        return f"{self.control_url}/?token={quote(self.token, safe='')}"

    def start(self) -> None:
        """Bind a free port, start uvicorn in a thread, return once it accepts connections."""
        try:
            import uvicorn  # noqa: PLC0415 (an optional extra)
        except ImportError:
            raise RuntimeError(NEEDS_UVICORN) from None
        if self._thread is not None:
            raise RuntimeError("the sandbox server is running already")
        started = threading.Event()

        class _Server(uvicorn.Server):
            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets)
                started.set()

        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.bind((self.host, 0))
        sock.listen(128)
        # log_config=None: uvicorn leaves the process's logging alone (its errors still
        # reach the root logger, and so pytest's log capture).
        config = uvicorn.Config(
            self.sandbox.app,
            log_level="warning",
            log_config=None,
            lifespan="on",
            ws="wsproto",  # the order stream; whatever other WebSocket library is installed
            timeout_graceful_shutdown=STOP_LIMIT // 2,
        )
        self._server = _Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"taas-sandbox-{sock.getsockname()[1]}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_LIMIT
        # Bounded, and no longer than it takes: a server that failed to start ends its thread.
        while not started.wait(0.05) and self._thread.is_alive() and time.monotonic() < deadline:
            pass
        if not started.is_set() or not self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(STOP_LIMIT)
            self._thread = None
            sock.close()
            raise RuntimeError(f"the sandbox server did not start within {START_LIMIT} s")
        self._sock = sock
        self._port = sock.getsockname()[1]

    def stop(self) -> None:
        """Ask uvicorn to finish (open connections close) and wait for its thread.

        Raises:
            RuntimeError: it had not stopped after ``STOP_LIMIT`` seconds.

        """
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._server.should_exit = True
        thread.join(STOP_LIMIT)
        if self._sock is not None:
            self._sock.close()
        self._sock, self._port = None, None
        if thread.is_alive():
            raise RuntimeError(f"the sandbox server did not stop within {STOP_LIMIT} s")

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.root if self._port is not None else "stopped"
        return f"<SandboxServer {where}>"
