"""What to do after a failed attempt: pure decisions, no I/O.

:func:`decide` takes the call's kind, the attempt's typed error and where the
call stands (which attempt, how many retries it may make, whether an earlier
attempt may already have acted) and returns a :class:`Decision`. The engine
carries it out: it waits, sends again, looks an order up, or raises. Every
rule of ``docs/resilience.md`` is here, in one place, and tested as a table.

The classification of errors that the decisions rest on:

- *never left*: a connection that was never established, no pooled
  connection free in time, or a 429 (the server's throttle refused it);
- *transient*: any connection failure or timeout, a 429, any 5xx;
- *refused*: a 4xx other than 429: the server read the request and said no;
- *accepted*: a 2xx whose body could not be read (or was too large): the
  server took the request, so an order exists;
- *still working*: no reply came in time after sending (a timeout), or a
  gateway gave up waiting for the server (504): the server may still be
  working on the request, so not finding the order yet proves nothing.
"""

from __future__ import annotations

import enum

import attrs
import httpx

from taas_async import _wire
from taas_async._endpoints import Kind
from taas_async._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ProxyError,
    RateLimitError,
    ResponseDecodeError,
    TaaSError,
)

__all__ = [
    "Action",
    "Decision",
    "accepted",
    "broke_connection",
    "decide",
    "never_left",
    "proxy_refused",
    "retry_after_of",
    "status_of",
    "still_working",
    "transient",
]


class Action(enum.Enum):
    """What the engine does next."""

    #: Wait the backoff, then send the same request again.
    RETRY = "retry"
    #: The error stands: raise it.
    RAISE = "raise"
    #: This attempt may have placed the order: wait, then look it up by its
    #: custom_order_id; return it if it landed, send it again if it provably
    #: did not (unless the decision is ``final``, or says not to ``resend``).
    LOOK_UP = "look up"
    #: An earlier attempt may have placed the order and this one settles
    #: nothing: look it up once more and take what that says as the answer.
    SETTLE = "settle"
    #: The order may have been placed and carries no id to look it up by.
    OUTCOME_UNKNOWN = "outcome unknown"
    #: A cancel was refused after an earlier attempt may have done it: check
    #: whether the order is cancelled.
    CHECK_CANCELLED = "check cancelled"


@attrs.frozen
class Decision:
    """The next step, and what the failed attempt means for the call."""

    action: Action
    #: This attempt may have reached the server and acted (remembered by the
    #: engine: a later lookup or check needs it).
    may_have_acted: bool = False
    #: LOOK_UP: whatever the lookup finds is the answer; never send again.
    final: bool = False
    #: LOOK_UP, not final: when the order is not found, send it again. False:
    #: the server may still be working on it; look again after each backoff
    #: while retries remain, never send it again, and when it never shows,
    #: its outcome is unknown.
    resend: bool = True
    #: RETRY: the wait must happen even past ``max_retry_after`` (capped, not
    #: refused): an order that may have landed is being settled.
    insist: bool = False


def status_of(error: TaaSError) -> int | None:
    """The HTTP status of an error reply, else None."""
    return error.status_code if isinstance(error, APIStatusError) else None


def never_left(error: TaaSError) -> bool:
    """The request provably never reached the server: safe to send again as is."""
    if isinstance(error, APIConnectionError):
        return not error.may_have_reached_server
    return status_of(error) == 429  # refused by the server's throttle, not acted on


def transient(error: TaaSError) -> bool:
    """A failure that may pass: no reply, a timeout, a 5xx, a 429."""
    status = status_of(error)
    return isinstance(error, APIConnectionError) or (
        status is not None and (status == 429 or status >= 500)
    )


def accepted(error: TaaSError) -> bool:
    """The server answered 2xx (accepted the request) but the reply could not be read."""
    if isinstance(error, ResponseDecodeError):
        return 200 <= error.status_code < 300
    if isinstance(error, APIConnectionError):
        return error.reply_status is not None and 200 <= error.reply_status < 300
    return False


def still_working(error: TaaSError) -> bool:
    """The server may still be working on the request: not finding its order proves nothing.

    A timeout after the request may have gone out (the reply was late, not
    refused), or a gateway's 504 (it stopped waiting; the server did not).
    """
    if isinstance(error, APITimeoutError):
        return error.may_have_reached_server
    return status_of(error) == 504


def broke_connection(error: TaaSError) -> bool:
    """A connection failed after the request may have gone out on it (reset, EOF, timeout)."""
    return isinstance(error, APIConnectionError) and error.may_have_reached_server


def retry_after_of(error: TaaSError) -> float | None:
    """The server's ``Retry-After``, in seconds, if it sent one."""
    if isinstance(error, RateLimitError):
        return error.retry_after
    if isinstance(error, APIStatusError):
        return _wire.retry_after(httpx.Headers(error.headers or {}))
    return None


def proxy_refused(error: TaaSError) -> bool:
    """The proxy refused by its credentials or rules (4xx): asking again gets the same answer."""
    status = error.proxy_status if isinstance(error, ProxyError) else None
    return status is not None and 400 <= status < 500


def _refused(error: TaaSError) -> bool:
    status = status_of(error)
    return status is not None and 400 <= status < 500 and status != 429


def decide(
    kind: Kind,
    error: TaaSError,
    *,
    attempt: int,
    retries: int,
    acted_before: bool,
    has_ids: bool,
) -> Decision:
    """The next step after attempt number ``attempt`` (1-based) failed with ``error``.

    ``retries``: how many retries the call may make after its first attempt.
    ``acted_before``: an earlier attempt may have reached the server and acted.
    ``has_ids``: an order call carries custom_order_ids to look its orders up by.
    """
    retries_left = attempt <= retries
    if proxy_refused(error):
        # The proxy's credentials or rules: the same request gets the same answer
        # (and a proxy may lock an account out after repeated bad credentials).
        if acted_before and kind in ("order", "cancel"):
            # An earlier attempt may have acted: settle it, as after any refusal.
            return Decision(Action.SETTLE if kind == "order" else Action.CHECK_CANCELLED)
        return Decision(Action.RAISE)
    if kind == "order":
        if never_left(error):
            if retries_left:
                return Decision(Action.RETRY, insist=acted_before)
            # Out of retries: provably not placed, unless an earlier attempt was.
            return Decision(Action.SETTLE if acted_before else Action.RAISE)
        status = status_of(error)
        if status is not None and status < 500:
            # Answered without placing it (a 4xx, or a redirect never followed);
            # after an uncertain attempt, e.g. a resend refused as a duplicate id.
            return Decision(Action.SETTLE if acted_before else Action.RAISE)
        # It may have been placed: a reset or timeout after sending, a 5xx, or a
        # 2xx whose body could not be read.
        if not has_ids:
            return Decision(Action.OUTCOME_UNKNOWN, may_have_acted=True)
        return Decision(
            Action.LOOK_UP,
            may_have_acted=True,
            final=not retries_left or accepted(error),
            resend=not still_working(error),
        )
    if kind == "cancel" and acted_before and _refused(error):
        return Decision(Action.CHECK_CANCELLED)
    retryable = transient(error) if kind in ("read", "cancel") else never_left(error)
    if not retryable or not retries_left:
        return Decision(Action.RAISE)
    return Decision(Action.RETRY, may_have_acted=not never_left(error))
