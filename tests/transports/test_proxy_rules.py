"""The proxy and TLS settings, without I/O: which origin goes where, what is refused, what is shown.

The wire behaviour (CONNECT, absolute form, refusals) is tested through a real
proxy in ``test_proxy.py``; here, the rules: proxy URLs, ``NO_PROXY``
matching, which environment variable serves which scheme, the absolute-form
head, the TLS settings, and the configuration errors, whose messages never
hold credentials.
"""

from __future__ import annotations

import base64
import ssl
import urllib.parse
from pathlib import Path

import httpx
import pytest
from conftest import BASE_URL, TOKEN

from taas_async import AsyncClient, ConfigurationError, H11PoolTransport, ProxyError
from taas_async._policy import Action, decide
from taas_async._transports._proxy import Proxy, Routes, _NoProxy, absolute_form, ssl_settings

SECRET = "pa55:w@rd/x"  # a password with the characters a URL must escape
ENCODED = urllib.parse.quote(SECRET, safe="")


# --------------------------------------------------------------------------- proxy URLs


def test_a_proxy_url_shows_no_credentials_and_sends_them_as_basic_auth() -> None:
    proxy = Proxy(f"http://alice:{ENCODED}@proxy.corp:3128")
    assert proxy.url == "http://proxy.corp:3128"
    assert repr(proxy) == "<Proxy http://proxy.corp:3128>"
    assert proxy.origin == (b"http", b"proxy.corp", 3128)
    expected = b"Basic " + base64.b64encode(b"alice:" + SECRET.encode())
    assert proxy.fields == [(b"Proxy-Authorization", expected)]
    assert proxy.field_block == b"Proxy-Authorization: " + expected + b"\r\n"


def test_an_https_proxy_is_on_443_unless_told() -> None:
    assert Proxy("https://proxy.corp").origin == (b"https", b"proxy.corp", 443)
    context = ssl.create_default_context()
    assert Proxy(httpx.Proxy("https://proxy.corp:8443", ssl_context=context)).ssl_context is context


def test_a_proxy_without_a_scheme_or_port_is_http_on_80() -> None:
    assert Proxy("proxy.corp").origin == (b"http", b"proxy.corp", 80)
    assert Proxy("proxy.corp:8080").url == "http://proxy.corp:8080"
    assert Proxy("proxy.corp").fields == []


def test_an_httpx_proxy_brings_its_auth_and_headers() -> None:
    proxy = Proxy(httpx.Proxy("http://p:3128", auth=("bob", "pw"), headers={"X-Desk": "7"}))
    assert sorted(name for name, _ in proxy.fields) == [b"Proxy-Authorization", b"X-Desk"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"socks5://alice:{ENCODED}@proxy.corp:1080", "is socks5://"),
        ("socks6://alice:pw@proxy.corp:1080", "not a URL"),
        ("http://", "no host"),
        ("http://proxy.corp:99999", "port 99999 is out of range"),
        ("http://proxy.corp:0", "port 0 is out of range"),
        # Unencoded "/", "?", "#" or "@" in a password: the parser cuts it in the wrong
        # place (http://alice:4242/x@proxy would be host "alice", port 4242).
        ("http://alice:pa/ss@proxy.corp:3128", "percent-encode"),
        ("http://alice:4242/x@proxy.corp:3128", "percent-encode"),
        ("http://alice:p?ss@proxy.corp:3128", "percent-encode"),
        ("http://alice:p#ss@proxy.corp:3128", "percent-encode"),
        (f"http://alice:{SECRET}@proxy.corp:3128", "percent-encode"),
        ("http://alice:s3cr://et@proxy.corp:3128", "invalid proxy URL"),
        ("alice:pa://ss@proxy.corp:3128", "invalid proxy URL"),
    ],
)
def test_a_proxy_the_transport_cannot_use_is_refused_without_its_credentials(
    url: str, says: str
) -> None:
    with pytest.raises(ConfigurationError, match=says) as caught:
        Proxy(url)
    message = str(caught.value)
    for part in ("alice", "pa/ss", "4242", "p?ss", "p#ss", "pw@", "rd/x", ENCODED, "s3cr", "pa:"):
        assert part not in message
    assert caught.value.__context__ is None  # no parser error (quoting the URL) rides along


