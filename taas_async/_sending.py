"""One attempt: through the ``httpx.AsyncClient``, or straight to the SDK's pool or the sandbox.

:class:`Sender` is what :class:`~taas_async._base_client.BaseClient` sends an
attempt with. Three ways, the same header fields out and the same errors back:

- **through httpx** (``client.send``): always, when the ``httpx.AsyncClient``
  was given by the caller, its transport is someone else's, or something has
  replaced it (a mock); and once the server has set a cookie (the jar must go
  along);
- **direct**: the client the SDK built for itself, on its own
  :class:`~taas_async.H11PoolTransport`. An ``httpx.Request``, its headers,
  httpx's send machinery and an ``httpx.Response`` cost more CPU than the
  exchange itself; the direct way builds the request head from a header
  block made once per client and reads the reply's bytes. A reply httpx has
  more work for (a compressed body, a cookie) is handed to an
  ``httpx.Response`` to do it. httpx's own log line for the exchange is
  written as httpx writes it;
- **answered in process**: the same for the client the SDK built on a
  transport answering in this process (the sandbox's,
  :class:`~taas_async._transports._answering.AnsweringTransport`): its
  ``answer`` gets the header fields ``httpx.Request`` would have made.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping

import httpx

from taas_async._options import _Secret, merged_headers
from taas_async._transports import H11PoolTransport
from taas_async._transports._answering import AnsweringTransport, answers_directly
from taas_async._transports._common import (
    FRESH_CONNECTION,
    MAX_REPLY_SIZE,
    REPLY_STATUS,
    Body,
    Origin,
    ReplyCap,
    ReplyTooLarge,
    origin_of,
)
from taas_async._transports._http11 import Outgoing, Reply, encode_head
from taas_async._wire import ReplyLike

__all__ = ["Prepared", "Sender", "headers_of"]

_httpx_logger = logging.getLogger("httpx")

#: Methods whose request carries a Content-Length even without a body (as httpx sends them).
_BODY_METHODS = (b"POST", b"PUT", b"PATCH")
#: What decides the header fields of an attempt answered in process: (method,
#: has a body, the body is not empty, on a new connection).
_HeadKind = tuple[str, bool, bool, bool]
#: Reply headers that need httpx's own handling: a compressed body, a cookie.
_HTTPX_HEADERS = (b"content-encoding", b"set-cookie", b"set-cookie2")


class Prepared:
    """A call's request, built once: every attempt sends it (through httpx or directly)."""

    __slots__ = (
        "_text",
        "content",
        "elapsed",
        "fresh",
        "method",
        "status",
        "timeout",
        "timeouts",
        "url",
    )

    def __init__(
        self,
        method: str,
        url: httpx.URL,
        content: bytes | None,
        timeout: httpx.Timeout,
        timeouts: dict[str, float | None],
    ) -> None:
        self.method = method
        self.url = url
        self.content = content
        self.timeout = timeout
        self.timeouts = timeouts
        self.fresh = False  # on a new connection (see on_a_new_connection)
        self.status: int | None = None  # the status of the latest attempt's reply, once heard
        self.elapsed = 0.0  # seconds the latest attempt took to get its reply, read whole
        self._text: str | None = None

    @property
    def text(self) -> str:
        """The URL, as errors and logs show it."""
        if self._text is None:
            self._text = str(self.url)
        return self._text

    def deadline(self) -> float:
        """The whole exchange's deadline: the sum of the timeout's parts."""
        return float(sum(t for t in self.timeouts.values() if t is not None)) or 60.0

    def heard(self, status: int) -> None:
        """The reply's status has come (its body may still break off)."""
        self.status = status


