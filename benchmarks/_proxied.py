"""The "through a local proxy" workload's setting: a private CA, and tinyproxy on 127.0.0.1.

Both contenders reach the benchmark server's TLS listeners (``https://localhost``,
a certificate of a CA made here with ``trustme``) through the same tinyproxy
(Debian's ``tinyproxy`` package), in ``CONNECT`` tunnels: raw aiohttp with
``proxy=`` and an ``ssl`` context trusting that CA, the SDK with ``proxy=`` and
``verify=`` the CA file.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

try:
    import trustme
except ImportError:  # pragma: no cover - the bench extra has it: the proxy rows are then skipped
    trustme = None  # type: ignore[assignment]

__all__ = ["Certificates", "certificates", "local_proxy", "missing"]


def missing() -> str | None:
    """What the proxy rows lack on this machine, or None."""
    if shutil.which("tinyproxy") is None:
        return "tinyproxy not installed (apt-get install tinyproxy)"
    if trustme is None:
        return "trustme not installed (pip install trustme)"
    return None


@dataclass(frozen=True)
class Certificates:
    ca: str  # the CA's certificate: what clients trust
    cert: str  # the server's certificate for localhost
    key: str  # and its key


@contextlib.contextmanager
def certificates() -> Iterator[Certificates]:
    """A private CA and a certificate it signed for ``localhost``, in a temporary folder."""
    assert trustme is not None
    ca = trustme.CA()
    issued = ca.issue_cert("localhost")
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as folder:
        files = Certificates(
            str(Path(folder, "ca.pem")), str(Path(folder, "cert.pem")), str(Path(folder, "key.pem"))
        )
        ca.cert_pem.write_to_path(files.ca)
        issued.cert_chain_pems[0].write_to_path(files.cert)
        issued.private_key_pem.write_to_path(files.key)
        yield files


@contextlib.contextmanager
def local_proxy(cpu: int | None) -> Iterator[str]:
    """tinyproxy on a free loopback port (pinned to ``cpu``): its URL, until the block ends."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as folder:
        config = Path(folder, "tinyproxy.conf")
        config.write_text(
            f"Port {port}\nListen 127.0.0.1\nTimeout 600\nMaxClients 1024\n"
            "LogLevel Critical\nDisableViaHeader Yes\n"
        )
        command = ["tinyproxy", "-d", "-c", str(config)]
        if cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(cpu), *command]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:  # bounded: until it listens, at most 10 s
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=1),
                ):
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("tinyproxy did not start")
                time.sleep(0.02)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