def test_a_proxy_header_that_cannot_be_sent_is_refused_at_once() -> None:
    with pytest.raises(ConfigurationError, match="X-Bad"):
        Proxy(httpx.Proxy("http://p:3128", headers={"X-Bad": "a\nb"}))


# --------------------------------------------------------------------------- NO_PROXY


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "direct"),
    [
        ("corp.example", "corp.example", 443, True),
        ("corp.example", "api.corp.example", 443, True),
        (".corp.example", "api.corp.example", 443, True),
        ("*.corp.example", "api.corp.example", 443, True),
        ("corp.example", "notcorp.example", 443, False),
        ("corp.example", "corp.example.evil", 443, False),
        ("CORP.example", "corp.example", 443, True),
        ("corp.example:8443", "corp.example", 8443, True),
        ("corp.example:8443", "corp.example", 443, False),
        ("10.0.0.0/8", "10.1.2.3", 443, True),
        ("10.0.0.0/8", "11.1.2.3", 443, False),
        ("10.0.0.0/8", "ten.example", 443, False),
        ("192.168.1.7", "192.168.1.7", 443, True),
        ("fd00::/8", "fd00::1", 443, True),
        ("[::1]:8443", "::1", 8443, True),
        ("::1", "::1", 443, True),
        ("a.example, b.example  c.example", "c.example", 443, True),
        ("*", "anything.example", 443, True),
        ("https://corp.example", "corp.example", 443, True),
        ("corp.example.", "api.corp.example", 443, True),
        ("corp.example", "corp.example.", 443, True),
        ("[fd00::]/8", "fd00::1", 443, True),
        ("", "corp.example", 443, False),
        (",", "corp.example", 443, False),
    ],
)
def test_no_proxy(no_proxy: str, host: str, port: int, direct: bool) -> None:
    assert _NoProxy(no_proxy).bypasses(host, port) is direct


# --------------------------------------------------------------------------- routes


def routes_from(monkeypatch: pytest.MonkeyPatch, **env: str) -> Routes:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Routes(None, trust_env=True)


def proxy_url(routes: Routes, scheme: bytes, host: bytes = b"api.example") -> str | None:
    proxy = routes.proxy_for((scheme, host, 443))
    return None if proxy is None else proxy.url


def test_each_variable_serves_its_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = routes_from(monkeypatch, HTTPS_PROXY="http://s:1", HTTP_PROXY="http://p:2")
    assert (proxy_url(routes, b"https"), proxy_url(routes, b"http")) == ("http://s:1", "http://p:2")


def test_all_proxy_serves_what_the_others_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = routes_from(monkeypatch, all_proxy="http://a:1", HTTPS_PROXY="http://s:2")
    assert (proxy_url(routes, b"https"), proxy_url(routes, b"http")) == ("http://s:2", "http://a:1")


def test_no_proxy_applies_to_the_environments_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = routes_from(monkeypatch, HTTPS_PROXY="http://s:1", no_proxy=".internal")
    assert proxy_url(routes, b"https", b"taas.internal") is None
    assert proxy_url(routes, b"https", b"app.tread.fi") == "http://s:1"


