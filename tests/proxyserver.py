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

import contextlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pytest

__all__ = ["TINYPROXY", "TinyProxy", "free_port", "needs_tinyproxy"]

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

    """

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        connect_ports: list[int] | None = None,
        upstream: str | None = None,
    ) -> None:
        if TINYPROXY is None:
            raise RuntimeError("tinyproxy is not installed")
        self.port = free_port()
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

    @property
    def log(self) -> str:
        """tinyproxy's whole log."""
        return self._log.read_text(errors="replace") if self._log.exists() else ""

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
