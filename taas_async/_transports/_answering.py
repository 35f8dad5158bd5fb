"""Transports that answer a request themselves, in this process: no connection, no bytes.

The sandbox's in-process transport is one. What such a transport does is
:meth:`AnsweringTransport.answer`: the request's parts in, the reply's parts
out. httpx reaches it through ``handle_async_request``; the SDK's own client
calls ``answer`` directly (the direct way of :mod:`taas_async._sending`), as
it calls ``H11PoolTransport.round_trip`` on its pool, and skips httpx's
``Request``, ``Response`` and send machinery, which cost more than the answer.
Both ways hand ``answer`` the same method, URL, header fields and body.
"""

from __future__ import annotations

from typing import TypeGuard

import httpx

from taas_async._transports._common import timeouts_of

__all__ = ["Answer", "AnsweringTransport"]

#: A reply: status, header fields (name, value) as bytes, body.
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class AnsweringTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose replies come from :meth:`answer`, in this process.

    A subclass implements ``answer``. One that also overrides
    ``handle_async_request`` (to watch or alter requests on their way) is
    always called through httpx, so that it sees every request.
    """

    async def answer(
        self,
        method: str,
        url: httpx.URL,
        headers: httpx.Headers,
        body: bytes,
        timeouts: dict[str, float | None],
    ) -> Answer:
        """The reply to one request; httpx's transport errors for what went wrong."""
        raise NotImplementedError

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` through :meth:`answer`."""
        body = await request.aread()
        try:
            status, headers, content = await self.answer(
                request.method, request.url, request.headers, body, timeouts_of(request)
            )
        except httpx.RequestError as exc:
            try:
                exc.request  # noqa: B018 (set already?)
            except RuntimeError:  # answer() has no request to give it: this one
                exc.request = request
            raise
        # A stream, not content=: the body is whole already, nothing to encode.
        return httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(content), request=request
        )


def answers_directly(transport: object) -> TypeGuard[AnsweringTransport]:
    """Whether the SDK may call ``transport.answer`` instead of going through httpx.

    Not when ``handle_async_request`` is someone else's: overridden in a
    subclass, or set on the instance (a spy, ``mock.patch.object``).
    """
    kind = type(transport)
    return (
        issubclass(kind, AnsweringTransport)
        and kind.handle_async_request is AnsweringTransport.handle_async_request
        and "handle_async_request" not in getattr(transport, "__dict__", {})
    )