class Sender:
    """Sends an attempt and returns its reply, read whole (at most ``limit`` bytes of body).

    Args:
        http: the ``httpx.AsyncClient`` (the caller's, or the SDK's own).
        owns_http: the SDK built ``http`` itself.
        transport: the transport the SDK built ``http`` with, if it did.
        base_url: where every request goes (its origin, for the direct way).
        headers: the SDK's headers by "has a body" (they carry the token).

    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        owns_http: bool,
        transport: httpx.AsyncBaseTransport | None,
        base_url: str,
        headers: _Secret[dict[bool, dict[str, str]]],
    ) -> None:
        self._http = http
        self._owns_http = owns_http
        self._ours = headers
        # The client's default headers with ours on top, as build_request merges
        # them; they carry the token, so they are kept as secret as it is.
        self._merged = _Secret(
            {
                has_body: merged_headers(http.headers, headers.reveal()[has_body])
                for has_body in (False, True)
            }
        )
        # Our own pool, not a subclass (a subclass may do more in handle_async_request),
        # nor one whose handle_async_request was replaced on the instance (a spy).
        self._pool = (
            transport
            if owns_http
            and type(transport) is H11PoolTransport
            and "handle_async_request" not in getattr(transport, "__dict__", {})
            else None
        )
        # A transport answering in this process (the sandbox's), unless it watches requests.
        self._answering: AnsweringTransport | None = None
        if owns_http and answers_directly(transport):
            self._answering = transport
        base = httpx.URL(base_url)
        self._base = base
        # The header fields httpx would send to the answering transport, by _HeadKind;
        # made on first use.
        self._answer_heads: _Secret[dict[_HeadKind, list[tuple[bytes, bytes]]]] = _Secret({})
        self._origin: Origin | None = None
        # The header fields of a request head, by (has a body, on a new connection).
        self._heads: _Secret[dict[tuple[bool, bool], bytes]] = _Secret({})
        if self._pool is not None:
            self._origin = origin_of(base)
            self._heads = _Secret(
                {
                    (has_body, fresh): _header_block(
                        base, self._merged.reveal()[has_body], close=fresh
                    )
                    for has_body in (False, True)
                    for fresh in (False, True)
                }
            )

    async def send(self, prepared: Prepared, limit: int) -> ReplyLike:
        """One attempt; httpx's errors (and ``ReplyTooLarge``) as the transport raises them."""
        if self._goes_direct(prepared):
            return await self._direct(prepared, limit)
        if self._answers(prepared):
            return await self._answered(prepared, limit)
        return await self._through_httpx(prepared, limit)

    # ------------------------------------------------------------------ through httpx

    def _request_of(self, prepared: Prepared, limit: int) -> httpx.Request:
        """The ``httpx.Request`` an attempt through httpx sends."""
        if self._owns_http and not self._http.cookies:
            # What build_request would make, without merging the client's
            # defaults into our headers again on every call. Once the server
            # sets a cookie, the client's jar must go along: build_request does it.
            request = httpx.Request(
                prepared.method,
                prepared.url,
                content=prepared.content,
                headers=self._merged.reveal()[prepared.content is not None],
                extensions={"timeout": prepared.timeouts},
            )
        else:
            request = self._http.build_request(
                prepared.method,
                prepared.url,
                content=prepared.content,
                headers=self._ours.reveal()[prepared.content is not None],
                timeout=prepared.timeout,
            )
        if prepared.content:
            # httpx's body stream is an async generator, which httpcore abandons
            # when a send fails (trio then warns as it is collected): a plain
            # iterator instead. Our transports read request.content directly.
            request.stream = Body(prepared.content)
        if prepared.fresh:
            on_a_new_connection(request)
        request.extensions[MAX_REPLY_SIZE] = limit  # our transports stop there
        return request

    async def _through_httpx(self, prepared: Prepared, limit: int) -> httpx.Response:
        """An attempt through the ``httpx.AsyncClient``: its reply, read whole (capped)."""
        request = self._request_of(prepared, limit)
        try:
            # Never follow redirects, even on an injected client that would: an
            # order POST must not be replayed to another URL. auth=None: an
            # injected client's own auth must not replace our token.
            response = await self._http.send(
                request, follow_redirects=False, auth=None, stream=True
            )
            prepared.status = response.status_code
            try:
                await read_capped(response, limit)
            finally:
                await response.aclose()
        finally:
            if prepared.status is None:
                prepared.status = request.extensions.get(REPLY_STATUS)
        return response

    # ------------------------------------------------------------------ direct

    def _reaches(self, prepared: Prepared, ours: object) -> bool:
        """Whether this attempt, through httpx, would reach ``ours``: then it may go there directly.

        ``ours`` is our pool or the transport answering in process. Not once the
        server has set a cookie (the jar must go along), nor when something has
        replaced the client's transport (a mock, such as respx).
        """
        if ours is None or self._http.cookies:
            return False
        # httpx has no public way to ask which transport a request would go to;
        # without this private one (a future httpx), every request goes through httpx.
        transport_for: Callable[[httpx.URL], object] | None = getattr(
            self._http, "_transport_for_url", None
        )
        return transport_for is not None and transport_for(prepared.url) is ours

    def _goes_direct(self, prepared: Prepared) -> bool:
        """Whether this attempt can go straight to our pool."""
        return self._reaches(prepared, self._pool)

    def _answers(self, prepared: Prepared) -> bool:
        """Whether this attempt can go straight to the transport answering in process."""
        return self._reaches(prepared, self._answering) and prepared.url.netloc == self._base.netloc

    async def _answered(self, prepared: Prepared, limit: int) -> ReplyLike:
        """An attempt answered in process: the same header fields as through httpx."""
        assert self._answering is not None  # noqa: S101 (_answers said so)
        status, headers, content = await self._answering.answer(
            prepared.method,
            prepared.url,
            httpx.Headers(self._answer_head(prepared)),
            prepared.content or b"",
            prepared.timeouts,
        )
        prepared.heard(status)
        reply = Reply(
            status,
            httpx.codes.get_reason_phrase(status).encode("ascii"),
            "1.1",
            headers,
            content,
            reusable=True,
        )
        if len(content) > limit:  # httpx has the reply whole, logs it, then reads past the cap
            _log_exchange(prepared, reply)
            raise ReplyTooLarge(limit, status_code=status, headers=headers, head=content[:65536])
        return await self._replied(prepared, reply, limit)

    def _answer_head(self, prepared: Prepared) -> list[tuple[bytes, bytes]]:
        """The header fields ``httpx.Request`` would make of this attempt, built once per kind."""
        content = prepared.content
        key = (prepared.method, content is not None, bool(content), prepared.fresh)
        heads = self._answer_heads.reveal()
        raw = heads.get(key)
        if raw is None:
            # httpx's own Request makes them (Host, the client's defaults, ours,
            # the length), so that both ways hand the transport the same fields.
            # A body of one byte stands for any body: httpx places the length of an
            # empty one (none at all, or 0 first for POST) apart from a longer one's.
            request = httpx.Request(
                prepared.method,
                self._base,
                content=content[:1] if content is not None else None,
                headers=self._merged.reveal()[content is not None],
            )
            if prepared.fresh:
                on_a_new_connection(request)
            raw = heads[key] = request.headers.raw
        if not content:
            return raw
        length = str(len(content)).encode("ascii")
        return [(k, length if k.lower() == b"content-length" else v) for k, v in raw]

    async def _direct(self, prepared: Prepared, limit: int) -> ReplyLike:
        """An attempt on our own pool, with a request head built here: its reply, read whole."""
        assert self._pool is not None  # noqa: S101 (_goes_direct said so)
        assert self._origin is not None  # noqa: S101
        content = prepared.content
        method = prepared.method.encode("ascii")
        length = b""
        if content is not None:
            length = b"Content-Length: %d\r\n" % len(content)
        elif method in _BODY_METHODS:
            length = b"Content-Length: 0\r\n"
        reply = await self._pool.round_trip(
            self._origin,
            # The head is built in place: no local of this frame holds the token.
            Outgoing(
                method,
                b"%s %s HTTP/1.1\r\n%s%s\r\n"
                % (
                    method,
                    prepared.url.raw_path,
                    self._heads.reveal()[content is not None, prepared.fresh],
                    length,
                ),
                content or b"",
                keep_alive=not prepared.fresh,
            ),
            prepared.timeouts,
            fresh=prepared.fresh,
            limit=limit,
            on_status=prepared.heard,
        )
        return await self._replied(prepared, reply, limit)

    async def _replied(self, prepared: Prepared, reply: Reply, limit: int) -> ReplyLike:
        """A reply of the direct way, logged as httpx logs it, and read as httpx reads it."""
        _log_exchange(prepared, reply)
        if any(name.lower() in _HTTPX_HEADERS for name, _ in reply.headers):
            return await self._in_httpx(prepared, reply, limit)
        return _DirectReply(reply)

    async def _in_httpx(self, prepared: Prepared, reply: Reply, limit: int) -> httpx.Response:
        """A reply of our pool as httpx reads it: decompressed, its cookies kept."""
        response = httpx.Response(
            reply.status_code,
            headers=reply.headers,
            stream=httpx.ByteStream(reply.content),
            request=httpx.Request(prepared.method, prepared.url),
        )
        try:
            await read_capped(response, limit)
        finally:
            await response.aclose()
        self._http.cookies.extract_cookies(response)
        return response


