"""tinyproxy (the Debian package), a real forward proxy on 127.0.0.1, for the proxy suites.

Pure test code (not shipped). :class:`TinyProxy` writes a configuration,
starts ``tinyproxy -d`` on a free loopback port and reads its log, so a test
can see what the proxy was asked (``requests``: ``CONNECT host:port`` for a
tunnel, ``GET http://...`` for an absolute-form request).

Example::

    with TinyProxy(auth=("alice", "s3cret")) as proxy:
        client = AsyncClient(url, token, proxy=proxy.url_with("alice", "s3cret"))
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import pytest

__all__ = ["TINYPROXY", "TinyProxy", "TlsFront", "free_port", "needs_tinyproxy"]

TINYPROXY = shutil.which("tinyproxy")

#: Skips a test where tinyproxy is missing (CI installs it: .ci/run).
needs_tinyproxy = pytest.mark.skipif(
    TINYPROXY is None, reason="tinyproxy is not installed (apt-get install tinyproxy)"
)

_REQUEST = re.compile(r"Request \(file descriptor \d+\): (\S+ \S+) HTTP/1\.\d")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TinyProxy:
    """tinyproxy on ``127.0.0.1:port``, configured for one test.

    Args:
        auth: (user, password) the proxy demands (``BasicAuth``), or None.
        connect_ports: the only ports ``CONNECT`` may reach (others: 403);
            None allows every port.
        upstream: forward everything to this ``host:port`` proxy (a dead one
            makes tinyproxy answer 502).
        port: listen on this port (another proxy's, stopped: its successor).

    """

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        connect_ports: list[int] | None = None,
        upstream: str | None = None,
        port: int | None = None,
    ) -> None:
        if TINYPROXY is None:
            raise RuntimeError("tinyproxy is not installed")
        self.port = port or free_port()
        self._folder = Path(tempfile.mkdtemp(prefix="tinyproxy-"))
        self._log = self._folder / "tinyproxy.log"
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 30",
            "MaxClients 512",
            "LogLevel Connect",
            f'LogFile "{self._log}"',
        ]
        if auth is not None:
            lines.append(f"BasicAuth {auth[0]} {auth[1]}")
        for port in connect_ports or []:
            lines.append(f"ConnectPort {port}")
        if upstream is not None:
            lines.append(f"Upstream http {upstream}")
        self._config = self._folder / "tinyproxy.conf"
        self._config.write_text("\n".join(lines) + "\n")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no credentials)."""
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        """The proxy's URL with credentials in it."""
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[str]:
        """What the proxy was asked, in order: ``"CONNECT localhost:443"``, ``"GET http://..."``."""
        try:
            text = self._log.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return _REQUEST.findall(text)

    def start(self) -> None:
        assert TINYPROXY is not None
        self._process = subprocess.Popen(
            [TINYPROXY, "-d", "-c", str(self._config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # bounded: until it listens
            if self._process.poll() is not None:
                err = self._process.stderr.read() if self._process.stderr else b""
                raise RuntimeError(f"tinyproxy exited: {err.decode(errors='replace')}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("tinyproxy did not start listening within 10 s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            if process.stderr is not None:
                process.stderr.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> TinyProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class TlsFront:
    """TLS in front of a local port (tinyproxy's): what makes an ``https://`` proxy of it.

    Listens on ``https://127.0.0.1:PORT`` with ``context`` (in a thread of its
    own) and relays each connection's bytes, decrypted, to ``127.0.0.1:target``
    and back: the deployment where a TLS terminator fronts a plain proxy.
    """

    def __init__(self, target: int, context: ssl.SSLContext) -> None:
        self._target = target
        self._context = context
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    def url_with(self, user: str, password: str) -> str:
        return f"https://{user}:{password}@127.0.0.1:{self.port}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        except OSError:
            writer.close()
            return

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ssl.SSLError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(OSError, RuntimeError):
                sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=self._context)
        return int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> TlsFront:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
