"""Proxies and TLS settings for the SDK's pool: which requests go through a proxy, and how.

:class:`Routes` says, for each origin, whether it is reached directly or
through a :class:`Proxy`, with httpx's meaning of its settings: an explicit
``proxy=`` serves every request; otherwise, with ``trust_env``,
``HTTPS_PROXY`` serves ``https://`` (and ``wss://``), ``HTTP_PROXY``
``http://`` (and ``ws://``), ``ALL_PROXY`` both, and ``NO_PROXY`` lists who
goes direct. Through a proxy:

- ``https://`` targets (and every WebSocket) go through a ``CONNECT`` tunnel
  (:func:`open_tunnel`); TLS then runs inside it, end to end with the target,
  checked against the target's name, as a direct connection's would be;
- ``http://`` targets are sent to the proxy in absolute form
  (:func:`absolute_form`).

``http://`` proxies (the usual corporate kind) and ``https://`` ones (TLS
to the proxy, and for an https target TLS again inside the tunnel) are
spoken to; ``socks5://`` is not. Proxy credentials
(``http://user:pass@proxy:3128``) go in ``Proxy-Authorization`` and
nowhere else: a :class:`Proxy` shows its URL without them.
:func:`ssl_settings` builds the TLS context from ``verify``/``cert``/``trust_env``.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import ssl
import urllib.request
from collections.abc import Mapping
from typing import Protocol, TypeAlias, final

import certifi
import httpx

from taas_async._exceptions import ConfigurationError
from taas_async._transports._common import Origin, describe
from taas_async._transports._http11 import encode_head

__all__ = [
    "CertTypes",
    "Proxy",
    "ProxyRefused",
    "ProxyTypes",
    "Routes",
    "VerifyTypes",
    "absolute_form",
    "open_tunnel",
    "ssl_settings",
]

#: What ``proxy=`` takes: a URL (``"http://user:pass@proxy.corp:3128"``) or an ``httpx.Proxy``.
ProxyTypes: TypeAlias = "str | httpx.URL | httpx.Proxy"
#: What ``verify=`` takes: True (the system's CAs, or ``SSL_CERT_FILE``), False
#: (no check: tests only), a CA bundle file or directory, or an ``ssl.SSLContext``.
VerifyTypes: TypeAlias = "ssl.SSLContext | bool | str | os.PathLike[str]"
#: What ``cert=`` takes: a client certificate file (with its key), or
#: ``(cert file, key file)``, or ``(cert file, key file, password)``.
CertTypes: TypeAlias = "str | os.PathLike[str] | tuple[str | os.PathLike[str], ...]"

_HEAD_LIMIT = 65536  # bytes of a CONNECT reply's head: past that, it is not a proxy talking


class ProxyRefused(httpx.ProxyError):
    """The proxy answered ``CONNECT`` (or an absolute-form request) with a refusal.

    Nothing reached the target: the proxy said no before forwarding anything.
    """

    def __init__(self, message: str, *, status_code: int, proxy: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.proxy = proxy  # its URL, without credentials


@final
class Proxy:
    """One proxy: where it is, and the header fields each request to it carries.

    Its ``repr`` and ``url`` leave the credentials out; they are only in the
    ``Proxy-Authorization`` field of :attr:`fields` (and its encoded form).
    """

    __slots__ = ("_block", "_fields", "origin", "ssl_context", "url")

    def __init__(self, value: ProxyTypes) -> None:
        proxy, problem = _parsed(value)
        if proxy is None:
            # Raised here, outside any except block: no httpx error (whose message
            # may quote the URL, credentials and all) rides along as __context__.
            raise ConfigurationError(
                f"invalid proxy URL (not shown: it may hold credentials): {problem}"
            )
        url = proxy.url
        host = url.host
        shown = f"{url.scheme}://{f'[{host}]' if ':' in host else host}"
        if url.port is not None:
            shown += f":{url.port}"
        if url.scheme not in ("http", "https"):
            raise ConfigurationError(
                f"the proxy {shown} is {url.scheme}://: the SDK's transport speaks to http://"
                " and https:// proxies. For another kind, pass"
                " transport=httpx.AsyncHTTPTransport(proxy=...) (socks needs httpx[socks])"
            )
        self.url: str = shown
        # https://: TLS to the proxy itself, checked with its own context if the
        # httpx.Proxy has one, else with the client's (the CAs a desk trusts).
        self.origin: Origin = (
            url.raw_scheme,
            url.raw_host,
            url.port or (443 if url.scheme == "https" else 80),
        )
        self.ssl_context: ssl.SSLContext | None = proxy.ssl_context
        fields = list(proxy.headers.raw)
        auth = proxy.raw_auth
        if auth is not None:
            token = base64.b64encode(b"%s:%s" % auth)
            fields.append((b"Proxy-Authorization", b"Basic " + token))
        try:
            block = encode_head(b"GET", b"/", fields)  # checks every field once, here
        except httpx.LocalProtocolError as exc:
            problem = str(exc)  # names the field, never its value
        else:
            problem = ""
        if problem:
            raise ConfigurationError(f"the proxy {shown}: {problem}")
        self._fields = fields
        # The fields as they go after a request line: "Name: value\r\n" each.
        self._block = block[block.index(b"\r\n") + 2 : -2]

    @property
    def fields(self) -> list[tuple[bytes, bytes]]:
        """The fields sent to the proxy: ``Proxy-Authorization``, ``httpx.Proxy``'s headers."""
        return list(self._fields)

    @property
    def field_block(self) -> bytes:
        """:attr:`fields` encoded as they follow a request line (they may hold credentials)."""
        return self._block

    def __repr__(self) -> str:
        return f"<Proxy {self.url}>"