def _log_exchange(prepared: Prepared, reply: Reply) -> None:
    """The line httpx logs of every exchange it sends, for one the direct way sent."""
    if _httpx_logger.isEnabledFor(logging.INFO):
        _httpx_logger.info(
            'HTTP Request: %s %s "%s %d %s"',
            prepared.method,
            prepared.url,
            "HTTP/" + reply.http_version,
            reply.status_code,
            reply.reason.decode("ascii", "replace"),
        )


def headers_of(reply: ReplyLike) -> httpx.Headers:
    """A reply's header fields as ``httpx.Headers`` (built only when asked for)."""
    headers = reply.headers
    if isinstance(headers, httpx.Headers):
        return headers
    if isinstance(headers, _ReplyHeaders):
        return httpx.Headers(headers.raw)
    return httpx.Headers(dict(headers))


class _DirectReply:
    """A reply from our pool, read as httpx would read it: status, body, headers, text."""

    __slots__ = ("_reply", "_text", "content", "headers", "status_code")

    def __init__(self, reply: Reply) -> None:
        self._reply = reply
        self.status_code = reply.status_code
        self.content = reply.content
        self.headers = _ReplyHeaders(reply.headers)
        self._text: str | None = None

    @property
    def text(self) -> str:
        """The body as text, decoded as httpx decodes it (the charset it names, or a guess)."""
        if self._text is None:
            reply = self._reply
            response = httpx.Response(
                reply.status_code, headers=reply.headers, content=reply.content
            )
            self._text = response.text
        return self._text


