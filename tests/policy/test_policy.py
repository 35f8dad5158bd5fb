"""What happens after a failed attempt, decided with no I/O: one table, every rule.

Each row is a call kind, the typed error an attempt ended in, where the call
stands (which attempt of how many, whether an earlier attempt may already
have acted, whether the call's orders carry ids) and the decision expected.
The engine only carries decisions out; the network suites check that it does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from taas_async import APIConnectionError, APITimeoutError, ResponseDecodeError, TaaSError
from taas_async._endpoints import Kind
from taas_async._policy import (
    Action,
    Decision,
    accepted,
    decide,
    never_left,
    still_working,
    transient,
)
from taas_async._wire import status_error

URL = "https://taas.test/api/orders/"


def refused() -> TaaSError:
    """The connection was never established: provably not sent."""
    return APIConnectionError("refused", method="POST", url=URL, may_have_reached_server=False)


def timed_out() -> TaaSError:
    """No reply in time after sending: may have reached the server."""
    return APITimeoutError("read timeout", method="POST", url=URL, may_have_reached_server=True)


def connect_timed_out() -> TaaSError:
    """No connection in time: provably not sent."""
    return APITimeoutError("connect timeout", method="POST", url=URL, may_have_reached_server=False)


Make = Callable[[], TaaSError]


def body_lost(status: int) -> Make:
    """The status line came, then the connection broke mid-body."""

    def make() -> TaaSError:
        error = APIConnectionError("reset", method="POST", url=URL, may_have_reached_server=True)
        error.reply_status = status
        return error

    return make


def status(code: int) -> Make:
    """An error reply with this status."""
    return lambda: status_error(httpx.Response(code, json={"detail": "x"}), "POST", URL)


def unreadable(code: int) -> Make:
    """A reply with this status whose body is not the JSON expected."""
    return lambda: ResponseDecodeError(
        "not JSON", method="POST", url=URL, status_code=code, text="<html>"
    )


RETRY = Decision(Action.RETRY)
RAISE = Decision(Action.RAISE)
INSIST = Decision(Action.RETRY, insist=True)  # no refusing the wait: an order is being settled
ACTED = Decision(Action.RETRY, may_have_acted=True)  # retried; this attempt may have acted
LOOK = Decision(Action.LOOK_UP, may_have_acted=True)
FINAL = Decision(Action.LOOK_UP, may_have_acted=True, final=True)  # looked up, never resent
# The server may still be working on it (a timeout, a 504): looked up, looked up again
# while retries remain, never resent.
WATCH = Decision(Action.LOOK_UP, may_have_acted=True, resend=False)
WATCH_LAST = Decision(Action.LOOK_UP, may_have_acted=True, final=True, resend=False)
SETTLE = Decision(Action.SETTLE)
UNKNOWN = Decision(Action.OUTCOME_UNKNOWN, may_have_acted=True)
CHECK = Decision(Action.CHECK_CANCELLED)

# kind, error, attempt, retries, acted before, has ids -> decision
TABLE: list[tuple[str, Kind, Any, int, int, bool, bool, Decision]] = [
    # ---- orders: sent again only when provably never sent
    ("order refused, retries left", "order", refused, 1, 2, False, True, RETRY),
    ("order refused after an uncertain attempt", "order", refused, 2, 2, True, True, INSIST),
    ("order refused, no retries left", "order", refused, 3, 2, False, True, RAISE),
    ("order refused, no retries, earlier uncertain", "order", refused, 3, 2, True, True, SETTLE),
    ("order throttled (429)", "order", status(429), 1, 2, False, True, RETRY),
    ("order rejected (400)", "order", status(400), 1, 2, False, True, RAISE),
    ("order resend rejected (duplicate id?)", "order", status(400), 2, 2, True, True, SETTLE),
    ("order redirected (never followed)", "order", status(307), 1, 2, False, True, RAISE),
    ("order timed out after sending: never resent", "order", timed_out, 1, 2, False, True, WATCH),
    ("order timed out, last attempt: final", "order", timed_out, 3, 2, True, True, WATCH_LAST),
    ("order 504 (a gateway gave up): never resent", "order", status(504), 1, 2, False, True, WATCH),
    ("order 504 after a resend: never resent", "order", status(504), 2, 2, True, True, WATCH),
    ("order timed out while connecting", "order", connect_timed_out, 1, 2, False, True, RETRY),
    ("order answered 500: may have landed", "order", status(500), 1, 2, False, True, LOOK),
    ("order answered 502: may have landed", "order", status(502), 1, 2, False, True, LOOK),
    ("order answered 503: may have landed", "order", status(503), 1, 2, False, True, LOOK),
    ("order accepted (201), body unreadable", "order", unreadable(201), 1, 2, False, True, FINAL),
    ("order accepted (201), body cut off", "order", body_lost(201), 1, 2, False, True, FINAL),
    ("order answered 500, body cut off", "order", body_lost(500), 1, 2, False, True, LOOK),
    ("order without ids, may have landed", "order", timed_out, 1, 2, False, False, UNKNOWN),
    ("order without ids, provably not sent: retried", "order", refused, 1, 2, False, False, RETRY),
    # ---- reads: retried on anything that may pass
    ("read timed out", "read", timed_out, 1, 2, False, False, ACTED),
    ("read refused", "read", refused, 1, 2, False, False, RETRY),
    ("read answered 500", "read", status(500), 1, 2, False, False, ACTED),
    ("read answered 502", "read", status(502), 2, 2, False, False, ACTED),
    ("read answered 501: every 5xx", "read", status(501), 1, 2, False, False, ACTED),
    ("read throttled", "read", status(429), 1, 2, False, False, RETRY),
    ("read out of retries", "read", status(503), 3, 2, False, False, RAISE),
    ("read with no retries at all", "read", timed_out, 1, 0, False, False, RAISE),
    ("read not found", "read", status(404), 1, 2, False, False, RAISE),
    ("read unauthorized", "read", status(401), 1, 2, False, False, RAISE),
    ("read unreadable reply", "read", unreadable(200), 1, 2, False, False, RAISE),
    # ---- cancels: as reads, and a refusal after an uncertain attempt is checked
    ("cancel timed out", "cancel", timed_out, 1, 2, False, False, ACTED),
    ("cancel refused after an uncertain one", "cancel", status(400), 2, 2, True, False, CHECK),
    ("cancel refused first time", "cancel", status(400), 1, 2, False, False, RAISE),
    ("cancel throttled after an uncertain one", "cancel", status(429), 2, 2, True, False, RETRY),
    # ---- other writes: sent again only when provably never sent
    ("write timed out after sending", "write", timed_out, 1, 2, False, False, RAISE),
    ("write refused", "write", refused, 1, 2, False, False, RETRY),
    ("write throttled", "write", status(429), 1, 2, False, False, RETRY),
    ("write answered 500", "write", status(500), 1, 2, False, False, RAISE),
    ("write answered 503", "write", status(503), 1, 2, False, False, RAISE),
    ("write refused, out of retries", "write", refused, 3, 2, False, False, RAISE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "make_error", "attempt", "retries", "acted_before", "has_ids", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_decision(
    kind: Kind,
    make_error: Any,
    attempt: int,
    retries: int,
    acted_before: bool,
    has_ids: bool,
    expected: Decision,
) -> None:
    decision = decide(
        kind,
        make_error(),
        attempt=attempt,
        retries=retries,
        acted_before=acted_before,
        has_ids=has_ids,
    )
    assert decision == expected


def test_every_action_is_reached_by_the_table() -> None:
    assert {row[-1].action for row in TABLE} == set(Action)


@pytest.mark.parametrize(
    ("make_error", "is_never_left", "is_transient", "is_accepted", "is_still_working"),
    [
        (refused, True, True, False, False),
        (timed_out, False, True, False, True),
        (connect_timed_out, True, True, False, False),
        (status(429), True, True, False, False),
        (status(500), False, True, False, False),
        (status(504), False, True, False, True),
        (status(400), False, False, False, False),
        (status(307), False, False, False, False),
        (unreadable(200), False, False, True, False),
        (unreadable(502), False, False, False, False),
        (body_lost(201), False, True, True, False),
        (body_lost(503), False, True, False, False),
    ],
)
def test_how_errors_are_classified(
    make_error: Any,
    is_never_left: bool,
    is_transient: bool,
    is_accepted: bool,
    is_still_working: bool,
) -> None:
    error = make_error()
    assert (never_left(error), transient(error), accepted(error), still_working(error)) == (
        is_never_left,
        is_transient,
        is_accepted,
        is_still_working,
    )