def _parsed(value: ProxyTypes) -> tuple[httpx.Proxy | None, str]:
    """``value`` as an ``httpx.Proxy``, or None and what is wrong (never quoting the URL).

    A proxy URL is ``scheme://[user:password@]host[:port]`` and no more: a path,
    a query or a fragment means a user name or password with an unencoded
    ``/``, ``?``, ``#`` or ``@`` that the parser cut in the wrong place (and
    would send part of to the wrong host).
    """
    try:
        proxy = value if isinstance(value, httpx.Proxy) else httpx.Proxy(_with_scheme(value))
        url = proxy.url
        port = url.port
    except (ValueError, TypeError, httpx.InvalidURL):
        return None, (
            "it is not a URL of the form http://[user:password@]host[:port]"
            " (percent-encode the user name and password)"
        )
    if url.raw_path not in (b"", b"/") or url.query or url.fragment:
        return None, (
            "a proxy URL is http://[user:password@]host[:port], with nothing after the port:"
            " percent-encode any '/', '?', '#' or '@' in the user name and password"
        )
    if not url.raw_host:
        return None, "it has no host"
    if port is not None and not 0 < port < 65536:
        return None, f"port {port} is out of range"
    return proxy, ""


def _with_scheme(value: str | httpx.URL) -> str | httpx.URL:
    """``proxy.corp:3128`` means ``http://proxy.corp:3128``, as for curl and httpx."""
    if isinstance(value, str) and "://" not in value:
        return "http://" + value
    return value


class _NoProxy:
    """``NO_PROXY``: hosts, domains (and their subdomains), IP addresses and CIDRs; ``*`` for all.

    Entries are separated by commas or spaces and may carry a port
    (``host:8443``); ``.corp.example`` and ``corp.example`` both cover
    ``corp.example`` and every name under it, as for curl.
    """

    __slots__ = ("_all", "_hosts", "_networks")

    def __init__(self, text: str) -> None:
        self._all = False
        self._hosts: list[tuple[str, int | None]] = []
        self._networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int | None]] = []
        for given in text.lower().replace(",", " ").split():
            if given == "*":
                self._all = True
                continue
            host, port = _split_port(given.partition("://")[2] or given)  # a scheme adds nothing
            host = host.rstrip(".")  # "corp.example." is "corp.example"
            try:
                self._networks.append((ipaddress.ip_network(host, strict=False), port))
            except ValueError:
                self._hosts.append((host.lstrip("*").lstrip("."), port))

    def bypasses(self, host: str, port: int) -> bool:
        """Whether ``host:port`` is reached directly."""
        if self._all:
            return True
        host = host.lower().rstrip(".")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return any(
                (wanted is None or wanted == port) and (host == name or host.endswith("." + name))
                for name, wanted in self._hosts
                if name
            )
        return any(
            (wanted is None or wanted == port) and address in network
            for network, wanted in self._networks
        )


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port``, a bare IPv6 address or CIDR, or a host alone."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        if rest.startswith("/"):  # [fd00::]/8: a CIDR
            return host + rest, None
        return host, int(rest[1:]) if rest[1:].isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isdigit():
            return host, int(port)
    return entry, None