class _ReplyHeaders(Mapping[str, str]):
    """A reply's header fields read as ``httpx.Headers`` reads them, without building one.

    Names match in any case and come out lowercased; a repeated field's
    values are joined with ``", "``. Only the content type is read on every
    call; building ``httpx.Headers`` for it cost more than the lookup.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """The fields as they came: (name, value) bytes, in order, repeats kept."""
        return self._raw

    def __getitem__(self, key: str) -> str:
        wanted = key.lower().encode("latin-1")
        values = [_text(v) for k, v in self._raw if k.lower() == wanted]
        if not values:
            raise KeyError(key)
        return values[0] if len(values) == 1 else ", ".join(values)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(_text(k.lower()) for k, _ in self._raw))

    def __len__(self) -> int:
        return len({k.lower() for k, _ in self._raw})


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _header_block(url: httpx.URL, headers: list[tuple[bytes, bytes]], *, close: bool) -> bytes:
    """The header fields of a request to ``url``, as httpx would send them (Host first).

    ``close``: with ``Connection: close`` (see :func:`on_a_new_connection`).
    Checked once here, as every request carries them.
    """
    fields = [(b"Host", url.netloc)] if not any(k.lower() == b"host" for k, _ in headers) else []
    fields += [(name, value) for name, value in headers if name.lower() != b"connection"]
    fields.append((b"Connection", b"close" if close else b"keep-alive"))
    head = encode_head(b"GET", b"/", fields)  # raises if a field cannot go out
    return head[head.index(b"\r\n") + 2 : -2]


def on_a_new_connection(request: httpx.Request) -> None:
    """Send ``request`` on a new connection, and close that one after the reply.

    Our transports open a new connection for it (``FRESH_CONNECTION``). Any
    HTTP/1.1 stack honours ``Connection: close``: the connection that carried
    this request is not reused, so the next follow-up cannot pick it up after
    the server closed it (the server may well close a connection right after
    each reply; that is often why this request is a follow-up at all).
    """
    request.extensions[FRESH_CONNECTION] = True
    request.headers["Connection"] = "close"


async def read_capped(response: httpx.Response, limit: int) -> None:
    """``response.aread()``, stopping at ``limit`` bytes (raw or decoded) with ReplyTooLarge.

    Our transports stop reading at the limit themselves; httpx's own streams
    the body, so it is counted here as it is decoded.
    """
    cap = ReplyCap(limit, response.status_code, response.headers.raw)
    chunks = response.aiter_bytes()
    try:
        async for chunk in chunks:
            cap.add(chunk)
    except ReplyTooLarge:
        # Stop here: closing the response closes the connection, so the rest
        # of the body is never read. The generators httpx stacks over the
        # body must still run to their end (they fail on the closed
        # connection), or trio warns as it collects them half-way.
        await response.aclose()
        with contextlib.suppress(Exception):  # the error raised below says what happened
            async for _ in chunks:
                pass
        raise
    response._content = cap.body()  # where aread() keeps what it read
