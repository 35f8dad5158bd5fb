"""Through a real forward proxy (tinyproxy), to servers on 127.0.0.1: the default transport.

- ``https://``: a ``CONNECT`` tunnel per pooled connection, TLS inside it to
  the target (a private CA's certificate for ``localhost``), checked against
  the target's name; kept alive like a direct connection.
- ``http://``: absolute-form requests to the proxy.
- ``NO_PROXY``: hosts, domains, CIDRs, ports, ``*``.
- The proxy's credentials: sent, and never shown.
- A refusal (401/407, 403, 500, 502) is a :class:`ProxyError`, nothing sent:
  rules and credentials are not retried, a proxy that could not reach the
  server is; a silent proxy is a connect timeout.
- verify=, cert= (mutual TLS) and ``SSL_CERT_FILE``.

Every test runs on asyncio, trio and uvloop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import trustme
from conftest import order_request
from faultserver import Fault, FaultServer, refused_url
from proxyserver import TinyProxy, TlsFront, needs_tinyproxy

from taas_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    Backoff,
    ConfigurationError,
    H11PoolTransport,
    ProxyError,
)
from taas_async.sandbox import Sandbox

pytestmark = [pytest.mark.anyio, needs_tinyproxy]

USER, PASSWORD = "alice", "s3cret-Pa55"
#: Bounds every test's wait (a hang is a failure, not a stuck suite).
LIMIT = 20


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A private certificate authority, as a trading desk's network has."""
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(
    ca: trustme.CA, *, client_certs: bool = False, name: str = "localhost"
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    if client_certs:  # mutual TLS: only a certificate of this CA gets in
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.fixture
def tls_server(sandbox: Sandbox, ca: trustme.CA) -> Iterator[FaultServer]:
    """The sandbox over HTTPS, on ``https://localhost:PORT/``, its certificate from ``ca``."""
    with FaultServer(app=sandbox.app, tls=server_context(ca)) as running:
        yield running


@pytest.fixture
def plain_server(sandbox: Sandbox) -> Iterator[FaultServer]:
    with FaultServer(app=sandbox.app) as running:
        yield running


@pytest.fixture
def proxy() -> Iterator[TinyProxy]:
    with TinyProxy(auth=(USER, PASSWORD)) as running:
        yield running


def connects(proxy: TinyProxy) -> list[str]:
    return [r for r in proxy.requests if r.startswith("CONNECT ")]


def client(url: str, sandbox: Sandbox, **kwargs: object) -> AsyncClient:
    kwargs.setdefault("backoff", Backoff.none())
    return AsyncClient(url, sandbox.token, **kwargs)  # type: ignore[arg-type]


async def place_and_read_back(url: str, sandbox: Sandbox, **settings: object) -> None:
    """One client: place an order, then read it back three times."""
    with anyio.fail_after(LIMIT):
        async with client(url, sandbox, **settings) as taas:
            placed = await taas.place_order(order_request())
            for _ in range(3):
                assert (await taas.get_order(placed.id)).id == placed.id


# --------------------------------------------------------------------------- https: CONNECT


async def test_https_goes_through_a_connect_tunnel_to_a_private_ca_server(
    tls_server: FaultServer, proxy: TinyProxy, sandbox: Sandbox, ca_file: str
) -> None:
    await place_and_read_back(
        tls_server.url, sandbox, verify=ca_file, proxy=proxy.url_with(USER, PASSWORD)
    )
    # One tunnel, to the target's name and port, kept alive for all four calls.
    assert connects(proxy) == [f"CONNECT localhost:{tls_server.port}"]
    assert tls_server.connections_accepted == 1
    assert tls_server.count("POST", "/api/orders/") == 1
    assert tls_server.count("GET") == 3


async def test_concurrent_calls_open_one_tunnel_per_pooled_connection(
    tls_server: FaultServer, proxy: TinyProxy, sandbox: Sandbox, ca_file: str
) -> None:
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    with anyio.fail_after(LIMIT):
        async with client(
            tls_server.url,
            sandbox,
            verify=ca_file,
            proxy=proxy.url_with(USER, PASSWORD),
            limits=limits,
        ) as taas:
            placed = await taas.place_order(order_request())
            for _ in range(3):  # three rounds of 16 calls on at most 4 connections
                async with anyio.create_task_group() as group:
                    for _ in range(16):
                        group.start_soon(taas.get_order, placed.id)
    tunnels = len(connects(proxy))
    assert 1 <= tunnels <= 4
    assert tls_server.connections_accepted == tunnels  # each tunnel is one connection, reused
    assert tls_server.count("GET") == 48


async def test_tls_in_the_tunnel_is_checked_against_the_targets_name(
    tls_server: FaultServer, proxy: TinyProxy, sandbox: Sandbox, ca_file: str
) -> None:
    by_address = tls_server.url.replace("localhost", "127.0.0.1")  # the cert names localhost
    trusting_no_private_ca = client(
        tls_server.url, sandbox, proxy=proxy.url_with(USER, PASSWORD), max_retries=0
    )
    wrong_name = client(
        by_address, sandbox, verify=ca_file, proxy=proxy.url_with(USER, PASSWORD), max_retries=0
    )
    for taas, reason in (
        (trusting_no_private_ca, "certificate verify failed"),
        (wrong_name, "not valid for '127.0.0.1'"),
    ):
        with anyio.fail_after(LIMIT), pytest.raises(APIConnectionError) as caught:
            async with taas:
                await taas.place_order(order_request())
        assert reason in str(caught.value)
        assert "through the proxy" in str(caught.value)
        assert caught.value.may_have_reached_server is False
    assert len(connects(proxy)) == 2  # the tunnels were made; TLS inside them refused
    assert tls_server.requests == []


async def test_mutual_tls_through_the_tunnel(
    sandbox: Sandbox, ca: trustme.CA, ca_file: str, proxy: TinyProxy, tmp_path: Path
) -> None:
    identity = ca.issue_cert("desk-7.example")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    identity.cert_chain_pems[0].write_to_path(str(cert))
    identity.private_key_pem.write_to_path(str(key))
    with FaultServer(app=sandbox.app, tls=server_context(ca, client_certs=True)) as server:
        with anyio.fail_after(LIMIT):
            async with client(
                server.url,
                sandbox,
                verify=ca_file,
                cert=(str(cert), str(key)),
                proxy=proxy.url_with(USER, PASSWORD),
            ) as taas:
                placed = await taas.place_order(order_request())
        assert server.count("POST", "/api/orders/") == 1
        assert placed.id
        # Without the certificate, the server does not take the request.
        with anyio.fail_after(LIMIT), pytest.raises(APIConnectionError):
            async with client(
                server.url,
                sandbox,
                verify=ca_file,
                proxy=proxy.url_with(USER, PASSWORD),
                max_retries=0,
            ) as taas:
                await taas.get_balances()
        assert server.count("GET") == 0


async def test_ssl_cert_file_is_trusted_unless_trust_env_is_false(
    tls_server: FaultServer, sandbox: Sandbox, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    with anyio.fail_after(LIMIT):
        async with client(tls_server.url, sandbox) as taas:
            await taas.get_balances()
        with pytest.raises(APIConnectionError, match="certificate verify failed"):
            async with client(tls_server.url, sandbox, trust_env=False, max_retries=0) as taas:
                await taas.get_balances()
    assert tls_server.count("GET") == 1


# --------------------------------------------------------------------------- http: absolute form


async def test_plain_http_goes_to_the_proxy_in_absolute_form(
    plain_server: FaultServer, proxy: TinyProxy, sandbox: Sandbox
) -> None:
    with anyio.fail_after(LIMIT):
        async with client(
            plain_server.url,
            sandbox,
            proxy=proxy.url_with(USER, PASSWORD),
            allow_insecure_http=True,  # the token crosses the proxy in the clear: say so
        ) as taas:
            placed = await taas.place_order(order_request())
            await taas.get_order(placed.id)
    base = plain_server.url.rstrip("/")
    assert proxy.requests == [
        f"POST {base}/api/orders/",
        f"GET {base}/api/order/{placed.id}",
    ]
    assert plain_server.count("POST", "/api/orders/") == 1


async def test_plain_http_without_the_proxys_credentials_is_a_proxy_error(
    plain_server: FaultServer, proxy: TinyProxy, sandbox: Sandbox
) -> None:
    # A GET: tinyproxy answers a request with a body by 407 and a reset (it does
    # not read the body), which loses the 407 and leaves the request in doubt.
    with anyio.fail_after(LIMIT), pytest.raises(ProxyError) as caught:
        async with client(
            plain_server.url, sandbox, proxy=proxy.url, allow_insecure_http=True
        ) as taas:
            await taas.get_balances()
    assert caught.value.proxy_status == 407
    assert caught.value.may_have_reached_server is False
    assert len(proxy.requests) == 1  # credentials do not improve with retries
    assert plain_server.requests == []


async def test_a_407_from_the_server_itself_is_its_reply_not_the_proxys(
    plain_server: FaultServer, proxy: TinyProxy, sandbox: Sandbox
) -> None:
    # Only a 407 with Proxy-Authenticate is the proxy's own: this one was forwarded,
    # so it is what the server said (and nothing says the request was not acted on).
    plain_server.plan(Fault("status_after_forward", method="GET", status=407))
    with anyio.fail_after(LIMIT), pytest.raises(APIStatusError) as caught:
        async with client(
            plain_server.url,
            sandbox,
            proxy=proxy.url_with(USER, PASSWORD),
            allow_insecure_http=True,
            max_retries=0,
        ) as taas:
            await taas.get_balances()
    assert caught.value.status_code == 407
    assert plain_server.count("GET") == 1


async def test_plain_http_through_a_proxy_needs_allow_insecure_http_even_to_loopback(
    plain_server: FaultServer, proxy: TinyProxy, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loopback is exempt from https because the token stays on the machine; through
    # a proxy it would not (and the proxy's "127.0.0.1" is not ours).
    monkeypatch.setenv("HTTP_PROXY", proxy.url_with(USER, PASSWORD))
    with pytest.raises(ConfigurationError, match="through the proxy http://127") as caught:
        client(plain_server.url, sandbox)
    assert PASSWORD not in str(caught.value)
    assert "NO_PROXY" in str(caught.value)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with anyio.fail_after(LIMIT):
        async with client(plain_server.url, sandbox) as taas:  # direct: allowed as before
            await taas.get_balances()
    assert proxy.requests == []


# --------------------------------------------------------------------------- NO_PROXY


@pytest.mark.parametrize(
    "no_proxy",
    [
        "localhost",
        ".localhost",
        "example.com, localhost",
        "localhost:{port}",
        "127.0.0.0/8",
        "127.0.0.1",
        "*",
    ],
)
async def test_no_proxy_sends_its_hosts_direct(
    tls_server: FaultServer,
    proxy: TinyProxy,
    sandbox: Sandbox,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    # tinyproxy would refuse these calls (no credentials): they succeed only direct.
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy.format(port=tls_server.port))
    url = tls_server.url
    if "127." in no_proxy:
        url = url.replace("localhost", "127.0.0.1")
    verify = ca_file if "127." not in no_proxy else False  # the cert names localhost
    with anyio.fail_after(LIMIT):
        async with client(url, sandbox, verify=verify) as taas:
            await taas.get_balances()
    assert proxy.requests == []
    assert tls_server.count("GET") == 1


@pytest.mark.parametrize(
    "no_proxy", ["example.com", "calhost", "localhost:1", "10.0.0.0/8", "host.localhost"]
)
async def test_hosts_no_proxy_does_not_list_go_through_the_proxy(
    tls_server: FaultServer,
    proxy: TinyProxy,
    sandbox: Sandbox,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url_with(USER, PASSWORD))
    monkeypatch.setenv("NO_PROXY", no_proxy)
    with anyio.fail_after(LIMIT):
        async with client(tls_server.url, sandbox, verify=ca_file) as taas:
            await taas.get_balances()
    assert connects(proxy) == [f"CONNECT localhost:{tls_server.port}"]


async def test_an_explicit_proxy_ignores_the_environments(
    tls_server: FaultServer,
    proxy: TinyProxy,
    sandbox: Sandbox,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As httpx does: proxy= serves every request, NO_PROXY and *_PROXY aside.
    monkeypatch.setenv("HTTPS_PROXY", refused_url())
    monkeypatch.setenv("NO_PROXY", "*")
    with anyio.fail_after(LIMIT):
        async with client(
            tls_server.url, sandbox, verify=ca_file, proxy=proxy.url_with(USER, PASSWORD)
        ) as taas:
            await taas.get_balances()
    assert len(connects(proxy)) == 1


# --------------------------------------------------------------------------- refusals


async def test_wrong_credentials_are_a_proxy_error_sent_once_and_never_shown(
    tls_server: FaultServer,
    proxy: TinyProxy,
    sandbox: Sandbox,
    ca_file: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "n0t-" + PASSWORD
    taas = client(tls_server.url, sandbox, verify=ca_file, proxy=proxy.url_with(USER, wrong))
    with anyio.fail_after(LIMIT), pytest.raises(ProxyError) as caught:
        async with taas:
            await taas.place_order(order_request())
    error = caught.value
    assert error.proxy_status in (401, 407)  # tinyproxy answers a wrong password with 401
    assert error.proxy_url == proxy.url
    assert error.may_have_reached_server is False
    assert "refused the tunnel" in str(error)
    assert "credentials" in str(error)
    assert len(proxy.requests) == 1  # not retried: the same credentials get the same answer
    assert tls_server.requests == []
    shown = [str(error), repr(error), repr(taas), repr(taas._http._transport), caplog.text]
    shown += [repr(p) for p in taas._http._transport._proxies.values()]
    assert not [text for text in shown if wrong in text or "alice:" in text]


async def test_refusals_by_the_proxys_rules_are_not_retried(
    tls_server: FaultServer, sandbox: Sandbox, ca_file: str
) -> None:
    with TinyProxy(connect_ports=[1]) as strict:  # CONNECT only to port 1: 403 for ours
        with anyio.fail_after(LIMIT), pytest.raises(ProxyError) as caught:
            async with client(tls_server.url, sandbox, verify=ca_file, proxy=strict.url) as taas:
                await taas.get_balances()
        assert len(strict.requests) == 1
    assert caught.value.proxy_status == 403
    assert "forbid" in str(caught.value)
    assert tls_server.requests == []


@pytest.mark.parametrize("status", [500, 502])
async def test_a_proxy_that_cannot_reach_the_server_is_retried_and_nothing_is_placed_twice(
    sandbox: Sandbox, status: int
) -> None:
    # tinyproxy: 500 when the target refuses it, 502 when its upstream proxy does.
    target = refused_url().replace("http://", "https://")
    dead = refused_url().removeprefix("http://").rstrip("/")
    with TinyProxy(upstream=dead if status == 502 else None) as failing:
        with anyio.fail_after(LIMIT), pytest.raises(ProxyError) as caught:
            async with client(target, sandbox, proxy=failing.url, max_retries=2) as taas:
                await taas.place_order(order_request())
        assert len(failing.requests) == 3  # never sent, so sent again: two retries
    assert caught.value.proxy_status == status
    assert caught.value.may_have_reached_server is False
    assert "could not reach" in str(caught.value)


async def test_a_silent_proxy_is_a_connect_timeout(
    tls_server: FaultServer, sandbox: Sandbox
) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        timeout = httpx.Timeout(5.0, connect=0.3)
        with anyio.fail_after(LIMIT), pytest.raises(APITimeoutError) as caught:
            async with client(
                tls_server.url, sandbox, proxy=address, timeout=timeout, max_retries=0
            ) as taas:
                await taas.place_order(order_request())
    assert caught.value.may_have_reached_server is False
    assert "within 0.3 s" in str(caught.value)
    assert tls_server.requests == []


@pytest.fixture
def hangs_up_after_hello() -> Iterator[tuple[str, list[bytes]]]:
    """A proxy that says yes to CONNECT, then closes once the TLS hello comes (an SNI filter).

    Its URL, and the CONNECT heads it was sent.
    """
    heads: list[bytes] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():  # bounded: until the test ends
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(5)
                head = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    heads.append(head)
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    conn.recv(4096)  # the ClientHello: no

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", heads
    done.set()
    thread.join(5)
    listener.close()


async def test_a_tunnel_closed_during_the_tls_handshake_is_a_connect_error(
    hangs_up_after_hello: tuple[str, list[bytes]], sandbox: Sandbox
) -> None:
    url, heads = hangs_up_after_hello
    with anyio.fail_after(LIMIT), pytest.raises(APIConnectionError) as caught:
        async with client("https://taas.test", sandbox, proxy=url, max_retries=2) as taas:
            await taas.place_order(order_request())
    assert type(caught.value) is APIConnectionError  # on trio too (anyio's EndOfStream)
    assert caught.value.may_have_reached_server is False  # TLS never came up: nothing sent
    assert "through the proxy" in str(caught.value)
    assert len(heads) == 3  # never sent, so sent again
    assert all(h.startswith(b"CONNECT taas.test:443 HTTP/1.1\r\n") for h in heads)


async def test_a_proxy_that_is_down_is_a_connect_error_naming_it(sandbox: Sandbox) -> None:
    down = refused_url().rstrip("/")
    with anyio.fail_after(LIMIT), pytest.raises(APIConnectionError) as caught:
        async with client("https://taas.test", sandbox, proxy=down, max_retries=0) as taas:
            await taas.get_balances()
    assert f"the proxy {down} (for taas.test:443)" in str(caught.value)
    assert caught.value.may_have_reached_server is False


# The first loop's transports cannot be closed once it is: they warn when collected.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_pooled_tunnel_is_not_reused_on_another_event_loop(
    tls_server: FaultServer, tls_proxy: TlsFront, sandbox: Sandbox, ca_file: str
) -> None:
    # A client is meant for one loop; used on a second one all the same, a
    # connection of the first (closed) loop is dropped, not used.
    taas = client(tls_server.url, sandbox, verify=ca_file, proxy=tls_proxy.url_with(USER, PASSWORD))

    async def call() -> None:
        with anyio.fail_after(LIMIT):
            await taas.get_balances()

    asyncio.run(call())
    asyncio.run(call())
    asyncio.run(taas.aclose())
    assert tls_server.count("GET") == 2
    assert tls_server.connections_accepted == 2
    gc.collect()  # the first loop's transports warn here, not in a later test


# --------------------------------------------------------------------------- https:// proxies


@pytest.fixture
def tls_proxy(proxy: TinyProxy, ca: trustme.CA) -> Iterator[TlsFront]:
    """The proxy over TLS (https://127.0.0.1:PORT), its certificate from the private CA.

    For 127.0.0.1 only, and the servers' for localhost only: each TLS layer must
    be checked against its own peer's name.
    """
    with TlsFront(proxy.port, server_context(ca, name="127.0.0.1")) as front:
        yield front


async def test_an_https_proxy_carries_tls_inside_tls(
    tls_server: FaultServer,
    plain_server: FaultServer,
    proxy: TinyProxy,
    tls_proxy: TlsFront,
    sandbox: Sandbox,
    ca_file: str,
) -> None:
    # TLS to the proxy, and inside its tunnel TLS again to the server (one pooled
    # connection, kept alive); plain http goes to it in absolute form, over TLS.
    await place_and_read_back(
        tls_server.url, sandbox, verify=ca_file, proxy=tls_proxy.url_with(USER, PASSWORD)
    )
    with anyio.fail_after(LIMIT):
        async with client(
            plain_server.url,
            sandbox,
            verify=ca_file,
            proxy=tls_proxy.url_with(USER, PASSWORD),
            allow_insecure_http=True,
        ) as taas:
            await taas.get_balances()
    assert proxy.requests == [
        f"CONNECT localhost:{tls_server.port}",
        f"GET {plain_server.url}api/balances/",
    ]
    assert tls_server.connections_accepted == 1
    assert tls_server.count("POST", "/api/orders/") == 1


async def test_an_https_proxy_is_checked_against_its_own_name_and_ca(
    tls_server: FaultServer, tls_proxy: TlsFront, sandbox: Sandbox, ca_file: str
) -> None:
    untrusted = ssl.create_default_context()  # the private CA signed the proxy's certificate
    explicit = httpx.Proxy(tls_proxy.url_with(USER, PASSWORD), ssl_context=untrusted)
    by_name = tls_proxy.url_with(USER, PASSWORD).replace("127.0.0.1", "localhost")
    for proxy in (explicit, by_name):
        with anyio.fail_after(LIMIT), pytest.raises(APIConnectionError) as caught:
            async with client(
                tls_server.url, sandbox, verify=ca_file, proxy=proxy, max_retries=0
            ) as taas:
                await taas.get_balances()
        assert "the proxy https://" in str(caught.value)
        assert "certificate" in str(caught.value).lower()
        assert caught.value.may_have_reached_server is False
        assert PASSWORD not in str(caught.value)
    assert tls_server.requests == []


async def test_h11_pool_transport_takes_the_same_settings(
    tls_server: FaultServer, proxy: TinyProxy, ca_file: str
) -> None:
    # For an httpx.AsyncClient of one's own: verify= and proxy= on the transport.
    transport = H11PoolTransport(verify=ca_file, proxy=proxy.url_with(USER, PASSWORD))
    with anyio.fail_after(LIMIT):
        async with httpx.AsyncClient(transport=transport) as http:
            reply = await http.get(tls_server.url + "api/balances/")
    assert reply.status_code == 401  # no token: the sandbox says so, through the tunnel
    assert connects(proxy) == [f"CONNECT localhost:{tls_server.port}"]