@final
class Routes:
    """Which origins go through which proxy (None: direct), from the client's settings.

    Args:
        proxy: one proxy for every request (``NO_PROXY`` does not apply to it,
            as with httpx), or None.
        trust_env: without ``proxy``, read ``HTTP_PROXY``, ``HTTPS_PROXY``,
            ``ALL_PROXY`` and ``NO_PROXY`` (either case) from the environment.

    """

    __slots__ = ("_given", "_no_proxy", "_parsed_proxies")

    def __init__(self, proxy: ProxyTypes | None, *, trust_env: bool) -> None:
        # What serves each scheme, as given: a Proxy, or an environment variable's
        # text, parsed when that scheme is first asked for (an unusable proxy for
        # a scheme the client never uses, or for hosts NO_PROXY excuses, is no error).
        self._given: dict[bytes, Proxy | str | None] = {b"http": None, b"https": None}
        self._parsed_proxies: dict[bytes, Proxy | None] = {}
        self._no_proxy: _NoProxy | None = None
        if proxy is not None:
            one = Proxy(proxy)
            self._given = {b"http": one, b"https": one}
        elif trust_env:
            found = _environment()
            every = found.get("all")
            for scheme in ("http", "https"):
                self._given[scheme.encode()] = found.get(scheme) or every or None
            if any(self._given.values()) and found.get("no"):
                self._no_proxy = _NoProxy(found["no"])

    @property
    def any(self) -> bool:
        """Whether any request may go through a proxy."""
        return any(p is not None for p in self._given.values())

    def proxy_for(self, origin: Origin) -> Proxy | None:
        """The proxy serving ``origin`` (WebSocket origins are given as http/https), or None.

        Raises:
            ConfigurationError: the environment's proxy for that scheme cannot be used.

        """
        scheme, host, port = origin
        if self._given.get(scheme) is None:
            return None
        if self._no_proxy is not None and self._no_proxy.bypasses(host.decode("ascii"), port):
            return None
        try:
            return self._parsed_proxies[scheme]
        except KeyError:
            given = self._given[scheme]
            proxy = (
                given
                if isinstance(given, Proxy)
                else _from_environment(str(given), scheme.decode())
            )
            self._parsed_proxies[scheme] = proxy
            return proxy


def _environment() -> Mapping[str, str]:
    """The environment's proxy settings (``urllib``'s reading: either case, CGI-safe)."""
    return urllib.request.getproxies_environment()


def _from_environment(value: str, scheme: str) -> Proxy:
    try:
        return Proxy(value)
    except ConfigurationError as exc:
        name = "HTTPS_PROXY" if scheme == "https" else "HTTP_PROXY"
        raise ConfigurationError(
            f"{exc} (set by {name} or ALL_PROXY in the environment; trust_env=False ignores it)"
        ) from None


# --------------------------------------------------------------------------- the wire


class _IO(Protocol):
    async def write(self, data: bytes, timeout: float | None) -> None: ...

    async def read(self, timeout: float | None) -> bytes: ...


def authority(origin: Origin) -> bytes:
    """``host:port`` of an origin, IPv6 addresses in brackets."""
    _, host, port = origin
    return b"[%s]:%d" % (host, port) if b":" in host else b"%s:%d" % (host, port)


async def open_tunnel(io: _IO, origin: Origin, proxy: Proxy) -> None:
    """Ask the proxy for a tunnel to ``origin`` (``CONNECT``) on ``io``, connected to it.

    Returns once the proxy has said yes: the connection is then a byte pipe
    to the target. A refusal is :class:`ProxyRefused`; a proxy that closes,
    stalls past the caller's deadline, or answers something other than HTTP
    is ``httpx.ProxyError`` (or the caller's timeout): either way nothing
    reached the target.
    """
    target = authority(origin)
    head = encode_head(b"CONNECT", target, [(b"Host", target), *proxy.fields])
    what = f"the proxy {proxy.url} (CONNECT {target.decode('ascii')})"
    received = b""
    try:
        await io.write(head, None)
        while b"\r\n\r\n" not in received:
            chunk = await io.read(None)
            if not chunk:
                raise httpx.ProxyError(f"{what} closed the connection without answering")
            received += chunk
            if len(received) > _HEAD_LIMIT:
                raise httpx.ProxyError(f"{what} answered with an endless head")
    except (httpx.ReadError, httpx.WriteError) as exc:
        raise httpx.ProxyError(f"{what} broke the connection: {describe(exc)}") from exc
    reply, _, rest = received.partition(b"\r\n\r\n")
    status_line = reply.split(b"\r\n", 1)[0]
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        shown = status_line[:80].decode("ascii", "replace")
        raise httpx.ProxyError(f"{what} did not answer in HTTP: {shown!r}")
    status = int(parts[1])
    reason = parts[2].decode("ascii", "replace") if len(parts) > 2 else ""
    if not 200 <= status < 300:
        raise ProxyRefused(
            f"{what} refused the tunnel: {status} {reason}".rstrip()
            + _hint(status)
            + " (nothing was sent to the target)",
            status_code=status,
            proxy=proxy.url,
        )
    if rest:
        raise httpx.ProxyError(f"{what} sent data before the tunnel was used")


