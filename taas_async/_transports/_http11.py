"""One HTTP/1.1 exchange on a connection: the request head encoded here, the reply parsed by llhttp.

The pool (:mod:`._h11`) calls :func:`exchange` with a request already
encoded: either from an ``httpx.Request`` (:func:`encode_request`) or, on the
SDK's own path, from a head it built once per client. Replies are parsed by
llhttp (``httptools``, the C parser uvicorn uses): a pure-Python parser cost
a quarter of the SDK's CPU per call.

What the pool's error classification needs holds here too: everything is
encoded (and checked) before the first byte is written, so an encoding error
(``httpx.LocalProtocolError``) means nothing was sent; a reply that breaks
the protocol is ``httpx.RemoteProtocolError``; a connection is reused only
when both messages ended cleanly and neither side asked to close.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Callable, Sequence
from typing import Protocol

import httptools
import httpx

from taas_async._transports._common import READ_SIZE, ReplyCap

__all__ = ["NAME_PATTERN", "Outgoing", "Reply", "encode_head", "encode_request", "exchange"]

#: An RFC 9110 token: a method, a header field name.
NAME_PATTERN = r"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_TOKEN = re.compile(NAME_PATTERN.encode("ascii"))
# A field value: visible characters, spaces and tabs inside, none at the ends.
_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?")
_TARGET = re.compile(rb"[\x21-\x7e\x80-\xff]+")


class IO(Protocol):
    """Bytes in and out of one connection (the pool's ``ProtocolIO`` and ``StreamIO``)."""

    async def write(self, data: bytes, timeout: float | None) -> None: ...

    async def read(self, timeout: float | None) -> bytes: ...


def encode_head(method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """A request line and header fields, checked: ``httpx.LocalProtocolError`` if malformed.

    The error names a bad header, never its value (it may hold a token).
    """
    if not _TOKEN.fullmatch(method):
        raise httpx.LocalProtocolError(f"invalid request method {method!r}")
    if not _TARGET.fullmatch(target):
        raise httpx.LocalProtocolError("invalid request target (a space or a control character)")
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise httpx.LocalProtocolError(f"invalid header name {name!r}")
        if not _VALUE.fullmatch(value):
            shown = name.decode("ascii")
            raise httpx.LocalProtocolError(f"invalid value for header {shown!r} (not shown)")
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class Outgoing:
    """A request ready for the wire: its head, and a body whole or streamed."""

    __slots__ = ("body", "chunked", "head", "keep_alive", "length", "method", "stream")

    def __init__(
        self,
        method: bytes,
        head: bytes,
        body: bytes | None,
        *,
        keep_alive: bool = True,
        stream: AsyncIterable[bytes] | None = None,
        chunked: bool = False,
        length: int | None = None,
    ) -> None:
        self.method: bytes = method
        self.head: bytes = head
        self.body: bytes | None = body  # whole, or None with a stream
        self.keep_alive: bool = keep_alive  # False: the request says Connection: close
        self.stream: AsyncIterable[bytes] | None = stream
        self.chunked: bool = chunked  # the stream goes out chunked
        self.length: int | None = length  # else: how many bytes it must come to


def encode_request(request: httpx.Request) -> Outgoing:
    """An ``httpx.Request`` encoded for the wire, framed as its headers say."""
    headers = request.headers.raw
    chunked = False
    length: int | None = None
    keep_alive = True
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif lowered == b"content-length":
            try:
                length = int(value)
            except ValueError:
                raise httpx.LocalProtocolError("invalid Content-Length") from None
        elif lowered == b"connection":
            keep_alive = b"close" not in value.lower()
    if chunked and length is not None:  # RFC 9112: never both (a request-smuggling shape)
        raise httpx.LocalProtocolError("both Content-Length and Transfer-Encoding")
    method = request.method.encode("ascii", "replace")
    head = encode_head(method, request.url.raw_path, headers)
    try:
        body = request.content
    except httpx.RequestNotRead:
        stream = request.stream
        assert isinstance(stream, httpx.AsyncByteStream)  # noqa: S101 (an async client's)
        return Outgoing(
            method, head, None, keep_alive=keep_alive, stream=stream, chunked=chunked, length=length
        )
    if not chunked and len(body) != (length or 0):
        raise httpx.LocalProtocolError("the body does not match its Content-Length")
    if chunked and body:
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    elif chunked:
        body = b"0\r\n\r\n"
    return Outgoing(method, head, body, keep_alive=keep_alive)


class Reply:
    """A reply read whole (status, reason, headers as sent, body); is its connection reusable."""

    __slots__ = ("content", "headers", "http_version", "reason", "reusable", "status_code")

    def __init__(
        self,
        status_code: int,
        reason: bytes,
        http_version: str,
        headers: list[tuple[bytes, bytes]],
        content: bytes,
        *,
        reusable: bool,
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.http_version = http_version
        self.headers = headers
        self.content = content
        self.reusable = reusable


async def exchange(
    io: IO,
    outgoing: Outgoing,
    timeouts: dict[str, float | None],
    *,
    limit: int | None,
    on_status: Callable[[int], None] | None = None,
) -> Reply:
    """Send the request and read the reply whole (at most ``limit`` bytes of body).

    ``on_status`` hears the reply's status as soon as its head has come, so
    that a caller whose body then breaks off still knows it.
    """
    await _send(io, outgoing, timeouts.get("write"))
    return await _receive(io, outgoing, timeouts.get("read"), limit, on_status)


async def _send(io: IO, outgoing: Outgoing, timeout: float | None) -> None:
    body = outgoing.body
    if body is None:
        await io.write(outgoing.head, timeout)
        assert outgoing.stream is not None  # noqa: S101 (no whole body: a stream)
        await _send_stream(io, outgoing, outgoing.stream, timeout)
    elif len(body) > READ_SIZE:  # large: no copy of the body
        await io.write(outgoing.head, timeout)
        await io.write(body, timeout)
    else:  # small: the whole request in one write
        await io.write(outgoing.head + body, timeout)


async def _send_stream(
    io: IO, outgoing: Outgoing, stream: AsyncIterable[bytes], timeout: float | None
) -> None:
    chunks = stream.__aiter__()
    sent = 0
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            sent += len(chunk)
            if outgoing.chunked:
                await io.write(b"%x\r\n%s\r\n" % (len(chunk), chunk), timeout)
            elif sent > (outgoing.length or 0):  # part of the request is out already
                raise httpx.WriteError("request body does not match its framing: too long")
            else:
                await io.write(chunk, timeout)
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:  # an abandoned async generator makes trio warn
            await close()
    if outgoing.chunked:
        await io.write(b"0\r\n\r\n", timeout)
    elif sent != (outgoing.length or 0):
        raise httpx.WriteError("request body does not match its framing: too short")


class _PastTheReply(Exception):  # noqa: N818 (a signal, not an error)
    """Raised from a callback to stop the parser at the end of our reply."""


class _Reader:
    """httptools' callbacks: collects one reply, skipping informational (1xx) ones."""

    __slots__ = (
        "cap",
        "chunks",
        "done",
        "extra",
        "head_done",
        "head_only",
        "headers",
        "keep_alive",
        "limit",
        "on_status_code",
        "parser",
        "reason",
        "status",
    )

    def __init__(
        self, limit: int | None, on_status: Callable[[int], None] | None, *, head_only: bool
    ) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head_only = head_only  # a reply to HEAD: no body, whatever its headers say
        self.limit = limit
        self.on_status_code = on_status
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.cap: ReplyCap | None = None
        self.head_done = False
        self.done = False
        self.extra = False  # bytes came after the reply: the connection is not reusable
        self.keep_alive = False

    # httptools' protocol
    def on_message_begin(self) -> None:
        if self.done:  # a message after our reply: stop parsing, nothing of it is read
            raise _PastTheReply
        # (again: a reply after an informational one)
        self.reason = b""
        self.headers = []

    def on_status(self, reason: bytes) -> None:
        self.reason += reason  # in parts, if the line came in parts

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.head_done:  # trailers after a chunked body are dropped (as h11 did)
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            if status == 101:
                raise httpx.RemoteProtocolError("unexpected 101 Switching Protocols")
            return  # informational: the reply follows
        self.status = status
        self.head_done = True
        if self.limit is not None:
            self.cap = ReplyCap(self.limit, status, self.headers)
        if self.on_status_code is not None:
            self.on_status_code(status)
        if self.head_only:
            self.done = True
            self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        if self.done:  # past the end of a reply to HEAD
            raise _PastTheReply
        if self.cap is None:
            self.chunks.append(data)
        else:
            self.cap.add(data)  # ReplyTooLarge past the limit

    def on_message_complete(self) -> None:
        if self.head_done and not self.done:
            self.done = True
            self.keep_alive = self.parser.should_keep_alive()

    # the reader's
    def feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if self.done:  # our reply is whole; what follows it makes the connection unusable
                self.extra = True
                return
            raise self._error_of(exc) from None

    def _error_of(self, exc: Exception) -> BaseException:
        if isinstance(exc, httptools.HttpParserUpgrade):
            return httpx.RemoteProtocolError("unexpected protocol upgrade")
        # What our callback raised (httptools keeps it as the context): the size
        # cap, a refused 101, or a bug (as itself).
        if isinstance(exc, httptools.HttpParserCallbackError) and exc.__context__ is not None:
            return exc.__context__
        return httpx.RemoteProtocolError(f"invalid reply: {exc}")

    def ends_at_close(self) -> bool:
        """Whether the body runs until the server closes (no length, not chunked)."""
        if self.status in (204, 304):
            return False
        return not any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        )

    def body(self) -> bytes:
        if self.cap is not None:
            return self.cap.body()
        chunks = self.chunks
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _receive(
    io: IO,
    outgoing: Outgoing,
    timeout: float | None,
    limit: int | None,
    on_status: Callable[[int], None] | None,
) -> Reply:
    reader = _Reader(limit, on_status, head_only=outgoing.method == b"HEAD")
    at_close = False
    while not reader.done:
        data = await io.read(timeout)
        if data:
            reader.feed(data)
        elif not reader.head_done:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        elif reader.ends_at_close():
            at_close = True
            break
        else:
            raise httpx.RemoteProtocolError(
                "Server disconnected before the reply's body was complete."
            )
    content = reader.body()
    reusable = (
        reader.done
        and reader.keep_alive
        and outgoing.keep_alive
        and not reader.extra
        and not at_close
    )
    return Reply(
        reader.status,
        reader.reason,
        reader.parser.get_http_version(),
        reader.headers,
        content,
        reusable=reusable,
    )
