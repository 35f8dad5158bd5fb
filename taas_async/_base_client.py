"""The engine: configuration, building requests, the send loop, attempts, logging.

Every request passes through :meth:`BaseClient._send`: re-validate, build
(URL, headers, body, timeout), send, log, map errors, decode, structure.
After a failed attempt it asks :func:`taas_async._policy.decide` what to do,
and carries that out: wait and send again, look an order up
(:mod:`taas_async._reconcile`), or raise. Endpoint methods (``_client``)
and the tracking helpers (``_tracking``) only describe calls
(:class:`~taas_async._endpoints.Call`); nothing about retries, limits or
reconciliation lives there.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import platform
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio
import httpx

from taas_async import _codec, _converter, _raw, _reconcile, _wire
from taas_async._endpoints import Call, Endpoint
from taas_async._exceptions import (
    APIConnectionError,
    ClientClosedError,
    ConfigurationError,
    RequestValidationError,
    ResponseDecodeError,
    ResponseTooLargeError,
    TaaSError,
)
from taas_async._logs import configure_from_env, logger
from taas_async._options import (
    DEFAULT_MAX_RESPONSE_SIZE,
    DEFAULT_TIMEOUT,
    USE_CLIENT_DEFAULT,
    CallRetries,
    CallTimeout,
    TimeoutTypes,
    _Secret,
    check_count,
    check_flag,
    check_timeout,
    is_instance,
    refuse_network_settings_beside,
    timeout_of,
    url_and_token,
)
from taas_async._policy import Action, decide, retry_after_of, status_of
from taas_async._retry import Backoff, _Limits, check_limits
from taas_async._sending import Prepared, Sender, headers_of
from taas_async._timer import LOOP_TIMER, Timer
from taas_async._transports import (
    DEFAULT_LIMITS,
    H11PoolTransport,
    connect_errors_are_exact,
    proxy_of,
    transport_for,
    transports_of,
)
from taas_async._transports._common import OwnHttpClient, ReplyTooLarge, TransportClosedError
from taas_async._transports._proxy import CertTypes, ProxyTypes, VerifyTypes
from taas_async._version import __version__

__all__: list[str] = []

T = TypeVar("T")


class _ClientState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


#: How many parsed request URLs a client keeps (then it starts over): polling
#: asks for the same few again and again; a fan-out's are each asked for once.
_URL_CACHE = 256


class BaseClient:
    """The sending engine behind :class:`~taas_async.AsyncClient` (see its docstring)."""

    def __init__(
        self,
        url: str | None = None,
        auth_token: str | None = None,
        *,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        backoff: Backoff | None = None,
        max_concurrency: int | None = None,
        rate_limit: float | None = None,
        rate_limit_burst: int = 1,
        extra_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limits: httpx.Limits | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        allow_insecure_http: bool = False,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        trust_env: bool = True,
        proxy: ProxyTypes | None = None,
    ) -> None:
        url, token = url_and_token(url, auth_token)
        configure_from_env()  # $TAAS_LOG
        self.max_retries: int = check_count("max_retries", max_retries, minimum=0)
        if http_client is not None and (transport is not None or limits is not None):
            raise ConfigurationError(
                "pass either http_client or transport/limits, not both: an http_client"
                " keeps its own transport and connection limits"
            )
        trust_env = check_flag("trust_env", trust_env)
        refuse_network_settings_beside(
            http_client, transport, verify=verify, cert=cert, trust_env=trust_env, proxy=proxy
        )
        timeout = timeout_of(timeout, http_client)
        self.max_response_size: int = check_count(
            "max_response_size", max_response_size, minimum=1, what="a number of bytes"
        )
        if backoff is not None and not isinstance(backoff, Backoff):
            raise ConfigurationError(f"backoff must be a Backoff, got {type(backoff).__name__}")
        self._limits = _Limits(*check_limits(max_concurrency, rate_limit, rate_limit_burst))
        # What backoff, Retry-After, the rate limit and polling wait on (the
        # sandbox's in-process client swaps in the sandbox's clock).
        self._timer: Timer = LOOP_TIMER
        self._base_url = _wire.base_url(url)
        insecure_ok = check_flag("allow_insecure_http", allow_insecure_http)
        if not insecure_ok:
            _refuse_plain_http(self._base_url)
        self._token = _Secret(token)
        self._timeout = check_timeout(timeout)
        self.backoff: Backoff = backoff or Backoff()
        headers = _wire.check_headers(extra_headers)
        # A caller's User-Agent goes first; ours always follows it.
        theirs = [headers.pop(k) for k in list(headers) if k.lower() == "user-agent"]
        self._extra_headers = headers
        self._user_agent = " ".join(
            [
                *theirs,
                f"taas-async/{__version__} httpx/{httpx.__version__}",
                f"{platform.python_implementation()}/{platform.python_version()}",
            ]
        )
        self._owns_http = http_client is None
        limits = limits or DEFAULT_LIMITS
        if http_client is None and transport is None:
            transport = H11PoolTransport(  # httpx ignores limits= beside it
                limits=limits, verify=verify, cert=cert, trust_env=trust_env, proxy=proxy
            )
        self._http = http_client or OwnHttpClient(
            transport=transport,
            timeout=self._timeout,
            limits=limits,
            follow_redirects=False,  # never replay an order POST to another URL
        )
        _check_route(self._http, self._base_url, insecure_ok=insecure_ok)
        # Whether a connect error from this transport proves the request never left.
        self._exact_errors = connect_errors_are_exact(
            [transport] if http_client is None else transports_of(http_client)
        )
        self._urls: dict[str, httpx.URL] = {}  # parsed request URLs, by text
        self._sender = Sender(
            self._http,
            owns_http=self._owns_http,
            transport=transport,
            base_url=self._base_url,
            headers=_Secret(
                {has_body: self._headers(has_body=has_body) for has_body in (False, True)}
            ),
        )
        self._timeout_parts = self._timeout.as_dict()
        self._state = _ClientState.OPEN

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """The normalised base URL (always ends in ``/``)."""
        return self._base_url

    @property
    def is_closed(self) -> bool:
        """True once :meth:`aclose` has been called."""
        return self._state is _ClientState.CLOSED

    async def aclose(self) -> None:
        """Close the connection pool (unless it was injected). Safe to call twice."""
        if self._state is _ClientState.CLOSED:
            return
        self._state = _ClientState.CLOSED
        self._limits.close()  # calls queued for max_concurrency / rate_limit: refused now
        if self._owns_http:
            await self._http.aclose()

    def __repr__(self) -> str:
        state = "closed" if self.is_closed else "open"
        return f"<AsyncClient url={self._base_url!r} {state}>"

    # ------------------------------------------------------------------ building

    def _headers(self, *, has_body: bool) -> dict[str, str]:
        headers = {
            "Authorization": f"Token {self._token.reveal()}",
            "User-Agent": self._user_agent,
            "Accept": "application/json",
            **self._extra_headers,
        }
        if has_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _call(
        self,
        endpoint: Endpoint[T],
        path_value: object = None,
        *,
        timeout: CallTimeout,
        max_retries: CallRetries,
        request: Any = None,
        checked: bool = False,
    ) -> Call[T]:
        """A call of ``endpoint``: its path filled in, its request model checked for type."""
        if endpoint.request is not None and not isinstance(request, endpoint.request):
            name = endpoint.request.__name__
            got = type(request).__name__
            raise RequestValidationError({"request": [f"expected {name}, got {got}"]})
        return Call(
            endpoint,
            endpoint.format_path(path_value),
            endpoint.kind,
            endpoint.method,
            target=path_value,
            request=request,
            timeout=timeout,
            max_retries=max_retries,
            checked=checked,
        )

    def _build(self, call: Call[Any]) -> tuple[Prepared, list[str]]:
        """Everything before I/O: re-validate, encode, URL, timeout.

        Also the ``custom_order_id`` of every order the call creates, fixed
        here once: every attempt sends this same request.
        """
        params, body = call.params, call.body
        if call.request is not None:
            if not call.checked:
                call.request.validate()  # cross-field rules, and lists mutated in place
            if call.endpoint.send_as == "query":
                params = _converter.to_query(call.request)
            else:
                body = _converter.to_wire(call.request)
        body, ids = _reconcile.assign_ids(call, body)
        content = None
        if body is not None:
            try:
                content = _codec.encode_json(body)
            except (TypeError, ValueError) as exc:
                raise RequestValidationError({"body": [str(exc)]}) from None
        timeout = (
            self._timeout if call.timeout is USE_CLIENT_DEFAULT else check_timeout(call.timeout)
        )
        text = self._base_url + call.path  # base ends in "/"; the path is checked
        # A URL asked for again (a poll of one order) is not parsed again.
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= _URL_CACHE:
                self._urls.clear()
            url = self._urls[text] = httpx.URL(text)
        if params:
            url = url.copy_merge_params(params)
        parts = self._timeout_parts if timeout is self._timeout else timeout.as_dict()
        prepared = Prepared(call.method, url, content, timeout, parts)
        if call.fresh_connection:
            prepared.fresh = True
        return prepared, ids

    # ------------------------------------------------------------------ the send loop

    async def _send(self, call: Call[T]) -> T:
        """Send one call and return its structured result. Every request passes here.

        After each failed attempt, :func:`taas_async._policy.decide` says what
        comes next (``docs/resilience.md`` has the rules).
        """
        if self._state is _ClientState.CLOSED:
            raise ClientClosedError("this AsyncClient is closed; create a new one")
        if self._http.is_closed:  # an injected http_client its owner has closed
            raise ClientClosedError("the http_client given to this AsyncClient is closed")
        retries = self._retries(call)
        prepared, ids = self._build(call)
        if not ids:
            return await self._attempts(call, prepared, ids, retries)
        try:
            return await self._attempts(call, prepared, ids, retries)
        except TaaSError as exc:
            # An order call's error names the order(s) it sent, so that the caller
            # can look them up (a lookup's own error included: it surfaced here).
            if not exc.custom_order_ids:
                exc.custom_order_ids = list(ids)
                exc.custom_order_id = ids[0] if len(ids) == 1 else None
            raise

    def _closed_now(self) -> bool:
        """Whether the client, or the ``http_client`` under it, is closed."""
        return self.is_closed or self._http.is_closed

    async def _attempts(self, call: Call[T], prepared: Prepared, ids: list[str], retries: int) -> T:
        """The attempts of one call, until it has a result or an error to raise."""
        attempt = 0
        # The latest failure after which the server may have acted on this call.
        acted: TaaSError | None = None
        while True:
            attempt += 1
            try:
                if attempt > 1 and self._closed_now():
                    raise ClientClosedError("the client was closed while this call was retrying")
                outcome = await self._exchange(prepared, call, attempt)
            except ClientClosedError as closed:
                if acted is None or call.kind == "read":
                    raise
                if call.kind == "order":
                    raise _reconcile.outcome_unknown(call, ids, acted, str(closed)) from closed
                # A cancel or another change: say that an earlier attempt may have made it.
                raise ClientClosedError(
                    f"{closed}; an earlier attempt may have reached the server and acted ({acted})"
                ) from acted
            if not isinstance(outcome, TaaSError):
                return outcome
            error: TaaSError = outcome
            decision = decide(
                call.kind,
                error,
                attempt=attempt,
                retries=retries,
                acted_before=acted is not None,
                has_ids=bool(ids),
            )
            if decision.may_have_acted:
                acted = error
            action = decision.action
            if action is Action.RAISE:
                raise error
            if action is Action.RETRY:
                await self._pause(call, error, attempt, retries, insist=decision.insist)
            elif action is Action.OUTCOME_UNKNOWN:
                raise _reconcile.outcome_unknown(call, ids, error) from error
            elif action is Action.SETTLE:
                assert acted is not None  # noqa: S101 (SETTLE follows an uncertain attempt)
                return await _reconcile.look_up(self._send, call, ids, acted, final=True)
            elif action is Action.CHECK_CANCELLED:
                return await _reconcile.already_cancelled(self._send, call, error)
            else:  # LOOK_UP
                final = decision.final
                while True:
                    await self._pause(call, error, attempt, retries, lookup=True)
                    found = await _reconcile.look_up(self._send, call, ids, error, final=final)
                    if found is not _reconcile.NOT_FOUND:
                        return found
                    if decision.resend:
                        break  # looked up and not there: send it again
                    # The server may still be working on it: never sent again; looked
                    # up again after the next backoff, the last time as final.
                    attempt += 1
                    final = attempt > retries

    def _retries(self, call: Call[Any]) -> int:
        value = call.max_retries
        if value is USE_CLIENT_DEFAULT:
            return self.max_retries
        if is_instance(value, bool) or not is_instance(value, int) or value < 0:
            raise RequestValidationError(
                {"max_retries": [f"must be an integer >= 0, got {value!r}"]}
            )
        return value

    async def _pause(
        self,
        call: Call[Any],
        error: TaaSError,
        attempt: int,
        retries: int,
        *,
        lookup: bool = False,
        insist: bool = False,
    ) -> None:
        """Wait before the next attempt (or the order lookup), logging why.

        A ``Retry-After`` longer than ``backoff.max_retry_after`` raises
        ``error`` instead, unless the call must go on (an order lookup, or a
        resend after an attempt that may have placed the order): then the
        wait is capped.
        """
        delay = self.backoff.delay(attempt)
        retry_after = retry_after_of(error)
        if retry_after is not None:
            if retry_after > self.backoff.max_retry_after:
                if not (lookup or insist):
                    raise error
                retry_after = self.backoff.max_retry_after
            delay = max(delay, retry_after)
        what = (
            "looking the order up by custom_order_id"
            if lookup
            else f"retrying (attempt {attempt + 1} of {retries + 1})"
        )
        logger.warning(
            "%s /%s failed (%s); %s in %.2f s",
            call.method,
            call.path,
            short(error),
            what,
            delay,
            extra={
                "taas_method": call.method,
                "taas_path": "/" + call.path,
                "taas_retry_in": delay,
            },
        )
        if delay > 0:
            await self._timer.sleep(delay)

    # ------------------------------------------------------------------ one attempt

    async def _exchange(self, prepared: Prepared, call: Call[T], attempt: int) -> T | TaaSError:
        """One attempt: its structured result, or the typed error it ended in (returned)."""
        notes = _raw.seen()  # None unless client.with_raw_response made this call
        if notes is not None:
            notes.attempts += 1
        try:
            if self._limits.active:
                async with self._limits.slot(self._timer):
                    reply = await self._exchange_once(prepared, call, attempt)
            else:
                reply = await self._exchange_once(prepared, call, attempt)
        except ResponseTooLargeError as exc:
            return exc
        except APIConnectionError as exc:
            if exc.may_have_reached_server:
                # The connection failed under this request. If it was a pooled one the
                # server had closed, the next pooled one may be closed too: whatever
                # follows (a retry, a lookup, a resend) goes on a new connection.
                prepared.fresh = True
            return exc
        if not 200 <= reply.status_code < 300:
            return _wire.status_error(reply, call.method, prepared.text)
        try:
            result = _wire.decode_success(
                reply,
                call.method,
                prepared.text,
                call.parse,
                allow_empty=call.endpoint.allow_empty,
                accepted_order=call.kind == "order",
            )
        except ResponseDecodeError as exc:
            return exc
        if notes is not None:
            headers = headers_of(reply)
            notes.reply = (
                reply.status_code,
                headers,
                _wire.request_id_of(headers),
                prepared.elapsed,
                call.method,
                prepared.text,
                reply.content,
            )
        return result

    async def _exchange_once(
        self, prepared: Prepared, call: Call[Any], attempt: int
    ) -> _wire.ReplyLike:
        """One HTTP exchange, logged; transport failures become typed errors.

        httpx's read timeout restarts with every chunk, so a server trickling
        bytes could hold a call open for ever: the whole exchange also runs
        under one deadline, the sum of the timeout's parts. The client's
        limits (``max_concurrency``, ``rate_limit``) are waited for first,
        outside that deadline, and held until the reply has been read.
        """
        if self._closed_now():
            # Closed while this call waited for the client's limits: nothing goes out.
            raise ClientClosedError("the client was closed while this call waited to be sent")
        started = time.perf_counter()
        error: APIConnectionError | ResponseTooLargeError | None = None
        closed = False
        deadline = prepared.deadline()
        prepared.status = None  # of a reply whose body then broke off; not an earlier attempt's
        try:
            async with _within(deadline):
                reply = await self._sender.send(prepared, self.max_response_size)
        except TransportClosedError:
            # Met while this call waited for a connection: nothing went out.
            closed = True
        except ReplyTooLarge as exc:
            error = _too_large(exc, call.method, prepared.text)
            failure = "too large"
        except httpx.HTTPError as exc:
            error = _wire.connection_error(
                exc, call.method, prepared.text, exact=self._exact_errors
            )
            failure = type(exc).__name__
        except TimeoutError:
            error = _wire.deadline_error(deadline, call.method, prepared.text)
            failure = "deadline"
        if closed:
            whose = "client" if self._closed_now() else "client's transport"
            raise ClientClosedError(
                f"the {whose} was closed while this call waited for a connection"
            )
        if isinstance(error, ResponseTooLargeError):
            self._log(call, error.status_code, started, attempt, error=failure)
            raise error
        if error is not None:
            # A 2xx status line proves the server accepted the request, even if
            # its body was then lost: an order must not be sent again. Our
            # transports read a reply whole, so they record its status apart.
            error.reply_status = prepared.status
            self._log(call, error.reply_status, started, attempt, error=failure)
            # Raised outside the except block so that neither __cause__ nor
            # __context__ holds httpx's exception: its request carries the token.
            raise error
        prepared.elapsed = time.perf_counter() - started
        self._log(call, reply.status_code, started, attempt)
        return reply

    def _log(
        self,
        call: Call[Any],
        status: int | None,
        started: float,
        attempt: int,
        *,
        error: str | None = None,
    ) -> None:
        # DEBUG whatever the outcome: the reply, or the error it becomes, reaches the
        # caller, whose to report it is. A retry or a lookup after it is logged at
        # WARNING by _pause and _reconcile (the caller does not see those).
        if logger.isEnabledFor(logging.DEBUG):
            latency_ms = (time.perf_counter() - started) * 1000.0
            logger.debug(
                "%s /%s status=%s latency=%.1fms attempt=%d%s",
                call.method,
                call.path,
                status if status is not None else "N/A",
                latency_ms,
                attempt,
                f" error={error}" if error else "",
                extra={
                    "taas_method": call.method,
                    "taas_path": "/" + call.path,
                    "taas_status": status,
                    "taas_latency_ms": latency_ms,
                    "taas_attempt": attempt,
                },
            )


# --------------------------------------------------------------------------- helpers


def _refuse_plain_http(base_url: str) -> None:
    if _wire.sends_token_in_clear(base_url):
        raise ConfigurationError(
            f"refusing to send the auth token unencrypted to {base_url}: use https://,"
            " or pass allow_insecure_http=True if the network in between is trusted"
        )


def _check_route(http: httpx.AsyncClient, base_url: str, *, insecure_ok: bool) -> None:
    """The proxy for the base URL, found now (our pool parses it: an unusable one is refused here).

    Loopback's exemption from https does not stretch to a proxy, whoever built
    the transport: through one, the token would cross the network in the clear.
    """
    via = proxy_of(transport_for(http, base_url), base_url)
    if via is not None and not insecure_ok and base_url.startswith("http://"):
        raise ConfigurationError(
            f"refusing to send the auth token unencrypted to {base_url} through the proxy"
            f" {via}: add the host to NO_PROXY, pass trust_env=False (for a proxy from the"
            " environment), or allow_insecure_http=True"
        )


def short(error: TaaSError) -> str:
    """What went wrong, in a few words, for a log line (no URL: it is logged apart)."""
    status = status_of(error)
    if status is not None:
        return f"HTTP {status}"
    if isinstance(error, APIConnectionError):
        reached = "may have reached the server" if error.may_have_reached_server else "not sent"
        return f"{type(error).__name__}, {reached}"
    return type(error).__name__


def _within(seconds: float) -> contextlib.AbstractAsyncContextManager[object]:
    """A deadline that raises ``TimeoutError``: asyncio's own where it has one.

    ``asyncio.timeout`` (Python 3.11+) costs a third of an anyio cancel scope,
    a tenth of the SDK's own CPU per call; anyio's scope serves trio (and 3.10).
    """
    if _ASYNCIO_TIMEOUT is not None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # trio
            pass
        else:
            return _ASYNCIO_TIMEOUT(seconds)
    return _AnyioDeadline(seconds)


_ASYNCIO_TIMEOUT: Callable[[float], contextlib.AbstractAsyncContextManager[object]] | None = (
    getattr(asyncio, "timeout", None)
)


class _AnyioDeadline:
    __slots__ = ("_scope",)

    def __init__(self, seconds: float) -> None:
        self._scope = anyio.fail_after(seconds)

    async def __aenter__(self) -> object:
        return self._scope.__enter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return self._scope.__exit__(*exc_info)


def _too_large(exc: ReplyTooLarge, method: str, url: str) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"the reply (HTTP {exc.status_code}) is larger than max_response_size={exc.limit}"
        " bytes; it was not read further",
        method=method,
        url=url,
        status_code=exc.status_code,
        text=exc.head.decode("utf-8", "replace"),
        limit=exc.limit,
    )