def _hint(status: int) -> str:
    if status in (401, 407):
        return " (check the credentials in the proxy URL)"
    if status == 403:
        return " (the proxy's rules forbid this host or port)"
    if status in (500, 502, 503, 504):
        return " (the proxy could not reach the target)"
    return ""


def absolute_form(head: bytes, origin: Origin, proxy: Proxy) -> bytes:
    """A request head for a proxy: the target in absolute form, the proxy's fields added."""
    line_end = head.index(b"\r\n")
    method, target, version = head[:line_end].split(b" ")
    scheme, host, port = origin
    default = 443 if scheme == b"https" else 80
    where = authority(origin) if port != default else (b"[%s]" % host if b":" in host else host)
    return b"%s %s://%s%s %s\r\n%s%s" % (
        method,
        scheme,
        where,
        target,
        version,
        proxy.field_block,
        head[line_end + 2 :],
    )


# --------------------------------------------------------------------------- TLS


def ssl_settings(
    verify: VerifyTypes, cert: CertTypes | None, *, trust_env: bool
) -> ssl.SSLContext | str | None:
    """The TLS context for ``verify`` and ``cert``, as httpx reads them, or what to build it from.

    The default (``verify=True``, no ``cert``) is built on the first https
    connection (loading the CA bundle takes milliseconds a client created
    for plain http need not spend): from certifi's bundle (None), or from
    the path ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` names (a str: read now,
    checked to exist). Anything else is built now, so that a wrong path is a
    :class:`ConfigurationError` here, not a connection error later.
    """
    if verify is True and cert is None:
        return _ca_environment(trust_env)
    if isinstance(verify, ssl.SSLContext):
        if cert is not None:
            raise ConfigurationError(
                "pass cert= only with verify=True or a CA path: with an ssl.SSLContext,"
                " load the certificate into it (context.load_cert_chain(...))"
            )
        return verify
    context = default_context(verify, trust_env=trust_env)
    if cert is not None:
        parts = (cert,) if isinstance(cert, str | os.PathLike) else tuple(cert)
        if not 1 <= len(parts) <= 3:
            raise ConfigurationError(
                "cert= is a file, (cert file, key file) or (cert file, key file, password)"
            )
        try:
            context.load_cert_chain(*parts)  # type: ignore[arg-type]
        except (OSError, ssl.SSLError, TypeError) as exc:
            raise ConfigurationError(
                f"cannot load the client certificate: {describe(exc)}"
            ) from None
    return context


def _ca_environment(trust_env: bool) -> str | None:
    """The CAs ``SSL_CERT_FILE`` (or else ``SSL_CERT_DIR``) names, checked to exist; None: none."""
    if not trust_env:
        return None
    for name, exists in (("SSL_CERT_FILE", os.path.isfile), ("SSL_CERT_DIR", os.path.isdir)):
        path = os.environ.get(name)
        if path:
            if not exists(path):
                raise ConfigurationError(
                    f"{name}={path} does not exist (trust_env=False ignores the environment)"
                )
            return path
    return None


def default_context(verify: VerifyTypes, *, trust_env: bool) -> ssl.SSLContext:
    """A client TLS context for ``verify``: True, False, or a CA file or directory.

    True means the CA bundle (certifi's), or with ``trust_env`` the file in
    ``SSL_CERT_FILE`` (or the directory in ``SSL_CERT_DIR``) when set.
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cafile: str | None = None
    capath: str | None = None
    if verify is True:
        if trust_env and os.environ.get("SSL_CERT_FILE"):
            cafile = os.environ["SSL_CERT_FILE"]
        elif trust_env and os.environ.get("SSL_CERT_DIR"):
            capath = os.environ["SSL_CERT_DIR"]
        else:
            cafile = certifi.where()
    elif isinstance(verify, str | os.PathLike):
        path = os.fspath(verify)
        if os.path.isdir(path):
            capath = path
        else:
            cafile = path
    else:
        raise ConfigurationError(
            "verify= is True, False, a CA bundle path or an ssl.SSLContext,"
            f" got {type(verify).__name__}"
        )
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError) as exc:
        where = cafile or capath
        raise ConfigurationError(
            f"cannot load the CA certificates {where}: {describe(exc)}"
        ) from None