def test_only_the_proxy_a_request_needs_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # Unusable proxies for another scheme, or for hosts NO_PROXY excuses, are no error:
    # the client is made, and its https calls go through HTTPS_PROXY (or direct).
    monkeypatch.setenv("HTTPS_PROXY", "http://s:1")
    monkeypatch.setenv("HTTP_PROXY", "socks5://p:2")
    monkeypatch.setenv("ALL_PROXY", "socks5://a:3")
    routes = Routes(None, trust_env=True)
    assert proxy_url(routes, b"https") == "http://s:1"
    with pytest.raises(ConfigurationError, match="HTTP_PROXY"):
        routes.proxy_for((b"http", b"api.example", 80))
    AsyncClient(BASE_URL, TOKEN)
    monkeypatch.setenv("HTTPS_PROXY", "socks5://s:1")
    monkeypatch.setenv("NO_PROXY", "*")
    AsyncClient(BASE_URL, TOKEN)
    assert proxy_url(Routes(None, trust_env=True), b"https") is None


def test_trust_env_false_and_an_explicit_proxy_ignore_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://s:1")
    monkeypatch.setenv("NO_PROXY", "*")
    assert not Routes(None, trust_env=False).any
    explicit = Routes("http://mine:3", trust_env=True)
    assert proxy_url(explicit, b"https") == proxy_url(explicit, b"http") == "http://mine:3"


def test_an_unusable_proxy_in_the_environment_says_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"socks5://alice:{SECRET}@s:1080")
    with pytest.raises(ConfigurationError, match=r"HTTPS_PROXY.*trust_env=False") as caught:
        AsyncClient(BASE_URL, TOKEN)
    assert SECRET not in str(caught.value)
    AsyncClient(BASE_URL, TOKEN, trust_env=False)  # the way out it names


# --------------------------------------------------------------------------- absolute form


@pytest.mark.parametrize(
    ("origin", "target"),
    [
        ((b"http", b"api.example", 80), b"http://api.example/api/x?a=1"),
        ((b"http", b"api.example", 8080), b"http://api.example:8080/api/x?a=1"),
        ((b"http", b"::1", 80), b"http://[::1]/api/x?a=1"),
        ((b"http", b"::1", 8080), b"http://[::1]:8080/api/x?a=1"),
    ],
)
def test_absolute_form(origin: tuple[bytes, bytes, int], target: bytes) -> None:
    head = b"GET /api/x?a=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"
    proxy = Proxy("http://u:p@proxy:3128")
    assert absolute_form(head, origin, proxy) == (
        b"GET " + target + b" HTTP/1.1\r\n" + proxy.field_block + b"Host: h\r\nAccept: */*\r\n\r\n"
    )


# --------------------------------------------------------------------------- TLS settings


def test_ssl_cert_file_is_read_when_the_client_is_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError, match=r"missing\.pem"):
        AsyncClient(BASE_URL, TOKEN)
    AsyncClient(BASE_URL, TOKEN, trust_env=False)  # not read


def test_the_default_tls_context_waits_for_the_first_https_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    assert ssl_settings(True, None, trust_env=True) is None  # certifi's, later
    monkeypatch.setenv("SSL_CERT_DIR", "/")
    assert ssl_settings(True, None, trust_env=True) == "/"  # read now, loaded later
    assert ssl_settings(True, None, trust_env=False) is None
    context = ssl.create_default_context()
    assert ssl_settings(context, None, trust_env=True) is context
    assert ssl_settings(False, None, trust_env=True).verify_mode == ssl.CERT_NONE  # type: ignore[union-attr]


def test_tls_settings_that_cannot_be_used_are_refused_when_the_client_is_made(
    tmp_path: Path,
) -> None:
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ConfigurationError, match="cannot load the CA certificates"):
        AsyncClient(BASE_URL, TOKEN, verify=missing)
    with pytest.raises(ConfigurationError, match="cannot load the client certificate"):
        AsyncClient(BASE_URL, TOKEN, cert=missing)
    with pytest.raises(ConfigurationError, match="load_cert_chain"):
        AsyncClient(BASE_URL, TOKEN, verify=ssl.create_default_context(), cert=missing)
    with pytest.raises(ConfigurationError, match="cert= is a file"):
        H11PoolTransport(cert=("a", "b", "c", "d"))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="verify= is True, False"):
        H11PoolTransport(verify=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "setting",
    [{"verify": False}, {"cert": "c.pem"}, {"trust_env": False}, {"proxy": "http://p:1"}],
)
@pytest.mark.asyncio
async def test_network_settings_beside_a_transport_or_http_client_are_refused(
    setting: dict[str, object],
) -> None:
    # They would be ignored: a proxy not used is a request going around it.
    name = next(iter(setting))
    with pytest.raises(ConfigurationError, match=f"{name}=.*transport="):
        AsyncClient(BASE_URL, TOKEN, transport=httpx.MockTransport(httpx.Response), **setting)  # type: ignore[arg-type]
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigurationError, match=f"{name}=.*http_client="):
            AsyncClient(BASE_URL, TOKEN, http_client=http, **setting)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_the_token_does_not_cross_a_proxy_in_the_clear_whoever_built_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Loopback http is exempt from https because the token stays on the machine:
    # not through a proxy, be it ours, given as transport=, or an http_client's.
    local = "http://127.0.0.1:8000"
    secret = "http://desk:pr0xy-pa55@proxy.corp:3128"
    async with (
        httpx.AsyncClient(proxy=secret) as httpx_proxied,
        httpx.AsyncClient(transport=H11PoolTransport(proxy=secret)) as ours_inside,
    ):
        for given in (
            {"proxy": secret},
            {"transport": H11PoolTransport(proxy=secret)},
            {"transport": httpx.AsyncHTTPTransport(proxy=secret)},
            {"http_client": ours_inside},
            {"http_client": httpx_proxied},
        ):
            with pytest.raises(
                ConfigurationError, match=r"unencrypted.*through the proxy"
            ) as caught:
                AsyncClient(local, TOKEN, **given)  # type: ignore[arg-type]
            assert "pr0xy-pa55" not in str(caught.value)
            AsyncClient(local, TOKEN, allow_insecure_http=True, **given)  # type: ignore[arg-type]
    monkeypatch.setenv("HTTP_PROXY", secret)
    with pytest.raises(ConfigurationError, match="NO_PROXY"):
        AsyncClient(local, TOKEN)
    AsyncClient(local, TOKEN, trust_env=False)
    AsyncClient("https://127.0.0.1:8443", TOKEN)  # encrypted end to end through the tunnel


def test_trust_env_must_be_a_bool() -> None:
    with pytest.raises(ConfigurationError, match="trust_env"):
        AsyncClient(BASE_URL, TOKEN, trust_env="no")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- what follows a refusal


def proxy_error(status: int | None) -> ProxyError:
    return ProxyError(
        "refused", method="POST", url="u", proxy_url="http://p:1", proxy_status=status
    )


@pytest.mark.parametrize("kind", ["order", "read", "cancel", "write"])
@pytest.mark.parametrize(
    ("status", "retried"),
    [(401, False), (403, False), (407, False), (502, True), (500, True), (None, True)],
)
def test_a_proxy_refusal_by_rule_is_final_one_by_failure_is_retried(
    kind: str, status: int | None, retried: bool
) -> None:
    decision = decide(
        kind, proxy_error(status), attempt=1, retries=2, acted_before=False, has_ids=True
    )  # type: ignore[arg-type]
    assert (decision.action is Action.RETRY) is retried
    assert decision.may_have_acted is False


def test_a_refusal_after_an_uncertain_attempt_settles_it() -> None:
    def after_doubt(kind: str) -> Action:
        error = proxy_error(407)
        return decide(kind, error, attempt=2, retries=2, acted_before=True, has_ids=True).action  # type: ignore[arg-type]

    assert after_doubt("order") is Action.SETTLE
    assert after_doubt("cancel") is Action.CHECK_CANCELLED
    assert after_doubt("read") is Action.RAISE
